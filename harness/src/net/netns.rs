//! Peers behind real NATs, built from Linux network namespaces.
//!
//! A [`Topology`] is the network of one case: a "public" segment that stands in for the internet,
//! the harness on it at a public address, and per peer either a NAT namespace with the peer's
//! namespace behind it, or (for [`NatType::None`]) the peer's namespace directly on the segment.
//! Peers then gather real host, server-reflexive, peer-reflexive and relay candidates, because their
//! packets really are rewritten by the kernel's NAT on the way.
//!
//! ```text
//!  root namespace: the harness (relay, page server, STUN/TURN server, forwarders)
//!    rtci-<pid hex>-<n hex>   203.0.113.B+1/28  harness_ip()   (+ extra addresses on request)
//!        │ veth
//!  ┌─────┴──────────────────────── rtci-<pid>-<n>-pub ────────────────────────────┐
//!  │  br0 203.0.113.B+14/28: a switch, and a router with no route beyond the /28   │
//!  └─────┬───────────────────────────────────────┬────────────────────────────────┘
//!        │ veth p1                               │ veth p2
//!  ┌─────┴─── rtci-<pid>-<n>-nat1 ───┐   ┌───────┴─── rtci-<pid>-<n>-peer2 ───┐
//!  │ wan 203.0.113.B+2/28            │   │ eth0 203.0.113.B+3/28              │
//!  │ nft: the NAT kind of peer 1     │   │ (NatType::None: no NAT)            │
//!  │ lan 10.S.1.1/24                 │   └────────────────────────────────────┘
//!  └─────┬───────────────────────────┘
//!        │ veth, or a user-space wire when the link is impaired
//!  ┌─────┴─── rtci-<pid>-<n>-peer1 ──┐
//!  │ eth0 10.S.1.2/24                │
//!  │ default via 10.S.1.1            │
//!  └─────────────────────────────────┘
//! ```
//!
//! **Why a public namespace joined to the root namespace by one veth** (and not a bridge in the root
//! namespace): every device of a topology lives in, or is paired with, a namespace the topology
//! owns, so deleting the namespaces deletes everything, even what a crashed run left behind. The
//! root namespace gains only the veth end, its addresses and routes through it, which all vanish
//! with the veth; no root sysctl, forwarding setting or firewall rule is touched. The harness keeps
//! running in the root namespace and is reachable from every peer at [`Topology::harness_ip`]
//! (servers must listen on that address or on `0.0.0.0`, not on loopback). The router in the public
//! namespace knows no route beyond the topology's /28, so nothing a peer sends can leave the
//! machine. The root namespace routes the peers' private subnets to that router too, which answers
//! "unreachable": a native peer in the root namespace that tries a browser's private host candidate
//! sends nothing out of the machine.
//!
//! **Addresses.** Each live topology holds one *slot* of 32: a /28 of 203.0.113.0/24 (slots 0–15)
//! or of 198.51.100.0/24 (slots 16–31), B being its first address, and the private block
//! 10.S.0.0/16 with S = 100 + slot; peer *i* (from 1) behind a NAT gets 10.S.*i*.0/24. A slot is
//! claimed with an abstract Unix socket (`rtc-interop-netns-slot-<n>`), which the kernel releases when
//! the process dies, so parallel runs and parallel cases never share addresses. Up to
//! [`MAX_PEERS`] peers and extra harness addresses share the 12 free addresses of the /28.
//!
//! **Names.** Namespaces are `rtci-<pid>-<n>-{pub,natI,peerI}`; the root veth end (15 bytes at most)
//! is `rtci-<pid in hex>-<n in hex>`. Inside the namespaces interfaces have fixed short names
//! (`br0`, `up0`, `pI`, `wan`, `lan`, `eth0`). [`sweep_stale`] removes what runs whose pid is gone
//! left behind. IPv6 is off on every interface of a topology (loopback keeps `::1`).
//!
//! **NAT kinds** are explained in the table of [`NatType`]; the nft recipes are in the `nat`
//! submodule's documentation. **Impairment** (delay, jitter, loss, rate) runs in user space, because
//! this machine kind's kernels have no `netem` qdisc; see [`Impairment`].
//!
//! **Running things inside:** [`NetNs::spawn`] starts a child in a namespace (through
//! [`ChildGroup`](crate::process::ChildGroup)); [`NetNs::connect_tcp`], [`NetNs::bind_udp`] and
//! [`NetNs::bind_tcp`] make sockets inside one; [`TcpForwarder`] gives the root namespace a
//! loopback port that leads to a server inside one (chromedriver in a peer namespace).

mod nat;
mod ns;
mod wire;

pub use ns::{NetNs, TcpForwarder};

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixSocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::bounded::wait_with_output_within;
use crate::provision::{ProvisionError, find_in_path};

use wire::Wire;

/// The prefix of every namespace and root-namespace interface a topology creates.
pub const PREFIX: &str = "rtci-";

/// The most peers one topology holds (they share 12 public addresses with extra harness addresses).
pub const MAX_PEERS: usize = 12;

