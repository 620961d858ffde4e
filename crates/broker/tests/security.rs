//! Passwords, anonymous access and ACL rules of the reference broker over
//! loopback sockets, with raw packets from the codec, in 3.1, 3.1.1 and
//! 5.0. Every wait is bounded.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mqttkit_broker::security::{hash_password_with, SecurityConfig};
use mqttkit_broker::{Broker, Running};
use mqttkit_codec::{
    Connect, ConnectReasonCode, Packet, ProtocolVersion, PubAckReasonCode, Publish, QoS,
    StreamDecoder, Subscribe, SubscribeReasonCode, Subscription,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

mod common;
use common::Client;

const WAIT: Duration = Duration::from_secs(5);
const V31: ProtocolVersion = ProtocolVersion::V3_1;
const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// A directory for this test's files, emptied first.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mqttkit-sec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A password file (cheap Argon2 parameters: this tests the broker, not
/// the hash).
fn password_file(dir: &std::path::Path, users: &[(&str, &str)]) -> PathBuf {
    let params = argon2::Params::new(64, 1, 1, None).unwrap();
    let mut text = String::from("# test users\n");
    for (u, p) in users {
        text.push_str(&format!(
            "{u}:{}\n",
            hash_password_with(p.as_bytes(), params.clone()).unwrap()
        ));
    }
    let path = dir.join("passwd");
    std::fs::write(&path, text).unwrap();
    path
}

async fn start(security: SecurityConfig) -> Running {
    Broker::builder()
        .listen_tcp("127.0.0.1:0".parse().unwrap())
        .security(security)
        .start()
        .await
        .unwrap()
}

impl Client {
    async fn open(addr: SocketAddr, v: ProtocolVersion) -> Client {
        Client {
            s: TcpStream::connect(addr).await.unwrap(),
            dec: StreamDecoder::with_version(v),
            v,
        }
    }

    /// Connects; returns the CONNACK's code and the raw CONNACK bytes.
    async fn connect_as(
        &mut self,
        id: &str,
        user: Option<&str>,
        password: Option<&[u8]>,
    ) -> (ConnectReasonCode, Vec<u8>) {
        let mut c = Connect::new(self.v, id);
        c.username = user;
        c.password = password;
        self.send(Packet::Connect((&c).into())).await;
        let ack = self.recv().await;
        match ack.packet() {
            Packet::ConnAck(a) => (a.reason_code, ack.bytes().to_vec()),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    async fn login(addr: SocketAddr, v: ProtocolVersion, id: &str, user: &str) -> Client {
        let mut c = Client::open(addr, v).await;
        let (code, _) = c.connect_as(id, Some(user), Some(b"pw")).await;
        assert_eq!(code, ConnectReasonCode::Success, "{id} as {user}");
        c
    }

    /// True when the broker closes the connection (within the wait).
    async fn closed(&mut self) -> bool {
        let mut b = [0u8; 64];
        matches!(
            timeout(WAIT, self.s.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    async fn subscribe(&mut self, filters: &[&str]) -> Vec<SubscribeReasonCode> {
        let subs: Vec<Subscription<'_>> = filters
            .iter()
            .map(|f| Subscription::new(f, QoS::AtLeastOnce))
            .collect();
        self.send(Packet::Subscribe(Subscribe::new(7, &subs))).await;
        let ack = self.recv().await;
        match ack.packet() {
            Packet::SubAck(a) => a.reason_codes.iter().collect(),
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publishes at QoS 1; returns the PUBACK's reason code.
    async fn publish1(&mut self, topic: &str, id: u16) -> PubAckReasonCode {
        let mut p = Publish::new(topic, b"m");
        p.qos = QoS::AtLeastOnce;
        p.packet_id = Some(id);
        self.send(Packet::Publish(p)).await;
        let ack = self.recv().await;
        match ack.packet() {
            Packet::PubAck(a) => {
                assert_eq!(a.packet_id, id);
                a.reason_code
            }
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }

    /// The topic of the next PUBLISH (acknowledged when QoS 1).
    async fn next_topic(&mut self) -> String {
        loop {
            let p = self.recv().await;
            if let Packet::Publish(m) = p.packet() {
                let topic = m.topic.to_owned();
                if let Some(id) = m.packet_id {
                    self.send(Packet::PubAck(mqttkit_codec::PubAck::new(id)))
                        .await;
                }
                return topic;
            }
        }
    }
}

#[tokio::test]
async fn passwords_and_anonymous_access_in_every_version() {
    let dir = scratch("passwords");
    let broker = start(SecurityConfig {
        allow_anonymous: Some(false),
        password_file: Some(password_file(&dir, &[("alice", "s3cret")])),
        acl_file: None,
    })
    .await;
    let addr = broker.tcp_addr();
    for v in [V31, V4, V5] {
        // Right password.
        let mut c = Client::open(addr, v).await;
        let (code, _) = c.connect_as("a1", Some("alice"), Some(b"s3cret")).await;
        assert_eq!(code, ConnectReasonCode::Success, "{v:?}");
        // Wrong password, unknown user, missing password: bad credentials
        // (3.x return code 4, 5.0 0x86), and the connection is closed.
        for (user, pw) in [
            ("alice", Some(&b"wrong"[..])),
            ("mallory", Some(&b"s3cret"[..])),
            ("alice", None),
        ] {
            let mut c = Client::open(addr, v).await;
            let (code, raw) = c.connect_as("a2", Some(user), pw).await;
            assert_eq!(
                code,
                ConnectReasonCode::BadUserNameOrPassword,
                "{v:?} {user}"
            );
            if v.is_v5() {
                assert_eq!(raw[3], 0x86, "{raw:02x?}");
            } else {
                assert_eq!(raw, [0x20, 0x02, 0x00, 0x04]);
            }
            assert!(c.closed().await, "{v:?}: still open after a refusal");
        }
        // No user name, anonymous access off: not authorized (5 / 0x87).
        let mut c = Client::open(addr, v).await;
        let (code, raw) = c.connect_as("anon", None, None).await;
        assert_eq!(code, ConnectReasonCode::NotAuthorized, "{v:?}");
        if v.is_v5() {
            assert_eq!(raw[3], 0x87, "{raw:02x?}");
        } else {
            assert_eq!(raw, [0x20, 0x02, 0x00, 0x05]);
        }
        assert!(c.closed().await);
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn anonymous_access_defaults_to_on_for_loopback_listeners() {
    let dir = scratch("anon-default");
    let broker = start(SecurityConfig {
        allow_anonymous: None,
        password_file: Some(password_file(&dir, &[("alice", "pw")])),
        acl_file: None,
    })
    .await;
    let mut c = Client::open(broker.tcp_addr(), V4).await;
    let (code, _) = c.connect_as("anon", None, None).await;
    assert_eq!(code, ConnectReasonCode::Success);
    // A user name still needs its password.
    let mut c = Client::open(broker.tcp_addr(), V4).await;
    let (code, _) = c.connect_as("x", Some("alice"), Some(b"nope")).await;
    assert_eq!(code, ConnectReasonCode::BadUserNameOrPassword);
    broker.shutdown().await;
}

const ACL: &str = "\
# alice owns alice/#, reads shared/#, never sees alice/secret
user alice
topic readwrite alice/#
topic read shared/#
topic deny alice/secret

# bob writes news and may write into alice's space
user bob
topic write shared/news
topic write alice/#

# everyone: a space per client id, an inbox per user
pattern readwrite clients/%c/#
pattern read users/%u/inbox
pattern write users/+/inbox
";

async fn acl_broker(name: &str) -> Running {
    let dir = scratch(name);
    let acl = dir.join("acl");
    std::fs::write(&acl, ACL).unwrap();
    start(SecurityConfig {
        allow_anonymous: Some(false),
        password_file: Some(password_file(&dir, &[("alice", "pw"), ("bob", "pw")])),
        acl_file: Some(acl),
    })
    .await
}

#[tokio::test]
async fn acl_subscribe_denials() {
    let broker = acl_broker("acl-sub").await;
    let addr = broker.tcp_addr();
    for v in [V4, V5] {
        let mut alice = Client::login(addr, v, "al-1", "alice").await;
        let codes = alice
            .subscribe(&["alice/#", "bob/#", "shared/+", "#", "users/alice/inbox"])
            .await;
        // 3.1.1 has one failure code (0x80); 5.0 says why (0x87).
        let no = if v.is_v5() {
            SubscribeReasonCode::NotAuthorized
        } else {
            SubscribeReasonCode::UnspecifiedError
        };
        let ok = SubscribeReasonCode::GrantedQoS1;
        assert_eq!(codes, [ok, no, ok, no, ok], "{v:?}");
        // %u: not another user's inbox; %c: only its own client space.
        let codes = alice
            .subscribe(&["users/bob/inbox", "clients/al-1/#", "clients/other/#"])
            .await;
        assert_eq!(codes, [no, ok, no], "{v:?}");
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn acl_publish_denials_and_substitution() {
    let broker = acl_broker("acl-pub").await;
    let addr = broker.tcp_addr();
    for v in [V4, V5] {
        let mut alice = Client::login(addr, v, &format!("al-{v:?}"), "alice").await;
        let granted = alice.subscribe(&["shared/#", "alice/#"]).await;
        assert!(granted.iter().all(|c| !c.is_error()), "{granted:?}");
        let mut bob = Client::login(addr, v, "dev7", "bob").await;
        let denied = if v.is_v5() {
            PubAckReasonCode::NotAuthorized
        } else {
            // 3.1.1 has no way to say it: acknowledged, then dropped.
            PubAckReasonCode::Success
        };
        let ok = PubAckReasonCode::Success;
        assert_eq!(bob.publish1("shared/other", 1).await, denied, "{v:?}");
        assert_eq!(bob.publish1("shared/news", 2).await, ok, "{v:?}");
        // The denied message never arrives: the next one is the allowed one.
        assert_eq!(alice.next_topic().await, "shared/news", "{v:?}");
        // %c: its own client space only.
        assert_eq!(bob.publish1("clients/dev7/t", 3).await, ok, "{v:?}");
        assert_eq!(bob.publish1("clients/dev8/t", 4).await, denied, "{v:?}");
        // QoS 0 denied silently in both versions.
        let mut p = Publish::new("shared/zero", b"0");
        p.qos = QoS::AtMostOnce;
        bob.send(Packet::Publish(p)).await;
        assert_eq!(bob.publish1("alice/hello", 5).await, ok, "{v:?}");
        assert_eq!(alice.next_topic().await, "alice/hello", "{v:?}");
        drop(bob);
        drop(alice);
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn acl_read_is_checked_per_message_through_wildcards() {
    let broker = acl_broker("acl-read").await;
    let addr = broker.tcp_addr();
    for v in [V4, V5] {
        let mut alice = Client::login(addr, v, &format!("al-r-{v:?}"), "alice").await;
        assert_eq!(
            alice.subscribe(&["alice/#"]).await,
            [SubscribeReasonCode::GrantedQoS1]
        );
        let mut bob = Client::login(addr, v, &format!("bob-r-{v:?}"), "bob").await;
        // bob may write alice/secret; alice's alice/# covers it but the
        // deny rule keeps it from her.
        assert_eq!(
            bob.publish1("alice/secret", 1).await,
            PubAckReasonCode::Success
        );
        assert_eq!(
            bob.publish1("alice/public", 2).await,
            PubAckReasonCode::Success
        );
        assert_eq!(alice.next_topic().await, "alice/public", "{v:?}");
        // bob writes to alice's inbox (users/+/inbox); she reads it (%u).
        assert_eq!(alice.subscribe(&["users/alice/inbox"]).await.len(), 1);
        assert_eq!(
            bob.publish1("users/alice/inbox", 3).await,
            PubAckReasonCode::Success
        );
        assert_eq!(alice.next_topic().await, "users/alice/inbox", "{v:?}");
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn unreadable_or_malformed_files_stop_the_start_with_file_and_line() {
    let dir = scratch("bad-files");
    let acl = dir.join("acl");
    std::fs::write(&acl, "user a\ntopic read ok/#\ntopic sometimes x\n").unwrap();
    let e = Broker::builder()
        .listen_tcp("127.0.0.1:0".parse().unwrap())
        .security(SecurityConfig {
            acl_file: Some(acl.clone()),
            ..SecurityConfig::default()
        })
        .start()
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&format!("{}:3:", acl.display())), "{msg}");
    let pw = dir.join("passwd");
    std::fs::write(&pw, "alice:not-a-hash\n").unwrap();
    let e = Broker::builder()
        .security(SecurityConfig {
            password_file: Some(pw.clone()),
            ..SecurityConfig::default()
        })
        .start()
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains(&format!("{}:1:", pw.display())),
        "{e}"
    );
    let e = Broker::builder()
        .security(SecurityConfig {
            password_file: Some(dir.join("missing")),
            ..SecurityConfig::default()
        })
        .start()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[tokio::test]
async fn sys_statistics_reach_a_subscriber_over_loopback() {
    let broker = Broker::builder()
        .config(mqttkit_broker::model::Config {
            sys_interval_ms: 200,
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let mut c = Client::open(broker.tcp_addr(), V4).await;
    let (code, _) = c.connect_as("sys-watch", None, None).await;
    assert_eq!(code, ConnectReasonCode::Success);
    assert_eq!(
        c.subscribe(&["$SYS/broker/clients/connected", "$SYS/broker/version"])
            .await,
        [SubscribeReasonCode::GrantedQoS1; 2]
    );
    let mut seen = std::collections::BTreeMap::new();
    // Retained values or the next publication; bounded by recv's wait.
    for _ in 0..20 {
        let p = c.recv().await;
        if let Packet::Publish(m) = p.packet() {
            seen.insert(
                m.topic.to_owned(),
                String::from_utf8_lossy(m.payload).into_owned(),
            );
        }
        if seen.len() == 2 {
            break;
        }
    }
    assert!(
        seen.get("$SYS/broker/version")
            .is_some_and(|v| v.starts_with("mqttkit ")),
        "{seen:?}"
    );
    let n: u64 = seen["$SYS/broker/clients/connected"].parse().unwrap();
    assert!(n >= 1, "{seen:?}");
    broker.shutdown().await;
}

#[tokio::test]
async fn limits_from_a_settings_file_reach_the_running_broker() {
    use mqttkit_broker::{FileConfig, Settings};
    let f = FileConfig::parse(
        "listen = [\"127.0.0.1:0\"]\nsys_interval = 0\n[limits]\nconnect_timeout = 1\n\
         max_packet_size = 128\n",
        std::path::Path::new("limits.toml"),
    )
    .unwrap();
    let mut settings = Settings::default();
    settings.apply(f);
    settings.validate().unwrap();
    let broker = settings.builder(None).unwrap().start().await.unwrap();
    let addr = broker.tcp_addr();
    // A connection that never sends CONNECT is closed (after 1 s).
    let mut silent = Client::open(addr, V4).await;
    assert!(silent.closed().await, "silent connection still open");
    // A packet over max_packet_size closes the connection; 5.0 says why.
    let mut big = Client::open(addr, V5).await;
    let (code, raw) = big.connect_as("big", None, None).await;
    assert_eq!(code, ConnectReasonCode::Success);
    // The CONNACK tells a 5.0 client the limit (property 0x27 = 128).
    assert!(
        raw.windows(5).any(|w| w == [0x27, 0, 0, 0, 128]),
        "{raw:02x?}"
    );
    let payload = [0u8; 200];
    let p = Publish::new("big/t", &payload);
    big.send(Packet::Publish(p)).await;
    let end = big.recv().await;
    match end.packet() {
        Packet::Disconnect(d) => assert_eq!(
            d.reason_code,
            mqttkit_codec::DisconnectReasonCode::PacketTooLarge
        ),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    assert!(big.closed().await);
    broker.shutdown().await;

    // A fresh broker for the connection cap, so that no earlier
    // connection is still being torn down when it is counted.
    let mut settings = Settings::default();
    settings.apply(
        FileConfig::parse(
            "listen = [\"127.0.0.1:0\"]\n[limits]\nmax_connections = 3\n",
            std::path::Path::new("cap.toml"),
        )
        .unwrap(),
    );
    let broker = settings.builder(None).unwrap().start().await.unwrap();
    let addr = broker.tcp_addr();
    // With three open, a fourth is closed on accept.
    let mut held = Vec::new();
    for i in 0..3 {
        let mut c = Client::open(addr, V4).await;
        let (code, _) = c.connect_as(&format!("held-{i}"), None, None).await;
        assert_eq!(code, ConnectReasonCode::Success);
        held.push(c);
    }
    let mut extra = Client::open(addr, V4).await;
    assert!(extra.closed().await, "a fourth connection was kept");
    drop(held);
    broker.shutdown().await;
}
