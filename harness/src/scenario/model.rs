//! What a scenario file says: which peers take part, how they connect, and what must be observed.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::net::netns::NatType;
pub use crate::net::{TurnServerKind, TurnTransport};

use super::media::MediaExpectation;
use super::steps::{Step, default_steps};

/// One scenario, as loaded from `scenarios/<name>.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The scenario's name; defaults to the file name without `.toml`.
    #[serde(default)]
    pub name: String,
    /// A digest of the scenario file's text: reports name the version of each scenario they
    /// played, and shards of different versions are not merged.
    #[serde(skip)]
    pub digest: String,
    /// The file it was loaded from (empty for a scenario made in code).
    #[serde(skip)]
    pub source: std::path::PathBuf,
    /// What the scenario checks, in a sentence.
    #[serde(default)]
    pub description: String,
    /// Peer kinds that take part; empty means every kind the harness supports.
    #[serde(default)]
    pub peers: Vec<PeerKind>,
    /// How long a case may take to finish once both peers have joined the room (browser start-up
    /// has its own limit).
    #[serde(default = "default_time_limit_secs")]
    pub time_limit_secs: f64,
    /// Which settings native (webrtc-rs) peers use.
    #[serde(default)]
    pub native_profile: NativeProfile,
    /// Whether browsers send plain IP host candidates or hide them behind mDNS names.
    #[serde(default)]
    pub host_candidates: HostCandidates,
    /// Pairings known not to work, with the reason.
    #[serde(default)]
    pub known_failures: Vec<KnownFailure>,
    /// Whether each case's local descriptions are checked against the accepted SDP snapshots in
    /// `scenarios/snapshots/` (see `sdp::check`).
    #[serde(default = "yes")]
    pub snapshots: bool,
    /// ICE configuration given to both peers.
    #[serde(default)]
    pub ice: IceSettings,
    /// Each peer in its own network namespace behind a NAT (`[network]`); `None`: peers on this
    /// machine's own network.
    pub network: Option<NetworkSpec>,
    /// The data channel the offerer opens, if any: shorthand for the default steps (see
    /// [`Scenario::steps`]); a scenario with `[[steps]]` opens its channels in them instead.
    pub data_channel: Option<DataChannelSpec>,
    /// What the peers do, in order (`[[steps]]`); empty: the default flow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Whether each side trickles its candidates or sends them inside its description.
    #[serde(default)]
    pub ice_mode: IceModes,
    /// Both peers follow the W3C "perfect negotiation" pattern (the answerer is polite).
    #[serde(default)]
    pub perfect_negotiation: bool,
    /// The relay holds every message this long before delivering it (a slow signaling server;
    /// with a `negotiate` step by `both`, it makes the two offers cross every time).
    #[serde(default)]
    pub signaling_delay_ms: u32,
    /// What must be observed for the case to pass.
    #[serde(default)]
    pub expect: Expectations,
}

fn default_time_limit_secs() -> f64 {
    20.0
}

impl Scenario {
    /// The case time limit as a duration.
    pub fn time_limit(&self) -> Duration {
        Duration::from_secs_f64(self.time_limit_secs)
    }

    /// The steps both peers execute: the scenario's own, else today's flow on its data channel
    /// (see [`default_steps`]). Every step's `within_secs` is resolved (default: the time limit).
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = match (&self.data_channel, self.steps.is_empty()) {
            (Some(channel), true) => default_steps(channel),
            _ => self.steps.clone(),
        };
        for step in &mut steps {
            step.within_secs.get_or_insert(self.time_limit_secs);
        }
        steps
    }
}

/// How a peer hands over its ICE candidates.
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum IceMode {
    /// Each candidate in a `candidate` message as it is gathered, then end-of-candidates.
    #[default]
    Trickle,
    /// No `candidate` messages: the description goes out once gathering is complete, with every
    /// candidate inside it.
    Vanilla,
}

