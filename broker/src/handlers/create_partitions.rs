//! CreatePartitions: partitions can only grow (INVALID_PARTITIONS otherwise).

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, RequestHeader};

use super::s;
use crate::broker::Broker;
use crate::cluster::command::Command;
use crate::protocol::errors;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let node = broker.node_id();
    let mut results = Vec::new();
    for t in req.topics {
        let entry = {
            let bad_assignment = t
                .assignments
                .iter()
                .flatten()
                .any(|a| a.broker_ids.iter().any(|b| b.0 != node));
            let result = if let Some(c) = broker.cluster() {
                if t.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
                    Err((
                        errors::INVALID_REPLICA_ASSIGNMENT,
                        "Manual replica assignment of new partitions is not supported in a kafkalab cluster; placement assigns them.".to_string(),
                    ))
                } else {
                    c.writer()
                        .submit(Command::AddPartitions {
                            name: t.name.0.to_string(),
                            count: t.count,
                            validate_only: req.validate_only,
                        })
                        .await
                        .map(|_| ())
                        .map_err(|e| (e.code(), e.to_string()))
                }
            } else if bad_assignment {
                Err((
                    errors::INVALID_REPLICA_ASSIGNMENT,
                    format!("Replica assignment names a broker other than {node}."),
                ))
            } else {
                broker
                    .topics
                    .create_partitions(t.name.0.as_str(), t.count, req.validate_only)
                    .map_err(|e| (e.code, e.message))
            };
            let out = CreatePartitionsTopicResult::default().with_name(t.name);
            match result {
                Ok(()) => out,
                Err((code, message)) => {
                    broker.metrics.error("CreatePartitions", code);
                    out.with_error_code(code)
                        .with_error_message(Some(s(message)))
                }
            }
        };
        results.push(entry);
    }
    CreatePartitionsResponse::default().with_results(results)
}
