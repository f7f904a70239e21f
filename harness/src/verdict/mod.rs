//! Checking a scenario's expectations against what the peers observed.
//!
//! Every check reads observations only; each unmet expectation becomes one sentence that names the
//! side, what was expected and what was seen.

mod media;

use crate::observe::{Candidate, Observations, PairEnd, StepLog, ice_ufrag};
use crate::outcome::{CandidateSets, PeerPlace, Sides};
use crate::scenario::{
    CandidateRule, CandidateType, Expectations, IceMode, IceStateChoice, NatType, PeerKind,
};

/// One side as the checks see it.
pub struct SideView<'a> {
    /// `offerer (native)`.
    pub name: String,
    /// Its peer kind.
    pub kind: PeerKind,
    /// What it observed.
    pub observations: &'a Observations,
    /// Its candidates, parsed.
    pub candidates: &'a CandidateSets,
    /// Where it sat in the case's network (`[network]` scenarios).
    pub place: Option<&'a PeerPlace>,
    /// Whether it made the offer (which per-side rules apply).
    pub offerer: bool,
    /// How many steps its plan had.
    pub steps_planned: usize,
    /// Whether it trickles its candidates.
    pub ice_mode: IceMode,
    /// How many `candidate` messages it sent through the relay (end-of-candidates included).
    pub candidate_messages_sent: usize,
}

impl<'a> SideView<'a> {
    /// A view of one side.
    pub fn new(
        role: &str,
        kind: PeerKind,
        observations: &'a Observations,
        candidates: &'a CandidateSets,
    ) -> Self {
        Self {
            name: format!("{role} ({kind})"),
            kind,
            observations,
            candidates,
            place: None,
            offerer: role == "offerer",
            steps_planned: 0,
            ice_mode: IceMode::Trickle,
            candidate_messages_sent: 0,
        }
    }

    /// The same side, with a plan of `steps` steps, handing candidates over in `ice_mode`, having
    /// sent `candidate_messages` through the relay.
    pub fn planned(self, steps: usize, ice_mode: IceMode, candidate_messages: usize) -> Self {
        Self {
            steps_planned: steps,
            ice_mode,
            candidate_messages_sent: candidate_messages,
            ..self
        }
    }

    /// The same side, placed in a network.
    pub fn placed(self, place: Option<&'a PeerPlace>) -> Self {
        Self { place, ..self }
    }
}

/// Every unmet expectation, in words; empty when the case passes.
pub fn unmet(expect: &Expectations, sides: &Sides<SideView<'_>>) -> Vec<String> {
    let mut failures = Vec::new();
    for side in [&sides.offerer, &sides.answerer] {
        check_candidate_rules(expect, side, &mut failures);
        if expect.srflx_is_nat_address {
            check_srflx_address(side, &mut failures);
        }
        if expect.same_ice_credentials {
            check_same_ice_credentials(side, &mut failures);
        }
        if side.ice_mode == IceMode::Vanilla && side.candidate_messages_sent > 0 {
            failures.push(format!(
                "{}: does not trickle (vanilla ICE), yet sent {} `candidate` messages",
                side.name, side.candidate_messages_sent
            ));
        }
        if expect.connects {
            check_steps(side, &mut failures);
            check_connection(expect, side, &mut failures);
        } else {
            check_never_connected(side, &mut failures);
        }
    }
    if expect.echo && expect.connects {
        check_echo(&sides.offerer, &mut failures);
    }
    if expect.connects {
        // The latest round's descriptions: a track added by a renegotiation is only in those.
        let latest = |side: &SideView<'_>, kind: &str| {
            side.observations
                .local_descriptions
                .iter()
                .rev()
                .find(|d| d.kind == kind)
                .map_or(String::new(), |d| d.sdp.clone())
        };
        let offer = latest(&sides.offerer, "offer");
        let answer = latest(&sides.answerer, "answer");
        for side in [&sides.offerer, &sides.answerer] {
            media::check_media(expect, side, (&offer, &answer), &mut failures);
        }
    }
    failures
}