/// How many topologies can live at once on one machine.
const SLOTS: u8 = 32;

/// Host numbers inside a slot's /28.
const HARNESS_HOST: u8 = 1;
const FIRST_FREE_HOST: u8 = 2;
const LAST_FREE_HOST: u8 = 13;
const ROUTER_HOST: u8 = 14;

/// The NAT in front of a peer, in RFC 4787 terms.
///
/// | kind                   | mapping                    | filtering                  | also called          |
/// |------------------------|----------------------------|----------------------------|----------------------|
/// | `none`                 | —                          | —                          | public address       |
/// | `endpoint-independent` | endpoint-independent       | endpoint-independent       | full cone            |
/// | `address-dependent`    | endpoint-independent       | address-dependent          | (address-)restricted cone |
/// | `port-restricted`      | endpoint-independent       | address-and-port-dependent | port-restricted cone |
/// | `symmetric`            | address-and-port-dependent | address-and-port-dependent | symmetric            |
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum NatType {
    /// No NAT: the peer has a public address on the public segment.
    #[default]
    None,
    /// Full cone: one mapping per internal endpoint, and anyone may send to it.
    EndpointIndependent,
    /// One mapping per internal endpoint; inbound only from addresses the peer has sent to.
    AddressDependent,
    /// One mapping per internal endpoint; inbound only from address *and* port the peer has sent to.
    PortRestricted,
    /// A new mapping (random port) for every remote endpoint; inbound only from that endpoint.
    Symmetric,
}

impl NatType {
    /// Every kind, `None` first.
    pub const ALL: [NatType; 5] = [
        NatType::None,
        NatType::EndpointIndependent,
        NatType::AddressDependent,
        NatType::PortRestricted,
        NatType::Symmetric,
    ];

    /// The kebab-case name used in scenario files (`endpoint-independent`).
    pub fn as_str(self) -> &'static str {
        match self {
            NatType::None => "none",
            NatType::EndpointIndependent => "endpoint-independent",
            NatType::AddressDependent => "address-dependent",
            NatType::PortRestricted => "port-restricted",
            NatType::Symmetric => "symmetric",
        }
    }
}

impl fmt::Display for NatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NatType {
    type Err = String;

    fn from_str(s: &str) -> Result<NatType, String> {
        NatType::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = NatType::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown NAT type {s:?} (known: {})", known.join(", "))
            })
    }
}

/// How a peer's access link misbehaves, in *each* direction (a round trip gains twice the delay).
///
/// Applied by a user-space wire between two TAP devices (see the module documentation): accurate to
/// well under a millisecond when the machine is idle, to a few under load. Frames keep their order.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairment {
    /// Added to every frame.
    pub delay: Duration,
    /// Each frame's delay varies uniformly within ± this much (never below zero, never reordering).
    pub jitter: Duration,
    /// The share of frames dropped, 0 to 100.
    pub loss_percent: f64,
    /// The link's capacity; frames beyond it queue (up to 1000, then drop).
    pub rate_bits_per_sec: Option<u64>,
}

impl Impairment {
    /// Only a delay.
    pub fn delay(delay: Duration) -> Impairment {
        Impairment {
            delay,
            ..Impairment::default()
        }
    }

    fn validate(&self) -> Result<(), NetnsError> {
        if !(0.0..=100.0).contains(&self.loss_percent) {
            return Err(NetnsError::Invalid(format!(
                "loss must be between 0 and 100 %, not {}",
                self.loss_percent
            )));
        }
        Ok(())
    }
}

/// One peer's place in a [`Topology`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PeerSpec {
    /// The NAT in front of the peer.
    pub nat: NatType,
    /// An impaired access link. `Some` (even an all-zero one) also allows
    /// [`Topology::set_impairment`] later; `None` gives a plain veth.
    pub impairment: Option<Impairment>,
}

impl PeerSpec {
    /// A peer behind `nat`, on an unimpaired link.
    pub fn behind(nat: NatType) -> PeerSpec {
        PeerSpec {
            nat,
            impairment: None,
        }
    }

    /// The same peer on an impaired link.
    pub fn impaired(self, impairment: Impairment) -> PeerSpec {
        PeerSpec {
            impairment: Some(impairment),
            ..self
        }
    }
}

/// Why a topology could not be built, changed or removed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// Namespaces cannot be used here (not root, a tool or kernel feature is missing): the case
    /// should be skipped, with this reason.
    #[error("network namespaces are unavailable: {reason}")]
    Unavailable {
        /// What is missing, with the command that fixes it where there is one.
        reason: String,
    },
    /// A command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The request cannot be met (too many peers, no free slot, a bad value).
    #[error("{0}")]
    Invalid(String),
    /// Removing a topology left something behind.
    #[error("cleaning up network namespaces: {}", .0.join("; "))]
    Cleanup(Vec<String>),
}

