//! Scenario files: model, parsing with file:line:col errors, durations, expectations.
