//! DescribeGroups: state, protocol and members with their metadata and assignment.
//! An unknown group is described as Dead, as Kafka does.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, RequestHeader};

use super::s;
use crate::broker::Broker;
use crate::group::state::GroupState;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
            let out = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(i32::MIN);
            let snapshot = broker.groups.snapshot(id.0.as_str()).or_else(|| {
                broker
                    .groups
                    .list()
                    .into_iter()
                    .find(|g| g.id == id.0.as_str())
            });
            match snapshot {
                None => out.with_group_state(s(GroupState::Dead.name())),
                Some(g) => out
                    .with_group_state(s(g.state.name()))
                    .with_protocol_type(s(g.protocol_type))
                    .with_protocol_data(s(g.protocol_name))
                    .with_members(
                        g.members
                            .into_iter()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(s(m.member_id))
                                    .with_group_instance_id(m.instance_id.map(s))
                                    .with_client_id(s(m.client_id))
                                    .with_client_host(s(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment)
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
