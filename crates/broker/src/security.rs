//! Who may connect and what they may do: anonymous access, a password file
//! of salted Argon2 hashes and an ACL file, behind the model's
//! [`Authorizer`] hook.
//!
//! # Password file
//!
//! One user per line, `NAME:HASH`, where HASH is a PHC string made by
//! Argon2 (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`); blank lines and
//! lines starting with `#` are ignored. `mqttkit broker passwd FILE USER`
//! writes it.
//!
//! # ACL file
//!
//! ```text
//! # Before any `user` or `client` line: rules for clients without a user name.
//! topic read public/#
//!
//! user alice                  # rules for user alice
//! topic readwrite alice/#
//! topic deny alice/secret     # deny wins over any allow
//!
//! client sensor-7             # rules for the client id sensor-7
//! topic write sensors/7/#
//!
//! # Everyone, with %u = user name and %c = client id substituted:
//! pattern readwrite devices/%c/#
//! pattern read users/%u/#
//! ```
//!
//! Access is `read`, `write`, `readwrite` (the default when left out) or
//! `deny`; a filter containing spaces needs its access written out. A client may publish to a topic some applicable `write` rule
//! matches; it may subscribe to a filter some `read` rule covers entirely
//! (`a/#` covers `a/b/+`, `+` covers no `$` topic); and each message is
//! checked again before it is sent to a subscriber, so a `deny` rule inside
//! a wide subscription is enforced per message. With an ACL file nothing is
//! allowed unless a rule allows it. A `%u`/`%c` rule does not apply when
//! the name is missing or empty or contains `/`, `+` or `#` (a client id
//! such as `a/b` must not reach into client `a`'s space).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, Params, PasswordVerifier};
use mqttkit_model::topic::{matches, validate_filter, FilterKind};
use mqttkit_model::{Authorizer, Credentials, Refusal};

/// Largest password or ACL file read (a guard against reading a wrong
/// file such as a device; real files are far smaller).
const MAX_FILE: u64 = 16 << 20;
/// Largest Argon2 memory cost accepted from a password file (KiB): a
/// hash line must not make the broker allocate gigabytes per CONNECT.
const MAX_M_COST: u32 = 256 * 1024;
/// Largest Argon2 time cost and parallelism accepted from a password file.
const MAX_T_COST: u32 = 16;
const MAX_P_COST: u32 = 16;

/// A password or ACL file that cannot be used.
#[derive(Debug)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line, when the problem is on one line.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path.display(), l, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for FileError {}

impl From<FileError> for io::Error {
    fn from(e: FileError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e.to_string())
    }
}

