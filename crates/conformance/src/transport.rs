//! How the runner reaches a broker: plain TCP, TLS, or WebSocket (over
//! TCP or TLS), all presented as one byte stream.

use std::fmt;
use std::io;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Read half of a connection.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// Write half of a connection.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// TLS settings: the name to verify and the client configuration.
#[derive(Clone)]
pub struct Tls {
    /// Server name for SNI and certificate verification.
    pub server_name: String,
    /// rustls client configuration.
    pub config: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tls({})", self.server_name)
    }
}

/// The transport of every connection of a run.
#[derive(Debug, Clone, Default)]
pub enum Transport {
    /// MQTT over TCP.
    #[default]
    Tcp,
    /// MQTT over TLS.
    Tls(Tls),
    /// MQTT in binary WebSocket messages (subprotocol `mqtt`) at `url`,
    /// over TCP or TLS.
    WebSocket {
        /// `ws://` or `wss://` URL (host, port and path are sent in the
        /// HTTP upgrade request).
        url: String,
        /// TLS for `wss://`.
        tls: Option<Tls>,
    },
}

/// A TLS client configuration trusting the PEM certificates in `ca`, or,
/// with `insecure`, any certificate (for self-signed test brokers).
pub fn tls_client_config(
    ca: Option<&std::path::Path>,
    insecure: bool,
) -> io::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = ca {
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", ca.display()))
            })? {
                let cert =
                    cert.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            }
        }
        if roots.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS needs --ca FILE (trusted certificates) or --insecure",
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Accepts every server certificate (signatures are still checked).
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn tls(stream: TcpStream, t: &Tls) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = ServerName::try_from(t.server_name.clone())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    tokio_rustls::TlsConnector::from(t.config.clone())
        .connect(name, stream)
        .await
}

/// Opens one connection to `address` (`host:port`) over `transport`.
pub async fn open(address: &str, transport: &Transport) -> io::Result<(Reader, Writer)> {
    let (r, w, _) = open_with_control(address, transport).await?;
    Ok((r, w))
}

/// Direct access to a WebSocket connection, beside its byte stream: the
/// subprotocol the server chose, and whole messages sent as they are (to
/// check how a broker handles message boundaries and text messages).
#[derive(Debug, Clone)]
pub struct WsControl {
    /// `Sec-WebSocket-Protocol` of the server's handshake response.
    pub subprotocol: Option<String>,
    tx: tokio::sync::mpsc::Sender<Message>,
}

impl WsControl {
    /// Sends one binary message holding `bytes` (after anything already
    /// written to the byte stream).
    pub async fn send_binary(&self, bytes: Vec<u8>) -> io::Result<()> {
        self.send(Message::Binary(bytes.into())).await
    }

    /// Sends one text message.
    pub async fn send_text(&self, text: &str) -> io::Result<()> {
        self.send(Message::Text(text.into())).await
    }

    async fn send(&self, m: Message) -> io::Result<()> {
        self.tx
            .send(m)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "WebSocket closed"))
    }
}

/// Like [`open`], with the [`WsControl`] of a WebSocket connection.
pub async fn open_with_control(
    address: &str,
    transport: &Transport,
) -> io::Result<(Reader, Writer, Option<WsControl>)> {
    let stream = TcpStream::connect(address).await?;
    let _ = stream.set_nodelay(true);
    match transport {
        Transport::Tcp => {
            let (r, w) = stream.into_split();
            Ok((Box::new(r), Box::new(w), None))
        }
        Transport::Tls(t) => {
            let s = tls(stream, t).await?;
            let (r, w) = tokio::io::split(s);
            Ok((Box::new(r), Box::new(w), None))
        }
        Transport::WebSocket { url, tls: None } => websocket(stream, url).await,
        Transport::WebSocket { url, tls: Some(t) } => {
            let s = tls(stream, t).await?;
            websocket(s, url).await
        }
    }
}

/// The WebSocket handshake, then a task copying between binary messages
/// and an in-memory byte pipe whose other end the runner reads and
/// writes like a socket; whole messages from the [`WsControl`] go out
/// as they are.
async fn websocket<S>(stream: S, url: &str) -> io::Result<(Reader, Writer, Option<WsControl>)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut req = url
        .into_client_request()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("mqtt"),
    );
    let (ws, resp) = tokio_tungstenite::client_async(req, stream)
        .await
        .map_err(|e| io::Error::other(format!("WebSocket handshake: {e}")))?;
    let subprotocol = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let (control_tx, mut control_rx) = tokio::sync::mpsc::channel::<Message>(16);
    let (ours, theirs) = tokio::io::duplex(256 << 10);
    let (mut pipe_rd, mut pipe_wr) = tokio::io::split(theirs);
    let (mut sink, mut source) = ws.split();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 << 10];
        let mut control_open = true;
        loop {
            tokio::select! {
                // Bytes written to the stream before a control message go
                // out first.
                biased;
                n = pipe_rd.read(&mut buf) => match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let data = bytes::Bytes::copy_from_slice(&buf[..n]);
                        if sink.send(Message::Binary(data)).await.is_err() {
                            break;
                        }
                    }
                },
                m = source.next() => match m {
                    Some(Ok(Message::Binary(b))) => {
                        if pipe_wr.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                m = control_rx.recv(), if control_open => match m {
                    Some(m) => {
                        if sink.send(m).await.is_err() {
                            break;
                        }
                    }
                    // Nobody holds the control any more: stop polling it.
                    None => control_open = false,
                },
            }
        }
        let _ = sink.close().await;
        let _ = pipe_wr.shutdown().await;
    });
    let (r, w) = tokio::io::split(ours);
    let control = WsControl {
        subprotocol,
        tx: control_tx,
    };
    Ok((Box::new(r), Box::new(w), Some(control)))
}