impl NetnsError {
    fn io(what: impl Into<String>, source: io::Error) -> NetnsError {
        NetnsError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Where one peer sits in a [`Topology`].
#[derive(Debug, Clone)]
pub struct PeerNet {
    index: usize,
    nat: NatType,
    ns: NetNs,
    nat_ns: Option<NetNs>,
    address: Ipv4Addr,
    gateway: Ipv4Addr,
    public_ip: Ipv4Addr,
}

impl PeerNet {
    /// The peer's position in the [`PeerSpec`] list, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The NAT in front of it.
    pub fn nat(&self) -> NatType {
        self.nat
    }

    /// The namespace the peer runs in (its only interface besides `lo` is `eth0`).
    pub fn ns(&self) -> &NetNs {
        &self.ns
    }

    /// The NAT's namespace; `None` for [`NatType::None`].
    pub fn nat_ns(&self) -> Option<&NetNs> {
        self.nat_ns.as_ref()
    }

    /// The address of the peer's own interface: its host candidate (private behind a NAT).
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The peer's default gateway (the NAT, or the public router).
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// The address the public side sees the peer's packets come from: the NAT's public address (its
    /// server-reflexive address), or the peer's own without a NAT.
    pub fn public_ip(&self) -> Ipv4Addr {
        self.public_ip
    }
}

/// The namespaces, links and NAT rules of one case. Dropping it removes them all.
pub struct Topology {
    tag: String,
    slot: Option<SlotLock>,
    ip: PathBuf,
    nft: Option<PathBuf>,
    namespaces: Vec<NetNs>,
    /// Peer namespaces this topology uses but does not own ([`Topology::create_in`],
    /// [`Topology::keep_peer_namespace`]): teardown removes their link and leaves them, with what
    /// runs inside, for the next topology.
    kept: Vec<NetNs>,
    public: Option<NetNs>,
    root_link: Option<String>,
    root_link_name: String,
    peers: Vec<PeerNet>,
    wires: BTreeMap<usize, Wire>,
    next_host: Mutex<u8>,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topology")
            .field("tag", &self.tag)
            .field("slot", &self.slot.as_ref().map(|s| s.index))
            .field("root_link", &self.root_link)
            .field("peers", &self.peers)
            .finish_non_exhaustive()
    }
}

static TOPOLOGIES: AtomicU32 = AtomicU32::new(0);

impl Topology {
    /// Builds the network for `peers` (their order is kept: peer *i* is `peers()[i]`).
    ///
    /// Blocking: it runs a few dozen `ip`/`nft` commands (about 0.1–0.3 s); from async code call it
    /// in `spawn_blocking`. Returns [`NetnsError::Unavailable`] without root or without `ip`/`nft`,
    /// and removes whatever it made when a later step fails.
    pub fn create(peers: &[PeerSpec]) -> Result<Topology, NetnsError> {
        Topology::create_in(peers, Vec::new())
    }

    /// As [`Topology::create`], with peer *i* in `homes[i]` when that is `Some`: a namespace an
    /// earlier topology kept ([`Topology::keep_peer_namespace`]), holding nothing but its loopback
    /// (and what runs inside, a browser say). This topology gives it its link and addresses, and
    /// its teardown removes them again, leaving the namespace.
    pub fn create_in(
        peers: &[PeerSpec],
        mut homes: Vec<Option<NetNs>>,
    ) -> Result<Topology, NetnsError> {
        homes.resize(peers.len(), None);
        if peers.len() > MAX_PEERS {
            return Err(NetnsError::Invalid(format!(
                "a topology holds at most {MAX_PEERS} peers, not {}",
                peers.len()
            )));
        }
        for p in peers {
            if let Some(i) = &p.impairment {
                i.validate()?;
            }
        }
        let need_nft = peers.iter().any(|p| p.nat != NatType::None);
        let need_tun = peers.iter().any(|p| p.impairment.is_some());
        let tools = check_tools(need_nft, need_tun)?;
        let pid = std::process::id();
        let n = TOPOLOGIES.fetch_add(1, Ordering::Relaxed);
        let root_link_name = format!("{PREFIX}{pid:x}-{:x}", n % 0x1000);
        if root_link_name.len() >= libc::IFNAMSIZ {
            return Err(NetnsError::Invalid(format!(
                "interface name {root_link_name} is too long"
            )));
        }
        let slot = claim_slot(&tools.ip)?;
        let mut topology = Topology {
            tag: format!("{PREFIX}{pid}-{n}"),
            slot: Some(slot),
            ip: tools.ip,
            nft: tools.nft,
            namespaces: Vec::new(),
            kept: Vec::new(),
            public: None,
            root_link: None,
            root_link_name,
            peers: Vec::new(),
            wires: BTreeMap::new(),
            next_host: Mutex::new(FIRST_FREE_HOST),
        };
        // On error, dropping the half-built topology removes what exists so far.
        topology.build(peers, homes)?;
        Ok(topology)
    }

