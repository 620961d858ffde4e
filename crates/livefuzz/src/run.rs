//! The fuzzing loop: generate, run, judge, probe, shrink, save.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use mqttkit_codec::ProtocolVersion;
use tokio::time::Instant;

use crate::exec::{execute, probe, Timing};
use crate::gen::{frame, generate, Class, Conversation, Ctx, Role};
use crate::judge::{expect, judge, Expect, Reaction, Verdict};
use crate::rng::Rng;
use crate::script::{Script, FORMAT};

/// Kind of the finding recorded when the probe fails after a case.
pub const UNHEALTHY: &str = "broker-unhealthy";

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `host:port` of the broker.
    pub address: String,
    /// Name of the broker in scripts and reports.
    pub broker: String,
    /// Versions, used in turn case by case.
    pub versions: Vec<ProtocolVersion>,
    /// Seed.
    pub seed: u64,
    /// Stop after this long.
    pub duration: Duration,
    /// Stop after this many cases.
    pub max_cases: u64,
    /// Only these classes (all when empty).
    pub classes: Vec<Class>,
    /// Directory for scripts (none: not saved).
    pub out: Option<PathBuf>,
    /// Deadlines.
    pub timing: Timing,
    /// Shrink findings before saving them.
    pub shrink: bool,
    /// Print progress to standard error every ten seconds.
    pub progress: bool,
}

impl Options {
    /// Defaults for `address`: both versions, seed 0, 60 s, 100 000 cases.
    pub fn new(address: impl Into<String>) -> Self {
        let address = address.into();
        Options {
            broker: format!("mqtt://{address}"),
            address,
            versions: vec![ProtocolVersion::V3_1_1, ProtocolVersion::V5],
            seed: 0,
            duration: Duration::from_secs(60),
            max_cases: 100_000,
            classes: Vec::new(),
            out: None,
            timing: Timing::default(),
            shrink: true,
            progress: false,
        }
    }
}

/// A finding with where it was saved.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The (shrunk) script.
    pub script: Script,
    /// The file written, if any.
    pub path: Option<PathBuf>,
    /// How many more cases showed the same finding (same version, class,
    /// kind and statements).
    pub repeats: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Cases run.
    pub cases: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Cases per version.
    pub per_version: BTreeMap<String, u64>,
    /// Cases per class.
    pub per_class: BTreeMap<String, u64>,
    /// Cases whose setup the broker refused or did not answer.
    pub setup_failures: u64,
    /// Distinct findings.
    pub findings: Vec<Finding>,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
}

/// What happened in one case.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What the specification requires.
    pub expect: Expect,
    /// What the broker did (`Err`: the setup failed).
    pub reaction: Result<Reaction, String>,
    /// The disagreement, if any.
    pub verdict: Option<Verdict>,
}

/// Runs one conversation and judges it (no probe).
pub async fn run_case(address: &str, conv: &Conversation, timing: &Timing) -> Outcome {
    let e = expect(conv);
    let reaction = execute(address, conv, &e, timing).await;
    let verdict = match &reaction {
        Ok(r) => judge(conv.version, &e, r),
        Err(_) => None,
    };
    Outcome {
        expect: e,
        reaction,
        verdict,
    }
}

fn version_name(v: ProtocolVersion) -> &'static str {
    if v.is_v5() {
        "5"
    } else {
        "3.1.1"
    }
}

/// The conversation of case `case` of a run.
pub fn case_conversation(opts: &Options, case: u64) -> Conversation {
    let v = opts.versions[(case % opts.versions.len() as u64) as usize];
    let mut rng = Rng::for_case(opts.seed, case);
    let classes: Vec<Class> = if opts.classes.is_empty() {
        Class::ALL.to_vec()
    } else {
        opts.classes.clone()
    };
    let usable: Vec<Class> = classes.into_iter().filter(|c| c.applies_to(v)).collect();
    let class = if usable.is_empty() {
        Class::Flood
    } else {
        *rng.pick(&usable)
    };
    let ctx = Ctx {
        version: v,
        client_id: format!("lf{}c{case}", opts.seed),
        prefix: format!("lf/{}/{case}", opts.seed),
    };
    generate(class, &ctx, &mut rng)
}

