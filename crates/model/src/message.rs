//! Application messages as the broker keeps them: owned, shared between
//! the subscribers they go to, with the 5.0 properties that travel with a
//! message forwarded unchanged.

use std::sync::Arc;

use bytes::Bytes;
use mqttkit_codec::{Publish, PublishProperties, QoS, WillProperties};

use crate::Millis;

/// The properties a message carries from publisher to subscriber
/// (MQTT-3.3.2-4 and following: forwarded unchanged, user properties in
/// order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    /// Payload Format Indicator.
    pub payload_format_indicator: Option<u8>,
    /// Content Type.
    pub content_type: Option<Arc<str>>,
    /// Response Topic.
    pub response_topic: Option<Arc<str>>,
    /// Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// User Properties, in the order received.
    pub user_properties: Vec<(Arc<str>, Arc<str>)>,
}

impl MessageProperties {
    pub(crate) fn from_publish(p: &PublishProperties<'_>) -> Self {
        MessageProperties {
            payload_format_indicator: p.payload_format_indicator,
            content_type: p.content_type.map(Arc::from),
            response_topic: p.response_topic.map(Arc::from),
            correlation_data: p.correlation_data.map(Bytes::copy_from_slice),
            user_properties: p
                .user_properties
                .iter()
                .map(|(k, v)| (Arc::from(k), Arc::from(v)))
                .collect(),
        }
    }

    pub(crate) fn from_will(p: &WillProperties<'_>) -> Self {
        MessageProperties {
            payload_format_indicator: p.payload_format_indicator,
            content_type: p.content_type.map(Arc::from),
            response_topic: p.response_topic.map(Arc::from),
            correlation_data: p.correlation_data.map(Bytes::copy_from_slice),
            user_properties: p
                .user_properties
                .iter()
                .map(|(k, v)| (Arc::from(k), Arc::from(v)))
                .collect(),
        }
    }
}

/// A message accepted by the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic Name.
    pub topic: Arc<str>,
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// RETAIN flag as published.
    pub retain: bool,
    /// Properties forwarded with it.
    pub properties: MessageProperties,
    /// When it expires (from the Message Expiry Interval), if ever.
    pub expires_at: Option<Millis>,
    /// Client that published it (None for wills of expired sessions and
    /// other broker-made messages), for No Local.
    pub publisher: Option<Arc<str>>,
}

impl Message {
    /// The message of `p`, whose properties `props` are (read once by the
    /// caller, who needed them first).
    pub(crate) fn from_publish(
        p: &Publish<'_>,
        props: &PublishProperties<'_>,
        topic: Arc<str>,
        publisher: Option<Arc<str>>,
        now: Millis,
    ) -> Self {
        Message {
            topic,
            payload: Bytes::copy_from_slice(p.payload),
            qos: p.qos,
            retain: p.retain,
            properties: MessageProperties::from_publish(props),
            expires_at: props
                .message_expiry_interval
                .map(|s| now + u64::from(s) * 1000),
            publisher,
        }
    }

    /// True once its expiry time has passed.
    pub fn expired(&self, now: Millis) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// The Message Expiry Interval left to forward, in whole seconds
    /// (MQTT-3.3.2-6: the received value minus the time spent waiting).
    pub fn remaining_expiry(&self, now: Millis) -> Option<u32> {
        self.expires_at
            .map(|t| (t.saturating_sub(now).div_ceil(1000)).min(u64::from(u32::MAX)) as u32)
    }
}

/// One message on its way to one session: the QoS and RETAIN flag it is
/// sent with and the subscription identifiers of the subscriptions it
/// matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The message (shared by every session it goes to).
    pub message: Arc<Message>,
    /// QoS of this delivery (the lower of the publish and the grant).
    pub qos: QoS,
    /// RETAIN flag to send.
    pub retain: bool,
    /// Subscription Identifiers to include (5.0).
    pub subscription_ids: Vec<u32>,
}
