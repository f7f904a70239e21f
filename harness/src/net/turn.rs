//! The embedded STUN and TURN server: webrtc-rs's `turn` crate, in this process.
//!
//! The crate's server answers STUN binding requests and TURN requests on any datagram socket
//! (`webrtc_util::Conn`) and relays through UDP sockets it is given. It has no TCP listener of its
//! own; `net::tcp` adds one, so `turn:…?transport=tcp` works too. Relayed addresses are on the
//! listening IP, on ports the system chooses.
//!
//! Known departures of the crate from RFC 8489/8656, visible to clients: a request whose
//! MESSAGE-INTEGRITY does not verify (a wrong password) or whose user is unknown (an expired REST
//! user name) is answered with **400 Bad Request**, not 401.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::net::{TcpListener, UdpSocket};
use turn::auth::{AuthHandler, generate_auth_key};
use turn::relay::RelayAddressGenerator;
use turn::server::Server;
use turn::server::config::{ConnConfig, ServerConfig};
use webrtc_util::Conn;

use super::tcp::TcpListenerConn;
use super::{Endpoint, TurnAuth, TurnError, TurnOptions, bind_reason, rest_password};

const SERVER: &str = "embedded TURN server";

/// How many times a free port is looked for when UDP got one that TCP cannot have.
const PORT_ATTEMPTS: usize = 10;

/// How long [`EmbeddedTurn::close`] waits for the server to let go of its sockets.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// A STUN and TURN server running in this process. Dropping it stops it.
pub struct EmbeddedTurn {
    endpoint: Endpoint,
    server: Option<Arc<Server>>,
    /// The listening sockets, to see them released on close.
    sockets: Vec<Weak<dyn Conn + Send + Sync>>,
    /// The TCP listener, to shut it down on close.
    tcp: Option<Weak<TcpListenerConn>>,
    /// Every relayed address handed out so far.
    relayed: Arc<Mutex<Vec<SocketAddr>>>,
}

impl EmbeddedTurn {
    /// Opens the listening sockets and starts serving.
    pub async fn start(options: TurnOptions) -> Result<EmbeddedTurn, TurnError> {
        let (udp, tcp) = bind(&options).await?;
        let addr = udp.local_addr().map_err(|e| TurnError::Other {
            server: SERVER,
            reason: e.to_string(),
        })?;
        let mut conns: Vec<Arc<dyn Conn + Send + Sync>> = vec![Arc::new(udp)];
        let mut tcp_listener = None;
        if let Some(tcp) = tcp {
            let tcp = Arc::new(TcpListenerConn::new(tcp).map_err(|e| TurnError::Other {
                server: SERVER,
                reason: e.to_string(),
            })?);
            tcp_listener = Some(Arc::downgrade(&tcp));
            conns.push(tcp);
        }
        let sockets = conns.iter().map(Arc::downgrade).collect();
        let relayed = Arc::new(Mutex::new(Vec::new()));
        let conn_configs = conns
            .into_iter()
            .map(|conn| ConnConfig {
                conn,
                relay_addr_generator: Box::new(LocalRelay {
                    ip: options.ip,
                    relayed: relayed.clone(),
                }),
            })
            .collect();
        let auth_handler: Arc<dyn AuthHandler + Send + Sync> = match &options.auth {
            TurnAuth::LongTerm { username, password } => Arc::new(OneUser {
                username: username.clone(),
                password: password.clone(),
                realm: options.realm.clone(),
            }),
            TurnAuth::RestSecret { secret } => Arc::new(RestSecret {
                secret: secret.clone(),
                realm: options.realm.clone(),
            }),
        };
        let server = Server::new(ServerConfig {
            conn_configs,
            realm: options.realm.clone(),
            auth_handler,
            channel_bind_timeout: Duration::ZERO, // the crate's default, 10 minutes
            alloc_close_notify: None,
        })
        .await
        .map_err(|e| TurnError::Other {
            server: SERVER,
            reason: e.to_string(),
        })?;
        Ok(EmbeddedTurn {
            endpoint: Endpoint::new(addr, &options),
            server: Some(Arc::new(server)),
            sockets,
            tcp: tcp_listener,
            relayed,
        })
    }

    /// Every relayed address this server has allocated since it started, in order.
    pub fn relayed_addresses(&self) -> Vec<SocketAddr> {
        self.relayed.lock().unwrap().clone()
    }