/// `ice_mode = "vanilla"` (both sides) or `ice_mode = { offerer = "trickle", answerer = "vanilla" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum IceModes {
    /// The same for both sides.
    Both(IceMode),
    /// Per side.
    PerSide {
        /// The offerer's mode.
        #[serde(default)]
        offerer: IceMode,
        /// The answerer's mode.
        #[serde(default)]
        answerer: IceMode,
    },
}

impl Default for IceModes {
    fn default() -> Self {
        IceModes::Both(IceMode::Trickle)
    }
}

impl IceModes {
    /// The mode of the offerer (`true`) or the answerer.
    pub fn of(self, offerer: bool) -> IceMode {
        match self {
            IceModes::Both(mode) => mode,
            IceModes::PerSide {
                offerer: o,
                answerer: a,
            } => {
                if offerer {
                    o
                } else {
                    a
                }
            }
        }
    }
}

/// A kind of peer the harness can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerKind {
    /// An in-process RTCPeerConnection from the `webrtc` crate (webrtc-rs).
    Native,
    /// Headless Chromium through chromedriver.
    Chromium,
    /// Headless Firefox ESR through geckodriver.
    Firefox,
    /// A program the harness starts for each side (`docs/external-peers.md`): a stack shipped under
    /// `peers/` or a user's own. Which names exist is `peer::external::catalogue`'s business.
    External(KindName),
}

/// The name of an external peer kind, interned: kinds are `Copy` and compared everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KindName(&'static str);

impl KindName {
    /// `name` as a kind name: lowercase ASCII letters, digits, `-` and `_`, starting with a
    /// letter, at most 32 characters (it appears in file names, ids and report columns).
    pub fn new(name: &str) -> Result<KindName, String> {
        let valid = name.len() <= 32
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid {
            return Err(format!(
                "`{name}` is not a peer kind name (lowercase letters, digits, `-`, `_`; starting \
                 with a letter; at most 32 characters)"
            ));
        }
        static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = names.iter().find(|n| **n == name) {
            return Ok(KindName(known));
        }
        // Leaked once per distinct name: a run knows a handful of kinds.
        let interned: &'static str = Box::leak(name.to_string().into_boxed_str());
        names.push(interned);
        Ok(KindName(interned))
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl PeerKind {
    /// The kinds built into the harness, in the order the matrix lists them: what a run plays
    /// unless `--peers` says otherwise.
    pub const CORE: [PeerKind; 3] = [PeerKind::Native, PeerKind::Chromium, PeerKind::Firefox];

    /// The kind called `name`: a core kind, or else an external one (whether such an external
    /// kind exists is checked against the catalogue where kinds are selected).
    pub fn named(name: &str) -> Result<PeerKind, String> {
        let name = name.trim();
        match PeerKind::CORE.into_iter().find(|k| k.as_str() == name) {
            Some(core) => Ok(core),
            None => KindName::new(name).map(PeerKind::External),
        }
    }

    /// The kind's name as scenario files and reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerKind::Native => "native",
            PeerKind::Chromium => "chromium",
            PeerKind::Firefox => "firefox",
            PeerKind::External(name) => name.as_str(),
        }
    }

    /// Whether this kind is a browser driven over WebDriver.
    pub fn is_browser(self) -> bool {
        // Spelled out, so that a new kind has to say which it is.
        match self {
            PeerKind::Native | PeerKind::External(_) => false,
            PeerKind::Chromium | PeerKind::Firefox => true,
        }
    }
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for PeerKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PeerKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        PeerKind::named(&name).map_err(serde::de::Error::custom)
    }
}

/// Settings profile for native peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NativeProfile {
    /// webrtc-rs as it comes.
    #[default]
    Default,
    /// Short ICE check interval and no host-candidate acceptance wait: connects sooner on a LAN.
    Fast,
}

impl NativeProfile {
    /// The profile's name as scenario files and reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            NativeProfile::Default => "default",
            NativeProfile::Fast => "fast",
        }
    }
}

