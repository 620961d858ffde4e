//! Errors as data: which rule a packet broke, where, and how badly.
//!
//! Every check the codec makes is a [`Rule`]: a static value naming the
//! normative statement (e.g. `MQTT-3.3.2-2`) in the 3.x and 5.0
//! specifications, or, for requirements the specification states without a
//! number, the section and a short slug (e.g. `§2.2.2.2/duplicate-property`).

use core::fmt;

use crate::types::ProtocolVersion;

/// How a decode failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The buffer ends before the packet does; feed more bytes.
    Incomplete,
    /// The bytes cannot be parsed as the specification lays them out.
    Malformed,
    /// The packet parses but carries something the specification forbids.
    ProtocolError,
}

impl ErrorKind {
    /// `incomplete`, `malformed` or `protocol_error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Incomplete => "incomplete",
            ErrorKind::Malformed => "malformed",
            ErrorKind::ProtocolError => "protocol_error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One requirement of the specification that a packet can break.
///
/// The same requirement has different statement ids in the two
/// specifications; [`Rule::statement`] picks the one for a version.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The id under MQTT 3.1.1 (also used for 3.1, which has no numbered
    /// statements); empty when the rule does not exist before 5.0.
    pub v3: &'static str,
    /// The id under MQTT 5.0; empty when the rule exists only in 3.x.
    pub v5: &'static str,
    /// Malformed packet or protocol error.
    pub kind: ErrorKind,
    /// What is wrong, in a few words.
    pub message: &'static str,
}

impl Rule {
    /// The statement id under `version` (falls back to the other
    /// specification's id if this one has none).
    pub fn statement(&self, version: ProtocolVersion) -> &'static str {
        let (first, second) = if version.is_v5() {
            (self.v5, self.v3)
        } else {
            (self.v3, self.v5)
        };
        if first.is_empty() {
            second
        } else {
            first
        }
    }
}

/// A rule broken at a byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Violation {
    /// The rule.
    pub rule: &'static Rule,
    /// The version whose statement ids apply.
    pub version: ProtocolVersion,
    /// Offset of the offending byte from the start of the packet.
    pub offset: usize,
}

impl Violation {
    /// The statement id, e.g. `MQTT-3.3.2-2` or `§2.2.2.2/duplicate-property`.
    pub fn statement(&self) -> &'static str {
        self.rule.statement(self.version)
    }

    /// Malformed or protocol error.
    pub fn kind(&self) -> ErrorKind {
        self.rule.kind
    }

    /// A short human description of the rule.
    pub fn message(&self) -> &'static str {
        self.rule.message
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {}: {} [{}]",
            self.kind(),
            self.offset,
            self.message(),
            self.statement()
        )
    }
}

/// Why a packet could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The buffer holds only the start of a packet.
    Incomplete {
        /// How many more bytes are needed at least (exact once the fixed
        /// header has been read).
        needed: usize,
    },
    /// The packet breaks a rule.
    Invalid(Violation),
}

impl DecodeError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DecodeError::Incomplete { .. } => ErrorKind::Incomplete,
            DecodeError::Invalid(v) => v.kind(),
        }
    }

    /// The statement broken, if any (an incomplete buffer breaks none).
    pub fn statement(&self) -> Option<&'static str> {
        match self {
            DecodeError::Incomplete { .. } => None,
            DecodeError::Invalid(v) => Some(v.statement()),
        }
    }

    /// The offset of the offending byte, if any.
    pub fn offset(&self) -> Option<usize> {
        match self {
            DecodeError::Incomplete { .. } => None,
            DecodeError::Invalid(v) => Some(v.offset),
        }
    }

    /// The violation, if this is not an incomplete buffer.
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            DecodeError::Incomplete { .. } => None,
            DecodeError::Invalid(v) => Some(v),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete { needed } => {
                write!(
                    f,
                    "incomplete packet: at least {needed} more byte(s) needed"
                )
            }
            DecodeError::Invalid(v) => v.fmt(f),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a packet could not be encoded: the same rule values the decoder uses,
/// so a packet the encoder refuses is one the decoder would reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodeError {
    /// The rule the packet would break.
    pub rule: &'static Rule,
    /// The version it was being encoded for.
    pub version: ProtocolVersion,
}

impl EncodeError {
    pub(crate) fn new(rule: &'static Rule, version: ProtocolVersion) -> Self {
        EncodeError { rule, version }
    }

