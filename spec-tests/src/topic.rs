//! The topic checks of §4.7 shared by the 3.1.1 and 5.0 statement tests
//! (`tests/model_topic_v311.rs`, `tests/model_topic_v5.rs`). The rules are
//! the same in both versions; only some statement ids differ, so the checks
//! that cite one take it as an argument and each test file names its own.

use mqttkit_codec::topic::TopicCheck;
use mqttkit_codec::ProtocolVersion;
use mqttkit_model::topic::{matches, validate_filter, validate_name, SubscriptionTree};

/// Topic checks under one protocol version.
#[derive(Clone, Copy, Debug)]
pub struct Topics(pub ProtocolVersion);

impl Topics {
    /// The statement a rejected filter cites, `None` when it is accepted.
    pub fn filter_rule(self, f: &str) -> Option<&'static str> {
        validate_filter(f, self.0)
            .rule()
            .map(|r| r.statement(self.0))
    }

    /// The statement a rejected topic name cites, `None` when it is accepted.
    pub fn name_rule(self, n: &str) -> Option<&'static str> {
        validate_name(n).rule().map(|r| r.statement(self.0))
    }

    /// Wildcards are allowed in filters and refused in names, at their offset.
    pub fn wildcards_in_filters_not_in_names(self) {
        for f in ["#", "+", "a/+/b", "a/#", "+/+"] {
            assert_eq!(self.filter_rule(f), None, "{f}");
        }
        for n in ["a/+/b", "a/#", "+", "#"] {
            assert!(self.name_rule(n).is_some(), "name {n} accepted");
            let at = n.find(['+', '#']).expect("a wildcard");
            assert!(
                matches!(validate_name(n), TopicCheck::Bad(i, _) if i == at),
                "{n}"
            );
        }
        assert_eq!(self.name_rule("a/b"), None);
    }

    /// `#` fills the last level on its own; `id` is the statement cited.
    pub fn multi_level_wildcard_alone_and_last(self, id: &str) {
        for f in ["#", "a/#", "/#", "a/b/#"] {
            assert_eq!(self.filter_rule(f), None, "{f}");
        }
        for f in ["a#", "a/#/b", "#/a", "a/b#", "##"] {
            assert_eq!(self.filter_rule(f), Some(id), "{f}");
        }
        // Non-normative examples of §4.7.1.2, as the tree matches them.
        let f = ["sport/tennis/player1/#"];
        assert_eq!(hits(&f, "sport/tennis/player1"), f);
        assert_eq!(hits(&f, "sport/tennis/player1/ranking"), f);
        assert_eq!(hits(&f, "sport/tennis/player1/score/wimbledon"), f);
        assert_eq!(hits(&["sport/#"], "sport"), ["sport/#"]);
    }

    /// `+` fills a whole level, at any level; `id` is the statement cited.
    pub fn single_level_wildcard_fills_its_level(self, id: &str) {
        for f in ["+", "+/tennis/#", "sport/+/player1", "sport/+", "/+", "+/"] {
            assert_eq!(self.filter_rule(f), None, "{f}");
        }
        for f in ["sport+", "a/+b", "a/b+/c", "++"] {
            assert_eq!(self.filter_rule(f), Some(id), "{f}");
        }
        // Non-normative examples of §4.7.1.3.
        let f = ["sport/tennis/+"];
        assert_eq!(hits(&f, "sport/tennis/player1"), f);
        assert!(hits(&f, "sport/tennis/player1/ranking").is_empty());
        assert_eq!(hits(&["sport/+"], "sport/"), ["sport/+"]);
        assert!(hits(&["sport/+"], "sport").is_empty());
        assert_eq!(hits(&["+/+", "/+", "+"], "/finance"), ["+/+", "/+"]);
    }

    /// MQTT-4.7.2-1 (both versions).
    pub fn wildcard_first_level_skips_dollar_names(self) {
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

    /// MQTT-4.7.3-1 (both versions).
    pub fn names_and_filters_not_empty(self) {
        assert_eq!(self.filter_rule(""), Some("MQTT-4.7.3-1"));
        assert_eq!(self.name_rule(""), Some("MQTT-4.7.3-1"));
        assert_eq!(self.filter_rule("/"), None);
        assert_eq!(self.name_rule("/"), None);
        // Empty levels are levels: they match only empty levels.
        assert!(hits(&["a//b"], "a/b").is_empty());
        assert!(hits(&["a/b"], "a/b/").is_empty());
        assert!(hits(&["/a"], "a").is_empty());
    }

    /// MQTT-4.7.3-2 (both versions).
    pub fn no_null_character(self) {
        assert_eq!(self.filter_rule("a/\0/b"), Some("MQTT-4.7.3-2"));
        assert_eq!(self.filter_rule("\0"), Some("MQTT-4.7.3-2"));
        assert_eq!(self.name_rule("a\0"), Some("MQTT-4.7.3-2"));
        assert_eq!(self.name_rule("a\u{1}"), None);
    }

    /// MQTT-4.7.3-3 (both versions).
    pub fn at_most_65535_bytes(self) {
        let max = "a".repeat(65_535);
        assert_eq!(self.filter_rule(&max), None);
        assert_eq!(self.name_rule(&max), None);
        let over = "a".repeat(65_536);
        assert_eq!(self.filter_rule(&over), Some("MQTT-4.7.3-3"));
        assert_eq!(self.name_rule(&over), Some("MQTT-4.7.3-3"));
        // Bytes count, not characters: 21,845 three-byte characters fit, one more does not.
        let wide = "\u{20ac}".repeat(21_845);
        assert_eq!(self.name_rule(&wide), None);
        assert_eq!(self.name_rule(&(wide + "a")), Some("MQTT-4.7.3-3"));
    }

    /// MQTT-4.7.3-4 (both versions).
    pub fn matching_without_normalisation(self) {
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
}

/// Filters of `filters` the tree reports for `name` (sorted), checked
/// against the one-filter matcher.
pub fn hits(filters: &[&str], name: &str) -> Vec<String> {
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