/// Fuzzes the broker at `opts.address`.
pub async fn fuzz(opts: &Options) -> Summary {
    let started = Instant::now();
    let deadline = started + opts.duration;
    let mut s = Summary::default();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_progress = started;
    if opts.versions.is_empty() {
        s.stopped = Some("no protocol version selected".into());
        return s;
    }
    let probe_id = format!("lfprobe{}", opts.seed);
    while s.cases < opts.max_cases && Instant::now() < deadline {
        let case = s.cases;
        let conv = case_conversation(opts, case);
        let v = conv.version;
        s.cases += 1;
        *s.per_version.entry(version_name(v).into()).or_default() += 1;
        *s.per_class.entry(conv.class.name().into()).or_default() += 1;
        let out = run_case(&opts.address, &conv, &opts.timing).await;
        if out.reaction.is_err() {
            s.setup_failures += 1;
        }
        let topic = format!("lf/probe/{}/{case}", opts.seed);
        let mut unhealthy = None;
        if let Err(e) = probe(&opts.address, v, &probe_id, &topic, &opts.timing).await {
            // Once more after a pause, to tell a slow moment from a broken
            // broker.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let again = probe(&opts.address, v, &probe_id, &topic, &opts.timing).await;
            unhealthy = Some((e, again.is_ok()));
        }
        let verdict = match (&unhealthy, out.verdict.clone()) {
            (Some((e, recovered)), _) => Some(Verdict {
                kind: UNHEALTHY.into(),
                detail: format!(
                    "a well-behaved client failed after this case: {e}{}",
                    if *recovered {
                        " (it succeeded again a second later)"
                    } else {
                        ""
                    }
                ),
            }),
            (None, v) => v,
        };
        if let Some(verdict) = verdict {
            let key = format!(
                "{} {} {} {}",
                version_name(v),
                conv.class.name(),
                verdict.kind,
                out.expect.statements().join(",")
            );
            if let Some(&i) = seen.get(&key) {
                s.findings[i].repeats += 1;
            } else {
                let (conv, out, verdict) = if opts.shrink && verdict.kind != UNHEALTHY {
                    shrink(&opts.address, conv, out, verdict, &opts.timing).await
                } else {
                    (conv, out, verdict)
                };
                let script = to_script(opts, case, &conv, &out, &verdict);
                let path = opts.out.as_ref().map(|dir| {
                    dir.join(format!(
                        "v{}-{}-{}-s{}-c{case}.toml",
                        version_name(v).replace('.', ""),
                        conv.class.name(),
                        verdict.kind,
                        opts.seed
                    ))
                });
                let mut saved = None;
                if let Some(p) = path {
                    // The directory is made with the first finding.
                    if let Some(dir) = p.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    match script.to_toml().map(|t| std::fs::write(&p, t)) {
                        Ok(Ok(())) => saved = Some(p),
                        Ok(Err(e)) => eprintln!("mqttkit fuzz: cannot write {}: {e}", p.display()),
                        Err(e) => eprintln!("mqttkit fuzz: cannot encode a script: {e}"),
                    }
                }
                if opts.progress {
                    eprintln!(
                        "finding #{}: {} {} {}: {}",
                        s.findings.len() + 1,
                        version_name(v),
                        conv.class.name(),
                        verdict.kind,
                        verdict.detail
                    );
                }
                seen.insert(key, s.findings.len());
                s.findings.push(Finding {
                    script,
                    path: saved,
                    repeats: 0,
                });
            }
        }
        if let Some((e, false)) = unhealthy {
            s.stopped = Some(format!("the broker no longer serves clients: {e}"));
            break;
        }
        if opts.progress && last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            eprintln!(
                "[{:>5.0}s] {} cases, {} findings, {} setup failures",
                started.elapsed().as_secs_f64(),
                s.cases,
                s.findings.len(),
                s.setup_failures
            );
        }
    }
    s.elapsed = started.elapsed();
    s
}

fn to_script(
    opts: &Options,
    case: u64,
    conv: &Conversation,
    out: &Outcome,
    verdict: &Verdict,
) -> Script {
    Script {
        format: FORMAT,
        protocol: version_name(conv.version).into(),
        class: conv.class.name().into(),
        finding: verdict.kind.clone(),
        statements: out.expect.statements(),
        expected: out.expect.to_string(),
        observed: match &out.reaction {
            Ok(r) => r.to_string(),
            Err(e) => format!("setup failed: {e}"),
        },
        detail: verdict.detail.clone(),
        broker: opts.broker.clone(),
        seed: opts.seed,
        case,
        steps: Script::steps_of(conv),
    }
}

