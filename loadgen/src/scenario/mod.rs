//! Scenario files: model, parsing with file:line:col errors, durations, expectations,
//! sweeps.
//!
//! A scenario is a TOML file (see `scenarios/README.md` for the format). [`load`] or
//! [`parse`] turn it into a checked [`Scenario`]; errors read
//! `file:line:col: what was expected`.

mod delivery;
mod duration;
mod expect;
mod located;
mod model;
mod parse;
mod suggest;
mod sweep;

pub use duration::{format_duration, parse_duration, ProcessingModel};
pub use expect::{check_metric_name, describe_metric, Check, Expectation, KNOWN_METRICS, METRICS};
pub use model::*;
pub use parse::{load, parse, ScenarioError};
pub use sweep::{
    value_text, Sweep, SweepAxis, SweepCheck, SweepExpectation, SweepPoint, Trend, TREND_TOLERANCE,
};

#[cfg(test)]
mod tests;
