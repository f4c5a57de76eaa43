//! A voter's durable state: its term, its vote in that term and the newest metadata
//! image it stored, in `<log.dirs>/__cluster_metadata/state.json`. Written before the
//! voter answers (a vote or an append acknowledgement must survive a crash, or a
//! restarted voter could vote twice or forget a committed image), atomically: a
//! temporary file, fsync, rename, fsync of the directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::raft::Tag;
use crate::cluster::controller::MetadataImage;
use crate::replication::BrokerId;

pub const DIR: &str = "__cluster_metadata";
const FILE: &str = "state.json";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid quorum state: {detail}")]
    Corrupt { path: PathBuf, detail: String },
}

/// A metadata image with its tag.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredImage {
    pub tag: Tag,
    pub image: MetadataImage,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Persisted {
    pub term: u64,
    pub voted_for: Option<BrokerId>,
    pub image: Option<StoredImage>,
}

impl Persisted {
    pub fn tag(&self) -> Tag {
        self.image.as_ref().map_or(Tag::default(), |i| i.tag)
    }
}

pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(log_dir: &Path) -> Store {
        Store {
            dir: log_dir.join(DIR),
        }
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    }

    /// The persisted state; the default (term 0, nothing) on a first start.
    pub fn load(&self) -> Result<Persisted, StoreError> {
        let path = self.dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path,
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Persisted::default()),
            Err(e) => Err(self.io(&path)(e)),
        }
    }

    pub fn save(&self, state: &Persisted) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(self.io(&self.dir))?;
        let tmp = self.dir.join("state.json.tmp");
        let path = self.dir.join(FILE);
        let bytes = serde_json::to_vec(state).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let mut f = std::fs::File::create(&tmp).map_err(self.io(&tmp))?;
        f.write_all(&bytes).map_err(self.io(&tmp))?;
        f.sync_all().map_err(self.io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(self.io(&path))?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::metadata::ClusterMetadata;

    #[test]
    fn state_survives_a_restart_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        assert_eq!(store.load().expect("empty").term, 0);
        let state = Persisted {
            term: 4,
            voted_for: Some(2),
            image: Some(StoredImage {
                tag: Tag {
                    term: 4,
                    version: 9,
                },
                image: MetadataImage {
                    meta: ClusterMetadata::new(&[0, 1, 2]),
                    offsets: Default::default(),
                    groups: Default::default(),
                    next_producer_id: 17,
                },
            }),
        };
        store.save(&state).expect("save");
        let back = Store::new(dir.path()).load().expect("load");
        assert_eq!(
            (back.term, back.voted_for, back.tag()),
            (4, Some(2), state.tag())
        );
        assert_eq!(back.image.map(|i| i.image.next_producer_id), Some(17));
        std::fs::write(dir.path().join(DIR).join(FILE), b"{nope").expect("write");
        assert!(matches!(store.load(), Err(StoreError::Corrupt { .. })));
    }
}
