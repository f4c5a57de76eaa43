//! Latency recording in HdrHistogram, with coordinated-omission correction.
//!
//! Values are nanoseconds, tracked from 1 µs to 1 h with 3 significant digits. Each
//! [`LatencyRecorder`] keeps two histograms: an *interval* one (read and reset once a
//! second for the time series) and a *cumulative* one (the whole run, exported as
//! `.hgrm`).
//!
//! **Coordinated omission.** Open-loop load has a schedule: record *i* is meant to be sent
//! at `intended_ns`. If the system stalls, the sender falls behind; measuring from the
//! moment a record was actually handed to the client would hide the stall (one slow
//! sample instead of every record that waited). [`LatencyRecorder::record_intended`]
//! therefore records `completed - intended`. For closed-loop load with a known expected
//! interval, [`LatencyRecorder::record_corrected`] back-fills the missing samples the way
//! HdrHistogram's `recordValueWithExpectedInterval` does.
//!
//! The recorder is single-owner (`&mut self`): give each producer/consumer task its own,
//! and have the once-a-second collector [`LatencyRecorder::drain_interval_into`] an
//! aggregate (a mutex around a task's recorder is then uncontended except once a second).

use std::io::{self, Write};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Lowest discernible value: 1 µs (in ns).
pub const LOWEST_NS: u64 = 1_000;
/// Highest trackable value: 1 h (in ns). Larger values are clamped and counted.
pub const HIGHEST_NS: u64 = 3_600 * 1_000_000_000;
/// Significant value digits kept.
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Percentile ticks per half distance in `.hgrm` output (HdrHistogram's default).
pub const HGRM_TICKS_PER_HALF_DISTANCE: u32 = 5;
/// `.hgrm` values are written in milliseconds: ns per output unit.
pub const HGRM_UNIT_NS: f64 = 1_000_000.0;

const NS_PER_MS: f64 = 1_000_000.0;

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Percentiles of one histogram, in milliseconds. All zero when `count` is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples recorded.
    pub count: u64,
    /// Smallest sample.
    pub min_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
    /// Standard deviation.
    pub stddev_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample (within histogram precision).
    pub max_ms: f64,
    /// Samples above 1 h, recorded as 1 h.
    #[serde(default)]
    pub clamped: u64,
    /// Samples whose completion preceded the intended time (clock skew), recorded as 0.
    #[serde(default)]
    pub negative: u64,
}

impl LatencySummary {
    /// Summarises a nanosecond histogram.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |ns: u64| ns as f64 / NS_PER_MS;
        Self {
            count: h.len(),
            min_ms: ms(h.min()),
            mean_ms: h.mean() / NS_PER_MS,
            stddev_ms: h.stdev() / NS_PER_MS,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            clamped: 0,
            negative: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct OutOfRange {
    clamped: u64,
    negative: u64,
}

/// Interval + cumulative latency histograms (ns).
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    interval: Histogram<u64>,
    cumulative: Histogram<u64>,
    interval_oor: OutOfRange,
    cumulative_oor: OutOfRange,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    /// An empty recorder (allocates both histograms, ~200 KiB each, once).
    pub fn new() -> Self {
        Self {
            interval: new_histogram(),
            cumulative: new_histogram(),
            interval_oor: OutOfRange::default(),
            cumulative_oor: OutOfRange::default(),
        }
    }

    #[inline]
    fn clamp(&mut self, ns: u64) -> u64 {
        if ns > HIGHEST_NS {
            self.interval_oor.clamped += 1;
            self.cumulative_oor.clamped += 1;
            HIGHEST_NS
        } else {
            ns
        }
    }

    /// Records one latency of `ns` nanoseconds. No allocation.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let v = self.clamp(ns);
        self.interval.saturating_record(v);
        self.cumulative.saturating_record(v);
    }

    /// Records `completed_ns - intended_ns` (both ns since the run epoch): the latency
    /// as seen from the open-loop schedule, i.e. corrected for coordinated omission.
    /// A completion before the intended time (clock skew) is recorded as 0 and counted.
    #[inline]
    pub fn record_intended(&mut self, intended_ns: i64, completed_ns: i64) {
        let d = i128::from(completed_ns) - i128::from(intended_ns);
        if d < 0 {
            self.interval_oor.negative += 1;
            self.cumulative_oor.negative += 1;
            self.record(0);
        } else {
            self.record(u64::try_from(d).unwrap_or(u64::MAX));
        }
    }