    /// Keeps peer `index`'s namespace beyond this topology: teardown then removes only its link
    /// (and routes and addresses with it), so a process inside (a browser) lives on, and a later
    /// topology can take the namespace in with [`Topology::create_in`]. [`remove_namespace`]
    /// removes it for good.
    pub fn keep_peer_namespace(&mut self, index: usize) -> Option<NetNs> {
        let ns = self.peers.get(index)?.ns.clone();
        if let Some(at) = self.namespaces.iter().position(|n| n == &ns) {
            self.namespaces.remove(at);
            self.kept.push(ns.clone());
        }
        Some(ns)
    }

    /// The common part of every name: `rtci-<pid>-<n>`.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The harness's public address, on the root namespace's veth: STUN/TURN, relay and page
    /// server must listen here (or on `0.0.0.0`) for peers to reach them.
    pub fn harness_ip(&self) -> Ipv4Addr {
        self.host(HARNESS_HOST)
    }

    /// The public segment: its first address and prefix length (`/28`).
    pub fn public_subnet(&self) -> (Ipv4Addr, u8) {
        (self.host(0), 28)
    }

    /// The router of the public segment (every NAT's and public peer's default gateway).
    pub fn public_router(&self) -> Ipv4Addr {
        self.host(ROUTER_HOST)
    }

    /// The public namespace (the bridge and router).
    pub fn public_ns(&self) -> &NetNs {
        self.public
            .as_ref()
            .expect("a built topology has a public namespace")
    }

    /// The peers, in the order of the [`PeerSpec`]s.
    pub fn peers(&self) -> &[PeerNet] {
        &self.peers
    }

    /// Every namespace this topology made or uses (kept ones included).
    pub fn all_netns(&self) -> Vec<NetNs> {
        self.namespaces.iter().chain(&self.kept).cloned().collect()
    }

    /// The names of every namespace this topology made.
    pub fn namespaces(&self) -> Vec<String> {
        self.namespaces
            .iter()
            .map(|n| n.name().to_string())
            .collect()
    }

    /// The root namespace's interface onto the public segment.
    pub fn root_link(&self) -> &str {
        &self.root_link_name
    }

    /// Adds one more public address for the harness (a second STUN server, or a "different
    /// address" to test a NAT's filtering from) and returns it.
    pub fn add_harness_ip(&self) -> Result<Ipv4Addr, NetnsError> {
        let address = self.allocate_host()?;
        self.run_ip(&[
            "addr",
            "add",
            &format!("{address}/28"),
            "dev",
            &self.root_link_name,
        ])?;
        Ok(address)
    }

    /// Changes the impairment of peer `index`'s link, from the next frame on. The peer must have
    /// been created with an [`Impairment`] (a zero one will do).
    pub fn set_impairment(&self, index: usize, impairment: Impairment) -> Result<(), NetnsError> {
        impairment.validate()?;
        let wire = self.wires.get(&index).ok_or_else(|| {
            NetnsError::Invalid(format!(
                "peer {index} has a plain link; give its PeerSpec an impairment (even a zero one) to change it later"
            ))
        })?;
        wire.set(impairment);
        Ok(())
    }

    /// Removes everything now, reporting what could not be removed (dropping does the same and
    /// prints the problems).
    pub fn destroy(mut self) -> Result<(), NetnsError> {
        let problems = self.teardown();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(NetnsError::Cleanup(problems))
        }
    }

    fn host(&self, n: u8) -> Ipv4Addr {
        let slot = self.slot.as_ref().map_or(0, |s| s.index);
        let [a, b, c, d] = slot_base(slot).octets();
        Ipv4Addr::new(a, b, c, d + n)
    }

    fn allocate_host(&self) -> Result<Ipv4Addr, NetnsError> {
        let mut next = self.next_host.lock().unwrap();
        if *next > LAST_FREE_HOST {
            return Err(NetnsError::Invalid(format!(
                "the public /28 of {} has no free address left",
                self.tag
            )));
        }
        let host = *next;
        *next += 1;
        Ok(self.host(host))
    }

    fn private_subnet(&self, peer: usize) -> [u8; 3] {
        let slot = self.slot.as_ref().map_or(0, |s| s.index);
        [10, 100 + slot, peer as u8 + 1]
    }

    fn run_ip(&self, args: &[&str]) -> Result<String, NetnsError> {
        run(&self.ip, args, None)
    }

    fn ip_in(&self, ns: &NetNs, args: &[&str]) -> Result<String, NetnsError> {
        let mut all = vec!["-n", ns.name()];
        all.extend_from_slice(args);
        run(&self.ip, &all, None)
    }

