#![no_main]
//! Fuzz target `agree`: see `mqttkit_codec::fuzz_targets::agree_target`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mqttkit_codec::fuzz_targets::agree_target(data));
