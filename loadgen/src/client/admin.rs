//! Admin operations: topics, partitions, groups, offsets.
