//! The subscription tree against the naive model: a list of
//! (filter, key, value) scanned with `topic::matches`.

use std::collections::{BTreeMap, BTreeSet};

use mqttkit_model::topic::{matches, SubscriptionTree};
use proptest::prelude::*;

/// The levels names and filters are made of: few enough that random
/// filters and names meet often.
const LEVELS: [&str; 4] = ["a", "b", "", "$x"];

fn name() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(prop::sample::select(&LEVELS[..]), 1..5).prop_map(|l| l.join("/"))
}

/// A valid filter: levels from `LEVELS` or `+`, possibly ending in `#`.
fn filter() -> impl Strategy<Value = String> + Clone {
    let level = prop::sample::select(vec!["a", "b", "", "$x", "+"]);
    (prop::collection::vec(level, 0..5), any::<bool>()).prop_map(|(mut l, hash)| {
        if hash || l.is_empty() {
            l.push("#");
        }
        l.join("/")
    })
}

/// Any string over the characters that matter to matching, valid or not.
fn any_text() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(prop::sample::select(vec!['a', '/', '+', '#', '$']), 0..8)
        .prop_map(|c| c.into_iter().collect())
}

#[derive(Debug, Clone)]
enum Op {
    Insert(String, u8, u32),
    Remove(String, u8),
}

fn ops(filter: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = Vec<Op>> {
    ops_with(filter, 4, 60)
}

fn ops_with(
    filter: impl Strategy<Value = String> + Clone,
    keys: u8,
    n: usize,
) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => (filter.clone(), 0..keys, any::<u32>()).prop_map(|(f, k, v)| Op::Insert(f, k, v)),
        2 => (filter, 0..keys).prop_map(|(f, k)| Op::Remove(f, k)),
    ];
    prop::collection::vec(op, 0..n)
}

/// Two or three levels out of many, so that nodes gain and lose enough
/// children (and filters enough keys) to change representation.
fn wide_level() -> impl Strategy<Value = String> + Clone {
    (0u8..24).prop_map(|i| format!("l{i}"))
}

fn wide_filter() -> impl Strategy<Value = String> + Clone {
    let level = prop_oneof![6 => wide_level(), 1 => Just("+".to_string())];
    (prop::collection::vec(level, 1..3), any::<bool>()).prop_map(|(mut l, hash)| {
        if hash {
            l.push("#".to_string());
        }
        l.join("/")
    })
}

fn wide_name() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(wide_level(), 1..4).prop_map(|l| l.join("/"))
}

type Model = BTreeMap<(String, u8), u32>;

/// Applies `ops` to both, checking each return value and the size.
fn apply(tree: &mut SubscriptionTree<u8, u32>, model: &mut Model, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Insert(f, k, v) => {
                assert_eq!(
                    tree.insert(f, *k, *v),
                    model.insert((f.clone(), *k), *v),
                    "{op:?}"
                );
            }
            Op::Remove(f, k) => {
                assert_eq!(tree.remove(f, k), model.remove(&(f.clone(), *k)), "{op:?}");
            }
        }
        assert_eq!(tree.len(), model.len());
        assert_eq!(tree.is_empty(), model.is_empty());
    }
}

/// The (filter, key, value) triples matching `name`, sorted, both ways.
fn both(
    tree: &SubscriptionTree<u8, u32>,
    model: &Model,
    name: &str,
) -> [Vec<(String, u8, u32)>; 2] {
    let mut got = Vec::new();
    tree.for_each_match(name, |f, k, v| got.push((f.to_string(), *k, *v)));
    got.sort();
    let want: Vec<(String, u8, u32)> = model
        .iter()
        .filter(|((f, _), _)| matches(f, name))
        .map(|((f, k), v)| (f.clone(), *k, *v))
        .collect();
    [got, want]
}

/// Every node but the root lies on a live filter's path.
fn node_bound(model: &Model) -> usize {
    let filters: BTreeSet<&str> = model.keys().map(|(f, _)| f.as_str()).collect();
    1 + filters.iter().map(|f| f.split('/').count()).sum::<usize>()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tree_matches_like_the_naive_list(
        ops in ops(filter()),
        names in prop::collection::vec(name(), 1..12),
    ) {
        let mut tree = SubscriptionTree::new();
        let mut model = Model::new();
        apply(&mut tree, &mut model, &ops);
        for n in &names {
            let [got, want] = both(&tree, &model, n);
            prop_assert_eq!(got, want, "name {:?}", n);
        }
        for ((f, k), v) in &model {
            prop_assert_eq!(tree.get(f, k), Some(v));
        }
        prop_assert!(tree.node_count() <= node_bound(&model));
        // Emptying the tree leaves the root alone.
        let keys: Vec<(String, u8)> = model.keys().cloned().collect();
        for (f, k) in keys {
            prop_assert_eq!(tree.remove(&f, &k), model.remove(&(f.clone(), k)));
        }
        prop_assert!(tree.is_empty());
        prop_assert_eq!(tree.node_count(), 1);
    }

    #[test]
    fn clone_is_independent(ops in ops(filter()), more in ops(filter()), n in name()) {
        let mut tree = SubscriptionTree::new();
        let mut model = Model::new();
        apply(&mut tree, &mut model, &ops);
        let copy = tree.clone();
        let copy_model = model.clone();
        apply(&mut tree, &mut model, &more);
        let [got, want] = both(&copy, &copy_model, &n);
        prop_assert_eq!(got, want);
        let [got, want] = both(&tree, &model, &n);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn wide_nodes_and_many_keys(
        ops in ops_with(
            prop_oneof![
                2 => wide_filter(),
                1 => prop::sample::select(vec!["l0", "l1/+", "#"]).prop_map(String::from),
            ],
            24,
            400,
        ),
        names in prop::collection::vec(wide_name(), 1..8),
        order in any::<prop::sample::Index>(),
    ) {
        let mut tree = SubscriptionTree::new();
        let mut model = Model::new();
        apply(&mut tree, &mut model, &ops);
        for n in &names {
            let [got, want] = both(&tree, &model, n);
            prop_assert_eq!(got, want, "name {:?}", n);
        }
        // Empty it again, from a random starting point, checking on the way
        // down (nodes and filters go back to their small forms).
        let mut keys: Vec<(String, u8)> = model.keys().cloned().collect();
        if !keys.is_empty() {
            let at = order.index(keys.len());
            keys.rotate_left(at);
        }
        for (i, (f, k)) in keys.iter().enumerate() {
            prop_assert_eq!(tree.remove(f, k), model.remove(&(f.clone(), *k)));
            if i % 8 == 0 {
                for ((f, k), v) in &model {
                    prop_assert_eq!(tree.get(f, k), Some(v));
                }
                for n in &names {
                    let [got, want] = both(&tree, &model, n);
                    prop_assert_eq!(got, want, "name {:?}", n);
                }
                prop_assert!(tree.node_count() <= node_bound(&model));
            }
        }
        prop_assert_eq!(tree.node_count(), 1);
    }

    /// Invalid filters and names: no panic, and still the naive answer.
    #[test]
    fn any_string_is_safe(ops in ops(any_text()), names in prop::collection::vec(any_text(), 1..8)) {
        let mut tree = SubscriptionTree::new();
        let mut model = Model::new();
        apply(&mut tree, &mut model, &ops);
        for n in &names {
            let [got, want] = both(&tree, &model, n);
            prop_assert_eq!(got, want, "name {:?}", n);
        }
        prop_assert!(tree.node_count() <= node_bound(&model));
    }
}
