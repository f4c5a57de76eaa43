//! IncrementalAlterConfigs (SET / DELETE / APPEND / SUBTRACT) and the legacy
//! AlterConfigs (replace all) for topics. Broker settings are static (server.properties).

use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    RequestHeader,
};

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::s;
use crate::broker::Broker;
use crate::cluster::command::Command;
use crate::config::{defs::Kind, topic_kind, TopicConfig};
use crate::protocol::errors;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

type Outcome = Result<(), (i16, String)>;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::new();
    for r in req.resources {
        let entry = {
            let name = r.resource_name.to_string();
            let result = alter(broker, r.resource_type, &name, req.validate_only, |current| {
                for c in &r.configs {
                    let key = c.name.to_string();
                    let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
                    match c.config_operation {
                        SET => {
                            current.overrides.insert(key, value);
                        }
                        DELETE => {
                            current.overrides.remove(&key);
                        }
                        APPEND | SUBTRACT => {
                            if !matches!(topic_kind(&key), Some(Kind::List(_))) {
                                return Err((errors::INVALID_CONFIG, format!("Config {key} is not a list; APPEND/SUBTRACT need a list.")));
                            }
                            let base = current.value(&broker.config, &key);
                            let mut items: Vec<String> = base.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
                            for v in value.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                                if c.config_operation == APPEND && !items.iter().any(|i| i == v) {
                                    items.push(v.to_string());
                                } else if c.config_operation == SUBTRACT {
                                    items.retain(|i| i != v);
                                }
                            }
                            current.overrides.insert(key, items.join(","));
                        }
                        op => return Err((errors::INVALID_REQUEST, format!("Unknown config operation {op}."))),
                    }
                }
                Ok(())
            })
            .await;
            let out = incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name);
            match result {
                Ok(()) => out,
                Err((code, message)) => {
                    broker.metrics.error("IncrementalAlterConfigs", code);
                    out.with_error_code(code)
                        .with_error_message(Some(s(message)))
                }
            }
        };
        responses.push(entry);
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

pub async fn handle_legacy(
    broker: &Broker,
    _h: &RequestHeader,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::new();
    for r in req.resources {
        let entry = {
            let name = r.resource_name.to_string();
            let result = alter(
                broker,
                r.resource_type,
                &name,
                req.validate_only,
                |current| {
                    current.overrides.clear();
                    for c in &r.configs {
                        if let Some(v) = &c.value {
                            current.overrides.insert(c.name.to_string(), v.to_string());
                        }
                    }
                    Ok(())
                },
            )
            .await;
            let out = alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name);
            match result {
                Ok(()) => out,
                Err((code, message)) => {
                    broker.metrics.error("AlterConfigs", code);
                    out.with_error_code(code)
                        .with_error_message(Some(s(message)))
                }
            }
        };
        responses.push(entry);
    }
    AlterConfigsResponse::default().with_responses(responses)
}

/// Applies `edit` to a copy of the topic's config, validates every entry, then stores it.
async fn alter(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    edit: impl FnOnce(&mut TopicConfig) -> Outcome,
) -> Outcome {
    match resource_type {
        RESOURCE_TOPIC => {}
        RESOURCE_BROKER => {
            return Err((
                errors::INVALID_REQUEST,
                "Broker configs are static in kafkalab: set them in server.properties or with --override.".into(),
            ))
        }
        other => return Err((errors::INVALID_REQUEST, format!("Unsupported resource type {other}."))),
    }
    let topic = broker.topics.get(name).ok_or_else(|| {
        (
            errors::UNKNOWN_TOPIC_OR_PARTITION,
            format!("Topic {name} does not exist."),
        )
    })?;
    let mut config = topic.config();
    edit(&mut config)?;
    for (k, v) in &config.overrides {
        TopicConfig::validate_entry(k, v).map_err(|m| (errors::INVALID_CONFIG, m))?;
    }
    if validate_only {
        return Ok(());
    }
    if let Some(c) = broker.cluster() {
        // Every node applies it from the metadata (this one included).
        c.writer()
            .submit(Command::SetTopicConfig {
                name: name.to_string(),
                config: config.clone(),
            })
            .await
            .map_err(|e| (e.code(), e.to_string()))?;
    }
    broker
        .topics
        .set_config(&broker.config, name, config)
        .map_err(|e| (e.code, e.message))
}
