//! ApiVersions: the APIs and version ranges this broker serves.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, RequestHeader};

use crate::broker::Broker;
use crate::protocol::versions;

pub async fn handle(
    _broker: &Broker,
    _h: &RequestHeader,
    _req: ApiVersionsRequest,
) -> ApiVersionsResponse {
    response(0)
}

/// The response body; also sent (in v0) with error 35 to clients opening with a newer version.
pub fn response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = versions::all()
        .into_iter()
        .map(|(k, lo, hi)| {
            ApiVersion::default()
                .with_api_key(k as i16)
                .with_min_version(lo)
                .with_max_version(hi)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}
