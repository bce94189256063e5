//! `nova:module/kv`: tenant- and module-scoped storage.
//!
//! Reads go to the database (or to the call's own buffered writes); writes are buffered and
//! handed to the committer when the call ends. The first database read of a key records its
//! version, so a read-modify-write whose key changed meanwhile is caught at commit; a
//! `create` expects its key absent without reading it, and is caught the same way.

use std::collections::{BTreeMap, HashMap};

use wasmtime::component::Linker;

use super::{Unit, Using, grants::Capability};
use crate::contract::kv::{self as wit, Entry, Error, Host, Page};
use crate::contract::v0_1::nova::module::kv as wit_0_1;
use crate::limits::Limits;
use crate::storage::Db;
use crate::storage::kv::{self as store, Expect, Op, Order, Write};
use crate::storage::sequences::Sequences;

/// Longest key, in bytes.
pub(crate) const MAX_KEY: usize = 512;
/// Most entries one `list` call returns.
pub(crate) const MAX_PAGE: u32 = 1000;

/// Per-call kv state: the buffer of writes and what was read.
pub(crate) struct KvState {
    db: Db,
    tenant: String,
    module: String,
    limits: Limits,
    buffer: BTreeMap<String, Op>,
    reads: HashMap<String, Expect>,
    buffered_bytes: usize,
    /// The server's named sequences (`next-number`); `None` outside a runtime.
    pub(crate) sequences: Option<std::sync::Arc<Sequences>>,
}

impl KvState {
    /// Empty state for one call of `module` on behalf of `tenant`.
    pub(crate) fn new(db: Db, tenant: String, module: String, limits: Limits) -> Self {
        Self {
            db,
            tenant,
            module,
            limits,
            buffer: BTreeMap::new(),
            reads: HashMap::new(),
            buffered_bytes: 0,
            sequences: None,
        }
    }