    /// The statement id the packet would break.
    pub fn statement(&self) -> &'static str {
        self.rule.statement(self.version)
    }

    /// Malformed or protocol error.
    pub fn kind(&self) -> ErrorKind {
        self.rule.kind
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refusing to encode: {} [{}]",
            self.rule.message,
            self.statement()
        )
    }
}

impl std::error::Error for EncodeError {}

/// The violations found by a lenient decode, held inline (no allocation).
///
/// Up to [`Violations::CAPACITY`] are kept; past that only the count grows.
#[derive(Clone, Copy)]
pub struct Violations {
    items: [Option<Violation>; Violations::CAPACITY],
    len: usize,
    total: usize,
}

impl Violations {
    /// How many violations are kept per packet.
    pub const CAPACITY: usize = 16;

    /// No violations.
    pub const fn new() -> Self {
        Violations {
            items: [None; Violations::CAPACITY],
            len: 0,
            total: 0,
        }
    }

    pub(crate) fn push(&mut self, v: Violation) {
        self.total += 1;
        if self.len < Self::CAPACITY {
            self.items[self.len] = Some(v);
            self.len += 1;
        }
    }

    /// The kept violations, in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &Violation> + '_ {
        self.items[..self.len].iter().flatten()
    }

    /// How many were kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the packet broke no rule.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many were found, including those past the capacity.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The first violation, if any.
    pub fn first(&self) -> Option<&Violation> {
        self.items[0].as_ref()
    }
}

