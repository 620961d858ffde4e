//! `mqttkit fuzz`: fuzz a live broker, or replay a finding.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mqttkit_codec::ProtocolVersion;
use mqttkit_livefuzz::{check_target, Class, Options, Script, Timing};

/// Exit status: no finding (fuzzing) / no longer reproduces (replay).
const OK: u8 = 0;
/// Exit status: findings (fuzzing) / still reproduces (replay).
const FOUND: u8 = 1;
/// Exit status: usage or connection error.
const USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(after_long_help = "\
Exit status:
  0  no finding (with --replay: the finding no longer reproduces)
  1  findings (with --replay: it still reproduces)
  2  usage error, or the broker cannot be reached

Examples:
  mqttkit fuzz                                   the embedded reference broker, 60 s
  mqttkit fuzz mqtt://127.0.0.1:1883 --duration 600 --seed 7 --out findings/
  mqttkit fuzz mqtt://127.0.0.1:1883 --class publish-qos3 --max-cases 20
  mqttkit fuzz mqtt://127.0.0.1:1883 --replay findings/v5-publish-qos3-not-closed-s7-c12.toml")]
pub struct Args {
    /// The broker: mqtt://HOST[:PORT] (port 1883 by default). Without a URL
    /// mqttkit starts its own reference broker on a loopback port.
    url: Option<String>,

    /// Stop after this many seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    duration: u64,

    /// Seed of the case generator: the same seed gives the same cases.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,

    /// Versions to fuzz.
    #[arg(long, value_enum, default_value = "all")]
    protocol: crate::common::Protocols,

    /// Stop after this many cases.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_cases: u64,

    /// Directory for the finding scripts.
    #[arg(long, value_name = "DIR", default_value = "livefuzz-findings")]
    out: PathBuf,

    /// Replay a finding script instead of fuzzing.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,

    /// Allow a broker that is not on a loopback address.
    #[arg(long)]
    allow_remote: bool,

    /// Only these mutation classes (repeatable; `--class list` lists them).
    #[arg(long = "class", value_name = "NAME")]
    classes: Vec<String>,

    /// How long the broker has to close after a bad input, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    close_wait_ms: u64,

    /// Save findings as found, without shrinking them.
    #[arg(long)]
    no_shrink: bool,
}

/// Runs `mqttkit fuzz`.
pub fn run(args: Args) -> ExitCode {
    if args.classes.iter().any(|c| c == "list") {
        for c in Class::ALL {
            let only5 = if c.applies_to(ProtocolVersion::V3_1_1) {
                ""
            } else {
                " (5.0 only)"
            };
            println!("{}{only5}", c.name());
        }
        return ExitCode::from(OK);
    }
    let mut classes = Vec::new();
    for name in &args.classes {
        match Class::from_name(name) {
            Some(c) => classes.push(c),
            None => {
                eprintln!("mqttkit fuzz: unknown class {name:?} (--class list lists them)");
                return ExitCode::from(USAGE);
            }
        }
    }
    let rt = match crate::common::runtime("fuzz") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let mut embedded = None;
    let (broker, address) = match &args.url {
        Some(url) => match check_target(url, args.allow_remote) {
            Ok(a) => (url.clone(), a),
            Err(e) => {
                eprintln!("mqttkit fuzz: {e}");
                return ExitCode::from(USAGE);
            }
        },
        None => match crate::common::start_embedded(&rt, "fuzz") {
            Ok(b) => {
                let addr = b.tcp_addr();
                embedded = Some(b);
                ("embedded mqttkit broker".to_string(), addr.to_string())
            }
            Err(code) => return code,
        },
    };
    let timing = Timing {
        close_wait: Duration::from_millis(args.close_wait_ms.max(1)),
        ..Timing::default()
    };
    let code = if let Some(path) = &args.replay {
        replay(&rt, &address, path, &timing)
    } else {
        let mut opts = Options::new(address);
        opts.broker = broker;
        opts.versions = args.protocol.versions();
        opts.seed = args.seed;
        opts.duration = Duration::from_secs(args.duration);
        opts.max_cases = args.max_cases;
        opts.classes = classes;
        opts.out = Some(args.out.clone());
        opts.timing = timing;
        opts.shrink = !args.no_shrink;
        opts.progress = true;
        fuzz(&rt, &opts)
    };
    if let Some(b) = embedded {
        rt.block_on(b.shutdown());
    }
    ExitCode::from(code)
}

fn replay(
    rt: &tokio::runtime::Runtime,
    address: &str,
    path: &std::path::Path,
    timing: &Timing,
) -> u8 {
    let script = match Script::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mqttkit fuzz: {e}");
            return USAGE;
        }
    };
    match rt.block_on(mqttkit_livefuzz::replay(address, &script, timing)) {
        Ok(r) => {
            println!("script:    {}", path.display());
            println!("finding:   {} ({})", script.finding, script.detail);
            println!("expected:  {}", script.expected);
            println!("recorded:  {}", script.observed);
            println!("observed:  {}", r.observed);
            match (&r.verdict, r.reproduced) {
                (_, true) => {
                    println!("result:    reproduces");
                    FOUND
                }
                (Some(v), false) => {
                    println!(
                        "result:    does not reproduce (another finding: {}: {})",
                        v.kind, v.detail
                    );
                    OK
                }
                (None, false) => {
                    println!("result:    does not reproduce");
                    OK
                }
            }
        }
        Err(e) => {
            eprintln!("mqttkit fuzz: {}: {e}", path.display());
            USAGE
        }
    }
}

fn fuzz(rt: &tokio::runtime::Runtime, opts: &Options) -> u8 {
    // Fail early, with status 2, when nothing listens there.
    let reachable = rt.block_on(async {
        tokio::time::timeout(
            opts.timing.step,
            tokio::net::TcpStream::connect(opts.address.as_str()),
        )
        .await
    });
    if !matches!(reachable, Ok(Ok(_))) {
        eprintln!("mqttkit fuzz: cannot connect to {}", opts.address);
        return USAGE;
    }
    let s = rt.block_on(mqttkit_livefuzz::fuzz(opts));
    println!("broker:    {}", opts.broker);
    println!("seed:      {}", opts.seed);
    println!(
        "cases:     {} in {:.1} s ({:.1}/s); setup refused or unanswered: {}",
        s.cases,
        s.elapsed.as_secs_f64(),
        s.cases as f64 / s.elapsed.as_secs_f64().max(1e-9),
        s.setup_failures
    );
    let per_version: Vec<String> = s
        .per_version
        .iter()
        .map(|(v, n)| format!("{v}: {n}"))
        .collect();
    println!("versions:  {}", per_version.join(", "));
    let per_class: Vec<String> = s
        .per_class
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    println!("classes:   {}", per_class.join(", "));
    if let Some(why) = &s.stopped {
        println!("stopped:   {why}");
    }
    println!("findings:  {}", s.findings.len());
    for f in &s.findings {
        println!(
            "  - {} {} {}: {} [{}] (seen {} more time(s))",
            f.script.protocol,
            f.script.class,
            f.script.finding,
            f.script.detail,
            f.script.statements.join(" "),
            f.repeats
        );
        if let Some(p) = &f.path {
            println!("    {}", p.display());
        }
    }
    if s.findings.is_empty() && s.stopped.is_none() {
        OK
    } else {
        FOUND
    }
}
