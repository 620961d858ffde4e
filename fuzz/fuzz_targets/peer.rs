#![no_main]
//! Fuzz target `peer`: see `mqttkit_peer_diff::peer_target` (mqttkit's
//! codec against mqttbytes 0.6 on packets both accept).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mqttkit_peer_diff::peer_target(data));
