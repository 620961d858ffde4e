//! Topic names and filters: validation, matching, shared subscriptions and
//! the subscription tree (MQTT 3.1.1 §4.7, 5.0 §4.7 and §4.8.2).
//!
//! Syntax checks come from the codec (one packet's bytes decide them);
//! this module adds what needs more than one topic: does a filter match a
//! name, and which of many subscriptions match a name.

use mqttkit_codec::topic::{check_filter, check_topic_name, TopicCheck};
use mqttkit_codec::ProtocolVersion;

mod tree;

pub use tree::SubscriptionTree;

/// Checks a Topic Name as a PUBLISH carries it.
pub fn validate_name(name: &str) -> TopicCheck {
    check_topic_name(name)
}

/// Checks a Topic Filter (with the `$share/` form in 5.0).
pub fn validate_filter(filter: &str, version: ProtocolVersion) -> TopicCheck {
    check_filter(filter, version)
}

/// A filter as a subscriber wrote it: plain, or a member of a shared group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterKind<'a> {
    /// An ordinary subscription.
    Plain(&'a str),
    /// `$share/{group}/{filter}` (5.0 §4.8.2), or `$queue/{filter}`, the
    /// older form of one group shared by all (group `"$queue"`).
    Shared {
        /// The ShareName (`"$queue"` for the `$queue/` form).
        group: &'a str,
        /// The filter matched against topic names.
        filter: &'a str,
    },
}

impl<'a> FilterKind<'a> {
    /// Splits a subscription's filter. `$share/` without a group and a
    /// filter is returned as `Plain` (validation rejects it beforehand).
    pub fn parse(s: &'a str) -> Self {
        if let Some(rest) = s.strip_prefix("$share/") {
            if let Some((group, filter)) = rest.split_once('/') {
                if !group.is_empty() && !filter.is_empty() {
                    return FilterKind::Shared { group, filter };
                }
            }
        } else if let Some(filter) = s.strip_prefix("$queue/") {
            if !filter.is_empty() {
                return FilterKind::Shared {
                    group: "$queue",
                    filter,
                };
            }
        }
        FilterKind::Plain(s)
    }

    /// The filter matched against topic names.
    pub fn filter(&self) -> &'a str {
        match *self {
            FilterKind::Plain(f) => f,
            FilterKind::Shared { filter, .. } => filter,
        }
    }
}

/// Does a (valid, non-shared) `filter` match the (valid) topic `name`?
///
/// The straightforward level-by-level definition; the subscription tree is
/// tested against it. A name starting with `$` is not matched by a filter
/// starting with a wildcard (MQTT-4.7.2-1).
pub fn matches(filter: &str, name: &str) -> bool {
    if name.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut n = name.split('/');
    loop {
        match (f.next(), n.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking"
        ));
        assert!(matches("sport/#", "sport"));
        assert!(matches("sport/+", "sport/"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
    }

    #[test]
    fn shared_forms() {
        assert_eq!(
            FilterKind::parse("$share/g/a/+"),
            FilterKind::Shared {
                group: "g",
                filter: "a/+"
            }
        );
        assert_eq!(
            FilterKind::parse("$queue/a"),
            FilterKind::Shared {
                group: "$queue",
                filter: "a"
            }
        );
        assert_eq!(FilterKind::parse("$share/g"), FilterKind::Plain("$share/g"));
        assert_eq!(FilterKind::parse("a/b").filter(), "a/b");
    }
}
