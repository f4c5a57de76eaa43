//! File-system storage laid out as Apache Kafka does: one directory per partition,
//! `<log.dirs>/<topic>-<partition>/`, holding segments `<base offset, 20 digits>.log` with
//! their offset indexes `<base>.index`. Small metadata files (topics, producer ids,
//! committed offsets) live in `<log.dirs>/__kafkalab_meta/<name>`, replaced atomically.

pub mod index;
mod log;
mod segment;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use self::log::FileLog;
use super::{LogConfig, PartitionLog, Storage, StorageError};

/// Directory (under the root) of the metadata files.
pub const META_DIR: &str = "__kafkalab_meta";

pub(crate) fn io_err(path: &Path, e: std::io::Error) -> StorageError {
    StorageError::io(path.display().to_string(), e)
}

/// Fsyncs a directory so file creations, renames and deletions in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

fn invalid_name(path: &Path, what: &str) -> StorageError {
    io_err(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_string()),
    )
}

/// A name usable as one path component.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Logs under a root directory (`log.dirs`).
#[derive(Debug, Clone)]
pub struct FileStorage {
    root: PathBuf,
}

impl FileStorage {
    /// Storage under `root`; directories are created when first needed.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FileStorage { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<topic>-<partition>`.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> Result<PathBuf, StorageError> {
        let dir = self.root.join(format!("{topic}-{partition}"));
        if !is_plain_name(topic) || partition < 0 {
            return Err(invalid_name(&dir, "invalid topic name or partition"));
        }
        Ok(dir)
    }

    /// Opens the partition's log as its concrete type (see [`Storage::open`]).
    pub fn open_log(
        &self,
        topic: &str,
        partition: i32,
        config: &LogConfig,
    ) -> Result<FileLog, StorageError> {
        let dir = self.partition_dir(topic, partition)?;
        if !self.root.exists() {
            std::fs::create_dir_all(&self.root).map_err(|e| io_err(&self.root, e))?;
        }
        FileLog::open(dir, config)
    }

    fn meta_path(&self, name: &str) -> Result<PathBuf, StorageError> {
        let path = self.root.join(META_DIR).join(name);
        if !is_plain_name(name) {
            return Err(invalid_name(&path, "invalid metadata file name"));
        }
        Ok(path)
    }
}

/// Parses a partition directory name `<topic>-<partition>` (the topic may contain '-').
pub fn parse_partition_dir(name: &str) -> Option<(String, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let partition: i32 = partition.parse().ok()?;
    Some((topic.to_string(), partition))
}

impl Storage for FileStorage {
    fn open(
        &self,
        topic: &str,
        partition: i32,
        config: &LogConfig,
    ) -> Result<Box<dyn PartitionLog>, StorageError> {
        Ok(Box::new(self.open_log(topic, partition, config)?))
    }

    fn list(&self) -> Result<Vec<(String, i32)>, StorageError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.root, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&self.root, e))?;
            let is_dir = entry
                .file_type()
                .map_err(|e| io_err(&entry.path(), e))?
                .is_dir();
            if !is_dir {
                continue;
            }
            if let Some(p) = entry.file_name().to_str().and_then(parse_partition_dir) {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    }

    fn remove(&self, topic: &str, partition: i32) -> Result<(), StorageError> {
        let dir = self.partition_dir(topic, partition)?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => fsync_dir(&self.root),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&dir, e)),
        }
    }

    fn read_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.meta_path(name)?;
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    fn write_meta(&self, name: &str, data: &[u8]) -> Result<(), StorageError> {
        self.meta_path(name)?;
        let dir = self.root.join(META_DIR);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
            fsync_dir(&self.root)?;
        }
        write_atomically(&dir, name, data)
    }
}

/// Replaces `dir/name` with `data`: write a temp file, fsync, rename, fsync the directory.
pub(crate) fn write_atomically(dir: &Path, name: &str, data: &[u8]) -> Result<(), StorageError> {
    let path = dir.join(name);
    if !is_plain_name(name) {
        return Err(invalid_name(&path, "invalid file name"));
    }
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(&tmp, e));
    }
    std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
    fsync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dir_names() {
        assert_eq!(parse_partition_dir("orders-3"), Some(("orders".into(), 3)));
        assert_eq!(
            parse_partition_dir("my-topic-name-12"),
            Some(("my-topic-name".into(), 12))
        );
        assert_eq!(parse_partition_dir("orders"), None);
        assert_eq!(parse_partition_dir("-3"), None);
        assert_eq!(parse_partition_dir("orders-"), None);
        assert_eq!(
            parse_partition_dir("orders--3"),
            Some(("orders-".into(), 3))
        );
        assert_eq!(parse_partition_dir("orders-x"), None);
        assert_eq!(parse_partition_dir(META_DIR), None);
    }

    #[test]
    fn open_list_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = FileStorage::new(dir.path().join("logs"));
        assert!(storage.list().expect("list").is_empty());
        let config = LogConfig::default();
        for (t, p) in [("a-b", 0), ("a-b", 1), ("c", 7)] {
            storage.open(t, p, &config).expect("open");
        }
        storage.write_meta("topics.json", b"{}").expect("meta");
        std::fs::write(dir.path().join("logs/stray-file-0"), b"x").expect("write");
        assert_eq!(
            storage.list().expect("list"),
            vec![("a-b".into(), 0), ("a-b".into(), 1), ("c".into(), 7)]
        );
        storage.remove("a-b", 0).expect("remove");
        storage.remove("a-b", 0).expect("remove twice is fine");
        assert_eq!(
            storage.list().expect("list"),
            vec![("a-b".into(), 1), ("c".into(), 7)]
        );
        assert!(!dir.path().join("logs/a-b-0").exists());
        assert!(storage.open("../evil", 0, &config).is_err());
        assert!(storage.open("t", -1, &config).is_err());
    }

    #[test]
    fn meta_files_replace_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = FileStorage::new(dir.path());
        assert_eq!(storage.read_meta("offsets").expect("read"), None);
        storage.write_meta("offsets", b"one").expect("write");
        storage.write_meta("offsets", b"two").expect("write");
        assert_eq!(
            storage.read_meta("offsets").expect("read").as_deref(),
            Some(&b"two"[..])
        );
        let files: Vec<_> = std::fs::read_dir(dir.path().join(META_DIR))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(files, vec![std::ffi::OsString::from("offsets")]);
        assert!(storage.write_meta("../x", b"").is_err());
        assert!(storage.read_meta("").is_err());
    }

    #[test]
    fn reopened_storage_sees_the_same_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig::default();
        let mut batch = crate::storage::compaction::tests::batch_with(
            0,
            &[(Some("k"), Some("v"), 5)],
            -1,
            kafka_protocol::records::Compression::None,
        );
        {
            let storage = FileStorage::new(dir.path());
            let mut log = storage.open("t", 0, &config).expect("open");
            log.append(&mut batch, 5).expect("append");
            log.append(&mut batch, 5).expect("append");
        }
        let storage = FileStorage::new(dir.path());
        let log = storage.open("t", 0, &config).expect("open");
        assert_eq!(log.log_end_offset(), 2);
        assert_eq!(
            log.read(1, 1 << 20).expect("read").records.len(),
            batch.len()
        );
    }
}
