//! Subscription matching: the trie against the naive list, one run.
//!
//! One million subscriptions: about 80% exact filters
//! (`site/{n % 1000}/dev/{n}/temp`), 15% with a `+` at a random level and
//! 5% ending in `#`. Each name is matched by the tree and by a scan of a
//! `Vec` with `topic::matches`; insert and remove are timed on the full
//! tree.
//!
//! `cargo bench -p mqttkit-model --bench topic -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mqttkit_model::topic::{matches, SubscriptionTree};

const SUBSCRIPTIONS: u32 = 1_000_000;
const SITES: u32 = 1000;

/// xorshift32: a fixed, repeatable mix without a dependency.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// The filter of subscription `n`.
fn filter(n: u32, rng: &mut Rng) -> String {
    let site = n % SITES;
    let pick = rng.next() % 100;
    if pick < 80 {
        format!("site/{site}/dev/{n}/temp")
    } else if pick < 95 {
        let mut levels = [
            "site".to_string(),
            site.to_string(),
            "dev".to_string(),
            n.to_string(),
            "temp".to_string(),
        ];
        levels[(rng.next() % 5) as usize] = "+".to_string();
        levels.join("/")
    } else if rng.next() & 1 == 0 {
        format!("site/{site}/#")
    } else {
        format!("site/{site}/dev/{n}/#")
    }
}

type List = Vec<(String, u32)>;

/// Resident memory of this process in KiB (Linux), for a rough size.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn build() -> (SubscriptionTree<u32, u32>, List) {
    let mut rng = Rng(0x9e37_79b9);
    let list: List = (0..SUBSCRIPTIONS)
        .map(|n| (filter(n, &mut rng), n))
        .collect();
    let before = rss_kib();
    let start = Instant::now();
    let mut tree = SubscriptionTree::new();
    for (f, n) in &list {
        tree.insert(f, *n, *n);
    }
    let took = start.elapsed();
    let grew = match (before, rss_kib()) {
        (Some(a), Some(b)) => format!("{} MiB", b.saturating_sub(a) / 1024),
        _ => "?".into(),
    };
    eprintln!(
        "built {} subscriptions ({} trie nodes) in {took:.2?}; resident memory grew by {grew}",
        tree.len(),
        tree.node_count(),
    );
    (tree, list)
}

fn tree_count(tree: &SubscriptionTree<u32, u32>, name: &str) -> usize {
    let mut n = 0usize;
    tree.for_each_match(name, |f, k, v| {
        black_box((f, k, v));
        n += 1;
    });
    n
}

fn list_count(list: &List, name: &str) -> usize {
    let mut n = 0usize;
    for (f, k) in list {
        if matches(f, name) {
            black_box((f, k));
            n += 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let (mut tree, list) = build();
    let names = [
        ("many", "site/7/dev/1007/temp"),
        ("few", "site/7/dev/1007/humidity"),
        ("none", "plant/42/dev/1/temp"),
        ("dollar", "$SYS/broker/load"),
    ];
    for (label, name) in names {
        let t = tree_count(&tree, name);
        let l = list_count(&list, name);
        assert_eq!(t, l, "{name}: tree and list disagree");
        eprintln!("{label}: {name:?} matches {t} subscriptions");
    }

    let mut g = c.benchmark_group("match/tree");
    for (label, name) in names {
        g.bench_function(label, |b| b.iter(|| tree_count(&tree, black_box(name))));
    }
    g.finish();

    let mut g = c.benchmark_group("match/naive");
    g.sample_size(10);
    for (label, name) in names {
        g.bench_function(label, |b| b.iter(|| list_count(&list, black_box(name))));
    }
    g.finish();

    let mut g = c.benchmark_group("update");
    // A device not yet in the tree: two new nodes, then pruned again.
    g.bench_function("insert+remove new filter", |b| {
        b.iter(|| {
            tree.insert(black_box("site/7/dev/2000000/temp"), 1, 1);
            tree.remove(black_box("site/7/dev/2000000/temp"), &1)
        })
    });
    // A second key on an existing filter.
    g.bench_function("insert+remove existing filter", |b| {
        b.iter(|| {
            tree.insert(black_box("site/7/dev/1007/temp"), u32::MAX, 1);
            tree.remove(black_box("site/7/dev/1007/temp"), &u32::MAX)
        })
    });
    g.bench_function("insert replace", |b| {
        b.iter(|| tree.insert(black_box("site/7/dev/1007/temp"), 1007, 5))
    });
    g.finish();
    assert_eq!(tree.len(), SUBSCRIPTIONS as usize);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
