//! Numbered records through a real producer, for the tests that break a cluster while
//! it is written to and then count what came back.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

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
