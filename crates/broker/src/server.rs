//! Sockets, tasks and the clock around a [`Core`].
//!
//! One task owns the core and is the only place protocol decisions are
//! made. Each connection has a reader (bytes in, as they arrive, to the core
//! task over a bounded channel: a slow core slows readers down rather than
//! buffering without limit) and a writer (bytes out). The core task handles
//! a batch of events, then hands each connection everything the batch
//! produced for it in one write. Bytes queued to a client that does not read
//! are counted; past the limit the client is disconnected as a slow
//! consumer, so one stalled client cannot grow the broker's memory.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::core::{ConnId, Core, Millis, Output};

/// Events from the socket tasks to the core task.
#[derive(Debug)]
enum Event {
    Opened {
        conn: ConnId,
        peer: SocketAddr,
        writer: Writer,
    },
    Bytes {
        conn: ConnId,
        data: Bytes,
    },
    Closed {
        conn: ConnId,
    },
}

/// The core task's handle on one connection's writer.
#[derive(Debug)]
struct Writer {
    tx: mpsc::UnboundedSender<WriteCmd>,
    /// Bytes handed to the writer and not yet written.
    queued: Arc<AtomicUsize>,
    /// Tells the reader to stop.
    stop: Arc<Notify>,
}

#[derive(Debug)]
enum WriteCmd {
    Data(Bytes),
    Close,
}

/// Limits of the I/O layer (protocol limits live in the core).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections accepted at once; more are closed on accept.
    pub max_connections: usize,
    /// Bytes queued for one client before it is dropped as too slow.
    pub max_queued_bytes: usize,
    /// Size of each read from a socket.
    pub read_size: usize,
    /// Events the core task handles before flushing writes.
    pub batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_queued_bytes: 16 << 20,
            read_size: 16 << 10,
            batch: 256,
        }
    }
}

/// Configures and starts a broker.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    tcp: Vec<SocketAddr>,
    limits: Limits,
}

impl Builder {
    /// Adds a plain-TCP MQTT listener (port 0 lets the OS choose).
    pub fn listen_tcp(mut self, addr: SocketAddr) -> Self {
        self.tcp.push(addr);
        self
    }

    /// Sets the I/O limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Binds the listeners and starts serving with `core`. Must be called
    /// inside a tokio runtime. With no listener configured, listens on
    /// 127.0.0.1 with a port the OS chooses.
    pub async fn start<C: Core>(self, core: C) -> io::Result<Running> {
        let addrs = if self.tcp.is_empty() {
            vec![SocketAddr::from(([127, 0, 0, 1], 0))]
        } else {
            self.tcp
        };
        let mut listeners = Vec::new();
        for a in addrs {
            listeners.push(TcpListener::bind(a).await?);
        }
        let bound: Vec<SocketAddr> = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<io::Result<_>>()?;
        let (events_tx, events_rx) = mpsc::channel(4096);
        let (stop_tx, stop_rx) = watch::channel(false);
        let limits = Arc::new(self.limits);
        let next_id = Arc::new(AtomicUsize::new(1));
        let open = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for l in listeners {
            info!(addr = %l.local_addr()?, "listening (mqtt over tcp)");
            tasks.push(tokio::spawn(accept_loop(
                l,
                events_tx.clone(),
                stop_rx.clone(),
                limits.clone(),
                next_id.clone(),
                open.clone(),
            )));
        }
        drop(events_tx);
        let core_task = tokio::spawn(core_loop(core, events_rx, stop_rx, limits));
        Ok(Running {
            addrs: bound,
            stop: stop_tx,
            tasks,
            core_task,
        })
    }
}

/// A started broker: its addresses, and the way to stop it.
#[derive(Debug)]
pub struct Running {
    addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    core_task: JoinHandle<()>,
}