    fn check_key(key: &str) -> Result<(), Error> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(Error::InvalidKey(format!(
                "keys must be 1 to {MAX_KEY} bytes"
            )));
        }
        // PostgreSQL text cannot hold NUL; refused on every backend so a module behaves the
        // same on SQLite as in production.
        if key.contains('\0') {
            return Err(Error::InvalidKey("keys must not contain NUL".into()));
        }
        Ok(())
    }

    /// Read a key, seeing this call's own writes first.
    pub(crate) async fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Self::check_key(key)?;
        if let Some(op) = self.buffer.get(key) {
            return Ok(match op {
                Op::Set(v) => Some(v.clone()),
                Op::Delete => None,
            });
        }
        let stored = store::get(&self.db, &self.tenant, &self.module, key)
            .await
            .map_err(|e| Error::Other(format!("storage unavailable: {e}")))?;
        self.reads.entry(key.to_string()).or_insert(match &stored {
            Some(s) => Expect::Version(s.version),
            None => Expect::Absent,
        });
        Ok(stored.map(|s| s.value))
    }

    fn buffer(&mut self, key: &str, op: Op) -> Result<(), Error> {
        Self::check_key(key)?;
        let size = key.len()
            + match &op {
                Op::Set(v) => v.len(),
                Op::Delete => 0,
            };
        if self.buffered_bytes + size > self.limits.buffered_write_bytes {
            return Err(Error::QuotaExceeded(format!(
                "a call may buffer at most {} bytes of writes",
                self.limits.buffered_write_bytes
            )));
        }
        self.buffered_bytes += size;
        self.buffer.insert(key.to_string(), op);
        Ok(())
    }

    /// Buffer a write.
    pub(crate) fn set(&mut self, key: &str, value: Vec<u8>) -> Result<(), Error> {
        if value.len() > self.limits.kv_value_bytes {
            return Err(Error::ValueTooLarge(self.limits.kv_value_bytes as u64));
        }
        self.buffer(key, Op::Set(value))
    }

    /// Buffer the write of a key that must not exist (`kv.create`): `false`, and nothing
    /// buffered, when this call has seen the key hold a value (read, listed or written, and
    /// not deleted since). A key the call has neither read nor written is not read now: the
    /// write goes to the committer as a creation (expecting the key absent, as after a read
    /// that found nothing), so the check costs no statement before the commit, and a key
    /// taken by then is a conflict that runs the call again. A key the call deleted was
    /// made room for by that delete: the write goes under what the delete was made under
    /// (a blind delete and a create together are a `set`).
    pub(crate) fn create(&mut self, key: &str, value: Vec<u8>) -> Result<bool, Error> {
        Self::check_key(key)?;
        let buffered = self.buffer.get(key);
        let holds_value = match buffered {
            Some(op) => matches!(op, Op::Set(_)),
            None => matches!(self.reads.get(key), Some(Expect::Version(_))),
        };
        if holds_value {
            return Ok(false);
        }
        let unseen = buffered.is_none();
        self.set(key, value)?;
        if unseen {
            self.reads.entry(key.to_string()).or_insert(Expect::Absent);
        }
        Ok(true)
    }

    /// Buffer a delete.
    pub(crate) fn delete(&mut self, key: &str) -> Result<(), Error> {
        self.buffer(key, Op::Delete)
    }

    /// One page of keys under `prefix` in `order`, from beyond `cursor`, merging the
    /// database with this call's buffer.
    pub(crate) async fn list(
        &mut self,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
        order: Order,
    ) -> Result<Page, Error> {
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        // `a` comes later in the listing than `b`.
        let later = |a: &str, b: &str| match order {
            Order::Ascending => a > b,
            Order::Descending => a < b,
        };
        let in_range = |k: &str| k.starts_with(prefix) && cursor.is_none_or(|c| later(k, c));
        let deletes = self
            .buffer
            .iter()
            .filter(|(k, op)| **op == Op::Delete && in_range(k))
            .count();
        // Fetch enough that buffered deletes cannot leave the page short, plus one to learn
        // whether more follow.
        let fetch = limit + deletes + 1;
        let rows = store::list_in(
            &self.db,
            &self.tenant,
            &self.module,
            prefix,
            cursor,
            fetch as i64,
            order,
        )
        .await
        .map_err(|e| Error::Other(format!("storage unavailable: {e}")))?;
        let db_full = rows.len() == fetch;
        // Where the database's page ended: buffered keys beyond it belong to a later page.
        let edge = if db_full {
            rows.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        let mut merged: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (key, stored) in rows {
            self.reads
                .entry(key.clone())
                .or_insert(Expect::Version(stored.version));
            merged.insert(key, stored.value);
        }
        for (key, op) in self.buffer.iter().filter(|(k, _)| in_range(k)) {
            if edge.as_deref().is_some_and(|e| later(key, e)) {
                continue;
            }
            match op {
                Op::Set(v) => merged.insert(key.clone(), v.clone()),
                Op::Delete => merged.remove(key),
            };
        }
        let more = merged.len() > limit || db_full;
        let ordered: Box<dyn Iterator<Item = (String, Vec<u8>)>> = match order {
            Order::Ascending => Box::new(merged.into_iter()),
            Order::Descending => Box::new(merged.into_iter().rev()),
        };
        let entries: Vec<Entry> = ordered
            .take(limit)
            .map(|(key, value)| Entry { key, value })
            .collect();
        let cursor = if more {
            entries.last().map(|e| e.key.clone())
        } else {
            None
        };
        Ok(Page { entries, cursor })
    }

    /// The next number of the module's sequence `name`, at least `at_least`. Taken at once,
    /// outside the call's writes: a call that fails leaves a gap, never a repeat.
    pub(crate) async fn next_number(&mut self, name: &str, at_least: u64) -> Result<u64, Error> {
        Self::check_key(name)?;
        if at_least > crate::storage::sequences::MAX_NUMBER {
            return Err(Error::Other(format!(
                "at-least must be at most {}",
                crate::storage::sequences::MAX_NUMBER
            )));
        }
        let Some(sequences) = &self.sequences else {
            return Err(Error::Other("sequences are not available here".into()));
        };
        sequences
            .next(&self.tenant, &self.module, name, at_least)
            .await
            .map_err(|e| Error::Other(format!("storage unavailable: {e}")))
    }

    /// The call's writes, each with the version it was read at (if it was read).
    pub(crate) fn take_writes(&mut self) -> Vec<Write> {
        let reads = std::mem::take(&mut self.reads);
        std::mem::take(&mut self.buffer)
            .into_iter()
            .map(|(key, op)| Write {
                expect: reads.get(&key).copied().unwrap_or(Expect::Any),
                key,
                op,
            })
            .collect()
    }
}

