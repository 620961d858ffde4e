//! The parker: one thread that holds and serves idle plain-TCP
//! connections.
//!
//! A connection served by a tokio task costs the task (its future and
//! tokio's header, 256 bytes or more), tokio's registration of the socket
//! (another 256) and, while it waits, its timer. Most connections of a
//! broker are idle most of the time, so an idle TCP connection is handed
//! here instead: its socket (deregistered from tokio, registered with this
//! thread's `mio::Poll`), its id, its outbox and its place in the
//! connection count. Nothing else.
//!
//! Light traffic does not bring the task back: when the socket is
//! readable, this thread reads it (into one buffer of its own) and hands
//! the bytes to the core like a task would; when the core gives the
//! outbox bytes (the outbox's waker is a [`ParkWake`] naming the
//! connection), this thread writes them. A connection goes back to a task
//! (`resume`) when it gets busy (more than [`BUSY`] reads and writes in a
//! [`SWEEP`] period, a read that fills the buffer, a write the socket does
//! not take at once, a full channel to the core) and for everything that
//! ends it (the peer's close, an error, the core's close or stop): the
//! task does those as for any connection. A task parks its connection
//! again after `Limits::park_after` without traffic; new connections start
//! parked, so a client that connects and stays quiet never has a task.
//!
//! The core never knows whether a connection is parked: deliveries and
//! keep-alive closes reach it through the outbox as always.
//!
//! No wake-up is lost: a connection is parked (waker put in its outbox and
//! the connection queued for this thread) under the parker's lock, and a
//! wake-up takes the same lock to name the connection, so this thread
//! always sees the connection before any wake-up of it. A wake-up for a
//! connection no longer parked is ignored.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use mio::{Events, Interest, Poll, Token};
use tokio::sync::mpsc::error::TrySendError;
use tracing::{debug, error};

use crate::core::ConnId;
use crate::server::{Connection, Event, Outbox, ParkedCmd, Slot, Task};

/// Token of the thread's own waker (connections use their id).
const WAKE: Token = Token(usize::MAX);

/// Reads and writes a parked connection may have in a [`SWEEP`] period
/// before it goes back to a task.
const BUSY: u32 = 32;

/// How often the counts of reads and writes start again.
const SWEEP: Duration = Duration::from_secs(2);

/// The thread's read buffer; a read that fills it resumes the connection.
const READ_BUF: usize = 4096;

/// One parked connection: all that is kept of it.
pub(crate) struct Parked {
    sock: mio::net::TcpStream,
    /// Reads and writes in this [`SWEEP`] period.
    busy: u32,
    conn: ConnId,
    outbox: Arc<Outbox>,
    slot: Slot,
}

/// A handle on the parker thread.
#[derive(Clone, Debug)]
pub(crate) struct Parker(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    waker: mio::Waker,
    /// Connections parked now (as of the thread's last round).
    parked: AtomicUsize,
}

#[derive(Default)]
struct State {
    /// Connections handed over, not yet registered by the thread.
    incoming: Vec<Parked>,
    /// Connections whose outbox got something.
    woken: Vec<ConnId>,
    /// The broker is stopping: no more parking; the thread drops what
    /// it holds and ends.
    stop: bool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("incoming", &self.incoming.len())
            .field("woken", &self.woken.len())
            .field("stop", &self.stop)
            .finish()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; recover rather than
        // propagate a poison.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The waker a parked connection leaves in its outbox.
struct ParkWake {
    conn: ConnId,
    inner: Arc<Inner>,
}

impl Wake for ParkWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        {
            let mut s = self.inner.lock();
            if s.stop {
                return;
            }
            s.woken.push(self.conn);
        }
        if let Err(e) = self.inner.waker.wake() {
            error!(error = %e, "cannot wake the parker");
        }
    }
}