    /// Closed-loop fallback: records `ns` and, when it exceeds `expected_interval_ns`,
    /// the samples a steady sender would have recorded meanwhile (`ns - interval`,
    /// `ns - 2·interval`, ... down to `interval`). Prefer [`Self::record_intended`]
    /// whenever the intended send time is known. An interval of 0 disables correction.
    pub fn record_corrected(&mut self, ns: u64, expected_interval_ns: u64) {
        let v = self.clamp(ns);
        // Cannot fail: v is within bounds and the histograms do not auto-resize.
        let _ = self.interval.record_correct(v, expected_interval_ns);
        let _ = self.cumulative.record_correct(v, expected_interval_ns);
    }

    /// Adds everything `other` holds (interval and cumulative) to `self`.
    pub fn merge(&mut self, other: &LatencyRecorder) {
        // Same bounds on both sides: addition cannot fail.
        let _ = self.interval.add(&other.interval);
        let _ = self.cumulative.add(&other.cumulative);
        self.interval_oor.clamped += other.interval_oor.clamped;
        self.interval_oor.negative += other.interval_oor.negative;
        self.cumulative_oor.clamped += other.cumulative_oor.clamped;
        self.cumulative_oor.negative += other.cumulative_oor.negative;
    }

    /// Moves this recorder's interval into `target` (both its interval and cumulative
    /// histograms) and resets this interval. Use it once a second to aggregate per-task
    /// recorders; `self`'s cumulative histogram is left alone.
    pub fn drain_interval_into(&mut self, target: &mut LatencyRecorder) {
        let _ = target.interval.add(&self.interval);
        let _ = target.cumulative.add(&self.interval);
        target.interval_oor.clamped += self.interval_oor.clamped;
        target.interval_oor.negative += self.interval_oor.negative;
        target.cumulative_oor.clamped += self.interval_oor.clamped;
        target.cumulative_oor.negative += self.interval_oor.negative;
        self.reset_interval();
    }

    /// Percentiles of the current interval.
    pub fn interval_summary(&self) -> LatencySummary {
        LatencySummary {
            clamped: self.interval_oor.clamped,
            negative: self.interval_oor.negative,
            ..LatencySummary::of(&self.interval)
        }
    }

    /// Percentiles of the current interval, then starts a new interval.
    pub fn take_interval(&mut self) -> LatencySummary {
        let s = self.interval_summary();
        self.reset_interval();
        s
    }

