//! DescribeCluster: this broker as the whole cluster (and its controller).

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, RequestHeader,
};

use super::s;
use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    _h: &RequestHeader,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let (host, port) = broker.advertised();
    if let Some(c) = broker.cluster() {
        let (controller, brokers) = c.read(|m| {
            let brokers = m
                .live_nodes()
                .into_iter()
                .map(|n| {
                    DescribeClusterBroker::default()
                        .with_broker_id(BrokerId(n.id))
                        .with_host(s(n.host.clone()))
                        .with_port(i32::from(n.port))
                })
                .collect();
            (
                super::metadata::cluster::controller_id(broker, c, m),
                brokers,
            )
        });
        return DescribeClusterResponse::default()
            .with_endpoint_type(req.endpoint_type)
            .with_cluster_id(s(c.cluster_id.clone()))
            .with_controller_id(BrokerId(controller))
            .with_cluster_authorized_operations(i32::MIN)
            .with_brokers(brokers);
    }
    DescribeClusterResponse::default()
        .with_endpoint_type(req.endpoint_type)
        .with_cluster_id(s(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.node_id()))
        .with_cluster_authorized_operations(i32::MIN)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(broker.node_id()))
            .with_host(s(host))
            .with_port(port as i32)])
}
