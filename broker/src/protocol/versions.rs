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
        .filter_map(|&(k, _, _)| supported(k).map(|(lo, hi)| (k, lo, hi)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_implemented_api_has_a_non_empty_range() {
        assert_eq!(all().len(), IMPLEMENTED.len());
        assert_eq!(supported(ApiKey::ApiVersions), Some((0, 4)));
        assert_eq!(supported(ApiKey::Vote), None);
    }
}
