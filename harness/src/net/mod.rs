//! The network around the peers: STUN and TURN servers that a run starts for itself on this
//! machine's own addresses, and simulated NATs.
//!
//! - [`netns`]: Linux network namespaces that put each peer behind a real NAT of a chosen kind.
//! - [`EmbeddedTurn`]: a STUN and TURN server inside this process (webrtc-rs's `turn` crate), the
//!   default. UDP, and TCP through a framing adapter the crate lacks.
//! - [`Coturn`]: the `turnserver` program (coturn) as a child process, for a second, independent
//!   implementation.
//! - [`TurnServer`]: either of them, for a runner that does not care which.
//!
//! Both authenticate with long-term credentials ([`TurnAuth::LongTerm`]) or with time-limited
//! credentials minted from a shared secret in the TURN REST style ([`TurnAuth::RestSecret`]), and
//! both describe themselves the same way: an [`Endpoint`] hands out STUN and TURN URLs and an
//! [`IceServer`] (the W3C `RTCIceServer` shape) that a peer is given.
//!
//! [`probe`] is a small STUN/TURN client for readiness checks and tests; [`addrs`] finds this
//! machine's own addresses (where a run's servers listen, and what a scenario may name).

pub mod addrs;
pub mod coturn;
pub mod netns;
pub mod probe;
mod tcp;
pub mod turn;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use serde::{Deserialize, Serialize};

pub use coturn::{Coturn, CoturnOptions};
pub use turn::EmbeddedTurn;

use crate::provision::ProvisionError;

/// How a client reaches a TURN server. What is relayed to peers is UDP either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TurnTransport {
    /// `turn:HOST:PORT?transport=udp`.
    Udp,
    /// `turn:HOST:PORT?transport=tcp`.
    Tcp,
}

impl TurnTransport {
    /// `udp` or `tcp`, as in a TURN URL.
    pub fn as_str(self) -> &'static str {
        match self {
            TurnTransport::Udp => "udp",
            TurnTransport::Tcp => "tcp",
        }
    }
}

impl std::fmt::Display for TurnTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How clients authenticate to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnAuth {
    /// One user with a fixed password (RFC 8489 long-term credentials).
    LongTerm {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// TURN REST API style: user name `<expiry unix time>:<user>`, password
    /// `base64(HMAC-SHA1(secret, user name))`; the server refuses a user name whose time has passed.
    RestSecret {
        /// The secret shared by the server and whoever mints credentials.
        secret: String,
    },
}

/// What a TURN server is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnOptions {
    /// The address the server listens on and relays from (`127.0.0.1`, or one of this machine's
    /// own interface addresses).
    pub ip: IpAddr,
    /// The listening port for UDP and TCP alike; 0 lets the system choose a free one.
    pub port: u16,
    /// Whether to accept TURN over TCP too (on the same port number).
    pub tcp: bool,
    /// The realm in the server's challenges.
    pub realm: String,
    /// How clients authenticate.
    pub auth: TurnAuth,
    /// How long minted REST credentials stay valid.
    pub credential_lifetime: Duration,
}

impl TurnOptions {
    /// Loopback, a free port, UDP and TCP, realm `rtc-interop`, the given authentication.
    pub fn loopback(auth: TurnAuth) -> TurnOptions {
        TurnOptions {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            tcp: true,
            realm: DEFAULT_REALM.into(),
            auth,
            credential_lifetime: Duration::from_secs(3600),
        }
    }
}

/// The realm [`TurnOptions::loopback`] uses.
pub const DEFAULT_REALM: &str = "rtc-interop";

/// The user part of the user names [`Endpoint::credentials`] mints for REST authentication.
pub const REST_USER: &str = "rtc-interop";

/// What a peer is given to reach a STUN/TURN server: the W3C `RTCIceServer` dictionary.
///
/// Serialized with the W3C field names, so a browser page can pass it to `RTCPeerConnection`
/// as it is: `{"urls": [...], "username": "...", "credential": "..."}`.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:` and `turn:` URLs.
    pub urls: Vec<String>,
    /// The TURN user name; empty for STUN alone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// The TURN password; empty for STUN alone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credential: String,
}

impl From<&IceServer> for webrtc::peer_connection::RTCIceServer {
    fn from(server: &IceServer) -> Self {
        webrtc::peer_connection::RTCIceServer {
            urls: server.urls.clone(),
            username: server.username.clone(),
            credential: server.credential.clone(),
        }
    }
}

