//! TCP reassembly for one direction of a connection.
//!
//! Bytes are delivered in sequence order exactly once. Segments that arrive
//! early wait (up to a byte cap); retransmitted and overlapping bytes are
//! dropped in favour of the copy that arrived first, and compared with it
//! while it is still in the recent-history window. A hole that is never
//! filled is skipped when the waiting bytes exceed the cap or the stream
//! ends, and reported as a gap so the layer above can resynchronise.

use std::collections::BTreeMap;

/// What the reassembler hands upwards.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// The next bytes of the stream.
    Data(&'a [u8]),
    /// `n` bytes of the stream were never captured; data continues after them.
    Gap(u64),
}

/// Things worth telling the user about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpNote {
    /// A retransmission carried different bytes than the first copy
    /// (which was kept), at this stream offset.
    DifferingRetransmission {
        /// Stream offset of the first differing byte.
        offset: u64,
    },
    /// Out-of-order data exceeded the per-direction cap; the hole before it
    /// was given up.
    CapReached {
        /// Bytes that were waiting.
        waiting: usize,
    },
}

/// Bytes of already delivered data kept for comparing retransmissions.
const HISTORY: usize = 64 * 1024;

/// Reassembly state of one direction.
#[derive(Debug)]
pub struct Reassembler {
    /// Absolute offset and 32-bit sequence number of the next byte expected.
    next: Option<(u64, u32)>,
    /// True when the first segment seen was not a SYN.
    pub midstream: bool,
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    cap: usize,
    /// The start of the history ring: bytes at and beyond its length are
    /// zero (it grows as the stream does instead of being zeroed whole).
    ring: Vec<u8>,
    /// True once bytes were remembered since the start or the last gap
    /// (until then retransmissions are not compared).
    ring_live: bool,
    /// Total bytes delivered (and absolute offset of the end of history).
    delivered: u64,
    /// Bytes skipped in gaps.
    pub gap_bytes: u64,
    /// Highest absolute offset the peer acknowledged.
    acked: Option<u64>,
}

impl Reassembler {
    /// A reassembler that lets at most `cap` out-of-order bytes wait.
    pub fn new(cap: usize) -> Self {
        Reassembler {
            next: None,
            midstream: false,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            cap,
            ring: Vec::new(),
            ring_live: false,
            delivered: 0,
            gap_bytes: 0,
            acked: None,
        }
    }

    /// True once the first segment fixed the stream's start.
    pub fn started(&self) -> bool {
        self.next.is_some()
    }

    /// Bytes waiting for a hole to be filled.
    pub fn waiting(&self) -> usize {
        self.pending_bytes
    }

