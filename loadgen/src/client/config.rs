//! Client configuration with Kafka's property names and the Apache Kafka 4.x Java
//! client defaults (DESIGN.md "Defaults"). Unknown keys are rejected with a suggestion,
//! so a typo in a scenario never silently runs with the default.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::ClientError;
use crate::suggest::edit_distance;

/// (name, default, meaning). Producer and consumer share one table; `client.id` and
/// `bootstrap.servers` belong to both.
pub const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("acks", "all"),
    ("linger.ms", "5"),
    ("batch.size", "16384"),
    ("max.request.size", "1048576"),
    ("buffer.memory", "33554432"),
    ("max.in.flight.requests.per.connection", "5"),
    ("enable.idempotence", "true"),
    ("retries", "2147483647"),
    ("retry.backoff.ms", "100"),
    ("delivery.timeout.ms", "120000"),
    ("request.timeout.ms", "30000"),
    ("compression.type", "none"),
    ("partitioner.ignore.keys", "false"),
    ("partitioner.class", "sticky"),
    ("metadata.max.age.ms", "300000"),
    ("client.id", "kafkalab-producer"),
];

pub const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("group.id", ""),
    ("group.instance.id", ""),
    ("group.protocol", "classic"),
    ("group.remote.assignor", ""),
    ("session.timeout.ms", "45000"),
    ("heartbeat.interval.ms", "3000"),
    ("max.poll.interval.ms", "300000"),
    ("max.poll.records", "500"),
    ("enable.auto.commit", "true"),
    ("auto.commit.interval.ms", "5000"),
    ("auto.offset.reset", "latest"),
    ("fetch.min.bytes", "1"),
    ("fetch.max.wait.ms", "500"),
    ("fetch.max.bytes", "52428800"),
    ("max.partition.fetch.bytes", "1048576"),
    ("partition.assignment.strategy", "range,cooperative-sticky"),
    ("isolation.level", "read_uncommitted"),
    ("request.timeout.ms", "30000"),
    ("retry.backoff.ms", "100"),
    ("metadata.max.age.ms", "300000"),
    ("client.id", "kafkalab-consumer"),
];

/// Which client a config is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Producer,
    Consumer,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    role: Role,
    values: BTreeMap<String, String>,
}

fn defaults(role: Role) -> &'static [(&'static str, &'static str)] {
    match role {
        Role::Producer => PRODUCER_DEFAULTS,
        Role::Consumer => CONSUMER_DEFAULTS,
    }
}

impl ClientConfig {
    /// Builds a config from explicit settings; unknown keys are an error naming the
    /// closest known key.
    pub fn new(
        role: Role,
        settings: &BTreeMap<String, String>,
    ) -> Result<ClientConfig, ClientError> {
        let table = defaults(role);
        for key in settings.keys() {
            if !table.iter().any(|(k, _)| k == key) {
                let best = table
                    .iter()
                    .min_by_key(|(k, _)| edit_distance(k, key))
                    .map(|(k, _)| *k)
                    .unwrap_or("");
                return Err(ClientError::Config(format!(
                    "unknown {} property '{key}'; did you mean '{best}'?",
                    if role == Role::Producer {
                        "producer"
                    } else {
                        "consumer"
                    }
                )));
            }
        }
        let c = ClientConfig {
            role,
            values: settings.clone(),
        };
        c.validate()?;
        Ok(c)
    }

    pub fn producer() -> ClientConfig {
        ClientConfig {
            role: Role::Producer,
            values: BTreeMap::new(),
        }
    }

    pub fn consumer() -> ClientConfig {
        ClientConfig {
            role: Role::Consumer,
            values: BTreeMap::new(),
        }
    }

    /// Sets one property (builder style, for code and tests).
    pub fn set(mut self, key: &str, value: impl ToString) -> Result<ClientConfig, ClientError> {
        self.values.insert(key.to_string(), value.to_string());
        ClientConfig::new(self.role, &self.values)
    }

    fn validate(&self) -> Result<(), ClientError> {
        for (k, _) in defaults(self.role) {
            let v = self.get(k);
            let numeric = k.ends_with(".ms")
                || k.ends_with(".bytes")
                || k.ends_with(".size")
                || k.ends_with(".records")
                || *k == "retries"
                || k.ends_with(".connection")
                || *k == "buffer.memory";
            if numeric && v.parse::<i64>().is_err() {
                return Err(ClientError::Config(format!(
                    "{k}: expected an integer, got '{v}'"
                )));
            }
        }
        if self.role == Role::Producer {
            let acks = self.get("acks");
            if !matches!(acks.as_str(), "all" | "-1" | "0" | "1") {
                return Err(ClientError::Config(format!(
                    "acks: expected all, -1, 0 or 1, got '{acks}'"
                )));
            }
            let c = self.get("compression.type");
            if !matches!(c.as_str(), "none" | "gzip" | "snappy" | "lz4" | "zstd") {
                return Err(ClientError::Config(format!(
                    "compression.type: expected none, gzip, snappy, lz4 or zstd, got '{c}'"
                )));
            }
        }
        Ok(())
    }

    /// The value, or the default.
    pub fn get(&self, key: &str) -> String {
        self.values
            .get(key)
            .cloned()
            .or_else(|| {
                defaults(self.role)
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap_or_default()
    }

    pub fn int(&self, key: &str) -> i64 {
        self.get(key).trim().parse().unwrap_or(0)
    }

    pub fn ms(&self, key: &str) -> Duration {
        Duration::from_millis(self.int(key).max(0) as u64)
    }

    pub fn bool(&self, key: &str) -> bool {
        self.get(key).eq_ignore_ascii_case("true")
    }

    /// Settings that differ from the defaults (for reports: "what did this run change").
    pub fn overrides(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .filter(|(k, v)| {
                defaults(self.role)
                    .iter()
                    .find(|(d, _)| d == k)
                    .is_none_or(|(_, dv)| dv != v)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// acks as the protocol number.
    pub fn acks(&self) -> i16 {
        match self.get("acks").as_str() {
            "0" => 0,
            "1" => 1,
            _ => -1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let p = ClientConfig::producer();
        assert_eq!(p.get("linger.ms"), "5");
        assert_eq!(p.acks(), -1);
        let err = ClientConfig::producer()
            .set("linger.mss", 5)
            .expect_err("typo");
        assert!(
            err.to_string().contains("did you mean 'linger.ms'"),
            "{err}"
        );
        assert!(ClientConfig::producer().set("acks", "2").is_err());
        let c = ClientConfig::consumer()
            .set("session.timeout.ms", 10000)
            .expect("ok");
        assert_eq!(c.ms("session.timeout.ms"), Duration::from_secs(10));
        assert_eq!(c.overrides().len(), 1);
    }
}
