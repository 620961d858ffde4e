//! Everything `mqttkit broker` can be told, from a TOML file and flags,
//! and the embeddable entry point [`Broker::builder`].
//!
//! ```toml
//! listen = ["127.0.0.1:1883"]       # MQTT over TCP
//! ws = ["127.0.0.1:8083"]           # MQTT over WebSocket
//! tls = ["127.0.0.1:8883"]          # MQTT over TLS, needs cert and key
//! cert = "cert.pem"
//! key = "key.pem"
//! allow_anonymous = false           # default: true when every listener is loopback
//! password_file = "passwd"          # `mqttkit broker passwd passwd alice`
//! acl_file = "acl"
//! sys_interval = 10                 # seconds between $SYS updates, 0 = off
//!
//! [limits]
//! max_connections = 10000           # connections at once
//! max_packet_size = 1048576         # bytes, header included
//! max_queued = 1000                 # messages queued per session
//! max_inflight = 1024               # unacknowledged QoS 1/2 messages per client
//! receive_maximum = 1024            # unacknowledged QoS 2 messages from a client
//! max_queued_bytes = 16777216       # bytes waiting for a slow reader
//! connect_timeout = 10              # seconds to send CONNECT
//! server_keep_alive = 60            # seconds, imposed on 5.0 clients
//! park_after = 2                    # idle seconds before a TCP connection is parked, 0 = never
//! ```
//!
//! Relative paths are taken from the directory of the configuration file.
//! An unknown key is an error that names it.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mqttkit_model::{Authorizer, Config, Credentials, Refusal};
use serde::Deserialize;
use tracing::{info, warn};

use crate::security::{Security, SecurityConfig};
use crate::server::{Builder, Limits, Running};

/// The `[limits]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    /// Connections accepted at once.
    pub max_connections: Option<usize>,
    /// Largest packet accepted (bytes).
    pub max_packet_size: Option<u32>,
    /// Messages queued per session.
    pub max_queued: Option<usize>,
    /// In-flight QoS 1/2 messages towards one client.
    pub max_inflight: Option<u16>,
    /// QoS 2 messages a client may have unacknowledged towards the broker.
    pub receive_maximum: Option<u16>,
    /// Bytes queued for a client that does not read.
    pub max_queued_bytes: Option<usize>,
    /// Seconds a new connection has to send CONNECT.
    pub connect_timeout: Option<u64>,
    /// Keep Alive imposed on 5.0 clients (seconds).
    pub server_keep_alive: Option<u16>,
    /// Seconds without traffic before a plain-TCP connection moves to the
    /// parker thread; 0 = never.
    pub park_after: Option<u64>,
}

/// A `broker.toml` file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// TCP listeners.
    pub listen: Option<Vec<SocketAddr>>,
    /// WebSocket listeners.
    pub ws: Option<Vec<SocketAddr>>,
    /// TLS listeners.
    pub tls: Option<Vec<SocketAddr>>,
    /// PEM certificate chain for TLS.
    pub cert: Option<PathBuf>,
    /// PEM private key for TLS.
    pub key: Option<PathBuf>,
    /// Clients without a user name may connect.
    pub allow_anonymous: Option<bool>,
    /// Password file.
    pub password_file: Option<PathBuf>,
    /// ACL file.
    pub acl_file: Option<PathBuf>,
    /// Seconds between `$SYS` updates (0: off).
    pub sys_interval: Option<u64>,
    /// Directory of the persistent store (sessions, messages, retained).
    pub data_dir: Option<PathBuf>,
    /// Limits.
    pub limits: Option<FileLimits>,
}

