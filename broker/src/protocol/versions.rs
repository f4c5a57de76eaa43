//! The API versions this broker serves. Each range is what the handler implements,
//! intersected with what the `kafka-protocol` crate can encode.

use kafka_protocol::messages::ApiKey;

/// (API, lowest, highest) as implemented by the handlers.
const IMPLEMENTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    // v0-1 were removed in Kafka 4.0 (KIP-896) and are not in the kafka-protocol crate.
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
];

/// Supported (min, max) for an API, or `None` if the broker does not serve it.
pub fn supported(key: ApiKey) -> Option<(i16, i16)> {
    let &(_, lo, hi) = IMPLEMENTED.iter().find(|(k, _, _)| *k == key)?;
    let crate_range = key.valid_versions();
    let (lo, hi) = (lo.max(crate_range.min), hi.min(crate_range.max));
    (lo <= hi).then_some((lo, hi))
}

/// Every served API with its range, for ApiVersions.
pub fn all() -> Vec<(ApiKey, i16, i16)> {
    IMPLEMENTED
        .iter()
        .filter_map(|&(k, _, _)| supported(k).map(|(lo, hi)| (k, advertised_min(k, lo), hi)))
        .collect()
}

/// The lowest version announced in ApiVersions. Kafka 4.0 dropped Produce v0-2 and
/// Fetch v0-3 (KIP-896), but librdkafka before 2.10 derives features from probes at
/// those versions: it only compresses with gzip/snappy/lz4 when the broker's Produce
/// range reaches down to v0, and it wants Produce/Fetch v2 for "MsgVer1". Announcing
/// v0 as Kafka 3.x did keeps those clients fully working; clients always send the
/// highest common version (Produce ≥ v3, Fetch ≥ v4 for every client we test), and a
/// request below the decodable range closes the connection like any unsupported version.
fn advertised_min(key: ApiKey, lo: i16) -> i16 {
    match key {
        ApiKey::Produce | ApiKey::Fetch => 0,
        _ => lo,
    }
}

/// Stable label value for an API (a closed set).
pub fn api_label(api: ApiKey) -> &'static str {
    match api {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::AlterConfigs => "AlterConfigs",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::DescribeCluster => "DescribeCluster",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::DeleteGroups => "DeleteGroups",
        ApiKey::OffsetDelete => "OffsetDelete",
        ApiKey::OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
        ApiKey::ConsumerGroupHeartbeat => "ConsumerGroupHeartbeat",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_implemented_api_has_a_non_empty_range() {
        assert_eq!(all().len(), IMPLEMENTED.len());
        assert_eq!(supported(ApiKey::ApiVersions), Some((0, 4)));
        assert_eq!(supported(ApiKey::OffsetForLeaderEpoch), Some((2, 4)));
        assert_eq!(supported(ApiKey::Vote), None);
    }
}
