// inventory: mqtt311
//! Client statements on the model's client session (`mqttkit_model::Client`)
//! against a scripted server; the checks live in `src/client.rs`.

use mqttkit_codec::{ProtocolVersion, QoS};
use mqttkit_spec_tests::client;

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

#[test]
fn mqtt_2_3_1_2_for_every_new_subscribe_unsubscribe_or_qos() {
    client::identifiers_unique(V);
}

#[test]
fn mqtt_2_3_1_3_client_retransmissions_reuse_the_original_identifier() {
    client::retransmission_keeps_identifier(V);
}

#[test]
fn mqtt_3_1_0_1_on_a_fresh_network_connection_the_client() {
    client::connect_first(V);
}

#[test]
fn mqtt_3_1_2_23_client_keeps_gaps_between_sent_packets_under() {
    client::keep_alive_ping(V);
}

#[test]
fn mqtt_3_14_4_1_having_sent_disconnect_the_client_closes_the() {
    client::nothing_after_disconnect(V);
}

#[test]
fn mqtt_3_14_4_2_having_sent_disconnect_the_client_sends_no() {
    client::nothing_after_disconnect(V);
}

#[test]
fn mqtt_4_5_0_2_client_acknowledges_every_received_publish_per_its() {
    client::acknowledges_every_publish(V);
}

#[test]
fn mqtt_4_6_0_1_client_re_sends_qos_1_2_publish_packets() {
    client::resend_in_order(V);
}

#[test]
fn mqtt_4_6_0_2_client_sends_pubacks_in_the_order_the() {
    client::acks_in_arrival_order(V, QoS::AtLeastOnce);
}

#[test]
fn mqtt_4_6_0_3_client_sends_pubrecs_in_the_order_the() {
    client::acks_in_arrival_order(V, QoS::ExactlyOnce);
}

#[test]
fn mqtt_4_6_0_4_client_sends_pubrels_in_the_order_the() {
    client::pubrel_in_pubrec_order(V);
}

/// Not a statement of its own in 3.1.1: a client holding a session that
/// gets Session Present 0 starts afresh (the 5.0 rule, applied alike).
#[test]
fn client_discards_state_without_session_present() {
    client::discard_state_without_session(V);
}
