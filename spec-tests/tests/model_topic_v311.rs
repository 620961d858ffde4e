// inventory: mqtt311
//! Topic statements of MQTT 3.1.1 that the model decides: filter and name
//! syntax as the model's validation reports it (delegated to the codec),
//! and matching by the subscription tree (§4.7).

use mqttkit_codec::topic::TopicCheck;
use mqttkit_codec::ProtocolVersion;
use mqttkit_model::topic::{matches, validate_filter, validate_name, SubscriptionTree};

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

/// The statement a rejected filter cites, `None` when it is accepted.
fn filter_rule(f: &str) -> Option<&'static str> {
    validate_filter(f, V).rule().map(|r| r.statement(V))
}

fn name_rule(n: &str) -> Option<&'static str> {
    validate_name(n).rule().map(|r| r.statement(V))
}

/// Filters of `filters` the tree reports for `name` (sorted), checked
/// against the one-filter matcher.
fn hits(filters: &[&str], name: &str) -> Vec<String> {
    let mut tree = SubscriptionTree::new();
    for (i, f) in filters.iter().enumerate() {
        tree.insert(f, i, ());
    }
    let mut got = Vec::new();
    tree.for_each_match(name, |f, _, _| got.push(f.to_string()));
    got.sort();
    let mut want: Vec<String> = filters
        .iter()
        .filter(|f| matches(f, name))
        .map(|f| f.to_string())
        .collect();
    want.sort();
    assert_eq!(got, want, "tree and matcher disagree on {name:?}");
    got
}

/// MQTT-4.7.1-1: wildcards are allowed in filters and refused in names.
#[test]
fn mqtt_4_7_1_1_wildcards_in_filters_not_in_names() {
    for f in ["#", "+", "a/+/b", "a/#", "+/+"] {
        assert_eq!(filter_rule(f), None, "{f}");
    }
    for n in ["a/+/b", "a/#", "+", "#"] {
        assert!(name_rule(n).is_some(), "name {n} accepted");
        let at = n.find(['+', '#']).unwrap();
        assert!(
            matches!(validate_name(n), TopicCheck::Bad(i, _) if i == at),
            "{n}"
        );
    }
    assert_eq!(name_rule("a/b"), None);
}

/// MQTT-4.7.1-2: `#` fills the last level on its own.
#[test]
fn mqtt_4_7_1_2_multi_level_wildcard_alone_and_last() {
    for f in ["#", "a/#", "/#", "a/b/#"] {
        assert_eq!(filter_rule(f), None, "{f}");
    }
    for f in ["a#", "a/#/b", "#/a", "a/b#", "##"] {
        assert_eq!(filter_rule(f), Some("MQTT-4.7.1-2"), "{f}");
    }
    // Non-normative examples of §4.7.1.2, as the tree matches them.
    let f = ["sport/tennis/player1/#"];
    assert_eq!(hits(&f, "sport/tennis/player1"), f);
    assert_eq!(hits(&f, "sport/tennis/player1/ranking"), f);
    assert_eq!(hits(&f, "sport/tennis/player1/score/wimbledon"), f);
    assert_eq!(hits(&["sport/#"], "sport"), ["sport/#"]);
}

/// MQTT-4.7.1-3: `+` fills a whole level, at any level.
#[test]
fn mqtt_4_7_1_3_single_level_wildcard_fills_its_level() {
    for f in ["+", "+/tennis/#", "sport/+/player1", "sport/+", "/+", "+/"] {
        assert_eq!(filter_rule(f), None, "{f}");
    }
    for f in ["sport+", "a/+b", "a/b+/c", "++"] {
        assert_eq!(filter_rule(f), Some("MQTT-4.7.1-3"), "{f}");
    }
    // Non-normative examples of §4.7.1.3.
    let f = ["sport/tennis/+"];
    assert_eq!(hits(&f, "sport/tennis/player1"), f);
    assert!(hits(&f, "sport/tennis/player1/ranking").is_empty());
    assert_eq!(hits(&["sport/+"], "sport/"), ["sport/+"]);
    assert!(hits(&["sport/+"], "sport").is_empty());
    assert_eq!(hits(&["+/+", "/+", "+"], "/finance"), ["+/+", "/+"]);
}

