#![no_main]
//! Fuzz target `decode`: see `mqttkit_codec::fuzz_targets::decode_target`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mqttkit_codec::fuzz_targets::decode_target(data));
