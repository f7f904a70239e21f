//! coturn's `turnserver` as a child process: a second STUN/TURN implementation, independent of
//! webrtc-rs.
//!
//! Each server gets a temporary folder with its configuration, log, pid file and user database,
//! runs in its own process group through [`ChildGroup`], and is ready once it answers a STUN
//! binding request (over TCP too, when TCP is on). It listens and relays on the given IP only,
//! without TLS, DTLS or TCP relays, and allows loopback peers (which coturn refuses by default) so
//! that peers on 127.0.0.1 can be reached through it.
//!
//! Each case gets a user of its own, so that its allocations can be ended when it ends
//! ([`CoturnSessions::release`], through coturn's admin CLI on loopback): with REST credentials
//! any user name works; long-term users are read only at start, so the server starts with
//! [`CASE_USERS`] of them and a case takes a free one.

mod cli;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::Command;

pub use cli::CoturnCli;

use super::{
    Endpoint, TurnAuth, TurnError, TurnOptions, TurnTransport, bind_reason, probe, random_token,
};
use crate::process::ChildGroup;
use crate::provision;

const SERVER: &str = "coturn TURN server";

/// How many lines of the log an error quotes.
const LOG_TAIL_LINES: usize = 15;

/// How many long-term users of its own (`<user>.0` …) the server starts with, for cases to take
/// one each: more than a run plays at once. A case finding none free shares the run's user.
pub const CASE_USERS: usize = 64;

/// How coturn itself is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoturnOptions {
    /// The `turnserver` program; `None` looks for it on `PATH`.
    pub program: Option<PathBuf>,
    /// Install the `coturn` package when it is missing (as root, with apt-get).
    pub install: bool,
    /// The UDP ports relayed addresses are taken from (`min-port`, `max-port`).
    pub relay_ports: RangeInclusive<u16>,
    /// How long coturn may take to answer its first STUN binding request.
    pub ready_timeout: Duration,
}

impl Default for CoturnOptions {
    fn default() -> Self {
        CoturnOptions {
            program: None,
            install: false,
            relay_ports: 49152..=65535,
            ready_timeout: Duration::from_secs(5),
        }
    }
}

/// A running coturn. Dropping it kills the process.
pub struct Coturn {
    endpoint: Endpoint,
    // Declared before `dir`: the process dies before its folder is removed.
    process: ChildGroup,
    config: PathBuf,
    log: PathBuf,
    dir: tempfile::TempDir,
    sessions: CoturnSessions,
}

/// Ends a case user's sessions, and gives a long-term case user back. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CoturnSessions {
    cli: CoturnCli,
    /// For long-term credentials: which of the [`CASE_USERS`] are taken.
    case_users: Option<Arc<Mutex<Vec<bool>>>>,
    /// The run's long-term user name, whose `.N` are the case users.
    base_user: String,
}

impl Coturn {
    /// Writes the configuration, starts `turnserver` and waits until it answers.
    pub async fn start(options: TurnOptions, coturn: CoturnOptions) -> Result<Coturn, TurnError> {
        let program = match &coturn.program {
            Some(path) if path.is_file() => path.clone(),
            Some(path) => {
                return Err(provision::coturn_missing(&format!(
                    "coturn ({} does not exist)",
                    path.display()
                ))
                .into());
            }
            None => provision::coturn(coturn.install)?,
        };
        let other = |reason: String| TurnError::Other {
            server: SERVER,
            reason,
        };
        let port = choose_port(&options)?;
        let addr = SocketAddr::new(options.ip, port);
        let cli = CoturnCli {
            addr: free_loopback_tcp_port().map_err(other)?,
            password: random_token(),
        };
        let dir = tempfile::Builder::new()
            .prefix("coturn-")
            .tempdir_in(crate::leftovers::run_folder().map_err(other)?)
            .map_err(|e| other(format!("cannot create a temporary folder: {e}")))?;
        let config = dir.path().join("turnserver.conf");
        let log = dir.path().join("turnserver.log");
        let text = config_file(&options, &coturn, port, &cli, dir.path()).map_err(other)?;
        std::fs::write(&config, text)
            .map_err(|e| other(format!("cannot write {}: {e}", config.display())))?;
        let log_file = std::fs::File::create(&log)
            .map_err(|e| other(format!("cannot create {}: {e}", log.display())))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| other(format!("cannot open {}: {e}", log.display())))?;

