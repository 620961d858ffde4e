//! The runner over each transport, against the reference broker listening
//! on TCP, WebSocket and TLS at once: the same cases give the same
//! verdicts whatever carries the bytes.

use mqttkit_broker::model::{Broker, Config as BrokerConfig};
use mqttkit_broker::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use mqttkit_broker::{tls_config, Builder};
use mqttkit_conformance::{builtin_cases, run, Config, Tls, Transport, Verdict};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_websocket_and_tls_agree() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der = CertificateDer::from(cert.cert.der().to_vec());
    let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let broker = Builder::default()
        .listen_tcp(any)
        .listen_ws(any)
        .listen_tls(any, tls_config(vec![der.clone()], key).unwrap())
        .start(Broker::new(BrokerConfig::default()))
        .await
        .unwrap();
    let tcp = broker.addr_of(false, false).unwrap();
    let ws = broker.addr_of(true, false).unwrap();
    let tls = broker.addr_of(false, true).unwrap();

    let ca = std::env::temp_dir().join(format!("mqttkit-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let client = mqttkit_conformance::tls_client_config(Some(&ca), false).unwrap();
    let _ = std::fs::remove_file(&ca);

    let cases = builtin_cases().unwrap();
    let mut verdicts = Vec::new();
    for (addr, transport) in [
        (tcp, Transport::Tcp),
        (
            ws,
            Transport::WebSocket {
                url: format!("ws://{ws}/mqtt"),
                tls: None,
            },
        ),
        (
            tls,
            Transport::Tls(Tls {
                server_name: "localhost".into(),
                config: client.clone(),
            }),
        ),
    ] {
        let mut config = Config::new(addr.to_string());
        config.transport = transport;
        // Publish/subscribe and session cases: enough traffic to show the
        // transport carries packets both ways, split or not.
        config.only = vec!["publish-".into(), "subscribe-".into(), "session-".into()];
        let results = run(&cases, &config).await;
        assert!(results.len() > 20, "{} cases selected", results.len());
        let failed: Vec<_> = results
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .map(|r| format!("{}: {}", r.id, r.detail))
            .collect();
        assert!(failed.is_empty(), "{addr}: {failed:#?}");
        verdicts.push(
            results
                .iter()
                .map(|r| (r.id.clone(), r.verdict))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(verdicts[0], verdicts[1], "TCP and WebSocket differ");
    assert_eq!(verdicts[0], verdicts[2], "TCP and TLS differ");
    broker.shutdown().await;
}

/// The WebSocket cases (`ws-*`) pass over ws:// against the reference
/// broker and skip over TCP, where they cannot look at messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_cases_run_over_websocket_and_skip_elsewhere() {
    let any = "127.0.0.1:0".parse().unwrap();
    let broker = Builder::default()
        .listen_tcp(any)
        .listen_ws(any)
        .start(Broker::new(BrokerConfig::default()))
        .await
        .unwrap();
    let tcp = broker.addr_of(false, false).unwrap();
    let ws = broker.addr_of(true, false).unwrap();
    let cases = builtin_cases().unwrap();

    let mut config = Config::new(ws.to_string());
    config.transport = Transport::WebSocket {
        url: format!("ws://{ws}/mqtt"),
        tls: None,
    };
    config.only = vec!["ws-".into()];
    let results = run(&cases, &config).await;
    assert_eq!(results.len(), 6, "three cases under two versions");
    for r in &results {
        assert_eq!(r.verdict, Verdict::Pass, "{}: {}", r.id, r.detail);
    }

    let mut config = Config::new(tcp.to_string());
    config.only = vec!["ws-".into()];
    let results = run(&cases, &config).await;
    assert_eq!(results.len(), 6);
    for r in &results {
        assert_eq!(r.verdict, Verdict::Skip, "{}: {}", r.id, r.detail);
    }
    broker.shutdown().await;
}

/// A WebSocket server that answers without choosing a subprotocol and
/// ignores text messages fails the subprotocol case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_mqtt_subprotocol_fails() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        // Accept a bounded number of handshakes, then stop.
        for _ in 0..4 {
            let Ok(Ok((sock, _))) =
                tokio::time::timeout(std::time::Duration::from_secs(10), listener.accept()).await
            else {
                return;
            };
            tokio::spawn(async move {
                if let Ok(mut ws) = tokio_tungstenite::accept_async(sock).await {
                    use futures_util::StreamExt;
                    // Read and drop whatever comes, never answering.
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                }
            });
        }
    });
    let cases = builtin_cases().unwrap();
    let mut config = Config::new(addr.to_string());
    config.transport = Transport::WebSocket {
        url: format!("ws://{addr}/mqtt"),
        tls: None,
    };
    config.only = vec!["ws-subprotocol-mqtt".into()];
    config.protocols = vec![mqttkit_codec::ProtocolVersion::V5];
    let results = run(&cases, &config).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].verdict, Verdict::Fail, "{}", results[0].detail);
    assert!(
        results[0].detail.contains("subprotocol"),
        "{}",
        results[0].detail
    );
    server.abort();
}
