//! Scenario files: model, parsing with file:line:col errors, durations, expectations,
//! sweeps, controls.
//!
//! A scenario is a TOML file (see `scenarios/README.md` for the format). [`load`] or
//! [`parse`] turn it into a checked [`Scenario`]; errors read
//! `file:line:col: what was expected`.

mod control;
mod delivery;
mod duration;
mod expect;
mod kafka_events;
mod lesson;
mod located;
mod model;
mod parse;
mod setting;
mod sweep;

use crate::suggest;
pub use crate::suggest::did_you_mean;
pub use control::Control;
pub use duration::{format_duration, parse_duration, ProcessingModel};
pub use expect::{
    check_metric_name, describe_metric, lookup, split_scoped, Check, Expectation, GROUP_METRICS,
    KNOWN_METRICS, METRICS, PRODUCER_METRICS,
};
pub use kafka_events::INJECT_APIS;
pub use lesson::Module;
pub use model::*;
pub use parse::{load, parse, ScenarioError};
pub use sweep::{
    value_text, Sweep, SweepAxis, SweepCheck, SweepExpectation, SweepPoint, Trend, TREND_TOLERANCE,
};

#[cfg(test)]
mod tests;