/// How browsers present their host candidates.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum HostCandidates {
    /// Plain IP addresses (Chromium's `WebRtcHideLocalIpsWithMdns` off, Firefox's
    /// `media.peerconnection.ice.obfuscate_host_addresses` false).
    #[default]
    Ip,
    /// The browsers' default: host addresses hidden behind random `<uuid>.local` mDNS names.
    Mdns,
}

impl HostCandidates {
    /// The mode's name as scenario files and reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            HostCandidates::Ip => "ip",
            HostCandidates::Mdns => "mdns",
        }
    }
}

/// A pairing that is known not to work: it is shown as an expected failure, and flagged when it
/// starts passing (unless it is only known to fail sometimes: `expect = "flaky"`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFailure {
    /// `offerer:answerer`, each a peer kind or `*` (`chromium:native`, `*:native`).
    pub pairing: String,
    /// `fail` (always) or `flaky` (sometimes).
    pub expect: ExpectedOutcome,
    /// Why it fails, in words (a bug link is welcome).
    pub reason: String,
    /// Text the failure must contain to be this known failure (`"connection `connecting`"`);
    /// a failure without it is an ordinary failure. None: any failure of the pairing.
    #[serde(default)]
    pub symptom: Option<String>,
}

impl KnownFailure {
    /// Whether this entry covers the pairing `offerer:answerer`.
    pub fn covers(&self, offerer: PeerKind, answerer: PeerKind) -> bool {
        let Some((o, a)) = self.pairing.split_once(':') else {
            return false;
        };
        let fits = |pattern: &str, kind: PeerKind| pattern == "*" || pattern == kind.as_str();
        fits(o.trim(), offerer) && fits(a.trim(), answerer)
    }

    /// Whether `failure` is this known failure: it shows the symptom, if the entry names one.
    pub fn explains(&self, failure: &str) -> bool {
        self.symptom.as_deref().is_none_or(|s| failure.contains(s))
    }
}

/// What a known-failure entry expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectedOutcome {
    /// The case is expected to fail; passing is flagged (`xpass`) so that the entry is removed.
    Fail,
    /// The case is known to fail now and then: a failure is `xfail`, a pass is a pass.
    Flaky,
}

/// ICE configuration shared by both peers of a case.
///
/// STUN and TURN servers are named symbolically: the run starts them on this machine and gives
/// each case's peers their URLs and credentials. `servers` is for a server of your own, and only
/// on this machine (the loader refuses any other address: the harness runs offline).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IceSettings {
    /// Which candidates ICE may use.
    #[serde(default)]
    pub transport_policy: IceTransportPolicy,
    /// A STUN server the run starts (`stun = "embedded"`), for server-reflexive candidates.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "stun_server"
    )]
    pub stun: Option<TurnServerKind>,
    /// A TURN server the run starts, for relay candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<TurnSpec>,
    /// ICE servers given as they are (`[[ice.servers]]`): only addresses of this machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<IceServerSpec>,
}

impl IceSettings {
    /// Every STUN/TURN server the run starts for this scenario becomes one of `kind`
    /// (`run --turn coturn`).
    pub fn use_server_kind(&mut self, kind: TurnServerKind) {
        if let Some(stun) = self.stun.as_mut() {
            *stun = kind;
        }
        if let Some(turn) = self.turn.as_mut() {
            turn.server = kind;
        }
    }
}

/// `stun = "embedded"`; a URL instead of a server kind is refused saying why.
fn stun_server<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TurnServerKind>, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.as_str() {
        "embedded" => Ok(Some(TurnServerKind::Embedded)),
        "coturn" => Ok(Some(TurnServerKind::Coturn)),
        url if url.contains(':') => Err(serde::de::Error::custom(format!(
            "`stun` names a server the run starts on this machine, `embedded` or `coturn`, not a \
             URL: rtc-interop runs offline and never uses a STUN/TURN server elsewhere (`{url}`); \
             a server of your own on this machine goes into [[ice.servers]]"
        ))),
        other => Err(serde::de::Error::unknown_variant(
            other,
            &["embedded", "coturn"],
        )),
    }
}

