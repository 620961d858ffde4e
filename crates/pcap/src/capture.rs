//! Reading capture files: pcap (micro- and nanosecond) and pcapng (any
//! number of interfaces and sections, any timestamp resolution), streamed
//! through a fixed-size buffer.

use std::io::Read;

use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, Linktype, PcapBlockOwned, PcapError};

/// A timestamp: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timestamp {
    /// Whole seconds.
    pub secs: i64,
    /// Nanoseconds (0..1e9).
    pub nanos: u32,
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:09}", self.secs, self.nanos)
    }
}

/// One packet record of a capture.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// 1-based number among the packet records (tshark's frame number).
    pub number: u64,
    /// Capture time.
    pub ts: Timestamp,
    /// Link-layer type of the interface it was captured on.
    pub linktype: i32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// A problem with the capture file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError {
    /// The number of the record being read (the next one when the file is
    /// cut short between records).
    pub record: u64,
    /// Byte offset in the file where the problem is.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

/// Size of the read buffer; a record larger than this cannot be read.
pub const READ_BUFFER: usize = 1 << 20;

struct Interface {
    linktype: i32,
    /// Units per second.
    resolution: u64,
    offset: i64,
}

/// Reads every packet record from `input`, passing each to `on_item` in
/// order. Problems with the file are passed as errors; reading stops
/// only where it cannot go on (a record header that cannot be parsed, a
/// truncated file). Memory use is bounded by [`READ_BUFFER`].
pub fn read_records<R: Read + Send>(
    input: R,
    on_item: &mut dyn FnMut(Result<&Record<'_>, CaptureError>),
) {
    macro_rules! on_record {
        ($r:expr) => {
            on_item(Ok($r))
        };
    }
    macro_rules! on_error {
        ($e:expr) => {
            on_item(Err($e))
        };
    }
    let mut reader = match create_reader(READ_BUFFER, input) {
        Ok(r) => r,
        Err(e) => {
            on_error!(CaptureError {
                record: 1,
                offset: 0,
                message: format!("not a pcap or pcapng file: {e:?}"),
            });
            return;
        }
    };
    let mut number = 0u64;
    let mut legacy_linktype = Linktype::ETHERNET.0;
    let mut legacy_resolution = 1_000_000u64;
    let mut snaplen = 0u32;
    let mut last_secs: Option<u32> = None;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut last_incomplete = None;
    // Set while looking for the next readable record after a corrupt one:
    // the offset where the corruption started.
    let mut lost_at: Option<u64> = None;
    let mut legacy: Option<bool> = None; // Some(big endian) for classic pcap
                                         // Some(big endian) for classic pcap with 16-byte record headers (not
                                         // the "modified" format), whose records are read directly below.
    let mut direct: Option<bool> = None;
    loop {
        let at = reader.consumed() as u64;
        if let (Some(_), Some(be)) = (lost_at, legacy) {
            // Resynchronising a classic pcap: a record header is accepted
            // only when the one after it (or the end of the file) is where
            // its length says.
            let limits = Limits {
                snaplen,
                resolution: legacy_resolution,
                last_secs,
                be,
            };
            match limits.candidate(reader.data(), reader.reader_exhausted()) {
                Candidate::Yes => {}
                Candidate::No => {
                    if reader.data().is_empty() {
                        on_error!(CaptureError {
                            record: number + 1,
                            offset: at,
                            message: format!(
                                "no further record after the corruption at offset {}",
                                lost_at.unwrap_or(at)
                            ),
                        });
                        break;
                    }
                    reader.consume(1);
                    continue;
                }
                Candidate::NeedMore => {
                    let before = reader.data().len();
                    let _ = reader.refill();
                    if reader.data().len() <= before && before > 0 {
                        // No more data to be had: not a record start.
                        reader.consume(1);
                    }
                    continue;
                }
            }
        }
        if let (None, Some(be)) = (lost_at, direct) {
            // The records wholly in the buffer, read here: the same fields
            // and checks as the `Legacy` case below (the reader's parser
            // takes the caplen bytes after a 16-byte header), without a
            // call through the reader per record. Whatever is not such a
            // record (cut off by the buffer's end, implausible) is left to
            // the reader.
            let data = reader.data();
            let mut used = 0;
            while let Some(h) = data.get(used..used + 16) {
                let word = |k: usize| {
                    let b = [h[k], h[k + 1], h[k + 2], h[k + 3]];
                    if be {
                        u32::from_be_bytes(b)
                    } else {
                        u32::from_le_bytes(b)
                    }
                };
                let (ts_sec, ts_usec, caplen, origlen) = (word(0), word(4), word(8), word(12));
                let plausible = caplen <= origlen
                    && caplen <= snaplen.max(262_144)
                    && u64::from(ts_usec) < legacy_resolution;
                let end = used + 16 + caplen as usize;
                if !plausible || end > data.len() {
                    break;
                }
                number += 1;
                last_secs = Some(ts_sec);
                on_record!(&Record {
                    number,
                    ts: legacy_ts(ts_sec, ts_usec, legacy_resolution),
                    linktype: legacy_linktype,
                    data: &data[used + 16..end],
                });
                used = end;
            }
            if used > 0 {
                reader.consume_noshift(used);
                last_incomplete = None;
                continue;
            }
        }
        let action = match reader.next() {
            Ok((len, block)) => {
                last_incomplete = None;
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = Some(h.is_bigendian());
                        direct = (!h.is_modified_format()).then_some(h.is_bigendian());
                        legacy_linktype = h.network.0;
                        snaplen = h.snaplen;
                        legacy_resolution = if h.is_nanosecond_precision() {
                            1_000_000_000
                        } else {
                            1_000_000
                        };
                        Action::Consume(len)
                    }
                    PcapBlockOwned::Legacy(b) => {
                        // A record header that cannot be right: corruption.
                        // While resynchronising, also insist on a time near
                        // the last good record's.
                        let plausible = b.caplen <= b.origlen
                            && b.caplen <= snaplen.max(262_144)
                            && u64::from(b.ts_usec) < legacy_resolution
                            && (lost_at.is_none()
                                || last_secs.is_none_or(|l| b.ts_sec.abs_diff(l) <= 86_400));
                        if !plausible {
                            Action::Corrupt("implausible record header".into())
                        } else {
                            number += 1;
                            last_secs = Some(b.ts_sec);
                            let ts = legacy_ts(b.ts_sec, b.ts_usec, legacy_resolution);
                            if let Some(from) = lost_at.take() {
                                on_error!(CaptureError {
                                    record: number,
                                    offset: at,
                                    message: format!(
                                        "reading resumes here after skipping {} corrupt bytes",
                                        at - from
                                    ),
                                });
                            }
                            on_record!(&Record {
                                number,
                                ts,
                                linktype: legacy_linktype,
                                data: b.data,
                            });
                            Action::Consume(len)
                        }
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        interfaces.clear();
                        Action::Consume(len)
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        interfaces.push(Interface {
                            linktype: idb.linktype.0,
                            resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                            offset: idb.ts_offset(),
                        });
                        Action::Consume(len)
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        number += 1;
                        if let Some(from) = lost_at.take() {
                            on_error!(CaptureError {
                                record: number,
                                offset: at,
                                message: format!(
                                    "reading resumes here after skipping {} corrupt bytes",
                                    at - from
                                ),
                            });
                        }
                        match interfaces.get(epb.if_id as usize) {
                            Some(ifc) => {
                                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                let ts = to_timestamp(raw, ifc.resolution, ifc.offset);
                                on_record!(&Record {
                                    number,
                                    ts,
                                    linktype: ifc.linktype,
                                    data: epb.data,
                                });
                            }
                            None => on_error!(CaptureError {
                                record: number,
                                offset: at,
                                message: format!(
                                    "packet names interface {} which was not described",
                                    epb.if_id
                                ),
                            }),
                        }
                        Action::Consume(len)
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        number += 1;
                        match interfaces.first() {
                            Some(ifc) => on_record!(&Record {
                                number,
                                ts: Timestamp::default(),
                                linktype: ifc.linktype,
                                data: spb.data,
                            }),
                            None => on_error!(CaptureError {
                                record: number,
                                offset: at,
                                message: "simple packet block before any interface".into(),
                            }),
                        }
                        Action::Consume(len)
                    }
                    PcapBlockOwned::NG(_) => Action::Consume(len),
                }
            }
            Err(PcapError::Eof) => Action::Stop(
                lost_at
                    .map(|from| format!("no further record after the corruption at offset {from}")),
            ),
            Err(PcapError::Incomplete(_)) => Action::Refill,
            // A record running past the end: the file is cut short, or the
            // record's length is corrupt and more records follow.
            Err(PcapError::UnexpectedEof) => {
                Action::Corrupt("record runs past the end of the file".to_string())
            }
            Err(PcapError::BufferTooSmall) => Action::Corrupt(format!(
                "record larger than the {READ_BUFFER}-byte read buffer"
            )),
            Err(PcapError::NomError(_, k)) => Action::Corrupt(format!("corrupt record ({k:?})")),
            Err(other) => Action::Stop(Some(format!("{other:?}"))),
        };
        match action {
            // Without the shift `consume` makes once half the buffer is
            // used (a copy of the other half): `refill` moves only the
            // incomplete tail when the buffer runs out.
            Action::Consume(n) => reader.consume_noshift(n),
            Action::Corrupt(message) => {
                if reader.data().is_empty() && reader.reader_exhausted() {
                    // The end of the file (the reader reports it this way
                    // when its buffer was not shifted back).
                    if let Some(from) = lost_at {
                        on_error!(CaptureError {
                            record: number + 1,
                            offset: at,
                            message: format!(
                                "no further record after the corruption at offset {from}"
                            ),
                        });
                    }
                    break;
                }
                if lost_at.is_none() {
                    on_error!(CaptureError {
                        record: number + 1,
                        offset: at,
                        message: format!("{message}: looking for the next record"),
                    });
                    lost_at = Some(at);
                }
                // Try every following byte as the start of a record.
                reader.consume(1);
                last_incomplete = None;
            }
            Action::Refill => {
                // Guard against a reader that makes no progress.
                let here = reader.consumed();
                if last_incomplete == Some(here) {
                    on_error!(CaptureError {
                        record: number + 1,
                        offset: here as u64,
                        message: "truncated capture: the last record is cut short".into(),
                    });
                    break;
                }
                last_incomplete = Some(here);
                if reader.refill().is_err() {
                    on_error!(CaptureError {
                        record: number + 1,
                        offset: here as u64,
                        message: "read error".into(),
                    });
                    break;
                }
            }
            Action::Stop(message) => {
                if let Some(message) = message {
                    on_error!(CaptureError {
                        record: number + 1,
                        offset: at,
                        message,
                    });
                }
                break;
            }
        }
    }
}

