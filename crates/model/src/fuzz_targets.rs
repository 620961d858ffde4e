//! Functions the fuzz targets in `fuzz/` call, also run over the kept
//! corpus by `cargo test` (tests/fuzz_corpus.rs):
//!
//! - [`topic_tree_target`] (`topic`): the subscription tree against the
//!   naive matcher;
//! - [`model_target`] (`model`): the broker core under the simulation's
//!   invariants ([`crate::sim`]).

use std::collections::BTreeSet;

use crate::sim::{self, ByteChoices, SimConfig};
use crate::topic::{matches, SubscriptionTree};
use mqttkit_codec::ProtocolVersion;

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

/// Steps at most in one [`model_target`] run (keeps each exec short).
pub const MODEL_MAX_STEPS: u64 = 400;

/// Fuzz target `model`: the broker core under [`sim::run`] with the shape
/// of the run and every choice read from `data`.
///
/// Header (8 bytes, missing bytes read as 0): client count `2 + b0 % 5`;
/// b1 bit i: client i speaks 5.0 (else 3.1.1); b2 bit i: client i is
/// clean (else persistent); topics `1 + b3 % 4`; queue limit `1 + b4 % 16`;
/// in-flight window `1 + b5 % 8`; own unacknowledged PUBLISHes
/// `1 + b6 % 8`; b7: the broker's seed. The rest: one step after another
/// (client, action, its arguments), at most [`MODEL_MAX_STEPS`]; the
/// memory limits are checked after every step. Small limits on purpose:
/// queues fill, windows close and drops must be reported. Returns what the
/// run did.
pub fn model_target(data: &[u8]) -> sim::Summary {
    let (head, rest) = data.split_at(data.len().min(8));
    let mut h = [0u8; 8];
    h[..head.len()].copy_from_slice(head);
    let n = 2 + usize::from(h[0] % 5);
    let cfg = SimConfig {
        versions: (0..n)
            .map(|i| {
                if h[1] >> i & 1 == 1 {
                    ProtocolVersion::V5
                } else {
                    ProtocolVersion::V3_1_1
                }
            })
            .collect(),
        persistent: (0..n).map(|i| h[2] >> i & 1 == 0).collect(),
        topics: 1 + usize::from(h[3] % 4),
        max_queued: 1 + usize::from(h[4] % 16),
        max_inflight: 1 + u16::from(h[5] % 8),
        max_publishing: 1 + usize::from(h[6] % 8),
        steps: MODEL_MAX_STEPS,
        check_every: 1,
        seed: u64::from(h[7]),
    };
    sim::run(&cfg, &mut ByteChoices::new(rest), "fuzz")
}
