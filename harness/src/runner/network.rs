//! The network of one `[network]` case: each peer in a namespace of its own behind its NAT, the
//! STUN/TURN servers on the public side, and the relay and page server reachable from inside.
//!
//! Everything here belongs to one case and goes when the case ends ([`CaseNetwork::tear_down`]):
//! the servers, the forwarders and the namespaces, in that order — but a browser peer's namespace,
//! which is kept with its browser for the next case (`kept_browsers.rs`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::ice_servers::{IceServers, servers_needed};
use crate::net::TurnServerKind;
use crate::net::netns::{Impairment, NetNs, NetnsError, PeerSpec, TcpForwarder, Topology};
use crate::outcome::{PeerPlace, Sides};
use crate::page_server::PeerPage;
use crate::peer::browser::BrowserPeer;
use crate::peer::in_namespace::NamespacedPeer;
use crate::peer::native::NativePeer;
use crate::peer::{Peer, Role, SharedBrowser};
use crate::plan::Case;
use crate::provision::{self, BrowserInstall, ProvisionError};
use crate::scenario::{HostCandidates, ImpairmentSpec, NetworkSpec, PeerKind};

use super::BrowserKey;
use super::kept_browsers::{KeptBrowser, KeptBrowsers};

/// Why a case's network could not be set up.
pub enum NetworkSetupError {
    /// Namespaces cannot be used here (not root, `ip`/`nft` missing): the case is skipped.
    Unavailable(String),
    /// Something failed while building it: the case fails.
    Failed(String),
}

/// The network of one running case.
pub struct CaseNetwork {
    topology: Option<Topology>,
    ice_servers: IceServers,
    /// The relay's and page server's loopback ports, inside each peer's namespace (but a kept
    /// browser's, which keeps its own).
    forwarders: Vec<TcpForwarder>,
    /// Per side (offerer first), the browser kept across cases that plays it, in its namespace.
    kept: [Option<(BrowserKey, KeptBrowser)>; 2],
}

