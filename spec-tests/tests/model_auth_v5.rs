// inventory: mqtt5
//! Enhanced authentication (5.0 §4.12, §3.15) on the model, with a small
//! challenge-response method: the server sends a nonce, the client must
//! answer with the nonce reversed; a client that answers `no` is refused.

use mqttkit_codec::{
    Auth, AuthReasonCode, Connect, ConnectReasonCode, DisconnectReasonCode, OwnedPacket, Packet,
    ProtocolVersion, QoS,
};
use mqttkit_model::testkit::World;
use mqttkit_model::{AuthExchange, AuthStart, AuthStep, Authenticator, Challenge, Config};

const V: ProtocolVersion = ProtocolVersion::V5;
const METHOD: &str = "reverse-nonce";

#[derive(Debug)]
struct Reverse {
    /// Reason String sent with each challenge (size tests).
    reason: Option<String>,
    /// User Properties sent with each challenge (size tests).
    users: Vec<(String, String)>,
}

#[derive(Debug)]
struct Exchange {
    nonce: Option<Vec<u8>>,
    reason: Option<String>,
    users: Vec<(String, String)>,
}

impl Authenticator for Reverse {
    fn begin(&mut self, start: &AuthStart<'_>) -> Option<Box<dyn AuthExchange>> {
        (start.method == METHOD).then(|| {
            Box::new(Exchange {
                nonce: None,
                reason: self.reason.clone(),
                users: self.users.clone(),
            }) as Box<dyn AuthExchange>
        })
    }
}

impl AuthExchange for Exchange {
    fn step(&mut self, data: &[u8]) -> AuthStep {
        if data == b"no" {
            return AuthStep::Fail;
        }
        match self.nonce.take() {
            None => {
                let nonce = b"n0nce".to_vec();
                self.nonce = Some(nonce.clone());
                AuthStep::Continue(Challenge {
                    data: nonce,
                    reason: self.reason.clone(),
                    user_properties: self.users.clone(),
                })
            }
            Some(n) => {
                let want: Vec<u8> = n.iter().rev().copied().collect();
                if data == want {
                    AuthStep::Success {
                        data: Some(b"welcome".to_vec()),
                    }
                } else {
                    AuthStep::Fail
                }
            }
        }
    }
}

fn world() -> World {
    let mut w = World::new(Config::default());
    w.b.set_authenticator(Box::new(Reverse {
        reason: None,
        users: Vec::new(),
    }));
    w
}

fn connect_with(w: &mut World, conn: u64, method: Option<&str>, max_packet: Option<u32>) {
    w.open(conn, V);
    let mut c = Connect::new(V, "auth-client");
    c.properties.authentication_method = method;
    c.properties.maximum_packet_size = max_packet;
    w.send(conn, Packet::Connect((&c).into()));
}

fn auth<'a>(reason: AuthReasonCode, method: &'a str, data: &'a [u8]) -> Auth<'a> {
    let mut a = Auth::new(reason);
    a.properties.authentication_method = Some(method);
    a.properties.authentication_data = Some(data);
    a
}

fn only_auth(got: &[OwnedPacket]) -> (AuthReasonCode, Option<String>, Option<Vec<u8>>) {
    assert_eq!(got.len(), 1, "{got:?}");
    match got[0].packet() {
        Packet::Auth(a) => (
            a.reason_code,
            a.properties.authentication_method.map(str::to_owned),
            a.properties.authentication_data.map(<[u8]>::to_vec),
        ),
        other => panic!("expected AUTH, got {other:?}"),
    }
}