/// `turn = { server = "embedded", transport = "udp", credentials = "long-term" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TurnSpec {
    /// Which implementation the run starts.
    pub server: TurnServerKind,
    /// How peers reach it; the relayed traffic is UDP either way.
    #[serde(default = "udp")]
    pub transport: TurnTransport,
    /// How peers authenticate.
    #[serde(default)]
    pub credentials: TurnCredentials,
}

fn udp() -> TurnTransport {
    TurnTransport::Udp
}

/// How peers authenticate to a TURN server the run starts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize, Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum TurnCredentials {
    /// A fixed user name and password for the whole run (RFC 8489 long-term credentials).
    #[default]
    LongTerm,
    /// Time-limited credentials minted for each case from a secret the server shares (TURN REST
    /// API style: user name `<expiry>:rtc-interop`).
    Rest,
}

impl TurnCredentials {
    /// `long-term` or `rest`.
    pub fn as_str(self) -> &'static str {
        match self {
            TurnCredentials::LongTerm => "long-term",
            TurnCredentials::Rest => "rest",
        }
    }
}

/// An ICE server of your own, in the W3C `RTCIceServer` shape: `[[ice.servers]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IceServerSpec {
    /// `stun:`/`turn:` URLs, each on this machine (loopback, `localhost` or one of its addresses).
    pub urls: Vec<String>,
    /// The TURN user name.
    #[serde(default)]
    pub username: String,
    /// The TURN password.
    #[serde(default)]
    pub credential: String,
}

/// `[network]`: every case of the scenario gets its own network of namespaces (needs root), each
/// peer in a namespace of its own behind a NAT of the given kind, the STUN/TURN servers, relay and
/// page server on the "public" side. See `net::netns` for the topology.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// The NAT in front of both peers, unless a role names its own.
    #[serde(default)]
    pub nat: NatType,
    /// The NAT in front of the offerer (overrides `nat`).
    pub offerer: Option<NatType>,
    /// The NAT in front of the answerer (overrides `nat`).
    pub answerer: Option<NatType>,
    /// How both peers' access links misbehave (each direction).
    pub impairment: Option<ImpairmentSpec>,
}

impl NetworkSpec {
    /// The NAT in front of the peer playing `offerer` (`true`) or the answerer.
    pub fn nat_of(&self, offerer: bool) -> NatType {
        let own = if offerer { self.offerer } else { self.answerer };
        own.unwrap_or(self.nat)
    }
}

/// `impairment = { delay_ms = 20, jitter_ms = 5, loss_percent = 5 }`: each direction of an access
/// link (applied in user space; see `net::netns::Impairment`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImpairmentSpec {
    /// Added to every packet.
    #[serde(default)]
    pub delay_ms: f64,
    /// Each packet's delay varies within ± this much.
    #[serde(default)]
    pub jitter_ms: f64,
    /// The share of packets dropped, 0 to 100.
    #[serde(default)]
    pub loss_percent: f64,
}

/// `iceTransportPolicy` of RTCConfiguration.
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum IceTransportPolicy {
    /// Every candidate type.
    #[default]
    All,
    /// Relay candidates only.
    Relay,
}

/// The data channel the offerer creates before making its offer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataChannelSpec {
    /// The channel's label.
    pub label: String,
    /// Whether delivery is ordered.
    #[serde(default = "yes")]
    pub ordered: bool,
    /// Partial reliability: at most this many retransmissions.
    pub max_retransmits: Option<u16>,
    /// Partial reliability: give up after this many milliseconds.
    pub max_packet_life_time: Option<u16>,
    /// Sub-protocol name.
    #[serde(default)]
    pub protocol: String,
}

fn yes() -> bool {
    true
}

/// Candidate types of ICE (RFC 8445 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateType {
    /// An address of a local interface.
    Host,
    /// The address a STUN server saw (server-reflexive).
    Srflx,
    /// An address learned from a connectivity check (peer-reflexive).
    Prflx,
    /// An address allocated on a TURN server.
    Relay,
}

