//! Time-ordered ids for what a module stores.
//!
//! An id from [`new`] is a UUIDv7: its first 48 bits are the creation time in milliseconds,
//! the rest random. Ids sort by creation time as strings (so a kv key made from one lists
//! oldest first): exactly within one call, to the millisecond across calls (which may run
//! in different instances). Two calls never need to agree on a counter, which would be one hot
//! kv key every write conflicts on.

/// A new id, such as `0193f6a2-5c1e-7d31-9a4b-2f0c6e8d1a77`.
///
/// ```no_run
/// let key = format!("member/{}", nova_sdk::id::new());
/// ```
pub fn new() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_sort_by_creation() {
        let ids: Vec<String> = (0..1000).map(|_| super::new()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids, "unique, and already in creation order");
        assert_eq!(&ids[0][14..15], "7", "version 7");
    }
}
