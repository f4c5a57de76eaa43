//! Measurement: latency histograms, one-second series, record verification, reports.
