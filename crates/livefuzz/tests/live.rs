//! The fuzzer against real listeners on loopback: the embedded reference
//! broker (no findings expected), and small deliberately wrong fake brokers
//! (findings expected, and their scripts must replay).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mqttkit_broker::model::{Broker, Config};
use mqttkit_livefuzz::{fuzz, replay, Class, Options, Script, Timing};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Generous deadlines, so that a loaded machine does not look like a
/// broker that fails to close or to answer.
fn timing() -> Timing {
    Timing {
        step: Duration::from_secs(10),
        close_wait: Duration::from_secs(2),
        probe: Duration::from_secs(15),
    }
}

fn options(address: String, seed: u64, cases: u64) -> Options {
    let mut o = Options::new(address);
    o.seed = seed;
    o.max_cases = cases;
    // A bound, not an expectation: the assertions count cases.
    o.duration = Duration::from_secs(900);
    o.timing = timing();
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_has_no_findings_for_a_fixed_seed() {
    let broker = mqttkit_broker::Builder::default()
        .start(Broker::new(Config::default()))
        .await
        .unwrap();
    let opts = options(broker.tcp_addr().to_string(), 20_261_204, 150);
    let s = fuzz(&opts).await;
    broker.shutdown().await;
    assert_eq!(s.stopped, None);
    assert_eq!(s.cases, 150, "every case ran");
    assert_eq!(s.setup_failures, 0);
    assert!(s.per_version.len() == 2, "{:?}", s.per_version);
    assert!(s.per_class.len() >= 20, "{:?}", s.per_class);
    let found: Vec<String> = s
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {}: {}",
                f.script.protocol, f.script.class, f.script.finding, f.script.detail
            )
        })
        .collect();
    assert!(found.is_empty(), "{found:#?}");
}

/// How a fake broker goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Ignores packets it cannot make sense of (QoS 3 PUBLISH and the like).
    IgnoresMalformed,
    /// Stops serving anyone after a QoS 3 PUBLISH.
    DiesOnQos3,
}

/// A tiny broker, just enough for the probe: CONNACK, SUBACK granting QoS 1,
/// PUBACK for QoS 1 and the message echoed back (QoS 0) to its sender,
/// PINGRESP. Everything else is ignored.
async fn fake_broker(fault: Fault) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let dead = Arc::new(AtomicBool::new(false));
    let d = dead.clone();
    tokio::spawn(async move {
        // Bounded: a test never opens this many connections.
        for _ in 0..10_000 {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let d = d.clone();
            tokio::spawn(async move {
                if !d.load(Ordering::SeqCst) {
                    let _ = serve(s, fault, d).await;
                }
            });
        }
    });
    (addr, dead)
}

