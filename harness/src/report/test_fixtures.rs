//! Case results for the reports' tests: empty, so each test fills in only what it looks at.

use crate::observe::{Candidate, PairEnd};
use crate::outcome::{CaseResult, PeerPlace, Sides, Status};
use crate::scenario::{CandidateType, NatType, PeerKind};

/// A case with nothing observed; tests fill in what they look at.
pub(crate) fn case(offerer: PeerKind, answerer: PeerKind, status: Status) -> CaseResult {
    CaseResult {
        scenario: "datachannel-echo".into(),
        pairing: format!("{offerer}→{answerer}"),
        index: 0,
        repetition: None,
        attempts: Vec::new(),
        offerer,
        answerer,
        status,
        failure: (status == Status::Failed).then(|| "it failed".to_string()),
        started_at_ms: 1_795_458_926_272.6,
        duration_ms: 1698.2,
        time_to_connected_ms: (status == Status::Passed).then_some(75.5),
        echo_round_trip_ms: None,
        phases: Default::default(),
        native_profile: None,
        browsers: Vec::new(),
        ice_states: Sides::default(),
        connection_states: Sides::default(),
        gathering_states: Sides::default(),
        candidates: Sides::default(),
        selected_pair: Sides::default(),
        signaling_states: Sides::default(),
        tracks: Default::default(),
        channels: Sides::default(),
        steps: Sides::default(),
        sdp: Sides::default(),
        console: Sides::default(),
        stats: Sides::default(),
        snapshots: Vec::new(),
        errors: Sides::default(),
        signaling: Vec::new(),
        lint: Vec::new(),
        problems: Vec::new(),
        ice_servers: Vec::new(),
        network: None,
        artifacts: Vec::new(),
    }
}

/// A selected-pair end of `kind` on 192.0.2.2, UDP.
pub(crate) fn end(kind: &str, port: u16) -> PairEnd {
    PairEnd {
        kind: kind.into(),
        protocol: "udp".into(),
        address: "192.0.2.2".into(),
        port,
        relay_protocol: None,
    }
}

/// A UDP candidate of `kind` on 192.0.2.2.
pub(crate) fn candidate(kind: CandidateType, port: u16) -> Candidate {
    Candidate {
        kind,
        protocol: "udp".into(),
        address: "192.0.2.2".into(),
        port,
        component: 1,
        related_address: None,
        tcp_type: None,
    }
}

/// Where the peers of a `[network]` case sat: behind `offerer` and `answerer` NATs.
pub(crate) fn network(offerer: NatType, answerer: NatType) -> Option<Sides<PeerPlace>> {
    let place = |nat| PeerPlace {
        nat,
        address: "10.0.1.2".into(),
        public_ip: "198.51.100.1".into(),
        namespace: "rtc-1".into(),
    };
    Some(Sides {
        offerer: place(offerer),
        answerer: place(answerer),
    })
}
