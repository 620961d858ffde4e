//! Helpers shared by the capture tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mqttkit_pcap::fields::{dissect, Flat};
use mqttkit_pcap::{analyze, Config, Handler, Notice, PacketEvent};

/// corpus/captures.
pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/captures")
}

/// Every capture file, sorted, as paths relative to corpus/captures.
pub fn captures() -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["mosquitto", "suricata-verify", "synthetic"] {
        let dir = captures_dir().join(sub);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                out.push(format!("{sub}/{name}"));
            }
        }
    }
    out.sort();
    out
}

/// Ports the capture needs beyond 1883 (the mosquitto captures use 18830).
pub fn config_for(capture: &str) -> Config {
    let mut c = Config::default();
    if capture.starts_with("mosquitto/") {
        c.ports.push(18830);
    }
    c
}

/// One decoded packet, flattened.
#[derive(Debug, Clone)]
pub struct Pkt {
    pub frame: u64,
    pub fields: Vec<(&'static str, String)>,
    pub findings: Vec<String>,
}

#[derive(Default)]
pub struct Collect {
    pub packets: Vec<Pkt>,
    pub notices: Vec<Notice>,
}

impl Handler for Collect {
    fn packet(&mut self, p: &PacketEvent<'_>) {
        let mut f = Flat::default();
        dissect(p.raw, p.version, true, &mut f);
        self.packets.push(Pkt {
            frame: p.frame,
            fields: f.0,
            findings: p.findings.iter().map(|f| f.statement.to_string()).collect(),
        });
    }
    fn notice(&mut self, n: &Notice) {
        self.notices.push(n.clone());
    }
}

/// Runs the analyser over a capture of corpus/captures.
pub fn run(capture: &str) -> Collect {
    let path = captures_dir().join(capture);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut c = Collect::default();
    analyze(std::io::BufReader::new(file), &config_for(capture), &mut c);
    c
}

/// Our fields per frame: field name -> values in order over the frame's packets.
pub fn by_frame(c: &Collect) -> BTreeMap<u64, BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<u64, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for p in &c.packets {
        let m = out.entry(p.frame).or_default();
        for (k, v) in &p.fields {
            m.entry(format!("mqtt.{k}")).or_default().push(v.clone());
        }
    }
    out
}
