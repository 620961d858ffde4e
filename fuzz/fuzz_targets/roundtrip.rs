#![no_main]
//! Fuzz target `roundtrip`: see `mqttkit_codec::fuzz_targets::roundtrip_target`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mqttkit_codec::fuzz_targets::roundtrip_target(data));