/// Splits `bytes` into whole packets by their Remaining Length (`None`
/// when a length is unreadable or runs past the end).
fn packets(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (len, hdr) = remaining_length(rest)?;
        let end = hdr.checked_add(len)?;
        if end > rest.len() {
            return None;
        }
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    Some(out)
}

/// Remaining Length and fixed-header size of the packet at `b`.
fn remaining_length(b: &[u8]) -> Option<(usize, usize)> {
    let mut len = 0usize;
    for i in 1..5 {
        let x = *b.get(i)?;
        len |= usize::from(x & 0x7F) << (7 * (i - 1));
        if x & 0x80 == 0 {
            return Some((len, i + 1));
        }
    }
    None
}

/// Makes a finding smaller while it still shows the same kind: drops
/// optional steps, halves a burst of packets, cuts bytes off the end of a
/// single target packet (keeping the statement it breaks). Bounded to a
/// few dozen runs.
pub async fn shrink(
    address: &str,
    mut conv: Conversation,
    mut out: Outcome,
    verdict: Verdict,
    timing: &Timing,
) -> (Conversation, Outcome, Verdict) {
    let mut budget = 24u32;
    let statements = out.expect.statements();
    let attempt = |cand: Conversation| {
        let kind = verdict.kind.clone();
        let statements = statements.clone();
        async move {
            if expect(&cand).statements() != statements {
                return None;
            }
            let o = run_case(address, &cand, timing).await;
            match &o.verdict {
                Some(v) if v.kind == kind => Some((cand, o)),
                _ => None,
            }
        }
    };
    // Optional steps.
    let mut i = conv.steps.len();
    while i > 0 && budget > 0 {
        i -= 1;
        if conv.steps[i].role != Role::Optional {
            continue;
        }
        let mut cand = conv.clone();
        cand.steps.remove(i);
        budget -= 1;
        if let Some((c, o)) = attempt(cand).await {
            conv = c;
            out = o;
        }
    }
    // A burst: keep the first half while that still shows it.
    while let Some(parts) = packets(conv.target()) {
        if parts.len() < 2 || budget == 0 {
            break;
        }
        let half: Vec<u8> = parts[..parts.len() / 2].concat();
        let mut cand = conv.clone();
        if let Some(last) = cand.steps.last_mut() {
            last.send = half;
            last.note = format!("{} (first {} packets kept)", last.note, parts.len() / 2);
        }
        budget -= 1;
        match attempt(cand).await {
            Some((c, o)) => {
                conv = c;
                out = o;
            }
            None => break,
        }
    }
    // One packet: shorter bodies.
    if let Some(parts) = packets(conv.target()) {
        if parts.len() == 1 {
            let p = parts[0].to_vec();
            if let Some((len, hdr)) = remaining_length(&p) {
                let mut cut = len / 2;
                let mut body = p[hdr..].to_vec();
                while cut > 0 && budget > 0 {
                    budget -= 1;
                    let shorter = body[..body.len() - cut].to_vec();
                    let mut cand = conv.clone();
                    if let Some(last) = cand.steps.last_mut() {
                        last.send = frame(p[0], &shorter);
                    }
                    match attempt(cand).await {
                        Some((c, o)) => {
                            conv = c;
                            out = o;
                            body = shorter;
                            cut = cut.min(body.len() / 2);
                        }
                        None => cut /= 2,
                    }
                }
            }
        }
    }
    let verdict = out.verdict.clone().unwrap_or(verdict);
    (conv, out, verdict)
}

/// The result of replaying a script.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The recorded finding showed again.
    pub reproduced: bool,
    /// What the broker did this time.
    pub observed: String,
    /// The disagreement seen this time, if any.
    pub verdict: Option<Verdict>,
}

