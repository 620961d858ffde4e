// inventory: mqtt311
//! Topic statements of MQTT 3.1.1 that the model decides: filter and name
//! syntax as the model's validation reports it (delegated to the codec),
//! and matching by the subscription tree (§4.7). The checks are shared with
//! 5.0 (`mqttkit_spec_tests::topic`); this file names the 3.1.1 ids.

use mqttkit_codec::ProtocolVersion;
use mqttkit_spec_tests::topic::Topics;

const T: Topics = Topics(ProtocolVersion::V3_1_1);

/// MQTT-4.7.1-1: wildcards are allowed in filters and refused in names.
#[test]
fn mqtt_4_7_1_1_wildcards_in_filters_not_in_names() {
    T.wildcards_in_filters_not_in_names();
}

/// MQTT-4.7.1-2: `#` fills the last level on its own.
#[test]
fn mqtt_4_7_1_2_multi_level_wildcard_alone_and_last() {
    T.multi_level_wildcard_alone_and_last("MQTT-4.7.1-2");
}

/// MQTT-4.7.1-3: `+` fills a whole level, at any level.
#[test]
fn mqtt_4_7_1_3_single_level_wildcard_fills_its_level() {
    T.single_level_wildcard_fills_its_level("MQTT-4.7.1-3");
}

/// MQTT-4.7.2-1: a filter starting with a wildcard does not match a name
/// starting with `$`.
#[test]
fn mqtt_4_7_2_1_wildcard_first_level_skips_dollar_names() {
    T.wildcard_first_level_skips_dollar_names();
}

/// MQTT-4.7.3-1: names and filters have at least one character.
#[test]
fn mqtt_4_7_3_1_names_and_filters_not_empty() {
    T.names_and_filters_not_empty();
}

/// MQTT-4.7.3-2: names and filters contain no U+0000.
#[test]
fn mqtt_4_7_3_2_no_null_character() {
    T.no_null_character();
}

/// MQTT-4.7.3-3: names and filters are at most 65,535 bytes of UTF-8.
#[test]
fn mqtt_4_7_3_3_at_most_65535_bytes() {
    T.at_most_65535_bytes();
}

/// MQTT-4.7.3-4: matching compares the characters as they are: no case
/// folding, no Unicode normalisation, no change to separators.
#[test]
fn mqtt_4_7_3_4_matching_without_normalisation() {
    T.matching_without_normalisation();
}
