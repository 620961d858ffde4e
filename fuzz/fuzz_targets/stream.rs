#![no_main]
//! Fuzz target `stream`: see `mqttkit_codec::fuzz_targets::stream_target`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mqttkit_codec::fuzz_targets::stream_target(data));
