//! The `[control]` table: the change that undoes a lesson's effect (the taught setting
//! back to its other value, or the event that causes the effect removed). `kafkalab run
//! FILE --control` runs the scenario with it applied and must fail an expectation: the
//! proof that the lesson's checks can fail.
//!
//! ```toml
//! [control]
//! about = "linger.ms = 0: the producer sends at once, batches stay small"
//! "producers.linger20.config.linger.ms" = 0    # any sweep path, one value
//! drop_events = ["crash-consumer"]             # events removed, by `do` or by `name`
//! ```

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::model::{Scenario, TOML_DATETIME_KEY};
use super::setting::Setting;
use super::sweep::value_text;
use super::Located;

/// The `[control]` table as written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Control {
    /// Why this change undoes the lesson.
    pub about: String,
    /// Setting paths (the `[sweep]` paths) and the one value each takes, in file order.
    pub settings: Vec<(Located<String>, toml::Value)>,
    /// Events removed: each entry names an event's `do` kind (every event of that kind)
    /// or its `name`.
    pub drop_events: Vec<Located<String>>,
}

impl Control {
    /// No control given.
    pub fn is_empty(&self) -> bool {
        self.settings.is_empty() && self.drop_events.is_empty()
    }

    /// `describe()` and, after a dash, `about`: what a report says of a control run.
    pub fn text(&self) -> String {
        if self.about.is_empty() {
            self.describe()
        } else {
            format!("{} — {}", self.describe(), self.about.trim())
        }
    }

    /// One line for summaries and reports: `producers.p0.config.linger.ms = 0; without
    /// crash-consumer`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .settings
            .iter()
            .map(|(p, v)| format!("{} = {}", p.value, value_text(v)))
            .collect();
        if !self.drop_events.is_empty() {
            let names: Vec<&str> = self.drop_events.iter().map(|d| d.as_str()).collect();
            parts.push(format!("without {}", names.join(", ")));
        }
        parts.join("; ")
    }
}

/// Whether a `drop_events` entry names this event (its `name` or its `do` kind).
fn names_event(entry: &str, e: &super::Event) -> bool {
    e.name.as_ref().is_some_and(|n| n.value == entry) || e.kind.value.as_str() == entry
}

impl Scenario {
    /// This scenario with its `[control]` applied: each setting set (in a sweep, a path
    /// that is also an axis keeps only the control's value, so a `[[sweep.expect]]`
    /// about another value selects no point and fails), the named events removed. The
    /// result has no `[control]` left and is checked like a scenario file.
    pub fn with_control(&self) -> Result<Scenario, String> {
        let mut s = self.clone();
        let control = std::mem::take(&mut s.control);
        if control.is_empty() {
            return Err(format!(
                "'{}' has no [control] table: nothing undoes its lesson",
                self.name
            ));
        }
        for entry in &control.drop_events {
            if !s.events.iter().any(|e| names_event(entry, e)) {
                return Err(format!(
                    "drop_events: no event is named or of kind '{}'",
                    entry.value
                ));
            }
            s.events.retain(|e| !names_event(entry, e));
        }
        let mut narrowed: Vec<String> = Vec::new();
        for (path, value) in &control.settings {
            if let Some(axis) = s.sweep.axes.iter_mut().find(|a| a.path.value == path.value) {
                axis.values = vec![value.clone()];
                continue;
            }
            // A property under a swept table of properties (`consumers.<group>.config`):
            // the axis keeps one table, of the control's properties.
            if let Some(axis) = s.sweep.axes.iter_mut().find(|a| {
                a.values.iter().all(toml::Value::is_table)
                    && path
                        .value
                        .strip_prefix(a.path.value.as_str())
                        .is_some_and(|r| r.starts_with('.'))
            }) {
                if !narrowed.contains(&axis.path.value) {
                    narrowed.push(axis.path.value.clone());
                    axis.values = vec![toml::Value::Table(toml::Table::new())];
                }
                let key = path.value[axis.path.value.len() + 1..].to_string();
                if let Some(toml::Value::Table(t)) = axis.values.first_mut() {
                    t.insert(key, value.clone());
                }
                continue;
            }
            let setting =
                Setting::resolve(path, &s).map_err(|e| format!("'{}': {e}", path.value))?;
            setting
                .apply(&mut s, value)
                .map_err(|e| format!("{} = {}: {e}", path.value, value_text(value)))?;
        }
        s.name = format!("{}-control", self.name);
        s.controlled = Some(control);
        super::parse::revalidate(&mut s).map_err(|e| format!("with the control applied: {e}"))?;
        Ok(s)
    }
}

