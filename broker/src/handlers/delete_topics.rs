//! DeleteTopics, by name (all versions) or by topic id (v6+); refused with
//! TOPIC_DELETION_DISABLED when `delete.topic.enable=false`.

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    DeleteTopicsRequest, DeleteTopicsResponse, RequestHeader, TopicName,
};

use super::s;
use crate::broker::Broker;
use crate::cluster::command::Command;
use crate::protocol::errors;

pub async fn handle(
    broker: &Broker,
    h: &RequestHeader,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let wanted: Vec<(Option<TopicName>, uuid::Uuid)> = if h.request_api_version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), uuid::Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::new();
    for (name, id) in wanted {
        let entry = {
            let topic = match &name {
                Some(n) => broker.topics.get(n.0.as_str()),
                None => broker.topics.by_id(id),
            };
            let result = match (&topic, broker.config.delete_topic_enable) {
                (_, false) => Err((
                    errors::TOPIC_DELETION_DISABLED,
                    "Topic deletion is disabled.".to_string(),
                )),
                (None, _) if name.is_none() => Err((
                    errors::UNKNOWN_TOPIC_ID,
                    "This server does not host this topic ID.".into(),
                )),
                (None, _) => Err((
                    errors::UNKNOWN_TOPIC_OR_PARTITION,
                    "This server does not host this topic-partition.".into(),
                )),
                (Some(t), _) => match broker.cluster() {
                    // Every node deletes its replicas when the metadata drops the topic.
                    Some(c) => c
                        .writer()
                        .submit(Command::DeleteTopic {
                            name: t.name.to_string(),
                        })
                        .await
                        .map(|_| ())
                        .map_err(|e| (e.code(), e.to_string())),
                    None => broker
                        .topics
                        .delete(&t.name)
                        .map_err(|e| (e.code, e.message)),
                },
            };
            let out = DeletableTopicResult::default()
                .with_name(
                    name.or_else(|| topic.as_ref().map(|t| TopicName(s(t.name.to_string())))),
                )
                .with_topic_id(topic.as_ref().map_or(id, |t| t.id));
            match result {
                Ok(()) => {
                    tracing::info!(topic = ?out.name, "deleted topic");
                    out
                }
                Err((code, message)) => {
                    broker.metrics.error("DeleteTopics", code);
                    out.with_error_code(code)
                        .with_error_message(Some(s(message)))
                }
            }
        };
        responses.push(entry);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
