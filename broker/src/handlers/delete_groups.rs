//! DeleteGroups: removes empty groups and their offsets (NON_EMPTY_GROUP otherwise).

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, RequestHeader};

use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let results = req
        .groups_names
        .into_iter()
        .map(|g| {
            let code = broker.groups.delete_group(g.0.as_str());
            if code == 0 {
                if let Some(c) = broker.cluster() {
                    c.delete_offsets(g.0.as_str(), None);
                }
            }
            broker.metrics.error("DeleteGroups", code);
            DeletableGroupResult::default()
                .with_group_id(g)
                .with_error_code(code)
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
