//! The embedded reference broker with a third-party client library
//! (rumqttc, its 3.1.1 and 5.0 clients): QoS 0/1/2 both ways, retained
//! messages and wills. Every wait is bounded by a timeout.

use std::time::Duration;

use mqttkit_broker::{Broker, Running};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// What a client saw, the same for both rumqttc clients.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    ConnAck,
    SubAck,
    PubAck,
    PubComp,
    SentDisconnect,
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        retain: bool,
    },
    Error(String),
}

async fn broker() -> Running {
    Broker::builder()
        .listen_tcp("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap()
}

/// Waits for the first event `want` accepts; panics on a client error or
/// after the wait.
async fn expect(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    what: &str,
    want: impl Fn(&Seen) -> bool,
) -> Seen {
    timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Some(Seen::Error(e)) => panic!("client error while waiting for {what}: {e}"),
                Some(s) if want(&s) => return s,
                Some(_) => {}
                None => panic!("client stopped while waiting for {what}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} in time"))
}

async fn next_publish(rx: &mut mpsc::UnboundedReceiver<Seen>) -> (String, Vec<u8>, u8, bool) {
    match expect(rx, "PUBLISH", |s| matches!(s, Seen::Publish { .. })).await {
        Seen::Publish {
            topic,
            payload,
            qos,
            retain,
        } => (topic, payload, qos, retain),
        _ => unreachable!(),
    }
}

mod v4 {
    use super::*;
    use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};

    pub fn qos(n: u8) -> QoS {
        match n {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        }
    }

    /// A client whose event loop runs in a task that reports what it sees.
    pub fn spawn(
        b: &Running,
        id: &str,
        will: Option<(&str, &[u8])>,
    ) -> (AsyncClient, mpsc::UnboundedReceiver<Seen>, JoinHandle<()>) {
        let addr = b.tcp_addr();
        let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        o.set_keep_alive(Duration::from_secs(30));
        if let Some((t, p)) = will {
            o.set_last_will(LastWill::new(t, p.to_vec(), QoS::AtLeastOnce, false));
        }
        let (client, mut ev) = AsyncClient::new(o, 64);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let seen = match ev.poll().await {
                    Ok(Event::Incoming(p)) => match p {
                        Packet::ConnAck(_) => Seen::ConnAck,
                        Packet::SubAck(_) => Seen::SubAck,
                        Packet::PubAck(_) => Seen::PubAck,
                        Packet::PubComp(_) => Seen::PubComp,
                        Packet::Publish(p) => Seen::Publish {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            qos: p.qos as u8,
                            retain: p.retain,
                        },
                        _ => continue,
                    },
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => Seen::SentDisconnect,
                    Ok(Event::Outgoing(_)) => continue,
                    Err(e) => Seen::Error(e.to_string()),
                };
                let stop = matches!(seen, Seen::Error(_));
                if tx.send(seen).is_err() || stop {
                    return;
                }
            }
        });
        (client, rx, task)
    }
}

mod v5 {
    use super::*;
    use rumqttc::v5::mqttbytes::v5::{LastWill, Packet};
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    use rumqttc::Outgoing;

    pub fn qos(n: u8) -> QoS {
        match n {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        }
    }

    pub fn spawn(
        b: &Running,
        id: &str,
        will: Option<(&str, &[u8])>,
    ) -> (AsyncClient, mpsc::UnboundedReceiver<Seen>, JoinHandle<()>) {
        let addr = b.tcp_addr();
        let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        o.set_keep_alive(Duration::from_secs(30));
        if let Some((t, p)) = will {
            o.set_last_will(LastWill::new(t, p.to_vec(), QoS::AtLeastOnce, false, None));
        }
        let (client, mut ev) = AsyncClient::new(o, 64);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let seen = match ev.poll().await {
                    Ok(Event::Incoming(p)) => match p {
                        Packet::ConnAck(_) => Seen::ConnAck,
                        Packet::SubAck(_) => Seen::SubAck,
                        Packet::PubAck(_) => Seen::PubAck,
                        Packet::PubComp(_) => Seen::PubComp,
                        Packet::Publish(p) => Seen::Publish {
                            topic: String::from_utf8_lossy(&p.topic).into_owned(),
                            payload: p.payload.to_vec(),
                            qos: p.qos as u8,
                            retain: p.retain,
                        },
                        _ => continue,
                    },
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => Seen::SentDisconnect,
                    Ok(Event::Outgoing(_)) => continue,
                    Err(e) => Seen::Error(e.to_string()),
                };
                let stop = matches!(seen, Seen::Error(_));
                if tx.send(seen).is_err() || stop {
                    return;
                }
            }
        });
        (client, rx, task)
    }
}