fn read_text(path: &Path) -> Result<String, FileError> {
    let err = |message: String| FileError {
        path: path.to_owned(),
        line: None,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE {
        return Err(err(format!(
            "{} bytes is larger than the {MAX_FILE}-byte limit",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| err(format!("not UTF-8 text: {e}")))
}

// ---- passwords --------------------------------------------------------------

/// Hashes a password with Argon2id (default parameters) and a fresh random
/// salt; returns the PHC string.
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    hash_password_with(password, Params::default())
}

/// [`hash_password`] with explicit Argon2 parameters (tests use cheap ones).
pub fn hash_password_with(password: &[u8], params: Params) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Checks that `hash` is an Argon2 PHC string with parameters the broker
/// is willing to compute.
fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("not a PHC hash string: {e}"))?;
    let alg = parsed.algorithm.as_str();
    if !matches!(alg, "argon2id" | "argon2i" | "argon2d") {
        return Err(format!("hash algorithm `{alg}` is not Argon2"));
    }
    let params = Params::try_from(&parsed).map_err(|e| format!("bad Argon2 parameters: {e}"))?;
    if params.m_cost() > MAX_M_COST || params.t_cost() > MAX_T_COST || params.p_cost() > MAX_P_COST
    {
        return Err(format!(
            "Argon2 parameters m={},t={},p={} exceed the limits m={MAX_M_COST},t={MAX_T_COST},p={MAX_P_COST}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ));
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("the hash string has no salt or no hash".into());
    }
    Ok(())
}

fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() {
        Err("empty user name".into())
    } else if user.contains(':') || user.contains(char::is_control) {
        Err(format!(
            "user name {user:?} contains `:` or a control character"
        ))
    } else if user.len() > 65_535 {
        Err("user name longer than 65535 bytes".into())
    } else {
        Ok(())
    }
}

/// Users and their password hashes.
#[derive(Debug, Clone, Default)]
pub struct PasswordFile {
    /// (user, PHC string), in file order.
    entries: Vec<(String, String)>,
}

impl PasswordFile {
    /// Reads and checks a password file.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        Self::parse(&read_text(path)?, path)
    }

    /// Parses the text of a password file (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, FileError> {
        let mut entries: Vec<(String, String)> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let err = |message: String| FileError {
                path: path.to_owned(),
                line: Some(i + 1),
                message,
            };
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(err("expected `user:hash`".into()));
            };
            check_user(user).map_err(err)?;
            check_hash(hash).map_err(|m| err(format!("user {user}: {m}")))?;
            if let Some(first) = seen.insert(user.to_owned(), i + 1) {
                return Err(err(format!("user {user} already defined on line {first}")));
            }
            entries.push((user.to_owned(), hash.to_owned()));
        }
        Ok(PasswordFile { entries })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no user is defined.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when `user` is defined.
    pub fn contains(&self, user: &str) -> bool {
        self.entries.iter().any(|(u, _)| u == user)
    }

    /// Does `password` match the hash stored for `user`?
    pub fn verify(&self, user: &str, password: &[u8]) -> bool {
        let Some((_, hash)) = self.entries.iter().find(|(u, _)| u == user) else {
            return false;
        };
        match PasswordHash::new(hash) {
            Ok(parsed) => Argon2::default().verify_password(password, &parsed).is_ok(),
            Err(_) => false,
        }
    }

    /// Adds `user` or replaces its hash.
    pub fn set(&mut self, user: &str, hash: String) -> Result<(), String> {
        check_user(user)?;
        check_hash(&hash)?;
        match self.entries.iter_mut().find(|(u, _)| u == user) {
            Some(e) => e.1 = hash,
            None => self.entries.push((user.to_owned(), hash)),
        }
        Ok(())
    }

    /// Removes `user`; false when it was not there.
    pub fn remove(&mut self, user: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(u, _)| u != user);
        self.entries.len() != before
    }

    /// The file's text (comments of the file read are not kept).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (u, h) in &self.entries {
            s.push_str(u);
            s.push(':');
            s.push_str(h);
            s.push('\n');
        }
        s
    }

    /// Writes the file through a temporary file and a rename, readable
    /// by its owner only (on Unix).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(self.to_text().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }
}

// ---- ACL ----------------------------------------------------------------------

/// What a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Subscribe and receive.
    Read,
    /// Publish.
    Write,
    /// Both.
    ReadWrite,
    /// Neither, whatever other rules say.
    Deny,
}

impl Access {
    fn reads(self) -> bool {
        matches!(self, Access::Read | Access::ReadWrite)
    }
    fn writes(self) -> bool {
        matches!(self, Access::Write | Access::ReadWrite)
    }
}

#[derive(Debug, Clone)]
struct Rule {
    access: Access,
    filter: String,
}

/// Parsed ACL rules.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    anonymous: Vec<Rule>,
    users: HashMap<String, Vec<Rule>>,
    clients: HashMap<String, Vec<Rule>>,
    patterns: Vec<Rule>,
}

enum Block {
    Anonymous,
    User(String),
    Client(String),
}

