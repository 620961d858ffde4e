//! Sockets, tasks and the clock around a [`Core`].
//!
//! One task owns the core and is the only place protocol decisions are
//! made. Each busy connection has a task that reads (bytes in, as they arrive, to
//! the core task over a bounded channel: a slow core slows readers down
//! rather than buffering without limit) and writes (bytes out, from the
//! connection's [`Outbox`]; WebSocket keeps a writer task). The core task handles
//! a batch of events, then hands each connection everything the batch
//! produced for it in one write. Bytes queued to a client that does not read
//! are counted; past the limit the client is disconnected as a slow
//! consumer, so one stalled client cannot grow the broker's memory. Idle
//! plain-TCP connections have no task: the parker thread holds and serves
//! them (`park.rs`).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::core::{ConnId, Core, Millis, Output};
use crate::park::Parker;
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

/// What the core task and one connection's task(s) share: the bytes
/// waiting to be written, the flags the core sets, and the wakers of the
/// tasks waiting for them. One small allocation per connection (an idle
/// connection is mostly this, its task and the model's state).
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: Mutex<OutQueue>,
    /// Bytes handed to the writer and not yet written.
    pub(crate) queued: AtomicUsize,
}

#[derive(Debug, Default)]
struct OutQueue {
    cmds: VecDeque<WriteCmd>,
    /// The core task dropped its [`Writer`]: nothing more will come.
    closed: bool,
    /// The core asked the reader to stop.
    stop: bool,
    /// A task waiting for a command (woken by commands, the stop and the
    /// close).
    writer: Option<Waker>,
    /// A task waiting only for the stop or the close: a reading task of
    /// its own (WebSocket), or a TCP/TLS task busy writing, which a new
    /// command would wake for nothing.
    reader: Option<Waker>,
}

/// What [`Outbox::next_parked`] found.
#[derive(Debug)]
pub(crate) enum ParkedCmd {
    Data(Bytes),
    Task,
    Empty,
}