async fn serve(mut s: TcpStream, fault: Fault, dead: Arc<AtomicBool>) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    let mut tmp = [0u8; 4096];
    let mut v5 = false;
    // Bounded in packets; each read waits at most 30 s.
    for _ in 0..100_000 {
        // A whole packet?
        let mut len = 0usize;
        let mut i = 1;
        let mut whole = None;
        while i < buf.len() && i < 5 {
            len |= usize::from(buf[i] & 0x7F) << (7 * (i - 1));
            if buf[i] & 0x80 == 0 {
                if buf.len() >= i + 1 + len {
                    whole = Some(buf.drain(..i + 1 + len).collect::<Vec<u8>>());
                }
                break;
            }
            i += 1;
        }
        if buf.len() > 1 << 20 {
            return Ok(());
        }
        let Some(p) = whole else {
            let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut tmp)).await;
            match n {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Ok(()),
                Ok(Ok(n)) => buf.extend_from_slice(&tmp[..n]),
            }
            continue;
        };
        if dead.load(Ordering::SeqCst) {
            return Ok(());
        }
        let body = &p[i + 1..];
        match p[0] >> 4 {
            1 => {
                let name = body.get(1).copied().unwrap_or(0) as usize;
                v5 = body.get(2 + name) == Some(&5);
                if v5 {
                    s.write_all(&[0x20, 0x03, 0x00, 0x00, 0x00]).await?;
                } else {
                    s.write_all(&[0x20, 0x02, 0x00, 0x00]).await?;
                }
            }
            3 => {
                let qos = (p[0] >> 1) & 3;
                if qos == 3 {
                    if fault == Fault::DiesOnQos3 {
                        dead.store(true, Ordering::SeqCst);
                        return Ok(());
                    }
                    continue;
                }
                if body.len() < 2 {
                    continue;
                }
                let tlen = u16::from_be_bytes([body[0], body[1]]) as usize;
                let Some(topic) = body.get(..2 + tlen) else {
                    continue;
                };
                let mut rest = &body[2 + tlen..];
                if qos > 0 {
                    if rest.len() < 2 {
                        continue;
                    }
                    let (id, r) = rest.split_at(2);
                    rest = r;
                    if qos == 1 {
                        s.write_all(&[0x40, 0x02, id[0], id[1]]).await?;
                    } else {
                        s.write_all(&[0x50, 0x02, id[0], id[1]]).await?;
                    }
                }
                let mut echo = topic.to_vec();
                echo.extend(rest);
                if echo.len() < 128 {
                    let mut out = vec![0x30, echo.len() as u8];
                    out.extend(echo);
                    s.write_all(&out).await?;
                }
            }
            8 if body.len() >= 2 => {
                if v5 {
                    s.write_all(&[0x90, 0x04, body[0], body[1], 0x00, 0x01])
                        .await?;
                } else {
                    s.write_all(&[0x90, 0x03, body[0], body[1], 0x01]).await?;
                }
            }
            12 => s.write_all(&[0xD0, 0x00]).await?,
            14 => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_ignores_malformed_packets_is_reported_and_the_script_replays() {
    let (addr, _) = fake_broker(Fault::IgnoresMalformed).await;
    let dir = std::env::temp_dir().join(format!("mqttkit-livefuzz-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut opts = options(addr.clone(), 5, 6);
    opts.classes = vec![Class::PublishQos3];
    opts.out = Some(dir.clone());
    let s = fuzz(&opts).await;
    assert_eq!(s.stopped, None, "the fake stays healthy");
    assert_eq!(s.cases, 6);
    assert!(!s.findings.is_empty());
    let f = &s.findings[0];
    assert_eq!(f.script.class, "publish-qos3");
    assert_eq!(f.script.finding, "not-closed");
    assert_eq!(f.script.statements, vec!["MQTT-3.3.1-4".to_string()]);
    // Shrinking dropped the optional SUBSCRIBE.
    assert_eq!(f.script.steps.len(), 2, "{:?}", f.script.steps);
    let path = f.path.clone().expect("saved");
    let script = Script::load(&path).unwrap();
    assert_eq!(&script, &f.script);
    let r = replay(&addr, &script, &timing()).await.unwrap();
    assert!(r.reproduced, "{r:?}");
    // Our broker closes on it: the script does not reproduce there.
    let broker = mqttkit_broker::Builder::default()
        .start(Broker::new(Config::default()))
        .await
        .unwrap();
    let r = replay(&broker.tcp_addr().to_string(), &script, &timing())
        .await
        .unwrap();
    broker.shutdown().await;
    assert!(!r.reproduced, "{r:?}");
    assert!(r.verdict.is_none(), "{r:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_dies_stops_the_run_with_a_finding() {
    let (addr, dead) = fake_broker(Fault::DiesOnQos3).await;
    let mut opts = options(addr, 8, 50);
    opts.classes = vec![Class::PublishQos3];
    let s = fuzz(&opts).await;
    assert!(dead.load(Ordering::SeqCst));
    assert_eq!(s.cases, 1, "stops after the broker died");
    assert!(s
        .stopped
        .as_deref()
        .unwrap_or("")
        .contains("no longer serves"));
    assert_eq!(s.findings.len(), 1);
    let script = &s.findings[0].script;
    assert_eq!(script.finding, "broker-unhealthy");
    // Replayed against a fresh fake, it kills that one too.
    let (addr2, dead2) = fake_broker(Fault::DiesOnQos3).await;
    let r = replay(&addr2, script, &timing()).await.unwrap();
    assert!(r.reproduced, "{r:?}");
    assert!(dead2.load(Ordering::SeqCst));
}
