//! Statements about MQTT over WebSocket (MQTT-6.0.0-x), checked against the
//! reference broker's WebSocket listener: the model behind a real socket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mqttkit_broker::model::{Broker, Config};
use mqttkit_broker::Builder;
use mqttkit_codec::{
    Connect, Decoder, Lazy, Packet, ProtocolVersion, QoS, Subscribe, Subscription,
};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

/// What one WebSocket session with the reference broker showed.
#[derive(Debug)]
pub struct WsSession {
    /// The subprotocol the server selected.
    pub subprotocol: Option<String>,
    /// Packet type names received before the text frame, in order.
    pub received: Vec<String>,
    /// The server closed the connection after a text frame.
    pub closed_on_text: bool,
}

fn encode(p: Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    p.to_vec(v).expect("valid packet")
}

/// Connects over WebSocket offering `mqtt`, sends a CONNECT split across
/// two binary messages, then a SUBSCRIBE and a PINGREQ in one message,
/// collects what comes back, then sends a text message and waits for the
/// connection to end.
pub fn session(v: ProtocolVersion) -> WsSession {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let broker = Builder::default()
            .listen_ws("127.0.0.1:0".parse().expect("address"))
            .start(Broker::new(Config::default()))
            .await
            .expect("start the reference broker");
        let addr = broker.addr_of(true, false).expect("ws listener");
        let mut req = format!("ws://{addr}/mqtt")
            .into_client_request()
            .expect("request");
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "mqtt".parse().expect("header"));
        let (mut ws, resp) = timeout(WAIT, tokio_tungstenite::connect_async(req))
            .await
            .expect("handshake in time")
            .expect("handshake");
        let subprotocol = resp
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);

        let connect = encode(Packet::Connect(Lazy::new(&Connect::new(v, "ws-client"))), v);
        let (a, b) = connect.split_at(3);
        for part in [a, b] {
            ws.send(Message::Binary(part.to_vec().into()))
                .await
                .expect("send");
        }
        let subs = [Subscription::new("ws/t", QoS::AtLeastOnce)];
        let mut two = encode(Packet::Subscribe(Subscribe::new(7, &subs)), v);
        two.extend(encode(Packet::PingReq, v));
        ws.send(Message::Binary(two.into())).await.expect("send");

        let mut buf = Vec::new();
        let mut received = Vec::new();
        while received.len() < 3 {
            match timeout(WAIT, ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => buf.extend_from_slice(&b),
                Ok(Some(Ok(_))) => continue,
                _ => break,
            }
            while let Ok((p, n)) = Decoder::new(v).decode(&buf) {
                received.push(p.packet_type().name().to_owned());
                buf.drain(..n);
            }
        }

        ws.send(Message::Text("not mqtt".into()))
            .await
            .expect("send");
        let closed_on_text = timeout(WAIT, async {
            loop {
                match ws.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
        .is_ok();
        broker.shutdown().await;
        WsSession {
            subprotocol,
            received,
            closed_on_text,
        }
    })
}

/// Over plain TCP: connects, subscribes to its own topic, publishes `n`
/// QoS 0 messages (payload: the index as 4 bytes) and returns the payloads
/// received, in arrival order (stops after 5 s without data).
pub fn tcp_round_trip(v: ProtocolVersion, n: u32) -> Vec<Vec<u8>> {
    use mqttkit_codec::Publish;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let broker = Builder::default()
            .start(Broker::new(Config::default()))
            .await
            .expect("start the reference broker");
        let mut s = tokio::net::TcpStream::connect(broker.tcp_addr())
            .await
            .expect("connect");
        let mut out = encode(
            Packet::Connect(Lazy::new(&Connect::new(v, "tcp-client"))),
            v,
        );
        let subs = [Subscription::new("tcp/t", QoS::AtMostOnce)];
        out.extend(encode(Packet::Subscribe(Subscribe::new(1, &subs)), v));
        s.write_all(&out).await.expect("write");
        let mut buf = Vec::new();
        let mut payloads = Vec::new();
        let mut acks = 0;
        let mut chunk = [0u8; 4096];
        let mut sent = false;
        while payloads.len() < n as usize {
            if acks == 2 && !sent {
                // CONNACK and SUBACK are in: publish everything at once.
                let mut out = Vec::new();
                for i in 0..n {
                    let bytes = i.to_be_bytes();
                    out.extend(encode(Packet::Publish(Publish::new("tcp/t", &bytes)), v));
                }
                s.write_all(&out).await.expect("write");
                sent = true;
            }
            match timeout(WAIT, s.read(&mut chunk)).await {
                Ok(Ok(k)) if k > 0 => buf.extend_from_slice(&chunk[..k]),
                _ => break,
            }
            while let Ok((p, used)) = Decoder::new(v).decode(&buf) {
                match p {
                    Packet::Publish(p) => payloads.push(p.payload.to_vec()),
                    _ => acks += 1,
                }
                buf.drain(..used);
            }
        }
        broker.shutdown().await;
        payloads
    })
}

/// §6.0.0-1 (both versions): binary messages carry the session and a text
/// message ends it.
pub fn check_binary_frames_only(v: ProtocolVersion) {
    let s = session(v);
    assert_eq!(s.received, ["CONNACK", "SUBACK", "PINGRESP"], "{s:?}");
    assert!(s.closed_on_text, "{s:?}");
}

/// §6.0.0-2 (both versions): the CONNECT came in two messages, SUBSCRIBE and
/// PINGREQ in one, and every packet was answered.
pub fn check_packets_across_messages(v: ProtocolVersion) {
    let s = session(v);
    assert_eq!(s.received, ["CONNACK", "SUBACK", "PINGRESP"], "{s:?}");
}

/// §6.0.0-4 (both versions): the server returns `mqtt` as the subprotocol.
pub fn check_subprotocol_is_mqtt(v: ProtocolVersion) {
    let s = session(v);
    assert_eq!(s.subprotocol.as_deref(), Some("mqtt"), "{s:?}");
}
