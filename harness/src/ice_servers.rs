//! The STUN/TURN servers a run starts for its scenarios, and the ICE servers each case's peers get.
//!
//! Scenarios name servers symbolically (`[ice] stun = "embedded"`, `turn = { server = "coturn",
//! transport = "tcp", credentials = "rest" }`). Before the first case, the run starts one server per
//! implementation and kind of credentials its cases need ([`servers_needed`], [`IceServers::start`]),
//! all on this machine's own address ([`crate::net::addrs::server_ip`]), with TURN over UDP and TCP
//! on one port. For each case, [`IceServers::for_case`] turns the scenario's `[ice]` table into the
//! `RTCIceServer` list both peers get (REST credentials minted for the case) and a description of
//! it for the report, without passwords. The servers stop when the run ends.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::net::{
    CoturnOptions, DEFAULT_REALM, Endpoint, IceServer, TurnAuth, TurnError, TurnOptions,
    TurnServer, TurnServerKind, TurnTransport, addrs, random_token,
};
use crate::plan::Case;
use crate::scenario::{IceSettings, TurnCredentials};

/// The user name of long-term credentials (its password is random, new for every run).
pub const LONG_TERM_USER: &str = "rtc-interop";

/// How long REST credentials minted for a case stay valid: longer than any case.
const REST_LIFETIME: Duration = Duration::from_secs(3600);

/// How long releasing a case's TURN allocations may take.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// One server a run starts: an implementation, and how clients authenticate to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerNeed {
    /// Embedded or coturn.
    pub kind: TurnServerKind,
    /// Long-term or REST credentials.
    pub credentials: TurnCredentials,
}

impl std::fmt::Display for ServerNeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} server with {} credentials",
            self.kind.as_str(),
            self.credentials.as_str()
        )
    }
}

/// The servers `cases` need. A STUN server is any server of its kind (a STUN binding needs no
/// credentials), so STUN alone adds a long-term server only when no TURN use of that kind does.
pub fn servers_needed(cases: &[Case]) -> BTreeSet<ServerNeed> {
    let mut needed: BTreeSet<ServerNeed> = cases
        .iter()
        .filter_map(|case| case.scenario.ice.turn)
        .map(|turn| ServerNeed {
            kind: turn.server,
            credentials: turn.credentials,
        })
        .collect();
    for kind in cases.iter().filter_map(|case| case.scenario.ice.stun) {
        if !needed.iter().any(|n| n.kind == kind) {
            needed.insert(ServerNeed {
                kind,
                credentials: TurnCredentials::LongTerm,
            });
        }
    }
    needed
}

/// One ICE server a case gave its peers, as the report shows it (no password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IceServerUse {
    /// `embedded` or `coturn` (started by the run), or `scenario` (`[[ice.servers]]`).
    pub kind: String,
    /// The URLs the peers got.
    pub urls: Vec<String>,
    /// How peers reach a TURN server the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<TurnTransport>,
    /// How peers authenticate to a TURN server the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<TurnCredentials>,
}

/// The ICE servers of one case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseIceServers {
    /// What both peers are given (`RTCConfiguration.iceServers`).
    pub servers: Vec<IceServer>,
    /// The same, described for the report.
    pub used: Vec<IceServerUse>,
    /// The case's own TURN user on each server that has one, released by
    /// [`IceServers::release`] when the case ends.
    users: Vec<(ServerNeed, String)>,
}

/// The STUN/TURN servers of a run; [`IceServers::close`] stops them.
pub struct IceServers {
    servers: Mutex<BTreeMap<ServerNeed, TurnServer>>,
}

impl IceServers {
    /// No servers: for runs whose scenarios name none.
    pub fn none() -> IceServers {
        IceServers {
            servers: Mutex::new(BTreeMap::new()),
        }
    }

    /// Starts every server in `needed` at the same time, on [`addrs::server_ip`]; `install` lets
    /// a missing coturn be installed. If one fails, those already started are stopped again.
    pub async fn start(
        needed: &BTreeSet<ServerNeed>,
        install: bool,
    ) -> Result<IceServers, TurnError> {
        IceServers::start_on(addrs::server_ip(), needed, install).await
    }

