//! SyncGroup: the leader hands in assignments; every member parks until they exist.

use kafka_protocol::messages::{RequestHeader, SyncGroupRequest, SyncGroupResponse};

use super::s;
use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let assignments = req
        .assignments
        .iter()
        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
        .collect();
    let instance = req.group_instance_id.as_ref().map(|i| i.to_string());
    let r = broker
        .groups
        .sync(
            req.group_id.0.as_str(),
            req.member_id.as_str(),
            instance.as_deref(),
            req.generation_id,
            assignments,
        )
        .await;
    broker.metrics.error("SyncGroup", r.error_code);
    SyncGroupResponse::default()
        .with_error_code(r.error_code)
        .with_protocol_type(r.protocol_type.map(s))
        .with_protocol_name(r.protocol_name.map(s))
        .with_assignment(r.assignment)
}
