//! Durations written as `"250ms"`, `"20s"`, `"1.5s"`, `"5m"`, `"2h"`, `"100us"`, and the
//! per-record processing-time model (`"2ms"`, `"uniform(1ms,5ms)"`, `"exp(2ms)"`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::located::Located;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Units accepted after a number, with their length in nanoseconds.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("h", 3600 * NANOS_PER_SEC),
];

const UNIT_HINT: &str = "units: us, ms, s, m, h";

/// Parses a duration: a number with a unit (`"250ms"`, `"1.5s"`, `"5m"`, `"2h"`,
/// `"100us"`, `"10ns"`), several of them in a row (`"1m30s"`), or a bare `"0"`.
/// Fractions are exact down to the nanosecond.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; expected e.g. \"20s\" or \"250ms\"".into());
    }
    if s.starts_with('-') {
        return Err(format!("duration \"{text}\" is negative"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if num.is_empty() {
            return Err(format!(
                "invalid duration \"{text}\": expected a number before '{unit}' (e.g. \"20s\")"
            ));
        }
        if unit.is_empty() {
            return Err(format!(
                "duration \"{text}\" needs a unit after {num}, e.g. \"{num}s\" or \"{num}ms\" ({UNIT_HINT})"
            ));
        }
        let Some(&(_, unit_nanos)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!(
                "unknown unit '{unit}' in duration \"{text}\" ({UNIT_HINT})"
            ));
        };
        total = total
            .checked_add(scaled(num, unit_nanos, text)?)
            .ok_or_else(|| too_large(text))?;
        rest = after.trim_start();
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| too_large(text))?;
    // The remainder is below 10^9, so it fits.
    let nanos = u32::try_from(total % NANOS_PER_SEC).map_err(|_| too_large(text))?;
    Ok(Duration::new(secs, nanos))
}

fn too_large(text: &str) -> String {
    format!("duration \"{text}\" is too large")
}

/// `num` (decimal digits with at most one '.') times `unit_nanos`, exactly.
fn scaled(num: &str, unit_nanos: u128, text: &str) -> Result<u128, String> {
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if frac.contains('.') || (int.is_empty() && frac.is_empty()) {
        return Err(format!("invalid number '{num}' in duration \"{text}\""));
    }
    if int.len() > 30 || frac.len() > 30 {
        return Err(too_large(text));
    }
    let digits = |d: &str| -> u128 {
        d.bytes()
            .fold(0u128, |acc, b| acc * 10 + u128::from(b - b'0'))
    };
    let pow = 10u128.pow(frac.len() as u32);
    let whole = digits(int)
        .checked_mul(unit_nanos)
        .ok_or_else(|| too_large(text))?;
    let frac_scaled = digits(frac)
        .checked_mul(unit_nanos)
        .ok_or_else(|| too_large(text))?;
    if frac_scaled % pow != 0 {
        return Err(format!(
            "duration \"{text}\" is more precise than a nanosecond"
        ));
    }
    whole
        .checked_add(frac_scaled / pow)
        .ok_or_else(|| too_large(text))
}

/// Formats a duration so that [`parse_duration`] reads it back exactly: whole hours
/// (`"2h"`) or minutes (`"5m"`) when exact, otherwise seconds, milliseconds, microseconds
/// or nanoseconds with a decimal fraction (`"1.5s"`, `"250ms"`, `"1.5ms"`, `"100us"`).
pub fn format_duration(d: Duration) -> String {
    let n = d.as_nanos();
    if n == 0 {
        return "0s".into();
    }
    let hour = 3600 * NANOS_PER_SEC;
    let minute = 60 * NANOS_PER_SEC;
    // (Remainders rather than `is_multiple_of`, which is newer than the crate's MSRV.)
    let (hours, rem_h) = (n / hour, n % hour);
    if rem_h == 0 {
        return format!("{hours}h");
    }
    let (minutes, rem_m) = (n / minute, n % minute);
    if rem_m == 0 {
        return format!("{minutes}m");
    }
    let (unit_nanos, unit, width) = if n >= NANOS_PER_SEC {
        (NANOS_PER_SEC, "s", 9)
    } else if n >= 1_000_000 {
        (1_000_000, "ms", 6)
    } else if n >= 1_000 {
        (1_000, "us", 3)
    } else {
        (1, "ns", 0)
    };
    let whole = n / unit_nanos;
    let frac = n % unit_nanos;
    if frac == 0 {
        format!("{whole}{unit}")
    } else {
        let digits = format!("{frac:0width$}");
        format!("{whole}.{}{unit}", digits.trim_end_matches('0'))
    }
}