    /// As [`IceServers::start`], listening and relaying on `ip` (for peers in network namespaces:
    /// the topology's harness address, the only one of this machine they can reach).
    pub async fn start_on(
        ip: IpAddr,
        needed: &BTreeSet<ServerNeed>,
        install: bool,
    ) -> Result<IceServers, TurnError> {
        let started = futures_util::future::join_all(needed.iter().map(|&need| async move {
            let server = TurnServer::start_with(
                need.kind,
                server_options(ip, need.credentials),
                CoturnOptions {
                    install,
                    ..CoturnOptions::default()
                },
            )
            .await?;
            Ok::<_, TurnError>((need, server))
        }))
        .await;
        let mut servers = BTreeMap::new();
        let mut failure = None;
        for result in started {
            match result {
                Ok((need, server)) => {
                    servers.insert(need, server);
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        let servers = IceServers {
            servers: Mutex::new(servers),
        };
        match failure {
            None => Ok(servers),
            Some(e) => {
                servers.close().await;
                Err(e)
            }
        }
    }

    /// Where the running server for `need` listens, and how to authenticate to it.
    pub fn endpoint(&self, need: ServerNeed) -> Option<Endpoint> {
        let servers = self.servers.lock().unwrap();
        servers.get(&need).map(|s| s.endpoint().clone())
    }

    /// The servers running, with where they listen.
    pub fn running(&self) -> Vec<(ServerNeed, SocketAddr)> {
        let servers = self.servers.lock().unwrap();
        servers
            .iter()
            .map(|(need, s)| (*need, s.endpoint().addr()))
            .collect()
    }

    /// Every relayed address the server for `need` has allocated so far.
    pub fn relayed_addresses(&self, need: ServerNeed) -> Vec<SocketAddr> {
        let servers = self.servers.lock().unwrap();
        servers
            .get(&need)
            .map(TurnServer::relayed_addresses)
            .unwrap_or_default()
    }

    /// The ICE servers the case `case_name` (unique in the run) gives its peers: the STUN
    /// server, the TURN server (with a user of the case's own on the embedded server, fresh REST
    /// credentials each call), then `[[ice.servers]]` as written. An error names a server the run
    /// did not start.
    pub fn for_case(&self, ice: &IceSettings, case_name: &str) -> Result<CaseIceServers, String> {
        let servers = self.servers.lock().unwrap();
        let mut case = CaseIceServers::default();
        if let Some(kind) = ice.stun {
            let server = servers
                .iter()
                .find(|(need, _)| need.kind == kind)
                .map(|(_, server)| server)
                .ok_or_else(|| format!("the run started no {} STUN server", kind.as_str()))?;
            let stun = server.endpoint().stun_ice_server();
            case.used.push(IceServerUse {
                kind: kind.as_str().into(),
                urls: stun.urls.clone(),
                transport: None,
                credentials: None,
            });
            case.servers.push(stun);
        }
        if let Some(turn) = ice.turn {
            let need = ServerNeed {
                kind: turn.server,
                credentials: turn.credentials,
            };
            let server = servers
                .get(&need)
                .ok_or_else(|| format!("the run started no {need}"))?;
            let (ice_server, user) = server.case_ice_server(&[turn.transport], case_name);
            case.users.extend(user.map(|user| (need, user)));
            case.used.push(IceServerUse {
                kind: turn.server.as_str().into(),
                urls: ice_server.urls.clone(),
                transport: Some(turn.transport),
                credentials: Some(turn.credentials),
            });
            case.servers.push(ice_server);
        }
        for given in &ice.servers {
            case.used.push(IceServerUse {
                kind: "scenario".into(),
                urls: given.urls.clone(),
                transport: None,
                credentials: None,
            });
            case.servers.push(IceServer {
                urls: given.urls.clone(),
                username: given.username.clone(),
                credential: given.credential.clone(),
            });
        }
        Ok(case)
    }

    /// Ends the allocations the case made with its own TURN users, so that none outlives it: a
    /// later case's client on the same local port would otherwise be refused (437 Allocation
    /// Mismatch) while the stale allocation lives.
    pub async fn release(&self, case: &CaseIceServers) {
        let handles: Vec<_> = {
            let servers = self.servers.lock().unwrap();
            case.users
                .iter()
                .filter_map(|(need, user)| Some((servers.get(need)?.releaser()?, user)))
                .collect()
        };
        for (releaser, user) in handles {
            releaser.release(user, RELEASE_TIMEOUT).await;
        }
    }

    /// Stops every server and waits until they are gone. Safe to call more than once.
    pub async fn close(&self) {
        let servers = std::mem::take(&mut *self.servers.lock().unwrap());
        futures_util::future::join_all(servers.into_values().map(TurnServer::close)).await;
    }
}

/// A server on `ip`, any free port, UDP and TCP, with fresh random credentials.
fn server_options(ip: IpAddr, credentials: TurnCredentials) -> TurnOptions {
    let auth = match credentials {
        TurnCredentials::LongTerm => TurnAuth::LongTerm {
            username: LONG_TERM_USER.into(),
            password: random_token(),
        },
        TurnCredentials::Rest => TurnAuth::RestSecret {
            secret: random_token(),
        },
    };
    TurnOptions {
        ip,
        port: 0,
        tcp: true,
        realm: DEFAULT_REALM.into(),
        auth,
        credential_lifetime: REST_LIFETIME,
    }
}

/// Parses a server kind's name (`--turn coturn`).
pub fn parse_server_kind(text: &str) -> Result<TurnServerKind, String> {
    match text.trim() {
        "embedded" => Ok(TurnServerKind::Embedded),
        "coturn" => Ok(TurnServerKind::Coturn),
        other => Err(format!(
            "unknown STUN/TURN server `{other}` (there are: embedded, coturn)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    fn cases(toml: &str) -> Vec<Case> {
        let text = format!("{toml}\n[data_channel]\nlabel = \"x\"\n");
        let scenario = crate::scenario::parse(&text, "s", Path::new("s.toml")).unwrap();
        crate::plan::expand(&Arc::new(scenario), &crate::scenario::PeerKind::CORE)
    }

    fn need(kind: TurnServerKind, credentials: TurnCredentials) -> ServerNeed {
        ServerNeed { kind, credentials }
    }

    #[test]
    fn one_server_per_kind_and_credentials_stun_shares_it() {
        let mut all = cases("[ice]\nstun = \"embedded\"\n");
        assert_eq!(
            servers_needed(&all),
            BTreeSet::from([need(TurnServerKind::Embedded, TurnCredentials::LongTerm)])
        );
        all.extend(cases(
            "[ice]\nstun = \"coturn\"\nturn = { server = \"coturn\", credentials = \"rest\" }\n",
        ));
        all.extend(cases(
            "[ice]\nturn = { server = \"coturn\", transport = \"tcp\", credentials = \"rest\" }\n",
        ));
        assert_eq!(
            servers_needed(&all),
            BTreeSet::from([
                need(TurnServerKind::Embedded, TurnCredentials::LongTerm),
                need(TurnServerKind::Coturn, TurnCredentials::Rest),
            ])
        );
        assert!(servers_needed(&cases("")).is_empty());
    }

    /// Allocates with `user`/`password` and leaves without deallocating (a peer that crashed or
    /// just quit): the allocation stays on the server. Returns its relayed address.
    async fn allocate_and_vanish(server: SocketAddr, user: &str, password: &str) -> SocketAddr {
        use turn::client::{Client, ClientConfig};
        use webrtc_util::Conn;
        let conn = tokio::net::UdpSocket::bind(SocketAddr::new(server.ip(), 0))
            .await
            .unwrap();
        let client = Client::new(ClientConfig {
            stun_serv_addr: server.to_string(),
            turn_serv_addr: server.to_string(),
            username: user.into(),
            password: password.into(),
            realm: String::new(),
            software: String::new(),
            rto_in_ms: 100,
            conn: Arc::new(conn),
            vnet: None,
        })
        .await
        .unwrap();
        client.listen().await.unwrap();
        let relay = client.allocate().await.unwrap();
        let relayed = relay.local_addr().unwrap();
        // Dropped, not closed: no Refresh with lifetime 0 is sent.
        drop(relay);
        relayed
    }

    /// Whether the server still holds the relayed socket of an allocation.
    fn still_allocated(relayed: SocketAddr) -> bool {
        std::net::UdpSocket::bind(relayed).is_err()
    }

    /// Whether the relayed socket of a deleted allocation is freed within a second. The server
    /// forgets the allocation before `release` returns, but its relay task drops the socket a
    /// moment later, on its own schedule (on a busy 2-core machine, after the assertion).
    async fn freed_soon(relayed: SocketAddr) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while still_allocated(relayed) {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// A client that leaves without deallocating keeps its allocation for 10 minutes, and a later
    /// client on the same local port (the same 5-tuple) is refused with 437 Allocation Mismatch:
    /// so a case's own TURN user's allocations end with the case, and only that case's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_case_ends_its_own_allocations_and_no_other_cases() {
        for kind in [TurnServerKind::Embedded, TurnServerKind::Coturn] {
            for credentials in [TurnCredentials::LongTerm, TurnCredentials::Rest] {
                check_cases_end_their_own_allocations(need(kind, credentials)).await;
            }
        }
    }

    async fn check_cases_end_their_own_allocations(server: ServerNeed) {
        let servers = IceServers::start(&BTreeSet::from([server]), true)
            .await
            .unwrap();
        let addr = servers.endpoint(server).unwrap().addr();
        let scenario = format!(
            "[ice]\nturn = {{ server = \"{}\", credentials = \"{}\" }}\n",
            server.kind.as_str(),
            server.credentials.as_str()
        );
        let ice = &cases(&scenario)[0].scenario.ice;
        let allocate = |case: &CaseIceServers| {
            let server = case.servers[0].clone();
            async move { allocate_and_vanish(addr, &server.username, &server.credential).await }
        };
        let first = servers.for_case(ice, "case-1").unwrap();
        let second = servers.for_case(ice, "case-2").unwrap();
        assert_ne!(first.servers[0].username, second.servers[0].username);
        let (one, two) = (allocate(&first).await, allocate(&second).await);
        assert!(still_allocated(one) && still_allocated(two));

        servers.release(&first).await;
        assert!(
            freed_soon(one).await,
            "{server}: case 1's allocation outlived the case"
        );
        assert!(
            still_allocated(two),
            "{server}: case 2's allocation ended with case 1"
        );
        servers.release(&second).await;
        assert!(freed_soon(two).await, "{server}");
        // A released long-term case user is free for the next case.
        let third = servers.for_case(ice, "case-3").unwrap();
        let user = |case: &CaseIceServers| {
            let name = &case.servers[0].username;
            // A REST user name starts with its expiry time.
            name.rsplit(':').next().unwrap().to_string()
        };
        assert_eq!(
            user(&third),
            user(&first).replace("case-1", "case-3"),
            "{server}"
        );
        servers.close().await;
    }

    #[tokio::test]
    async fn a_case_gets_urls_and_credentials_and_the_report_gets_no_password() {
        let needed = BTreeSet::from([
            need(TurnServerKind::Embedded, TurnCredentials::LongTerm),
            need(TurnServerKind::Embedded, TurnCredentials::Rest),
        ]);
        let servers = IceServers::start(&needed, false).await.unwrap();
        let long_term = servers
            .endpoint(need(TurnServerKind::Embedded, TurnCredentials::LongTerm))
            .unwrap()
            .addr();
        let rest = servers
            .endpoint(need(TurnServerKind::Embedded, TurnCredentials::Rest))
            .unwrap()
            .addr();
        assert_eq!(servers.running().len(), 2);
        assert_eq!(long_term.ip(), addrs::server_ip());
        assert_ne!(long_term, rest);

        let case = &cases(
            "[ice]\nstun = \"embedded\"\nturn = { server = \"embedded\", transport = \"tcp\", credentials = \"rest\" }\n",
        )[0];
        let first = servers.for_case(&case.scenario.ice, "case-1").unwrap();
        let stun_url = first.servers[0].urls[0].clone();
        assert!(
            stun_url == format!("stun:{long_term}") || stun_url == format!("stun:{rest}"),
            "{stun_url}"
        );
        assert_eq!(first.servers[0].username, "");
        assert_eq!(
            first.servers[1].urls,
            [format!("turn:{rest}?transport=tcp")]
        );
        assert!(
            first.servers[1].username.ends_with(":rtc-interop.case-1"),
            "{:?}",
            first.servers[1]
        );
        assert!(!first.servers[1].credential.is_empty());
        assert_eq!(
            first.used[1],
            IceServerUse {
                kind: "embedded".into(),
                urls: vec![format!("turn:{rest}?transport=tcp")],
                transport: Some(TurnTransport::Tcp),
                credentials: Some(TurnCredentials::Rest),
            }
        );
        let json = serde_json::to_string(&first.used).unwrap();
        assert!(!json.contains(&first.servers[1].credential), "{json}");

        let case = &cases("[ice]\nturn = { server = \"embedded\" }\n")[0];
        let long = servers.for_case(&case.scenario.ice, "case-2").unwrap();
        assert_eq!(long.servers.len(), 1);
        assert_eq!(
            long.servers[0].urls,
            [format!("turn:{long_term}?transport=udp")]
        );
        assert_eq!(long.servers[0].username, format!("{LONG_TERM_USER}.case-2"));
        assert_eq!(long.servers[0].credential.len(), 32);

        let case = &cases("[ice]\nturn = { server = \"coturn\" }\n")[0];
        let e = servers.for_case(&case.scenario.ice, "case-3").unwrap_err();
        assert_eq!(
            e,
            "the run started no coturn server with long-term credentials"
        );
        servers.close().await;
        assert!(servers.running().is_empty());
        // Its ports are free again.
        std::net::UdpSocket::bind(long_term).unwrap();
        std::net::TcpListener::bind(rest).unwrap();
    }

    #[test]
    fn server_kinds_parse() {
        assert_eq!(parse_server_kind("coturn"), Ok(TurnServerKind::Coturn));
        assert!(
            parse_server_kind("pion")
                .unwrap_err()
                .contains("embedded, coturn")
        );
    }
}
