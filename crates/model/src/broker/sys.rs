//! `$SYS/broker/...`: the broker's statistics as retained messages,
//! published every `Config::sys_interval_ms` on the model's own clock (the
//! `now` it is given), so a test can drive it with explicit times.
//!
//! Only values that changed since the last publication are published again
//! (the uptime changes every time). The topics start with `$`, so a
//! subscription to `#` or `+/...` does not see them (MQTT-4.7.2-1); a client
//! subscribes to `$SYS/#` to get them. While `$SYS` is on, clients cannot
//! publish under `$SYS/`.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use mqttkit_codec::QoS;

use super::Broker;
use crate::auth::Authorizer;
use crate::config::Config;
use crate::message::{Message, MessageProperties};
use crate::Millis;

/// When the next publication is due and what was published last.
#[derive(Debug, Default)]
pub(super) struct SysState {
    /// Next publication (None when `$SYS` is off).
    pub(super) next: Option<Millis>,
    last: HashMap<&'static str, String>,
}

impl SysState {
    pub(super) fn new(config: &Config) -> Self {
        SysState {
            next: (config.sys_interval_ms > 0).then_some(config.sys_interval_ms),
            last: HashMap::new(),
        }
    }
}

impl<A: Authorizer> Broker<A> {
    /// The `$SYS` topics and their values at `now` (uptime in whole
    /// seconds since the model's epoch).
    pub fn sys_values(&self, now: Millis) -> Vec<(&'static str, String)> {
        let connected = self.conns.values().filter(|c| c.client.is_some()).count();
        let s = &self.stats;
        vec![
            (
                "$SYS/broker/version",
                format!("mqttkit {}", env!("CARGO_PKG_VERSION")),
            ),
            ("$SYS/broker/uptime", format!("{} seconds", now / 1000)),
            ("$SYS/broker/clients/connected", connected.to_string()),
            ("$SYS/broker/clients/total", self.sessions.len().to_string()),
            ("$SYS/broker/clients/connections", s.connections.to_string()),
            (
                "$SYS/broker/messages/received",
                s.messages_received.to_string(),
            ),
            ("$SYS/broker/messages/sent", s.messages_sent.to_string()),
            (
                "$SYS/broker/messages/dropped",
                s.messages_dropped.to_string(),
            ),
            ("$SYS/broker/bytes/received", s.bytes_received.to_string()),
            ("$SYS/broker/bytes/sent", s.bytes_sent.to_string()),
            (
                "$SYS/broker/subscriptions/count",
                self.tree.len().to_string(),
            ),
            (
                "$SYS/broker/retained/count",
                self.retained.len().to_string(),
            ),
        ]
    }

    /// True for topics only the broker may publish to: `$SYS/...` while
    /// `$SYS` is on (a client's PUBLISH there is refused like an
    /// unauthorized one: 5.0 0x87, 3.x acknowledged and dropped).
    pub(super) fn sys_reserved(&self, topic: &str) -> bool {
        self.sys.next.is_some() && topic.starts_with("$SYS/")
    }

    /// Publishes the statistics when they are due and sets the next time.
    pub(super) fn sys_tick(&mut self, now: Millis) {
        let Some(due) = self.sys.next else { return };
        if due > now {
            return;
        }
        let interval = self.config.sys_interval_ms.max(1);
        // The next slot after `now` (missed slots are not made up for).
        self.sys.next = Some(now - (now - due) % interval + interval);
        for (topic, value) in self.sys_values(now) {
            if self.sys.last.get(topic) == Some(&value) {
                continue;
            }
            let m = Message {
                topic: Arc::from(topic),
                payload: Bytes::from(value.clone().into_bytes()),
                qos: QoS::AtMostOnce,
                retain: true,
                properties: MessageProperties::default(),
                expires_at: None,
                publisher: None,
            };
            self.sys.last.insert(topic, value);
            self.accept_message(Arc::new(m), now);
        }
    }
}