impl CaseNetwork {
    /// Builds the namespaces for `case` (offerer first), starts the STUN/TURN servers its scenario
    /// names on the topology's public address, and opens `loopback_ports` (relay, page server) of
    /// the root namespace inside every peer's namespace.
    ///
    /// With `keep` (the run's kept browsers), each browser side takes an idle kept browser of its
    /// kind into the topology, or gets a new one (started when its page opens) that
    /// [`CaseNetwork::tear_down`] keeps for later cases.
    pub async fn build(
        case: &Case,
        spec: &NetworkSpec,
        loopback_ports: &[u16],
        install: bool,
        keep: Option<(&KeptBrowsers, &HashMap<PeerKind, BrowserInstall>)>,
    ) -> Result<CaseNetwork, NetworkSetupError> {
        let impairment = spec.impairment.map(to_impairment);
        let peers: Vec<PeerSpec> = [true, false]
            .into_iter()
            .map(|offerer| PeerSpec {
                nat: spec.nat_of(offerer),
                impairment,
            })
            .collect();
        // Not with mDNS host candidates: a browser's mDNS responder joins its multicast group on
        // the interfaces there are when it starts, so on the next case's link its names never
        // resolve (Firefox and Chromium then fail ICE; seen in mdns-host-candidates).
        let hosts = case.scenario.host_candidates;
        let browser_key = |kind: PeerKind| {
            let keeps = keep.is_some_and(|(_, installs)| installs.contains_key(&kind))
                && hosts == HostCandidates::Ip;
            keeps.then_some((kind, hosts))
        };
        let keys = [browser_key(case.offerer), browser_key(case.answerer)];
        let mut kept: [Option<(BrowserKey, KeptBrowser)>; 2] = [None, None];
        if let Some((browsers, _)) = keep {
            for (side, key) in keys.iter().enumerate() {
                kept[side] = key.and_then(|key| Some((key, browsers.take(key)?)));
            }
        }
        let homes: Vec<Option<NetNs>> = kept
            .iter()
            .map(|k| k.as_ref().map(|(_, kept)| kept.ns.clone()))
            .collect();
        let built = tokio::task::spawn_blocking(move || Topology::create_in(&peers, homes)).await;
        let built = match built {
            Ok(Ok(topology)) => Ok(topology),
            Ok(Err(NetnsError::Unavailable { reason })) => {
                Err(NetworkSetupError::Unavailable(reason))
            }
            Ok(Err(other)) => Err(NetworkSetupError::Failed(format!(
                "cannot build the network: {other}"
            ))),
            Err(e) => Err(NetworkSetupError::Failed(format!(
                "building the network stopped: {e}"
            ))),
        };
        let topology = match built {
            Ok(topology) => topology,
            Err(e) => {
                // The kept namespaces are as they were: keep them for another case.
                if let Some((browsers, _)) = keep {
                    for (key, browser) in kept.into_iter().flatten() {
                        browsers.put_back(key, browser);
                    }
                }
                return Err(e);
            }
        };
        let mut network = CaseNetwork {
            ice_servers: IceServers::none(),
            forwarders: Vec::new(),
            topology: Some(topology),
            kept: [None, None],
        };
        if let Some((_, installs)) = keep {
            for (side, key) in keys.into_iter().enumerate() {
                let Some(key) = key else { continue };
                if kept[side].is_none() {
                    let topology = network.topology.as_mut().expect("built above");
                    let ns = topology
                        .keep_peer_namespace(side)
                        .expect("the topology has both sides");
                    let browser =
                        SharedBrowser::unstarted_in(installs[&key.0].clone(), key.1, ns.clone());
                    let forwarders = open_ports(&ns, loopback_ports)
                        .await
                        .map_err(NetworkSetupError::Failed)?;
                    kept[side] = Some((
                        key,
                        KeptBrowser {
                            ns,
                            browser: Arc::new(browser),
                            forwarders,
                        },
                    ));
                }
            }
        }
        network.kept = kept;
        let failed = |e: String| NetworkSetupError::Failed(e);
        let harness_ip = IpAddr::V4(network.topology().harness_ip());
        let needed = servers_needed(std::slice::from_ref(case));
        network.ice_servers = IceServers::start_on(harness_ip, &needed, install)
            .await
            .map_err(|e| failed(format!("on the case's public network: {e}")))?;
        for (side, peer) in network.topology().peers().to_vec().iter().enumerate() {
            if network.kept[side].is_none() {
                let forwarders = open_ports(peer.ns(), loopback_ports)
                    .await
                    .map_err(failed)?;
                network.forwarders.extend(forwarders);
            }
        }
        Ok(network)
    }

    fn topology(&self) -> &Topology {
        self.topology
            .as_ref()
            .expect("the topology lives until tear_down")
    }

    /// The STUN/TURN servers of this case.
    pub fn ice_servers(&self) -> &IceServers {
        &self.ice_servers
    }

    /// Every namespace of the case's network: peers, NATs, the public segment.
    pub fn all_namespaces(&self) -> Vec<NetNs> {
        self.topology().all_netns()
    }

    /// The namespace of the peer playing `role`.
    pub fn namespace(&self, role: Role) -> &NetNs {
        let index = match role {
            Role::Offerer => 0,
            Role::Answerer => 1,
        };
        self.topology().peers()[index].ns()
    }

    /// Where each peer sits, for the report.
    pub fn places(&self) -> Sides<PeerPlace> {
        let place = |index: usize| {
            let peer = &self.topology().peers()[index];
            PeerPlace {
                nat: peer.nat(),
                address: peer.address().to_string(),
                public_ip: peer.public_ip().to_string(),
                namespace: peer.ns().name().to_string(),
            }
        };
        Sides {
            offerer: place(0),
            answerer: place(1),
        }
    }