impl Acl {
    /// Reads and checks an ACL file.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        Self::parse(&read_text(path)?, path)
    }

    /// Parses the text of an ACL file (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, FileError> {
        let mut acl = Acl::default();
        let mut block = Block::Anonymous;
        for (i, raw) in text.lines().enumerate() {
            let err = |message: String| FileError {
                path: path.to_owned(),
                line: Some(i + 1),
                message,
            };
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = line
                .split_once(char::is_whitespace)
                .map(|(k, r)| (k, r.trim()))
                .unwrap_or((line, ""));
            match keyword {
                "user" | "client" => {
                    if rest.is_empty() {
                        return Err(err(format!("`{keyword}` needs a name")));
                    }
                    block = if keyword == "user" {
                        Block::User(rest.to_owned())
                    } else {
                        Block::Client(rest.to_owned())
                    };
                }
                "topic" | "pattern" => {
                    let (access, filter) = match rest.split_once(char::is_whitespace) {
                        Some((a, f)) => match parse_access(a) {
                            Some(access) => (access, f.trim()),
                            None => {
                                return Err(err(format!(
                                "unknown access `{a}` (expected read, write, readwrite or deny; \
                                     a filter with spaces needs its access written out)"
                            )))
                            }
                        },
                        None if parse_access(rest).is_some() => {
                            return Err(err(format!("`{keyword} {rest}` needs a topic filter")))
                        }
                        None => (Access::ReadWrite, rest),
                    };
                    if filter.is_empty() {
                        return Err(err(format!("`{keyword}` needs a topic filter")));
                    }
                    check_rule_filter(filter).map_err(err)?;
                    let rule = Rule {
                        access,
                        filter: filter.to_owned(),
                    };
                    if keyword == "pattern" {
                        acl.patterns.push(rule);
                    } else {
                        if filter.contains("%u") || filter.contains("%c") {
                            return Err(err(
                                "`%u` and `%c` are substituted in `pattern` lines only".into(),
                            ));
                        }
                        match &block {
                            Block::Anonymous => acl.anonymous.push(rule),
                            Block::User(u) => acl.users.entry(u.clone()).or_default().push(rule),
                            Block::Client(c) => {
                                acl.clients.entry(c.clone()).or_default().push(rule)
                            }
                        }
                    }
                }
                other => {
                    return Err(err(format!(
                        "unknown keyword `{other}` (expected user, client, topic or pattern)"
                    )))
                }
            }
        }
        Ok(acl)
    }

    /// True when `test` holds for some rule that applies to this client
    /// (`%u`/`%c` substituted; only pattern rules with a placeholder
    /// allocate).
    fn any_rule(
        &self,
        client_id: &str,
        username: Option<&str>,
        mut test: impl FnMut(Access, &str) -> bool,
    ) -> bool {
        let fixed = match username {
            None => Some(&self.anonymous),
            Some(u) => self.users.get(u),
        };
        fixed
            .into_iter()
            .flatten()
            .chain(self.clients.get(client_id).into_iter().flatten())
            .any(|r| test(r.access, &r.filter))
            || self.patterns.iter().any(|r| {
                if r.filter.contains('%') {
                    substitute(&r.filter, client_id, username).is_some_and(|f| test(r.access, &f))
                } else {
                    test(r.access, &r.filter)
                }
            })
    }

    /// Allowed by some rule granting `want`, and no deny rule hits.
    fn decide(
        &self,
        client_id: &str,
        username: Option<&str>,
        want: fn(Access) -> bool,
        hits: impl Fn(&str) -> bool,
    ) -> bool {
        !self.any_rule(client_id, username, |a, f| a == Access::Deny && hits(f))
            && self.any_rule(client_id, username, |a, f| want(a) && hits(f))
    }

    /// May this client publish to `topic`?
    pub fn can_write(&self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        self.decide(client_id, username, Access::writes, |f| matches(f, topic))
    }

    /// May this client receive a message on `topic`?
    pub fn can_read(&self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        self.decide(client_id, username, Access::reads, |f| matches(f, topic))
    }

    /// May this client subscribe to `filter` (a `$share/`/`$queue/`
    /// prefix is looked through)? Some read rule must cover every topic
    /// the filter can match, and no deny rule may cover it.
    pub fn can_subscribe(&self, client_id: &str, username: Option<&str>, filter: &str) -> bool {
        let filter = FilterKind::parse(filter).filter();
        self.decide(client_id, username, Access::reads, |f| covers(f, filter))
    }
}

fn parse_access(s: &str) -> Option<Access> {
    Some(match s {
        "read" => Access::Read,
        "write" => Access::Write,
        "readwrite" => Access::ReadWrite,
        "deny" => Access::Deny,
        _ => return None,
    })
}

fn check_rule_filter(filter: &str) -> Result<(), String> {
    if matches!(FilterKind::parse(filter), FilterKind::Shared { .. }) {
        return Err(format!(
            "`{filter}`: write the filter without `$share/` or `$queue/`"
        ));
    }
    // %u and %c stand for one topic level: check with a placeholder.
    let probe = filter.replace("%u", "u").replace("%c", "c");
    match validate_filter(&probe, mqttkit_codec::ProtocolVersion::V5).rule() {
        None => Ok(()),
        Some(r) => Err(format!(
            "`{filter}` is not a valid topic filter: {}",
            r.message
        )),
    }
}

/// Substitutes `%u` and `%c`; None when the rule cannot apply.
fn substitute(filter: &str, client_id: &str, username: Option<&str>) -> Option<String> {
    let unsafe_name = |s: &str| s.is_empty() || s.contains(['/', '+', '#']);
    let mut f = filter.to_owned();
    if f.contains("%u") {
        let u = username.filter(|u| !unsafe_name(u))?;
        f = f.replace("%u", u);
    }
    if f.contains("%c") {
        if unsafe_name(client_id) {
            return None;
        }
        f = f.replace("%c", client_id);
    }
    Some(f)
}

