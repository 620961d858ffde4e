//! Sockets, tasks and the clock around a [`Core`].
//!
//! One task owns the core and is the only place protocol decisions are
//! made. Each connection has a task that reads (bytes in, as they arrive, to
//! the core task over a bounded channel: a slow core slows readers down
//! rather than buffering without limit) and writes (bytes out, from the
//! connection's [`Outbox`]; WebSocket keeps a writer task). The core task handles
//! a batch of events, then hands each connection everything the batch
//! produced for it in one write. Bytes queued to a client that does not read
//! are counted; past the limit the client is disconnected as a slow
//! consumer, so one stalled client cannot grow the broker's memory.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::core::{ConnId, Core, Millis, Output};
use crate::store::Store;

/// Events from the socket tasks to the core task.
#[derive(Debug)]
pub(crate) enum Event {
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

/// What the core task and one connection's tasks share: the bytes waiting
/// to be written and two signals. One small allocation per connection (an
/// idle connection is mostly this, its tasks and the model's state).
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: Mutex<OutQueue>,
    /// Something was queued, or the core let go of the connection.
    ready: Notify,
    /// Bytes handed to the writer and not yet written.
    pub(crate) queued: AtomicUsize,
    /// Tells the reader to stop.
    pub(crate) stop: Notify,
}

#[derive(Debug, Default)]
struct OutQueue {
    cmds: VecDeque<WriteCmd>,
    /// The core task dropped its [`Writer`]: nothing more will come.
    closed: bool,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, OutQueue> {
        // The lock is never held across code that can panic; recover the
        // data rather than propagate a poison.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The core task's handle on one connection's writer.
#[derive(Debug)]
pub(crate) struct Writer {
    outbox: Arc<Outbox>,
}

impl Writer {
    fn send(&self, cmd: WriteCmd) {
        self.outbox.lock().cmds.push_back(cmd);
        // notify_one keeps a permit when the writer is not waiting yet, so
        // a command queued between its check and its wait is not missed.
        self.outbox.ready.notify_one();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.outbox.lock().closed = true;
        self.outbox.ready.notify_one();
    }
}

/// What [`OutRx::try_recv`] found.
#[derive(Debug)]
pub(crate) enum TryRecv {
    Cmd(WriteCmd),
    Empty,
    Closed,
}

/// The writer side's end of an [`Outbox`].
#[derive(Debug)]
pub(crate) struct OutRx {
    outbox: Arc<Outbox>,
}

impl OutRx {
    /// The next command if one is queued, without waiting.
    pub(crate) fn try_recv(&mut self) -> TryRecv {
        let mut q = self.outbox.lock();
        match q.cmds.pop_front() {
            Some(c) => {
                if q.cmds.is_empty() {
                    q.cmds = VecDeque::new();
                }
                TryRecv::Cmd(c)
            }
            None if q.closed => TryRecv::Closed,
            None => TryRecv::Empty,
        }
    }

    /// The next command; `None` once the core let go and all was taken.
    pub(crate) async fn recv(&mut self) -> Option<WriteCmd> {
        loop {
            {
                let mut q = self.outbox.lock();
                if let Some(c) = q.cmds.pop_front() {
                    if q.cmds.is_empty() {
                        // Give the queue's memory back between bursts: an
                        // idle connection keeps no buffer.
                        q.cmds = VecDeque::new();
                    }
                    return Some(c);
                }
                if q.closed {
                    return None;
                }
            }
            self.outbox.ready.notified().await;
        }
    }
}

/// The read half of a byte stream, and whether it can wait for data
/// without a buffer.
pub(crate) trait ReadHalf: AsyncRead + Unpin + Send + 'static {
    /// Returns when a read is likely to find data (or end of stream).
    /// Streams that cannot tell return at once.
    fn ready(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

impl ReadHalf for OwnedReadHalf {
    async fn ready(&self) {
        // An error shows up again on the read that follows.
        let _ = self.readable().await;
    }
}

impl<T: AsyncRead + AsyncWrite + Send + 'static> ReadHalf for tokio::io::ReadHalf<T> {}

#[derive(Debug)]
pub(crate) enum WriteCmd {
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

/// How a listener's connections carry MQTT.
#[derive(Clone)]
pub enum Transport {
    /// MQTT straight over TCP.
    Tcp,
    /// MQTT in binary WebSocket messages (subprotocol `mqtt`).
    WebSocket,
    /// MQTT over TLS.
    Tls(Arc<tokio_rustls::rustls::ServerConfig>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::WebSocket => "websocket",
            Transport::Tls(_) => "tls",
        })
    }
}

/// A bound listener's address and transport.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The address, with the port the OS chose when asked for port 0.
    pub addr: SocketAddr,
    /// The transport.
    pub transport: Transport,
}

/// Configures and starts a broker.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    listeners: Vec<(SocketAddr, Transport)>,
    limits: Limits,
    data_dir: Option<PathBuf>,
}