/// The candidates a side gathered and received against the scenario's rules for that side.
fn check_candidate_rules(expect: &Expectations, side: &SideView<'_>, failures: &mut Vec<String>) {
    let rules = expect.rules_for(side.offerer);
    if let Some(rule) = &rules.local_candidates {
        check_candidates(&side.name, "local", rule, &side.candidates.local, failures);
    }
    if let Some(rule) = &rules.remote_candidates {
        check_candidates(
            &side.name,
            "remote",
            rule,
            &side.candidates.remote,
            failures,
        );
    }
}

/// Every step of the plan was done on this side; each ICE restart gave new credentials and new
/// candidates both ways.
fn check_steps(side: &SideView<'_>, failures: &mut Vec<String>) {
    let obs = side.observations;
    let title = |s: &StepLog| format!("step {} ({}, {})", s.index + 1, s.kind, s.by);
    if let Some(failed) = obs.failed_step() {
        failures.push(format!(
            "{}: {}: {}",
            side.name,
            title(failed),
            failed.error.as_deref().unwrap_or_default()
        ));
        return;
    }
    if let Some(running) = obs.steps.iter().find(|s| s.ended_at_ms.is_none()) {
        // An answer that failed while the other side waited is why it waited (e.g. a browser
        // that rejects the offer): named here too, however the time-out fell.
        failures.push(format!(
            "{}: {} was still waiting when the case ended{}",
            side.name,
            title(running),
            obs.last_description_error()
                .map_or(String::new(), |e| format!("; last error: {e}"))
        ));
        return;
    }
    if side.steps_planned > obs.steps.len() {
        failures.push(format!(
            "{}: played {} of {} steps",
            side.name,
            obs.steps.len(),
            side.steps_planned
        ));
    }
    for (position, restart) in obs
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == "restart_ice")
    {
        // Each offer/answer round leaves one local description on each side: compare the
        // restart's round with the one before (not by time: the other side's offer may be
        // answered before this side begins the step).
        let round = obs.steps[..=position]
            .iter()
            .filter(|s| s.kind == "negotiate" || s.kind == "restart_ice")
            .count();
        let ufrag_of = |round: usize| {
            obs.local_descriptions
                .get(round.checked_sub(1)?)
                .and_then(|d| ice_ufrag(&d.sdp))
        };
        match (ufrag_of(round - 1), ufrag_of(round)) {
            (Some(old), Some(new)) if old == new => failures.push(format!(
                "{}: {}: its new description kept ice-ufrag `{old}`",
                side.name,
                title(restart)
            )),
            (_, None) => failures.push(format!(
                "{}: {}: no local description for offer/answer round {round}",
                side.name,
                title(restart)
            )),
            _ => {}
        }
        // Counted from when the round began, where the side says: the counterpart may begin its
        // step only after the restart is over.
        let description = obs.local_descriptions.get(round - 1);
        let local_before = description
            .and_then(|d| d.local_candidates_before)
            .unwrap_or(restart.local_candidates_before);
        let remote_before = description
            .and_then(|d| d.remote_candidates_before)
            .unwrap_or(restart.remote_candidates_before);
        if obs.local_candidates.len() <= local_before {
            failures.push(format!(
                "{}: {}: gathered no new candidate after the restart",
                side.name,
                title(restart)
            ));
        }
        if obs.remote_candidates.len() <= remote_before {
            failures.push(format!(
                "{}: {}: received no new candidate after the restart",
                side.name,
                title(restart)
            ));
        }
    }
}

