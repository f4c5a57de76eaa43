//! Kafka error codes the broker sends, with their protocol names (metric label values).

use kafka_protocol::ResponseError as E;

macro_rules! codes {
    ($($name:ident = $variant:ident),* $(,)?) => {
        $(pub const $name: i16 = E::$variant.code();)*
        /// Protocol name of an error code; a closed set so it can be a label value.
        pub fn name(code: i16) -> &'static str {
            match code {
                0 => "NONE",
                $(c if c == $name => stringify!($name),)*
                _ => "OTHER",
            }
        }
    };
}

codes! {
    UNKNOWN_SERVER_ERROR = UnknownServerError,
    OFFSET_OUT_OF_RANGE = OffsetOutOfRange,
    CORRUPT_MESSAGE = CorruptMessage,
    UNKNOWN_TOPIC_OR_PARTITION = UnknownTopicOrPartition,
    INVALID_FETCH_SIZE = InvalidFetchSize,
    LEADER_NOT_AVAILABLE = LeaderNotAvailable,
    NOT_LEADER_OR_FOLLOWER = NotLeaderOrFollower,
    REQUEST_TIMED_OUT = RequestTimedOut,
    MESSAGE_TOO_LARGE = MessageTooLarge,
    INVALID_TOPIC_EXCEPTION = InvalidTopicException,
    RECORD_LIST_TOO_LARGE = RecordListTooLarge,
    NOT_ENOUGH_REPLICAS = NotEnoughReplicas,
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = NotEnoughReplicasAfterAppend,
    NOT_CONTROLLER = NotController,
    FENCED_LEADER_EPOCH = FencedLeaderEpoch,
    UNKNOWN_LEADER_EPOCH = UnknownLeaderEpoch,
    INVALID_REQUIRED_ACKS = InvalidRequiredAcks,
    UNSUPPORTED_VERSION = UnsupportedVersion,
    TOPIC_ALREADY_EXISTS = TopicAlreadyExists,
    INVALID_PARTITIONS = InvalidPartitions,
    INVALID_REPLICATION_FACTOR = InvalidReplicationFactor,
    INVALID_REPLICA_ASSIGNMENT = InvalidReplicaAssignment,
    INVALID_CONFIG = InvalidConfig,
    INVALID_REQUEST = InvalidRequest,
    UNSUPPORTED_FOR_MESSAGE_FORMAT = UnsupportedForMessageFormat,
    OUT_OF_ORDER_SEQUENCE_NUMBER = OutOfOrderSequenceNumber,
    INVALID_PRODUCER_EPOCH = InvalidProducerEpoch,
    TOPIC_AUTHORIZATION_FAILED = TopicAuthorizationFailed,
    UNKNOWN_PRODUCER_ID = UnknownProducerId,
    TOPIC_DELETION_DISABLED = TopicDeletionDisabled,
    INVALID_RECORD = InvalidRecord,
    UNKNOWN_TOPIC_ID = UnknownTopicId,
    POLICY_VIOLATION = PolicyViolation,
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = TransactionalIdAuthorizationFailed,
    COORDINATOR_NOT_AVAILABLE = CoordinatorNotAvailable,
    OFFSET_METADATA_TOO_LARGE = OffsetMetadataTooLarge,
    COORDINATOR_LOAD_IN_PROGRESS = CoordinatorLoadInProgress,
    NOT_COORDINATOR = NotCoordinator,
    ILLEGAL_GENERATION = IllegalGeneration,
    INCONSISTENT_GROUP_PROTOCOL = InconsistentGroupProtocol,
    INVALID_GROUP_ID = InvalidGroupId,
    UNKNOWN_MEMBER_ID = UnknownMemberId,
    INVALID_SESSION_TIMEOUT = InvalidSessionTimeout,
    REBALANCE_IN_PROGRESS = RebalanceInProgress,
    NON_EMPTY_GROUP = NonEmptyGroup,
    GROUP_ID_NOT_FOUND = GroupIdNotFound,
    MEMBER_ID_REQUIRED = MemberIdRequired,
    GROUP_MAX_SIZE_REACHED = GroupMaxSizeReached,
    FENCED_INSTANCE_ID = FencedInstanceId,
    GROUP_SUBSCRIBED_TO_TOPIC = GroupSubscribedToTopic,
    FENCED_MEMBER_EPOCH = FencedMemberEpoch,
    UNRELEASED_INSTANCE_ID = UnreleasedInstanceId,
    UNSUPPORTED_ASSIGNOR = UnsupportedAssignor,
    STALE_MEMBER_EPOCH = StaleMemberEpoch,
}

/// The code of a Kafka error by its protocol name (`NOT_LEADER_OR_FOLLOWER`, as in
/// Kafka's `Errors`), over every code the protocol defines, not only those above.
pub fn code(name: &str) -> Option<i16> {
    if name == "NONE" {
        return Some(0);
    }
    (-1..=200).find(|&c| E::try_from_code(c).is_some_and(|e| screaming(&format!("{e}")) == name))
}

/// `NotLeaderOrFollower` → `NOT_LEADER_OR_FOLLOWER`.
fn screaming(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_give_codes() {
        assert_eq!(super::code("NOT_LEADER_OR_FOLLOWER"), Some(6));
        assert_eq!(super::code("KAFKA_STORAGE_ERROR"), Some(56));
        assert_eq!(super::code("UNKNOWN_SERVER_ERROR"), Some(-1));
        assert_eq!(super::code("NONE"), Some(0));
        assert_eq!(super::code("NotLeaderOrFollower"), None);
    }

    #[test]
    fn codes_match_the_kafka_protocol() {
        assert_eq!(super::UNKNOWN_TOPIC_OR_PARTITION, 3);
        assert_eq!(super::MESSAGE_TOO_LARGE, 10);
        assert_eq!(super::INVALID_TOPIC_EXCEPTION, 17);
        assert_eq!(super::UNSUPPORTED_VERSION, 35);
        assert_eq!(super::INVALID_PARTITIONS, 37);
        assert_eq!(super::OUT_OF_ORDER_SEQUENCE_NUMBER, 45);
        assert_eq!(super::TOPIC_DELETION_DISABLED, 73);
        assert_eq!(super::FENCED_LEADER_EPOCH, 74);
        assert_eq!(super::UNKNOWN_LEADER_EPOCH, 75);
        assert_eq!(super::name(45), "OUT_OF_ORDER_SEQUENCE_NUMBER");
        assert_eq!(super::name(0), "NONE");
        assert_eq!(super::name(999), "OTHER");
    }
}