        let mut command = Command::new(&program);
        command
            .arg("-c")
            .arg(&config)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        let process =
            ChildGroup::spawn("coturn (turnserver)", command).map_err(|e| other(e.to_string()))?;
        let (case_users, base_user) = match &options.auth {
            TurnAuth::LongTerm { username, .. } => (
                Some(Arc::new(Mutex::new(vec![false; CASE_USERS]))),
                username.clone(),
            ),
            TurnAuth::RestSecret { .. } => (None, String::new()),
        };
        let mut server = Coturn {
            endpoint: Endpoint::new(addr, &options),
            process,
            config,
            log,
            dir,
            sessions: CoturnSessions {
                cli,
                case_users,
                base_user,
            },
        };
        server.wait_ready(coturn.ready_timeout).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), TurnError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let addr = self.endpoint.addr();
        let mut pending = self.endpoint.transports();
        loop {
            if let Some(status) = self.process.exit_status() {
                return Err(TurnError::Exited {
                    server: SERVER,
                    status: status.to_string(),
                    log: self.log_tail(),
                });
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(TurnError::NotReady {
                    server: SERVER,
                    addr,
                    waited: timeout,
                    log: self.log_tail(),
                });
            }
            let attempt = (deadline - now).min(Duration::from_millis(300));
            let transport = pending[0];
            if probe::stun_binding(addr, transport, attempt).await.is_ok() {
                pending.remove(0);
                if pending.is_empty() {
                    return Ok(());
                }
            } else {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Where it listens and how to authenticate.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// See [`Endpoint::stun_url`].
    pub fn stun_url(&self) -> String {
        self.endpoint.stun_url()
    }

    /// See [`Endpoint::turn_url`].
    pub fn turn_url(&self, transport: TurnTransport) -> Option<String> {
        self.endpoint.turn_url(transport)
    }

    /// See [`Endpoint::credentials`].
    pub fn credentials(&self) -> (String, String) {
        self.endpoint.credentials()
    }

    /// See [`Endpoint::ice_server`].
    pub fn ice_server(&self, transports: &[TurnTransport]) -> super::IceServer {
        self.endpoint.ice_server(transports)
    }

    /// A user name and password of the case `case`'s own: with REST credentials
    /// `<expiry>:rtc-interop.<case>`, with long-term credentials a free one of the users the
    /// server started with. `None` when all of those are taken.
    pub fn case_credentials(&self, case: &str) -> Option<(String, String)> {
        let Some(taken) = &self.sessions.case_users else {
            return Some(self.endpoint.case_credentials(case));
        };
        let mut taken = taken.lock().unwrap();
        let slot = taken.iter().position(|t| !t)?;
        taken[slot] = true;
        let (_, password) = self.endpoint.credentials();
        Some((case_user(&self.sessions.base_user, slot), password))
    }

    /// What ends a case user's sessions once the case is over.
    pub fn sessions(&self) -> CoturnSessions {
        self.sessions.clone()
    }

    /// The process id of `turnserver`.
    pub fn pid(&self) -> i32 {
        self.process.pid()
    }

    /// The configuration file it was started with (its path is on the process's command line).
    pub fn config_path(&self) -> &std::path::Path {
        &self.config
    }

    /// The folder holding its configuration, log and database (removed when it stops).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Every relayed address coturn has allocated since it started, in order (from its log).
    pub fn relayed_addresses(&self) -> Vec<SocketAddr> {
        relayed_in_log(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// Kills the process and waits until it is gone (reaped).
    pub async fn close(mut self) {
        self.process.kill();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while self.process.exit_status().is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl CoturnSessions {
    /// Ends every allocation of `user` (a user from [`Coturn::case_credentials`]) and makes a
    /// long-term case user free again. A CLI that does not answer leaves the allocations to expire
    /// (a warning in the log): the case itself is over either way.
    pub async fn release(&self, user: &str) {
        if let Err(e) = self.cli.cancel_sessions_of(user).await {
            log::warn!("could not end coturn's allocations of {user}: {e}");
        }
        if let Some(taken) = &self.case_users {
            let mut taken = taken.lock().unwrap();
            if let Some(slot) = (0..taken.len()).find(|&i| case_user(&self.base_user, i) == user) {
                taken[slot] = false;
            }
        }
    }
}

/// The long-term case user number `slot`.
fn case_user(base: &str, slot: usize) -> String {
    format!("{base}.{slot}")
}

/// A TCP port on 127.0.0.1 that is free now, for coturn's CLI (which it binds without
/// SO_REUSEPORT, so a port taken in between makes coturn log an error, not share it).
fn free_loopback_tcp_port() -> Result<SocketAddr, String> {
    TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot find a free port for coturn's CLI: {e}"))
}

/// The relayed addresses in coturn's verbose log: `IPv4. Local relay addr: 192.0.2.2:50014`.
fn relayed_in_log(log: &str) -> Vec<SocketAddr> {
    log.lines()
        .filter_map(|line| line.split_once("Local relay addr: "))
        .filter_map(|(_, addr)| addr.trim().parse().ok())
        .collect()
}

/// The requested port after checking that it is free, or a free one for port 0.
///
/// coturn binds its sockets with SO_REUSEPORT and would silently share a port with another coturn,
/// and it does not stop when a port is taken, so the harness checks first.
fn choose_port(options: &TurnOptions) -> Result<u16, TurnError> {
    let fail = |addr: SocketAddr, transport: &'static str, e: std::io::Error| TurnError::Bind {
        server: SERVER,
        addr,
        transport,
        reason: bind_reason(&e),
    };
    let wanted = SocketAddr::new(options.ip, options.port);
    let mut last = None;
    for _ in 0..10 {
        let udp = UdpSocket::bind(wanted).map_err(|e| fail(wanted, "", e))?;
        let addr = udp.local_addr().map_err(|e| fail(wanted, "", e))?;
        if !options.tcp {
            return Ok(addr.port());
        }
        match TcpListener::bind(addr) {
            Ok(_) => return Ok(addr.port()),
            Err(e) if options.port == 0 => last = Some(fail(addr, " (TCP)", e)),
            Err(e) => return Err(fail(addr, " (TCP)", e)),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// The text of `turnserver.conf`.
fn config_file(
    options: &TurnOptions,
    coturn: &CoturnOptions,
    port: u16,
    cli: &CoturnCli,
    dir: &std::path::Path,
) -> Result<String, String> {
    // One setting per line, `name=value`: a value must not break the line.
    let check = |what: &str, value: &str| {
        if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c == '#') {
            Err(format!(
                "the {what} {value:?} cannot go into a coturn configuration file (empty, or has spaces or #)"
            ))
        } else {
            Ok(())
        }
    };
    check("realm", &options.realm)?;
    let mut text = String::new();
    let mut line = |l: String| {
        text.push_str(&l);
        text.push('\n');
    };
    line(format!("listening-ip={}", options.ip));
    line(format!("relay-ip={}", options.ip));
    line(format!("listening-port={port}"));
    line(format!("min-port={}", coturn.relay_ports.start()));
    line(format!("max-port={}", coturn.relay_ports.end()));
    line(format!("realm={}", options.realm));
    match &options.auth {
        TurnAuth::LongTerm { username, password } => {
            check("user name", username)?;
            check("password", password)?;
            if username.contains(':') {
                return Err(format!(
                    "the user name {username:?} has a ':', which coturn's user= cannot hold"
                ));
            }
            line("lt-cred-mech".into());
            line(format!("user={username}:{password}"));
            for slot in 0..CASE_USERS {
                line(format!("user={}:{password}", case_user(username, slot)));
            }
        }
        TurnAuth::RestSecret { secret } => {
            check("secret", secret)?;
            line("use-auth-secret".into());
            line(format!("static-auth-secret={secret}"));
        }
    }
    for flag in [
        "fingerprint",
        "no-tls",
        "no-dtls",
        "no-tcp-relay",
        "no-multicast-peers",
        // Peers on 127.0.0.1 are the point of a loopback test run; coturn refuses them by default.
        "allow-loopback-peers",
        "simple-log",
        "log-file=stdout",
        // Allocations are logged only verbosely (`Local relay addr: …`), and the harness reads them.
        "verbose",
    ] {
        line(flag.into());
    }
    if !options.tcp {
        line("no-tcp".into());
    }
    // The admin CLI, on loopback with a password of the run's own: how a case's allocations end.
    line(format!("cli-ip={}", cli.addr.ip()));
    line(format!("cli-port={}", cli.addr.port()));
    line(format!("cli-password={}", cli.password));
    line(format!("pidfile={}", dir.join("turnserver.pid").display()));
    // Its own user database, so that nothing under /var/lib/turn is touched.
    line(format!("userdb={}", dir.join("turndb").display()));
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_cli() -> CoturnCli {
        CoturnCli {
            addr: "127.0.0.1:5766".parse().unwrap(),
            password: "clipw".into(),
        }
    }

    #[test]
    fn config_for_long_term_credentials() {
        let options = TurnOptions::loopback(TurnAuth::LongTerm {
            username: "alice".into(),
            password: "pw".into(),
        });
        let text = config_file(
            &options,
            &CoturnOptions::default(),
            3478,
            &test_cli(),
            std::path::Path::new("/tmp/x"),
        )
        .unwrap();
        for expected in [
            "listening-ip=127.0.0.1\n",
            "relay-ip=127.0.0.1\n",
            "listening-port=3478\n",
            "lt-cred-mech\n",
            "user=alice:pw\n",
            "user=alice.0:pw\n",
            "user=alice.63:pw\n",
            "cli-ip=127.0.0.1\ncli-port=5766\ncli-password=clipw\n",
            "realm=rtc-interop\n",
            "allow-loopback-peers\n",
            "pidfile=/tmp/x/turnserver.pid\n",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        assert!(!text.contains("no-tcp\n"));
        assert!(!text.contains("use-auth-secret"));
    }

    #[test]
    fn config_for_rest_secret_without_tcp() {
        let options = TurnOptions {
            tcp: false,
            ..TurnOptions::loopback(TurnAuth::RestSecret {
                secret: "s3cret".into(),
            })
        };
        let text = config_file(
            &options,
            &CoturnOptions::default(),
            3478,
            &test_cli(),
            std::path::Path::new("/tmp/x"),
        )
        .unwrap();
        assert!(
            text.contains("use-auth-secret\nstatic-auth-secret=s3cret\n"),
            "{text}"
        );
        assert!(text.contains("no-tcp\n"), "{text}");
        assert!(!text.contains("lt-cred-mech"));
        assert!(!text.contains("user="), "{text}");
    }

    #[test]
    fn relayed_addresses_are_read_from_the_verbose_log() {
        let log = "0: : Relay address to use: 192.0.2.2\n\
            1: : IPv4. Local relay addr: 192.0.2.2:50014\n\
            1: : IPv4. Local reserved relay addr: 192.0.2.2:50015\n\
            1: : session 000000000000000001: new, realm=<rtc-interop>, username=<u>, lifetime=777\n\
            2: : IPv4. Local relay addr: 192.0.2.2:50016\n";
        assert_eq!(
            relayed_in_log(log),
            [
                "192.0.2.2:50014".parse::<SocketAddr>().unwrap(),
                "192.0.2.2:50016".parse().unwrap()
            ]
        );
    }

    #[test]
    fn values_that_would_break_the_file_are_refused() {
        let options = TurnOptions::loopback(TurnAuth::LongTerm {
            username: "al ice".into(),
            password: "pw".into(),
        });
        let e = config_file(
            &options,
            &CoturnOptions::default(),
            1,
            &test_cli(),
            std::path::Path::new("/x"),
        )
        .unwrap_err();
        assert!(e.contains("user name"), "{e}");
    }
}