impl CandidateType {
    /// The type as SDP spells it (`typ host`).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        }
    }

    /// Parses the SDP spelling.
    pub fn from_sdp(s: &str) -> Option<Self> {
        match s {
            "host" => Some(CandidateType::Host),
            "srflx" => Some(CandidateType::Srflx),
            "prflx" => Some(CandidateType::Prflx),
            "relay" => Some(CandidateType::Relay),
            _ => None,
        }
    }
}

impl fmt::Display for CandidateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One entry of `ice_states`: a state, or alternatives the spec allows in its place
/// (`"connected|completed"`: an agent may report `completed` without `connected` first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceStateChoice(Vec<IceConnectionState>);

impl IceStateChoice {
    /// Whether `state` (as the W3C API spells it) is one of the alternatives.
    pub fn accepts(&self, state: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == state)
    }

    /// The alternatives as written (`connected|completed`).
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        names.join("|")
    }
}

impl From<IceConnectionState> for IceStateChoice {
    fn from(state: IceConnectionState) -> Self {
        IceStateChoice(vec![state])
    }
}

impl Serialize for IceStateChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.describe())
    }
}

impl<'de> Deserialize<'de> for IceStateChoice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, IntoDeserializer};
        let text = String::deserialize(deserializer)?;
        let states = text
            .split('|')
            .map(|name| {
                let name: serde::de::value::StrDeserializer<'_, D::Error> =
                    name.trim().into_deserializer();
                IceConnectionState::deserialize(name)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| D::Error::custom(format!("in `{text}`: {e}")))?;
        Ok(IceStateChoice(states))
    }
}

/// `RTCIceConnectionState` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IceConnectionState {
    #[allow(missing_docs)]
    New,
    #[allow(missing_docs)]
    Checking,
    #[allow(missing_docs)]
    Connected,
    #[allow(missing_docs)]
    Completed,
    #[allow(missing_docs)]
    Disconnected,
    #[allow(missing_docs)]
    Failed,
    #[allow(missing_docs)]
    Closed,
}

impl IceConnectionState {
    /// The state as the W3C API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            IceConnectionState::New => "new",
            IceConnectionState::Checking => "checking",
            IceConnectionState::Connected => "connected",
            IceConnectionState::Completed => "completed",
            IceConnectionState::Disconnected => "disconnected",
            IceConnectionState::Failed => "failed",
            IceConnectionState::Closed => "closed",
        }
    }
}

/// `RTCPeerConnectionState` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionState {
    #[allow(missing_docs)]
    New,
    #[allow(missing_docs)]
    Connecting,
    #[allow(missing_docs)]
    Connected,
    #[allow(missing_docs)]
    Disconnected,
    #[allow(missing_docs)]
    Failed,
    #[allow(missing_docs)]
    Closed,
}

impl ConnectionState {
    /// The state as the W3C API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::New => "new",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Failed => "failed",
            ConnectionState::Closed => "closed",
        }
    }
}