impl FileConfig {
    /// Parses the text of a configuration file; `path` names it in errors
    /// and relative paths are resolved against its directory.
    pub fn parse(text: &str, path: &Path) -> Result<Self, String> {
        let mut c: FileConfig =
            toml::from_str(text).map_err(|e| format!("{}: {}", path.display(), e))?;
        let base = path.parent().unwrap_or(Path::new(""));
        for p in [
            &mut c.cert,
            &mut c.key,
            &mut c.password_file,
            &mut c.acl_file,
            &mut c.data_dir,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        if meta.len() > 1 << 20 {
            return Err(format!(
                "{}: {} bytes is too large for a configuration file",
                path.display(),
                meta.len()
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Self::parse(&text, path)
    }
}

/// Resolved settings: defaults, then a file, then flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// TCP listeners.
    pub listen: Vec<SocketAddr>,
    /// WebSocket listeners.
    pub ws: Vec<SocketAddr>,
    /// TLS listeners.
    pub tls: Vec<SocketAddr>,
    /// TLS certificate chain.
    pub cert: Option<PathBuf>,
    /// TLS key.
    pub key: Option<PathBuf>,
    /// Anonymous access, password and ACL files.
    pub security: SecurityConfig,
    /// Seconds between `$SYS` updates (0: off).
    pub sys_interval: u64,
    /// Directory of the persistent store, if any.
    pub data_dir: Option<PathBuf>,
    /// I/O limits.
    pub limits: Limits,
    /// Protocol limits and features.
    pub model: Config,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: Vec::new(),
            ws: Vec::new(),
            tls: Vec::new(),
            cert: None,
            key: None,
            security: SecurityConfig::default(),
            sys_interval: 10,
            data_dir: None,
            limits: Limits::default(),
            model: Config::default(),
        }
    }
}

impl Settings {
    /// Overrides these settings with what the file sets.
    pub fn apply(&mut self, f: FileConfig) {
        if let Some(v) = f.listen {
            self.listen = v;
        }
        if let Some(v) = f.ws {
            self.ws = v;
        }
        if let Some(v) = f.tls {
            self.tls = v;
        }
        self.cert = f.cert.or(self.cert.take());
        self.key = f.key.or(self.key.take());
        if f.allow_anonymous.is_some() {
            self.security.allow_anonymous = f.allow_anonymous;
        }
        self.security.password_file = f.password_file.or(self.security.password_file.take());
        self.security.acl_file = f.acl_file.or(self.security.acl_file.take());
        if let Some(v) = f.sys_interval {
            self.sys_interval = v;
        }
        self.data_dir = f.data_dir.or(self.data_dir.take());
        let l = f.limits.unwrap_or_default();
        if let Some(v) = l.max_connections {
            self.limits.max_connections = v;
        }
        if let Some(v) = l.max_queued_bytes {
            self.limits.max_queued_bytes = v;
        }
        if let Some(v) = l.max_packet_size {
            self.model.maximum_packet_size = v;
        }
        if let Some(v) = l.max_queued {
            self.model.max_queued_messages = v;
        }
        if let Some(v) = l.max_inflight {
            self.model.max_inflight = v;
        }
        if let Some(v) = l.receive_maximum {
            self.model.receive_maximum = v;
        }
        if let Some(v) = l.connect_timeout {
            self.model.connect_timeout_ms = v.saturating_mul(1000);
        }
        if l.server_keep_alive.is_some() {
            self.model.server_keep_alive = l.server_keep_alive;
        }
        if let Some(v) = l.park_after {
            self.set_park_after(v);
        }
    }

    /// Sets [`Limits::park_after`] from seconds (0: never park).
    pub fn set_park_after(&mut self, seconds: u64) {
        self.limits.park_after = (seconds > 0).then(|| Duration::from_secs(seconds));
    }

    /// Refuses values the protocol or the broker cannot work with.
    pub fn validate(&self) -> Result<(), String> {
        if self.model.receive_maximum == 0 {
            return Err("receive_maximum must be at least 1 (MQTT 5.0 forbids 0)".into());
        }
        if self.model.maximum_packet_size < 64 {
            return Err("max_packet_size must be at least 64 bytes".into());
        }
        if self.limits.max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        if self.model.max_inflight == 0 {
            return Err("max_inflight must be at least 1".into());
        }
        Ok(())
    }

    /// The TCP listeners, with 127.0.0.1:1883 when no listener of any
    /// kind is set.
    pub fn tcp_listeners(&self) -> Vec<SocketAddr> {
        if self.listen.is_empty() && self.ws.is_empty() && self.tls.is_empty() {
            vec![SocketAddr::from(([127, 0, 0, 1], 1883))]
        } else {
            self.listen.clone()
        }
    }

    /// A builder for these settings (TLS listeners need `tls_config`).
    pub fn builder(
        &self,
        tls_config: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    ) -> io::Result<BrokerBuilder> {
        let mut b = Broker::builder()
            .limits(self.limits.clone())
            .config(Config {
                sys_interval_ms: self.sys_interval.saturating_mul(1000),
                ..self.model.clone()
            })
            .security(self.security.clone());
        if let Some(dir) = &self.data_dir {
            b = b.data_dir(dir);
        }
        for a in self.tcp_listeners() {
            b = b.listen_tcp(a);
        }
        for a in &self.ws {
            b = b.listen_ws(*a);
        }
        if !self.tls.is_empty() {
            let Some(cfg) = tls_config else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS listeners need a certificate and a key",
                ));
            };
            for a in &self.tls {
                b = b.listen_tls(*a, cfg.clone());
            }
        }
        Ok(b)
    }
}