    /// Percentiles of the whole run so far.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            clamped: self.cumulative_oor.clamped,
            negative: self.cumulative_oor.negative,
            ..LatencySummary::of(&self.cumulative)
        }
    }

    /// Starts a new interval (the cumulative histogram keeps its samples).
    pub fn reset_interval(&mut self) {
        self.interval.reset();
        self.interval_oor = OutOfRange::default();
    }

    /// Forgets everything (e.g. at the end of warm-up).
    pub fn reset(&mut self) {
        self.reset_interval();
        self.cumulative.reset();
        self.cumulative_oor = OutOfRange::default();
    }

    /// The interval histogram (ns).
    pub fn interval_histogram(&self) -> &Histogram<u64> {
        &self.interval
    }

    /// The cumulative histogram (ns).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.cumulative
    }

    /// Writes the cumulative histogram as `.hgrm` (values in milliseconds).
    pub fn write_hgrm<W: Write>(&self, out: W) -> io::Result<()> {
        write_percentile_distribution(
            &self.cumulative,
            out,
            HGRM_TICKS_PER_HALF_DISTANCE,
            HGRM_UNIT_NS,
        )
    }

    /// The cumulative histogram as `.hgrm` text (values in milliseconds).
    pub fn hgrm_string(&self) -> String {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = self.write_hgrm(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Writes `hist` in HdrHistogram's percentile-distribution text format (the output of
/// `outputPercentileDistribution`, read by the HdrHistogram plotter): a
/// `Value Percentile TotalCount 1/(1-Percentile)` table stepping through percentiles
/// with `ticks_per_half_distance` ticks per halving of the distance to 100 %, the last
/// (100 %) line without the 1/(1-Percentile) column, then the `#[Mean ...]`,
/// `#[Max ...]` and `#[Buckets ...]` footer. Values are divided by `unit_ratio`
/// (1e6 turns ns into ms) and printed with as many decimals as the histogram has
/// significant digits.
pub fn write_percentile_distribution<W: Write>(
    hist: &Histogram<u64>,
    mut out: W,
    ticks_per_half_distance: u32,
    unit_ratio: f64,
) -> io::Result<()> {
    let digits = usize::from(hist.sigfig());
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    if !hist.is_empty() {
        let mut total: u64 = 0;
        for v in hist.iter_quantiles(ticks_per_half_distance.max(1)) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / unit_ratio;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                writeln!(
                    out,
                    "{value:12.digits$} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(out, "{value:12.digits$} {q:2.12} {total:10}")?;
            }
        }
    }
    let (mean, stddev) = if hist.is_empty() {
        (0.0, 0.0)
    } else {
        (hist.mean() / unit_ratio, hist.stdev() / unit_ratio)
    };
    let max = if hist.is_empty() {
        0.0
    } else {
        hist.max() as f64 / unit_ratio
    };
    writeln!(
        out,
        "#[Mean    = {mean:12.digits$}, StdDeviation   = {stddev:12.digits$}]"
    )?;
    writeln!(
        out,
        "#[Max     = {max:12.digits$}, Total count    = {:12}]",
        hist.len()
    )?;
    // HdrHistogram's subBucketCount is the number of distinct values per bucket.
    let sub_buckets =
        2usize.pow(((2.0 * 10f64.powi(i32::from(hist.sigfig()))).log2().ceil()) as u32);
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_buckets
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    #[test]
    fn co_correction_open_loop_stall() {
        // 1000 records/s open loop; the system stalls for 1 s: every record scheduled
        // during [0, 1 s) completes at 1 s.
        let mut corrected = LatencyRecorder::new();
        let mut naive = LatencyRecorder::new();
        let stall_end = 1_000 * MS;
        let mut sender_clock = 0i64;
        for i in 0..1_000i64 {
            let intended = i * MS;
            corrected.record_intended(intended, stall_end);
            // A closed-loop sender blocked by the stall only sends the next record after
            // the previous one completed: it would time from its actual send.
            let actual_send = sender_clock.max(intended);
            let completed = if i == 0 {
                stall_end
            } else {
                actual_send + 100_000
            };
            naive.record_intended(actual_send, completed);
            sender_clock = completed;
        }
        let s = corrected.summary();
        assert_eq!(s.count, 1_000);
        // Samples spread over 0..1 s: 1 ms, 2 ms, ..., 1000 ms.
        assert!((s.min_ms - 1.0).abs() < 0.01, "min {}", s.min_ms);
        assert!((s.p50_ms - 500.0).abs() < 2.0, "p50 {}", s.p50_ms);
        assert!((s.p90_ms - 900.0).abs() < 2.0, "p90 {}", s.p90_ms);
        assert!((s.max_ms - 1_000.0).abs() < 1.0, "max {}", s.max_ms);
        assert!((s.mean_ms - 500.5).abs() < 1.0, "mean {}", s.mean_ms);
        let h = corrected.histogram();
        assert_eq!(h.count_between(0, 100_000_000), 100);
        assert!(h.count_between(900_000_000, 1_000_000_000) >= 100);
        // The uncorrected view hides the stall behind one sample.
        let n = naive.summary();
        assert_eq!(n.count, 1_000);
        assert!(n.p99_ms < 1.0, "naive p99 {}", n.p99_ms);
        assert!(n.max_ms > 999.0);
    }

    #[test]
    fn closed_loop_correction_backfills() {
        let mut r = LatencyRecorder::new();
        r.record_corrected(1_000 * MS as u64, MS as u64);
        let s = r.summary();
        assert_eq!(s.count, 1_000);
        assert!((s.p50_ms - 500.0).abs() < 2.0, "p50 {}", s.p50_ms);
        let mut plain = LatencyRecorder::new();
        plain.record_corrected(5 * MS as u64, 0);
        assert_eq!(plain.summary().count, 1);
    }

    #[test]
    fn percentiles_interval_and_cumulative() {
        let mut r = LatencyRecorder::new();
        for v in 1..=10_000u64 {
            r.record(v * 1_000); // 1 µs .. 10 ms
        }
        let s = r.take_interval();
        assert_eq!(s.count, 10_000);
        assert!((s.p50_ms - 5.0).abs() < 0.01);
        assert!((s.p99_ms - 9.9).abs() < 0.01);
        assert!((s.p999_ms - 9.99).abs() < 0.01);
        assert!((s.max_ms - 10.0).abs() < 0.01);
        assert_eq!(r.interval_summary(), LatencySummary::default());
        r.record(20 * MS as u64);
        assert_eq!(r.interval_summary().count, 1);
        assert_eq!(r.summary().count, 10_001);
        r.reset();
        assert_eq!(r.summary().count, 0);
    }

    #[test]
    fn out_of_range_values_are_counted() {
        let mut r = LatencyRecorder::new();
        r.record(HIGHEST_NS * 2);
        r.record_intended(10, 5);
        r.record(10); // below 1 µs: kept at bucket resolution
        let s = r.summary();
        assert_eq!((s.count, s.clamped, s.negative), (3, 1, 1));
        assert!(s.max_ms >= 3_600_000.0 * 0.999);
        assert_eq!(r.interval_summary().clamped, 1);
    }

    #[test]
    fn merge_and_drain() {
        let mut a = LatencyRecorder::new();
        let mut b = LatencyRecorder::new();
        a.record(1_000_000);
        b.record(3_000_000);
        b.record(HIGHEST_NS + 1);
        let mut agg = LatencyRecorder::new();
        a.drain_interval_into(&mut agg);
        b.drain_interval_into(&mut agg);
        assert_eq!(a.interval_summary().count, 0);
        assert_eq!(a.summary().count, 1, "own cumulative kept");
        let i = agg.take_interval();
        assert_eq!((i.count, i.clamped), (3, 1));
        assert_eq!(agg.summary().count, 3);
        let mut m = LatencyRecorder::new();
        m.merge(&a);
        m.merge(&b);
        assert_eq!(m.summary().count, 3);
        assert_eq!(m.summary().clamped, 1);
    }

    /// Parses `.hgrm` text; returns (rows, mean, max, total count).
    fn parse_hgrm(text: &str) -> (Vec<(f64, f64, u64)>, f64, f64, u64) {
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
        assert_eq!(
            head,
            ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
        );
        assert_eq!(lines.next(), Some(""));
        let mut rows = Vec::new();
        let (mut mean, mut max, mut total) = (f64::NAN, f64::NAN, u64::MAX);
        for line in lines {
            if let Some(rest) = line.strip_prefix("#[") {
                let fields: Vec<(String, String)> = rest
                    .trim_end_matches(']')
                    .split(',')
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').expect("key = value");
                        (k.trim().to_string(), v.trim().to_string())
                    })
                    .collect();
                for (k, v) in fields {
                    match k.as_str() {
                        "Mean" => mean = v.parse().expect("mean"),
                        "Max" => max = v.parse().expect("max"),
                        "Total count" => total = v.parse().expect("total"),
                        "StdDeviation" | "Buckets" | "SubBuckets" => {
                            let _: f64 = v.parse().expect("number");
                        }
                        other => panic!("unexpected footer key {other}"),
                    }
                }
                continue;
            }
            let cols: Vec<&str> = line.split_whitespace().collect();
            assert!(cols.len() == 4 || cols.len() == 3, "row {line:?}");
            let p: f64 = cols[1].parse().expect("percentile");
            if cols.len() == 4 {
                let inv: f64 = cols[3].parse().expect("1/(1-p)");
                assert!((inv - 1.0 / (1.0 - p)).abs() <= 0.01 * inv.max(1.0));
            } else {
                assert_eq!(p, 1.0, "only the 100% row lacks the last column");
            }
            rows.push((
                cols[0].parse().expect("value"),
                p,
                cols[2].parse().expect("count"),
            ));
        }
        (rows, mean, max, total)
    }

    #[test]
    fn hgrm_parses_back() {
        let mut r = LatencyRecorder::new();
        for i in 0..5_000u64 {
            // Long-tailed: mostly ~1-2 ms, some up to ~500 ms.
            let v =
                1_000_000 + (i * 7_919 % 1_000) * 1_000 + if i % 97 == 0 { i * 100_000 } else { 0 };
            r.record(v);
        }
        let text = r.hgrm_string();
        let (rows, mean, max, total) = parse_hgrm(&text);
        assert!(rows.len() > 20, "{text}");
        assert_eq!(total, 5_000);
        for w in rows.windows(2) {
            assert!(w[1].0 >= w[0].0, "values monotonic");
            assert!(w[1].1 >= w[0].1, "percentiles monotonic");
            assert!(w[1].2 >= w[0].2, "counts monotonic");
        }
        let last = rows.last().expect("rows");
        assert_eq!((last.1, last.2), (1.0, 5_000));
        assert!((last.0 - max).abs() < 1e-9, "last value is the max");
        let s = r.summary();
        assert!((mean - s.mean_ms).abs() < 0.001);
        assert!((max - s.max_ms).abs() < 0.001);
        assert!(text.contains("#[Buckets = "));
        assert!(text.contains("SubBuckets     =         2048]"));
        // Row format: 12-wide value with 3 decimals, 12-decimal percentile.
        let first_row = text.lines().nth(2).expect("row");
        assert_eq!(first_row.find('.'), Some(8), "{first_row:?}");
        assert!(first_row.contains(" 0.000000000000 "), "{first_row:?}");
    }

    #[test]
    fn hgrm_of_empty_histogram() {
        let text = LatencyRecorder::new().hgrm_string();
        let (rows, mean, max, total) = parse_hgrm(&text);
        assert!(rows.is_empty());
        assert_eq!((mean, max, total), (0.0, 0.0, 0));
    }
}