/// What [`Outbox::poll_cmd`] found.
#[derive(Debug)]
pub(crate) enum Polled {
    Cmd(WriteCmd),
    Empty,
    Closed,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, OutQueue> {
        // The lock is never held across code that can panic; recover the
        // data rather than propagate a poison.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets a flag and wakes whoever waits, outside the lock.
    fn signal(&self, f: impl FnOnce(&mut OutQueue)) {
        let (w, r) = {
            let mut q = self.lock();
            f(&mut q);
            (q.writer.take(), q.reader.take())
        };
        w.into_iter().chain(r).for_each(Waker::wake);
    }

    /// The next command when `take` (else none is taken), and whether the
    /// core asked the reader to stop. When nothing was taken, `cx`'s waker
    /// is kept: woken by a command too when `take`, else only by the stop
    /// and the close.
    pub(crate) fn poll_cmd(&self, cx: &mut Context<'_>, take: bool) -> (Polled, bool) {
        let mut q = self.lock();
        if take {
            if let Some(c) = q.cmds.pop_front() {
                if q.cmds.is_empty() {
                    // Give the queue's memory back between bursts: an idle
                    // connection keeps no buffer.
                    q.cmds = VecDeque::new();
                }
                return (Polled::Cmd(c), q.stop);
            }
            if q.closed {
                return (Polled::Closed, q.stop);
            }
        }
        let slot = if take { &mut q.writer } else { &mut q.reader };
        match slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        (Polled::Empty, q.stop)
    }

    /// Leaves `waker` for whatever comes next (a command, the stop, the
    /// close) when nothing is waiting: a parked connection's wake-up.
    /// `false` when something is waiting already.
    pub(crate) fn park(&self, waker: Waker) -> bool {
        let mut q = self.lock();
        if !q.cmds.is_empty() || q.closed || q.stop {
            return false;
        }
        q.writer = Some(waker);
        q.reader = None;
        true
    }

    /// For a connection the parker serves: the next bytes to write, or
    /// [`ParkedCmd::Task`] when something only a task handles is next (a
    /// close, the stop, the end), or, when nothing is waiting,
    /// [`ParkedCmd::Empty`] with `waker` left for what comes next.
    pub(crate) fn next_parked(&self, waker: impl FnOnce() -> Waker) -> ParkedCmd {
        let mut q = self.lock();
        if q.stop || q.closed {
            return ParkedCmd::Task;
        }
        match q.cmds.front() {
            Some(WriteCmd::Close) => ParkedCmd::Task,
            Some(WriteCmd::Data(_)) => match q.cmds.pop_front() {
                Some(WriteCmd::Data(b)) => {
                    if q.cmds.is_empty() {
                        q.cmds = VecDeque::new();
                    }
                    ParkedCmd::Data(b)
                }
                _ => ParkedCmd::Task,
            },
            None => {
                q.writer = Some(waker());
                q.reader = None;
                ParkedCmd::Empty
            }
        }
    }

    /// The next command; `None` once the core let go and all was taken.
    pub(crate) async fn recv(&self) -> Option<WriteCmd> {
        std::future::poll_fn(|cx| match self.poll_cmd(cx, true).0 {
            Polled::Cmd(c) => Poll::Ready(Some(c)),
            Polled::Closed => Poll::Ready(None),
            Polled::Empty => Poll::Pending,
        })
        .await
    }

    /// Returns once the core asks the reader to stop (for a reading task
    /// of its own).
    pub(crate) async fn stopped(&self) {
        std::future::poll_fn(|cx| {
            let mut q = self.lock();
            if q.stop {
                return Poll::Ready(());
            }
            match &mut q.reader {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }
}

/// The core task's handle on one connection's writer.
#[derive(Debug)]
pub(crate) struct Writer {
    outbox: Arc<Outbox>,
}

impl Writer {
    fn send(&self, cmd: WriteCmd) {
        let w = {
            let mut q = self.outbox.lock();
            q.cmds.push_back(cmd);
            q.writer.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Tells the connection to stop reading.
    fn stop(&self) {
        self.outbox.signal(|q| q.stop = true);
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.outbox.signal(|q| q.closed = true);
    }
}

/// A byte stream served by one task that both reads and writes.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Ready when a read is likely to find data (or the end of the
    /// stream), so that no buffer is held while waiting. Streams that
    /// cannot tell are always ready.
    fn poll_readable(&self, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }

    /// Whether an idle connection on this stream can go to the parker.
    const PARKABLE: bool = false;

    /// Hands an idle connection to the parker, or gives it back.
    fn park(c: Connection<Self>) -> Option<Connection<Self>>
    where
        Self: Sized,
    {
        Some(c)
    }
}

impl Stream for TcpStream {
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()> {
        // An error shows up again on the read that follows.
        self.poll_read_ready(cx).map(|_| ())
    }

    const PARKABLE: bool = true;

    fn park(c: Connection<Self>) -> Option<Connection<Self>> {
        match c.slot.parker.clone() {
            Some(p) => p.park(c),
            None => Some(c),
        }
    }
}

impl Stream for tokio_rustls::server::TlsStream<TcpStream> {}

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
    /// A plain-TCP connection without traffic for this long (up to twice
    /// as long) leaves its task for the parker thread, which holds idle
    /// connections for a fraction of a task's memory; `None`: never.
    pub park_after: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_queued_bytes: 16 << 20,
            read_size: 16 << 10,
            batch: 256,
            park_after: Some(Duration::from_secs(2)),
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
        let parker = if self.limits.park_after.is_some()
            && listeners.iter().any(|(_, t)| matches!(t, Transport::Tcp))
        {
            Some(Parker::start(tokio::runtime::Handle::current())?)
        } else {
            None
        };
        let (events_tx, events_rx) = mpsc::channel(4096);
        let (stop_tx, stop_rx) = watch::channel(false);
        let limits = Arc::new(self.limits);
        let next_id = Arc::new(AtomicUsize::new(1));
        // The accept loops and the connections hold the only senders: the
        // core task's channel closes when they are all gone.
        let shared = Arc::new(Shared {
            events: events_tx,
            limits: (*limits).clone(),
            open: AtomicUsize::new(0),
            parker: parker.clone(),
        });
        let mut tasks = Vec::new();
        for (l, t) in listeners {
            info!(addr = %l.local_addr()?, transport = ?t, "listening");
            tasks.push(tokio::spawn(accept_loop(
                l,
                t,
                shared.clone(),
                stop_rx.clone(),
                next_id.clone(),
            )));
        }
        drop(shared);
        let core_task = tokio::spawn(core_loop(
            core,
            events_rx,
            stop_rx,
            limits,
            clock,
            store,
            StopParker(parker.clone()),
        ));
        Ok(Running {
            addrs: bound,
            parker,
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
    parker: Option<Parker>,
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

    /// Plain-TCP connections held by the parker thread right now (idle
    /// ones; see [`Limits::park_after`]).
    pub fn parked_connections(&self) -> usize {
        self.parker.as_ref().map_or(0, Parker::parked)
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

/// What every connection task of a broker shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) limits: Limits,
    /// Connections open (accepted and not yet ended).
    open: AtomicUsize,
    /// Where idle plain-TCP connections go.
    pub(crate) parker: Option<Parker>,
}

/// Ends the parker when the core task ends (also when its runtime drops
/// it): parked connections are then closed.
struct StopParker(Option<Parker>);

impl Drop for StopParker {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            p.stop();
        }
    }
}

/// One accepted connection's place in [`Shared::open`], given back when
/// the connection's task ends (however it ends).
#[derive(Debug)]
pub(crate) struct Slot(Arc<Shared>);

impl Slot {
    /// Takes a place; `None` when the limit is reached.
    fn take(shared: &Arc<Shared>) -> Option<Slot> {
        let max = shared.limits.max_connections;
        shared
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Slot(shared.clone()))
    }
}

impl std::ops::Deref for Slot {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(
    listener: TcpListener,
    transport: Transport,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    next_id: Arc<AtomicUsize>,
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
        let Some(slot) = Slot::take(&shared) else {
            warn!(%peer, limit = shared.limits.max_connections, "connection refused: too many connections");
            drop(sock);
            continue;
        };
        let _ = sock.set_nodelay(true);
        let conn = next_id.fetch_add(1, Ordering::Relaxed) as ConnId;
        serve(conn, peer, sock, &transport, slot);
    }
}

/// Longest a TLS or WebSocket handshake (or the final shutdown of a
/// connection) may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the task of one accepted connection.
fn serve(conn: ConnId, peer: SocketAddr, sock: TcpStream, transport: &Transport, slot: Slot) {
    match transport {
        // The task's future is the connection itself: nothing else is
        // kept while it waits (see [`Connection`]).
        // It starts parked: most connections send their CONNECT at once
        // (and are resumed at once), but a flood of silent ones costs
        // no tasks.
        Transport::Tcp => {
            if let Some(c) = Connection::new(conn, peer, sock, slot) {
                let c = if c.waiting.is_none() {
                    match TcpStream::park(c) {
                        None => return,
                        Some(c) => c,
                    }
                } else {
                    c
                };
                tokio::spawn(Task::new(c));
            }
        }
        // The handshakes run in the connection's own task, never in the
        // accept loop; these tasks are larger than plain TCP ones.
        Transport::Tls(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await {
                    Ok(Ok(tls)) => {
                        if let Some(c) = Connection::new(conn, peer, tls, slot) {
                            Task::new(c).await
                        }
                    }
                    Ok(Err(e)) => debug!(conn, %peer, error = %e, "TLS handshake failed"),
                    Err(_) => debug!(conn, %peer, "TLS handshake timed out"),
                }
            });
        }
        Transport::WebSocket => {
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, crate::ws::accept(sock)).await {
                    Ok(Ok(ws)) => crate::ws::serve(conn, peer, ws, slot).await,
                    Ok(Err(e)) => debug!(conn, %peer, error = %e, "WebSocket handshake failed"),
                    Err(_) => debug!(conn, %peer, "WebSocket handshake timed out"),
                }
            });
        }
    }
}

