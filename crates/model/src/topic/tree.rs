//! The subscription tree: which subscriptions match a topic name.
//!
//! # Structure
//!
//! A trie over topic levels. Each node stands for one level of a filter
//! (the text between two `/`); a filter's subscriptions live at the node
//! its last level leads to. A node has three kinds of children:
//!
//! - literal levels, looked up by the level's text: a short vector scanned
//!   in order while a node has at most 8 (most nodes have one: `dev` under
//!   a site, `temp` under a device), a hash map beyond that (a level of
//!   device ids with thousands of children);
//! - one `+` slot;
//! - one `#` slot.
//!
//! The wildcards get slots of their own instead of entries among the
//! literals so that matching reaches them without a lookup, and so that
//! the literal lookup is one probe (or a scan of at most 8 short strings)
//! whatever the fan-out.
//!
//! Matching a name walks the trie level by level. At each node it follows
//! the literal child named by the name's level, the `+` child (any level,
//! the empty one included), and reports everything under the `#` child
//! (the rest of the name, zero levels included, which is how `sport/#`
//! matches `sport`). Every node the walk visits is a prefix of some filter
//! that matches the name's prefix of the same length, so the work is one
//! lookup per level for each such prefix plus one call per match: it grows
//! with the name's depth and with the number of (partly) matching filters,
//! never with the number of subscriptions held. MQTT-4.7.2-1 is the one
//! exception to "a wildcard matches any level": a name starting with `$`
//! is not matched through a `+` or `#` in the first level, so the root's
//! wildcard slots are skipped for such names.
//!
//! Each node that holds subscriptions keeps the filter text once (a
//! `Box<str>`), so reporting a match hands out a borrowed `&str` instead of
//! rebuilding the filter from the path. Several keys on one filter share a
//! node: up to 8 keys in a vector, more in a hash map.
//!
//! # Storage
//!
//! Nodes live in one vector (an arena) and refer to each other by index.
//! This keeps the tree free of recursion everywhere: a valid filter of
//! 65,535 `/` has 65,536 levels, and a recursive walk, drop, clone or
//! debug print of such a chain of boxed nodes would overflow the stack.
//! Matching uses an explicit stack that starts as a fixed array in the
//! call's own frame and only spills to the heap past 32 pending branches
//! (deep names with wildcards all along the way), so the usual match
//! allocates nothing and no state is shared between calls: the tree can
//! be matched from several threads at once, and a callback may match
//! again.
//!
//! `remove` prunes the nodes left with neither subscriptions nor children,
//! bottom-up, and the arena stays dense (a freed slot is filled by the last
//! node, whose parent and children are re-pointed; the vector's capacity
//! is given back when it falls under a quarter used), so the memory held
//! follows the live subscriptions, not the most ever held.
//!
//! # Invalid filters
//!
//! Callers validate filters first. The tree does not panic on any string
//! though, and matches any filter the way [`super::matches`] does: a `+`
//! or `#` that does not fill a level is literal text, and a `#` level that
//! is not the last matches the rest of the name whatever follows it.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

/// Index of a node in the arena. The root is node 0 and is nobody's child,
/// so 0 also serves as "no child" in the wildcard slots.
type NodeId = usize;
const ROOT: NodeId = 0;
const NONE: NodeId = 0;

/// Hash-map builder for literal levels. Levels come from clients, so the
/// hasher is the standard, randomly keyed one.
type Hasher = RandomState;

/// Above this many keys on one filter, the keys move to a hash map.
const FEW: usize = 8;

/// Above this many literal children, a node's children move to a hash map.
const FEW_CHILDREN: usize = 8;

/// Stack entries the match walk keeps in place before spilling to the heap.
const INLINE_FRAMES: usize = 32;

/// Subscriptions keyed by (filter, key), each carrying a value.
///
/// `filter` is a plain filter (a shared subscription's `$share/{group}/`
/// prefix is stripped by the caller, who puts the group into `K`). One
/// (filter, key) pair holds one value; inserting again replaces it.
#[derive(Debug, Clone)]
pub struct SubscriptionTree<K, V> {
    /// The arena; `nodes[ROOT]` always exists.
    nodes: Vec<Node<K, V>>,
    /// Number of (filter, key) entries.
    len: usize,
}