/// The time of a classic pcap record (`resolution`: units per second of
/// its fraction field).
fn legacy_ts(ts_sec: u32, ts_frac: u32, resolution: u64) -> Timestamp {
    let nanos = if resolution == 1_000_000 {
        u64::from(ts_frac) * 1000
    } else {
        u64::from(ts_frac)
    };
    Timestamp {
        secs: i64::from(ts_sec) + (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as u32,
    }
}

/// What a classic pcap record header must satisfy while resynchronising.
struct Limits {
    snaplen: u32,
    resolution: u64,
    last_secs: Option<u32>,
    be: bool,
}

enum Candidate {
    Yes,
    No,
    NeedMore,
}

impl Limits {
    fn header(&self, h: &[u8], last: Option<u32>) -> Option<u32> {
        let word = |k: usize| {
            let b = [h[k], h[k + 1], h[k + 2], h[k + 3]];
            if self.be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (secs, frac, caplen, origlen) = (word(0), word(4), word(8), word(12));
        let ok = caplen <= origlen
            && caplen <= self.snaplen.max(262_144)
            && u64::from(frac) < self.resolution
            && last.is_none_or(|l| secs.abs_diff(l) <= 86_400);
        ok.then_some(caplen)
    }

    /// Whether `d` starts with a record whose successor (or the end of
    /// the file) is where its length says.
    fn candidate(&self, d: &[u8], exhausted: bool) -> Candidate {
        if d.len() < 16 {
            return if exhausted {
                Candidate::No
            } else {
                Candidate::NeedMore
            };
        }
        let Some(caplen) = self.header(&d[..16], self.last_secs) else {
            return Candidate::No;
        };
        let next = 16 + caplen as usize;
        let secs = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
        let secs = if self.be { secs.swap_bytes() } else { secs };
        if d.len() >= next + 16 {
            match self.header(&d[next..next + 16], Some(secs)) {
                Some(_) => Candidate::Yes,
                None => Candidate::No,
            }
        } else if exhausted {
            if d.len() == next {
                Candidate::Yes
            } else {
                Candidate::No
            }
        } else {
            Candidate::NeedMore
        }
    }
}

/// What to do after one read attempt.
enum Action {
    Consume(usize),
    Corrupt(String),
    Refill,
    Stop(Option<String>),
}

fn to_timestamp(raw: u64, resolution: u64, offset: i64) -> Timestamp {
    let secs = raw / resolution;
    let frac = raw % resolution;
    let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(resolution)) as u32;
    Timestamp {
        secs: (secs as i64).saturating_add(offset),
        nanos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_resolutions_convert_to_nanoseconds() {
        assert_eq!(
            to_timestamp(1_700_000_000_123_456, 1_000_000, 0),
            Timestamp {
                secs: 1_700_000_000,
                nanos: 123_456_000
            }
        );
        assert_eq!(
            to_timestamp(1_700_000_000_123_456_789, 1_000_000_000, 5),
            Timestamp {
                secs: 1_700_000_005,
                nanos: 123_456_789
            }
        );
    }

    type Rec = (u64, Timestamp, i32, Vec<u8>);

    fn collect(bytes: &[u8]) -> (Vec<Rec>, Vec<CaptureError>) {
        let mut recs = Vec::new();
        let mut errs = Vec::new();
        read_records(bytes, &mut |r| match r {
            Ok(r) => recs.push((r.number, r.ts, r.linktype, r.data.to_vec())),
            Err(e) => errs.push(e),
        });
        (recs, errs)
    }

    /// A pcapng block: type, total length, body (padded), total length.
    fn block(ty: u32, body: &[u8]) -> Vec<u8> {
        let mut b = body.to_vec();
        while !b.len().is_multiple_of(4) {
            b.push(0);
        }
        let total = (b.len() + 12) as u32;
        let mut out = ty.to_le_bytes().to_vec();
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(&b);
        out.extend_from_slice(&total.to_le_bytes());
        out
    }

    #[test]
    fn pcapng_with_two_interfaces_and_nanosecond_resolution() {
        let mut f = Vec::new();
        // Section header: byte-order magic, version 1.0, unknown length.
        let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        f.extend(block(0x0A0D_0D0A, &shb));
        // Interface 0: Ethernet, default microseconds.
        let mut idb0 = 1u16.to_le_bytes().to_vec();
        idb0.extend_from_slice(&[0, 0]);
        idb0.extend_from_slice(&65535u32.to_le_bytes());
        f.extend(block(1, &idb0));
        // Interface 1: raw IP, if_tsresol = 9 (nanoseconds), end of options.
        let mut idb1 = 101u16.to_le_bytes().to_vec();
        idb1.extend_from_slice(&[0, 0]);
        idb1.extend_from_slice(&65535u32.to_le_bytes());
        idb1.extend_from_slice(&9u16.to_le_bytes());
        idb1.extend_from_slice(&1u16.to_le_bytes());
        idb1.extend_from_slice(&[9, 0, 0, 0]);
        idb1.extend_from_slice(&[0, 0, 0, 0]);
        f.extend(block(1, &idb1));
        let epb = |ifc: u32, ts: u64, data: &[u8]| {
            let mut b = ifc.to_le_bytes().to_vec();
            b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
            b.extend_from_slice(&(ts as u32).to_le_bytes());
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(data);
            block(6, &b)
        };
        f.extend(epb(0, 1_700_000_000_000_001, b"eth"));
        f.extend(epb(1, 1_700_000_000_123_456_789, b"raw"));
        let (recs, errs) = collect(&f);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].0, 1);
        assert_eq!(recs[0].2, 1);
        assert_eq!(recs[0].1.nanos, 1000);
        assert_eq!(recs[1].0, 2);
        assert_eq!(recs[1].2, 101);
        assert_eq!(
            recs[1].1,
            Timestamp {
                secs: 1_700_000_000,
                nanos: 123_456_789
            }
        );
        assert_eq!(&recs[1].3[..3], b"raw");
        // A packet naming an interface that was never described.
        let mut bad = f.clone();
        bad.extend(epb(5, 0, b"x"));
        let (recs, errs) = collect(&bad);
        assert_eq!(recs.len(), 2);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].record, 3);
    }

    #[test]
    fn nanosecond_pcap() {
        let mut f = 0xa1b2_3c4du32.to_le_bytes().to_vec();
        f.extend_from_slice(&2u16.to_le_bytes());
        f.extend_from_slice(&4u16.to_le_bytes());
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&113u32.to_le_bytes());
        f.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        f.extend_from_slice(&987_654_321u32.to_le_bytes());
        f.extend_from_slice(&2u32.to_le_bytes());
        f.extend_from_slice(&2u32.to_le_bytes());
        f.extend_from_slice(b"ab");
        let (recs, errs) = collect(&f);
        assert!(errs.is_empty());
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].1.nanos, 987_654_321);
        assert_eq!(recs[0].2, 113);
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        let mut errors = Vec::new();
        read_records(&b"this is not a capture file at all"[..], &mut |r| {
            if let Err(e) = r {
                errors.push(e)
            }
        });
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].record, 1);
    }
}
