//! Numbered records through a real producer, and reading values back with a real
//! consumer, for the tests that break a cluster while it is written to and then count
//! what came back.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// Sends `total` records `r00000`, `r00001`, ... to `topic`, ten every 10 ms (about
/// `total` ms in all, so a fault started meanwhile falls mid-stream), waiting out a
/// full local queue; then awaits every delivery report on `rt`. Returns the values
/// acknowledged and (index, error) of those that failed.
pub fn send_numbered(
    prod: &FutureProducer,
    topic: &str,
    total: usize,
    rt: &tokio::runtime::Handle,
) -> (Vec<String>, Vec<(usize, String)>) {
    let mut futs = Vec::new();
    for i in 0..total {
        let v = format!("r{i:05}");
        loop {
            match prod.send_result(FutureRecord::<(), _>::to(topic).payload(&v)) {
                Ok(f) => {
                    futs.push((i, f));
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => panic!("enqueue: {e}"),
            }
        }
        if i % 10 == 9 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let mut acked = Vec::new();
    let mut failed = Vec::new();
    for (i, f) in futs {
        match rt.block_on(f) {
            Ok(Ok(_)) => acked.push(format!("r{i:05}")),
            Ok(Err((e, _))) => failed.push((i, e.to_string())),
            Err(_) => failed.push((i, "cancelled".into())),
        }
    }
    let _ = prod.flush(Duration::from_secs(10));
    (acked, failed)
}

/// Consumes partition `p` of `topic` from the beginning until `expected` values arrived
/// (then half a second longer, to catch duplicates) or 30 s passed; returns the values
/// in offset order.
pub fn consume_all(bootstrap: &str, topic: &str, p: i32, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "cluster-test")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, p, Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut extra_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now > deadline || extra_until.is_some_and(|t| now > t) {
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string())
            }
            // e.g. a transport failure towards a crashed node in the bootstrap list:
            // librdkafka reports it and carries on with the live ones.
            Some(Err(e)) => println!("consumer: {e}"),
            None => {}
        }
        if out.len() >= expected && extra_until.is_none() {
            extra_until = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    out
}
