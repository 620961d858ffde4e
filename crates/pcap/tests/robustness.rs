//! Every capture of corpus/captures cut short at many points, and with
//! bytes overwritten, is analysed without a panic; the cut is reported with
//! its record number and offset.

mod common;

use common::{captures, captures_dir, config_for};
use mqttkit_pcap::{analyze, Handler, Notice, NoticeKind, PacketEvent};

#[derive(Default)]
struct Count {
    packets: usize,
    capture_notices: Vec<String>,
}

impl Handler for Count {
    fn packet(&mut self, _: &PacketEvent<'_>) {
        self.packets += 1;
    }
    fn notice(&mut self, n: &Notice) {
        if n.kind == NoticeKind::Capture {
            self.capture_notices.push(n.message.clone());
        }
    }
}

#[test]
fn truncated_captures_report_where_and_keep_what_came_before() {
    for c in captures() {
        let bytes = std::fs::read(captures_dir().join(&c)).unwrap();
        let mut whole = Count::default();
        analyze(&bytes[..], &config_for(&c), &mut whole);
        assert!(
            whole.capture_notices.is_empty(),
            "{c}: {:?}",
            whole.capture_notices
        );
        for k in 1..=12 {
            let cut = bytes.len() * k / 13;
            let mut part = Count::default();
            analyze(&bytes[..cut], &config_for(&c), &mut part);
            assert!(part.packets <= whole.packets, "{c} cut at {cut}");
            // Cut inside a record (or the header): reported with its place.
            for m in &part.capture_notices {
                assert!(m.starts_with("record "), "{c}: {m}");
                assert!(m.contains(" at offset "), "{c}: {m}");
            }
        }
    }
}

#[test]
fn overwritten_bytes_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for c in captures() {
        let clean = std::fs::read(captures_dir().join(&c)).unwrap();
        for _ in 0..20 {
            let mut bytes = clean.clone();
            for _ in 0..16 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state as usize) % bytes.len();
                bytes[at] = (state >> 40) as u8;
            }
            let mut n = Count::default();
            analyze(&bytes[..], &config_for(&c), &mut n);
            // Every MQTT packet takes at least two bytes of the capture.
            assert!(n.packets <= bytes.len() / 2, "{c}");
        }
    }
}