/// Registers a connection with the core task; returns its outbox, or
/// `None` when the broker is shutting down.
pub(crate) async fn register(
    conn: ConnId,
    peer: SocketAddr,
    events: &mpsc::Sender<Event>,
) -> Option<Arc<Outbox>> {
    let outbox = Arc::new(Outbox::default());
    let writer = Writer {
        outbox: outbox.clone(),
    };
    events
        .send(Event::Opened { conn, peer, writer })
        .await
        .ok()?;
    debug!(conn, %peer, "connected");
    Some(outbox)
}

/// First read size of a connection; reads that fill the buffer double it,
/// up to [`Limits::read_size`].
const FIRST_READ: usize = 2048;

/// Something a connection waits for only now and then (an event the core
/// task's full channel cannot take yet), boxed so that a connection that
/// does not wait for it carries nothing. `false`: the core task is gone.
type Waiting = Pin<Box<dyn Future<Output = bool> + Send>>;

/// One TCP or TLS connection, and the future of its task: reads go to the
/// core task, writes come from it. Written by hand rather than as an
/// `async fn` around `select!` so that the task holds exactly these fields
/// while it waits: no copies of arguments, no futures of branches not
/// taken, no waiter nodes (wakers sit in the [`Outbox`] and in the
/// socket's registration). Reading and writing are polled in turn, so
/// neither direction waits for the other. While idle it holds no read
/// buffer (on TCP the wait for data comes before the buffer); the read
/// size adapts (reads that fill the buffer double the next one).
pub(crate) struct Connection<S> {
    stream: S,
    pub(crate) conn: ConnId,
    pub(crate) slot: Slot,
    pub(crate) outbox: Arc<Outbox>,
    buf: BytesMut,
    /// The rest of the chunk being written.
    chunk: Option<Bytes>,
    /// An event waiting for room in the core's channel; once shutting
    /// down, the timer that bounds the shutdown.
    pub(crate) waiting: Option<Waiting>,
    /// Parkable streams: the timer after which an idle connection goes to
    /// the parker (armed at the first wait, re-armed when it fires after
    /// traffic).
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The idle timer was polled since it was last armed: it holds the
    /// task's waker.
    idle_polled: bool,
    /// Next read size.
    want: u32,
    /// Something happened since the idle timer was last armed.
    active: bool,
    reading: bool,
    /// Written bytes may sit in the stream (TLS) until flushed.
    unflushed: bool,
    /// Reading and writing are over.
    done: bool,
    /// The core has been told; the stream is being shut down.
    shutting: bool,
}

