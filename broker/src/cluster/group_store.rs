//! Consumer-group metadata in the cluster metadata: what a group's coordinator stores
//! (through the [`MetadataWriter`]) and what the next coordinator loads, standing in
//! for the group records of Kafka's `__consumer_offsets`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::command::Command;
use super::controller::Controller;
use crate::group::coordinator::{GroupStore, StoreGroup};
use crate::group::state::StoredGroup;
use crate::replication::BrokerId;

/// Node `node`'s view of the stored group metadata.
pub struct ClusterGroupStore {
    pub controller: Arc<Controller>,
    pub node: BrokerId,
}

impl GroupStore for ClusterGroupStore {
    fn load(&self, group: &str) -> Option<StoredGroup> {
        self.controller.stored_group(group)
    }

    fn owns(&self, group: &str) -> bool {
        self.controller.coordinator_for(group).map(|c| c.0) == Some(self.node)
    }
}

/// Writes the coordinator's group metadata as `StoreGroup` commands, in order; a write
/// the controller refused is retried unless a newer one for the group replaced it.
pub async fn run_writer(
    controller: Arc<Controller>,
    mut rx: mpsc::UnboundedReceiver<StoreGroup>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut pending: BTreeMap<String, Option<StoredGroup>> = BTreeMap::new();
    loop {
        if pending.is_empty() {
            tokio::select! {
                next = rx.recv() => match next {
                    Some((g, s)) => {
                        pending.insert(g, s);
                    }
                    None => return,
                },
                _ = shutdown.changed() => return,
            }
        }
        while let Ok((g, s)) = rx.try_recv() {
            pending.insert(g, s);
        }
        let batch = std::mem::take(&mut pending);
        let mut failed = false;
        for (group, snapshot) in batch {
            let cmd = Command::StoreGroup {
                group: group.clone(),
                snapshot: snapshot.clone(),
            };
            if let Err(e) = controller.writer().submit(cmd).await {
                tracing::warn!(group, "group metadata not recorded by the controller: {e}");
                pending.entry(group).or_insert(snapshot);
                failed = true;
            }
        }
        if failed {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