/// Whether the relay trace shows glare: an offer from each side, the later one sent before the
/// earlier was answered. `Err` says what the trace showed instead.
pub fn offers_crossed(trace: &[crate::relay::TraceEntry]) -> Result<(), String> {
    let mut outstanding: Option<&str> = None;
    let mut order = Vec::new();
    for entry in trace
        .iter()
        .filter(|e| e.kind == "offer" || e.kind == "answer")
    {
        let sender = entry.sender.as_deref().unwrap_or("?");
        order.push(format!("{} from {sender}", entry.kind));
        match (entry.kind.as_str(), outstanding) {
            ("offer", Some(first)) if first != sender => return Ok(()),
            ("offer", _) => outstanding = Some(sender),
            _ => outstanding = None,
        }
    }
    Err(format!(
        "the offers never crossed (no glare): the relay saw {}",
        if order.is_empty() {
            "no offer".to_string()
        } else {
            order.join(", ")
        }
    ))
}

/// Every local description kept the first one's ICE credentials: no restart.
fn check_same_ice_credentials(side: &SideView<'_>, failures: &mut Vec<String>) {
    let ufrags: Vec<&str> = side
        .observations
        .local_descriptions
        .iter()
        .filter_map(|d| ice_ufrag(&d.sdp))
        .collect();
    if let Some(changed) = ufrags.iter().find(|u| **u != ufrags[0]) {
        failures.push(format!(
            "{}: ICE restarted: its descriptions went from ice-ufrag `{}` to `{changed}`",
            side.name, ufrags[0]
        ));
    }
}

/// States and the selected pair of a side that was meant to connect.
fn check_connection(expect: &Expectations, side: &SideView<'_>, failures: &mut Vec<String>) {
    let obs = side.observations;
    let seen: Vec<&str> = obs
        .ice_connection_states
        .iter()
        .map(|t| t.state.as_str())
        .collect();
    let wanted: Vec<String> = expect.ice_states.iter().map(|s| s.describe()).collect();
    if !states_in_order(&expect.ice_states, &seen) {
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        failures.push(format!(
            "{}: ICE connection states were {}, expected {} in that order",
            side.name,
            arrows(&seen),
            arrows(&wanted)
        ));
    }
    if let Some(state) = expect.connection_state {
        let last = obs.final_connection_state().unwrap_or("(none)");
        if last != state.as_str() {
            failures.push(format!(
                "{}: connection state ended `{last}`, expected `{}`",
                side.name,
                state.as_str()
            ));
        }
    }
    let Some(rule) = expect.rules_for(side.offerer).selected_pair else {
        return;
    };
    let Some(pair) = &obs.selected_pair else {
        failures.push(format!(
            "{}: no selected candidate pair in its stats",
            side.name
        ));
        return;
    };
    for (end, allowed, which) in [
        (&pair.local, &rule.local, "local"),
        (&pair.remote, &rule.remote, "remote"),
    ] {
        if !allowed.is_empty() && !allowed.iter().any(|t| t.as_str() == end.kind) {
            failures.push(format!(
                "{}: selected pair's {which} candidate is {}, expected {}",
                side.name,
                describe_end(end),
                alternatives(allowed)
            ));
        }
    }
    let has = |end: &PairEnd| rule.either.iter().any(|t| t.as_str() == end.kind);
    if !rule.either.is_empty() && !has(&pair.local) && !has(&pair.remote) {
        failures.push(format!(
            "{}: selected pair {} ↔ {} has no {} end",
            side.name,
            describe_end(&pair.local),
            describe_end(&pair.remote),
            alternatives(&rule.either)
        ));
    }
}

/// For scenarios where connecting would be a bug: neither ICE nor the peer connection connected.
fn check_never_connected(side: &SideView<'_>, failures: &mut Vec<String>) {
    let obs = side.observations;
    let connected = obs.ice_connected_at_ms().is_some()
        || obs.connection_states.iter().any(|t| t.state == "connected");
    if connected {
        let pair = obs
            .selected_pair
            .as_ref()
            .map(|p| {
                format!(
                    " (selected pair {} ↔ {})",
                    describe_end(&p.local),
                    describe_end(&p.remote)
                )
            })
            .unwrap_or_default();
        failures.push(format!(
            "{}: connected{pair}, but the scenario expects no connection",
            side.name
        ));
    }
}