impl<S: Stream> Connection<S> {
    /// A connection about to read, with nothing buffered but the rest of
    /// a write (`chunk`).
    fn fresh(
        conn: ConnId,
        stream: S,
        outbox: Arc<Outbox>,
        slot: Slot,
        chunk: Option<Bytes>,
    ) -> Self {
        Connection {
            stream,
            conn,
            outbox,
            buf: BytesMut::new(),
            chunk,
            waiting: None,
            idle: None,
            idle_polled: false,
            want: FIRST_READ.min(slot.limits.read_size).max(1) as u32,
            active: false,
            reading: true,
            unflushed: false,
            done: false,
            shutting: false,
            slot,
        }
    }

    /// Registers the connection with the core task (at once when its
    /// channel has room). `None` when the broker is shutting down.
    fn new(conn: ConnId, peer: SocketAddr, stream: S, slot: Slot) -> Option<Self> {
        let outbox = Arc::new(Outbox::default());
        let writer = Writer {
            outbox: outbox.clone(),
        };
        let mut c = Self::fresh(conn, stream, outbox, slot, None);
        if !c.send_event(Event::Opened { conn, peer, writer }) {
            return None;
        }
        debug!(conn, %peer, "connected");
        Some(c)
    }

    /// A connection back from the parker: registered with the core
    /// already, idle until now.
    /// With the rest of a write the parker began (`chunk`) and an event
    /// it read but the core's channel could not take (`pending`).
    pub(crate) fn resumed(
        conn: ConnId,
        stream: S,
        outbox: Arc<Outbox>,
        slot: Slot,
        chunk: Option<Bytes>,
        pending: Option<Event>,
    ) -> Self {
        let mut c = Self::fresh(conn, stream, outbox, slot, chunk.filter(|b| !b.is_empty()));
        if let Some(ev) = pending {
            if !c.send_event(ev) {
                // The core task is gone: nothing more will be written.
                c.reading = false;
            }
        }
        c
    }

    /// What the parker keeps: stream, id, outbox and slot.
    pub(crate) fn into_parts(self) -> (S, ConnId, Arc<Outbox>, Slot) {
        (self.stream, self.conn, self.outbox, self.slot)
    }

    /// Nothing is left to do but wait for the peer or the core: what
    /// the parker can hold.
    fn at_rest(&self) -> bool {
        self.reading
            && self.waiting.is_none()
            && self.chunk.is_none()
            && !self.unflushed
            && !self.done
            && !self.shutting
    }

