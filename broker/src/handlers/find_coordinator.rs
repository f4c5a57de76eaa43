//! FindCoordinator: this broker coordinates every group (key type 0). Transactions
//! (key type 1) are not supported: COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;

use super::s;
use crate::broker::Broker;
use crate::protocol::errors;

pub async fn handle(
    broker: &Broker,
    h: &RequestHeader,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let (host, port) = broker.advertised();
    let node = broker.node_id();
    // In a cluster each group has one coordinator node (see Controller::coordinator_for).
    let locate = |key: &StrBytes| -> (i32, String, u16) {
        broker
            .cluster()
            .and_then(|c| c.coordinator_for(key.as_str()))
            .unwrap_or((node, host.clone(), port))
    };
    let answer = |key: &StrBytes| -> (i16, Option<String>) {
        if req.key_type != 0 {
            (
                errors::COORDINATOR_NOT_AVAILABLE,
                Some("transactions are not supported by kafkalab".into()),
            )
        } else if key.is_empty() {
            (errors::INVALID_REQUEST, Some("empty group id".into()))
        } else {
            (0, None)
        }
    };
    if h.request_api_version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| {
                let (code, msg) = answer(key);
                broker.metrics.error("FindCoordinator", code);
                let (node, host, port) = locate(key);
                Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(if code == 0 { node } else { -1 }))
                    .with_host(s(if code == 0 { host } else { String::new() }))
                    .with_port(if code == 0 { port as i32 } else { -1 })
                    .with_error_code(code)
                    .with_error_message(msg.map(s))
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let (code, msg) = answer(&req.key);
    broker.metrics.error("FindCoordinator", code);
    let (node, host, port) = locate(&req.key);
    FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_error_message(msg.map(s))
        .with_node_id(BrokerId(if code == 0 { node } else { -1 }))
        .with_host(s(if code == 0 { host } else { String::new() }))
        .with_port(if code == 0 { port as i32 } else { -1 })
}