/// Replays `script` against `address`.
pub async fn replay(address: &str, script: &Script, timing: &Timing) -> Result<Replay, String> {
    let conv = script.conversation()?;
    let out = run_case(address, &conv, timing).await;
    let observed = match &out.reaction {
        Ok(r) => r.to_string(),
        Err(e) => format!("setup failed: {e}"),
    };
    let mut verdict = out.verdict;
    if script.finding == UNHEALTHY || verdict.is_none() {
        let topic = format!("lf/probe/replay/{}", script.case);
        if let Err(e) = probe(address, conv.version, "lfprobe-replay", &topic, timing).await {
            verdict = Some(Verdict {
                kind: UNHEALTHY.into(),
                detail: format!("a well-behaved client failed after the script: {e}"),
            });
        }
    }
    Ok(Replay {
        reproduced: verdict.as_ref().is_some_and(|v| v.kind == script.finding),
        observed,
        verdict,
    })
}

/// `host:port` of an `mqtt://` (or `tcp://`) URL; a host that is not a
/// loopback address is refused unless `allow_remote`.
pub fn check_target(url: &str, allow_remote: bool) -> Result<String, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL; expected mqtt://HOST:PORT"))?;
    if scheme != "mqtt" && scheme != "tcp" {
        return Err(format!(
            "{scheme}:// is not supported by the fuzzer; use mqtt://HOST:PORT"
        ));
    }
    let host_port = rest.split('/').next().unwrap_or("");
    let (host, port) = if let Some(r) = host_port.strip_prefix('[') {
        let (h, p) = r
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed '['"))?;
        (h.to_string(), p.strip_prefix(':').unwrap_or(""))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (host_port.to_string(), ""),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    let port: u16 = if port.is_empty() {
        1883
    } else {
        port.parse()
            .map_err(|_| format!("{url:?}: bad port {port:?}"))?
    };
    let loopback = host == "localhost"
        || host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if !loopback && !allow_remote {
        return Err(format!(
            "{host} is not a loopback address; fuzzing sends malformed traffic, so a remote \
             broker needs --allow-remote"
        ));
    }
    Ok(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_targets_are_refused_unless_allowed() {
        assert_eq!(
            check_target("mqtt://127.0.0.1:1884", false).unwrap(),
            "127.0.0.1:1884"
        );
        assert_eq!(
            check_target("mqtt://localhost", false).unwrap(),
            "localhost:1883"
        );
        assert_eq!(check_target("mqtt://[::1]:9", false).unwrap(), "[::1]:9");
        assert_eq!(
            check_target("tcp://127.1.2.3:9", false).unwrap(),
            "127.1.2.3:9"
        );
        for remote in [
            "mqtt://10.0.0.1:1883",
            "mqtt://broker.example:1883",
            "mqtt://[2001:db8::1]:1883",
            "mqtt://0.0.0.0:1",
        ] {
            let e = check_target(remote, false).unwrap_err();
            assert!(e.contains("--allow-remote"), "{e}");
            assert!(check_target(remote, true).is_ok());
        }
        assert!(check_target("ws://127.0.0.1/mqtt", false).is_err());
        assert!(check_target("127.0.0.1:1883", false).is_err());
        assert!(check_target("mqtt://127.0.0.1:x", false).is_err());
        assert!(check_target("mqtt://", false).is_err());
    }

    #[test]
    fn packets_split_and_lengths_read() {
        let b = [0xC0, 0x00, 0x30, 0x03, 0x00, 0x01, b't'];
        let p = packets(&b).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1], &b[2..]);
        assert!(packets(&[0x30, 0x05, 0x00]).is_none());
        assert!(packets(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]).is_none());
        assert_eq!(remaining_length(&[0x30, 0x80, 0x01]), Some((128, 3)));
    }

    #[test]
    fn cases_are_deterministic_per_seed() {
        let mut o = Options::new("127.0.0.1:1");
        o.seed = 9;
        let a: Vec<_> = (0..50).map(|c| case_conversation(&o, c)).collect();
        let b: Vec<_> = (0..50).map(|c| case_conversation(&o, c)).collect();
        assert_eq!(a, b);
        o.seed = 10;
        let c: Vec<_> = (0..50).map(|c| case_conversation(&o, c)).collect();
        assert_ne!(a, c);
        assert!(a.iter().any(|c| c.version.is_v5()) && a.iter().any(|c| !c.version.is_v5()));
        o.classes = vec![Class::PublishQos3];
        assert!((0..10).all(|c| case_conversation(&o, c).class == Class::PublishQos3));
    }
}