    /// Called when a poll found nothing to do. For a parkable stream,
    /// ready (to park) once the idle timer fires with no traffic since it
    /// was armed; after traffic it is armed again.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !S::PARKABLE || self.slot.parker.is_none() {
            return Poll::Pending;
        }
        let Some(after) = self.slot.limits.park_after else {
            return Poll::Pending;
        };
        let rest = self.at_rest();
        loop {
            match &mut self.idle {
                None => {
                    self.active = false;
                    self.idle = Some(Box::pin(tokio::time::sleep(after)));
                    self.idle_polled = false;
                }
                // Armed and polled once: the timer holds the task's waker
                // (the same for the task's life), so a busy connection
                // only looks at it rather than polling it every time.
                Some(t) if self.idle_polled && !t.is_elapsed() => return Poll::Pending,
                Some(t) => {
                    self.idle_polled = true;
                    ready!(t.as_mut().poll(cx));
                    if self.active || !rest {
                        self.active = false;
                        self.idle_polled = false;
                        t.as_mut().reset(Instant::now() + after);
                    } else {
                        return Poll::Ready(());
                    }
                }
            }
        }
    }

    /// Hands an event to the core task; when its channel is full, the
    /// rest waits in `waiting` (which must be free). `false`: the core
    /// task is gone.
    fn send_event(&mut self, ev: Event) -> bool {
        match self.slot.events.try_send(ev) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(ev)) => {
                let events = self.slot.events.clone();
                self.waiting = Some(Box::pin(async move { events.send(ev).await.is_ok() }));
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Stops reading and tells the core the connection is gone; writing
    /// goes on until the core closes it.
    fn stop_reading(&mut self) {
        self.reading = false;
        self.buf = BytesMut::new();
        let conn = self.conn;
        // A core task that is gone has nothing more to write either: the
        // outbox says so.
        self.send_event(Event::Closed { conn });
    }

    /// Reads and writes until the connection is to be closed
    /// ([`Run::Done`]) or can be parked ([`Run::Park`]).
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Run> {
        loop {
            let mut progress = false;
            if let Some(w) = &mut self.waiting {
                match w.as_mut().poll(cx) {
                    Poll::Ready(sent) => {
                        self.waiting = None;
                        if !sent {
                            // The core task is gone: nothing more will be
                            // written either.
                            self.reading = false;
                            return Poll::Ready(Run::Done);
                        }
                        progress = true;
                    }
                    Poll::Pending => {}
                }
            }
            let (polled, stop) = self.outbox.poll_cmd(cx, self.chunk.is_none());
            match polled {
                Polled::Cmd(WriteCmd::Data(b)) => {
                    if !b.is_empty() {
                        self.chunk = Some(b);
                    }
                    progress = true;
                }
                Polled::Cmd(WriteCmd::Close) | Polled::Closed => return Poll::Ready(Run::Done),
                Polled::Empty => {}
            }
            if stop && self.reading && self.waiting.is_none() {
                self.stop_reading();
                progress = true;
            }
            if let Some(b) = &mut self.chunk {
                match Pin::new(&mut self.stream).poll_write(cx, b) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        b.advance(n);
                        self.outbox.queued.fetch_sub(n, Ordering::Relaxed);
                        if b.is_empty() {
                            self.chunk = None;
                            self.unflushed = true;
                        }
                        progress = true;
                    }
                    Poll::Ready(r) => {
                        if let Err(e) = r {
                            debug!(conn = self.conn, error = %e, "write failed");
                        }
                        return Poll::Ready(Run::Done);
                    }
                    Poll::Pending => {}
                }
            } else if self.unflushed {
                match Pin::new(&mut self.stream).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.unflushed = false,
                    Poll::Ready(Err(e)) => {
                        debug!(conn = self.conn, error = %e, "write failed");
                        return Poll::Ready(Run::Done);
                    }
                    Poll::Pending => {}
                }
            }
            // An event still waiting for the core's channel holds the
            // reads back: a slow core slows readers down.
            if self.reading && self.waiting.is_none() && self.stream.poll_readable(cx).is_ready() {
                progress |= self.read(cx);
            }
            if !progress {
                ready!(self.poll_idle(cx));
                return Poll::Ready(Run::Park);
            }
            self.active = true;
        }
    }

    /// One read; true if it got anywhere.
    fn read(&mut self, cx: &mut Context<'_>) -> bool {
        let want = self.want as usize;
        if self.buf.capacity() - self.buf.len() < want / 4 {
            self.buf.reserve(want);
        }
        let room = self.buf.capacity() - self.buf.len();
        // Polled once and dropped: a read that is not ready did nothing.
        let r = std::pin::pin!(self.stream.read_buf(&mut self.buf)).poll(cx);
        match r {
            Poll::Ready(Ok(n)) if n > 0 => {
                if n >= room {
                    let max = self.slot.limits.read_size.clamp(1, u32::MAX as usize);
                    self.want = (want * 2).min(max) as u32;
                }
                let data = self.buf.split().freeze();
                if n < FIRST_READ / 2 {
                    // A small read: traffic is sparse; keep nothing between reads.
                    self.buf = BytesMut::new();
                }
                let conn = self.conn;
                if !self.send_event(Event::Bytes { conn, data }) {
                    // The core task is gone: nothing more will be written.
                    self.reading = false;
                    self.buf = BytesMut::new();
                }
                true
            }
            Poll::Ready(r) => {
                if let Err(e) = r {
                    debug!(conn = self.conn, error = %e, "read failed");
                }
                self.stop_reading();
                true
            }
            Poll::Pending => false,
        }
    }

    /// Tells the core (if it was still reading), then shuts the stream
    /// down, within [`HANDSHAKE_TIMEOUT`].
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while !self.shutting {
            if let Some(w) = &mut self.waiting {
                let sent = ready!(w.as_mut().poll(cx));
                self.waiting = None;
                if !sent {
                    self.reading = false;
                }
            }
            if self.reading {
                self.reading = false;
                let conn = self.conn;
                self.send_event(Event::Closed { conn });
                continue;
            }
            self.shutting = true;
            self.buf = BytesMut::new();
            self.chunk = None;
            self.waiting = Some(Box::pin(async {
                tokio::time::sleep(HANDSHAKE_TIMEOUT).await;
                true
            }));
        }
        let timed_out = self
            .waiting
            .as_mut()
            .is_none_or(|t| t.as_mut().poll(cx).is_ready());
        if !timed_out && Pin::new(&mut self.stream).poll_shutdown(cx).is_pending() {
            return Poll::Pending;
        }
        debug!(conn = self.conn, "closed");
        Poll::Ready(())
    }
}