/// A peer behind a NAT must have gathered server-reflexive candidates, all with the NAT's public
/// address.
fn check_srflx_address(side: &SideView<'_>, failures: &mut Vec<String>) {
    let Some(place) = side.place.filter(|p| p.nat != NatType::None) else {
        return;
    };
    let srflx: Vec<&Candidate> = side
        .candidates
        .local
        .iter()
        .filter(|c| c.kind == CandidateType::Srflx)
        .collect();
    if srflx.is_empty() {
        failures.push(format!(
            "{}: behind a {} NAT with public address {}, but gathered no srflx candidate",
            side.name, place.nat, place.public_ip
        ));
    }
    for candidate in srflx.iter().filter(|c| c.address != place.public_ip) {
        failures.push(format!(
            "{}: srflx candidate {}:{} is not the NAT's public address {}",
            side.name, candidate.address, candidate.port, place.public_ip
        ));
    }
}

fn check_candidates(
    side: &str,
    which: &str,
    rule: &CandidateRule,
    seen: &[Candidate],
    failures: &mut Vec<String>,
) {
    for required in &rule.require {
        if !seen.iter().any(|c| c.kind == *required) {
            failures.push(format!(
                "{side}: no {which} {required} candidate (saw {})",
                summarize(seen)
            ));
        }
    }
    if !rule.allow.is_empty() {
        for candidate in seen.iter().filter(|c| !rule.allow.contains(&c.kind)) {
            failures.push(format!(
                "{side}: {which} candidate {} {}:{} has type {}, allowed: {}",
                candidate.protocol,
                candidate.address,
                candidate.port,
                candidate.kind,
                alternatives(&rule.allow)
            ));
        }
    }
}

fn check_echo(offerer: &SideView<'_>, failures: &mut Vec<String>) {
    let name = &offerer.name;
    let log = offerer.observations.first_channel();
    match (log, log.and_then(|l| l.echo.as_ref())) {
        (None, _) => failures.push(format!("{name}: the data channel was never created")),
        (Some(l), _) if l.opened_at_ms.is_none() => {
            failures.push(format!("{name}: the data channel never opened"))
        }
        (Some(_), None) => failures.push(format!("{name}: the echo probe was never sent")),
        (Some(_), Some(echo)) => match &echo.received {
            None => failures.push(format!(
                "{name}: the echo probe `{}` never came back",
                echo.sent
            )),
            Some(back) if *back != echo.sent => failures.push(format!(
                "{name}: the echo probe `{}` came back as `{back}`",
                echo.sent
            )),
            Some(_) => {}
        },
    }
}

/// Whether `wanted` appears in `seen` in order, other items allowed in between.
/// Whether `seen` passes through the `wanted` states in order (other states may come between).
fn states_in_order(wanted: &[IceStateChoice], seen: &[&str]) -> bool {
    let mut rest = seen.iter();
    wanted.iter().all(|choice| rest.any(|s| choice.accepts(s)))
}

fn arrows(states: &[&str]) -> String {
    if states.is_empty() {
        "(none)".into()
    } else {
        states.join(" → ")
    }
}

fn alternatives(types: &[CandidateType]) -> String {
    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    names.join(" or ")
}

fn describe_end(end: &PairEnd) -> String {
    format!("{} {} {}:{}", end.kind, end.protocol, end.address, end.port)
}

