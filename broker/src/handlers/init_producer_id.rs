//! InitProducerId: hands out producer ids for idempotent producers. Transactions are
//! not supported yet, so a transactional id is refused.

use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, RequestHeader,
};

use crate::broker::Broker;
use crate::cluster::command::Command;
use crate::protocol::errors;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let fail = |code| {
        broker.metrics.error("InitProducerId", code);
        InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req
        .transactional_id
        .as_ref()
        .is_some_and(|t| !t.0.is_empty())
    {
        return fail(errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    }
    // KIP-360: an idempotent producer may ask to bump the epoch of its current id.
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX {
        return InitProducerIdResponse::default()
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    if let Some(c) = broker.cluster() {
        // Unique across the cluster: the controller hands them out.
        return match c
            .writer()
            .submit(Command::AllocateProducerId)
            .await
            .map(|r| r.producer_id())
        {
            Ok(Some(id)) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0),
            Ok(None) => fail(errors::UNKNOWN_SERVER_ERROR),
            // No controller reachable: retriable for the client.
            Err(e) => {
                tracing::warn!("cannot allocate a producer id: {e}");
                fail(errors::COORDINATOR_NOT_AVAILABLE)
            }
        };
    }
    match broker.allocate_producer_id() {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!("cannot allocate a producer id: {e}");
            fail(errors::UNKNOWN_SERVER_ERROR)
        }
    }
}
