//! Output on a second thread: the analysis thread copies each packet's
//! bytes and metadata into a batch; a formatting thread turns batches into
//! text or JSON lines and writes them. Output is identical to
//! [`Writer`](crate::output::Writer)'s.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use mqttkit_codec::{PacketType, ProtocolVersion, Role};

use crate::output::{format_notice, format_packet, Options};
use crate::stats::Stats;
use crate::{Carrier, Finding, Handler, Notice, PacketEvent, Timestamp};

/// Packets per batch handed to the formatting thread.
const BATCH: usize = 4096;
/// Batches in flight (bounds memory).
const IN_FLIGHT: usize = 4;

#[derive(Debug)]
struct Item {
    frame: u64,
    ts: Timestamp,
    src: SocketAddr,
    dst: SocketAddr,
    version: ProtocolVersion,
    inferred: bool,
    from: Option<Role>,
    carrier: Carrier,
    raw: Range<usize>,
    findings: Vec<Finding>,
}

#[derive(Debug)]
enum Entry {
    Packet(Item),
    Notice(Notice),
}

#[derive(Debug, Default)]
struct Batch {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

/// A [`Handler`] that formats and writes on its own thread.
#[derive(Debug)]
pub struct PipeWriter {
    opts: Options,
    batch: Batch,
    tx: Option<SyncSender<Batch>>,
    recycled: Receiver<Batch>,
    thread: Option<JoinHandle<io::Result<()>>>,
    /// Statistics (gathered on the analysis thread when asked for).
    pub stats: Stats,
    /// Findings seen (packets and conversation notices).
    pub findings: u64,
}

impl PipeWriter {
    /// Starts the formatting thread writing to `out`.
    pub fn new<W: Write + Send + 'static>(mut out: W, opts: Options) -> Self {
        let (tx, rx) = sync_channel::<Batch>(IN_FLIGHT);
        let (back_tx, back_rx) = sync_channel::<Batch>(IN_FLIGHT + 1);
        let thread = std::thread::spawn(move || -> io::Result<()> {
            let mut line = Vec::with_capacity(1 << 20);
            let mut cache = crate::output::AddrCache::default();
            let mut result = Ok(());
            for mut batch in rx {
                if result.is_ok() {
                    for e in &batch.entries {
                        match e {
                            Entry::Packet(it) => {
                                let raw = &batch.bytes[it.raw.clone()];
                                let ev = PacketEvent {
                                    frame: it.frame,
                                    ts: it.ts,
                                    src: it.src,
                                    dst: it.dst,
                                    version: it.version,
                                    version_inferred: it.inferred,
                                    from: it.from,
                                    carrier: it.carrier,
                                    raw,
                                    packet_type: PacketType::from_nibble(raw[0] >> 4),
                                    packet: None,
                                    findings: &it.findings,
                                };
                                format_packet(&mut line, &ev, &opts, &mut cache);
                            }
                            Entry::Notice(n) => format_notice(&mut line, n, &opts),
                        }
                    }
                    result = out.write_all(&line);
                    line.clear();
                }
                batch.bytes.clear();
                batch.entries.clear();
                let _ = back_tx.try_send(batch);
            }
            result.and_then(|_| out.flush())
        });
        PipeWriter {
            opts,
            batch: Batch::default(),
            tx: Some(tx),
            recycled: back_rx,
            thread: Some(thread),
            stats: Stats::default(),
            findings: 0,
        }
    }

    fn send(&mut self) {
        let next = self.recycled.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.batch, next);
        if let Some(tx) = &self.tx {
            if tx.send(full).is_err() {
                // The writer thread stopped (write error): stop sending.
                self.tx = None;
            }
        }
    }

    /// Writes what is left and waits for the formatting thread.
    pub fn finish(mut self) -> io::Result<()> {
        if !self.batch.entries.is_empty() {
            self.send();
        }
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("output thread panicked")),
            None => Ok(()),
        }
    }
}

impl Handler for PipeWriter {
    fn packet(&mut self, p: &PacketEvent<'_>) {
        self.findings += p.findings.len() as u64;
        if self.opts.stats {
            self.stats.packet(p);
        }
        if !self.opts.packets || (self.opts.only_violations && p.findings.is_empty()) {
            return;
        }
        let start = self.batch.bytes.len();
        self.batch.bytes.extend_from_slice(p.raw);
        self.batch.entries.push(Entry::Packet(Item {
            frame: p.frame,
            ts: p.ts,
            src: p.src,
            dst: p.dst,
            version: p.version,
            inferred: p.version_inferred,
            from: p.from,
            carrier: p.carrier,
            raw: start..self.batch.bytes.len(),
            findings: p.findings.to_vec(),
        }));
        if self.batch.entries.len() >= BATCH || self.batch.bytes.len() >= 4 << 20 {
            self.send();
        }
    }

    fn notice(&mut self, n: &Notice) {
        self.findings += u64::from(n.statement.is_some());
        if self.opts.stats {
            self.stats.notice(n);
        }
        if !self.opts.notices {
            return;
        }
        self.batch.entries.push(Entry::Notice(n.clone()));
        if self.batch.entries.len() >= BATCH {
            self.send();
        }
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