    /// The server, to release allocations by user name. A client that leaves without
    /// deallocating keeps its allocation for its lifetime (10 minutes); a later client that gets
    /// the same local port (the same 5-tuple) would then be refused with 437 Allocation Mismatch,
    /// and not every stack retries from another port (libjuice does not).
    pub fn allocations(&self) -> Option<Arc<Server>> {
        self.server.clone()
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
    pub fn turn_url(&self, transport: super::TurnTransport) -> Option<String> {
        self.endpoint.turn_url(transport)
    }

    /// See [`Endpoint::credentials`].
    pub fn credentials(&self) -> (String, String) {
        self.endpoint.credentials()
    }

    /// See [`Endpoint::ice_server`].
    pub fn ice_server(&self, transports: &[super::TurnTransport]) -> super::IceServer {
        self.endpoint.ice_server(transports)
    }

    /// Stops serving, releases every allocation, and waits until the listening sockets are closed.
    pub async fn close(mut self) {
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, server.close()).await;
        }
        if let Some(tcp) = self.tcp.as_ref().and_then(Weak::upgrade) {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, tcp.shutdown()).await;
        }
        // The server's read loops drop their sockets on the way out, a moment after `close`.
        let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
        while self.sockets.iter().any(|s| s.strong_count() > 0)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Binds UDP and (when asked) TCP on the same port; for port 0, a port free for both.
async fn bind(options: &TurnOptions) -> Result<(UdpSocket, Option<TcpListener>), TurnError> {
    let wanted = SocketAddr::new(options.ip, options.port);
    let fail = |addr: SocketAddr, transport: &'static str, e: &std::io::Error| TurnError::Bind {
        server: SERVER,
        addr,
        transport,
        reason: bind_reason(e),
    };
    let attempts = if options.port == 0 { PORT_ATTEMPTS } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(wanted)
            .await
            .map_err(|e| fail(wanted, "", &e))?;
        if !options.tcp {
            return Ok((udp, None));
        }
        let addr = udp.local_addr().map_err(|e| fail(wanted, "", &e))?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, Some(tcp))),
            Err(e) => last = Some(fail(addr, " (TCP)", &e)),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// Relays from UDP sockets on the listening IP, on ports the system chooses.
struct LocalRelay {
    ip: std::net::IpAddr,
    relayed: Arc<Mutex<Vec<SocketAddr>>>,
}

#[async_trait]
impl RelayAddressGenerator for LocalRelay {
    fn validate(&self) -> Result<(), turn::Error> {
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        if use_ipv4 != self.ip.is_ipv4() {
            return Err(turn::Error::Other(format!(
                "this server relays from {} only",
                self.ip
            )));
        }
        let socket = UdpSocket::bind(SocketAddr::new(self.ip, requested_port)).await?;
        let addr = socket.local_addr()?;
        self.relayed.lock().unwrap().push(addr);
        Ok((Arc::new(socket), addr))
    }
}

/// Long-term credentials for one user, and for each case's own name of it (`<user>.<case>`,
/// [`Endpoint::case_credentials`]) with the same password.
struct OneUser {
    username: String,
    password: String,
    realm: String,
}

impl AuthHandler for OneUser {
    fn auth_handle(
        &self,
        username: &str,
        _realm: &str,
        _src_addr: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        let ours = username == self.username
            || username
                .strip_prefix(self.username.as_str())
                .is_some_and(|rest| rest.starts_with('.'));
        if ours {
            Ok(generate_auth_key(username, &self.realm, &self.password))
        } else {
            Err(turn::Error::Other(format!("no user {username}")))
        }
    }
}

/// TURN REST credentials: `<expiry>:<user>` (or just `<expiry>`), checked for expiry.
///
/// The crate's own `LongTermAuthHandler` accepts only a bare timestamp, not the `<expiry>:<user>`
/// form that coturn and the REST draft use, hence this one.
struct RestSecret {
    secret: String,
    realm: String,
}

impl AuthHandler for RestSecret {
    fn auth_handle(
        &self,
        username: &str,
        _realm: &str,
        _src_addr: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        let expiry = username.split(':').next().unwrap_or_default();
        let expiry: u64 = expiry
            .parse()
            .map_err(|_| turn::Error::Other(format!("{username} has no expiry time")))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if expiry < now {
            return Err(turn::Error::Other(format!("{username} has expired")));
        }
        let password = rest_password(&self.secret, username);
        Ok(generate_auth_key(username, &self.realm, &password))
    }
}
