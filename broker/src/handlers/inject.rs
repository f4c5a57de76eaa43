//! Injected errors ([`crate::faults::inject`]) applied to requests, the same way for
//! every API that has them: the router asks [`take`] before the handler runs; the
//! partitions an error rule matches are taken out of the request (so they are not
//! handled: a Produce is not appended), the handler sees the rest, and [`Taken::answer`]
//! puts the matched partitions back into its response with the rule's error code.
//! A request left with no partition is not handled at all ([`Taken::handle_rest`]).

use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
};

use crate::broker::Broker;
use crate::protocol::versions::api_label;

/// A request whose partitions an injected error can answer.
pub trait Partitioned {
    type Response;
    const API: ApiKey;
    /// (topic, partition) of every partition, in request order.
    fn partitions(&self) -> Vec<(TopicName, i32)>;
    /// Removes the partitions flagged in `which` (in [`Partitioned::partitions`] order).
    fn remove(&mut self, which: &[bool]);
    /// Adds an error entry for each of `partitions` to `resp`.
    fn answer(resp: &mut Self::Response, partitions: Vec<(TopicName, i32)>, code: i16);
}

/// Partitions taken out of a request, to be answered with `code`.
#[derive(Debug)]
pub struct Taken {
    code: i16,
    partitions: Vec<(TopicName, i32)>,
    /// Whether the request still has partitions for its handler.
    pub handle_rest: bool,
}

impl Taken {
    pub fn answer<R: Partitioned>(self, resp: &mut R::Response) {
        R::answer(resp, self.partitions, self.code);
    }
}

/// The injected error `req` meets on this node, if any: its matching partitions are
/// removed from `req`.
pub fn take<R: Partitioned>(broker: &Broker, req: &mut R) -> Option<Taken> {
    let faults = broker.faults()?;
    let all = req.partitions();
    let names: Vec<(&str, i32)> = all.iter().map(|(t, p)| (t.0.as_str(), *p)).collect();
    let injected = faults.take_error(broker.node_id(), R::API, &names)?;
    req.remove(&injected.partitions);
    let (matched, rest): (Vec<_>, Vec<_>) = all
        .into_iter()
        .zip(&injected.partitions)
        .partition(|(_, m)| **m);
    for _ in &matched {
        broker.metrics.error(api_label(R::API), injected.code);
    }
    Some(Taken {
        code: injected.code,
        partitions: matched.into_iter().map(|(p, _)| p).collect(),
        handle_rest: !rest.is_empty(),
    })
}

/// Keeps the items whose flag (taken in order from `flags`) is false.
fn keep<T>(items: &mut Vec<T>, flags: &mut impl Iterator<Item = bool>) {
    items.retain(|_| !flags.next().unwrap_or(false));
}

impl Partitioned for ProduceRequest {
    type Response = ProduceResponse;
    const API: ApiKey = ApiKey::Produce;

    fn partitions(&self) -> Vec<(TopicName, i32)> {
        self.topic_data
            .iter()
            .flat_map(|t| t.partition_data.iter().map(|p| (t.name.clone(), p.index)))
            .collect()
    }

    fn remove(&mut self, which: &[bool]) {
        let mut flags = which.iter().copied();
        for t in &mut self.topic_data {
            keep(&mut t.partition_data, &mut flags);
        }
        self.topic_data.retain(|t| !t.partition_data.is_empty());
    }

    fn answer(resp: &mut ProduceResponse, partitions: Vec<(TopicName, i32)>, code: i16) {
        for (topic, index) in partitions {
            let entry = PartitionProduceResponse::default()
                .with_index(index)
                .with_error_code(code)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            match resp.responses.iter_mut().find(|t| t.name == topic) {
                Some(t) => t.partition_responses.push(entry),
                None => resp.responses.push(
                    TopicProduceResponse::default()
                        .with_name(topic)
                        .with_partition_responses(vec![entry]),
                ),
            }
        }
    }
}

impl Partitioned for FetchRequest {
    type Response = FetchResponse;
    const API: ApiKey = ApiKey::Fetch;

    fn partitions(&self) -> Vec<(TopicName, i32)> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.clone(), p.partition)))
            .collect()
    }

    fn remove(&mut self, which: &[bool]) {
        let mut flags = which.iter().copied();
        for t in &mut self.topics {
            keep(&mut t.partitions, &mut flags);
        }
        self.topics.retain(|t| !t.partitions.is_empty());
    }

    fn answer(resp: &mut FetchResponse, partitions: Vec<(TopicName, i32)>, code: i16) {
        for (topic, index) in partitions {
            let entry = PartitionData::default()
                .with_partition_index(index)
                .with_error_code(code)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_preferred_read_replica(BrokerId(-1));
            match resp.responses.iter_mut().find(|t| t.topic == topic) {
                Some(t) => t.partitions.push(entry),
                None => resp.responses.push(
                    FetchableTopicResponse::default()
                        .with_topic(topic)
                        .with_partitions(vec![entry]),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::protocol::StrBytes;

    fn name(s: &str) -> TopicName {
        TopicName(StrBytes::from_string(s.to_string()))
    }

    fn produce(parts: &[(&str, i32)]) -> ProduceRequest {
        let mut req = ProduceRequest::default();
        for (t, p) in parts {
            let data = PartitionProduceData::default().with_index(*p);
            match req.topic_data.iter_mut().find(|td| td.name == name(t)) {
                Some(td) => td.partition_data.push(data),
                None => req.topic_data.push(
                    TopicProduceData::default()
                        .with_name(name(t))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        req
    }

    #[test]
    fn matched_partitions_leave_the_request_and_come_back_as_errors() {
        let mut req = produce(&[("a", 0), ("a", 1), ("b", 0)]);
        assert_eq!(
            req.partitions(),
            vec![(name("a"), 0), (name("a"), 1), (name("b"), 0)]
        );
        req.remove(&[false, true, true]);
        assert_eq!(req.partitions(), vec![(name("a"), 0)]);
        assert_eq!(req.topic_data.len(), 1, "an emptied topic is dropped");

        let mut resp =
            ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
                .with_name(name("a"))
                .with_partition_responses(vec![PartitionProduceResponse::default()])]);
        let errors = vec![(name("a"), 1), (name("b"), 0)];
        ProduceRequest::answer(&mut resp, errors, 6);
        let got: Vec<(String, i32, i16)> = resp
            .responses
            .iter()
            .flat_map(|t| {
                t.partition_responses
                    .iter()
                    .map(|p| (t.name.0.to_string(), p.index, p.error_code))
            })
            .collect();
        assert_eq!(
            got,
            vec![("a".into(), 0, 0), ("a".into(), 1, 6), ("b".into(), 0, 6)]
        );
    }
}