    fn add_namespace(&mut self, role: &str) -> Result<NetNs, NetnsError> {
        let ns = NetNs::new(format!("{}-{role}", self.tag));
        match self.run_ip(&["netns", "add", ns.name()]) {
            Ok(_) => {}
            Err(NetnsError::Command { stderr, .. })
                if self.namespaces.is_empty()
                    && (stderr.contains("Operation not permitted")
                        || stderr.contains("Permission denied")) =>
            {
                return Err(NetnsError::Unavailable {
                    reason: format!("`ip netns add` is not permitted here: {stderr}"),
                });
            }
            Err(e) => return Err(e),
        }
        self.namespaces.push(ns.clone());
        write_resolver_config(&ns)?;
        // Interfaces made from now on get no IPv6 (no link-local candidates, no DAD delays).
        let _ = sysctl(&ns, "net/ipv6/conf/default/disable_ipv6", "1");
        self.ip_in(&ns, &["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Joins `a_name` in `a` to `b_name` in `b`: a veth pair, or a wire when impaired.
    fn link(
        &mut self,
        index: usize,
        (a, a_name): (&NetNs, &str),
        (b, b_name): (&NetNs, &str),
        impairment: Option<Impairment>,
    ) -> Result<(), NetnsError> {
        match impairment {
            None => {
                self.ip_in(
                    a,
                    &[
                        "link",
                        "add",
                        a_name,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        b_name,
                        "netns",
                        b.name(),
                    ],
                )?;
            }
            Some(impairment) => {
                let wire = Wire::create(a, a_name, b, b_name, impairment).map_err(|e| {
                    NetnsError::io(format!("impaired link for peer {}", index + 1), e)
                })?;
                self.wires.insert(index, wire);
            }
        }
        Ok(())
    }

    fn build(&mut self, peers: &[PeerSpec], homes: Vec<Option<NetNs>>) -> Result<(), NetnsError> {
        let router = self.public_router();
        let public = self.add_namespace("pub")?;
        self.public = Some(public.clone());
        self.ip_in(&public, &["link", "add", "br0", "type", "bridge"])?;
        self.ip_in(
            &public,
            &["addr", "add", &format!("{router}/28"), "dev", "br0"],
        )?;
        self.ip_in(&public, &["link", "set", "br0", "up"])?;
        sysctl(&public, "net/ipv4/ip_forward", "1")?;

        let root_link = self.root_link_name.clone();
        self.root_link = Some(root_link.clone());
        self.run_ip(&[
            "link",
            "add",
            &root_link,
            "type",
            "veth",
            "peer",
            "name",
            "up0",
            "netns",
            public.name(),
        ])?;
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{root_link}/disable_ipv6"),
            "1",
        );
        self.ip_in(&public, &["link", "set", "up0", "master", "br0", "up"])?;
        let harness = format!("{}/28", self.harness_ip());
        self.run_ip(&["addr", "add", &harness, "dev", &root_link])?;
        self.run_ip(&["link", "set", &root_link, "up"])?;

        for ((index, spec), home) in peers.iter().enumerate().zip(homes) {
            let peer = self.add_peer(index, spec, &public, home)?;
            self.peers.push(peer);
        }
        Ok(())
    }

    fn add_peer(
        &mut self,
        index: usize,
        spec: &PeerSpec,
        public: &NetNs,
        home: Option<NetNs>,
    ) -> Result<PeerNet, NetnsError> {
        let label = index + 1;
        let peer_namespace = |topology: &mut Topology| match home {
            Some(ns) => {
                topology.kept.push(ns.clone());
                Ok(ns)
            }
            None => topology.add_namespace(&format!("peer{label}")),
        };
        let public_ip = self.allocate_host()?;
        let router = self.public_router();
        let port = format!("p{label}");
        let public_cidr = format!("{public_ip}/28");
        if spec.nat == NatType::None {
            let ns = peer_namespace(self)?;
            self.link(index, (&ns, "eth0"), (public, &port), spec.impairment)?;
            self.ip_in(public, &["link", "set", &port, "master", "br0", "up"])?;
            self.ip_in(&ns, &["addr", "add", &public_cidr, "dev", "eth0"])?;
            self.ip_in(&ns, &["link", "set", "eth0", "up"])?;
            self.ip_in(
                &ns,
                &["route", "add", "default", "via", &router.to_string()],
            )?;
            return Ok(PeerNet {
                index,
                nat: NatType::None,
                ns,
                nat_ns: None,
                address: public_ip,
                gateway: router,
                public_ip,
            });
        }

        let nat = self.add_namespace(&format!("nat{label}"))?;
        let ns = peer_namespace(self)?;
        self.ip_in(
            &nat,
            &[
                "link",
                "add",
                "wan",
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                public.name(),
            ],
        )?;
        self.ip_in(public, &["link", "set", &port, "master", "br0", "up"])?;
        self.ip_in(&nat, &["addr", "add", &public_cidr, "dev", "wan"])?;
        self.ip_in(&nat, &["link", "set", "wan", "up"])?;

        let [a, b, c] = self.private_subnet(index);
        let gateway = Ipv4Addr::new(a, b, c, 1);
        let address = Ipv4Addr::new(a, b, c, 2);
        self.link(index, (&ns, "eth0"), (&nat, "lan"), spec.impairment)?;
        self.ip_in(
            &nat,
            &["addr", "add", &format!("{gateway}/24"), "dev", "lan"],
        )?;
        self.ip_in(&nat, &["link", "set", "lan", "up"])?;
        self.ip_in(
            &nat,
            &["route", "add", "default", "via", &router.to_string()],
        )?;
        sysctl(&nat, "net/ipv4/ip_forward", "1")?;
        let script = nat::ruleset(spec.nat).expect("a NAT kind other than none has rules");
        let nft = self
            .nft
            .clone()
            .expect("nft was found for a topology with NATs");
        run(
            &self.ip,
            &[
                "netns",
                "exec",
                nat.name(),
                &nft.to_string_lossy(),
                "-f",
                "-",
            ],
            Some(&script),
        )?;

        self.ip_in(
            &ns,
            &["addr", "add", &format!("{address}/24"), "dev", "eth0"],
        )?;
        self.ip_in(&ns, &["link", "set", "eth0", "up"])?;
        self.ip_in(
            &ns,
            &["route", "add", "default", "via", &gateway.to_string()],
        )?;
        // The root namespace must not send to private addresses through its own default route.
        let root_link = self.root_link_name.clone();
        self.run_ip(&[
            "route",
            "add",
            &format!("{a}.{b}.{c}.0/24"),
            "via",
            &router.to_string(),
            "dev",
            &root_link,
        ])?;
        Ok(PeerNet {
            index,
            nat: spec.nat,
            ns,
            nat_ns: Some(nat),
            address,
            gateway,
            public_ip,
        })
    }

    /// Removes everything; returns what went wrong.
    fn teardown(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        // Closing the TAPs removes them.
        self.wires.clear();
        // A kept namespace loses its link now: deleting one end of a veth deletes both at once,
        // where deleting the namespace of the other end would, but only when the kernel gets to it.
        for ns in std::mem::take(&mut self.kept) {
            if let Err(e) = self.ip_in(&ns, &["link", "del", "eth0"])
                && !e.to_string().contains("Cannot find device")
            {
                problems.push(e.to_string());
            }
        }
        for ns in &self.namespaces {
            kill_processes_in(&self.ip, ns);
        }
        if let Some(link) = self.root_link.take() {
            // Deleting one end of the veth deletes the other, with the addresses and routes.
            if let Err(e) = self.run_ip(&["link", "del", &link])
                && !e.to_string().contains("Cannot find device")
            {
                problems.push(e.to_string());
            }
        }
        for ns in self.namespaces.drain(..).rev() {
            if let Err(e) = run(&self.ip, &["netns", "del", ns.name()], None)
                && ns.path().exists()
            {
                problems.push(e.to_string());
            }
            if let Err(e) = remove_etc_dir(&ns) {
                problems.push(e);
            }
        }
        self.public = None;
        self.slot = None;
        problems
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for problem in self.teardown() {
            eprintln!("rtc-interop: cleaning up network namespaces: {problem}");
        }
    }
}

/// The programs a topology needs.
struct Tools {
    ip: PathBuf,
    nft: Option<PathBuf>,
}

/// The `ip` program (found on `PATH`, else plain `ip`).
fn ip_program() -> PathBuf {
    static IP: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    IP.get_or_init(|| find_in_path(&["ip"]).unwrap_or_else(|| PathBuf::from("ip")))
        .clone()
}

/// Whether topologies with NATs can be built here; [`NetnsError::Unavailable`] says why not.
///
/// Checks the same as [`Topology::create`] does before touching anything, so a runner can skip
/// network cases (with the reason) up front.
pub fn check_available() -> Result<(), NetnsError> {
    check_tools(true, false).map(|_| ())
}

fn check_tools(need_nft: bool, need_tun: bool) -> Result<Tools, NetnsError> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    availability(
        euid,
        find_in_path(&["ip"]),
        need_nft.then(|| crate::provision::locate_nft().ok()),
        need_tun.then(|| Path::new("/dev/net/tun").exists()),
    )
}

fn availability(
    euid: u32,
    ip: Option<PathBuf>,
    nft: Option<Option<PathBuf>>,
    tun: Option<bool>,
) -> Result<Tools, NetnsError> {
    if euid != 0 {
        return Err(NetnsError::Unavailable {
            reason: format!(
                "needs root (running as uid {euid}): namespaces, veth pairs and NAT rules need CAP_SYS_ADMIN and CAP_NET_ADMIN"
            ),
        });
    }
    let missing = |what: &str, package: &str| NetnsError::Unavailable {
        reason: ProvisionError::Missing {
            what: what.into(),
            command: format!("sudo apt-get update && sudo apt-get install -y {package}"),
        }
        .to_string(),
    };
    let ip = ip.ok_or_else(|| missing("ip (iproute2)", "iproute2"))?;
    let nft = match nft {
        Some(found) => Some(found.ok_or_else(|| missing("nft (nftables)", "nftables"))?),
        None => None,
    };
    if tun == Some(false) {
        return Err(NetnsError::Unavailable {
            reason: "impaired links need /dev/net/tun, which this machine lacks".into(),
        });
    }
    Ok(Tools { ip, nft })
}

/// How long one `ip` / `iptables` command may take (milliseconds, when the machine is well).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `program args…`, feeding it `input`; its stdout, or an error naming the command.
fn run(program: &Path, args: &[&str], input: Option<&str>) -> Result<String, NetnsError> {
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| program.display().to_string());
    let command = format!("{name} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetnsError::io(format!("cannot run `{command}`"), e))?;
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin was piped");
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| NetnsError::io(format!("writing to `{command}`"), e))?;
    }
    let output = wait_with_output_within(child, COMMAND_TIMEOUT)
        .map_err(|e| NetnsError::io(format!("waiting for `{command}`"), e))?;
    if !output.status.success() {
        return Err(NetnsError::Command {
            command,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Writes `/proc/sys/<key>` as seen from inside `ns`.
fn sysctl(ns: &NetNs, key: &str, value: &str) -> Result<(), NetnsError> {
    let path = format!("/proc/sys/{key}");
    let value = value.to_string();
    let what = format!("setting {key} in {}", ns.name());
    ns.run({
        let path = path.clone();
        move || std::fs::write(path, value)
    })
    .and_then(|r| r)
    .map_err(|e| NetnsError::io(what, e))
}

/// `ip netns exec` shows programs `/etc/netns/<name>/resolv.conf` in place of `/etc/resolv.conf`.
/// Inside a topology the machine's nameserver is unreachable, and a lookup would stall for the
/// resolver's timeouts (5 s a try: a browser's start-up waits for one), since a router's "net
/// unreachable" is not an error UDP sockets report. A nameserver on the namespace's own loopback
/// refuses at once.
fn write_resolver_config(ns: &NetNs) -> Result<(), NetnsError> {
    let dir = etc_dir(ns);
    std::fs::create_dir_all(&dir)
        .and_then(|()| {
            std::fs::write(
                dir.join("resolv.conf"),
                "# rtc-interop: no DNS inside a test network\nnameserver 127.0.0.1\n",
            )
        })
        .map_err(|e| NetnsError::io(format!("writing {}/resolv.conf", dir.display()), e))
}

fn etc_dir(ns: &NetNs) -> PathBuf {
    Path::new("/etc/netns").join(ns.name())
}

fn remove_etc_dir(ns: &NetNs) -> Result<(), String> {
    match std::fs::remove_dir_all(etc_dir(ns)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(format!("removing {}: {e}", etc_dir(ns).display()))
        }
        _ => Ok(()),
    }
}

/// Removes a namespace a topology kept ([`Topology::keep_peer_namespace`]): kills what still runs
/// inside and deletes it.
pub fn remove_namespace(ns: &NetNs) -> Result<(), NetnsError> {
    let ip = ip_program();
    kill_processes_in(&ip, ns);
    if let Err(e) = run(&ip, &["netns", "del", ns.name()], None)
        && ns.path().exists()
    {
        return Err(e);
    }
    remove_etc_dir(ns).map_err(|e| NetnsError::Cleanup(vec![e]))
}

/// Kills every process inside `ns` (a browser that outlived its driver would keep the namespace
/// alive), except this one.
fn kill_processes_in(ip: &Path, ns: &NetNs) {
    let Ok(pids) = run(ip, &["netns", "pids", ns.name()], None) else {
        return;
    };
    let me = std::process::id() as i32;
    for pid in pids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        if pid != me {
            // SAFETY: plain syscall; a process that is already gone yields ESRCH.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// The first address of slot `index`'s /28.
fn slot_base(index: u8) -> Ipv4Addr {
    if index < 16 {
        Ipv4Addr::new(203, 0, 113, index * 16)
    } else {
        Ipv4Addr::new(198, 51, 100, (index - 16) * 16)
    }
}

/// A claimed slot; the kernel frees the claim when the socket closes (or the process dies).
struct SlotLock {
    index: u8,
    _socket: UnixDatagram,
}

fn claim_slot(ip: &Path) -> Result<SlotLock, NetnsError> {
    let addresses: Vec<Ipv4Addr> = run(ip, &["-o", "-4", "addr", "show"], None)?
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect();
    let routes = run(ip, &["-o", "-4", "route", "show"], None)?;
    for index in 0..SLOTS {
        let name = format!("rtc-interop-netns-slot-{index}");
        let address = UnixSocketAddr::from_abstract_name(name.as_bytes())
            .map_err(|e| NetnsError::io("naming a slot lock", e))?;
        let socket = match UnixDatagram::bind_addr(&address) {
            Ok(socket) => socket,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(NetnsError::io(format!("claiming slot {index}"), e)),
        };
        // Leftovers of a crashed run (or anything else on this machine) may still use the slot.
        let base = u32::from(slot_base(index));
        let taken = addresses.iter().any(|a| u32::from(*a) & !15 == base)
            || routes
                .lines()
                .any(|r| r.starts_with(&format!("10.{}.", 100 + index)));
        if !taken {
            return Ok(SlotLock {
                index,
                _socket: socket,
            });
        }
    }
    Err(NetnsError::Invalid(format!(
        "all {SLOTS} network slots are in use (too many topologies at once, or leftovers: run sweep_stale)"
    )))
}

/// Removes namespaces and root-namespace interfaces named with `prefix` whose creating process is
/// gone (what crashed runs left behind), with the processes still inside them. Returns the names
/// removed. Live runs' topologies, including this process's, are left alone.
pub fn sweep_stale(prefix: &str) -> Result<Vec<String>, NetnsError> {
    let tools = check_tools(false, false)?;
    let mut removed = Vec::new();
    let mut problems = Vec::new();

    // Root-namespace veth ends first: `<prefix><pid hex>-<n hex>`.
    let links = run(&tools.ip, &["-o", "link", "show"], None)?;
    for line in links.lines() {
        let Some(name) = line.split_whitespace().nth(1) else {
            continue;
        };
        let name = name.trim_end_matches(':');
        let name = name.split('@').next().unwrap_or(name);
        let Some(pid) = owner_pid(name, prefix, 16) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        match run(&tools.ip, &["link", "del", name], None) {
            Ok(_) => removed.push(name.to_string()),
            Err(e) => problems.push(e.to_string()),
        }
    }

    // Namespaces: `<prefix><pid>-<n>-<role>`.
    let namespaces = match std::fs::read_dir("/run/netns") {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(NetnsError::io("listing /run/netns", e)),
    };
    for name in namespaces {
        let Some(pid) = owner_pid(&name, prefix, 10) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        let ns = NetNs::new(name.clone());
        kill_processes_in(&tools.ip, &ns);
        match run(&tools.ip, &["netns", "del", &name], None) {
            Ok(_) => removed.push(name),
            Err(e) => problems.push(e.to_string()),
        }
        if let Err(e) = remove_etc_dir(&ns) {
            problems.push(e);
        }
    }
    // Resolver folders whose namespace is already gone.
    if let Ok(entries) = std::fs::read_dir("/etc/netns") {
        for name in entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
        {
            if owner_pid(&name, prefix, 10).is_some_and(|pid| !pid_alive(pid))
                && let Err(e) = remove_etc_dir(&NetNs::new(name))
            {
                problems.push(e);
            }
        }
    }
    if problems.is_empty() {
        Ok(removed)
    } else {
        Err(NetnsError::Cleanup(problems))
    }
}

/// The pid in `<prefix><pid>-…`, written in `radix`.
fn owner_pid(name: &str, prefix: &str, radix: u32) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let (pid, rest) = rest.split_once('-')?;
    if rest.is_empty() {
        return None;
    }
    u32::from_str_radix(pid, radix).ok().filter(|p| *p > 0)
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_type_names_round_trip() {
        for kind in NatType::ALL {
            assert_eq!(kind.as_str().parse::<NatType>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
        }
        assert!("cone".parse::<NatType>().unwrap_err().contains("symmetric"));
    }

    #[test]
    fn without_root_or_tools_it_is_unavailable_with_the_reason() {
        let ip = Some(PathBuf::from("/usr/sbin/ip"));
        let nft = Some(Some(PathBuf::from("/usr/sbin/nft")));
        let e = availability(1000, ip.clone(), nft.clone(), None)
            .err()
            .unwrap();
        assert!(
            matches!(&e, NetnsError::Unavailable { reason } if reason.contains("root")),
            "{e}"
        );
        let e = availability(0, None, nft.clone(), None).err().unwrap();
        assert!(e.to_string().contains("apt-get install -y iproute2"), "{e}");
        let e = availability(0, ip.clone(), Some(None), None).err().unwrap();
        assert!(e.to_string().contains("apt-get install -y nftables"), "{e}");
        let e = availability(0, ip.clone(), None, Some(false))
            .err()
            .unwrap();
        assert!(e.to_string().contains("/dev/net/tun"), "{e}");
        assert!(availability(0, ip, nft, Some(true)).is_ok());
    }

    #[test]
    fn owners_are_read_from_names() {
        assert_eq!(owner_pid("rtci-1234-0-pub", "rtci-", 10), Some(1234));
        assert_eq!(owner_pid("rtci-4d2-0", "rtci-", 16), Some(1234));
        assert_eq!(owner_pid("rtci-x-0", "rtci-", 10), None);
        assert_eq!(owner_pid("other-1234-0", "rtci-", 10), None);
        assert_eq!(owner_pid("rtci-1234", "rtci-", 10), None);
    }

    #[test]
    fn slots_are_disjoint_documentation_subnets() {
        let bases: Vec<Ipv4Addr> = (0..SLOTS).map(slot_base).collect();
        assert_eq!(bases[0], Ipv4Addr::new(203, 0, 113, 0));
        assert_eq!(bases[15], Ipv4Addr::new(203, 0, 113, 240));
        assert_eq!(bases[16], Ipv4Addr::new(198, 51, 100, 0));
        assert_eq!(bases[31], Ipv4Addr::new(198, 51, 100, 240));
        let mut unique = bases.clone();
        unique.dedup();
        assert_eq!(unique.len(), bases.len());
    }
}
