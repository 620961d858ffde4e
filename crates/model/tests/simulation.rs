//! Deterministic simulation of the broker core: seeded random clients
//! connect (clean or resuming), subscribe, publish at every QoS, hold back
//! their acknowledgements, disconnect normally or drop, and time advances,
//! for 100k steps per seed. The driver and its invariant checks live in
//! `mqttkit_model::sim` (shared with the `model` fuzz target): no
//! acknowledged QoS 1/2 loss for persistent sessions unless a drop was
//! reported, QoS 2 exactly once, per-publisher per-topic order, no
//! in-flight id collision, memory within the configured limits.
//!
//! Failures print the seed and step; `SIM_SEED` and `SIM_STEPS` re-run a
//! scenario, `SIM_TRACE` prints every step.

use mqttkit_model::sim::{self, Rng, SimConfig};

fn run(seed: u64, steps: u64) {
    let s = sim::run(
        &SimConfig::standard(seed, steps),
        &mut Rng::new(seed),
        &format!("seed {seed}"),
    );
    println!(
        "seed {seed}: {} steps, {} messages owed to persistent sessions ({} checked), {} drops reported",
        s.steps, s.owed, s.checked, s.drops
    );
    assert_eq!(s.steps, steps, "the generator never runs dry");
    assert!(
        s.checked > 100,
        "too few obligations checked ({}): the simulation is not exercising delivery",
        s.checked
    );
}

#[test]
fn random_clients_keep_the_invariants() {
    let steps = std::env::var("SIM_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    match std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => run(seed, steps),
        None => {
            for seed in [1, 2, 3] {
                run(seed, steps);
            }
        }
    }
}

/// The queue limit holds and drops are reported when it bites: a small
/// queue and window make the broker drop, and the run still keeps every
/// invariant (a lost message must be covered by a reported drop).
#[test]
fn small_limits_drop_and_report() {
    let cfg = SimConfig {
        max_queued: 2,
        max_inflight: 2,
        ..SimConfig::standard(7, 20_000)
    };
    let s = sim::run(&cfg, &mut Rng::new(7), "small limits");
    assert!(s.drops > 0, "no drop with a queue of 2: {s:?}");
}
