//! One handler per Kafka API. Each takes the broker and the decoded request and returns
//! the response; error codes are Kafka's, per partition or resource as the API defines.
//! [`router`] decodes a request frame and calls the handler for its API; [`inject`] answers
//! the partitions an injected error matches in place of the handler.

pub mod alter_configs;
pub mod api_versions;
pub mod consumer_group_heartbeat;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod inject;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod router;
pub mod sync_group;

use kafka_protocol::protocol::StrBytes;

pub(crate) fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}
