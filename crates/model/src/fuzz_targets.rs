//! Functions the fuzz targets in `fuzz/` call, also run over the kept
//! corpus by `cargo test` (tests/fuzz_corpus.rs).

use std::collections::BTreeSet;

use crate::topic::{matches, SubscriptionTree};

/// Characters topic strings are built from: few enough that random filters
/// and names meet, with every character matching cares about.
const ALPHABET: [char; 8] = ['a', 'b', '/', '/', '+', '#', '$', 'é'];

/// Reads a string: a length byte (0..=15 characters), then one byte per
/// character picking from [`ALPHABET`].
fn text(data: &mut &[u8]) -> Option<String> {
    let (&n, rest) = data.split_first()?;
    let n = (n & 0x0f) as usize;
    if rest.len() < n {
        return None;
    }
    let s = rest[..n]
        .iter()
        .map(|&b| ALPHABET[(b & 7) as usize])
        .collect();
    *data = &rest[n..];
    Some(s)
}

/// The subscription tree against the naive list + [`matches`]: the input is
/// a script of inserts, removes and matches on arbitrary (valid or not)
/// filters; after every step `get`, `len` and the set of matches agree,
/// and after removing everything the tree is back to its root node.
pub fn topic_tree_target(mut data: &[u8]) {
    let mut tree: SubscriptionTree<u8, u32> = SubscriptionTree::new();
    let mut naive: Vec<(String, u8, u32)> = Vec::new();
    let mut step = 0u32;
    while let Some((&op, rest)) = data.split_first() {
        data = rest;
        step += 1;
        let key = (op >> 2) & 3;
        match op & 3 {
            0 | 1 => {
                let Some(f) = text(&mut data) else { break };
                let old = tree.insert(&f, key, step);
                let pos = naive.iter().position(|e| e.0 == f && e.1 == key);
                let naive_old = match pos {
                    Some(i) => Some(std::mem::replace(&mut naive[i].2, step)),
                    None => {
                        naive.push((f.clone(), key, step));
                        None
                    }
                };
                assert_eq!(old, naive_old, "insert {f:?} {key}");
            }
            2 => {
                let Some(f) = text(&mut data) else { break };
                let old = tree.remove(&f, &key);
                let pos = naive.iter().position(|e| e.0 == f && e.1 == key);
                let naive_old = pos.map(|i| naive.swap_remove(i).2);
                assert_eq!(old, naive_old, "remove {f:?} {key}");
            }
            _ => {
                let Some(name) = text(&mut data) else { break };
                let mut got = BTreeSet::new();
                tree.for_each_match(&name, |f, k, v| {
                    assert!(got.insert((f.to_string(), *k, *v)), "{f:?} reported twice");
                });
                let want: BTreeSet<_> = naive
                    .iter()
                    .filter(|e| matches(&e.0, &name))
                    .cloned()
                    .collect();
                assert_eq!(got, want, "matches of {name:?}");
            }
        }
        assert_eq!(tree.len(), naive.len());
    }
    for (f, k, v) in &naive {
        assert_eq!(tree.get(f, k), Some(v));
    }
    for (f, k, _) in std::mem::take(&mut naive) {
        assert!(tree.remove(&f, &k).is_some());
    }
    assert!(tree.is_empty());
    assert_eq!(tree.node_count(), 1, "every node pruned but the root");
}