/// The same scenarios for both clients (their APIs differ only in types).
macro_rules! scenarios {
    ($m:ident, $t:ident, $prefix:literal) => {
        mod $t {
            use super::*;
            use crate::$m::{qos, spawn};

            #[tokio::test]
            async fn qos_0_1_2_both_ways() {
                let b = broker().await;
                let (sub, mut srx, st) = spawn(&b, concat!($prefix, "-sub"), None);
                let (publ, mut prx, pt) = spawn(&b, concat!($prefix, "-pub"), None);
                expect(&mut srx, "CONNACK", |s| *s == Seen::ConnAck).await;
                expect(&mut prx, "CONNACK", |s| *s == Seen::ConnAck).await;
                sub.subscribe(concat!($prefix, "/q/#"), qos(2))
                    .await
                    .unwrap();
                expect(&mut srx, "SUBACK", |s| *s == Seen::SubAck).await;
                for n in 0..3u8 {
                    let topic = format!("{}/q/{n}", $prefix);
                    publ.publish(topic, qos(n), false, vec![n; 3])
                        .await
                        .unwrap();
                    // The publisher's side of the flow completes.
                    match n {
                        1 => {
                            expect(&mut prx, "PUBACK", |s| *s == Seen::PubAck).await;
                        }
                        2 => {
                            expect(&mut prx, "PUBCOMP", |s| *s == Seen::PubComp).await;
                        }
                        _ => {}
                    }
                    // The subscriber gets it at the publisher's QoS (granted 2).
                    let (t, p, q, r) = next_publish(&mut srx).await;
                    assert_eq!(t, format!("{}/q/{n}", $prefix));
                    assert_eq!(p, vec![n; 3]);
                    assert_eq!(q, n);
                    assert!(!r);
                }
                st.abort();
                pt.abort();
                b.shutdown().await;
            }

            #[tokio::test]
            async fn retained_message_reaches_a_later_subscriber() {
                let b = broker().await;
                let (publ, mut prx, pt) = spawn(&b, concat!($prefix, "-rpub"), None);
                expect(&mut prx, "CONNACK", |s| *s == Seen::ConnAck).await;
                publ.publish(concat!($prefix, "/r"), qos(1), true, b"kept".to_vec())
                    .await
                    .unwrap();
                expect(&mut prx, "PUBACK", |s| *s == Seen::PubAck).await;
                let (sub, mut srx, st) = spawn(&b, concat!($prefix, "-rsub"), None);
                expect(&mut srx, "CONNACK", |s| *s == Seen::ConnAck).await;
                sub.subscribe(concat!($prefix, "/r"), qos(1)).await.unwrap();
                let (t, p, q, r) = next_publish(&mut srx).await;
                assert_eq!(t, concat!($prefix, "/r"));
                assert_eq!(p, b"kept");
                assert_eq!(q, 1);
                assert!(r, "a retained message sent on subscribe keeps RETAIN");
                st.abort();
                pt.abort();
                b.shutdown().await;
            }

            #[tokio::test]
            async fn will_is_published_when_the_connection_drops() {
                let b = broker().await;
                let (sub, mut srx, st) = spawn(&b, concat!($prefix, "-wsub"), None);
                expect(&mut srx, "CONNACK", |s| *s == Seen::ConnAck).await;
                sub.subscribe(concat!($prefix, "/will"), qos(1))
                    .await
                    .unwrap();
                expect(&mut srx, "SUBACK", |s| *s == Seen::SubAck).await;
                let (_w, mut wrx, wt) = spawn(
                    &b,
                    concat!($prefix, "-dying"),
                    Some((concat!($prefix, "/will"), b"gone")),
                );
                expect(&mut wrx, "CONNACK", |s| *s == Seen::ConnAck).await;
                // Dropping the event loop closes the socket without DISCONNECT.
                wt.abort();
                let _ = wt.await;
                let (t, p, q, _) = next_publish(&mut srx).await;
                assert_eq!(t, concat!($prefix, "/will"));
                assert_eq!(p, b"gone");
                assert_eq!(q, 1);
                st.abort();
                b.shutdown().await;
            }

            #[tokio::test]
            async fn normal_disconnect_sends_no_will() {
                let b = broker().await;
                let (sub, mut srx, st) = spawn(&b, concat!($prefix, "-nsub"), None);
                expect(&mut srx, "CONNACK", |s| *s == Seen::ConnAck).await;
                sub.subscribe(concat!($prefix, "/nwill/#"), qos(1))
                    .await
                    .unwrap();
                expect(&mut srx, "SUBACK", |s| *s == Seen::SubAck).await;
                let (w, mut wrx, wt) = spawn(
                    &b,
                    concat!($prefix, "-polite"),
                    Some((concat!($prefix, "/nwill/w"), b"gone")),
                );
                expect(&mut wrx, "CONNACK", |s| *s == Seen::ConnAck).await;
                w.disconnect().await.unwrap();
                expect(&mut wrx, "DISCONNECT sent", |s| *s == Seen::SentDisconnect).await;
                wt.abort();
                let _ = wt.await;
                // A marker published afterwards is the next thing the
                // subscriber sees: no will came before it.
                let (p2, mut p2rx, p2t) = spawn(&b, concat!($prefix, "-marker"), None);
                expect(&mut p2rx, "CONNACK", |s| *s == Seen::ConnAck).await;
                p2.publish(concat!($prefix, "/nwill/m"), qos(1), false, b"m".to_vec())
                    .await
                    .unwrap();
                let (t, _, _, _) = next_publish(&mut srx).await;
                assert_eq!(t, concat!($prefix, "/nwill/m"));
                st.abort();
                p2t.abort();
                b.shutdown().await;
            }
        }
    };
}

scenarios!(v4, with_v4_client, "rq4");
scenarios!(v5, with_v5_client, "rq5");
