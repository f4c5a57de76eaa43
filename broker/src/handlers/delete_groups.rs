//! DeleteGroups: removes empty groups and their offsets (NON_EMPTY_GROUP otherwise).

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, RequestHeader};

use crate::broker::Broker;
use crate::cluster::command::Command;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut deleted = Vec::new();
    let results = req
        .groups_names
        .into_iter()
        .map(|g| {
            let code = broker.groups.delete_group(g.0.as_str());
            if code == 0 {
                deleted.push(g.0.to_string());
            }
            broker.metrics.error("DeleteGroups", code);
            DeletableGroupResult::default()
                .with_group_id(g)
                .with_error_code(code)
        })
        .collect();
    if let Some(c) = broker.cluster() {
        for group in deleted {
            let cmd = Command::DeleteOffsets {
                group,
                partitions: None,
            };
            if let Err(e) = c.writer().submit(cmd).await {
                tracing::warn!("dropping a deleted group's offsets in the cluster failed: {e}");
            }
        }
    }
    DeleteGroupsResponse::default().with_results(results)
}
