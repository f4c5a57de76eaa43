//! DescribeConfigs for topics (type 2) and this broker (type 4), with config sources
//! and types as Kafka reports them.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader};

use super::s;
use crate::broker::Broker;
use crate::config::defs::{self, Kind};
use crate::protocol::errors;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

// Config sources (DescribeConfigsResponse.ConfigSource).
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

fn config_type(kind: Kind) -> i8 {
    match kind {
        Kind::Bool => 1,
        Kind::Str | Kind::Enum(_) => 2,
        Kind::Int { .. } => 3,
        Kind::Long { .. } => 5,
        Kind::List(_) => 7,
    }
}

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let keys: Option<Vec<String>> = r
                .configuration_keys
                .as_ref()
                .map(|k| k.iter().map(|x| x.to_string()).collect());
            let wanted = |k: &str| keys.as_ref().is_none_or(|ks| ks.iter().any(|x| x == k));
            let name = r.resource_name.to_string();
            let out = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let entries: Result<Vec<_>, (i16, String)> = match r.resource_type {
                RESOURCE_TOPIC => match broker.topics.get(&name) {
                    None => Err((
                        errors::UNKNOWN_TOPIC_OR_PARTITION,
                        format!("Topic {name} does not exist."),
                    )),
                    Some(t) => Ok(t
                        .config()
                        .describe(&broker.config)
                        .into_iter()
                        .filter(|(k, _, _)| wanted(k))
                        .map(|(k, v, set)| {
                            let def = defs::topic_def(k);
                            let source = if set {
                                DYNAMIC_TOPIC_CONFIG
                            } else if def.is_some_and(|d| broker.config.is_set(d.broker_key)) {
                                STATIC_BROKER_CONFIG
                            } else {
                                DEFAULT_CONFIG
                            };
                            entry(k, v, source, def.map(|d| &d.def), req.include_documentation)
                        })
                        .collect()),
                },
                RESOURCE_BROKER if name.is_empty() || name == broker.node_id().to_string() => {
                    Ok(broker
                        .config
                        .describe()
                        .into_iter()
                        .filter(|(k, _, _)| wanted(k))
                        .map(|(k, v, set)| {
                            let source = if set {
                                STATIC_BROKER_CONFIG
                            } else {
                                DEFAULT_CONFIG
                            };
                            entry(k, v, source, defs::broker_def(k), req.include_documentation)
                                .with_read_only(true)
                        })
                        .collect())
                }
                RESOURCE_BROKER => Err((
                    errors::INVALID_REQUEST,
                    format!("This broker is {}, not {name}.", broker.node_id()),
                )),
                other => Err((
                    errors::INVALID_REQUEST,
                    format!("Unsupported resource type {other}."),
                )),
            };
            match entries {
                Ok(configs) => out.with_configs(configs),
                Err((code, message)) => {
                    broker.metrics.error("DescribeConfigs", code);
                    out.with_error_code(code)
                        .with_error_message(Some(s(message)))
                }
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn entry(
    name: &str,
    value: String,
    source: i8,
    def: Option<&defs::Def>,
    docs: bool,
) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(s(name))
        .with_value(Some(s(value)))
        .with_config_source(source)
        .with_config_type(def.map_or(2, |d| config_type(d.kind)))
        .with_documentation(if docs { def.map(|d| s(d.doc)) } else { None })
}
