//! Decodes a request frame (version from its header), dispatches it to the handler for
//! its API, and encodes the response with the matching header version. Produce and
//! Fetch pass injected errors first ([`super::inject`]).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{self as m, ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{
    decode_request_header_from_buffer, Decodable, Encodable, HeaderVersion,
};

use super::inject;
use crate::broker::Broker;
use crate::handlers;
use crate::protocol::versions;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("request too short ({0} bytes)")]
    TooShort(usize),
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("{api:?} v{version} is not supported (supported: {range})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        range: String,
    },
    #[error("cannot decode {api:?} v{version}: {detail}")]
    Decode {
        api: ApiKey,
        version: i16,
        detail: String,
    },
    #[error("cannot encode response: {0}")]
    Encode(String),
}

/// Handles one request frame. `Ok(None)` means no response is sent (acks=0 produce).
pub async fn handle(
    broker: &Broker,
    mut frame: Bytes,
    peer: &str,
) -> Result<Option<BytesMut>, RouteError> {
    if frame.len() < 8 {
        return Err(RouteError::TooShort(frame.len()));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api = ApiKey::try_from(key).map_err(|_| RouteError::UnknownApi(key))?;
    let Some((lo, hi)) = versions::supported(api) else {
        return Err(RouteError::UnsupportedVersion {
            api,
            version,
            range: "none".into(),
        });
    };
    if version < lo || version > hi {
        if api == ApiKey::ApiVersions {
            // Newer clients open with a version we do not know: answer in v0 with
            // UNSUPPORTED_VERSION and our ranges, so they retry with one we serve.
            let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            broker
                .metrics
                .error("ApiVersions", crate::protocol::errors::UNSUPPORTED_VERSION);
            let body =
                handlers::api_versions::response(crate::protocol::errors::UNSUPPORTED_VERSION);
            return encode(correlation_id, 0, 0, &body).map(Some);
        }
        return Err(RouteError::UnsupportedVersion {
            api,
            version,
            range: format!("{lo}..={hi}"),
        });
    }
    let decode_err = |detail: String| RouteError::Decode {
        api,
        version,
        detail,
    };
    let header =
        decode_request_header_from_buffer(&mut frame).map_err(|e| decode_err(e.to_string()))?;
    let timer = broker.metrics.api(api).map(|m| {
        m.requests.inc();
        m.duration.start_timer()
    });

    macro_rules! route {
        ($($key:ident => $req:ty, $handler:path;)*) => {
            match api {
                ApiKey::Produce => {
                    let mut req = m::ProduceRequest::decode(&mut frame, version).map_err(|e| decode_err(e.to_string()))?;
                    let acks = req.acks;
                    let injected = inject::take(broker, &mut req);
                    let resp = match &injected {
                        Some(t) if !t.handle_rest => (acks != 0).then(m::ProduceResponse::default),
                        _ => handlers::produce::handle(broker, &header, req).await,
                    };
                    match resp {
                        Some(mut resp) => {
                            if let Some(t) = injected {
                                t.answer::<m::ProduceRequest>(&mut resp);
                            }
                            reply(&header, &resp)
                        }
                        None => Ok(None),
                    }
                }
                ApiKey::Fetch => {
                    let mut req = m::FetchRequest::decode(&mut frame, version).map_err(|e| decode_err(e.to_string()))?;
                    let injected = inject::take(broker, &mut req);
                    let mut resp = match &injected {
                        Some(t) if !t.handle_rest => m::FetchResponse::default(),
                        _ => handlers::fetch::handle(broker, &header, req).await,
                    };
                    if let Some(t) = injected {
                        t.answer::<m::FetchRequest>(&mut resp);
                    }
                    reply(&header, &resp)
                }
                ApiKey::JoinGroup => {
                    let req = m::JoinGroupRequest::decode(&mut frame, version).map_err(|e| decode_err(e.to_string()))?;
                    let resp = handlers::join_group::handle(broker, &header, req, peer).await;
                    reply(&header, &resp)
                }
                $(ApiKey::$key => {
                    let req = <$req>::decode(&mut frame, version).map_err(|e| decode_err(e.to_string()))?;
                    let resp = $handler(broker, &header, req).await;
                    reply(&header, &resp)
                })*
                other => Err(RouteError::UnsupportedVersion { api: other, version, range: "none".into() }),
            }
        };
    }
    let out = route! {
        ListOffsets => m::ListOffsetsRequest, handlers::list_offsets::handle;
        Metadata => m::MetadataRequest, handlers::metadata::handle;
        ApiVersions => m::ApiVersionsRequest, handlers::api_versions::handle;
        CreateTopics => m::CreateTopicsRequest, handlers::create_topics::handle;
        DeleteTopics => m::DeleteTopicsRequest, handlers::delete_topics::handle;
        CreatePartitions => m::CreatePartitionsRequest, handlers::create_partitions::handle;
        DescribeConfigs => m::DescribeConfigsRequest, handlers::describe_configs::handle;
        AlterConfigs => m::AlterConfigsRequest, handlers::alter_configs::handle_legacy;
        IncrementalAlterConfigs => m::IncrementalAlterConfigsRequest, handlers::alter_configs::handle;
        InitProducerId => m::InitProducerIdRequest, handlers::init_producer_id::handle;
        DescribeCluster => m::DescribeClusterRequest, handlers::describe_cluster::handle;
        FindCoordinator => m::FindCoordinatorRequest, handlers::find_coordinator::handle;
        SyncGroup => m::SyncGroupRequest, handlers::sync_group::handle;
        Heartbeat => m::HeartbeatRequest, handlers::heartbeat::handle;
        LeaveGroup => m::LeaveGroupRequest, handlers::leave_group::handle;
        OffsetCommit => m::OffsetCommitRequest, handlers::offset_commit::handle;
        OffsetFetch => m::OffsetFetchRequest, handlers::offset_fetch::handle;
        ListGroups => m::ListGroupsRequest, handlers::list_groups::handle;
        DescribeGroups => m::DescribeGroupsRequest, handlers::describe_groups::handle;
        DeleteGroups => m::DeleteGroupsRequest, handlers::delete_groups::handle;
        OffsetDelete => m::OffsetDeleteRequest, handlers::offset_delete::handle;
        OffsetForLeaderEpoch => m::OffsetForLeaderEpochRequest, handlers::offset_for_leader_epoch::handle;
        ConsumerGroupHeartbeat => m::ConsumerGroupHeartbeatRequest, handlers::consumer_group_heartbeat::handle;
    };
    if let Some(t) = timer {
        t.observe_duration();
    }
    out
}

fn reply<R: Encodable + HeaderVersion>(
    header: &RequestHeader,
    resp: &R,
) -> Result<Option<BytesMut>, RouteError> {
    encode(
        header.correlation_id,
        R::header_version(header.request_api_version),
        header.request_api_version,
        resp,
    )
    .map(Some)
}

/// Encodes a size-prefixed response frame.
fn encode<R: Encodable>(
    correlation_id: i32,
    header_version: i16,
    version: i16,
    body: &R,
) -> Result<BytesMut, RouteError> {
    let err = |e: String| RouteError::Encode(e);
    let size = body.compute_size(version).map_err(|e| err(e.to_string()))?;
    let mut buf = BytesMut::with_capacity(size + 16);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, header_version)
        .map_err(|e| err(e.to_string()))?;
    body.encode(&mut buf, version)
        .map_err(|e| err(e.to_string()))?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}
