//! Insertion-ordered interning, the pattern behind frames, sites, report rows and the frames
//! and stacks of the writers: a value's id is the index at which it was first inserted
//! (`insert_full(value).0`), and iterating gives values in the order of first appearance —
//! the order memray's reports come in. `indexmap`'s maps with the fast, non-DoS-resistant
//! hasher the rest of memform uses for keys it makes itself.

pub type FxIndexSet<T> = indexmap::IndexSet<T, rustc_hash::FxBuildHasher>;
pub type FxIndexMap<K, V> = indexmap::IndexMap<K, V, rustc_hash::FxBuildHasher>;
