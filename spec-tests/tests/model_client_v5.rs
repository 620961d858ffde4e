// inventory: mqtt5
//! Client statements on the model's client session (`mqttkit_model::Client`)
//! against a scripted server; the checks live in `src/client.rs`.

use mqttkit_codec::{ProtocolVersion, QoS};
use mqttkit_spec_tests::client;

const V: ProtocolVersion = ProtocolVersion::V5;

#[test]
fn mqtt_2_2_1_3_client_gives_each_new_subscribe_unsubscribe_and() {
    client::identifiers_unique(V);
    client::retransmission_keeps_identifier(V);
}

#[test]
fn mqtt_3_1_0_1_the_first_packet_a_client_sends_on() {
    client::connect_first(V);
}

#[test]
fn mqtt_3_1_2_20_with_non_zero_keep_alive_and_nothing_else() {
    client::keep_alive_ping(V);
}

#[test]
fn mqtt_3_1_2_21_a_server_keep_alive_returned_in_connack() {
    client::server_keep_alive(V);
}

#[test]
fn mqtt_3_2_2_21_client_uses_the_server_keep_alive_from() {
    client::server_keep_alive(V);
}

#[test]
fn mqtt_3_1_2_30_after_a_connect_with_authentication_method_client() {
    client::only_auth_before_connack();
}

#[test]
fn mqtt_3_2_2_4_client_with_no_session_state_that_gets() {
    client::unexpected_session_present(V);
}

#[test]
fn mqtt_3_2_2_5_client_holding_session_state_that_gets_session() {
    client::discard_state_without_session(V);
}

#[test]
fn mqtt_3_2_2_11_client_never_publishes_above_the_maximum_qos() {
    client::respects_maximum_qos();
}

#[test]
fn mqtt_3_2_2_14_after_retain_available_0_the_client_never() {
    client::respects_retain_available();
}

#[test]
fn mqtt_3_2_2_15_client_never_sends_a_packet_larger_than() {
    client::respects_maximum_packet_size();
}

#[test]
fn mqtt_3_2_2_17_client_sent_topic_alias_values_never_exceed() {
    client::aliases_within_server_maximum();
}

#[test]
fn mqtt_3_2_2_18_if_the_server_s_topic_alias_maximum() {
    client::no_aliases_without_server_maximum();
}

#[test]
fn mqtt_3_3_2_9_client_topic_alias_never_exceeds_the_topic() {
    client::aliases_within_server_maximum();
}

#[test]
fn mqtt_3_3_2_10_client_accepts_any_topic_alias_from_1() {
    client::accepts_aliases_up_to_own_maximum();
}

#[test]
fn mqtt_3_3_4_7_client_keeps_unacknowledged_qos_1_2_publishes() {
    client::respects_receive_maximum();
}

#[test]
fn mqtt_3_3_4_8_reaching_receive_maximum_must_not_hold_back() {
    client::receive_maximum_does_not_block_others();
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

#[test]
fn mqtt_4_12_0_3_client_s_auth_reply_to_a_server_auth() {
    client::auth_reply_is_continue();
}

#[test]
fn mqtt_4_12_0_7_no_authentication_method_in_connect_client_never() {
    client::no_auth_without_method();
}

#[test]
fn mqtt_4_12_1_1_re_authentication_auth_reason_0x19_uses_the() {
    client::reauthentication_same_method();
}
