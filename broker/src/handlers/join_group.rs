//! JoinGroup: parks until the group's join phase completes (or answers at once with
//! MEMBER_ID_REQUIRED / an error).

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse, RequestHeader};

use super::s;
use crate::broker::Broker;
use crate::group::state::JoinRequest;
use crate::protocol::errors;

pub async fn handle(
    broker: &Broker,
    h: &RequestHeader,
    req: JoinGroupRequest,
    peer: &str,
) -> JoinGroupResponse {
    let version = h.request_api_version;
    let group_id = req.group_id.0.to_string();
    if group_id.is_empty() {
        broker.metrics.error("JoinGroup", errors::INVALID_GROUP_ID);
        return JoinGroupResponse::default()
            .with_error_code(errors::INVALID_GROUP_ID)
            .with_generation_id(-1);
    }
    let join = JoinRequest {
        waiter: 0,
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|i| i.to_string()),
        client_id: h
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        // Kafka reports the host as "/ip".
        client_host: format!("/{}", peer.rsplit_once(':').map_or(peer, |(h, _)| h)),
        session_timeout_ms: req.session_timeout_ms,
        // v0 had no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
        reason: req.reason.as_ref().map(|r| r.to_string()),
    };
    let r = broker.groups.join(&group_id, join).await;
    broker.metrics.error("JoinGroup", r.error_code);
    JoinGroupResponse::default()
        .with_error_code(r.error_code)
        .with_generation_id(r.generation_id)
        .with_protocol_type(r.protocol_type.map(s))
        .with_protocol_name(r.protocol_name.map(s))
        .with_leader(s(r.leader))
        .with_skip_assignment(r.skip_assignment)
        .with_member_id(s(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(s(m.member_id))
                        .with_group_instance_id(m.instance_id.map(s))
                        .with_metadata(m.metadata)
                })
                .collect(),
        )
}
