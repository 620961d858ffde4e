#![no_main]
//! Fuzz target `model`: see `mqttkit_model::fuzz_targets::model_target`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mqttkit_model::fuzz_targets::model_target(data);
});
