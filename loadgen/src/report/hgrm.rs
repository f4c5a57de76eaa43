//! Reading `.hgrm` files (HdrHistogram percentile-distribution text) back into
//! (percentile, value) points: the HDR chart of a run and of a comparison both come
//! from the files on disk, so a report directory is all `compare` needs.

/// One line of the distribution: the value (ms) at quantile `q` (0..=1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HgrmPoint {
    pub q: f64,
    pub value_ms: f64,
}

/// The distribution lines of `.hgrm` text; the header, footer and anything that is
/// not a `Value Percentile TotalCount [1/(1-Percentile)]` line are skipped.
pub fn parse(text: &str) -> Vec<HgrmPoint> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let value_ms = f.next()?.parse::<f64>().ok()?;
            let q = f.next()?.parse::<f64>().ok()?;
            f.next()?.parse::<u64>().ok()?;
            (value_ms.is_finite() && (0.0..=1.0).contains(&q)).then_some(HgrmPoint { q, value_ms })
        })
        .collect()
}

/// x = log10(1/(1-q)) for the HDR chart; the 100 % line is left out (infinite).
pub fn to_log_x(points: &[HgrmPoint]) -> Vec<(f64, f64)> {
    points
        .iter()
        .filter(|p| p.q < 1.0)
        .map(|p| ((1.0 / (1.0 - p.q)).log10(), p.value_ms))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::LatencyRecorder;

    #[test]
    fn reads_back_what_the_recorder_writes() {
        let mut r = LatencyRecorder::new();
        for i in 1..=10_000u64 {
            r.record(i * 1_000);
        }
        let pts = parse(&r.hgrm_string());
        assert!(pts.len() > 20, "{}", pts.len());
        assert!(pts
            .windows(2)
            .all(|w| w[0].q <= w[1].q && w[0].value_ms <= w[1].value_ms));
        let last = pts.last().expect("points");
        assert_eq!(last.q, 1.0);
        assert!((last.value_ms - 10.0).abs() < 0.05, "{last:?}");
        let p50 = pts.iter().find(|p| p.q >= 0.5).expect("p50");
        assert!((p50.value_ms - 5.0).abs() < 0.05, "{p50:?}");
        let xs = to_log_x(&pts);
        assert_eq!(xs.len(), pts.len() - 1);
        assert_eq!(xs[0].0, 0.0);
        assert!(parse("Value Percentile\n\n#[Mean = 1]\ngarbage line\n").is_empty());
    }
}