/// How [`Connection::poll_run`] ended.
enum Run {
    /// To be closed.
    Done,
    /// Idle: to the parker.
    Park,
}

/// A connection's task: the connection until it is closed or parked
/// (then the parker holds it and the task ends).
pub(crate) struct Task<S>(Option<Connection<S>>);

impl<S: Stream> Task<S> {
    pub(crate) fn new(c: Connection<S>) -> Self {
        Task(Some(c))
    }
}

impl<S: Stream> Future for Task<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let Some(c) = &mut this.0 else {
                return Poll::Ready(());
            };
            if c.done {
                ready!(c.poll_close(cx));
                this.0 = None;
                return Poll::Ready(());
            }
            match ready!(c.poll_run(cx)) {
                Run::Done => c.done = true,
                Run::Park => {
                    let Some(c) = this.0.take() else { continue };
                    match S::park(c) {
                        None => return Poll::Ready(()),
                        // Something came for it meanwhile (or the broker
                        // is stopping): go on serving it here.
                        Some(mut c) => {
                            c.active = true;
                            this.0 = Some(c);
                        }
                    }
                }
            }
        }
    }
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
    _parker: StopParker,
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
        w.stop();
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
                w.stop();
                core.connection_lost(conn, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tcp_connection_task_is_small() {
        // The task's future is the connection itself. tokio adds about a
        // hundred bytes and rounds its task allocation up to a multiple of
        // 128 bytes (the tasks of the async fn around a select! it
        // replaced took about 800 bytes each). Idle connections have no
        // task at all (park.rs); the idle timer took this from 152 bytes.
        let n = std::mem::size_of::<Task<TcpStream>>();
        assert!(n <= 168, "Task<TcpStream> is {n} bytes");
    }
}