impl Running {
    /// The bound TCP addresses, in the order the listeners were added.
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The first bound TCP address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Stops accepting, closes every connection and waits for the tasks.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let _ = self.core_task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    events: mpsc::Sender<Event>,
    mut stop: watch::Receiver<bool>,
    limits: Arc<Limits>,
    next_id: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
) {
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors and the like: pause instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        if open.load(Ordering::Relaxed) >= limits.max_connections {
            warn!(%peer, limit = limits.max_connections, "connection refused: too many connections");
            drop(sock);
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let _ = sock.set_nodelay(true);
        let conn = next_id.fetch_add(1, Ordering::Relaxed) as ConnId;
        let events = events.clone();
        let limits = limits.clone();
        let open = open.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            serve_connection(conn, peer, sock, events, limits, stop).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn serve_connection(
    conn: ConnId,
    peer: SocketAddr,
    sock: TcpStream,
    events: mpsc::Sender<Event>,
    limits: Arc<Limits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut rd, wr) = sock.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(Notify::new());
    let writer = tokio::spawn(write_loop(wr, rx, queued.clone()));
    let opened = Event::Opened {
        conn,
        peer,
        writer: Writer {
            tx,
            queued,
            stop: stop.clone(),
        },
    };
    if events.send(opened).await.is_err() {
        return;
    }
    debug!(conn, %peer, "connected");
    let mut buf = BytesMut::with_capacity(limits.read_size);
    loop {
        if buf.capacity() - buf.len() < limits.read_size / 4 {
            buf.reserve(limits.read_size);
        }
        let n = tokio::select! {
            r = rd.read_buf(&mut buf) => match r {
                Ok(n) => n,
                Err(e) => {
                    debug!(conn, error = %e, "read failed");
                    0
                }
            },
            _ = stop.notified() => break,
            _ = shutdown.changed() => break,
        };
        if n == 0 {
            break;
        }
        let data = buf.split().freeze();
        if events.send(Event::Bytes { conn, data }).await.is_err() {
            break;
        }
    }
    let _ = events.send(Event::Closed { conn }).await;
    let _ = writer.await;
    debug!(conn, "closed");
}

async fn write_loop(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<WriteCmd>,
    queued: Arc<AtomicUsize>,
) {
    while let Some(cmd) = rx.recv().await {
        match cmd {
            WriteCmd::Data(b) => {
                let n = b.len();
                let r = wr.write_all(&b).await;
                queued.fetch_sub(n, Ordering::Relaxed);
                if r.is_err() {
                    break;
                }
            }
            WriteCmd::Close => break,
        }
    }
    let _ = wr.shutdown().await;
}

/// The core task: the only owner of the protocol state.
async fn core_loop<C: Core>(
    mut core: C,
    mut events: mpsc::Receiver<Event>,
    mut stop: watch::Receiver<bool>,
    limits: Arc<Limits>,
) {
    let start = Instant::now();
    let now = |start: Instant| -> Millis { start.elapsed().as_millis() as Millis };
    let mut conns: HashMap<ConnId, Writer> = HashMap::new();
    let mut out: HashMap<ConnId, BytesMut> = HashMap::new();
    loop {
        let deadline = core.next_deadline();
        let sleep = async {
            match deadline {
                Some(ms) => tokio::time::sleep_until(start + Duration::from_millis(ms)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                handle(&mut core, &mut conns, ev, now(start));
                // Take what else is waiting, up to a batch, before writing.
                for _ in 1..limits.batch {
                    match events.try_recv() {
                        Ok(ev) => handle(&mut core, &mut conns, ev, now(start)),
                        Err(_) => break,
                    }
                }
            }
            _ = sleep => core.handle_timeout(now(start)),
            _ = stop.changed() => break,
        }
        drain_outputs(&mut core, &mut conns, &mut out, &limits, now(start));
    }
    for (_, w) in conns.drain() {
        let _ = w.tx.send(WriteCmd::Close);
        w.stop.notify_one();
    }
}

fn handle<C: Core>(core: &mut C, conns: &mut HashMap<ConnId, Writer>, ev: Event, now: Millis) {
    match ev {
        Event::Opened { conn, peer, writer } => {
            debug!(conn, %peer, "new connection handed to the core");
            conns.insert(conn, writer);
            core.connection_opened(conn, now);
        }
        Event::Bytes { conn, data } => {
            // Bytes still in flight from a connection the core closed are
            // dropped: the core has already been told it is gone.
            if conns.contains_key(&conn) {
                core.bytes_received(conn, &data, now);
            }
        }
        Event::Closed { conn } => {
            if let Some(w) = conns.remove(&conn) {
                let _ = w.tx.send(WriteCmd::Close);
                core.connection_lost(conn, now);
            }
        }
    }
}

fn drain_outputs<C: Core>(
    core: &mut C,
    conns: &mut HashMap<ConnId, Writer>,
    out: &mut HashMap<ConnId, BytesMut>,
    limits: &Limits,
    now: Millis,
) {
    let mut closed = Vec::new();
    // Closing a connection tells the core, which may produce more output
    // (a will to deliver): loop until the core has nothing left.
    loop {
        while let Some(o) = core.poll_output() {
            match o {
                Output::Send { conn, bytes } => {
                    if conns.contains_key(&conn) {
                        out.entry(conn).or_default().extend_from_slice(&bytes);
                    }
                }
                Output::Close { conn } => closed.push(conn),
            }
        }
        for (conn, buf) in out.drain() {
            let Some(w) = conns.get(&conn) else { continue };
            let n = buf.len();
            let queued = w.queued.fetch_add(n, Ordering::Relaxed) + n;
            if queued > limits.max_queued_bytes {
                warn!(conn, queued, "client does not read: disconnecting it");
                closed.push(conn);
                continue;
            }
            let _ = w.tx.send(WriteCmd::Data(buf.freeze()));
        }
        if closed.is_empty() {
            return;
        }
        for conn in closed.drain(..) {
            if let Some(w) = conns.remove(&conn) {
                let _ = w.tx.send(WriteCmd::Close);
                w.stop.notify_one();
                core.connection_lost(conn, now);
            }
        }
    }
}