/// Does every topic `filter` matches also match `rule`?
pub fn covers(rule: &str, filter: &str) -> bool {
    if filter.starts_with('$') && (rule.starts_with('+') || rule.starts_with('#')) {
        return false;
    }
    let mut r = rule.split('/');
    let mut f = filter.split('/');
    loop {
        match (r.next(), f.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(l)) if l != "#" => {}
            (Some(a), Some(b)) if a == b && b != "#" && b != "+" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

// ---- the authorizer -----------------------------------------------------------

/// Where the security settings come from.
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    /// Clients without a user name may connect. `None`: yes when every
    /// listener is on a loopback address, no otherwise.
    pub allow_anonymous: Option<bool>,
    /// Password file (see the module documentation).
    pub password_file: Option<PathBuf>,
    /// ACL file (see the module documentation).
    pub acl_file: Option<PathBuf>,
}

/// The reference broker's [`Authorizer`]: anonymous access, passwords, ACL.
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// Clients without a user name may connect.
    pub allow_anonymous: bool,
    /// Users; when None, a user name is taken as given (no password check)
    /// if anonymous access is on, and refused otherwise.
    pub passwords: Option<PasswordFile>,
    /// Rules; when None, every connected client may do everything.
    pub acl: Option<Acl>,
}

impl Security {
    /// Loads the files of `config`; `loopback_only` says whether every
    /// listener is on a loopback address (the default for anonymous access).
    pub fn load(config: &SecurityConfig, loopback_only: bool) -> Result<Self, FileError> {
        Ok(Security {
            allow_anonymous: config.allow_anonymous.unwrap_or(loopback_only),
            passwords: config
                .password_file
                .as_deref()
                .map(PasswordFile::load)
                .transpose()?,
            acl: config.acl_file.as_deref().map(Acl::load).transpose()?,
        })
    }
}

impl Authorizer for Security {
    fn connect(&mut self, who: &Credentials<'_>) -> Result<(), Refusal> {
        match (who.username, &self.passwords) {
            (None, _) if self.allow_anonymous => Ok(()),
            // No user name and anonymous access off (3.1.1 return code 5,
            // 5.0 0x87).
            (None, _) => Err(Refusal::NotAuthorized),
            (Some(u), Some(p)) => match who.password {
                Some(pw) if p.verify(u, pw) => Ok(()),
                // Unknown user, wrong or missing password (4 / 0x86).
                _ => Err(Refusal::BadCredentials),
            },
            (Some(_), None) if self.allow_anonymous => Ok(()),
            (Some(_), None) => Err(Refusal::NotAuthorized),
        }
    }

    fn publish(&mut self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        match &self.acl {
            Some(acl) => acl.can_write(client_id, username, topic),
            None => true,
        }
    }

    fn subscribe(&mut self, client_id: &str, username: Option<&str>, filter: &str) -> bool {
        match &self.acl {
            Some(acl) => acl.can_subscribe(client_id, username, filter),
            None => true,
        }
    }

