//! `[producer.properties]`-style tables of Kafka properties: values of any TOML type
//! become strings, unquoted dotted keys (`linger.ms = 5`, a nested table to TOML) are
//! flattened back into one dotted name, and a name given twice is refused.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::Properties;

/// A property value, or a nested table from an unquoted dotted key.
enum PropValue {
    Scalar(String),
    Table(Vec<(String, PropValue)>),
}

/// toml's private marker for date-times, which arrive as a one-entry map.
pub(in crate::scenario) const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for PropValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PropValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PropValue, E> {
                Ok(PropValue::Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PropValue, E> {
                Ok(PropValue::Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PropValue, E> {
                Ok(PropValue::Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PropValue, E> {
                if v.is_finite() {
                    Ok(PropValue::Scalar(v.to_string()))
                } else {
                    Err(E::custom(format!("{v} is not a usable property value")))
                }
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<PropValue, E> {
                Ok(PropValue::Scalar(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PropValue, A::Error> {
                let mut parts = Vec::new();
                while let Some(v) = seq.next_element::<PropValue>()? {
                    match v {
                        PropValue::Scalar(s) => parts.push(s),
                        PropValue::Table(_) => {
                            return Err(de::Error::custom(
                                "a list property holds strings, numbers or booleans",
                            ))
                        }
                    }
                }
                Ok(PropValue::Scalar(parts.join(",")))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PropValue, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if k == TOML_DATETIME_KEY {
                        return Err(de::Error::custom(
                            "a date is not a property value; quote it as a string",
                        ));
                    }
                    let v = map.next_value::<PropValue>()?;
                    entries.push((k, v));
                }
                Ok(PropValue::Table(entries))
            }
        }
        d.deserialize_any(V)
    }
}

fn flatten_into(prefix: &str, v: PropValue, out: &mut Properties) -> Result<(), String> {
    match v {
        PropValue::Scalar(s) => {
            if out.insert(prefix.to_string(), s).is_some() {
                return Err(format!("property '{prefix}' is given twice"));
            }
            Ok(())
        }
        PropValue::Table(entries) => {
            for (k, v) in entries {
                flatten_into(&format!("{prefix}.{k}"), v, out)?;
            }
            Ok(())
        }
    }
}

pub(super) fn de_properties<'de, D: Deserializer<'de>>(d: D) -> Result<Properties, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Properties;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of Kafka properties, e.g. { \"linger.ms\" = 5 }")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Properties, A::Error> {
            let mut out = Properties::new();
            while let Some(k) = map.next_key::<String>()? {
                if k.is_empty() {
                    return Err(de::Error::custom("empty property name"));
                }
                let v = map.next_value::<PropValue>()?;
                flatten_into(&k, v, &mut out).map_err(de::Error::custom)?;
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}
