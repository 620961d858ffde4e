#![no_main]
//! Fuzz target `differential`: see
//! `mqttkit_broker::fuzz_targets::differential_target` (the model in memory
//! against the reference broker on loopback sockets).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mqttkit_broker::fuzz_targets::differential_target(data));
