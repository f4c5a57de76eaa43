//! Injected Kafka errors: "answer the next N requests of one API (optionally only one
//! topic / partition, only on one node) with this error code". The answered requests
//! (or the matching partitions of them) are not handled at all: a Produce answered so
//! is not appended, so the client's retry lands after the batches it had in flight
//! behind it — retries and in-flight reordering on purpose.
//!
//! [`ErrorRules`] only decides; the router ([`crate::handlers::inject`]) takes the
//! matching partitions out of a request before its handler runs and puts the error
//! into the response.

use kafka_protocol::messages::ApiKey;
use serde::Serialize;

use crate::protocol::errors;
use crate::replication::BrokerId;

/// The APIs whose requests an error can be injected into.
pub const APIS: &[(&str, ApiKey)] = &[("produce", ApiKey::Produce), ("fetch", ApiKey::Fetch)];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InjectError {
    #[error("unknown API '{0}' for an injected error (one of: produce, fetch)")]
    UnknownApi(String),
    #[error("unknown Kafka error '{0}' (a protocol name such as NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS)")]
    UnknownError(String),
    #[error("the injected error count must be at least 1")]
    ZeroCount,
}

/// An API by its lower-case name (`produce`, `fetch`).
pub fn api_by_name(name: &str) -> Result<ApiKey, InjectError> {
    APIS.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
        .map(|(_, k)| *k)
        .ok_or_else(|| InjectError::UnknownApi(name.to_string()))
}

fn api_name(api: ApiKey) -> &'static str {
    APIS.iter()
        .find(|(_, k)| *k == api)
        .map_or("other", |(n, _)| n)
}

/// A Kafka error code by its protocol name (`NOT_LEADER_OR_FOLLOWER`); `NONE` is not
/// an error.
pub fn error_by_name(name: &str) -> Result<i16, InjectError> {
    let code = errors::code(name.trim());
    code.filter(|c| *c != 0)
        .ok_or_else(|| InjectError::UnknownError(name.to_string()))
}

/// One injected error.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRule {
    pub api: ApiKey,
    pub code: i16,
    /// Requests still to answer with the error.
    pub remaining: u32,
    pub topic: Option<String>,
    pub partition: Option<i32>,
    /// Only requests to this node (`None`: any node).
    pub node: Option<BrokerId>,
}

impl ErrorRule {
    fn matches_partition(&self, topic: &str, partition: i32) -> bool {
        self.topic.as_deref().is_none_or(|t| t == topic)
            && self.partition.is_none_or(|p| p == partition)
    }
}

/// `GET /faults`: an injected error still waiting for requests.
#[derive(Debug, Serialize)]
pub struct ErrorRuleView {
    pub api: &'static str,
    pub error: &'static str,
    pub remaining: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<BrokerId>,
}

/// What a request meets: the error code, and for each of its partitions (in request
/// order) whether it is answered with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    pub code: i16,
    pub partitions: Vec<bool>,
}

/// The injected errors waiting for requests, oldest first.
#[derive(Debug, Clone, Default)]
pub struct ErrorRules {
    rules: Vec<ErrorRule>,
}

impl ErrorRules {
    pub fn add(&mut self, rule: ErrorRule) -> Result<(), InjectError> {
        if rule.remaining == 0 {
            return Err(InjectError::ZeroCount);
        }
        self.rules.push(rule);
        Ok(())
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// A request of `api` to `node` for `partitions` (topic, partition; in request
    /// order): the first rule matching it answers it (and counts one request down).
    pub fn take(
        &mut self,
        node: BrokerId,
        api: ApiKey,
        partitions: &[(&str, i32)],
    ) -> Option<Injected> {
        let i = self.rules.iter().position(|r| {
            r.api == api
                && r.node.is_none_or(|n| n == node)
                && partitions.iter().any(|(t, p)| r.matches_partition(t, *p))
        })?;
        let rule = &mut self.rules[i];
        let injected = Injected {
            code: rule.code,
            partitions: partitions
                .iter()
                .map(|(t, p)| rule.matches_partition(t, *p))
                .collect(),
        };
        rule.remaining -= 1;
        if rule.remaining == 0 {
            self.rules.remove(i);
        }
        Some(injected)
    }

    pub fn view(&self) -> Vec<ErrorRuleView> {
        self.rules
            .iter()
            .map(|r| ErrorRuleView {
                api: api_name(r.api),
                error: errors::name(r.code),
                remaining: r.remaining,
                topic: r.topic.clone(),
                partition: r.partition,
                node: r.node,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(remaining: u32) -> ErrorRule {
        ErrorRule {
            api: ApiKey::Produce,
            code: errors::NOT_LEADER_OR_FOLLOWER,
            remaining,
            topic: None,
            partition: None,
            node: None,
        }
    }

    #[test]
    fn a_rule_answers_n_requests_then_stops() {
        let mut rules = ErrorRules::default();
        rules.add(rule(3)).expect("valid rule");
        let parts = [("orders", 0), ("orders", 1)];
        for _ in 0..3 {
            assert_eq!(
                rules.take(0, ApiKey::Produce, &parts),
                Some(Injected {
                    code: errors::NOT_LEADER_OR_FOLLOWER,
                    partitions: vec![true, true]
                })
            );
        }
        assert_eq!(rules.take(0, ApiKey::Produce, &parts), None);
        assert!(rules.is_empty());
    }

    #[test]
    fn only_matching_requests_count() {
        let mut rules = ErrorRules::default();
        rules
            .add(ErrorRule {
                topic: Some("orders".into()),
                partition: Some(1),
                node: Some(2),
                ..rule(1)
            })
            .expect("valid rule");
        // Another API, another node, another partition: not answered, not counted.
        assert_eq!(rules.take(2, ApiKey::Fetch, &[("orders", 1)]), None);
        assert_eq!(rules.take(0, ApiKey::Produce, &[("orders", 1)]), None);
        assert_eq!(rules.take(2, ApiKey::Produce, &[("orders", 0)]), None);
        assert_eq!(
            rules.take(2, ApiKey::Produce, &[("orders", 0), ("orders", 1)]),
            Some(Injected {
                code: errors::NOT_LEADER_OR_FOLLOWER,
                partitions: vec![false, true]
            })
        );
        assert_eq!(rules.take(2, ApiKey::Produce, &[("orders", 1)]), None);
    }

    #[test]
    fn names_resolve_and_unknown_ones_are_refused() {
        assert_eq!(api_by_name("Produce"), Ok(ApiKey::Produce));
        assert_eq!(
            api_by_name("metadata"),
            Err(InjectError::UnknownApi("metadata".into()))
        );
        assert_eq!(
            error_by_name("NOT_ENOUGH_REPLICAS"),
            Ok(errors::NOT_ENOUGH_REPLICAS)
        );
        assert_eq!(
            error_by_name("REQUEST_TIMED_OUT"),
            Ok(errors::REQUEST_TIMED_OUT)
        );
        assert!(matches!(
            error_by_name("NOT_A_LEADER"),
            Err(InjectError::UnknownError(_))
        ));
        assert!(error_by_name("NONE").is_err());
        assert_eq!(
            ErrorRules::default().add(rule(0)),
            Err(InjectError::ZeroCount)
        );
    }
}