/// The reference broker (the model behind the I/O layer), to embed.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let broker = mqttkit_broker::Broker::builder()
///     .listen_tcp("127.0.0.1:0".parse().unwrap())
///     .start()
///     .await?;
/// println!("listening on {}", broker.tcp_addr());
/// broker.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Broker;

impl Broker {
    /// Starts configuring a reference broker.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }
}

/// Configures a reference broker: listeners, limits, the model's
/// [`Config`], and who may do what.
#[derive(Default)]
pub struct BrokerBuilder {
    io: Builder,
    addrs: Vec<SocketAddr>,
    config: Config,
    security: Option<SecurityConfig>,
    authorizer: Option<Box<dyn Authorizer>>,
}

impl std::fmt::Debug for BrokerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerBuilder")
            .field("io", &self.io)
            .field("config", &self.config)
            .field("security", &self.security)
            .field("authorizer", &self.authorizer.is_some())
            .finish()
    }
}

impl BrokerBuilder {
    /// Adds a plain-TCP listener (port 0: the OS chooses).
    pub fn listen_tcp(mut self, addr: SocketAddr) -> Self {
        self.io = self.io.listen_tcp(addr);
        self.addrs.push(addr);
        self
    }

    /// Adds an MQTT-over-WebSocket listener.
    pub fn listen_ws(mut self, addr: SocketAddr) -> Self {
        self.io = self.io.listen_ws(addr);
        self.addrs.push(addr);
        self
    }

    /// Adds an MQTT-over-TLS listener.
    pub fn listen_tls(
        mut self,
        addr: SocketAddr,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> Self {
        self.io = self.io.listen_tls(addr, config);
        self.addrs.push(addr);
        self
    }

    /// Keeps sessions, their messages and retained messages in `dir`
    /// across restarts (see the persistence part of ARCHITECTURE.md).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.io = self.io.data_dir(dir);
        self
    }

    /// Sets the I/O limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.io = self.io.limits(limits);
        self
    }

    /// Sets the model's limits and features.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Uses anonymous access, a password file and an ACL file as
    /// configured (files are read by [`start`](Self::start)).
    pub fn security(mut self, security: SecurityConfig) -> Self {
        self.security = Some(security);
        self
    }

    /// Uses this authorizer instead (wins over [`security`](Self::security)).
    /// Without either, every client may do everything.
    pub fn authorizer(mut self, auth: impl Authorizer + 'static) -> Self {
        self.authorizer = Some(Box::new(auth));
        self
    }

    /// True when every listener is on a loopback address (also when none
    /// is set: the default listener is 127.0.0.1).
    pub fn loopback_only(&self) -> bool {
        self.addrs.iter().all(|a| a.ip().is_loopback())
    }

    /// Reads the security files, binds the listeners and starts serving.
    /// Must be called inside a tokio runtime.
    pub async fn start(self) -> io::Result<Running> {
        let loopback = self.loopback_only();
        if let Some(auth) = self.authorizer {
            let core = mqttkit_model::Broker::with_authorizer(self.config, DynAuth(auth));
            return self.io.start(core).await;
        }
        let Some(sec) = self.security else {
            return self.io.start(mqttkit_model::Broker::new(self.config)).await;
        };
        let s = Security::load(&sec, loopback)?;
        let why = match sec.allow_anonymous {
            Some(_) => "as configured",
            None if loopback => "default: every listener is on loopback",
            None => "default: a listener is not on loopback",
        };
        info!(
            allow_anonymous = s.allow_anonymous,
            "anonymous access {} ({why})",
            if s.allow_anonymous { "on" } else { "off" }
        );
        if let Some(p) = &s.passwords {
            info!(users = p.len(), "password file loaded");
        }
        if s.acl.is_some() {
            info!("ACL file loaded: only what a rule allows is allowed");
        }
        if s.acl.is_some() && s.passwords.is_none() && s.allow_anonymous {
            warn!("ACL without a password file: user names are not verified, so anyone may claim a user's rules");
        }
        if !s.allow_anonymous && s.passwords.is_none() {
            warn!("anonymous access is off and there is no password file: no client can connect");
        }
        self.io
            .start(mqttkit_model::Broker::with_authorizer(self.config, s))
            .await
    }
}