/// The reason code of the CONNACK that starts `got`.
fn connack_code(got: &[OwnedPacket]) -> ConnectReasonCode {
    match got.first().map(OwnedPacket::packet) {
        Some(Packet::ConnAck(a)) => a.reason_code,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// The reason code of the DISCONNECT that starts `got`.
fn disconnect_code(got: &[OwnedPacket]) -> DisconnectReasonCode {
    match got.first().map(OwnedPacket::packet) {
        Some(Packet::Disconnect(d)) => d.reason_code,
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
}

/// Runs the exchange to a successful CONNACK on `conn`.
fn authenticated(w: &mut World, conn: u64) {
    connect_with(w, conn, Some(METHOD), None);
    let (code, _, nonce) = only_auth(&w.take(conn));
    assert_eq!(code, AuthReasonCode::ContinueAuthentication);
    let answer: Vec<u8> = nonce.unwrap().into_iter().rev().collect();
    w.send(
        conn,
        Packet::Auth(auth(
            AuthReasonCode::ContinueAuthentication,
            METHOD,
            &answer,
        )),
    );
    let got = w.take(conn);
    let Packet::ConnAck(a) = got[0].packet() else {
        panic!("{got:?}")
    };
    assert_eq!(a.reason_code, ConnectReasonCode::Success);
}

#[test]
fn mqtt_4_12_0_1_unsupported_authentication_method_server_may_send() {
    // An unknown method, and a broker with no authenticator at all.
    for mut w in [world(), World::new(Config::default())] {
        connect_with(&mut w, 1, Some("SCRAM-SHA-1"), None);
        let got = w.take(1);
        let Packet::ConnAck(a) = got[0].packet() else {
            panic!("{got:?}")
        };
        assert_eq!(a.reason_code, ConnectReasonCode::BadAuthenticationMethod);
        assert_eq!(w.closed, vec![1]);
        assert_eq!(w.b.session_count(), 0);
    }
}

#[test]
fn mqtt_4_12_0_2_a_server_auth_asking_for_more_authentication() {
    let mut w = world();
    connect_with(&mut w, 1, Some(METHOD), None);
    let (code, method, data) = only_auth(&w.take(1));
    assert_eq!(code, AuthReasonCode::ContinueAuthentication);
    assert_eq!(method.as_deref(), Some(METHOD));
    assert_eq!(data.as_deref(), Some(&b"n0nce"[..]));
    // Nothing is decided yet: no session, connection open.
    assert!(w.closed.is_empty());
    assert_eq!(w.b.session_count(), 0);
}

#[test]
fn mqtt_4_12_0_3_client_s_auth_reply_to_a_server() {
    // The server's side of the rule: a reply with another reason code is
    // a protocol error and the CONNECT is refused.
    let mut w = world();
    connect_with(&mut w, 1, Some(METHOD), None);
    w.take(1);
    w.send(
        1,
        Packet::Auth(auth(AuthReasonCode::ReAuthenticate, METHOD, b"ecn0n")),
    );
    assert_eq!(connack_code(&w.take(1)), ConnectReasonCode::ProtocolError);
    assert_eq!(w.closed, vec![1]);
}

#[test]
fn mqtt_4_12_0_4_server_rejecting_authentication_may_send_connack() {
    // A wrong answer, and a client that says no at once.
    let mut w = world();
    connect_with(&mut w, 1, Some(METHOD), None);
    w.take(1);
    w.send(
        1,
        Packet::Auth(auth(
            AuthReasonCode::ContinueAuthentication,
            METHOD,
            b"wrong",
        )),
    );
    assert_eq!(connack_code(&w.take(1)), ConnectReasonCode::NotAuthorized);
    assert_eq!(w.closed, vec![1]);
    assert_eq!(w.b.session_count(), 0);

    let mut w = world();
    w.open(2, V);
    let mut c = Connect::new(V, "x");
    c.properties.authentication_method = Some(METHOD);
    c.properties.authentication_data = Some(b"no");
    w.send(2, Packet::Connect((&c).into()));
    let got = w.take(2);
    assert!(
        matches!(got[0].packet(), Packet::ConnAck(a) if a.reason_code.is_error()),
        "{got:?}"
    );
    assert_eq!(w.closed, vec![2]);
}

#[test]
fn mqtt_4_12_0_5_all_auth_packets_and_a_successful() {
    let mut w = world();
    connect_with(&mut w, 1, Some(METHOD), None);
    let (_, method, _) = only_auth(&w.take(1));
    assert_eq!(method.as_deref(), Some(METHOD));
    w.send(
        1,
        Packet::Auth(auth(
            AuthReasonCode::ContinueAuthentication,
            METHOD,
            b"ecn0n",
        )),
    );
    let got = w.take(1);
    let Packet::ConnAck(a) = got[0].packet() else {
        panic!("{got:?}")
    };
    assert_eq!(a.reason_code, ConnectReasonCode::Success);
    assert_eq!(a.properties.get().authentication_method, Some(METHOD));
    assert_eq!(
        a.properties.get().authentication_data,
        Some(&b"welcome"[..])
    );

    // The server's side for a client that switches methods mid-way.
    let mut w = world();
    connect_with(&mut w, 2, Some(METHOD), None);
    w.take(2);
    w.send(
        2,
        Packet::Auth(auth(
            AuthReasonCode::ContinueAuthentication,
            "other",
            b"ecn0n",
        )),
    );
    assert_eq!(connack_code(&w.take(2)), ConnectReasonCode::ProtocolError);
    assert_eq!(w.closed, vec![2]);
}

#[test]
fn mqtt_4_12_0_6_no_authentication_method_in_connect_server() {
    let mut w = world();
    connect_with(&mut w, 1, None, None);
    let got = w.take(1);
    assert_eq!(got.len(), 1);
    let Packet::ConnAck(a) = got[0].packet() else {
        panic!("{got:?}")
    };
    assert_eq!(a.reason_code, ConnectReasonCode::Success);
    assert_eq!(a.properties.get().authentication_method, None);
    assert_eq!(a.properties.get().authentication_data, None);
    // The session works without any AUTH from the server.
    assert_eq!(
        w.subscribe(1, "t", QoS::AtMostOnce),
        mqttkit_codec::SubscribeReasonCode::GrantedQoS0
    );
    w.publish(1, "t", b"x", QoS::AtMostOnce, 0);
    let got = w.take(1);
    assert!(got.iter().all(|p| !matches!(p.packet(), Packet::Auth(_))));
    assert_eq!(got.len(), 1);
}

#[test]
fn mqtt_4_12_0_7_no_authentication_method_in_connect_client() {
    // The server's side: an AUTH after a CONNECT without a method is a
    // protocol error.
    let mut w = world();
    connect_with(&mut w, 1, None, None);
    w.take(1);
    w.send(
        1,
        Packet::Auth(auth(AuthReasonCode::ReAuthenticate, METHOD, b"")),
    );
    assert_eq!(
        disconnect_code(&w.take(1)),
        DisconnectReasonCode::ProtocolError
    );
    assert_eq!(w.closed, vec![1]);
}

#[test]
fn mqtt_3_1_2_30_after_a_connect_with_authentication_method() {
    // The server's side: a PUBLISH before the exchange ends is refused.
    let mut w = world();
    connect_with(&mut w, 1, Some(METHOD), None);
    w.take(1);
    w.publish(1, "t", b"early", QoS::AtMostOnce, 0);
    assert_eq!(connack_code(&w.take(1)), ConnectReasonCode::ProtocolError);
    assert_eq!(w.closed, vec![1]);
    assert_eq!(w.b.session_count(), 0);
}

#[test]
fn mqtt_4_12_1_1_re_authentication_auth_reason_0x19_uses() {
    // Re-authentication with the same method succeeds with AUTH 0x00 ...
    let mut w = world();
    authenticated(&mut w, 1);
    w.send(
        1,
        Packet::Auth(auth(AuthReasonCode::ReAuthenticate, METHOD, b"")),
    );
    let (code, method, nonce) = only_auth(&w.take(1));
    assert_eq!(code, AuthReasonCode::ContinueAuthentication);
    assert_eq!(method.as_deref(), Some(METHOD));
    let answer: Vec<u8> = nonce.unwrap().into_iter().rev().collect();
    w.send(
        1,
        Packet::Auth(auth(
            AuthReasonCode::ContinueAuthentication,
            METHOD,
            &answer,
        )),
    );
    let (code, method, data) = only_auth(&w.take(1));
    assert_eq!(code, AuthReasonCode::Success);
    assert_eq!(method.as_deref(), Some(METHOD));
    assert_eq!(data.as_deref(), Some(&b"welcome"[..]));
    assert!(w.closed.is_empty());
    // ... while another method is a protocol error.
    w.send(
        1,
        Packet::Auth(auth(AuthReasonCode::ReAuthenticate, "other", b"")),
    );
    assert_eq!(
        disconnect_code(&w.take(1)),
        DisconnectReasonCode::ProtocolError
    );
    assert_eq!(w.closed, vec![1]);
}

#[test]
fn mqtt_4_12_1_2_failed_re_authentication_close_the_connection() {
    let mut w = world();
    authenticated(&mut w, 1);
    w.send(
        1,
        Packet::Auth(auth(AuthReasonCode::ReAuthenticate, METHOD, b"")),
    );
    w.take(1);
    w.send(
        1,
        Packet::Auth(auth(
            AuthReasonCode::ContinueAuthentication,
            METHOD,
            b"wrong",
        )),
    );
    assert_eq!(
        disconnect_code(&w.take(1)),
        DisconnectReasonCode::NotAuthorized
    );
    assert_eq!(w.closed, vec![1]);
}

/// The AUTH a client with Maximum Packet Size `max` gets when the
/// challenge carries a 300-byte Reason String and a 300-byte User Property.
fn challenge_under(max: u32) -> Option<(Option<String>, usize)> {
    let mut w = World::new(Config::default());
    w.b.set_authenticator(Box::new(Reverse {
        reason: Some("r".repeat(300)),
        users: vec![("k".into(), "v".repeat(300))],
    }));
    connect_with(&mut w, 1, Some(METHOD), Some(max));
    let got = w.take(1);
    match got.first().map(|p| p.packet()) {
        Some(Packet::Auth(a)) => {
            assert!(got[0].bytes().len() <= max as usize);
            assert_eq!(a.properties.authentication_method, Some(METHOD));
            assert_eq!(a.properties.authentication_data, Some(&b"n0nce"[..]));
            Some((
                a.properties.reason_string.map(str::to_owned),
                a.properties.user_properties.iter().count(),
            ))
        }
        _ => None,
    }
}

#[test]
fn mqtt_3_15_2_2_auth_reason_string_is_omitted_if() {
    // Room for everything: both are sent.
    let (reason, users) = challenge_under(10_000).unwrap();
    assert_eq!(reason.map(|r| r.len()), Some(300));
    assert_eq!(users, 1);
    // Room for the User Property but not for both: the Reason String goes.
    let (reason, users) = challenge_under(400).unwrap();
    assert_eq!(reason, None);
    assert_eq!(users, 1);
}

#[test]
fn mqtt_3_15_2_3_auth_user_properties_are_omitted_if() {
    // Room for the bare challenge only: both go.
    let (reason, users) = challenge_under(64).unwrap();
    assert_eq!(reason, None);
    assert_eq!(users, 0);
    // Not even that fits: the exchange cannot start and is refused.
    assert_eq!(challenge_under(20), None);
}
