//! The subscription tree: which subscriptions match a topic name.
//!
//! PLACEHOLDER contract (a list scanned in full); being replaced by a tree
//! whose match cost grows with the name's depth, not with the number of
//! subscriptions. The public API below is the contract the rest of the
//! model codes against.

use std::hash::Hash;

/// Subscriptions keyed by (filter, key), each carrying a value.
///
/// `filter` is a plain filter (a shared subscription's `$share/{group}/`
/// prefix is stripped by the caller, who puts the group into `K`). One
/// (filter, key) pair holds one value; inserting again replaces it.
#[derive(Debug, Clone)]
pub struct SubscriptionTree<K, V> {
    entries: Vec<(String, K, V)>,
}

impl<K, V> Default for SubscriptionTree<K, V> {
    fn default() -> Self {
        SubscriptionTree {
            entries: Vec::new(),
        }
    }
}

impl<K: Eq + Hash + Clone, V> SubscriptionTree<K, V> {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the value of (filter, key); returns the old value.
    pub fn insert(&mut self, filter: &str, key: K, value: V) -> Option<V> {
        for e in &mut self.entries {
            if e.0 == filter && e.1 == key {
                return Some(std::mem::replace(&mut e.2, value));
            }
        }
        self.entries.push((filter.to_owned(), key, value));
        None
    }

    /// Removes (filter, key); returns its value if it was there.
    pub fn remove(&mut self, filter: &str, key: &K) -> Option<V> {
        let i = self
            .entries
            .iter()
            .position(|e| e.0 == filter && &e.1 == key)?;
        Some(self.entries.swap_remove(i).2)
    }

    /// The value of (filter, key).
    pub fn get(&self, filter: &str, key: &K) -> Option<&V> {
        self.entries
            .iter()
            .find(|e| e.0 == filter && &e.1 == key)
            .map(|e| &e.2)
    }

    /// Calls `f(filter, key, value)` for every subscription whose filter
    /// matches the topic `name` (order unspecified).
    pub fn for_each_match(&self, name: &str, mut f: impl FnMut(&str, &K, &V)) {
        for (filter, k, v) in &self.entries {
            if super::matches(filter, name) {
                f(filter, k, v);
            }
        }
    }

    /// Number of (filter, key) entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
