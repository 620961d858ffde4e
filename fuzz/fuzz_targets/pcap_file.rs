#![no_main]
//! Fuzz target `pcap_file`: see `mqttkit_pcap::fuzz_targets::pcap_file_target`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mqttkit_pcap::fuzz_targets::pcap_file_target(data));