impl Parker {
    /// Starts the thread; connections it resumes become tasks of the
    /// runtime `rt`.
    pub(crate) fn start(rt: tokio::runtime::Handle) -> io::Result<Parker> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE)?;
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            waker,
            parked: AtomicUsize::new(0),
        });
        let thread_inner = inner.clone();
        std::thread::Builder::new()
            .name("mqttkit-park".into())
            .stack_size(256 << 10)
            .spawn(move || run(thread_inner, poll, rt))?;
        Ok(Parker(inner))
    }

    /// Connections parked now.
    pub(crate) fn parked(&self) -> usize {
        self.0.parked.load(Ordering::Relaxed)
    }

    /// Ends parking: what is parked is closed (the core is gone), and
    /// nothing is parked any more.
    pub(crate) fn stop(&self) {
        let incoming = {
            let mut s = self.0.lock();
            s.stop = true;
            s.woken = Vec::new();
            std::mem::take(&mut s.incoming)
        };
        drop(incoming);
        let _ = self.0.waker.wake();
    }

    /// Parks `c`, or gives it back when it cannot be parked now (its
    /// outbox has something for it, or the broker is stopping).
    pub(crate) fn park(
        &self,
        c: Connection<tokio::net::TcpStream>,
    ) -> Option<Connection<tokio::net::TcpStream>> {
        let inner = &self.0;
        let mut s = inner.lock();
        if s.stop {
            return Some(c);
        }
        let waker = Waker::from(Arc::new(ParkWake {
            conn: c.conn,
            inner: inner.clone(),
        }));
        if !c.outbox.park(waker) {
            return Some(c);
        }
        let (stream, conn, outbox, slot) = c.into_parts();
        match stream.into_std() {
            Ok(std) => {
                s.incoming.push(Parked {
                    sock: mio::net::TcpStream::from_std(std),
                    busy: 0,
                    conn,
                    outbox,
                    slot,
                });
                drop(s);
                if let Err(e) = inner.waker.wake() {
                    error!(error = %e, "cannot wake the parker");
                }
            }
            Err(e) => {
                drop(s);
                debug!(conn, error = %e, "cannot park the connection");
                lost(conn, slot);
            }
        }
        None
    }
}

/// Tells the core a connection is gone (its socket could not be moved).
fn lost(conn: ConnId, slot: Slot) {
    tokio::spawn(async move {
        let _ = slot.events.send(Event::Closed { conn }).await;
        drop(slot);
    });
}

/// The socket back as a std one, for tokio.
fn into_std(sock: mio::net::TcpStream) -> std::net::TcpStream {
    #[cfg(unix)]
    {
        std::net::TcpStream::from(std::os::fd::OwnedFd::from(sock))
    }
    #[cfg(windows)]
    {
        std::net::TcpStream::from(std::os::windows::io::OwnedSocket::from(sock))
    }
}

/// Hands a parked connection back to a task, with the rest of a write
/// begun here and an event the core's channel could not take.
fn resume(p: Parked, chunk: Option<Bytes>, pending: Option<Event>) {
    let Parked {
        sock,
        busy: _,
        conn,
        outbox,
        slot,
    } = p;
    match tokio::net::TcpStream::from_std(into_std(sock)) {
        Ok(stream) => {
            tokio::spawn(Task::new(Connection::resumed(
                conn, stream, outbox, slot, chunk, pending,
            )));
        }
        Err(e) => {
            debug!(conn, error = %e, "cannot resume the connection");
            lost(conn, slot);
        }
    }
}

/// What serving a parked connection came to.
enum Served {
    /// Still parked.
    Keep,
    /// Back to a task, with the rest of a write and an event not sent.
    Resume(Option<Bytes>, Option<Event>),
}