impl Default for Violations {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Violations {
    fn eq(&self, other: &Self) -> bool {
        self.total == other.total && self.iter().eq(other.iter())
    }
}

macro_rules! rules {
    ($( $(#[$m:meta])* $name:ident = ($v3:expr, $v5:expr, $kind:ident, $msg:expr); )*) => {
        $( $(#[$m])* #[doc = $msg] pub static $name: Rule = Rule { v3: $v3, v5: $v5, kind: ErrorKind::$kind, message: $msg }; )*
        /// Every rule the codec checks.
        pub static ALL: &[&Rule] = &[ $( &$name ),* ];
    };
}

/// The catalogue of rules the codec checks, one static per requirement.
pub mod rules {
    use super::{ErrorKind, Rule};

    rules! {
        // ---- framing ----
        PACKET_TYPE_RESERVED = ("§2.2.1/packet-type", "§2.1.2/packet-type", Malformed,
            "reserved control packet type");
        WRONG_DIRECTION = ("§2.2.1/direction", "§2.1.2/direction", ProtocolError,
            "packet type not allowed in this direction");
        RESERVED_FLAGS = ("MQTT-2.2.2-1", "MQTT-2.1.3-1", Malformed,
            "reserved fixed-header flags have the wrong value");
        PUBREL_FLAGS = ("MQTT-3.6.1-1", "MQTT-3.6.1-1", Malformed,
            "PUBREL fixed-header flags must be 0010");
        SUBSCRIBE_FLAGS = ("MQTT-3.8.1-1", "MQTT-3.8.1-1", Malformed,
            "SUBSCRIBE fixed-header flags must be 0010");
        UNSUBSCRIBE_FLAGS = ("MQTT-3.10.1-1", "MQTT-3.10.1-1", Malformed,
            "UNSUBSCRIBE fixed-header flags must be 0010");
        DISCONNECT_FLAGS = ("MQTT-3.14.1-1", "MQTT-3.14.1-1", Malformed,
            "DISCONNECT fixed-header flags must be 0000");
        AUTH_FLAGS = ("", "MQTT-3.15.1-1", Malformed,
            "AUTH fixed-header flags must be 0000");
        REMAINING_LENGTH_TOO_LONG = ("§2.2.3/remaining-length", "§2.1.4/remaining-length", Malformed,
            "Remaining Length is longer than four bytes");
        NON_MINIMAL_VBI = ("§2.2.3/non-minimal", "MQTT-1.5.5-1", Malformed,
            "variable byte integer is not in its shortest form");
        VBI_TOO_LONG = ("§2.2.3/remaining-length", "§1.5.5/too-long", Malformed,
            "variable byte integer is longer than four bytes");
        TRUNCATED = ("§2.2.3/truncated", "§2.1.4/truncated", Malformed,
            "a field runs past the end of the packet");
        TRAILING_BYTES = ("§2.2.3/trailing-bytes", "§2.1.4/trailing-bytes", Malformed,
            "bytes left over after the last field");
        FIRST_PACKET_NOT_CONNECT = ("MQTT-3.1.0-1", "MQTT-3.1.0-1", ProtocolError,
            "protocol version unknown: a connection starts with CONNECT");
        PACKET_TOO_LARGE = ("§2.2.3/too-large", "§3.1.2.11.4/too-large", ProtocolError,
            "packet is larger than the maximum packet size");

        // ---- strings ----
        UTF8_INVALID = ("MQTT-1.5.3-1", "MQTT-1.5.4-1", Malformed,
            "string is not well-formed UTF-8");
        UTF8_NUL = ("MQTT-1.5.3-2", "MQTT-1.5.4-2", Malformed,
            "string contains U+0000");
        USER_PROPERTY_UTF8 = ("", "MQTT-1.5.7-1", Malformed,
            "user property name or value is not a valid UTF-8 string");

        // ---- packet identifiers ----
        PACKET_ID_ZERO = ("MQTT-2.3.1-1", "§2.2.1/packet-identifier-zero", ProtocolError,
            "packet identifier is zero");

        // ---- topics ----
        TOPIC_EMPTY = ("MQTT-4.7.3-1", "MQTT-4.7.3-1", ProtocolError,
            "topic name or filter is empty");
        TOPIC_NUL = ("MQTT-4.7.3-2", "MQTT-4.7.3-2", Malformed,
            "topic contains U+0000");
        TOPIC_TOO_LONG = ("MQTT-4.7.3-3", "MQTT-4.7.3-3", Malformed,
            "topic is longer than 65535 bytes");
        TOPIC_NAME_WILDCARD = ("MQTT-4.7.1-1", "MQTT-4.7.0-1", ProtocolError,
            "topic name contains a wildcard character");
        PUBLISH_TOPIC_WILDCARD = ("MQTT-3.3.2-2", "MQTT-3.3.2-2", ProtocolError,
            "PUBLISH topic name contains a wildcard character");
        FILTER_HASH_PLACEMENT = ("MQTT-4.7.1-2", "MQTT-4.7.1-1", ProtocolError,
            "'#' must be alone in the last level of a topic filter");
        FILTER_PLUS_PLACEMENT = ("MQTT-4.7.1-3", "MQTT-4.7.1-2", ProtocolError,
            "'+' must fill a whole level of a topic filter");
        SHARE_NAME_EMPTY = ("", "MQTT-4.8.2-1", ProtocolError,
            "shared subscription needs a ShareName of at least one character");
        SHARE_NAME_INVALID = ("", "MQTT-4.8.2-2", ProtocolError,
            "ShareName must not contain '/', '+' or '#' and is followed by '/' and a filter");

        // ---- CONNECT ----
        PROTOCOL_NAME = ("MQTT-3.1.2-1", "MQTT-3.1.2-1", ProtocolError,
            "protocol name does not match the protocol level");
        PROTOCOL_LEVEL = ("MQTT-3.1.2-2", "MQTT-3.1.2-2", ProtocolError,
            "unsupported protocol level");
        CONNECT_RESERVED_FLAG = ("MQTT-3.1.2-3", "MQTT-3.1.2-3", Malformed,
            "CONNECT flags bit 0 is reserved and must be 0");
        WILL_FIELDS_MISSING = ("MQTT-3.1.2-9", "MQTT-3.1.2-9", Malformed,
            "Will Flag is set but the will fields are missing");
        WILL_QOS_WITHOUT_WILL = ("MQTT-3.1.2-13", "MQTT-3.1.2-11", Malformed,
            "Will QoS must be 0 when the Will Flag is 0");
        WILL_QOS_3 = ("MQTT-3.1.2-14", "MQTT-3.1.2-12", Malformed,
            "Will QoS 3 is not a QoS");
        WILL_RETAIN_WITHOUT_WILL = ("MQTT-3.1.2-15", "MQTT-3.1.2-13", Malformed,
            "Will Retain must be 0 when the Will Flag is 0");
        USERNAME_ABSENT = ("MQTT-3.1.2-18", "MQTT-3.1.2-16", Malformed,
            "User Name Flag is 0 but the payload carries more fields");
        USERNAME_MISSING = ("MQTT-3.1.2-19", "MQTT-3.1.2-17", Malformed,
            "User Name Flag is set but the User Name is missing");
        PASSWORD_ABSENT = ("MQTT-3.1.2-20", "MQTT-3.1.2-18", Malformed,
            "Password Flag is 0 but the payload carries more fields");
        PASSWORD_MISSING = ("MQTT-3.1.2-21", "MQTT-3.1.2-19", Malformed,
            "Password Flag is set but the Password is missing");
        PASSWORD_WITHOUT_USERNAME = ("MQTT-3.1.2-22", "", Malformed,
            "Password Flag set without User Name Flag");
        CLIENT_ID_MISSING = ("MQTT-3.1.3-3", "MQTT-3.1.3-3", Malformed,
            "CONNECT payload has no Client Identifier");
        EMPTY_CLIENT_ID_PERSISTENT = ("MQTT-3.1.3-7", "", ProtocolError,
            "zero-length Client Identifier requires Clean Session 1");
        AUTH_DATA_WITHOUT_METHOD = ("", "§3.1.2.11.10/authentication-data-without-method", ProtocolError,
            "Authentication Data without Authentication Method");

        // ---- CONNACK ----
        CONNACK_RESERVED_FLAGS = ("§3.2.2.1/reserved", "MQTT-3.2.2-1", Malformed,
            "CONNACK acknowledge flags bits 7-1 must be 0");
        CONNACK_SESSION_PRESENT_ON_ERROR = ("MQTT-3.2.2-4", "MQTT-3.2.2-6", ProtocolError,
            "Session Present must be 0 when the connection is refused");
        CONNACK_CODE = ("§3.2.2.3/return-code", "MQTT-3.2.2-8", Malformed,
            "undefined CONNACK return code / reason code");

        // ---- PUBLISH ----
        PUBLISH_DUP_QOS0 = ("MQTT-3.3.1-2", "MQTT-3.3.1-2", Malformed,
            "QoS 0 PUBLISH must have DUP 0");
        PUBLISH_QOS_3 = ("MQTT-3.3.1-4", "MQTT-3.3.1-4", Malformed,
            "PUBLISH QoS bits are both set");
        PUBLISH_QOS0_PACKET_ID = ("MQTT-2.3.1-5", "MQTT-2.2.1-2", ProtocolError,
            "a QoS 0 PUBLISH has no packet identifier");
        TOPIC_ALIAS_ZERO = ("", "MQTT-3.3.2-8", ProtocolError,
            "Topic Alias 0 is not allowed");
        EMPTY_TOPIC_WITHOUT_ALIAS = ("", "§3.3.2.3.4/empty-topic-without-alias", ProtocolError,
            "zero-length topic name without a Topic Alias");
        RESPONSE_TOPIC_WILDCARD = ("", "MQTT-3.3.2-14", ProtocolError,
            "Response Topic contains a wildcard character");
        CLIENT_PUBLISH_SUBSCRIPTION_ID = ("", "MQTT-3.3.4-6", ProtocolError,
            "a Client's PUBLISH must not carry a Subscription Identifier");

        // ---- acknowledgements ----
        PUBACK_REASON = ("", "MQTT-3.4.2-1", ProtocolError, "undefined PUBACK reason code");
        PUBREC_REASON = ("", "MQTT-3.5.2-1", ProtocolError, "undefined PUBREC reason code");
        PUBREL_REASON = ("", "MQTT-3.6.2-1", ProtocolError, "undefined PUBREL reason code");
        PUBCOMP_REASON = ("", "MQTT-3.7.2-1", ProtocolError, "undefined PUBCOMP reason code");

        // ---- SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK ----
        SUBSCRIBE_EMPTY = ("MQTT-3.8.3-3", "MQTT-3.8.3-2", ProtocolError,
            "SUBSCRIBE has no topic filter");
        SUBSCRIBE_OPTIONS_RESERVED = ("MQTT-3.8.3-4", "MQTT-3.8.3-5", Malformed,
            "reserved bits of the subscription options are set");
        SUBSCRIBE_QOS_3 = ("MQTT-3.8.3-4", "§3.8.3.1/qos", Malformed,
            "requested QoS 3");
        RETAIN_HANDLING_3 = ("", "§3.8.3.1/retain-handling", ProtocolError,
            "Retain Handling 3 is not defined");
        NO_LOCAL_SHARED = ("", "MQTT-3.8.3-4", ProtocolError,
            "No Local on a shared subscription");
        SUBACK_CODE = ("MQTT-3.9.3-2", "MQTT-3.9.3-2", ProtocolError,
            "undefined SUBACK return code / reason code");
        UNSUBSCRIBE_EMPTY = ("MQTT-3.10.3-2", "MQTT-3.10.3-2", ProtocolError,
            "UNSUBSCRIBE has no topic filter");
        UNSUBACK_REASON = ("", "MQTT-3.11.3-2", ProtocolError, "undefined UNSUBACK reason code");

        // ---- DISCONNECT / AUTH ----
        DISCONNECT_REASON = ("", "MQTT-3.14.2-1", ProtocolError, "undefined DISCONNECT reason code");
        DISCONNECT_REASON_DIRECTION = ("", "§3.14.2.1/reason-direction", ProtocolError,
            "this DISCONNECT reason code may not be sent by this side");
        SERVER_DISCONNECT_SESSION_EXPIRY = ("", "MQTT-3.14.2-2", ProtocolError,
            "a Server's DISCONNECT must not carry Session Expiry Interval");
        AUTH_REASON = ("", "MQTT-3.15.2-1", ProtocolError, "undefined AUTH reason code");

        // ---- properties ----
        PROPERTY_LENGTH = ("", "§2.2.2.1/property-length", Malformed,
            "Property Length runs past the end of the packet");
        UNKNOWN_PROPERTY = ("", "§2.2.2.2/unknown-property", Malformed,
            "unknown property identifier");
        PROPERTY_NOT_ALLOWED = ("", "§2.2.2.2/property-not-allowed", Malformed,
            "property not allowed in this packet");
        DUPLICATE_PROPERTY = ("", "§2.2.2.2/duplicate-property", ProtocolError,
            "property included more than once");
        SUBSCRIPTION_ID_ZERO = ("", "§3.8.2.1.2/subscription-identifier-zero", ProtocolError,
            "Subscription Identifier 0");
        RECEIVE_MAXIMUM_ZERO = ("", "§3.1.2.11.3/receive-maximum-zero", ProtocolError,
            "Receive Maximum 0");
        MAXIMUM_PACKET_SIZE_ZERO = ("", "§3.1.2.11.4/maximum-packet-size-zero", ProtocolError,
            "Maximum Packet Size 0");
        REQUEST_RESPONSE_INFORMATION = ("", "§3.1.2.11.6/request-response-information", ProtocolError,
            "Request Response Information must be 0 or 1");
        REQUEST_PROBLEM_INFORMATION = ("", "§3.1.2.11.7/request-problem-information", ProtocolError,
            "Request Problem Information must be 0 or 1");
        MAXIMUM_QOS = ("", "§3.2.2.3.4/maximum-qos", ProtocolError,
            "Maximum QoS must be 0 or 1");
        RETAIN_AVAILABLE = ("", "§3.2.2.3.5/retain-available", ProtocolError,
            "Retain Available must be 0 or 1");
        WILDCARD_SUBSCRIPTION_AVAILABLE = ("", "§3.2.2.3.11/wildcard-subscription-available", ProtocolError,
            "Wildcard Subscription Available must be 0 or 1");
        SUBSCRIPTION_IDENTIFIERS_AVAILABLE = ("", "§3.2.2.3.12/subscription-identifiers-available", ProtocolError,
            "Subscription Identifiers Available must be 0 or 1");
        SHARED_SUBSCRIPTION_AVAILABLE = ("", "§3.2.2.3.13/shared-subscription-available", ProtocolError,
            "Shared Subscription Available must be 0 or 1");
        PAYLOAD_FORMAT_INDICATOR = ("", "§3.3.2.3.2/payload-format-indicator", ProtocolError,
            "Payload Format Indicator must be 0 or 1");
        FIELD_TOO_LONG = ("§1.5.3/too-long", "§1.5.4/too-long", Malformed,
            "string or binary field is longer than 65535 bytes");
        OUTPUT_TOO_SMALL = ("mqttkit/output-too-small", "mqttkit/output-too-small", Malformed,
            "the output buffer has no room for the packet");
        VERSION_FEATURE = ("§2/not-in-this-version", "", ProtocolError,
            "field or packet exists only in MQTT 5.0");
    }
}
