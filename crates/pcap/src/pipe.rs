//! Output on other threads: the analysis thread copies each packet's bytes
//! and metadata into a batch; formatting threads turn batches into text or
//! JSON lines, and a writer thread writes them in order. Output is identical to
//! [`Writer`](crate::output::Writer)'s.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mqttkit_codec::{PacketType, ProtocolVersion, Role};

use crate::output::{
    format_notice, format_packet, json_line, Format, JsonPacket, LineBuf, Options,
};
use crate::stats::Stats;
use crate::{Carrier, Finding, Handler, Notice, PacketEvent, Timestamp};

/// Packets per batch handed to the formatting thread.
const BATCH: usize = 4096;
/// Bytes of packets after which a batch is sent even when not full.
const BATCH_BYTES: usize = 4 << 20;
/// Batches in flight (bounds memory).
const IN_FLIGHT: usize = 4;

/// One packet of a batch (64 bytes, against 136 when it held the addresses
/// and its own findings); its wire bytes, addresses and findings
/// are in the batch's shared buffers.
#[derive(Debug)]
struct Item {
    frame: u64,
    ts: Timestamp,
    /// Into `Batch::bytes`.
    raw_start: usize,
    raw_len: usize,
    /// Into `Batch::flows`.
    flow: u32,
    /// Into `Batch::findings` (a run of `findings_len` from there).
    findings_start: usize,
    findings_len: u32,
    version: ProtocolVersion,
    inferred: bool,
    from: Option<Role>,
    carrier: Carrier,
}

#[derive(Debug)]
enum Entry {
    Packet(Item),
    Notice(Box<Notice>),
}

#[derive(Debug, Default)]
struct Batch {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// Source and destination of the packets, each pair stored again only
    /// when it differs from the previous packet's.
    flows: Vec<(SocketAddr, SocketAddr)>,
    findings: Vec<Finding>,
}

impl Batch {
    fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
        self.flows.clear();
        self.findings.clear();
    }
}

/// A [`Handler`] that formats and writes on other threads.
///
/// Batches are numbered as the analysis thread fills them; one or more
/// formatting threads take them in turn, and a writer thread puts the
/// formatted batches back in number order before writing, so the output is
/// byte for byte what a single thread would write.
#[derive(Debug)]
pub struct PipeWriter {
    opts: Options,
    batch: Batch,
    batch_len: usize,
    seq: u64,
    tx: Option<SyncSender<(u64, Batch)>>,
    recycled: Receiver<Batch>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    /// Statistics (gathered on the analysis thread when asked for).
    pub stats: Stats,
    /// Findings seen (packets and conversation notices).
    pub findings: u64,
}

/// Formatting threads for this machine: one per core beyond the analysis
/// thread's, at least one, at most four.
fn default_formatters() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).clamp(1, 4))
}