/// Mints TURN REST credentials: user name `<expiry>:<user>` and its HMAC-SHA1 password.
pub fn rest_credentials(secret: &str, user: &str, expires_at: SystemTime) -> (String, String) {
    let expiry = expires_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let username = format!("{expiry}:{user}");
    let password = rest_password(secret, &username);
    (username, password)
}

/// 16 random bytes in hex: a password or secret nobody else knows.
pub(crate) fn random_token() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `base64(HMAC-SHA1(secret, username))`: the password of a TURN REST user name.
pub(crate) fn rest_password(secret: &str, username: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    BASE64_STANDARD.encode(ring::hmac::sign(&key, username.as_bytes()).as_ref())
}

/// Where a running server is and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    addr: SocketAddr,
    tcp: bool,
    realm: String,
    auth: TurnAuth,
    credential_lifetime: Duration,
}

impl Endpoint {
    pub(crate) fn new(addr: SocketAddr, options: &TurnOptions) -> Endpoint {
        Endpoint {
            addr,
            tcp: options.tcp,
            realm: options.realm.clone(),
            auth: options.auth.clone(),
            credential_lifetime: options.credential_lifetime,
        }
    }

    /// The listening address (UDP, and TCP when enabled).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// How clients authenticate.
    pub fn auth(&self) -> &TurnAuth {
        &self.auth
    }

    /// The transports the server accepts.
    pub fn transports(&self) -> Vec<TurnTransport> {
        if self.tcp {
            vec![TurnTransport::Udp, TurnTransport::Tcp]
        } else {
            vec![TurnTransport::Udp]
        }
    }

    /// `stun:127.0.0.1:PORT`: the same server, as a STUN server.
    pub fn stun_url(&self) -> String {
        format!("stun:{}", self.addr)
    }

    /// `turn:127.0.0.1:PORT?transport=udp`; `None` for TCP when TCP is off.
    pub fn turn_url(&self, transport: TurnTransport) -> Option<String> {
        if transport == TurnTransport::Tcp && !self.tcp {
            return None;
        }
        Some(format!("turn:{}?transport={transport}", self.addr))
    }

    /// A user name and password that the server accepts: the configured ones, or freshly minted
    /// REST credentials valid for the configured lifetime.
    pub fn credentials(&self) -> (String, String) {
        match &self.auth {
            TurnAuth::LongTerm { username, password } => (username.clone(), password.clone()),
            TurnAuth::RestSecret { secret } => rest_credentials(
                secret,
                REST_USER,
                SystemTime::now() + self.credential_lifetime,
            ),
        }
    }

    /// A user name and password of one case's own (`<user>.<case>`), so that the case's
    /// allocations can be released by user name when it ends ([`AllocationReleaser::release`]).
    pub fn case_credentials(&self, case: &str) -> (String, String) {
        match &self.auth {
            TurnAuth::LongTerm { username, password } => {
                (format!("{username}.{case}"), password.clone())
            }
            TurnAuth::RestSecret { secret } => rest_credentials(
                secret,
                &format!("{REST_USER}.{case}"),
                SystemTime::now() + self.credential_lifetime,
            ),
        }
    }

    /// The TURN URLs for `transports` (those the server accepts) with fresh credentials.
    pub fn ice_server(&self, transports: &[TurnTransport]) -> IceServer {
        self.ice_server_with(transports, self.credentials())
    }

    /// The TURN URLs for `transports` with the given user name and password.
    pub fn ice_server_with(
        &self,
        transports: &[TurnTransport],
        (username, credential): (String, String),
    ) -> IceServer {
        IceServer {
            urls: transports
                .iter()
                .filter_map(|t| self.turn_url(*t))
                .collect(),
            username,
            credential,
        }
    }

    /// The server as a plain STUN server (no credentials).
    pub fn stun_ice_server(&self) -> IceServer {
        IceServer {
            urls: vec![self.stun_url()],
            username: String::new(),
            credential: String::new(),
        }
    }
}

