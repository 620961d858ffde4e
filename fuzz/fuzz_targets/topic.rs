#![no_main]
//! Fuzz target `topic`: see `mqttkit_model::fuzz_targets::topic_tree_target`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mqttkit_model::fuzz_targets::topic_tree_target(data));
