//! What the I/O layer needs from the protocol core.
//!
//! The broker's sockets, tasks and clock drive a [`Core`]: a sans-IO state
//! machine that is told about connections, bytes and time, and answers with
//! bytes to write and connections to close. The reference broker's core is
//! the model (`mqttkit-model`); tests drive the I/O layer with small fakes.

use bytes::Bytes;
use mqttkit_model::persist::{RestoreReport, StoreOp, StoredState};

/// Identifies one client connection for its whole life (never reused).
pub type ConnId = u64;

/// Milliseconds since the broker started: the only clock a core sees.
pub type Millis = u64;

/// What a core asks the I/O layer to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes (one or more whole packets) to the connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// Encoded packets.
        bytes: Bytes,
    },
    /// Close the connection after writing what was sent before.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// A sans-IO protocol core.
pub trait Core: Send + 'static {
    /// A client connected.
    fn connection_opened(&mut self, conn: ConnId, now: Millis);
    /// Bytes arrived from a client, in order, in any chunking.
    fn bytes_received(&mut self, conn: ConnId, bytes: &[u8], now: Millis);
    /// The connection ended (closed by the peer, reset, or closed after an
    /// [`Output::Close`]).
    fn connection_lost(&mut self, conn: ConnId, now: Millis);
    /// Time has reached `now`: run what is due (keep-alive, expiry, wills).
    fn handle_timeout(&mut self, now: Millis);
    /// The next thing to do, if any.
    fn poll_output(&mut self) -> Option<Output>;
    /// When [`handle_timeout`](Core::handle_timeout) should next be called.
    fn next_deadline(&self) -> Option<Millis>;

    /// Persistence: loads stored records into this (fresh) core and starts
    /// reporting changes. `wall_base` is the wall-clock time (ms since the
    /// Unix epoch) at model time 0; `now` is the current model time. The
    /// default refuses: a core that keeps no durable state cannot be run
    /// with a data directory.
    fn restore(
        &mut self,
        state: &StoredState,
        wall_base: u64,
        now: Millis,
    ) -> Result<RestoreReport, String> {
        let _ = (state, wall_base, now);
        Err("this core cannot keep state across restarts".into())
    }

    /// Persistence: the durable changes since the last call. The I/O layer
    /// commits them before it writes the bytes produced with them.
    fn take_store_ops(&mut self) -> Vec<StoreOp> {
        Vec::new()
    }
}