/// Why a STUN/TURN server did not start.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// A socket could not be opened (`address in use`, `address not available`, …).
    #[error("cannot start the {server} on {addr}{transport}: {reason}")]
    Bind {
        /// Which server (`embedded TURN server`, `coturn`).
        server: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// ` (TCP)` when the TCP socket failed, empty for UDP.
        transport: &'static str,
        /// What the system said, in words.
        reason: String,
    },
    /// The program is not installed.
    #[error(transparent)]
    Missing(#[from] ProvisionError),
    /// The server process ended while starting.
    #[error("{server} exited while starting ({status}); the end of its log:\n{log}")]
    Exited {
        /// Which server.
        server: &'static str,
        /// How it ended.
        status: String,
        /// The last lines of its log.
        log: String,
    },
    /// The server did not answer a STUN binding request in time.
    #[error(
        "{server} on {addr} did not answer a STUN binding request within {waited:?}; the end of its log:\n{log}"
    )]
    NotReady {
        /// Which server.
        server: &'static str,
        /// Where it should have answered.
        addr: SocketAddr,
        /// How long it was given.
        waited: Duration,
        /// The last lines of its log.
        log: String,
    },
    /// Anything else that went wrong while starting (a temp dir, a config file, the crate).
    #[error("cannot start the {server}: {reason}")]
    Other {
        /// Which server.
        server: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// Words for a failed bind, as in `address in use`.
pub(crate) fn bind_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => "address in use".into(),
        std::io::ErrorKind::AddrNotAvailable => "address not available on this machine".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Which implementation [`TurnServer::start`] runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TurnServerKind {
    /// [`EmbeddedTurn`].
    #[default]
    Embedded,
    /// [`Coturn`].
    Coturn,
}

impl TurnServerKind {
    /// `embedded` or `coturn`.
    pub fn as_str(self) -> &'static str {
        match self {
            TurnServerKind::Embedded => "embedded",
            TurnServerKind::Coturn => "coturn",
        }
    }
}

/// Ends the allocations of a case's own TURN user, on either kind of server.
#[derive(Clone)]
pub enum AllocationReleaser {
    /// Deletes them in the embedded server.
    Embedded(std::sync::Arc<::turn::server::Server>),
    /// Cancels them through coturn's admin CLI.
    Coturn(coturn::CoturnSessions),
}

impl AllocationReleaser {
    /// Ends `user`'s allocations, within `timeout` on the embedded server (coturn's CLI has a
    /// limit of its own).
    pub async fn release(&self, user: &str, timeout: Duration) {
        match self {
            AllocationReleaser::Embedded(server) => {
                let deleted = server.delete_allocations_by_username(user.to_string());
                let _ = tokio::time::timeout(timeout, deleted).await;
            }
            AllocationReleaser::Coturn(sessions) => sessions.release(user).await,
        }
    }
}

/// A running STUN/TURN server of either kind.
pub enum TurnServer {
    /// In this process.
    Embedded(EmbeddedTurn),
    /// A `turnserver` child process.
    Coturn(Box<Coturn>),
}

impl TurnServer {
    /// Starts a server of `kind` (coturn with its default [`CoturnOptions`]).
    pub async fn start(
        kind: TurnServerKind,
        options: TurnOptions,
    ) -> Result<TurnServer, TurnError> {
        TurnServer::start_with(kind, options, CoturnOptions::default()).await
    }

    /// Starts a server of `kind`; `coturn` says how to run coturn (ignored for the embedded one).
    pub async fn start_with(
        kind: TurnServerKind,
        options: TurnOptions,
        coturn: CoturnOptions,
    ) -> Result<TurnServer, TurnError> {
        Ok(match kind {
            TurnServerKind::Embedded => TurnServer::Embedded(EmbeddedTurn::start(options).await?),
            TurnServerKind::Coturn => {
                TurnServer::Coturn(Box::new(Coturn::start(options, coturn).await?))
            }
        })
    }

    /// Which implementation this is.
    pub fn kind(&self) -> TurnServerKind {
        match self {
            TurnServer::Embedded(_) => TurnServerKind::Embedded,
            TurnServer::Coturn(_) => TurnServerKind::Coturn,
        }
    }