impl Builder {
    /// Adds a plain-TCP MQTT listener (port 0 lets the OS choose).
    pub fn listen_tcp(mut self, addr: SocketAddr) -> Self {
        self.listeners.push((addr, Transport::Tcp));
        self
    }

    /// Adds an MQTT-over-WebSocket listener.
    pub fn listen_ws(mut self, addr: SocketAddr) -> Self {
        self.listeners.push((addr, Transport::WebSocket));
        self
    }

    /// Adds an MQTT-over-TLS listener with this server configuration (see
    /// [`crate::tls_config_from_pem`]).
    pub fn listen_tls(
        mut self,
        addr: SocketAddr,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> Self {
        self.listeners.push((addr, Transport::Tls(config)));
        self
    }

    /// Sets the I/O limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Keeps durable state (sessions, their subscriptions and messages,
    /// retained messages) in this directory: restored on start, and
    /// committed to disk before any acknowledgement that depends on it is
    /// written. The core must support persistence ([`Core::restore`]).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Binds the listeners and starts serving with `core`. Must be called
    /// inside a tokio runtime. With no listener configured, listens on
    /// 127.0.0.1 with a port the OS chooses.
    pub async fn start<C: Core>(self, mut core: C) -> io::Result<Running> {
        // Model time 0 is now; the store records wall-clock times.
        let clock = Instant::now();
        let store = match &self.data_dir {
            Some(dir) => Some(open_store(dir, &mut core)?),
            None => None,
        };
        let wanted = if self.listeners.is_empty() {
            vec![(SocketAddr::from(([127, 0, 0, 1], 0)), Transport::Tcp)]
        } else {
            self.listeners
        };
        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for (a, t) in wanted {
            let l = TcpListener::bind(a).await.map_err(|e| {
                io::Error::new(e.kind(), format!("cannot listen on {a} ({t:?}): {e}"))
            })?;
            bound.push(Bound {
                addr: l.local_addr()?,
                transport: t.clone(),
            });
            listeners.push((l, t));
        }
        let (events_tx, events_rx) = mpsc::channel(4096);
        let (stop_tx, stop_rx) = watch::channel(false);
        let limits = Arc::new(self.limits);
        let next_id = Arc::new(AtomicUsize::new(1));
        let open = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (l, t) in listeners {
            info!(addr = %l.local_addr()?, transport = ?t, "listening");
            tasks.push(tokio::spawn(accept_loop(
                l,
                t,
                events_tx.clone(),
                stop_rx.clone(),
                limits.clone(),
                next_id.clone(),
                open.clone(),
            )));
        }
        drop(events_tx);
        let core_task = tokio::spawn(core_loop(core, events_rx, stop_rx, limits, clock, store));
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
    addrs: Vec<Bound>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    core_task: JoinHandle<()>,
}

impl Running {
    /// Every listener, in the order they were added.
    pub fn listeners(&self) -> &[Bound] {
        &self.addrs
    }

    /// The address of the first listener (the default one when none was
    /// configured).
    pub fn tcp_addr(&self) -> SocketAddr {
        self.addrs[0].addr
    }

    /// The address of the first listener of this kind of transport.
    pub fn addr_of(&self, ws: bool, tls: bool) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|b| match b.transport {
                Transport::Tcp => !ws && !tls,
                Transport::WebSocket => ws,
                Transport::Tls(_) => tls,
            })
            .map(|b| b.addr)
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
    transport: Transport,
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
        let transport = transport.clone();
        tokio::spawn(async move {
            serve(conn, peer, sock, transport, events, limits, stop).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Longest a TLS or WebSocket handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve(
    conn: ConnId,
    peer: SocketAddr,
    sock: TcpStream,
    transport: Transport,
    events: mpsc::Sender<Event>,
    limits: Arc<Limits>,
    shutdown: watch::Receiver<bool>,
) {
    match transport {
        Transport::Tcp => {
            let (rd, wr) = sock.into_split();
            serve_stream(conn, peer, rd, wr, events, limits, shutdown).await
        }
        // The TLS and WebSocket futures are large; boxed, they cost
        // nothing to the (much more common) plain TCP connections, whose
        // task would otherwise be sized for the largest variant.
        Transport::Tls(config) => {
            Box::pin(async move {
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await {
                    Ok(Ok(tls)) => {
                        let (rd, wr) = tokio::io::split(tls);
                        serve_stream(conn, peer, rd, wr, events, limits, shutdown).await
                    }
                    Ok(Err(e)) => debug!(conn, %peer, error = %e, "TLS handshake failed"),
                    Err(_) => debug!(conn, %peer, "TLS handshake timed out"),
                }
            })
            .await
        }
        Transport::WebSocket => {
            Box::pin(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, crate::ws::accept(sock)).await {
                    Ok(Ok(ws)) => crate::ws::serve(conn, peer, ws, events, limits, shutdown).await,
                    Ok(Err(e)) => debug!(conn, %peer, error = %e, "WebSocket handshake failed"),
                    Err(_) => debug!(conn, %peer, "WebSocket handshake timed out"),
                }
            })
            .await
        }
    }
}

/// Registers a connection with the core task; returns what the reader
/// side needs, or `None` when the broker is shutting down.
pub(crate) async fn register(
    conn: ConnId,
    peer: SocketAddr,
    events: &mpsc::Sender<Event>,
) -> Option<(OutRx, Arc<Outbox>)> {
    let outbox = Arc::new(Outbox::default());
    let writer = Writer {
        outbox: outbox.clone(),
    };
    events
        .send(Event::Opened { conn, peer, writer })
        .await
        .ok()?;
    debug!(conn, %peer, "connected");
    Some((
        OutRx {
            outbox: outbox.clone(),
        },
        outbox,
    ))
}

/// First read size of a connection; reads that fill the buffer double it,
/// up to [`Limits::read_size`].
const FIRST_READ: usize = 2048;

/// Serves a byte stream (TCP or TLS): reads go to the core task, writes
/// come from it.
async fn serve_stream<R, W>(
    conn: ConnId,
    peer: SocketAddr,
    mut rd: R,
    mut wr: W,
    events: mpsc::Sender<Event>,
    limits: Arc<Limits>,
    mut shutdown: watch::Receiver<bool>,
) where
    R: ReadHalf,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Some((mut rx, outbox)) = register(conn, peer, &events).await else {
        return;
    };
    // One task reads and writes: each select! below polls a read and a
    // write at once, so neither direction waits for the other (both are
    // cancel-safe: a read or a single write that loses the race did
    // nothing). No buffer while waiting: an idle connection holds no read
    // memory (on TCP the wait for data comes before the buffer). The size
    // adapts: reads that fill the buffer double the next one.
    let mut buf = BytesMut::new();
    let mut want = FIRST_READ.min(limits.read_size).max(1);
    // The chunk being written and how much of it is written.
    let mut chunk: Option<(Bytes, usize)> = None;
    let mut reading = true;
    loop {
        if chunk.is_none() {
            match rx.try_recv() {
                TryRecv::Cmd(WriteCmd::Data(b)) => {
                    if b.is_empty() {
                        continue;
                    }
                    chunk = Some((b, 0));
                }
                TryRecv::Cmd(WriteCmd::Close) | TryRecv::Closed => break,
                TryRecv::Empty => {}
            }
        }
        let read = async {
            rd.ready().await;
            if buf.capacity() - buf.len() < want / 4 {
                buf.reserve(want);
            }
            let room = buf.capacity() - buf.len();
            rd.read_buf(&mut buf).await.map(|n| (n, room))
        };
        let write = async {
            match &chunk {
                Some((b, done)) => wr.write(&b[*done..]).await,
                None => std::future::pending().await,
            }
        };
        let step = tokio::select! {
            r = read, if reading => Step::Read(r),
            r = write, if chunk.is_some() => Step::Wrote(r),
            _ = outbox.ready.notified(), if chunk.is_none() => Step::Queued,
            _ = outbox.stop.notified(), if reading => Step::StopReading,
            _ = shutdown.changed(), if reading => Step::StopReading,
        };
        match step {
            Step::Read(Ok((n, room))) if n > 0 => {
                if n >= room {
                    want = (want * 2).min(limits.read_size.max(1));
                }
                let data = buf.split().freeze();
                if n < FIRST_READ / 2 {
                    // A small read: traffic is sparse; keep nothing between reads.
                    buf = BytesMut::new();
                }
                if events.send(Event::Bytes { conn, data }).await.is_err() {
                    // The core task is gone: nothing more will be written.
                    reading = false;
                    break;
                }
            }
            Step::Read(r) => {
                if let Err(e) = r {
                    debug!(conn, error = %e, "read failed");
                }
                reading = false;
                buf = BytesMut::new();
                // Keep writing what the core still sends until it closes.
                let _ = events.send(Event::Closed { conn }).await;
            }
            Step::StopReading => {
                reading = false;
                buf = BytesMut::new();
                let _ = events.send(Event::Closed { conn }).await;
            }
            Step::Wrote(Ok(n)) if n > 0 => {
                if let Some((b, done)) = &mut chunk {
                    *done += n;
                    if *done >= b.len() {
                        outbox.queued.fetch_sub(b.len(), Ordering::Relaxed);
                        chunk = None;
                    }
                }
            }
            Step::Wrote(r) => {
                if let Err(e) = r {
                    debug!(conn, error = %e, "write failed");
                }
                break;
            }
            Step::Queued => {}
        }
    }
    if reading {
        let _ = events.send(Event::Closed { conn }).await;
    }
    let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, wr.shutdown()).await;
    debug!(conn, "closed");
}

