//! Serde plumbing for the scenario types: values written as strings (`"zipf(1.2)"`,
//! `"billing/1"`, `"5000/s"`) parsed through their `FromStr`, and integers with bounds
//! refused with a clear message (strings, fractions, out of range).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::*;

impl<'de> Deserialize<'de> for LinkEnd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LinkEnd;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a broker node id or \"clients\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LinkEnd, E> {
                u32::try_from(v)
                    .map(LinkEnd::Broker)
                    .map_err(|_| E::custom(format!("{v} is not a broker node id")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LinkEnd, E> {
                u32::try_from(v)
                    .map(LinkEnd::Broker)
                    .map_err(|_| E::custom(format!("{v} is not a broker node id")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LinkEnd, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for LinkEnd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LinkEnd::Broker(id) => s.serialize_u32(*id),
            LinkEnd::Clients => s.serialize_str("clients"),
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of records per second, or \"max\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rate, E> {
                Rate::from_number(v as f64).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Rate, E> {
                Rate::from_number(v as f64).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Rate, E> {
                Rate::from_number(v).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                if v == "max" {
                    return Ok(Rate::Max);
                }
                let hint = match v.trim().parse::<f64>() {
                    Ok(_) => format!(" (write the number without quotes: rate = {})", v.trim()),
                    Err(_) => String::new(),
                };
                Err(E::custom(format!(
                    "rate is a number of records per second or \"max\", found \"{v}\"{hint}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Rate::PerSecond(r) if r.fract() == 0.0 && r <= i64::MAX as f64 => {
                s.serialize_i64(r as i64)
            }
            Rate::PerSecond(r) => s.serialize_f64(r),
            Rate::Max => s.serialize_str("max"),
        }
    }
}

// ---- serde plumbing for string-valued enums ----

pub(super) fn one_of<T: Copy>(what: &str, v: &str, table: &[(&str, T)]) -> Result<T, String> {
    if let Some((_, t)) = table.iter().find(|(n, _)| *n == v) {
        return Ok(*t);
    }
    let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
    Err(format!(
        "unknown {what} \"{v}\"{} (expected one of: {})",
        suggest::did_you_mean(v, names.iter().copied()),
        names.join(", ")
    ))
}

/// Deserialises from a string through `parse`.
pub(super) struct StrVisitor<T>(&'static str, fn(&str) -> Result<T, String>);

impl<T> Visitor<'_> for StrVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.1)(v).map_err(E::custom)
    }
}

macro_rules! string_enum_serde {
    ($ty:ty, $expecting:expr, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(StrVisitor($expecting, $parse))
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ProcessingPer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

string_enum_serde!(
    EventKind,
    "an event such as \"crash-consumer\"",
    EventKind::from_str
);
string_enum_serde!(
    Keys,
    "\"none\", \"uniform\", \"sequential\" or \"zipf(1.2)\"",
    Keys::parse
);
string_enum_serde!(Payload, "\"random\" or \"zeros\"", |v| one_of(
    "payload",
    v,
    &[("random", Payload::Random), ("zeros", Payload::Zeros)]
));
string_enum_serde!(ProcessingPer, "\"record\" or \"batch\"", |v| one_of(
    "processing_per",
    v,
    &[
        ("record", ProcessingPer::Record),
        ("batch", ProcessingPer::Batch)
    ]
));

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Target;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a target such as \"billing/1\", \"billing\", \"p0\" or a broker id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Target, E> {
                Target::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Target, E> {
                if v < 0 {
                    return Err(E::custom(format!("broker id {v} is negative")));
                }
                Ok(Target {
                    name: v.to_string(),
                    index: None,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

// ---- integers with bounds ----

/// An integer from the file; strings and fractions are refused with a clear message.
pub(super) struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                Err(E::custom(format!("expected a whole number, found {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                let hint = if v.trim().parse::<i64>().is_ok() {
                    format!(" (write it without quotes: {})", v.trim())
                } else {
                    String::new()
                };
                Err(E::custom(format!(
                    "expected a whole number, found the string \"{v}\"{hint}"
                )))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Int, E> {
                Err(E::custom(format!("expected a whole number, found {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

pub(super) fn bounded<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    lo: i64,
    hi: i64,
) -> Result<Located<i64>, D::Error> {
    let v = Located::<Int>::deserialize(d)?.map(|i| i.0);
    if v.value < lo || v.value > hi {
        let range = if hi < i64::from(i32::MAX) {
            format!("between {lo} and {hi}")
        } else if v.value < lo {
            format!("at least {lo}")
        } else {
            format!("at most {hi}")
        };
        return Err(de::Error::custom(format!(
            "{what} must be {range}, found {}",
            v.value
        )));
    }
    Ok(v)
}

pub(super) const U32_MAX: i64 = u32::MAX as i64;

// The bounds make the narrowing `as` conversions below lossless.
pub(super) fn de_count<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(bounded(d, "count", 1, U32_MAX)?.value as u32)
}

pub(super) fn de_opt_count<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Located<u32>>, D::Error> {
    Ok(Some(bounded(d, "count", 1, U32_MAX)?.map(|v| v as u32)))
}

pub(super) fn de_brokers<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(bounded(d, "brokers", 1, 1024)?.value as u32)
}

pub(super) fn de_partitions<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(bounded(d, "partitions", 1, i64::from(i32::MAX))?.value as u32)
}

pub(super) fn de_replication_factor<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Located<u16>, D::Error> {
    Ok(bounded(d, "replication_factor", 1, i64::from(i16::MAX))?.map(|v| v as u16))
}

/// Largest `record_size`: 1 MiB.
pub const MAX_RECORD_SIZE: u32 = 1 << 20;

pub(super) fn de_record_size<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(bounded(d, "record_size (bytes)", 1, i64::from(MAX_RECORD_SIZE))?.value as u32)
}

pub(super) fn de_key_space<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(bounded(d, "key_space", 1, i64::MAX)?.value as u64)
}

pub(super) fn de_tombstones<'de, D: Deserializer<'de>>(d: D) -> Result<Located<f64>, D::Error> {
    let v = Located::<f64>::deserialize(d)?;
    if !(0.0..=1.0).contains(&v.value) {
        return Err(de::Error::custom(format!(
            "tombstones is a share of the records, between 0 and 1, found {}",
            v.value
        )));
    }
    Ok(v)
}

pub(super) fn is_zero_located(v: &Located<f64>) -> bool {
    v.value == 0.0
}

pub(super) fn de_seed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Some(bounded(d, "seed", 0, i64::MAX)?.value as u64))
}

pub(super) fn one_u32() -> u32 {
    1
}

pub(super) fn one_located_u16() -> Located<u16> {
    Located::new(1)
}

pub(super) fn default_record_size() -> u32 {
    100
}

pub(super) fn default_key_space() -> u64 {
    10_000
}