#[derive(Debug, Clone)]
struct Node<K, V> {
    /// The parent (the root's is itself).
    parent: NodeId,
    /// This node's level text when it is a literal child of its parent
    /// (shared with the parent's map key); `None` for `+`, `#` and the root.
    level: Option<Arc<str>>,
    /// Literal children.
    children: Children,
    /// The `+` child, or `NONE`.
    plus: NodeId,
    /// The `#` child, or `NONE`.
    hash: NodeId,
    /// The subscriptions of the filter that ends here.
    subs: Option<Box<Subs<K, V>>>,
}

/// Literal children: a short vector scanned in order while there are few
/// (most nodes have one or two), a hash map beyond that. The map is boxed
/// so that the enum, and every node, stays the size of a `Vec`.
#[derive(Debug, Clone)]
#[allow(clippy::box_collection)]
enum Children {
    Few(Vec<(Arc<str>, NodeId)>),
    Many(Box<HashMap<Arc<str>, NodeId, Hasher>>),
}

impl Default for Children {
    fn default() -> Self {
        Children::Few(Vec::new())
    }
}

impl Children {
    #[inline]
    fn get(&self, level: &str) -> Option<NodeId> {
        match self {
            Children::Few(v) => v.iter().find(|e| &*e.0 == level).map(|e| e.1),
            Children::Many(m) => m.get(level).copied(),
        }
    }

    fn get_mut(&mut self, level: &str) -> Option<&mut NodeId> {
        match self {
            Children::Few(v) => v.iter_mut().find(|e| &*e.0 == level).map(|e| &mut e.1),
            Children::Many(m) => m.get_mut(level),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Children::Few(v) => v.is_empty(),
            Children::Many(m) => m.is_empty(),
        }
    }

    /// Adds a child the caller found missing.
    fn insert(&mut self, level: Arc<str>, id: NodeId) {
        match self {
            Children::Few(v) if v.len() < FEW_CHILDREN => {
                // Grow 1, 2, 4, 8 rather than straight to 4: most nodes
                // keep a single child.
                if v.len() == v.capacity() {
                    v.reserve_exact(v.len().max(1));
                }
                v.push((level, id))
            }
            Children::Few(v) => {
                let mut m: HashMap<Arc<str>, NodeId, Hasher> =
                    HashMap::with_capacity_and_hasher(FEW_CHILDREN * 2, Hasher::default());
                m.extend(v.drain(..));
                m.insert(level, id);
                *self = Children::Many(Box::new(m));
            }
            Children::Many(m) => {
                m.insert(level, id);
            }
        }
    }

    fn remove(&mut self, level: &str) {
        match self {
            Children::Few(v) => {
                if let Some(i) = v.iter().position(|e| &*e.0 == level) {
                    v.swap_remove(i);
                }
            }
            Children::Many(m) => {
                m.remove(level);
                if m.len() <= FEW_CHILDREN / 2 {
                    *self = Children::Few(m.drain().collect());
                } else if m.len() * 4 < m.capacity() {
                    m.shrink_to(m.len() * 2);
                }
            }
        }
    }

    fn for_each_id(&self, mut f: impl FnMut(NodeId)) {
        match self {
            Children::Few(v) => v.iter().for_each(|e| f(e.1)),
            Children::Many(m) => m.values().for_each(|&c| f(c)),
        }
    }
}

#[derive(Debug, Clone)]
struct Subs<K, V> {
    /// The filter, as inserted.
    filter: Box<str>,
    entries: Entries<K, V>,
}

/// The keys of one filter: a short vector, or a boxed map when many.
#[derive(Debug, Clone)]
#[allow(clippy::box_collection)]
enum Entries<K, V> {
    Few(Vec<(K, V)>),
    Many(Box<HashMap<K, V, Hasher>>),
}

impl<K, V> Node<K, V> {
    fn new(parent: NodeId, level: Option<Arc<str>>) -> Self {
        Node {
            parent,
            level,
            children: Children::default(),
            plus: NONE,
            hash: NONE,
            subs: None,
        }
    }

    /// No subscriptions and no children: the node can go.
    fn is_bare(&self) -> bool {
        self.subs.is_none() && self.children.is_empty() && self.plus == NONE && self.hash == NONE
    }

    fn has_children(&self) -> bool {
        !self.children.is_empty() || self.plus != NONE || self.hash != NONE
    }
}

