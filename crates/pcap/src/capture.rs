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
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut last_incomplete = None;
    loop {
        let at = reader.consumed() as u64;
        match reader.next() {
            Ok((len, block)) => {
                last_incomplete = None;
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_linktype = h.network.0;
                        legacy_resolution = if h.is_nanosecond_precision() {
                            1_000_000_000
                        } else {
                            1_000_000
                        };
                    }
                    PcapBlockOwned::Legacy(b) => {
                        number += 1;
                        let nanos = if legacy_resolution == 1_000_000 {
                            u64::from(b.ts_usec) * 1000
                        } else {
                            u64::from(b.ts_usec)
                        };
                        let ts = Timestamp {
                            secs: i64::from(b.ts_sec) + (nanos / 1_000_000_000) as i64,
                            nanos: (nanos % 1_000_000_000) as u32,
                        };
                        on_record!(&Record {
                            number,
                            ts,
                            linktype: legacy_linktype,
                            data: b.data,
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        interfaces.push(Interface {
                            linktype: idb.linktype.0,
                            resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                            offset: idb.ts_offset(),
                        });
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        number += 1;
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
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(len);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
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
            Err(e) => {
                let message = match e {
                    PcapError::UnexpectedEof => {
                        "truncated capture: the last record is cut short".to_string()
                    }
                    PcapError::BufferTooSmall => {
                        format!("record larger than the {READ_BUFFER}-byte read buffer")
                    }
                    PcapError::NomError(_, k) => format!("corrupt record ({k:?})"),
                    other => format!("{other:?}"),
                };
                on_error!(CaptureError {
                    record: number + 1,
                    offset: reader.consumed() as u64,
                    message,
                });
                break;
            }
        }
    }
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