/// `host×2, srflx×1`, or `none`.
pub fn summarize(candidates: &[Candidate]) -> String {
    let mut counts: Vec<(CandidateType, usize)> = Vec::new();
    for c in candidates {
        match counts.iter_mut().find(|(t, _)| *t == c.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((c.kind, 1)),
        }
    }
    if counts.is_empty() {
        return "none".into();
    }
    counts.sort();
    let parts: Vec<String> = counts.iter().map(|(t, n)| format!("{t}×{n}")).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{DataChannelLog, EchoLog, SelectedPair, Transition};
    use crate::scenario::{ConnectionState, IceConnectionState, PairRule, SideRules};

    fn transitions(states: &[&str]) -> Vec<Transition> {
        states
            .iter()
            .enumerate()
            .map(|(i, s)| Transition {
                state: s.to_string(),
                at_ms: i as f64,
            })
            .collect()
    }

    fn connected_side() -> Observations {
        Observations {
            ice_connection_states: transitions(&["new", "checking", "connected"]),
            connection_states: transitions(&["new", "connecting", "connected"]),
            local_candidates: vec!["candidate:1 1 udp 1 192.0.2.2 4000 typ host".into()],
            remote_candidates: vec!["candidate:2 1 udp 1 192.0.2.2 4001 typ host".into()],
            selected_pair: Some(SelectedPair {
                local: PairEnd {
                    kind: "host".into(),
                    protocol: "udp".into(),
                    address: "192.0.2.2".into(),
                    port: 4000,
                    relay_protocol: None,
                },
                remote: PairEnd {
                    kind: "host".into(),
                    protocol: "udp".into(),
                    address: "192.0.2.2".into(),
                    port: 4001,
                    relay_protocol: None,
                },
            }),
            channels: vec![DataChannelLog {
                label: "echo".into(),
                opened_at_ms: Some(5.0),
                echo: Some(EchoLog {
                    sent: "ping".into(),
                    sent_at_ms: 5.0,
                    received: Some("ping".into()),
                    received_at_ms: Some(6.0),
                }),
                ..Default::default()
            }],
            finished: true,
            ..Default::default()
        }
    }

    fn expectations() -> Expectations {
        Expectations {
            ice_states: vec![
                IceConnectionState::New.into(),
                IceConnectionState::Checking.into(),
                IceConnectionState::Connected.into(),
            ],
            connection_state: Some(ConnectionState::Connected),
            local_candidates: Some(CandidateRule {
                require: vec![CandidateType::Host],
                allow: vec![],
            }),
            remote_candidates: None,
            selected_pair: Some(PairRule {
                local: vec![CandidateType::Host],
                remote: vec![],
                ..PairRule::default()
            }),
            echo: true,
            ..Expectations::default()
        }
    }

    fn check(
        offerer: &Observations,
        answerer: &Observations,
        expect: &Expectations,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let o = CandidateSets::parse(offerer, &mut errors);
        let a = CandidateSets::parse(answerer, &mut errors);
        let sides = Sides {
            offerer: SideView::new("offerer", PeerKind::Native, offerer, &o),
            answerer: SideView::new("answerer", PeerKind::Chromium, answerer, &a),
        };
        unmet(expect, &sides)
    }

    fn placed_check(
        offerer: &Observations,
        answerer: &Observations,
        expect: &Expectations,
        place: &PeerPlace,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let o = CandidateSets::parse(offerer, &mut errors);
        let a = CandidateSets::parse(answerer, &mut errors);
        let sides = Sides {
            offerer: SideView::new("offerer", PeerKind::Native, offerer, &o).placed(Some(place)),
            answerer: SideView::new("answerer", PeerKind::Chromium, answerer, &a),
        };
        unmet(expect, &sides)
    }

    fn set_pair_kinds(side: &mut Observations, local: &str, remote: &str) {
        let pair = side.selected_pair.as_mut().unwrap();
        pair.local.kind = local.into();
        pair.remote.kind = remote.into();
    }

    #[test]
    fn an_ice_restart_counts_new_candidates_from_when_its_round_began() {
        // The answerer (the counterpart) began its `restart_ice` step only after the restart:
        // its step's own counts already include the new candidates.
        let description =
            |ufrag: &str, before: Option<(usize, usize)>| crate::observe::Description {
                kind: "answer".into(),
                sdp: format!("v=0\r\na=ice-ufrag:{ufrag}\r\n"),
                at_ms: 1.0,
                local_candidates_before: before.map(|b| b.0),
                remote_candidates_before: before.map(|b| b.1),
            };
        let step = |kind: &str, before: usize| StepLog {
            kind: kind.into(),
            by: "offerer".into(),
            ended_at_ms: Some(2.0),
            local_candidates_before: before,
            remote_candidates_before: before,
            ..Default::default()
        };
        let mut late = connected_side();
        late.local_candidates
            .push("candidate:3 1 udp 1 192.0.2.2 4002 typ host".into());
        late.remote_candidates
            .push("candidate:4 1 udp 1 192.0.2.2 4003 typ host".into());
        late.steps = vec![step("negotiate", 0), step("restart_ice", 2)];
        late.local_descriptions = vec![
            description("first", Some((0, 0))),
            description("second", Some((1, 1))),
        ];
        let mut errors = Vec::new();
        let sets = CandidateSets::parse(&late, &mut errors);
        let side = SideView::new("answerer", PeerKind::Native, &late, &sets).planned(
            2,
            IceMode::Trickle,
            0,
        );
        let mut failures = Vec::new();
        check_steps(&side, &mut failures);
        assert_eq!(failures, Vec::<String>::new());
        // A side that does not say when its rounds began is judged by its step's counts.
        late.local_descriptions[1] = description("second", None);
        let sets = CandidateSets::parse(&late, &mut errors);
        let side = SideView::new("answerer", PeerKind::Native, &late, &sets).planned(
            2,
            IceMode::Trickle,
            0,
        );
        check_steps(&side, &mut failures);
        assert!(
            failures[0].contains("gathered no new candidate after the restart"),
            "{failures:?}"
        );
    }

    #[test]
    fn a_connection_where_none_is_expected_fails_naming_the_pair() {
        let expect = Expectations {
            connects: false,
            ..Expectations::default()
        };
        let side = connected_side();
        let failures = check(&side, &side, &expect);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(
            failures[0].contains("connected (selected pair host udp 192.0.2.2:4000")
                && failures[0].contains("expects no connection"),
            "{failures:?}"
        );
        let mut stuck = connected_side();
        stuck.ice_connection_states = transitions(&["new", "checking", "failed"]);
        stuck.connection_states = transitions(&["new", "connecting", "failed"]);
        stuck.channels.clear();
        assert_eq!(check(&stuck, &stuck, &expect), Vec::<String>::new());
    }

    #[test]
    fn side_rules_replace_the_common_ones_for_that_side_only() {
        let mut expect = expectations();
        expect.selected_pair = Some(PairRule {
            remote: vec![CandidateType::Host],
            ..PairRule::default()
        });
        expect.answerer = Some(SideRules {
            selected_pair: Some(PairRule {
                remote: vec![CandidateType::Prflx],
                ..PairRule::default()
            }),
            ..SideRules::default()
        });
        let offerer = connected_side();
        let mut answerer = connected_side();
        set_pair_kinds(&mut answerer, "host", "prflx");
        assert_eq!(check(&offerer, &answerer, &expect), Vec::<String>::new());
        let failures = check(&offerer, &offerer, &expect);
        assert_eq!(
            failures,
            [
                "answerer (chromium): selected pair's remote candidate is host udp 192.0.2.2:4001, expected prflx"
            ]
        );
    }

    #[test]
    fn either_end_rule_accepts_a_relay_on_one_side_only() {
        let mut expect = expectations();
        expect.selected_pair = Some(PairRule {
            either: vec![CandidateType::Relay],
            ..PairRule::default()
        });
        let mut offerer = connected_side();
        set_pair_kinds(&mut offerer, "host", "relay");
        let mut answerer = connected_side();
        set_pair_kinds(&mut answerer, "relay", "prflx");
        assert_eq!(check(&offerer, &answerer, &expect), Vec::<String>::new());
        let failures = check(&offerer, &connected_side(), &expect);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("has no relay end"), "{failures:?}");
    }

    #[test]
    fn srflx_must_carry_the_nat_public_address() {
        let expect = Expectations {
            srflx_is_nat_address: true,
            ..expectations()
        };
        let place = PeerPlace {
            nat: NatType::Symmetric,
            address: "10.100.1.2".into(),
            public_ip: "203.0.113.2".into(),
            namespace: "rtci-1-0-peer1".into(),
        };
        let mut offerer = connected_side();
        let failures = placed_check(&offerer, &connected_side(), &expect, &place);
        assert_eq!(
            failures,
            [
                "offerer (native): behind a symmetric NAT with public address 203.0.113.2, but gathered no srflx candidate"
            ]
        );
        offerer.local_candidates.push(
            "candidate:3 1 udp 1 198.51.100.9 5000 typ srflx raddr 10.100.1.2 rport 4000".into(),
        );
        let failures = placed_check(&offerer, &connected_side(), &expect, &place);
        assert_eq!(
            failures,
            [
                "offerer (native): srflx candidate 198.51.100.9:5000 is not the NAT's public address 203.0.113.2"
            ]
        );
        offerer.local_candidates.pop();
        offerer.local_candidates.push(
            "candidate:3 1 udp 1 203.0.113.2 5000 typ srflx raddr 10.100.1.2 rport 4000".into(),
        );
        assert_eq!(
            placed_check(&offerer, &connected_side(), &expect, &place),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_connected_pair_with_echo_passes() {
        let side = connected_side();
        assert_eq!(check(&side, &side, &expectations()), Vec::<String>::new());
    }

    #[test]
    fn missing_state_is_named_with_what_was_seen() {
        let mut answerer = connected_side();
        answerer.ice_connection_states = transitions(&["new", "checking", "failed"]);
        let failures = check(&connected_side(), &answerer, &expectations());
        assert_eq!(
            failures,
            [
                "answerer (chromium): ICE connection states were new → checking → failed, expected new → checking → connected in that order"
            ]
        );
    }

    #[test]
    fn required_relay_candidate_missing_fails() {
        let mut expect = expectations();
        expect.local_candidates = Some(CandidateRule {
            require: vec![CandidateType::Relay],
            allow: vec![],
        });
        let side = connected_side();
        let failures = check(&side, &side, &expect);
        assert_eq!(failures.len(), 2);
        assert!(
            failures[0].contains("no local relay candidate (saw host×1)"),
            "{failures:?}"
        );
    }

    #[test]
    fn echo_that_never_returns_fails() {
        let mut offerer = connected_side();
        offerer
            .channels
            .first_mut()
            .unwrap()
            .echo
            .as_mut()
            .unwrap()
            .received = None;
        let failures = check(&offerer, &connected_side(), &expectations());
        assert_eq!(
            failures,
            ["offerer (native): the echo probe `ping` never came back"]
        );
    }

    #[test]
    fn states_in_order_allow_gaps_and_alternatives_but_not_reordering() {
        let choices = |text: &str| -> Vec<IceStateChoice> {
            text.split(' ')
                .map(|s| serde_json::from_value(serde_json::json!(s)).unwrap())
                .collect()
        };
        let seen = ["new", "checking", "completed"];
        assert!(states_in_order(&choices("new completed"), &seen));
        assert!(states_in_order(
            &choices("checking connected|completed"),
            &seen
        ));
        assert!(!states_in_order(&choices("new connected"), &seen));
        assert!(!states_in_order(&choices("completed checking"), &seen));
        let bad: Result<IceStateChoice, _> =
            serde_json::from_value(serde_json::json!("connected|done"));
        assert!(bad.unwrap_err().to_string().contains("in `connected|done`"));
    }
}