/// A boxed authorizer as an authorizer.
struct DynAuth(Box<dyn Authorizer>);

impl Authorizer for DynAuth {
    fn connect(&mut self, who: &Credentials<'_>) -> Result<(), Refusal> {
        self.0.connect(who)
    }
    fn publish(&mut self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        self.0.publish(client_id, username, topic)
    }
    fn subscribe(&mut self, client_id: &str, username: Option<&str>, filter: &str) -> bool {
        self.0.subscribe(client_id, username, filter)
    }
    fn deliver(&mut self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        self.0.deliver(client_id, username, topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_resolves_paths() {
        let f = FileConfig::parse(
            "listen = [\"127.0.0.1:1999\"]\nallow_anonymous = false\npassword_file = \"pw\"\n\
             sys_interval = 0\n[limits]\nmax_connections = 7\nmax_packet_size = 4096\n\
             max_queued = 9\nmax_inflight = 3\nreceive_maximum = 5\nmax_queued_bytes = 1000\nconnect_timeout = 2\n\
             server_keep_alive = 30\npark_after = 5\n",
            Path::new("/etc/mqttkit/broker.toml"),
        )
        .unwrap();
        let mut s = Settings::default();
        s.apply(f);
        assert_eq!(s.listen, vec!["127.0.0.1:1999".parse().unwrap()]);
        assert_eq!(s.security.allow_anonymous, Some(false));
        assert_eq!(
            s.security.password_file.as_deref(),
            Some(Path::new("/etc/mqttkit/pw"))
        );
        assert_eq!(s.sys_interval, 0);
        assert_eq!(s.limits.max_connections, 7);
        assert_eq!(s.limits.max_queued_bytes, 1000);
        assert_eq!(s.model.maximum_packet_size, 4096);
        assert_eq!(s.model.max_queued_messages, 9);
        assert_eq!(s.model.max_inflight, 3);
        assert_eq!(s.model.receive_maximum, 5);
        assert_eq!(s.model.connect_timeout_ms, 2000);
        assert_eq!(s.model.server_keep_alive, Some(30));
        assert_eq!(s.limits.park_after, Some(Duration::from_secs(5)));
        assert!(s.validate().is_ok());
        // 0 turns parking off; without the key the default (2 s) stays.
        s.apply(FileConfig::parse("[limits]\npark_after = 0\n", Path::new("b.toml")).unwrap());
        assert_eq!(s.limits.park_after, None);
        let mut d = Settings::default();
        d.apply(FileConfig::parse("[limits]\n", Path::new("b.toml")).unwrap());
        assert_eq!(d.limits.park_after, Some(Duration::from_secs(2)));
        for bad in [
            "[limits]\nreceive_maximum = 0\n",
            "[limits]\nmax_packet_size = 10\n",
            "[limits]\nmax_connections = 0\n",
            "[limits]\nmax_inflight = 0\n",
        ] {
            let mut s = Settings::default();
            s.apply(FileConfig::parse(bad, Path::new("b.toml")).unwrap());
            assert!(s.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn file_errors_name_the_key_and_file() {
        for (text, what) in [
            ("lisen = []\n", "lisen"),
            ("[limits]\nmax_conections = 1\n", "max_conections"),
            ("sys_interval = \"ten\"\n", "sys_interval"),
            ("listen = [\"not an address\"]\n", "listen"),
            (
                "allow_anonymous = true\nallow_anonymous = false\n",
                "allow_anonymous",
            ),
        ] {
            let e = FileConfig::parse(text, Path::new("b.toml")).unwrap_err();
            assert!(e.starts_with("b.toml: "), "{e}");
            assert!(e.contains(what), "{text:?}: {e}");
        }
        let e = FileConfig::load(Path::new("/nonexistent/b.toml")).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn anonymous_default_follows_the_listeners() {
        let b = Broker::builder().listen_tcp("127.0.0.1:0".parse().unwrap());
        assert!(b.loopback_only());
        let b = b.listen_ws("[::1]:0".parse().unwrap());
        assert!(b.loopback_only());
        let b = b.listen_tcp("0.0.0.0:0".parse().unwrap());
        assert!(!b.loopback_only());
        assert!(Broker::builder().loopback_only());
    }
}
