//! The `[sweep]` table: settings to vary (`"producer.linger.ms" = [0, 5, 20]`), how
//! often to run each combination (`repeats`), and what the sweep as a whole must show
//! (`[[sweep.expect]]`: a metric rises or falls along one setting). A sweep expands into
//! points ([`Scenario::sweep_points`]), each an ordinary scenario
//! ([`Scenario::with_point`]).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::expect::{check_metric_name, Check};
use super::model::{Scenario, TOML_DATETIME_KEY};
use super::setting::Setting;
use super::suggest;
use super::Located;
use crate::measure::ExpectationOutcome;

/// One setting to vary: its dotted path and the values to try, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepAxis {
    /// As written (`"producers.p0.config.linger.ms"`, `"producer.linger.ms"`).
    pub path: Located<String>,
    /// At least one value.
    pub values: Vec<toml::Value>,
}

/// The whole `[sweep]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// In file order; the last varies fastest.
    pub axes: Vec<SweepAxis>,
    /// Runs per combination (default 1), for error bars.
    pub repeats: Located<u32>,
    /// `[[sweep.expect]]`, in file order.
    pub expect: Vec<SweepExpectation>,
}

impl Default for Sweep {
    fn default() -> Self {
        Sweep {
            axes: Vec::new(),
            repeats: Located::new(1),
            expect: Vec::new(),
        }
    }
}

impl Sweep {
    /// No axes: the scenario is one run.
    pub fn is_empty(&self) -> bool {
        self.axes.is_empty()
    }

    /// The axis with this path.
    pub fn axis(&self, path: &str) -> Option<&SweepAxis> {
        self.axes.iter().find(|a| a.path.value == path)
    }

    /// Short names for the axes (`linger.ms` for `producers.p0.config.linger.ms`), the
    /// full path where two short names would collide.
    pub fn short_names(&self) -> Vec<String> {
        let short: Vec<String> = self.axes.iter().map(|a| short_name(&a.path)).collect();
        short
            .iter()
            .zip(&self.axes)
            .map(|(s, a)| {
                if short.iter().filter(|x| *x == s).count() > 1 {
                    a.path.value.clone()
                } else {
                    s.clone()
                }
            })
            .collect()
    }
}

fn short_name(path: &str) -> String {
    for marker in [".config.", ".broker."] {
        if let Some((_, key)) = path.split_once(marker) {
            return key.to_string();
        }
    }
    match path.split_once('.') {
        Some(("producer" | "consumer", key)) => key.to_string(),
        _ => path.rsplit('.').next().unwrap_or(path).to_string(),
    }
}

/// How a metric must move along an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trend {
    Rises,
    Falls,
}

impl Trend {
    pub fn as_str(self) -> &'static str {
        match self {
            Trend::Rises => "rises",
            Trend::Falls => "falls",
        }
    }
}

/// Largest step against the trend that still counts as noise: 10 % of the previous
/// value (short sweep points on a shared machine are noisy; the overall direction and
/// `ratio` carry the claim).
pub const TREND_TOLERANCE: f64 = 0.10;

/// One `[[sweep.expect]]` entry on `metric`, restricted by `where` to the points with
/// those settings: either a trend ([`SweepCheck::Trend`]) or a check every selected
/// point must pass ([`SweepCheck::Value`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SweepExpectation {
    pub metric: Located<String>,
    pub check: SweepCheck,
    /// `where = { "producers.p0.rate" = 5000 }`.
    pub filter: Located<Vec<(String, toml::Value)>>,
}

/// What a `[[sweep.expect]]` entry claims.
#[derive(Clone, Debug, PartialEq)]
pub enum SweepCheck {
    /// Along `along` (values in file order), with every other setting held fixed, the
    /// metric moves in `trend`'s direction, and `last / first` passes `ratio` when given.
    Trend {
        along: Located<String>,
        trend: Located<Trend>,
        ratio: Option<Located<Check>>,
    },
    /// `value = "= 0"`: every selected point's metric passes the check (a per-setting
    /// claim such as "acks=all loses nothing", which `[expect]` cannot make because it
    /// holds for every point).
    Value(Located<Check>),
}

/// A point's position along the trend's axis and its metric (if measured).
type AlongPoint = (usize, Option<f64>);

/// One combination of sweep values.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepPoint {
    /// Position in the sweep, from 0.
    pub index: usize,
    /// (axis path, value), one per axis in axis order.
    pub settings: Vec<(String, toml::Value)>,
}