    /// Handles one segment.
    pub fn segment(
        &mut self,
        seq: u32,
        syn: bool,
        payload: &[u8],
        out: &mut dyn FnMut(Chunk<'_>),
        notes: &mut dyn FnMut(TcpNote),
    ) {
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        let (next_abs, next_seq) = match self.next {
            Some(n) => n,
            None => {
                if !syn && payload.is_empty() {
                    return;
                }
                self.midstream = !syn;
                self.next = Some((0, data_seq));
                (0, data_seq)
            }
        };
        if payload.is_empty() {
            return;
        }
        let rel = data_seq.wrapping_sub(next_seq) as i32 as i64;
        let start = next_abs as i64 + rel;
        let end = start + payload.len() as i64;
        if end <= next_abs as i64 {
            self.compare_history(start, payload, notes);
            return;
        }
        if start <= next_abs as i64 {
            let skip = (next_abs as i64 - start) as usize;
            self.compare_history(start, &payload[..skip], notes);
            self.deliver(&payload[skip..], out);
            self.drain(out, notes);
            return;
        }
        // Early: wait for the hole before it.
        self.insert_pending(start as u64, payload, notes);
        if self.hole_acked() {
            // The receiver has the missing bytes: only the capture lost them.
            self.skip_to_pending(out);
            self.drain(out, notes);
        } else if self.pending_bytes > self.cap {
            notes(TcpNote::CapReached {
                waiting: self.pending_bytes,
            });
            self.skip_to_pending(out);
            self.drain(out, notes);
        }
    }

    /// The peer acknowledged everything before `ack`. A hole the peer has
    /// acknowledged will never be filled in the capture: it becomes a gap.
    pub fn acknowledged(
        &mut self,
        ack: u32,
        out: &mut dyn FnMut(Chunk<'_>),
        notes: &mut dyn FnMut(TcpNote),
    ) {
        let Some((next_abs, next_seq)) = self.next else {
            return;
        };
        let rel = ack.wrapping_sub(next_seq) as i32 as i64;
        if rel <= 0 {
            return;
        }
        let abs = next_abs + rel as u64;
        if self.acked.is_none_or(|a| abs > a) {
            self.acked = Some(abs);
        }
        if self.hole_acked() {
            self.skip_to_pending(out);
            self.drain(out, notes);
        }
    }

    fn hole_acked(&self) -> bool {
        match (self.next, self.acked, self.pending.keys().next()) {
            (Some((next_abs, _)), Some(acked), Some(_)) => acked > next_abs,
            _ => false,
        }
    }

    /// The stream ended (FIN, RST or end of capture): whatever waits
    /// behind a hole is delivered after a gap.
    pub fn finish(&mut self, out: &mut dyn FnMut(Chunk<'_>), notes: &mut dyn FnMut(TcpNote)) {
        while !self.pending.is_empty() {
            self.skip_to_pending(out);
            self.drain(out, notes);
        }
    }

    fn insert_pending(&mut self, start: u64, payload: &[u8], notes: &mut dyn FnMut(TcpNote)) {
        // First copy wins: trim the new segment against what already waits.
        let end = start + payload.len() as u64;
        let mut pieces: Vec<(u64, u64)> = vec![(start, end)];
        for (&s, d) in self.pending.range(..end) {
            let e = s + d.len() as u64;
            if e <= start {
                continue;
            }
            // Compare the overlap.
            let (os, oe) = (s.max(start), e.min(end));
            let old = &d[(os - s) as usize..(oe - s) as usize];
            let new = &payload[(os - start) as usize..(oe - start) as usize];
            if let Some(k) = old.iter().zip(new).position(|(a, b)| a != b) {
                notes(TcpNote::DifferingRetransmission {
                    offset: os + k as u64,
                });
            }
            let mut next = Vec::with_capacity(pieces.len() + 1);
            for (ps, pe) in pieces {
                if pe <= s || ps >= e {
                    next.push((ps, pe));
                    continue;
                }
                if ps < s {
                    next.push((ps, s));
                }
                if pe > e {
                    next.push((e, pe));
                }
            }
            pieces = next;
        }
        for (ps, pe) in pieces {
            let bytes = payload[(ps - start) as usize..(pe - start) as usize].to_vec();
            self.pending_bytes += bytes.len();
            self.pending.insert(ps, bytes);
        }
    }

    fn skip_to_pending(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        let Some((&first, _)) = self.pending.iter().next() else {
            return;
        };
        let Some((next_abs, next_seq)) = self.next else {
            return;
        };
        if first > next_abs {
            let missing = first - next_abs;
            self.gap_bytes += missing;
            self.next = Some((first, next_seq.wrapping_add(missing as u32)));
            self.ring_gap();
            out(Chunk::Gap(missing));
        }
    }

    fn drain(&mut self, out: &mut dyn FnMut(Chunk<'_>), notes: &mut dyn FnMut(TcpNote)) {
        while let Some(entry) = self.pending.first_entry() {
            let s = *entry.key();
            let Some((next_abs, _)) = self.next else {
                return;
            };
            if s > next_abs {
                return;
            }
            let d = entry.remove();
            self.pending_bytes -= d.len();
            let e = s + d.len() as u64;
            if e <= next_abs {
                self.compare_history(s as i64, &d, notes);
                continue;
            }
            let skip = (next_abs - s) as usize;
            self.compare_history(s as i64, &d[..skip], notes);
            self.deliver(&d[skip..], out);
        }
    }

    fn deliver(&mut self, data: &[u8], out: &mut dyn FnMut(Chunk<'_>)) {
        if let Some((abs, seq)) = self.next {
            self.next = Some((abs + data.len() as u64, seq.wrapping_add(data.len() as u32)));
        }
        self.remember(data);
        out(Chunk::Data(data));
    }

    /// Keeps the last [`HISTORY`] delivered bytes in a ring indexed by
    /// absolute offset modulo its size.
    fn remember(&mut self, data: &[u8]) {
        if !self.ring_live {
            // A fresh ring: every byte zero.
            self.ring.clear();
            self.ring.reserve_exact(HISTORY);
            self.ring_live = true;
        }
        self.delivered += data.len() as u64;
        let keep = if data.len() > HISTORY {
            &data[data.len() - HISTORY..]
        } else {
            data
        };
        let first_abs = self.delivered - keep.len() as u64;
        let pos = (first_abs % HISTORY as u64) as usize;
        let n1 = keep.len().min(HISTORY - pos);
        if self.ring.len() == pos {
            // The usual case while the ring fills: the bytes go at its end.
            self.ring.extend_from_slice(&keep[..n1]);
        } else {
            if self.ring.len() < pos + n1 {
                // Zero up to where the bytes go (what a zeroed ring held).
                self.ring.resize(pos + n1, 0);
            }
            self.ring[pos..pos + n1].copy_from_slice(&keep[..n1]);
        }
        // The rest wraps to the start (the ring is full length by now).
        self.ring[..keep.len() - n1].copy_from_slice(&keep[n1..]);
    }

    fn ring_gap(&mut self) {
        // Offsets jump: history before the gap is no longer contiguous with
        // the stream offsets; forget it.
        if let Some((abs, _)) = self.next {
            self.delivered = abs;
            self.ring.clear();
            self.ring_live = false;
        }
    }

    fn compare_history(&self, start: i64, old_copy: &[u8], notes: &mut dyn FnMut(TcpNote)) {
        if !self.ring_live || start < 0 {
            return;
        }
        let lo = self.delivered.saturating_sub(HISTORY as u64) as i64;
        for (k, &b) in old_copy.iter().enumerate() {
            let abs = start + k as i64;
            if abs < lo || abs >= self.delivered as i64 {
                continue;
            }
            let at = (abs as u64 % HISTORY as u64) as usize;
            if self.ring.get(at).copied().unwrap_or(0) != b {
                notes(TcpNote::DifferingRetransmission { offset: abs as u64 });
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Out {
        data: Vec<u8>,
        gaps: Vec<u64>,
        notes: Vec<TcpNote>,
    }

    fn feed(r: &mut Reassembler, o: &mut Out, seq: u32, syn: bool, p: &[u8]) {
        let Out { data, gaps, notes } = o;
        r.segment(
            seq,
            syn,
            p,
            &mut |c| match c {
                Chunk::Data(d) => data.extend_from_slice(d),
                Chunk::Gap(n) => {
                    gaps.push(n);
                    data.push(b'|');
                }
            },
            &mut |n| notes.push(n),
        );
    }

    fn finish(r: &mut Reassembler, o: &mut Out) {
        let Out { data, gaps, notes } = o;
        r.finish(
            &mut |c| match c {
                Chunk::Data(d) => data.extend_from_slice(d),
                Chunk::Gap(n) => {
                    gaps.push(n);
                    data.push(b'|');
                }
            },
            &mut |n| notes.push(n),
        );
    }

    #[test]
    fn in_order_out_of_order_and_retransmitted() {
        let mut r = Reassembler::new(1 << 20);
        let mut o = Out::default();
        feed(&mut r, &mut o, 99, true, b"");
        feed(&mut r, &mut o, 100, false, b"abc");
        feed(&mut r, &mut o, 106, false, b"ghi");
        feed(&mut r, &mut o, 103, false, b"def");
        feed(&mut r, &mut o, 100, false, b"abc");
        assert_eq!(o.data, b"abcdefghi");
        assert!(o.notes.is_empty());
        assert!(!r.midstream);
    }

    #[test]
    fn overlaps_keep_the_first_copy_and_report_differences() {
        let mut r = Reassembler::new(1 << 20);
        let mut o = Out::default();
        feed(&mut r, &mut o, 0, true, b"");
        feed(&mut r, &mut o, 1, false, b"abcd");
        feed(&mut r, &mut o, 3, false, b"XXef");
        assert_eq!(o.data, b"abcdef");
        assert_eq!(
            o.notes,
            vec![TcpNote::DifferingRetransmission { offset: 2 }]
        );
        // Early segments overlapping each other: first copy wins too.
        feed(&mut r, &mut o, 10, false, b"jkl");
        feed(&mut r, &mut o, 9, false, b"iJKlm");
        feed(&mut r, &mut o, 7, false, b"gh");
        assert_eq!(o.data, b"abcdefghijklm");
        assert_eq!(o.notes.len(), 2);
    }

    #[test]
    fn an_acknowledged_hole_is_a_gap_at_once() {
        let mut r = Reassembler::new(1 << 20);
        let mut o = Out::default();
        feed(&mut r, &mut o, 0, true, b"");
        // The peer acknowledges 4 bytes we never saw.
        let Out { data, gaps, notes } = &mut o;
        r.acknowledged(
            5,
            &mut |c| match c {
                Chunk::Data(d) => data.extend_from_slice(d),
                Chunk::Gap(n) => gaps.push(n),
            },
            &mut |n| notes.push(n),
        );
        feed(&mut r, &mut o, 5, false, b"xy");
        assert_eq!(o.data, b"|xy");
        assert_eq!(o.gaps, vec![4]);
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut r = Reassembler::new(1 << 20);
        let mut o = Out::default();
        feed(&mut r, &mut o, u32::MAX - 2, false, b"ab");
        feed(&mut r, &mut o, 0, false, b"de");
        feed(&mut r, &mut o, u32::MAX, false, b"c");
        assert_eq!(o.data, b"abcde");
        assert!(r.midstream);
    }

    #[test]
    fn holes_become_gaps_at_the_cap_and_at_the_end() {
        let mut r = Reassembler::new(8);
        let mut o = Out::default();
        feed(&mut r, &mut o, 0, true, b"");
        feed(&mut r, &mut o, 1, false, b"ab");
        feed(&mut r, &mut o, 10, false, b"0123");
        assert_eq!(o.data, b"ab");
        feed(&mut r, &mut o, 14, false, b"45678");
        assert_eq!(o.data, b"ab|012345678");
        assert_eq!(o.gaps, vec![7]);
        assert_eq!(o.notes, vec![TcpNote::CapReached { waiting: 9 }]);
        feed(&mut r, &mut o, 30, false, b"z");
        assert_eq!(r.waiting(), 1);
        finish(&mut r, &mut o);
        assert_eq!(o.data, b"ab|012345678|z");
        assert_eq!(o.gaps, vec![7, 11]);
        assert_eq!(r.gap_bytes, 18);
        assert_eq!(r.waiting(), 0);
    }
}
