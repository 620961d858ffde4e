//! Rough cost of `--data-dir` on QoS 1 throughput: one publisher, one
//! subscriber on loopback, the in-process reference broker with and
//! without a data directory. A plain bench binary (no timing asserts):
//! `cargo bench -p mqttkit-broker --bench persist [-- MESSAGES]`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqttkit_broker::model::{Broker, Config};
use mqttkit_broker::Builder;
use mqttkit_codec::{
    Connect, OwnedPacket, Packet, ProtocolVersion, PubAck, Publish, QoS, StreamDecoder, Subscribe,
    Subscription,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::timeout;

const V: ProtocolVersion = ProtocolVersion::V3_1_1;
/// PUBLISH packets the publisher keeps unacknowledged.
const WINDOW: usize = 256;

struct Reader {
    rd: OwnedReadHalf,
    dec: StreamDecoder,
}

impl Reader {
    async fn recv(&mut self) -> OwnedPacket {
        timeout(Duration::from_secs(30), async {
            loop {
                if let Some(p) = self.dec.next_owned().expect("valid packet") {
                    return p;
                }
                let n = self.rd.read_buf(self.dec.buffer_mut()).await.unwrap();
                assert!(n > 0, "broker closed the connection");
            }
        })
        .await
        .expect("broker answers")
    }
}

async fn client(addr: SocketAddr, id: &str, clean: bool) -> (Reader, OwnedWriteHalf) {
    let s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let (rd, mut wr) = s.into_split();
    let mut c = Connect::new(V, id);
    c.clean_start = clean;
    write(&mut wr, Packet::Connect((&c).into())).await;
    let mut r = Reader {
        rd,
        dec: StreamDecoder::with_version(V),
    };
    assert!(matches!(r.recv().await.packet(), Packet::ConnAck(_)));
    (r, wr)
}

async fn write(wr: &mut OwnedWriteHalf, p: Packet<'_>) {
    let mut buf = BytesMut::new();
    p.encode(V, &mut buf).unwrap();
    wr.write_all(&buf).await.unwrap();
}

/// Messages per second delivered to a subscriber (persistent or not).
async fn run(data_dir: Option<&std::path::Path>, persistent_sub: bool, n: u32) -> f64 {
    let mut b = Builder::default().listen_tcp("127.0.0.1:0".parse().unwrap());
    if let Some(d) = data_dir {
        b = b.data_dir(d);
    }
    // Room for the whole run in the subscriber's queue: the publisher is
    // acknowledged whatever the subscriber's pace, and nothing may drop.
    let config = Config {
        max_queued_messages: n as usize,
        ..Config::default()
    };
    let broker = b.start(Broker::new(config)).await.unwrap();
    let addr = broker.tcp_addr();
    let (mut sr, mut sw) = client(addr, "bench-sub", !persistent_sub).await;
    let subs = [Subscription::new("bench/#", QoS::AtLeastOnce)];
    write(&mut sw, Packet::Subscribe(Subscribe::new(1, &subs))).await;
    assert!(matches!(sr.recv().await.packet(), Packet::SubAck(_)));
    let (mut pr, mut pw) = client(addr, "bench-pub", true).await;
    let payload = [0x42u8; 32];
    let t0 = Instant::now();
    let sub = tokio::spawn(async move {
        for _ in 0..n {
            let m = sr.recv().await;
            let Packet::Publish(p) = m.packet() else {
                panic!("{m:?}")
            };
            write(&mut sw, Packet::PubAck(PubAck::new(p.packet_id.unwrap()))).await;
        }
    });
    let mut sent = 0u32;
    let mut acked = 0u32;
    while acked < n {
        while sent < n && (sent - acked) < WINDOW as u32 {
            sent += 1;
            let mut p = Publish::new("bench/t", &payload);
            p.qos = QoS::AtLeastOnce;
            p.packet_id = Some((sent % 65_535 + 1) as u16);
            write(&mut pw, Packet::Publish(p)).await;
        }
        let a = pr.recv().await;
        assert!(matches!(a.packet(), Packet::PubAck(_)));
        acked += 1;
    }
    sub.await.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    broker.shutdown().await;
    f64::from(n) / secs
}

fn main() {
    let n: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Disk-backed like a real data directory (not a RAM-backed /tmp).
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
        for round in 1..=2 {
            let plain = run(None, true, n).await;
            let d1 = tempfile::tempdir_in(&base).unwrap();
            let clean_sub = run(Some(d1.path()), false, n).await;
            let d2 = tempfile::tempdir_in(&base).unwrap();
            let durable = run(Some(d2.path()), true, n).await;
            println!(
                "round {round}: qos1, {n} msgs, 32 B: no data dir {plain:.0} msg/s; \
                 data dir + clean subscriber {clean_sub:.0} msg/s; \
                 data dir + persistent subscriber {durable:.0} msg/s ({:.0}% of no data dir)",
                100.0 * durable / plain
            );
        }
    });
}
