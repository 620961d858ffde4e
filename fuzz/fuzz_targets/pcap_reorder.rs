#![no_main]
//! Fuzz target `pcap_reorder`: see `mqttkit_pcap::fuzz_targets::pcap_reorder_target`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mqttkit_pcap::fuzz_targets::pcap_reorder_target(data));