impl<K, V> Entries<K, V> {
    fn len(&self) -> usize {
        match self {
            Entries::Few(v) => v.len(),
            Entries::Many(m) => m.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn for_each(&self, filter: &str, f: &mut impl FnMut(&str, &K, &V)) {
        match self {
            Entries::Few(v) => v.iter().for_each(|(k, v)| f(filter, k, v)),
            Entries::Many(m) => m.iter().for_each(|(k, v)| f(filter, k, v)),
        }
    }
}

impl<K: Eq + Hash, V> Entries<K, V> {
    fn get(&self, key: &K) -> Option<&V> {
        match self {
            Entries::Few(v) => v.iter().find(|e| &e.0 == key).map(|e| &e.1),
            Entries::Many(m) => m.get(key),
        }
    }

    fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self {
            Entries::Few(v) => {
                if let Some(e) = v.iter_mut().find(|e| e.0 == key) {
                    return Some(std::mem::replace(&mut e.1, value));
                }
                if v.len() < FEW {
                    v.push((key, value));
                } else {
                    let mut m: HashMap<K, V, Hasher> =
                        HashMap::with_capacity_and_hasher(FEW * 2, Hasher::default());
                    m.extend(v.drain(..));
                    m.insert(key, value);
                    *self = Entries::Many(Box::new(m));
                }
                None
            }
            Entries::Many(m) => m.insert(key, value),
        }
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        match self {
            Entries::Few(v) => {
                let i = v.iter().position(|e| &e.0 == key)?;
                Some(v.swap_remove(i).1)
            }
            Entries::Many(m) => {
                let old = m.remove(key)?;
                if m.len() <= FEW / 2 {
                    *self = Entries::Few(m.drain().collect());
                } else if m.len() * 4 < m.capacity() {
                    m.shrink_to(m.len() * 2);
                }
                Some(old)
            }
        }
    }
}

/// One pending step of a match walk.
#[derive(Clone, Copy)]
enum Frame<'n> {
    /// Match the rest of the name (`None`: no level left) from this node.
    Match(NodeId, Option<&'n str>),
    /// Report every subscription in this node's subtree (below a `#`).
    All(NodeId),
}

/// A LIFO stack that keeps its first entries in place and only allocates
/// when it grows beyond them (names deeper than `INLINE_FRAMES` levels
/// with wildcards along the way).
struct Stack<'n> {
    inline: [Frame<'n>; INLINE_FRAMES],
    len: usize,
    spill: Vec<Frame<'n>>,
}

impl<'n> Stack<'n> {
    fn new() -> Self {
        Stack {
            inline: [Frame::All(NONE); INLINE_FRAMES],
            len: 0,
            spill: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, f: Frame<'n>) {
        if self.len < INLINE_FRAMES {
            self.inline[self.len] = f;
            self.len += 1;
        } else {
            self.spill.push(f);
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<Frame<'n>> {
        if let Some(f) = self.spill.pop() {
            return Some(f);
        }
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        Some(self.inline[self.len])
    }
}

/// Splits off the first level of `rest`: the level and what follows the
/// `/` (`None` when it was the last level).
#[inline]
fn split_level(rest: &str) -> (&str, Option<&str>) {
    match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    }
}

impl<K, V> Default for SubscriptionTree<K, V> {
    fn default() -> Self {
        SubscriptionTree {
            nodes: vec![Node::new(ROOT, None)],
            len: 0,
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
        let mut node = ROOT;
        for level in filter.split('/') {
            node = self.child_or_new(node, level);
        }
        let subs = self.nodes[node].subs.get_or_insert_with(|| {
            Box::new(Subs {
                filter: filter.into(),
                entries: Entries::Few(Vec::with_capacity(1)),
            })
        });
        let old = subs.entries.insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes (filter, key); returns its value if it was there.
    pub fn remove(&mut self, filter: &str, key: &K) -> Option<V> {
        let node = self.find(filter)?;
        let subs = self.nodes[node].subs.as_mut()?;
        let old = subs.entries.remove(key)?;
        self.len -= 1;
        if subs.entries.is_empty() {
            self.nodes[node].subs = None;
            self.prune(node, filter);
        }
        Some(old)
    }

    /// The value of (filter, key).
    pub fn get(&self, filter: &str, key: &K) -> Option<&V> {
        let node = self.find(filter)?;
        self.nodes[node].subs.as_ref()?.entries.get(key)
    }

    /// Calls `f(filter, key, value)` for every subscription whose filter
    /// matches the topic `name` (order unspecified).
    pub fn for_each_match(&self, name: &str, mut f: impl FnMut(&str, &K, &V)) {
        if self.len == 0 {
            return;
        }
        // MQTT-4.7.2-1: no wildcard in the first level matches a `$` name.
        let dollar = name.starts_with('$');
        let mut stack = Stack::new();
        stack.push(Frame::Match(ROOT, Some(name)));
        while let Some(frame) = stack.pop() {
            match frame {
                Frame::Match(id, rest) => {
                    let node = &self.nodes[id];
                    let wild = !(dollar && id == ROOT);
                    if wild && node.hash != NONE {
                        // `#` takes the rest of the name, zero levels too.
                        let h = &self.nodes[node.hash];
                        if let Some(s) = &h.subs {
                            s.entries.for_each(&s.filter, &mut f);
                        }
                        if h.has_children() {
                            // Only invalid filters put levels after `#`.
                            self.push_children(h, &mut stack);
                        }
                    }
                    match rest {
                        None => {
                            if let Some(s) = &node.subs {
                                s.entries.for_each(&s.filter, &mut f);
                            }
                        }
                        Some(rest) => {
                            let (level, tail) = split_level(rest);
                            if wild && node.plus != NONE {
                                stack.push(Frame::Match(node.plus, tail));
                            }
                            if let Some(c) = node.children.get(level) {
                                stack.push(Frame::Match(c, tail));
                            }
                        }
                    }
                }
                Frame::All(id) => {
                    let node = &self.nodes[id];
                    if let Some(s) = &node.subs {
                        s.entries.for_each(&s.filter, &mut f);
                    }
                    self.push_children(node, &mut stack);
                }
            }
        }
    }

    /// Number of (filter, key) entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of trie nodes, the root included (an empty tree has one).
    /// Every node other than the root lies on the path of a live filter,
    /// so this is at most one plus the total number of levels of the
    /// filters held.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Calls `f(filter, key, value)` for every subscription (order
    /// unspecified).
    pub fn for_each(&self, mut f: impl FnMut(&str, &K, &V)) {
        for node in &self.nodes {
            if let Some(s) = &node.subs {
                s.entries.for_each(&s.filter, &mut f);
            }
        }
    }

    /// Removes every subscription.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    fn push_children<'n>(&self, node: &Node<K, V>, stack: &mut Stack<'n>) {
        node.children.for_each_id(|c| stack.push(Frame::All(c)));
        if node.plus != NONE {
            stack.push(Frame::All(node.plus));
        }
        if node.hash != NONE {
            stack.push(Frame::All(node.hash));
        }
    }

    /// The node a filter's last level leads to, if the path exists.
    fn find(&self, filter: &str) -> Option<NodeId> {
        let mut node = ROOT;
        for level in filter.split('/') {
            let n = &self.nodes[node];
            node = match level {
                "+" => n.plus,
                "#" => n.hash,
                _ => n.children.get(level).unwrap_or(NONE),
            };
            if node == NONE {
                return None;
            }
        }
        Some(node)
    }

    /// The child of `parent` for `level`, created if missing.
    fn child_or_new(&mut self, parent: NodeId, level: &str) -> NodeId {
        let next = self.nodes.len();
        let p = &mut self.nodes[parent];
        let (id, created) = match level {
            "+" if p.plus != NONE => (p.plus, None),
            "+" => {
                p.plus = next;
                (next, Some(Node::new(parent, None)))
            }
            "#" if p.hash != NONE => (p.hash, None),
            "#" => {
                p.hash = next;
                (next, Some(Node::new(parent, None)))
            }
            _ => match p.children.get(level) {
                Some(c) => (c, None),
                None => {
                    let key: Arc<str> = Arc::from(level);
                    p.children.insert(key.clone(), next);
                    (next, Some(Node::new(parent, Some(key))))
                }
            },
        };
        if let Some(n) = created {
            self.nodes.push(n);
        }
        id
    }

    /// Removes bare nodes from `node` (the end of `filter`) upwards.
    fn prune(&mut self, mut node: NodeId, filter: &str) {
        // The path's nodes, bottom-up, are the filter's levels read
        // backwards; the root has no level of its own.
        for level in filter.rsplit('/') {
            if node == ROOT || !self.nodes[node].is_bare() {
                break;
            }
            let mut parent = self.nodes[node].parent;
            {
                let p = &mut self.nodes[parent];
                match level {
                    "+" if p.plus == node => p.plus = NONE,
                    "#" if p.hash == node => p.hash = NONE,
                    _ => {
                        p.children.remove(level);
                    }
                }
            }
            let last = self.nodes.len() - 1;
            self.free(node);
            if parent == last {
                // The parent was the last node and now sits in the freed slot.
                parent = node;
            }
            node = parent;
        }
        if self.nodes.capacity() > 64 && self.nodes.len() * 4 < self.nodes.capacity() {
            self.nodes.shrink_to(self.nodes.len() * 2);
        }
    }

    /// Drops a detached, bare node and fills its slot with the last node,
    /// re-pointing that node's parent and children.
    fn free(&mut self, id: NodeId) {
        let last = self.nodes.len() - 1;
        self.nodes.swap_remove(id);
        if id == last {
            return;
        }
        // The node that was at `last` is now at `id`.
        let parent = self.nodes[id].parent;
        let level = self.nodes[id].level.clone();
        let p = &mut self.nodes[parent];
        if p.plus == last {
            p.plus = id;
        } else if p.hash == last {
            p.hash = id;
        } else if let Some(slot) = level.as_deref().and_then(|l| p.children.get_mut(l)) {
            *slot = id;
        }
        let children = std::mem::take(&mut self.nodes[id].children);
        children.for_each_id(|c| self.nodes[c].parent = id);
        self.nodes[id].children = children;
        for c in [self.nodes[id].plus, self.nodes[id].hash] {
            if c != NONE {
                self.nodes[c].parent = id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(t: &SubscriptionTree<u32, u32>, name: &str) -> Vec<(String, u32)> {
        let mut v = Vec::new();
        t.for_each_match(name, |f, k, _| v.push((f.to_string(), *k)));
        v.sort();
        v
    }

    fn tree(filters: &[&str]) -> SubscriptionTree<u32, u32> {
        let mut t = SubscriptionTree::new();
        for (i, f) in filters.iter().enumerate() {
            t.insert(f, i as u32, 0);
        }
        t
    }

    fn hits(filters: &[&str], name: &str) -> Vec<String> {
        let mut v: Vec<String> = matched(&tree(filters), name)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        v.dedup();
        v
    }

    #[test]
    fn multi_level_wildcard_examples() {
        // §4.7.1.2
        let f = ["sport/tennis/player1/#"];
        for name in [
            "sport/tennis/player1",
            "sport/tennis/player1/ranking",
            "sport/tennis/player1/score/wimbledon",
        ] {
            assert_eq!(hits(&f, name), ["sport/tennis/player1/#"], "{name}");
        }
        assert!(hits(&f, "sport/tennis/player2").is_empty());
        assert!(hits(&f, "sport/tennis").is_empty());
        assert_eq!(hits(&["sport/#"], "sport"), ["sport/#"]);
        assert_eq!(hits(&["#"], "sport/tennis"), ["#"]);
        assert_eq!(hits(&["#"], "/"), ["#"]);
    }

    #[test]
    fn single_level_wildcard_examples() {
        // §4.7.1.3
        let f = ["sport/tennis/+"];
        assert_eq!(hits(&f, "sport/tennis/player1"), f);
        assert_eq!(hits(&f, "sport/tennis/player2"), f);
        assert!(hits(&f, "sport/tennis/player1/ranking").is_empty());
        assert_eq!(hits(&["sport/+"], "sport/"), ["sport/+"]);
        assert!(hits(&["sport/+"], "sport").is_empty());
        assert_eq!(hits(&["+"], "sport"), ["+"]);
        assert_eq!(hits(&["+"], ""), ["+"]);
        assert_eq!(hits(&["+/+"], "/finance"), ["+/+"]);
        assert_eq!(hits(&["/+"], "/finance"), ["/+"]);
        assert!(hits(&["+"], "/finance").is_empty());
        assert_eq!(hits(&["+/tennis/#"], "sport/tennis"), ["+/tennis/#"]);
    }

    #[test]
    fn dollar_names_examples() {
        // §4.7.2
        assert!(hits(&["#"], "$SYS/monitor/Clients").is_empty());
        assert!(hits(&["+/monitor/Clients"], "$SYS/monitor/Clients").is_empty());
        assert!(hits(&["+"], "$SYS").is_empty());
        assert_eq!(hits(&["$SYS/#"], "$SYS/monitor/Clients"), ["$SYS/#"]);
        assert_eq!(hits(&["$SYS/#"], "$SYS"), ["$SYS/#"]);
        assert_eq!(
            hits(&["$SYS/monitor/+"], "$SYS/monitor/Clients"),
            ["$SYS/monitor/+"]
        );
        // Only the first level is special.
        assert_eq!(hits(&["a/+"], "a/$b"), ["a/+"]);
        assert_eq!(hits(&["a/#"], "a/$b"), ["a/#"]);
    }

    #[test]
    fn no_normalisation() {
        assert!(hits(&["Sport"], "sport").is_empty());
        assert!(hits(&["sport"], "sport/").is_empty());
        assert!(hits(&["sport/"], "sport").is_empty());
        assert!(hits(&["a//b"], "a/b").is_empty());
        assert_eq!(hits(&["a//b"], "a//b"), ["a//b"]);
        assert!(hits(&["caf\u{e9}"], "cafe\u{301}").is_empty());
    }

    #[test]
    fn insert_replace_remove() {
        let mut t: SubscriptionTree<&str, u8> = SubscriptionTree::new();
        assert!(t.is_empty());
        assert_eq!(t.insert("a/b", "c1", 1), None);
        assert_eq!(t.insert("a/b", "c1", 2), Some(1));
        assert_eq!(t.len(), 1);
        assert_eq!(t.get("a/b", &"c1"), Some(&2));
        assert_eq!(t.get("a/b", &"c2"), None);
        assert_eq!(t.get("a", &"c1"), None);
        assert_eq!(t.get("a/b/c", &"c1"), None);
        assert_eq!(t.remove("a/b", &"c2"), None);
        assert_eq!(t.remove("a", &"c1"), None);
        assert_eq!(t.remove("a/b", &"c1"), Some(2));
        assert_eq!(t.remove("a/b", &"c1"), None);
        assert!(t.is_empty());
        assert_eq!(t.node_count(), 1);
    }

    #[test]
    fn several_keys_on_one_filter() {
        let mut t: SubscriptionTree<u32, u32> = SubscriptionTree::new();
        for k in 0..40 {
            assert_eq!(t.insert("a/+", k, k * 10), None);
        }
        assert_eq!(t.len(), 40);
        let m = matched(&t, "a/x");
        assert_eq!(m.len(), 40);
        assert!(m.iter().all(|(f, _)| f == "a/+"));
        for k in 0..40 {
            assert_eq!(t.get("a/+", &k), Some(&(k * 10)));
        }
        for k in 0..39 {
            assert_eq!(t.remove("a/+", &k), Some(k * 10));
        }
        assert_eq!(matched(&t, "a/x"), [("a/+".to_string(), 39)]);
        assert_eq!(t.remove("a/+", &39), Some(390));
        assert_eq!(t.node_count(), 1);
    }

    #[test]
    fn overlapping_filters_each_reported_once() {
        let filters = [
            "a/b/c", "a/b/+", "a/+/c", "+/b/c", "a/#", "a/b/#", "a/b/c/#", "#", "+/+/+", "a/b",
        ];
        let t = tree(&filters);
        let m = matched(&t, "a/b/c");
        let mut want: Vec<(String, u32)> = filters
            .iter()
            .enumerate()
            .filter(|(_, f)| super::super::matches(f, "a/b/c"))
            .map(|(i, f)| (f.to_string(), i as u32))
            .collect();
        want.sort();
        assert_eq!(m, want);
        assert_eq!(m.len(), 9);
    }

    #[test]
    fn prunes_to_live_paths() {
        let mut t: SubscriptionTree<u32, ()> = SubscriptionTree::new();
        t.insert("a/b/c", 1, ());
        t.insert("a/b/d", 1, ());
        t.insert("a/+/#", 1, ());
        t.insert("x", 1, ());
        // root, a, b, c, d, +, #, x
        assert_eq!(t.node_count(), 8);
        t.remove("a/b/c", &1);
        assert_eq!(t.node_count(), 7);
        t.remove("a/+/#", &1);
        assert_eq!(t.node_count(), 5);
        t.remove("x", &1);
        assert_eq!(t.node_count(), 4);
        assert!(t.get("a/b/d", &1).is_some());
        t.remove("a/b/d", &1);
        assert_eq!(t.node_count(), 1);
        // A filter that is a prefix of another keeps the shared path.
        t.insert("a/b", 1, ());
        t.insert("a/b/c", 1, ());
        t.remove("a/b", &1);
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.get("a/b/c", &1), Some(&()));
    }

    #[test]
    fn memory_follows_live_subscriptions() {
        let mut t: SubscriptionTree<u32, ()> = SubscriptionTree::new();
        for n in 0..5000u32 {
            t.insert(&format!("s/{}/d/{n}/+", n % 50), n, ());
        }
        let full = t.node_count();
        for n in 0..5000u32 {
            if n % 10 != 0 {
                assert_eq!(t.remove(&format!("s/{}/d/{n}/+", n % 50), &n), Some(()));
            }
        }
        // 500 left (n a multiple of 10, so n % 50 takes 5 values): root,
        // s, 5 site nodes, 5 `d`, 500 `n`, 500 `+`.
        assert_eq!(t.node_count(), 1 + 1 + 5 + 5 + 500 + 500);
        assert!(t.node_count() < full / 5);
        assert!(t.nodes.capacity() <= 4 * t.node_count());
        for n in (0..5000u32).step_by(10) {
            let name = format!("s/{}/d/{n}/t", n % 50);
            let mut got = Vec::new();
            t.for_each_match(&name, |_, k, _| got.push(*k));
            assert_eq!(got, [n]);
        }
    }

    #[test]
    fn deep_filters_do_not_overflow() {
        let deep = "/".repeat(65_535);
        let mut t: SubscriptionTree<u8, ()> = SubscriptionTree::new();
        t.insert(&deep, 1, ());
        let plus = "+/".repeat(20_000) + "#";
        t.insert(&plus, 2, ());
        let mut got = Vec::new();
        t.for_each_match(&deep, |_, k, _| got.push(*k));
        got.sort();
        assert_eq!(got, [1, 2]);
        let c = t.clone();
        assert_eq!(c.len(), 2);
        drop(c);
        assert_eq!(t.remove(&deep, &1), Some(()));
        assert_eq!(t.remove(&plus, &2), Some(()));
        assert_eq!(t.node_count(), 1);
    }

    /// More pending branches than the in-place stack holds.
    #[test]
    fn match_stack_spills() {
        let mut filters: Vec<String> = (0..60).map(|k| "a/".repeat(k) + "+").collect();
        filters.push(["a"; 60].join("/"));
        // Invalid: levels after `#`, reported whole.
        filters.extend((0..50).map(|i| format!("a/#/x{i}")));
        let refs: Vec<&str> = filters.iter().map(|f| f.as_str()).collect();
        for depth in [1, 33, 40, 60, 61] {
            let name = ["a"; 61][..depth].join("/");
            let want: Vec<String> = refs
                .iter()
                .filter(|f| super::super::matches(f, &name))
                .map(|f| f.to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            assert!(want.len() >= 50, "{depth}: {}", want.len());
            assert_eq!(hits(&refs, &name), want, "depth {depth}");
        }
    }

    #[test]
    fn shared_between_threads_and_reentrant() {
        fn sync_send<T: Sync + Send>(_: &T) {}
        let t = tree(&["a/+", "a/#", "+/b"]);
        sync_send(&t);
        let mut inner = 0;
        t.for_each_match("a/b", |_, _, _| {
            t.for_each_match("a/b", |_, _, _| inner += 1);
        });
        assert_eq!(inner, 9);
        std::thread::scope(|s| {
            let h = s.spawn(|| matched(&t, "a/b").len());
            assert_eq!(matched(&t, "a/b").len(), 3);
            assert_eq!(h.join().ok(), Some(3));
        });
    }

    #[test]
    fn invalid_filters_follow_the_naive_matcher() {
        let filters = ["a/#/b", "a+", "#/x", "a/b#", "+a/b", ""];
        for name in ["a", "a/b", "a+", "x", "$x", "", "a/#/b", "+a/b", "a/b#"] {
            let want: Vec<String> = filters
                .iter()
                .filter(|f| super::super::matches(f, name))
                .map(|f| f.to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            assert_eq!(hits(&filters, name), want, "{name}");
        }
    }
}