/// Link `nova:module/kv` (both contract versions) to the state `get` finds in a store.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> Unit<'_, KvState>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Using<KvState>>(linker, get)?;
    wit_0_1::add_to_linker::<T, Using<KvState>>(linker, get)
}

impl Host for Unit<'_, KvState> {
    #[tracing::instrument(level = "debug", name = "kv.get", skip_all)]
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        if let Err(denied) = self.gate.enter(Some(Capability::Kv))? {
            return Ok(Err(Error::Denied(denied)));
        }
        Ok(self.state.get(&key).await)
    }

    #[tracing::instrument(level = "debug", name = "kv.set", skip_all)]
    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        if let Err(denied) = self.gate.enter(Some(Capability::Kv))? {
            return Ok(Err(Error::Denied(denied)));
        }
        Ok(self.state.set(&key, value))
    }

    #[tracing::instrument(level = "debug", name = "kv.create", skip_all)]
    async fn create(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<bool, Error>> {
        if let Err(denied) = self.gate.enter(Some(Capability::Kv))? {
            return Ok(Err(Error::Denied(denied)));
        }
        Ok(self.state.create(&key, value))
    }

    #[tracing::instrument(level = "debug", name = "kv.delete", skip_all)]
    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), Error>> {
        if let Err(denied) = self.gate.enter(Some(Capability::Kv))? {
            return Ok(Err(Error::Denied(denied)));
        }
        Ok(self.state.delete(&key))
    }

    #[tracing::instrument(level = "debug", name = "kv.list", skip_all)]
    async fn list(
        &mut self,
        prefix: String,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<Page, Error>> {
        self.listing(&prefix, limit, cursor.as_deref(), Order::Ascending)
            .await
    }

    #[tracing::instrument(level = "debug", name = "kv.list-descending", skip_all)]
    async fn list_descending(
        &mut self,
        prefix: String,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<Page, Error>> {
        self.listing(&prefix, limit, cursor.as_deref(), Order::Descending)
            .await
    }

    #[tracing::instrument(level = "debug", name = "kv.next-number", skip_all)]
    async fn next_number(
        &mut self,
        sequence: String,
        at_least: u64,
    ) -> wasmtime::Result<Result<u64, Error>> {
        if let Err(denied) = self.gate.enter(Some(Capability::Kv))? {
            return Ok(Err(Error::Denied(denied)));
        }
        Ok(self.state.next_number(&sequence, at_least).await)
    }
}

impl Unit<'_, KvState> {
    /// A page in either direction, once the grant is checked.
    async fn listing(
        &mut self,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
        order: Order,
    ) -> wasmtime::Result<Result<Page, Error>> {
        if let Err(denied) = self.gate.enter(Some(Capability::Kv))? {
            return Ok(Err(Error::Denied(denied)));
        }
        Ok(self.state.list(prefix, limit, cursor, order).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call of tenant `t1`'s `pos`.
    fn call(db: &Db) -> KvState {
        KvState::new(db.clone(), "t1".into(), "pos".into(), Limits::default())
    }

    async fn state(dir: &tempfile::TempDir) -> (Db, KvState) {
        let (db, _) = crate::storage::scratch_sqlite(dir).await;
        let kv = call(&db);
        (db, kv)
    }

    async fn commit(db: &Db, kv: &mut KvState) -> Result<(), store::Conflict> {
        let writes = kv.take_writes();
        let mut conn = db.pool().acquire().await.unwrap();
        store::apply(&mut conn, "t1", "pos", &writes).await.unwrap()
    }

    #[tokio::test]
    async fn reads_see_own_writes_and_nothing_reaches_the_db_before_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut kv) = state(&dir).await;
        kv.set("a", b"1".to_vec()).unwrap();
        assert_eq!(kv.get("a").await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(store::get(&db, "t1", "pos", "a").await.unwrap(), None);
        kv.delete("a").unwrap();
        assert_eq!(kv.get("a").await.unwrap(), None);
        commit(&db, &mut kv).await.unwrap();
        assert_eq!(store::get(&db, "t1", "pos", "a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn read_modify_write_conflicts_when_the_key_changed() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut first) = state(&dir).await;
        let mut second = call(&db);
        assert_eq!(first.get("n").await.unwrap(), None);
        assert_eq!(second.get("n").await.unwrap(), None);
        first.set("n", b"1".to_vec()).unwrap();
        second.set("n", b"1".to_vec()).unwrap();
        commit(&db, &mut first).await.unwrap();
        assert_eq!(
            commit(&db, &mut second).await,
            Err(store::Conflict { key: "n".into() })
        );

        // Blind writes never conflict.
        let mut blind = call(&db);
        blind.set("n", b"9".to_vec()).unwrap();
        commit(&db, &mut blind).await.unwrap();
        assert_eq!(
            store::get(&db, "t1", "pos", "n")
                .await
                .unwrap()
                .unwrap()
                .value,
            b"9"
        );
    }

    async fn value(db: &Db, key: &str) -> Option<Vec<u8>> {
        store::get(db, "t1", "pos", key)
            .await
            .unwrap()
            .map(|s| s.value)
    }

    #[tokio::test]
    async fn a_create_is_checked_at_commit_without_a_read_first() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut kv) = state(&dir).await;
        // A free key: created, and the call's own reads see it.
        assert!(kv.create("t/1", b"one".to_vec()).unwrap());
        assert_eq!(kv.get("t/1").await.unwrap(), Some(b"one".to_vec()));
        commit(&db, &mut kv).await.unwrap();

        // Taken by the time the call commits: a conflict (a blind `set` would have written
        // over it), and the key keeps its value.
        let mut late = call(&db);
        assert!(late.create("t/1", b"two".to_vec()).unwrap());
        assert_eq!(
            commit(&db, &mut late).await,
            Err(store::Conflict { key: "t/1".into() })
        );
        assert_eq!(value(&db, "t/1").await, Some(b"one".to_vec()));

        // A key the call has seen hold a value, read or written, is not created again.
        let mut seen = call(&db);
        assert!(seen.get("t/1").await.unwrap().is_some());
        assert!(!seen.create("t/1", b"three".to_vec()).unwrap());
        assert!(seen.create("t/2", b"2".to_vec()).unwrap());
        assert!(!seen.create("t/2", b"again".to_vec()).unwrap());
        assert_eq!(seen.get("t/2").await.unwrap(), Some(b"2".to_vec()));
        // Read as absent, or deleted by the call itself: created as by `set`, under what the
        // call read.
        assert_eq!(seen.get("t/3").await.unwrap(), None);
        assert!(seen.create("t/3", b"3".to_vec()).unwrap());
        seen.delete("t/1").unwrap();
        assert!(seen.create("t/1", b"replaced".to_vec()).unwrap());
        commit(&db, &mut seen).await.unwrap();
        for (key, want) in [("t/1", "replaced"), ("t/2", "2"), ("t/3", "3")] {
            assert_eq!(
                value(&db, key).await,
                Some(want.as_bytes().to_vec()),
                "{key}"
            );
        }

        // Deleted without a read, then created: the call's own delete made room, so the
        // write stands over whatever the key held.
        let mut blind = call(&db);
        blind.delete("t/2").unwrap();
        assert!(blind.create("t/2", b"new".to_vec()).unwrap());
        commit(&db, &mut blind).await.unwrap();
        assert_eq!(value(&db, "t/2").await, Some(b"new".to_vec()));

        // The key's and the value's rules hold as for `set`, and a refusal buffers nothing.
        let mut bad = call(&db);
        assert!(matches!(bad.create("", vec![]), Err(Error::InvalidKey(_))));
        let big = vec![0u8; Limits::default().kv_value_bytes + 1];
        assert!(matches!(
            bad.create("t/9", big),
            Err(Error::ValueTooLarge(_))
        ));
        assert!(bad.take_writes().is_empty());
    }

    #[tokio::test]
    async fn list_merges_buffer_and_pages_with_a_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut kv) = state(&dir).await;
        for k in ["t/1", "t/2", "t/3", "u/1"] {
            kv.set(k, k.as_bytes().to_vec()).unwrap();
        }
        commit(&db, &mut kv).await.unwrap();

        let mut kv = call(&db);
        kv.delete("t/2").unwrap();
        kv.set("t/4", b"new".to_vec()).unwrap();
        let page = kv.list("t/", 2, None, Order::Ascending).await.unwrap();
        let keys: Vec<_> = page.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["t/1", "t/3"]);
        let next = kv
            .list("t/", 2, page.cursor.as_deref(), Order::Ascending)
            .await
            .unwrap();
        let keys: Vec<_> = next.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["t/4"]);
        assert_eq!(next.cursor, None);

        // Newest first: the same merge, the other way, a cursor paging back.
        let page = kv.list("t/", 2, None, Order::Descending).await.unwrap();
        let keys: Vec<_> = page.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["t/4", "t/3"]);
        let next = kv
            .list("t/", 2, page.cursor.as_deref(), Order::Descending)
            .await
            .unwrap();
        let keys: Vec<_> = next.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["t/1"]);
        assert_eq!(next.cursor, None);
    }

    #[tokio::test]
    async fn descending_pages_stop_at_the_database_page_edge() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut kv) = state(&dir).await;
        for k in ["t/1", "t/2", "t/3", "t/4", "t/5"] {
            kv.set(k, k.as_bytes().to_vec()).unwrap();
        }
        commit(&db, &mut kv).await.unwrap();
        // A buffered key below the first database page must wait for its own page.
        let mut kv = call(&db);
        kv.set("t/0", b"new".to_vec()).unwrap();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = kv
                .list("t/", 2, cursor.as_deref(), Order::Descending)
                .await
                .unwrap();
            seen.extend(page.entries.into_iter().map(|e| e.key));
            cursor = page.cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, ["t/5", "t/4", "t/3", "t/2", "t/1", "t/0"]);
    }

    #[tokio::test]
    async fn limits_are_guest_visible_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (_db, mut kv) = state(&dir).await;
        assert!(matches!(kv.set("", vec![]), Err(Error::InvalidKey(_))));
        assert!(matches!(kv.set("a\0b", vec![]), Err(Error::InvalidKey(_))));
        assert!(matches!(
            kv.set(&"k".repeat(MAX_KEY + 1), vec![]),
            Err(Error::InvalidKey(_))
        ));
        let big = vec![0u8; Limits::default().kv_value_bytes + 1];
        assert!(matches!(kv.set("k", big), Err(Error::ValueTooLarge(_))));
    }

    #[tokio::test]
    async fn tenants_do_not_share_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut kv) = state(&dir).await;
        kv.set("secret", b"t1".to_vec()).unwrap();
        commit(&db, &mut kv).await.unwrap();
        let mut other = KvState::new(db.clone(), "t2".into(), "pos".into(), Limits::default());
        assert_eq!(other.get("secret").await.unwrap(), None);
        assert!(
            other
                .list("", 10, None, Order::Ascending)
                .await
                .unwrap()
                .entries
                .is_empty()
        );
    }
}