/// MQTT-4.7.2-1: a filter starting with a wildcard does not match a name
/// starting with `$`.
#[test]
fn mqtt_4_7_2_1_wildcard_first_level_skips_dollar_names() {
    let wild = ["#", "+", "+/monitor/Clients", "+/#", "+/+/+"];
    assert!(hits(&wild, "$SYS/monitor/Clients").is_empty());
    assert!(hits(&wild, "$SYS").is_empty());
    // The same filters match the name without its `$`.
    assert_eq!(
        hits(&wild, "SYS/monitor/Clients"),
        ["#", "+/#", "+/+/+", "+/monitor/Clients"]
    );
    // A filter naming the `$` level matches, wildcards after it too.
    assert_eq!(
        hits(&["$SYS/#", "$SYS/monitor/+"], "$SYS/monitor/Clients"),
        ["$SYS/#", "$SYS/monitor/+"]
    );
    // Only the name's first character counts.
    assert_eq!(hits(&["a/#", "a/+"], "a/$SYS"), ["a/#", "a/+"]);
}

/// MQTT-4.7.3-1: names and filters have at least one character.
#[test]
fn mqtt_4_7_3_1_names_and_filters_not_empty() {
    assert_eq!(filter_rule(""), Some("MQTT-4.7.3-1"));
    assert_eq!(name_rule(""), Some("MQTT-4.7.3-1"));
    assert_eq!(filter_rule("/"), None);
    assert_eq!(name_rule("/"), None);
}

/// MQTT-4.7.3-2: names and filters contain no U+0000.
#[test]
fn mqtt_4_7_3_2_no_null_character() {
    assert_eq!(filter_rule("a/\0/b"), Some("MQTT-4.7.3-2"));
    assert_eq!(filter_rule("\0"), Some("MQTT-4.7.3-2"));
    assert_eq!(name_rule("a\0"), Some("MQTT-4.7.3-2"));
    assert_eq!(name_rule("a\u{1}"), None);
}

/// MQTT-4.7.3-3: names and filters are at most 65,535 bytes of UTF-8.
#[test]
fn mqtt_4_7_3_3_at_most_65535_bytes() {
    let max = "a".repeat(65_535);
    assert_eq!(filter_rule(&max), None);
    assert_eq!(name_rule(&max), None);
    let over = "a".repeat(65_536);
    assert_eq!(filter_rule(&over), Some("MQTT-4.7.3-3"));
    assert_eq!(name_rule(&over), Some("MQTT-4.7.3-3"));
    // Bytes count, not characters: 21,845 three-byte characters fit, one more does not.
    let wide = "\u{20ac}".repeat(21_845);
    assert_eq!(name_rule(&wide), None);
    assert_eq!(name_rule(&(wide + "a")), Some("MQTT-4.7.3-3"));
}

/// MQTT-4.7.3-4: matching compares the characters as they are: no case
/// folding, no Unicode normalisation, no change to separators.
#[test]
fn mqtt_4_7_3_4_matching_without_normalisation() {
    assert!(hits(&["ACCOUNTS"], "Accounts").is_empty());
    assert!(hits(&["Accounts payable"], "Accounts  payable").is_empty());
    // U+00E9 against e + U+0301 (the same text after NFC normalisation).
    assert!(hits(&["caf\u{e9}/+"], "cafe\u{301}/x").is_empty());
    assert_eq!(hits(&["caf\u{e9}/+"], "caf\u{e9}/x"), ["caf\u{e9}/+"]);
    // U+FF0F (fullwidth solidus) is not a level separator.
    assert!(hits(&["a/b"], "a\u{ff0f}b").is_empty());
    assert!(hits(&["a/+"], "a\u{ff0f}b").is_empty());
    assert!(hits(&["a//b"], "a/b").is_empty());
    assert!(hits(&["a/b"], "a/b/").is_empty());
    assert!(hits(&["/a"], "a").is_empty());
}