    fn deliver(&mut self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        match &self.acl {
            Some(acl) => acl.can_read(client_id, username, topic),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(text: &str) -> Acl {
        Acl::parse(text, Path::new("acl")).unwrap()
    }

    #[test]
    fn coverage_of_filters() {
        assert!(covers("a/#", "a"));
        assert!(covers("a/#", "a/b/+"));
        assert!(covers("a/+", "a/+"));
        assert!(covers("a/+", "a/b"));
        assert!(!covers("a/+", "a/#"));
        assert!(!covers("a/b", "a/+"));
        assert!(!covers("a/+", "a/b/c"));
        assert!(!covers("#", "$SYS/#"));
        assert!(covers("$SYS/#", "$SYS/broker/+"));
        assert!(covers("#", "#"));
        assert!(!covers("a/+/c", "a/#"));
    }

    #[test]
    fn rules_by_user_client_and_pattern() {
        let a = acl("topic read pub/#\n\
                     user alice\n topic readwrite alice/#\n topic deny alice/secret\n\
                     client dev1\n topic write dev1/up\n\
                     pattern readwrite c/%c/#\npattern read u/%u\n");
        // Anonymous block.
        assert!(a.can_subscribe("x", None, "pub/+"));
        assert!(!a.can_write("x", None, "pub/a"));
        assert!(!a.can_subscribe("x", Some("alice"), "pub/+"));
        // User block and deny.
        assert!(a.can_write("x", Some("alice"), "alice/a"));
        assert!(!a.can_write("x", Some("alice"), "alice/secret"));
        assert!(a.can_subscribe("x", Some("alice"), "alice/#"));
        assert!(!a.can_read("x", Some("alice"), "alice/secret"));
        assert!(a.can_read("x", Some("alice"), "alice/other"));
        // Client block.
        assert!(a.can_write("dev1", None, "dev1/up"));
        assert!(!a.can_write("dev2", None, "dev1/up"));
        // Patterns.
        assert!(a.can_write("k", None, "c/k/x"));
        assert!(!a.can_write("k", None, "c/j/x"));
        assert!(a.can_subscribe("k", Some("bob"), "u/bob"));
        assert!(!a.can_subscribe("k", None, "u/bob"));
        assert!(!a.can_write("a/b", None, "c/a/b/x"), "client id with /");
        assert!(!a.can_write("#", None, "c/x"), "client id #");
        // Shared subscriptions are checked on their filter.
        assert!(a.can_subscribe("k", None, "$share/g/c/k/#"));
    }

    #[test]
    fn acl_errors_name_the_line() {
        for (text, line, what) in [
            ("user\n", 1, "needs a name"),
            ("\n\ntopic read\n", 3, "needs a topic filter"),
            ("topic read a/#/b\n", 1, "not a valid topic filter"),
            ("topik read a\n", 1, "unknown keyword"),
            (
                "user a\ntopic sometimes x\n",
                2,
                "unknown access `sometimes`",
            ),
            ("user a\ntopic read x/%u\n", 2, "pattern"),
            ("topic read $share/g/a\n", 1, "$share"),
        ] {
            let e = Acl::parse(text, Path::new("f.acl")).unwrap_err();
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
            let s = e.to_string();
            assert!(s.starts_with(&format!("f.acl:{line}: ")), "{s}");
            assert!(s.contains(what), "{text:?}: {s}");
        }
    }

    fn cheap(pw: &str) -> String {
        hash_password_with(pw.as_bytes(), Params::new(8, 1, 1, None).unwrap()).unwrap()
    }

    #[test]
    fn password_file_round_trip_and_verify() {
        let mut f = PasswordFile::default();
        f.set("alice", cheap("secret")).unwrap();
        f.set("bob", cheap("hunter2")).unwrap();
        f.set("alice", cheap("changed")).unwrap();
        let text = f.to_text();
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains("$argon2id$"));
        let g = PasswordFile::parse(&text, Path::new("p")).unwrap();
        assert!(g.verify("alice", b"changed"));
        assert!(!g.verify("alice", b"secret"));
        assert!(g.verify("bob", b"hunter2"));
        assert!(!g.verify("carol", b"hunter2"));
        let mut g = g;
        assert!(g.remove("bob"));
        assert!(!g.remove("bob"));
        assert!(!g.contains("bob"));
    }

    #[test]
    fn password_file_errors_name_the_line() {
        let good = cheap("x");
        let huge = good.replace("m=8,", "m=4000000,");
        for (text, line, what) in [
            ("# c\nalice\n".to_string(), 2, "user:hash"),
            (":abc\n".to_string(), 1, "empty user"),
            ("alice:plaintext\n".to_string(), 1, "PHC"),
            (format!("a:{good}\na:{good}\n"), 2, "already defined"),
            (format!("a:{huge}\n"), 1, "exceed"),
            (
                "a:$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n".to_string(),
                1,
                "not Argon2",
            ),
        ] {
            let e = PasswordFile::parse(&text, Path::new("pw")).unwrap_err();
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
            assert!(e.to_string().contains(what), "{text:?}: {e}");
        }
        let e = PasswordFile::load(Path::new("/nonexistent/pw")).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }

    #[test]
    fn connect_decisions() {
        let mut pw = PasswordFile::default();
        pw.set("alice", cheap("s3")).unwrap();
        let mut s = Security {
            allow_anonymous: false,
            passwords: Some(pw),
            acl: None,
        };
        let c = |u: Option<&'static str>, p: Option<&'static [u8]>| Credentials {
            client_id: "c",
            username: u,
            password: p,
        };
        assert_eq!(s.connect(&c(None, None)), Err(Refusal::NotAuthorized));
        assert_eq!(s.connect(&c(Some("alice"), Some(b"s3"))), Ok(()));
        assert_eq!(
            s.connect(&c(Some("alice"), Some(b"no"))),
            Err(Refusal::BadCredentials)
        );
        assert_eq!(
            s.connect(&c(Some("alice"), None)),
            Err(Refusal::BadCredentials)
        );
        assert_eq!(
            s.connect(&c(Some("eve"), Some(b"s3"))),
            Err(Refusal::BadCredentials)
        );
        s.allow_anonymous = true;
        assert_eq!(s.connect(&c(None, None)), Ok(()));
        assert_eq!(
            s.connect(&c(Some("eve"), Some(b"s3"))),
            Err(Refusal::BadCredentials)
        );
    }
}