/// Checks the control of a parsed scenario: it applies, and the scenario it gives is
/// valid. The error carries the span of the entry to blame.
pub(super) fn validate(s: &Scenario) -> Result<(), (Range<usize>, String)> {
    if s.control.is_empty() {
        if !s.control.about.is_empty() {
            return Err((
                0..0,
                "[control] has only `about`: name the settings or events that undo the lesson"
                    .into(),
            ));
        }
        return Ok(());
    }
    let span = s
        .control
        .settings
        .first()
        .map(|(p, _)| p.span.clone())
        .or_else(|| s.control.drop_events.first().map(|d| d.span.clone()))
        .unwrap_or(0..0);
    // Blame the entry whose application fails, when the message names it.
    s.with_control().map(|_| ()).map_err(|e| {
        let at = s
            .control
            .settings
            .iter()
            .map(|(p, _)| (p.value.as_str(), p.span.clone()))
            .chain(
                s.control
                    .drop_events
                    .iter()
                    .map(|d| (d.as_str(), d.span.clone())),
            )
            .find(|(name, _)| e.contains(&format!("'{name}'")) || e.starts_with(name))
            .map_or(span.clone(), |(_, sp)| sp);
        (at, format!("[control]: {e}"))
    })
}

// ---- serde ----

impl<'de> Deserialize<'de> for Control {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Control;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of \"setting.path\" = value, `about` and `drop_events`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Control, A::Error> {
                let mut out = Control::default();
                while let Some(k) = map.next_key::<Located<String>>()? {
                    match k.value.as_str() {
                        "about" => out.about = map.next_value::<String>()?,
                        "drop_events" => {
                            out.drop_events = map.next_value::<Vec<Located<String>>>()?;
                            if out.drop_events.is_empty() {
                                return Err(de::Error::custom(
                                    "drop_events lists events by `do` kind or `name`, \
                                     e.g. [\"crash-consumer\"]",
                                ));
                            }
                        }
                        TOML_DATETIME_KEY => {
                            return Err(de::Error::custom(
                                "a control setting is a value, found a date",
                            ))
                        }
                        _ => {
                            let v = map.next_value::<toml::Value>()?;
                            flatten(k, v, &mut out.settings).map_err(de::Error::custom)?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// `producer.linger.ms = 0` written unquoted is a nested table: one path per leaf, all
/// at the outer key's position.
fn flatten(
    key: Located<String>,
    v: toml::Value,
    out: &mut Vec<(Located<String>, toml::Value)>,
) -> Result<(), String> {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let path = Located::at(format!("{}.{k}", key.value), key.span.clone());
                flatten(path, v, out)?;
            }
            Ok(())
        }
        toml::Value::Array(_) => Err(format!(
            "'{}': a control sets one value (a list of values is a [sweep])",
            key.value
        )),
        v => {
            if out.iter().any(|(p, _)| p.value == key.value) {
                return Err(format!("'{}' is set twice", key.value));
            }
            out.push((key, v));
            Ok(())
        }
    }
}

impl Serialize for Control {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if !self.about.is_empty() {
            map.serialize_entry("about", &self.about)?;
        }
        for (path, v) in &self.settings {
            map.serialize_entry(&path.value, v)?;
        }
        if !self.drop_events.is_empty() {
            let names: Vec<&str> = self.drop_events.iter().map(|d| d.as_str()).collect();
            map.serialize_entry("drop_events", &names)?;
        }
        map.end()
    }
}