/// A sweep value as text: `20`, `max`, `lz4`.
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        // A table of properties (`consumers.<group>.config`): `{a=1, b=x}`.
        toml::Value::Table(t) => format!(
            "{{{}}}",
            t.iter()
                .map(|(k, v)| format!("{k}={}", value_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

impl SweepPoint {
    /// `linger.ms=5, batch.size=16384`, with the sweep's short names.
    pub fn label(&self, sweep: &Sweep) -> String {
        let names = sweep.short_names();
        self.settings
            .iter()
            .zip(names)
            .map(|((_, v), n)| format!("{n}={}", value_text(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Scenario {
    /// Every combination of the sweep's values (the last axis varies fastest); one
    /// point with no settings when there is no sweep.
    pub fn sweep_points(&self) -> Vec<SweepPoint> {
        let mut points = vec![Vec::new()];
        for axis in &self.sweep.axes {
            points = points
                .into_iter()
                .flat_map(|p: Vec<(String, toml::Value)>| {
                    axis.values.iter().map(move |v| {
                        let mut p = p.clone();
                        p.push((axis.path.value.clone(), v.clone()));
                        p
                    })
                })
                .collect();
        }
        points
            .into_iter()
            .enumerate()
            .map(|(index, settings)| SweepPoint { index, settings })
            .collect()
    }

    /// This scenario with the point's settings applied and no sweep: one ordinary
    /// run. The result is checked like a scenario file.
    pub fn with_point(&self, point: &SweepPoint) -> Result<Scenario, String> {
        let mut s = self.clone();
        s.sweep = Sweep::default();
        for (path, value) in &point.settings {
            let setting = Setting::resolve(path, &s)?;
            setting
                .apply(&mut s, value)
                .map_err(|e| format!("{path} = {}: {e}", value_text(value)))?;
        }
        super::parse::revalidate(&mut s)
            .map_err(|e| format!("with {}: {e}", point.label(&self.sweep)))?;
        Ok(s)
    }
}

impl SweepExpectation {
    /// A readable form: `records_per_request rises along linger.ms`, `lost = 0`.
    fn title(&self, sweep: &Sweep) -> String {
        match &self.check {
            SweepCheck::Trend { along, trend, .. } => {
                let idx = sweep.axes.iter().position(|a| a.path.value == along.value);
                let along = idx.map_or(along.value.clone(), |i| sweep.short_names()[i].clone());
                format!(
                    "{} {} along {along}",
                    self.metric.value,
                    trend.value.as_str()
                )
            }
            SweepCheck::Value(check) => format!("{} {}", self.metric.value, check.value),
        }
    }

    /// Whether point `p` is among those `where` selects.
    fn selects(&self, p: &SweepPoint) -> bool {
        self.filter
            .iter()
            .all(|(path, want)| p.settings.iter().any(|(q, v)| q == path && v == want))
    }

    /// Checks the expectation on the points' metrics (mean over repeats): a trend gives
    /// one outcome per combination of the other settings, a value check one per
    /// selected point. `metrics[i]` belongs to `points[i]`.
    pub fn evaluate(
        &self,
        sweep: &Sweep,
        points: &[SweepPoint],
        metrics: &[BTreeMap<String, f64>],
    ) -> Vec<ExpectationOutcome> {
        let mut out = match &self.check {
            SweepCheck::Trend {
                along,
                trend,
                ratio,
            } => self.evaluate_trend(sweep, points, metrics, along, trend.value, ratio),
            SweepCheck::Value(check) => points
                .iter()
                .zip(metrics)
                .filter(|(p, _)| self.selects(p))
                .map(|(p, m)| {
                    let value = super::expect::lookup(m, &self.metric);
                    ExpectationOutcome {
                        name: format!("{} ({})", self.metric.value, p.label(sweep)),
                        check: check.value.to_string(),
                        measured: value.map_or(serde_json::Value::Null, |v| {
                            serde_json::Value::String(crate::report::table::num(v, 2))
                        }),
                        passed: value.is_some_and(|v| check.value.eval(v)),
                    }
                })
                .collect(),
        };
        if out.is_empty() {
            out.push(ExpectationOutcome {
                name: self.title(sweep),
                check: match &self.check {
                    SweepCheck::Trend { trend, .. } => trend.value.as_str().into(),
                    SweepCheck::Value(check) => check.value.to_string(),
                },
                measured: serde_json::Value::String("no point matches 'where'".into()),
                passed: false,
            });
        }
        out
    }

    fn evaluate_trend(
        &self,
        sweep: &Sweep,
        points: &[SweepPoint],
        metrics: &[BTreeMap<String, f64>],
        along: &str,
        trend: Trend,
        ratio: &Option<Located<Check>>,
    ) -> Vec<ExpectationOutcome> {
        let names = sweep.short_names();
        let Some(along_idx) = sweep.axes.iter().position(|a| a.path.value == along) else {
            return Vec::new();
        };
        let order = |v: &toml::Value| sweep.axes[along_idx].values.iter().position(|x| x == v);
        // Other settings -> (position along the axis, metric).
        // In point order, so the outcomes read in the sweep's order.
        let mut lines: Vec<(Vec<String>, Vec<AlongPoint>)> = Vec::new();
        for (p, m) in points.iter().zip(metrics) {
            if !self.selects(p) {
                continue;
            }
            let others: Vec<String> = p
                .settings
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != along_idx)
                .map(|(i, (_, v))| format!("{}={}", names[i], value_text(v)))
                .collect();
            let Some(pos) = order(&p.settings[along_idx].1) else {
                continue;
            };
            let value = (pos, super::expect::lookup(m, &self.metric));
            match lines.iter_mut().find(|(o, _)| *o == others) {
                Some((_, pts)) => pts.push(value),
                None => lines.push((others, vec![value])),
            }
        }
        let mut out = Vec::new();
        for (others, mut pts) in lines {
            pts.sort_by_key(|(pos, _)| *pos);
            let values: Option<Vec<f64>> = pts.iter().map(|(_, v)| *v).collect();
            let mut check = trend.as_str().to_string();
            if let Some(r) = ratio {
                check.push_str(&format!(", last/first {}", r.value));
            }
            let name = if others.is_empty() {
                self.title(sweep)
            } else {
                format!("{} ({})", self.title(sweep), others.join(", "))
            };
            let (measured, passed) = match values {
                Some(v) if v.len() >= 2 => {
                    let (first, last) = (v[0], v[v.len() - 1]);
                    let r = last / first;
                    let steps_ok = v.windows(2).all(|w| match trend {
                        Trend::Rises => w[1] >= w[0] * (1.0 - TREND_TOLERANCE),
                        Trend::Falls => w[1] <= w[0] * (1.0 + TREND_TOLERANCE),
                    });
                    let direction = match trend {
                        Trend::Rises => last > first,
                        Trend::Falls => last < first,
                    };
                    let ratio_ok = ratio.as_ref().is_none_or(|c| c.value.eval(r));
                    let text = v
                        .iter()
                        .map(|x| crate::report::table::num(*x, 2))
                        .collect::<Vec<_>>()
                        .join(" → ");
                    (
                        serde_json::Value::String(format!(
                            "{text} (×{})",
                            crate::report::table::num(r, 2)
                        )),
                        steps_ok && direction && ratio_ok,
                    )
                }
                Some(_) => (
                    serde_json::Value::String("a single point: no trend".into()),
                    false,
                ),
                None => (serde_json::Value::Null, false),
            };
            out.push(ExpectationOutcome {
                name,
                check,
                measured,
                passed,
            });
        }
        out
    }
}

/// Checks a parsed sweep against its scenario: paths resolve, every value applies,
/// every point is a valid scenario, expectations name axes and metrics. The error
/// carries the span to report.
pub(super) fn validate(s: &Scenario) -> Result<(), (Range<usize>, String)> {
    let sw = &s.sweep;
    if sw.axes.is_empty() {
        if let Some(e) = sw.expect.first() {
            return Err((
                e.metric.span.clone(),
                "[[sweep.expect]] needs settings to sweep in [sweep]".into(),
            ));
        }
        if sw.repeats.is_from_file() {
            return Err((
                sw.repeats.span.clone(),
                "repeats needs settings to sweep in [sweep]".into(),
            ));
        }
        return Ok(());
    }
    let mut base = s.clone();
    base.sweep = Sweep::default();
    for axis in &sw.axes {
        let span = axis.path.span.clone();
        let setting = Setting::resolve(&axis.path, &base).map_err(|e| {
            (
                span.clone(),
                format!("sweep path '{}': {e}", axis.path.value),
            )
        })?;
        for v in &axis.values {
            let mut probe = base.clone();
            setting.apply(&mut probe, v).map_err(|e| {
                (
                    span.clone(),
                    format!(
                        "sweep value {} for '{}': {e}",
                        value_text(v),
                        axis.path.value
                    ),
                )
            })?;
        }
    }
    for p in s.sweep_points() {
        if let Err(e) = s.with_point(&p) {
            let span = sw.axes.first().map_or(0..0, |a| a.path.span.clone());
            return Err((span, e));
        }
    }
    for e in &sw.expect {
        check_metric_name(&e.metric).map_err(|m| (e.metric.span.clone(), m))?;
        let paths: Vec<&str> = sw.axes.iter().map(|a| a.path.as_str()).collect();
        let not_axis = |p: &str| {
            format!(
                "'{p}' is not swept{} (swept: {})",
                suggest::did_you_mean(p, paths.iter().copied()),
                paths.join(", ")
            )
        };
        let along = match &e.check {
            SweepCheck::Trend { along, .. } => {
                let Some(axis) = sw.axis(along) else {
                    return Err((along.span.clone(), not_axis(along)));
                };
                // (A control may narrow it to one: the trend then fails, not the file.)
                if axis.values.len() < 2 && s.controlled.is_none() {
                    return Err((
                        along.span.clone(),
                        format!("'{}' has one value: no trend to check", along.value),
                    ));
                }
                Some(along.value.as_str())
            }
            SweepCheck::Value(_) => None,
        };
        for (path, v) in e.filter.iter() {
            let Some(axis) = sw.axis(path) else {
                return Err((e.filter.span.clone(), format!("where: {}", not_axis(path))));
            };
            if Some(path.as_str()) == along {
                return Err((
                    e.filter.span.clone(),
                    format!("where: '{path}' is the axis the trend runs along"),
                ));
            }
            // A control may have narrowed the axis: the filter then selects no point,
            // which fails the expectation (as a control should), not the file.
            if !axis.values.contains(v) && s.controlled.is_none() {
                return Err((
                    e.filter.span.clone(),
                    format!(
                        "where: {} is not among the values of '{path}' ({})",
                        value_text(v),
                        axis.values
                            .iter()
                            .map(value_text)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

// ---- serde ----

enum SweepValue {
    Values(Vec<toml::Value>),
    Table(Vec<(Located<String>, SweepValue)>),
}

impl<'de> Deserialize<'de> for SweepValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SweepValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of values, e.g. [0, 20]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SweepValue, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element::<toml::Value>()? {
                    if values.contains(&v) {
                        return Err(de::Error::custom(format!(
                            "{} is listed twice",
                            value_text(&v)
                        )));
                    }
                    values.push(v);
                }
                if values.is_empty() {
                    return Err(de::Error::custom("a sweep needs at least one value"));
                }
                Ok(SweepValue::Values(values))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SweepValue, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<Located<String>>()? {
                    if k.value == TOML_DATETIME_KEY {
                        return Err(de::Error::custom(
                            "a sweep is an array of values, e.g. [0, 20]; found a date",
                        ));
                    }
                    let v = map.next_value::<SweepValue>()?;
                    entries.push((k, v));
                }
                Ok(SweepValue::Table(entries))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SweepValue, E> {
                Err(E::custom(format!(
                    "a sweep is an array of values, e.g. [0, 20]; found the string \"{v}\""
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SweepValue, E> {
                Err(E::custom(format!(
                    "a sweep is an array of values, e.g. [{v}]; found the single value {v}"
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<SweepValue, E> {
                Err(E::custom(format!(
                    "a sweep is an array of values, e.g. [{v}]; found the single value {v}"
                )))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<SweepValue, E> {
                Err(E::custom(format!(
                    "a sweep is an array of values, e.g. [true, false]; found {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

fn flatten(prefix: Located<String>, v: SweepValue, out: &mut Vec<SweepAxis>) {
    match v {
        SweepValue::Values(values) => out.push(SweepAxis {
            path: prefix,
            values,
        }),
        SweepValue::Table(entries) => {
            for (k, v) in entries {
                let path =
                    Located::at(format!("{}.{}", prefix.value, k.value), prefix.span.clone());
                flatten(path, v, out);
            }
        }
    }
}

/// `[[sweep.expect]]` as written: `along` + `trend` (+ `ratio`), or `value`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectation {
    metric: Located<String>,
    #[serde(default)]
    along: Option<Located<String>>,
    #[serde(default)]
    trend: Option<Located<String>>,
    #[serde(default, rename = "where")]
    filter: Option<Located<toml::Table>>,
    #[serde(default)]
    ratio: Option<Located<Check>>,
    #[serde(default)]
    value: Option<Located<Check>>,
}

impl RawExpectation {
    /// Which form was written, or why neither.
    fn check(&mut self) -> Result<SweepCheck, String> {
        match (self.along.take(), self.trend.take(), self.value.take()) {
            (Some(along), Some(t), None) => Ok(SweepCheck::Trend {
                along,
                trend: Located::at(trend(&t.value)?, t.span),
                ratio: self.ratio.take(),
            }),
            (None, None, Some(value)) if self.ratio.is_none() => Ok(SweepCheck::Value(value)),
            (None, None, Some(_)) => {
                Err("ratio goes with a trend (along + trend), not with value".into())
            }
            (None, None, None) => Err(format!(
                "[[sweep.expect]] on '{}' needs along + trend (a trend) or value (a check on \
                 each point)",
                self.metric.value
            )),
            (_, _, Some(_)) => Err("give either along + trend or value, not both".into()),
            (Some(_), None, _) => Err("along needs a trend (rises or falls)".into()),
            (None, Some(_), _) => Err("trend needs along (the swept path it runs along)".into()),
        }
    }
}

fn trend(t: &str) -> Result<Trend, String> {
    match t {
        "rises" => Ok(Trend::Rises),
        "falls" => Ok(Trend::Falls),
        other => Err(format!(
            "unknown trend \"{other}\"{} (expected rises or falls)",
            suggest::did_you_mean(other, ["rises", "falls"])
        )),
    }
}

/// Flattens `where` into (path, value) pairs: quoted and unquoted dotted keys alike.
fn flatten_where(prefix: &str, t: toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        let path = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner) => flatten_where(&path, inner, out),
            v => out.push((path, v)),
        }
    }
}

impl<'de> Deserialize<'de> for Sweep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Sweep;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of \"dotted.path\" = [values]")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sweep, A::Error> {
                let mut out = Sweep::default();
                while let Some(k) = map.next_key::<Located<String>>()? {
                    match k.value.as_str() {
                        "repeats" => {
                            let n = map.next_value::<Located<i64>>()?;
                            if !(1..=100).contains(&n.value) {
                                return Err(de::Error::custom(format!(
                                    "repeats must be between 1 and 100, found {}",
                                    n.value
                                )));
                            }
                            out.repeats = n.map(|n| n as u32);
                        }
                        "expect" => {
                            for mut raw in map.next_value::<Vec<RawExpectation>>()? {
                                let check = raw.check().map_err(de::Error::custom)?;
                                let mut filter = Vec::new();
                                let filter_span =
                                    raw.filter.as_ref().map_or(0..0, |f| f.span.clone());
                                if let Some(f) = raw.filter {
                                    flatten_where("", f.value, &mut filter);
                                }
                                out.expect.push(SweepExpectation {
                                    metric: raw.metric,
                                    check,
                                    filter: Located::at(filter, filter_span),
                                });
                            }
                        }
                        _ => {
                            let v = map.next_value::<SweepValue>()?;
                            flatten(k, v, &mut out.axes);
                        }
                    }
                }
                for (i, axis) in out.axes.iter().enumerate() {
                    if out.axes[..i]
                        .iter()
                        .any(|a| a.path.value == axis.path.value)
                    {
                        return Err(de::Error::custom(format!(
                            "sweep path '{}' is given twice",
                            axis.path.value
                        )));
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

struct ExpectationOut<'a>(&'a SweepExpectation);

impl Serialize for ExpectationOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("metric", &e.metric.value)?;
        match &e.check {
            SweepCheck::Trend {
                along,
                trend,
                ratio,
            } => {
                map.serialize_entry("along", &along.value)?;
                map.serialize_entry("trend", trend.value.as_str())?;
                if let Some(r) = ratio {
                    map.serialize_entry("ratio", &r.value)?;
                }
            }
            SweepCheck::Value(check) => map.serialize_entry("value", &check.value)?,
        }
        if !e.filter.is_empty() {
            let table: toml::Table = e.filter.iter().cloned().collect();
            map.serialize_entry("where", &table)?;
        }
        map.end()
    }
}

impl Serialize for Sweep {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for axis in &self.axes {
            map.serialize_entry(&axis.path.value, &axis.values)?;
        }
        if self.repeats.value != 1 {
            map.serialize_entry("repeats", &self.repeats.value)?;
        }
        if !self.expect.is_empty() {
            let list: Vec<ExpectationOut> = self.expect.iter().map(ExpectationOut).collect();
            map.serialize_entry("expect", &list)?;
        }
        map.end()
    }
}
