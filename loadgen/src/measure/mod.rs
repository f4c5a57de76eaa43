//! Measurement: latency histograms, one-second series, record verification, reports.
//!
//! Everything here is pure and driven by the caller: time comes in as nanoseconds since
//! the run's epoch from a clock the caller owns (never read here), and the per-record
//! paths ([`PayloadFormat::encode_into`], [`decode`], [`LatencyRecorder::record`],
//! [`Verifier::consumed`]) do not allocate in the steady state.
//!
//! * [`payload`]: the record value layout (header with producer, sequence, intended send
//!   time, CRC32C; then filler) and its encoder/decoder.
//! * [`latency`]: HdrHistogram recorders with coordinated-omission correction and
//!   `.hgrm` export.
//! * [`verify`]: loss / duplicate / order verification per consumer group.
//! * [`keys`]: keys per group (records per key, keys remapped to another partition,
//!   tombstones).
//! * [`offsets`]: offset anomalies per group (poll skips, commits backwards) and what
//!   crashes and offset resets did to its records.
//! * [`series`]: the one-second time series.
//! * [`ownership`]: partition ownership per member over time.
//! * [`pause`]: rebalance pause ("stop the world") tracking.
//! * [`report`]: the `report.json` model and the report directory writer.

pub mod cluster_state;
pub mod keys;
pub mod latency;
pub mod offsets;
pub mod ownership;
pub mod pause;
pub mod payload;
mod ranges;
pub mod report;
pub mod series;
pub mod verify;

pub use cluster_state::{ClusterFigures, ClusterRecorder, ClusterSample, PartitionState};
pub use keys::{KeyCheckSummary, KeyChecks};
pub use latency::{write_percentile_distribution, LatencyRecorder, LatencySummary};
pub use offsets::{OffsetCheckSummary, OffsetChecks};
pub use ownership::{OwnershipEnd, OwnershipInterval, OwnershipTracker};
pub use pause::{
    GroupPause, GroupPauseStats, LongestMemberPause, MemberPause, PauseSummary, PauseTracker,
    ResumedBy,
};
pub use payload::{
    check_record_size, decode, Filler, PayloadError, PayloadFormat, PayloadHeader, HEADER_LEN,
    MAGIC, MIN_RECORD_SIZE,
};
pub use report::{
    write_report, ExpectationOutcome, Report, ReportError, Settings, Simulated,
    REPORT_FORMAT_VERSION,
};
pub use series::{
    GroupSample, IntervalCounter, IntervalLatency, LagSample, Marker, SecondSample, Series,
};
pub use verify::{
    Delivery, LostBreakdown, LostRecord, PartitionId, PartitionVerification, VerificationSummary,
    Verifier, VerifierConfig,
};
