//! Peers: the two ends of a case, one trait whatever drives them.
//!
//! A peer is started with a [`PeerPlan`], joins the relay room in it, plays its role (offerer or
//! answerer) on its own, and records what it sees in [`Observations`]. The runner polls
//! [`Peer::observations`] until both peers are finished or the case's time is up, so a peer that
//! hangs costs its case, never the run.

pub mod browser;
pub mod external;
pub mod in_namespace;
pub mod native;
mod profile_template;
pub mod scripted;
mod shared_browser;
pub mod standalone;
mod webdriver;

use serde::{Deserialize, Serialize};

use crate::net::IceServer;
use crate::observe::Observations;
use crate::scenario::{IceMode, IceTransportPolicy, MediaExpectation, PeerKind, Step};

pub use shared_browser::{SharedBrowser, Startup, Window};
pub use webdriver::{BROWSER_LOG_LEVELS, BrowserInfo, DriverEndpoint, DriverService, with_timeout};

/// Which half of the offer/answer exchange a peer plays.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Makes the first offer (and, in the default steps, opens the data channel).
    Offerer,
    /// Answers it; the polite peer in perfect negotiation.
    Answerer,
}

impl Role {
    /// `offerer` or `answerer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Offerer => "offerer",
            Role::Answerer => "answerer",
        }
    }
}

/// What one peer is asked to do in one case. The browser page receives it as JSON, with these names.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize, Deserialize)]
pub struct PeerPlan {
    /// The id the peer signs its messages with (`m`).
    pub id: String,
    /// Offerer or answerer.
    pub role: Role,
    /// The relay room to join (`ws://…/<room>`).
    pub signal_url: String,
    /// `iceTransportPolicy`.
    pub ice_transport_policy: IceTransportPolicy,
    /// `iceServers`: W3C `RTCIceServer`s (`urls`, `username`, `credential`).
    pub ice_servers: Vec<IceServer>,
    /// What the peers do, in order; every peer gets the whole list and acts on the steps that are
    /// its own (see `scenario::steps`). Each step's `within_secs` is set.
    pub steps: Vec<Step>,
    /// The text a `send` step sends when it names none.
    pub echo_message: String,
    /// Whether this peer trickles its candidates or sends them inside its description.
    pub ice_mode: IceMode,
    /// Follow the W3C perfect negotiation pattern (the answerer is polite).
    pub perfect_negotiation: bool,
    /// What this peer must receive (`[[expect.media]]` entries for its side): its `expect_media`
    /// steps wait for these.
    pub media: Vec<MediaExpectation>,
}

/// Why a peer could not do its part.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{peer}: {reason}")]
pub struct PeerError {
    /// Which peer (`chromium offerer`).
    pub peer: String,
    /// What went wrong.
    pub reason: String,
}

impl PeerError {
    /// An error of `peer`, with the reason in words.
    pub fn new(peer: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            peer: peer.into(),
            reason: reason.into(),
        }
    }
}

/// One end of a case.
#[async_trait::async_trait]
pub trait Peer: Send {
    /// The kind of peer.
    fn kind(&self) -> PeerKind;

    /// The browser behind the peer, if it is one.
    fn browser(&self) -> Option<BrowserInfo> {
        None
    }

    /// Joins the room and starts playing the plan's role in the background.
    async fn start(&mut self, plan: &PeerPlan) -> Result<(), PeerError>;

    /// What the peer has seen so far; `finished` is set once it has nothing left to do.
    async fn observations(&mut self) -> Result<Observations, PeerError>;

    /// For a peer that reading disturbs (a browser page: a script on its main thread), what wakes
    /// when it has news that must be read at once (it finished); the runner then reads it seldom
    /// otherwise. `None`: reading costs the peer nothing, read it often.
    fn news(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }

    /// Hangs up and releases everything the peer holds. Safe to call more than once.
    async fn close(&mut self);
}
