//! LeaveGroup: one member (v0-2) or a batch of members by id or instance id (v3+).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse, RequestHeader};

use super::s;
use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    h: &RequestHeader,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let batched = h.request_api_version >= 3;
    let members: Vec<(String, Option<String>)> = if batched {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    match broker.groups.leave(req.group_id.0.as_str(), &members) {
        Err(code) => {
            broker.metrics.error("LeaveGroup", code);
            LeaveGroupResponse::default().with_error_code(code)
        }
        Ok(codes) if !batched => {
            let code = codes.first().copied().unwrap_or(0);
            broker.metrics.error("LeaveGroup", code);
            LeaveGroupResponse::default().with_error_code(code)
        }
        Ok(codes) => LeaveGroupResponse::default().with_members(
            members
                .into_iter()
                .zip(codes)
                .map(|((m, i), code)| {
                    broker.metrics.error("LeaveGroup", code);
                    MemberResponse::default()
                        .with_member_id(s(m))
                        .with_group_instance_id(i.map(s))
                        .with_error_code(code)
                })
                .collect(),
        ),
    }
}