    /// The peer of `kind` playing `role`, inside its namespace: a native peer on a thread of its
    /// own, a browser with a driver and browser of its own (logging into `browser_log`, if any).
    pub fn make_peer(
        &self,
        kind: PeerKind,
        role: Role,
        case: &Case,
        installs: &HashMap<PeerKind, BrowserInstall>,
        page: PeerPage,
        browser_log: Option<PathBuf>,
    ) -> Box<dyn Peer> {
        let side = match role {
            Role::Offerer => 0,
            Role::Answerer => 1,
        };
        if let Some((_, kept)) = &self.kept[side] {
            return Box::new(BrowserPeer::new(kept.browser.clone(), page));
        }
        let ns = self.namespace(role).clone();
        match kind {
            PeerKind::Native => {
                let profile = case.scenario.native_profile;
                Box::new(NamespacedPeer::new(ns, kind, move || {
                    Box::new(NativePeer::new(profile))
                }))
            }
            browser @ (PeerKind::Chromium | PeerKind::Firefox) => {
                Box::new(BrowserPeer::own_browser(
                    installs[&browser].clone(),
                    case.scenario.host_candidates,
                    Some(ns),
                    browser_log,
                    page,
                ))
            }
            PeerKind::External(_) => unreachable!("the runner makes external peers itself"),
        }
    }

    /// Stops the servers and removes the namespaces (the peers must be closed already), but those
    /// of kept browsers, which go back to `keep` without their link; returns what could not be
    /// cleaned up.
    pub async fn tear_down(mut self, keep: Option<&KeptBrowsers>) -> Vec<String> {
        self.ice_servers.close().await;
        self.forwarders.clear();
        let kept: Vec<(BrowserKey, KeptBrowser)> =
            self.kept.iter_mut().flat_map(Option::take).collect();
        let Some(topology) = self.topology.take() else {
            return Vec::new();
        };
        let problems = match tokio::task::spawn_blocking(move || topology.destroy()).await {
            Ok(Ok(())) => Vec::new(),
            Ok(Err(e)) => vec![e.to_string()],
            Err(e) => vec![format!("removing the network stopped: {e}")],
        };
        for (key, browser) in kept {
            match keep {
                // A namespace that may still hold this case's link is no home for the next.
                Some(keep) if problems.is_empty() => keep.put_back(key, browser),
                _ => browser.quit().await,
            }
        }
        problems
    }
}

/// What a run with `[network]` `cases` does once, before any case: provisions nftables and (where a case names it) coturn. A missing coturn is a
/// set-up error of the run (exit code 2); a missing nftables is not: those cases are skipped with
/// the reason (`Topology::create` finds it missing), and a run of other cases goes on.
pub async fn prepare_run(cases: &[Case], install: bool) -> Result<(), ProvisionError> {
    let _ = tokio::task::spawn_blocking(move || provision::nftables(install)).await;
    let needs_coturn = servers_needed(cases)
        .iter()
        .any(|need| need.kind == TurnServerKind::Coturn);
    if needs_coturn {
        tokio::task::spawn_blocking(move || provision::coturn(install))
            .await
            .unwrap_or_else(|e| Err(provision::coturn_missing(&format!("coturn ({e})"))))?;
    }
    Ok(())
}

/// Opens the root namespace's loopback `ports` (relay, page server) inside `ns`.
async fn open_ports(ns: &NetNs, ports: &[u16]) -> Result<Vec<TcpForwarder>, String> {
    let mut forwarders = Vec::new();
    for &port in ports {
        let forwarder = TcpForwarder::into_root(ns.clone(), port)
            .await
            .map_err(|e| format!("cannot open port {port} inside {}: {e}", ns.name()))?;
        forwarders.push(forwarder);
    }
    Ok(forwarders)
}

fn to_impairment(spec: ImpairmentSpec) -> Impairment {
    let ms = |v: f64| std::time::Duration::from_secs_f64(v.max(0.0) / 1000.0);
    Impairment {
        delay: ms(spec.delay_ms),
        jitter: ms(spec.jitter_ms),
        loss_percent: spec.loss_percent,
        rate_bits_per_sec: None,
    }
}