/// What woke a connection task.
enum Step {
    Read(io::Result<(usize, usize)>),
    Wrote(io::Result<usize>),
    Queued,
    StopReading,
}

/// Opens the store in `dir`, restores `core` from it and commits what the
/// restore changed (sessions and retained messages that expired while the
/// broker was down).
fn open_store<C: Core>(dir: &std::path::Path, core: &mut C) -> io::Result<Arc<Store>> {
    let wall_base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let (store, state) = Store::open(dir)?;
    let report = core.restore(&state, wall_base, 0).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("data store {}: {e}", store.path().display()),
        )
    })?;
    info!(
        path = %store.path().display(),
        sessions = report.sessions,
        expired_sessions = report.expired_sessions,
        subscriptions = report.subscriptions,
        queued = report.queued,
        in_flight = report.in_flight,
        incoming_qos2 = report.incoming_qos2,
        retained = report.retained,
        expired_retained = report.expired_retained,
        "state restored"
    );
    store.apply(&core.take_store_ops())?;
    Ok(Arc::new(store))
}

/// Makes the core's durable changes durable (one transaction, synced to
/// disk) before the bytes produced with them are written. Runs on the
/// blocking pool; the core task waits, so nothing reaches a socket first,
/// and events arriving meanwhile form the next, larger batch (group
/// commit).
async fn commit<C: Core>(core: &mut C, store: &Arc<Store>) -> io::Result<()> {
    let ops = core.take_store_ops();
    if ops.is_empty() {
        return Ok(());
    }
    let store = store.clone();
    match tokio::task::spawn_blocking(move || store.apply(&ops)).await {
        Ok(r) => r,
        Err(e) => Err(io::Error::other(format!("store task failed: {e}"))),
    }
}