/// How long a consumer spends processing each record (or each batch, see
/// `processing_per`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessingModel {
    /// Always the same time (`"2ms"`; `"0ms"` is no processing at all).
    Fixed(Duration),
    /// Uniformly distributed between the two bounds, inclusive (`"uniform(1ms,5ms)"`).
    Uniform(Duration, Duration),
    /// Exponentially distributed with this mean (`"exp(2ms)"`).
    Exp(Duration),
}

impl Default for ProcessingModel {
    fn default() -> Self {
        ProcessingModel::Fixed(Duration::ZERO)
    }
}

impl ProcessingModel {
    /// Parses `"2ms"`, `"uniform(1ms,5ms)"` or `"exp(2ms)"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let s = text.trim();
        let call = |name: &str| -> Option<&str> {
            let inner = s.strip_prefix(name)?.trim_start().strip_prefix('(')?;
            inner.trim_end().strip_suffix(')')
        };
        if let Some(args) = call("uniform") {
            let Some((a, b)) = args.split_once(',') else {
                return Err(format!(
                    "\"{text}\": uniform takes two durations, e.g. \"uniform(1ms,5ms)\""
                ));
            };
            let lo = parse_duration(a).map_err(|e| format!("in \"{text}\": {e}"))?;
            let hi = parse_duration(b).map_err(|e| format!("in \"{text}\": {e}"))?;
            if lo > hi {
                return Err(format!(
                    "\"{text}\": the lower bound {} is above the upper bound {}",
                    format_duration(lo),
                    format_duration(hi)
                ));
            }
            return Ok(ProcessingModel::Uniform(lo, hi));
        }
        if let Some(arg) = call("exp") {
            let mean = parse_duration(arg).map_err(|e| format!("in \"{text}\": {e}"))?;
            return Ok(ProcessingModel::Exp(mean));
        }
        if s.contains('(') {
            return Err(format!(
                "unknown processing model \"{text}\"; expected a duration (\"2ms\"), \
                 \"uniform(1ms,5ms)\" or \"exp(2ms)\""
            ));
        }
        parse_duration(s).map(ProcessingModel::Fixed).map_err(|e| {
            format!("{e}; processing is a duration (\"2ms\"), \"uniform(1ms,5ms)\" or \"exp(2ms)\"")
        })
    }

    /// Draws one processing time.
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match *self {
            ProcessingModel::Fixed(d) => d,
            ProcessingModel::Uniform(lo, hi) => {
                let (lo, hi) = (nanos_u64(lo), nanos_u64(hi));
                Duration::from_nanos(rng.random_range(lo..=hi))
            }
            ProcessingModel::Exp(mean) => {
                // Inverse transform: -ln(1 - u) * mean, u in [0, 1).
                let u: f64 = rng.random();
                let x = -(1.0 - u).ln() * nanos_u64(mean) as f64;
                // `as` saturates, and x is never negative or NaN.
                Duration::from_nanos(x as u64)
            }
        }
    }

    /// The mean processing time.
    pub fn mean(&self) -> Duration {
        match *self {
            ProcessingModel::Fixed(d) | ProcessingModel::Exp(d) => d,
            ProcessingModel::Uniform(lo, hi) => lo + (hi - lo) / 2,
        }
    }

    /// Whether processing takes no time at all.
    pub fn is_zero(&self) -> bool {
        *self == ProcessingModel::Fixed(Duration::ZERO)
    }
}

fn nanos_u64(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl fmt::Display for ProcessingModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProcessingModel::Fixed(d) => f.write_str(&format_duration(d)),
            ProcessingModel::Uniform(a, b) => {
                write!(f, "uniform({},{})", format_duration(a), format_duration(b))
            }
            ProcessingModel::Exp(m) => write!(f, "exp({})", format_duration(m)),
        }
    }
}

impl FromStr for ProcessingModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ProcessingModel::parse(s)
    }
}

impl<'de> Deserialize<'de> for ProcessingModel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ProcessingModel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration (\"2ms\"), \"uniform(1ms,5ms)\" or \"exp(2ms)\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                ProcessingModel::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(E::custom(unit_missing(&v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(unit_missing(&v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ProcessingModel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn unit_missing(num: &str) -> String {
    format!("a duration is a string with a unit: write \"{num}s\" or \"{num}ms\" ({UNIT_HINT})")
}

/// A `Duration` read from a duration string (a private helper for serde).
struct DurationText(Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"20s\" or \"250ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_duration(v).map(DurationText).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(E::custom(unit_missing(&v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(unit_missing(&v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// serde `with` helpers for `Located<Duration>` fields written as duration strings.
pub(crate) mod serde_located {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Located<Duration>, D::Error> {
        Ok(Located::<DurationText>::deserialize(d)?.map(|t| t.0))
    }

    pub fn serialize<S: Serializer>(v: &Located<Duration>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_duration(v.value))
    }
}