    /// Where it listens and how to authenticate.
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            TurnServer::Embedded(s) => s.endpoint(),
            TurnServer::Coturn(s) => s.endpoint(),
        }
    }

    /// See [`Endpoint::stun_url`].
    pub fn stun_url(&self) -> String {
        self.endpoint().stun_url()
    }

    /// See [`Endpoint::turn_url`].
    pub fn turn_url(&self, transport: TurnTransport) -> Option<String> {
        self.endpoint().turn_url(transport)
    }

    /// See [`Endpoint::credentials`].
    pub fn credentials(&self) -> (String, String) {
        self.endpoint().credentials()
    }

    /// See [`Endpoint::ice_server`].
    pub fn ice_server(&self, transports: &[TurnTransport]) -> IceServer {
        self.endpoint().ice_server(transports)
    }

    /// The TURN URLs for `transports` for the case `case`, and the user of the case's own whose
    /// allocations [`AllocationReleaser::release`] ends once the case is over (`None`: the run's
    /// user, when coturn has no long-term case user left).
    pub fn case_ice_server(
        &self,
        transports: &[TurnTransport],
        case: &str,
    ) -> (IceServer, Option<String>) {
        match self {
            TurnServer::Embedded(s) => {
                let credentials = s.endpoint().case_credentials(case);
                let user = credentials.0.clone();
                (
                    s.endpoint().ice_server_with(transports, credentials),
                    Some(user),
                )
            }
            TurnServer::Coturn(s) => match s.case_credentials(case) {
                Some(credentials) => {
                    let user = credentials.0.clone();
                    (
                        s.endpoint().ice_server_with(transports, credentials),
                        Some(user),
                    )
                }
                None => (self.ice_server(transports), None),
            },
        }
    }

    /// What ends a case user's allocations once the case is over.
    pub fn releaser(&self) -> Option<AllocationReleaser> {
        match self {
            TurnServer::Embedded(s) => s.allocations().map(AllocationReleaser::Embedded),
            TurnServer::Coturn(s) => Some(AllocationReleaser::Coturn(s.sessions())),
        }
    }

    /// Every relayed address the server has allocated since it started, in order.
    pub fn relayed_addresses(&self) -> Vec<SocketAddr> {
        match self {
            TurnServer::Embedded(s) => s.relayed_addresses(),
            TurnServer::Coturn(s) => s.relayed_addresses(),
        }
    }

    /// Stops the server and waits until its sockets (or its process) are gone.
    pub async fn close(self) {
        match self {
            TurnServer::Embedded(s) => s.close().await,
            TurnServer::Coturn(s) => (*s).close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_password_matches_coturns_definition() {
        // base64(HMAC-SHA1("secret", "1700000000:alice")), computed independently with
        // `printf %s 1700000000:alice | openssl dgst -sha1 -hmac secret -binary | base64`.
        assert_eq!(
            rest_password("secret", "1700000000:alice"),
            "d8soP47RbdIKLDUOpnJPVQyq5Ts="
        );
        let (user, pass) = rest_credentials(
            "secret",
            "alice",
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        );
        assert_eq!(user, "1700000000:alice");
        assert_eq!(pass, rest_password("secret", "1700000000:alice"));
    }

    #[test]
    fn urls_and_ice_server_json() {
        let options = TurnOptions {
            tcp: false,
            ..TurnOptions::loopback(TurnAuth::LongTerm {
                username: "u".into(),
                password: "p".into(),
            })
        };
        let endpoint = Endpoint::new("127.0.0.1:3478".parse().unwrap(), &options);
        assert_eq!(endpoint.stun_url(), "stun:127.0.0.1:3478");
        assert_eq!(
            endpoint.turn_url(TurnTransport::Udp).as_deref(),
            Some("turn:127.0.0.1:3478?transport=udp")
        );
        assert_eq!(endpoint.turn_url(TurnTransport::Tcp), None);
        let server = endpoint.ice_server(&[TurnTransport::Udp, TurnTransport::Tcp]);
        assert_eq!(
            serde_json::to_value(&server).unwrap(),
            serde_json::json!({
                "urls": ["turn:127.0.0.1:3478?transport=udp"],
                "username": "u",
                "credential": "p",
            })
        );
        assert_eq!(
            serde_json::to_value(endpoint.stun_ice_server()).unwrap(),
            serde_json::json!({"urls": ["stun:127.0.0.1:3478"]})
        );
        let v6 = Endpoint::new("[::1]:3478".parse().unwrap(), &options);
        assert_eq!(v6.stun_url(), "stun:[::1]:3478");
    }

    #[test]
    fn bind_error_reads_well() {
        let e = TurnError::Bind {
            server: "embedded TURN server",
            addr: "127.0.0.1:3478".parse().unwrap(),
            transport: "",
            reason: bind_reason(&std::io::Error::from(std::io::ErrorKind::AddrInUse)),
        };
        assert_eq!(
            e.to_string(),
            "cannot start the embedded TURN server on 127.0.0.1:3478: address in use"
        );
    }
}
