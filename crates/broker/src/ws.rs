//! MQTT over WebSocket (MQTT 5.0 §6, 3.1.1 §6).
//!
//! MQTT travels in binary messages; message boundaries mean nothing (a
//! packet may span messages and a message may hold several packets), so
//! each message's payload is simply the next bytes of the MQTT stream. The
//! server selects the subprotocol `mqtt` when the client offers it.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use crate::core::ConnId;
use crate::server::{register, Event, Slot, WriteCmd};

/// Largest WebSocket message or frame accepted (the MQTT packet size
/// limit is the core's business; this bounds what one message buffers).
const MAX_MESSAGE: usize = 16 << 20;

/// The WebSocket handshake, choosing the `mqtt` subprotocol when offered.
pub(crate) async fn accept(
    sock: TcpStream,
) -> Result<WebSocketStream<TcpStream>, tokio_tungstenite::tungstenite::Error> {
    // The callback's signature is tungstenite's; its error type is large.
    #[allow(clippy::result_large_err)]
    let choose = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let offered = req
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case("mqtt"));
        if offered {
            resp.headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        } else {
            debug!("WebSocket client did not offer the mqtt subprotocol");
        }
        Ok(resp)
    };
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_MESSAGE);
    config.max_frame_size = Some(MAX_MESSAGE);
    tokio_tungstenite::accept_hdr_async_with_config(sock, choose, Some(config)).await
}

/// Serves one WebSocket connection: binary payloads to the core task,
/// core output back as binary messages (from a writer task of its own).
pub(crate) async fn serve(
    conn: ConnId,
    peer: SocketAddr,
    ws: WebSocketStream<TcpStream>,
    slot: Slot,
) {
    let events = &slot.events;
    let Some(outbox) = register(conn, peer, events).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let out = outbox.clone();
    let writer = tokio::spawn(async move {
        while let Some(cmd) = out.recv().await {
            match cmd {
                WriteCmd::Data(b) => {
                    let n = b.len();
                    let r = sink.send(Message::Binary(b)).await;
                    out.queued.fetch_sub(n, Ordering::Relaxed);
                    if r.is_err() {
                        break;
                    }
                }
                WriteCmd::Close => break,
            }
        }
        let _ = sink.close().await;
    });
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            // Also on shutdown: the core task stops every connection.
            _ = outbox.stopped() => break,
        };
        match msg {
            Some(Ok(Message::Binary(data))) => {
                if events.send(Event::Bytes { conn, data }).await.is_err() {
                    break;
                }
            }
            // Pings are answered by the WebSocket layer.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Text(_))) => {
                // MQTT-6.0.0-1: data must be sent in binary messages.
                debug!(conn, "text WebSocket message: closing");
                break;
            }
            Some(Ok(Message::Close(_))) | None => break,
            Some(Err(e)) => {
                debug!(conn, error = %e, "WebSocket read failed");
                break;
            }
        }
    }
    let _ = events.send(Event::Closed { conn }).await;
    let _ = writer.await;
    debug!(conn, "closed");
}
