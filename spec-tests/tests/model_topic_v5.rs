// inventory: mqtt5
//! Topic statements of MQTT 5.0 that the model decides: filter and name
//! syntax as the model's validation reports it (delegated to the codec),
//! matching by the subscription tree (§4.7) and the shared-subscription
//! form (§4.8.2). The §4.7 checks are shared with 3.1.1
//! (`mqttkit_spec_tests::topic`); this file names the 5.0 ids.

use mqttkit_codec::topic::TopicCheck;
use mqttkit_codec::ProtocolVersion;
use mqttkit_model::topic::{validate_filter, FilterKind};
use mqttkit_spec_tests::topic::Topics;

const T: Topics = Topics(ProtocolVersion::V5);

fn filter_rule(f: &str) -> Option<&'static str> {
    T.filter_rule(f)
}

/// MQTT-4.7.0-1: wildcards are allowed in filters and refused in names.
#[test]
fn mqtt_4_7_0_1_wildcards_in_filters_not_in_names() {
    T.wildcards_in_filters_not_in_names();
}

/// MQTT-4.7.1-1: `#` fills the last level on its own.
#[test]
fn mqtt_4_7_1_1_multi_level_wildcard_alone_and_last() {
    T.multi_level_wildcard_alone_and_last("MQTT-4.7.1-1");
}

/// MQTT-4.7.1-2: `+` fills a whole level, at any level.
#[test]
fn mqtt_4_7_1_2_single_level_wildcard_fills_its_level() {
    T.single_level_wildcard_fills_its_level("MQTT-4.7.1-2");
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

/// MQTT-4.8.2-1: a shared filter is `$share/`, then a ShareName of at
/// least one character.
#[test]
fn mqtt_4_8_2_1_share_name_at_least_one_character() {
    assert_eq!(filter_rule("$share//a"), Some("MQTT-4.8.2-1"));
    assert_eq!(filter_rule("$share//#"), Some("MQTT-4.8.2-1"));
    assert_eq!(filter_rule("$share/g/a"), None);
    assert_eq!(
        FilterKind::parse("$share/g/a"),
        FilterKind::Shared {
            group: "g",
            filter: "a"
        }
    );
    // Without a ShareName the split does not produce a group.
    assert_eq!(
        FilterKind::parse("$share//a"),
        FilterKind::Plain("$share//a")
    );
    // Before 5.0 `$share/` has no meaning: an ordinary filter.
    assert_eq!(
        validate_filter("$share//a", ProtocolVersion::V3_1_1),
        TopicCheck::Ok
    );
}

/// MQTT-4.8.2-2: the ShareName has no `/`, `+` or `#`, and is followed by
/// `/` and a Topic Filter.
#[test]
fn mqtt_4_8_2_2_share_name_then_slash_and_filter() {
    for f in [
        "$share/g+/a",
        "$share/+/a",
        "$share/g#/a",
        "$share/#",
        "$share/g",
        "$share/g/",
    ] {
        assert_eq!(filter_rule(f), Some("MQTT-4.8.2-2"), "{f}");
    }
    // The filter after the ShareName follows the usual rules.
    assert_eq!(filter_rule("$share/g/a#"), Some("MQTT-4.7.1-1"));
    assert_eq!(filter_rule("$share/g/a+"), Some("MQTT-4.7.1-2"));
    // The first `/` ends the ShareName, so it can hold none.
    assert_eq!(filter_rule("$share/g/a/+/#"), None);
    assert_eq!(
        FilterKind::parse("$share/g/a/+/#"),
        FilterKind::Shared {
            group: "g",
            filter: "a/+/#"
        }
    );
}