/// Reads what a parked connection sent and hands it to the core.
fn serve_read(p: &mut Parked, buf: &mut [u8]) -> Served {
    for _ in 0..4 {
        p.busy += 1;
        if p.busy > BUSY {
            return Served::Resume(None, None);
        }
        match (&p.sock).read(buf) {
            // The end, or an error: the task's own read ends it.
            Ok(0) => return Served::Resume(None, None),
            Ok(n) => {
                let ev = Event::Bytes {
                    conn: p.conn,
                    data: Bytes::copy_from_slice(&buf[..n]),
                };
                match p.slot.events.try_send(ev) {
                    Ok(()) => {}
                    Err(TrySendError::Full(ev)) => return Served::Resume(None, Some(ev)),
                    Err(TrySendError::Closed(_)) => return Served::Resume(None, None),
                }
                if n == buf.len() {
                    // More is coming: a task reads it.
                    return Served::Resume(None, None);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Served::Keep,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Served::Resume(None, None),
        }
    }
    Served::Resume(None, None)
}

/// Writes what the core gave a parked connection.
fn serve_write(p: &mut Parked, inner: &Arc<Inner>) -> Served {
    loop {
        let conn = p.conn;
        let cmd = p.outbox.next_parked(|| {
            Waker::from(Arc::new(ParkWake {
                conn,
                inner: inner.clone(),
            }))
        });
        let mut b = match cmd {
            ParkedCmd::Empty => return Served::Keep,
            ParkedCmd::Task => return Served::Resume(None, None),
            ParkedCmd::Data(b) => b,
        };
        p.busy += 1;
        while !b.is_empty() {
            match (&p.sock).write(&b) {
                Ok(n) if n > 0 => {
                    b.advance(n);
                    p.outbox.queued.fetch_sub(n, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Not taken at once (or an error the task's write meets
                // again): the task writes the rest.
                _ => return Served::Resume(Some(b), None),
            }
        }
        if p.busy > BUSY {
            return Served::Resume(None, None);
        }
    }
}

/// The thread.
fn run(inner: Arc<Inner>, mut poll: Poll, rt: tokio::runtime::Handle) {
    // Resumed connections are registered with, and spawned on, `rt`.
    let _rt = rt.enter();
    let mut table: HashMap<ConnId, Parked> = HashMap::new();
    let mut events = Events::with_capacity(256);
    let mut readable: Vec<ConnId> = Vec::new();
    let mut buf = vec![0u8; READ_BUF];
    let mut sweep = Instant::now() + SWEEP;
    loop {
        let wait = sweep.saturating_duration_since(Instant::now());
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // Not expected: give every connection back to a task and
            // park no more.
            error!(error = %e, "parker failed: idle connections stay in tasks");
            let incoming = {
                let mut s = inner.lock();
                s.stop = true;
                std::mem::take(&mut s.incoming)
            };
            for mut p in table.into_values() {
                let _ = poll.registry().deregister(&mut p.sock);
                resume(p, None, None);
            }
            incoming.into_iter().for_each(|p| resume(p, None, None));
            inner.parked.store(0, Ordering::Relaxed);
            return;
        }
        readable.extend(
            events
                .iter()
                .filter(|e| e.token() != WAKE)
                .map(|e| e.token().0 as ConnId),
        );
        let (incoming, woken, stop) = {
            let mut s = inner.lock();
            (
                std::mem::take(&mut s.incoming),
                std::mem::take(&mut s.woken),
                s.stop,
            )
        };
        if stop {
            // The core task is gone: closing is all that is left to do.
            inner.parked.store(0, Ordering::Relaxed);
            return;
        }
        for mut p in incoming {
            let token = Token(p.conn as usize);
            match poll
                .registry()
                .register(&mut p.sock, token, Interest::READABLE)
            {
                Ok(()) => {
                    table.insert(p.conn, p);
                }
                Err(e) => {
                    debug!(conn = p.conn, error = %e, "cannot park: stays in a task");
                    resume(p, None, None);
                }
            }
        }
        let work = woken
            .into_iter()
            .map(|id| (id, true))
            .chain(readable.drain(..).map(|id| (id, false)));
        for (id, write) in work {
            let Some(p) = table.get_mut(&id) else {
                continue;
            };
            let served = if write {
                serve_write(p, &inner)
            } else {
                serve_read(p, &mut buf)
            };
            if let Served::Resume(chunk, pending) = served {
                if let Some(mut p) = table.remove(&id) {
                    let _ = poll.registry().deregister(&mut p.sock);
                    resume(p, chunk, pending);
                }
            }
        }
        if Instant::now() >= sweep {
            table.values_mut().for_each(|p| p.busy = 0);
            sweep = Instant::now() + SWEEP;
        }
        if table.capacity() > 64 && table.len() * 4 < table.capacity() {
            table.shrink_to(table.len() * 2);
        }
        inner.parked.store(table.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_connection_is_small() {
        // Socket, read size, id, outbox and slot: 32 bytes on 64-bit
        // targets (plus the outbox and the waker in it). mio's socket is
        // its descriptor, with a selector id besides in debug builds.
        let n = std::mem::size_of::<Parked>();
        let max = if cfg!(debug_assertions) { 48 } else { 32 };
        assert!(n <= max, "Parked is {n} bytes");
    }
}