/// The core task: the only owner of the protocol state.
async fn core_loop<C: Core>(
    mut core: C,
    mut events: mpsc::Receiver<Event>,
    mut stop: watch::Receiver<bool>,
    limits: Arc<Limits>,
    start: Instant,
    store: Option<Arc<Store>>,
) {
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
        let drained = drain_outputs(
            &mut core,
            &mut conns,
            &mut out,
            &limits,
            now(start),
            store.as_ref(),
        )
        .await;
        if let Err(e) = drained {
            // Nothing the store could not keep is acknowledged: stop
            // serving instead.
            error!(error = %e, "cannot persist state: closing every connection and stopping");
            break;
        }
    }
    for (_, w) in conns.drain() {
        w.send(WriteCmd::Close);
        w.outbox.stop.notify_one();
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
                w.send(WriteCmd::Close);
                core.connection_lost(conn, now);
            }
        }
    }
}

async fn drain_outputs<C: Core>(
    core: &mut C,
    conns: &mut HashMap<ConnId, Writer>,
    out: &mut HashMap<ConnId, BytesMut>,
    limits: &Limits,
    now: Millis,
    store: Option<&Arc<Store>>,
) -> io::Result<()> {
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
        // Durability before acknowledgement: the state behind every
        // PUBACK, PUBREC and PUBCOMP in `out` is on disk before they leave.
        if let Some(store) = store {
            commit(core, store).await?;
        }
        for (conn, buf) in out.drain() {
            let Some(w) = conns.get(&conn) else { continue };
            let n = buf.len();
            let queued = w.outbox.queued.fetch_add(n, Ordering::Relaxed) + n;
            if queued > limits.max_queued_bytes {
                warn!(conn, queued, "client does not read: disconnecting it");
                closed.push(conn);
                continue;
            }
            w.send(WriteCmd::Data(buf.freeze()));
        }
        if closed.is_empty() {
            return Ok(());
        }
        for conn in closed.drain(..) {
            if let Some(w) = conns.remove(&conn) {
                w.send(WriteCmd::Close);
                w.outbox.stop.notify_one();
                core.connection_lost(conn, now);
            }
        }
    }
}