impl PipeWriter {
    /// Starts the formatting and writing threads, writing to `out`.
    pub fn new<W: Write + Send + 'static>(out: W, opts: Options) -> Self {
        Self::with_threads(out, opts, default_formatters(), BATCH)
    }

    /// As [`new`](Self::new), with `formatters` formatting threads (at least
    /// one) and at most `batch` packets per batch (at least one).
    pub fn with_threads<W: Write + Send + 'static>(
        mut out: W,
        opts: Options,
        formatters: usize,
        batch: usize,
    ) -> Self {
        let formatters = formatters.max(1);
        let (tx, rx) = sync_channel::<(u64, Batch)>(IN_FLIGHT);
        let rx = Arc::new(Mutex::new(rx));
        let (back_tx, back_rx) = sync_channel::<Batch>(IN_FLIGHT + formatters + 1);
        let (done_tx, done_rx) = sync_channel::<(u64, LineBuf)>(IN_FLIGHT + formatters);
        let (lines_tx, lines_rx) = sync_channel::<LineBuf>(IN_FLIGHT + 2 * formatters);
        let lines_rx = Arc::new(Mutex::new(lines_rx));
        let mut threads = Vec::with_capacity(formatters + 1);
        for _ in 0..formatters {
            let rx = Arc::clone(&rx);
            let lines_rx = Arc::clone(&lines_rx);
            let back_tx = back_tx.clone();
            let done_tx = done_tx.clone();
            threads.push(std::thread::spawn(move || -> io::Result<()> {
                let mut cache = crate::output::AddrCache::default();
                loop {
                    // The guard is dropped at the end of the statement, so
                    // other formatters can take the next batch meanwhile.
                    let next = rx
                        .lock()
                        .map_err(|_| io::Error::other("lock poisoned"))?
                        .recv();
                    let Ok((seq, mut batch)) = next else {
                        return Ok(());
                    };
                    let mut line = lines_rx
                        .lock()
                        .ok()
                        .and_then(|r| r.try_recv().ok())
                        .unwrap_or_else(|| LineBuf::with_capacity(1 << 20));
                    format_batch(&mut line, &batch, &opts, &mut cache);
                    batch.clear();
                    let _ = back_tx.try_send(batch);
                    if done_tx.send((seq, line)).is_err() {
                        // The writer stopped (write error): nothing more to do.
                        return Ok(());
                    }
                }
            }));
        }
        drop(done_tx);
        threads.push(std::thread::spawn(move || -> io::Result<()> {
            // Formatted batches that arrived before their predecessors.
            let mut waiting: BTreeMap<u64, LineBuf> = BTreeMap::new();
            let mut next = 0u64;
            for (seq, line) in done_rx {
                waiting.insert(seq, line);
                while let Some(mut line) = waiting.remove(&next) {
                    out.write_all(line.as_slice())?;
                    line.clear();
                    let _ = lines_tx.try_send(line);
                    next += 1;
                }
            }
            out.flush()
        }));
        PipeWriter {
            opts,
            batch: Batch::default(),
            batch_len: batch.max(1),
            seq: 0,
            tx: Some(tx),
            recycled: back_rx,
            threads,
            stats: Stats::default(),
            findings: 0,
        }
    }

    fn send(&mut self) {
        // A new batch (none came back yet) starts at its working size
        // rather than growing there by reallocation.
        let next = self.recycled.try_recv().unwrap_or_else(|_| Batch {
            bytes: Vec::with_capacity(BATCH_BYTES / 8),
            entries: Vec::with_capacity(self.batch_len.min(BATCH)),
            flows: Vec::with_capacity(self.batch_len.min(BATCH) / 4),
            findings: Vec::new(),
        });
        let full = std::mem::replace(&mut self.batch, next);
        if let Some(tx) = &self.tx {
            if tx.send((self.seq, full)).is_err() {
                // The formatting threads stopped (write error): stop sending.
                self.tx = None;
            }
        }
        self.seq += 1;
    }

    /// Writes what is left and waits for the formatting thread.
    pub fn finish(mut self) -> io::Result<()> {
        if !self.batch.entries.is_empty() {
            self.send();
        }
        self.tx = None;
        // The writer is joined last, so its error (the one that matters:
        // formatters only stop) is what is returned.
        let mut result = Ok(());
        for t in std::mem::take(&mut self.threads) {
            result = match t.join() {
                Ok(r) => r,
                Err(_) => Err(io::Error::other("output thread panicked")),
            };
        }
        result
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
        let b = &mut self.batch;
        let start = b.bytes.len();
        b.bytes.extend_from_slice(p.raw);
        if !matches!(b.flows.last(), Some((s, d)) if *s == p.src && *d == p.dst) {
            b.flows.push((p.src, p.dst));
        }
        let findings_start = b.findings.len();
        b.findings.extend_from_slice(p.findings);
        b.entries.push(Entry::Packet(Item {
            frame: p.frame,
            ts: p.ts,
            raw_start: start,
            raw_len: p.raw.len(),
            flow: (b.flows.len() - 1) as u32,
            findings_start,
            findings_len: p.findings.len() as u32,
            version: p.version,
            inferred: p.version_inferred,
            from: p.from,
            carrier: p.carrier,
        }));
        if self.batch.entries.len() >= self.batch_len || self.batch.bytes.len() >= BATCH_BYTES {
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
        self.batch.entries.push(Entry::Notice(Box::new(n.clone())));
        if self.batch.entries.len() >= self.batch_len {
            self.send();
        }
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.tx = None;
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }
}

/// Appends the text or JSON lines of every entry of `batch` to `line`.
fn format_batch(
    line: &mut LineBuf,
    batch: &Batch,
    opts: &Options,
    cache: &mut crate::output::AddrCache,
) {
    if opts.format == Format::Json {
        // The addresses are looked at only when the packet's flow entry
        // differs from the previous packet's (flow entries are per batch).
        let mut flow = u32::MAX;
        for e in &batch.entries {
            match e {
                Entry::Packet(it) => {
                    if it.flow != flow {
                        flow = it.flow;
                        let (src, dst) = batch.flows[flow as usize];
                        cache.set_addrs(src, dst);
                    }
                    let f = it.findings_start;
                    let p = JsonPacket {
                        frame: it.frame,
                        ts: it.ts,
                        version: it.version,
                        inferred: it.inferred,
                        carrier: it.carrier,
                        raw: &batch.bytes[it.raw_start..it.raw_start + it.raw_len],
                        findings: &batch.findings[f..f + it.findings_len as usize],
                    };
                    json_line(line, cache, &p, opts.payload);
                }
                Entry::Notice(n) => {
                    cache.scratch.clear();
                    format_notice(&mut cache.scratch, n, opts);
                    line.put(&cache.scratch);
                }
            }
        }
        return;
    }
    let mut scratch = std::mem::take(&mut cache.scratch);
    for e in &batch.entries {
        scratch.clear();
        match e {
            Entry::Packet(it) => {
                let raw = &batch.bytes[it.raw_start..it.raw_start + it.raw_len];
                let (src, dst) = batch.flows[it.flow as usize];
                let f = it.findings_start;
                let ev = PacketEvent {
                    frame: it.frame,
                    ts: it.ts,
                    src,
                    dst,
                    version: it.version,
                    version_inferred: it.inferred,
                    from: it.from,
                    carrier: it.carrier,
                    raw,
                    packet_type: PacketType::from_nibble(raw[0] >> 4),
                    packet: None,
                    findings: &batch.findings[f..f + it.findings_len as usize],
                };
                format_packet(&mut scratch, &ev, opts, cache);
            }
            Entry::Notice(n) => format_notice(&mut scratch, n, opts),
        }
        line.put(&scratch);
    }
    cache.scratch = scratch;
}