/// serde `with` helpers for `Option<Located<Duration>>` fields (use with `default`).
pub(crate) mod serde_located_opt {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Located<Duration>>, D::Error> {
        Ok(Some(super::serde_located::deserialize(d)?))
    }

    pub fn serialize<S: Serializer>(
        v: &Option<Located<Duration>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.collect_str(&format_duration(d.value)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn scenario_duration_parses_units() {
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("20s"), Ok(ms(20_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1_500)));
        assert_eq!(parse_duration("5m"), Ok(ms(300_000)));
        assert_eq!(parse_duration("2h"), Ok(ms(7_200_000)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("100µs"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 1m30s "), Ok(ms(90_000)));
        assert_eq!(parse_duration("1h 30m"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("20 s"), Ok(ms(20_000)));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_duration("0.001ms"), Ok(Duration::from_micros(1)));
    }

    #[test]
    fn scenario_duration_errors_are_clear() {
        let err = |s: &str| parse_duration(s).expect_err(s);
        assert!(err("20").contains("needs a unit"), "{}", err("20"));
        assert!(
            err("20sec").contains("unknown unit 'sec'"),
            "{}",
            err("20sec")
        );
        assert!(err("").contains("empty"));
        assert!(err("-5s").contains("negative"));
        assert!(err("s").contains("expected a number"));
        assert!(err("1.2.3s").contains("invalid number"));
        assert!(err("1.5ns").contains("nanosecond"));
        assert!(err("99999999999999999999999h").contains("too large"));
        assert!(err("abc").contains("expected a number"));
    }

    #[test]
    fn scenario_duration_round_trips() {
        for text in [
            "0s",
            "250ms",
            "20s",
            "1.5s",
            "5m",
            "2h",
            "100us",
            "1.5ms",
            "7ns",
            "90s",
            "1.000000001s",
            "61m",
            "25h",
        ] {
            let d = parse_duration(text).expect(text);
            assert_eq!(format_duration(d), text, "{text}");
        }
        for nanos in [
            1u64,
            999,
            1_000,
            1_234_567,
            59_999_999_999,
            3_600_000_000_001,
        ] {
            let d = Duration::from_nanos(nanos);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{nanos}");
        }
        assert_eq!(format_duration(ms(60_000)), "1m");
    }

    #[test]
    fn scenario_processing_model_parses_and_round_trips() {
        assert_eq!(
            ProcessingModel::parse("0ms"),
            Ok(ProcessingModel::Fixed(ms(0)))
        );
        assert_eq!(
            ProcessingModel::parse("2ms"),
            Ok(ProcessingModel::Fixed(ms(2)))
        );
        assert_eq!(
            ProcessingModel::parse("uniform(1ms, 5ms)"),
            Ok(ProcessingModel::Uniform(ms(1), ms(5)))
        );
        assert_eq!(
            ProcessingModel::parse("exp(2ms)"),
            Ok(ProcessingModel::Exp(ms(2)))
        );
        for text in ["2ms", "uniform(1ms,5ms)", "exp(2ms)", "0s"] {
            let m = ProcessingModel::parse(text).expect(text);
            assert_eq!(m.to_string(), text);
        }
        assert!(ProcessingModel::parse("uniform(5ms,1ms)")
            .expect_err("reversed")
            .contains("above the upper bound"));
        assert!(ProcessingModel::parse("uniform(5ms)").is_err());
        assert!(ProcessingModel::parse("normal(5ms,1ms)")
            .expect_err("unknown")
            .contains("unknown processing model"));
        assert!(ProcessingModel::parse("5").is_err());
    }

    #[test]
    fn scenario_processing_model_samples() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        assert_eq!(ProcessingModel::Fixed(ms(3)).sample(&mut rng), ms(3));
        let u = ProcessingModel::Uniform(ms(1), ms(5));
        let mut sum = Duration::ZERO;
        for _ in 0..2000 {
            let d = u.sample(&mut rng);
            assert!(d >= ms(1) && d <= ms(5));
            sum += d;
        }
        let mean = sum / 2000;
        assert!(
            mean > ms(2) + ms(1) / 2 && mean < ms(3) + ms(1) / 2,
            "{mean:?}"
        );
        let e = ProcessingModel::Exp(ms(2));
        let mut sum = Duration::ZERO;
        for _ in 0..20_000 {
            sum += e.sample(&mut rng);
        }
        let mean = (sum / 20_000).as_secs_f64() * 1000.0;
        assert!((mean - 2.0).abs() < 0.15, "exp mean {mean}ms");
        assert_eq!(
            ProcessingModel::Exp(Duration::ZERO).sample(&mut rng),
            Duration::ZERO
        );
        assert_eq!(u.mean(), ms(3));
    }
}
