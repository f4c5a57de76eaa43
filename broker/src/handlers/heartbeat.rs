//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse, RequestHeader};

use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    let instance = req.group_instance_id.as_ref().map(|i| i.to_string());
    let code = broker.groups.heartbeat(
        req.group_id.0.as_str(),
        req.member_id.as_str(),
        instance.as_deref(),
        req.generation_id,
    );
    broker.metrics.error("Heartbeat", code);
    HeartbeatResponse::default().with_error_code(code)
}
