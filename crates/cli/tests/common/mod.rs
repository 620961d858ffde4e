//! What the CLI tests share: running the built `mqttkit` and keeping its
//! exit status and output.

use std::process::Command;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `mqttkit SUBCOMMAND ARGS` as set up in `cmd` (from [`mqttkit`]), run to
/// the end; its output must be UTF-8.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("run mqttkit");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 on stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 on stderr"),
    }
}

/// The built binary with its subcommand and arguments.
pub fn mqttkit(subcommand: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mqttkit"));
    c.arg(subcommand).args(args);
    c
}