/// What must be observed, on both sides unless said otherwise.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// ICE connection states each side must pass through, in this order (other states may come between).
    #[serde(default)]
    pub ice_states: Vec<IceStateChoice>,
    /// The peer connection state each side must end in.
    pub connection_state: Option<ConnectionState>,
    /// Rules for the candidates each side gathered.
    pub local_candidates: Option<CandidateRule>,
    /// Rules for the candidates each side received from the other.
    pub remote_candidates: Option<CandidateRule>,
    /// Allowed candidate types of the selected pair, per end.
    pub selected_pair: Option<PairRule>,
    /// A message sent by the offerer on the data channel must come back intact.
    #[serde(default)]
    pub echo: bool,
    /// `false`: the peers must *not* connect. The case runs until its time limit and passes when
    /// neither side's ICE connected (for networks where connecting would be a bug). Only the
    /// candidate rules are checked besides.
    #[serde(default = "yes")]
    pub connects: bool,
    /// What signaling-lint findings do: `warn` (reported) or `strict` (each fails the case).
    #[serde(default)]
    pub signaling_lint: LintLevel,
    /// The relay trace shows glare: an offer from each side, the second sent before the first was
    /// answered.
    #[serde(default)]
    pub offers_cross: bool,
    /// Every description each side sets keeps the ICE credentials of its first (`a=ice-ufrag`):
    /// a renegotiation must not restart ICE.
    #[serde(default)]
    pub same_ice_credentials: bool,
    /// In a `[network]` scenario: every server-reflexive candidate a peer behind a NAT gathers has
    /// the NAT's public address (the one the STUN server really saw).
    #[serde(default)]
    pub srflx_is_nat_address: bool,
    /// What each side must receive (`[[expect.media]]`), per side and track kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaExpectation>,
    /// Candidate and pair rules for the offerer only, replacing the common ones they name.
    pub offerer: Option<SideRules>,
    /// Candidate and pair rules for the answerer only, replacing the common ones they name.
    pub answerer: Option<SideRules>,
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations {
            ice_states: Vec::new(),
            connection_state: None,
            local_candidates: None,
            remote_candidates: None,
            selected_pair: None,
            echo: false,
            connects: true,
            srflx_is_nat_address: false,
            same_ice_credentials: false,
            offers_cross: false,
            signaling_lint: LintLevel::Warn,
            media: Vec::new(),
            offerer: None,
            answerer: None,
        }
    }
}

impl Expectations {
    /// The `[[expect.media]]` entries about what the offerer (`true`) or answerer receives.
    pub fn media_for(&self, offerer: bool) -> Vec<MediaExpectation> {
        self.media
            .iter()
            .filter(|m| m.side.covers(offerer))
            .cloned()
            .collect()
    }

    /// The candidate and pair rules for one side: the side's own where it has them, else the
    /// common ones.
    pub fn rules_for(&self, offerer: bool) -> SideRules {
        let own = if offerer {
            &self.offerer
        } else {
            &self.answerer
        };
        let own = own.clone().unwrap_or_default();
        SideRules {
            local_candidates: own
                .local_candidates
                .or_else(|| self.local_candidates.clone()),
            remote_candidates: own
                .remote_candidates
                .or_else(|| self.remote_candidates.clone()),
            selected_pair: own.selected_pair.or_else(|| self.selected_pair.clone()),
        }
    }
}

/// What the signaling lint's findings (see `lint`) do to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LintLevel {
    /// Reported as warnings; the case's status does not change.
    #[default]
    Warn,
    /// Every finding fails the case.
    Strict,
}

/// `[expect.offerer]` / `[expect.answerer]`: rules for one side (peer-reflexive candidates, say,
/// appear only on the side that receives checks from an address it was never told).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SideRules {
    /// Rules for the candidates this side gathered.
    pub local_candidates: Option<CandidateRule>,
    /// Rules for the candidates this side received.
    pub remote_candidates: Option<CandidateRule>,
    /// Allowed candidate types of this side's selected pair.
    pub selected_pair: Option<PairRule>,
}

/// Which candidate types must appear, and which may.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateRule {
    /// Every type listed here must be seen at least once.
    #[serde(default)]
    pub require: Vec<CandidateType>,
    /// If not empty, every candidate seen must have one of these types.
    #[serde(default)]
    pub allow: Vec<CandidateType>,
}

/// Allowed candidate types for the two ends of the selected pair.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PairRule {
    /// Types the local end may have (empty: any).
    #[serde(default)]
    pub local: Vec<CandidateType>,
    /// Types the remote end may have (empty: any).
    #[serde(default)]
    pub remote: Vec<CandidateType>,
    /// At least one end must have one of these types (empty: no rule). `either = ["relay"]`: the
    /// media goes through a TURN server, whichever side's allocation it is.
    #[serde(default)]
    pub either: Vec<CandidateType>,
}
