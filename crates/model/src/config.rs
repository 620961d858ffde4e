//! What a broker allows: limits and optional features, reported to 5.0
//! clients in CONNACK.

use mqttkit_codec::QoS;

/// How a message for a shared subscription picks its member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShareStrategy {
    /// Each member in turn.
    #[default]
    RoundRobin,
    /// A member chosen by the seeded generator of the broker.
    Random,
    /// The member chosen by a hash of the publishing client's id (the same
    /// publisher always reaches the same member while membership holds).
    ByPublisher,
}

/// Broker limits and features.
#[derive(Debug, Clone)]
pub struct Config {
    /// Highest QoS the broker accepts and grants.
    pub maximum_qos: QoS,
    /// Retained messages supported.
    pub retain_available: bool,
    /// Wildcards in subscriptions supported.
    pub wildcard_subscription_available: bool,
    /// Shared subscriptions supported.
    pub shared_subscription_available: bool,
    /// Subscription identifiers supported.
    pub subscription_identifiers_available: bool,
    /// Largest packet the broker accepts (bytes, header included).
    pub maximum_packet_size: u32,
    /// QoS 1 and 2 PUBLISH packets a client may have unacknowledged
    /// towards the broker (5.0 Receive Maximum).
    pub receive_maximum: u16,
    /// Topic aliases a 5.0 client may use towards the broker.
    pub topic_alias_maximum: u16,
    /// Messages kept per session while it cannot take more (offline, or
    /// its in-flight window is full); beyond that new messages are dropped
    /// and reported.
    pub max_queued_messages: usize,
    /// In-flight QoS 1/2 messages towards one client, whatever its own
    /// Receive Maximum says.
    pub max_inflight: u16,
    /// Keep Alive the broker imposes on 5.0 clients (Server Keep Alive),
    /// if any.
    pub server_keep_alive: Option<u16>,
    /// Longest session expiry interval granted (seconds).
    pub max_session_expiry: u32,
    /// How long a connection may stay open without a CONNECT (ms).
    pub connect_timeout_ms: u64,
    /// Shared-subscription member selection.
    pub share_strategy: ShareStrategy,
    /// Seed of the broker's pseudo-random generator.
    pub seed: u64,
    /// Longest client identifier accepted.
    pub max_client_id_len: usize,
    /// Period of the `$SYS/broker/...` statistics (ms); 0 publishes none.
    /// The first publication is due at this time after the model's epoch.
    pub sys_interval_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            wildcard_subscription_available: true,
            shared_subscription_available: true,
            subscription_identifiers_available: true,
            maximum_packet_size: 1 << 20,
            receive_maximum: 1024,
            topic_alias_maximum: 64,
            max_queued_messages: 1000,
            max_inflight: 1024,
            server_keep_alive: None,
            max_session_expiry: u32::MAX,
            connect_timeout_ms: 10_000,
            share_strategy: ShareStrategy::RoundRobin,
            seed: 0x6d71_7474_6b69_7400,
            max_client_id_len: 65_535,
            sys_interval_ms: 0,
        }
    }
}
