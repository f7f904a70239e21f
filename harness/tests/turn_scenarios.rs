//! The shipped TURN scenarios end to end: real peers through the STUN/TURN servers a run starts,
//! judged on what they observed, and checked against what the servers themselves allocated.

use crate::common;

use std::net::{IpAddr, SocketAddr};

use rtc_interop::ice_servers::ServerNeed;
use rtc_interop::net::addrs;
use rtc_interop::observe::PairEnd;
use rtc_interop::outcome::{CaseResult, Status};
use rtc_interop::scenario::PeerKind::{self, Chromium, Firefox, Native};
use rtc_interop::scenario::{TurnCredentials, TurnServerKind, TurnTransport};

const KINDS: [PeerKind; 3] = [Native, Chromium, Firefox];

fn all_pairings() -> Vec<(PeerKind, PeerKind)> {
    KINDS
        .iter()
        .flat_map(|&o| KINDS.iter().map(move |&a| (o, a)))
        .collect()
}

fn socket(address: &str, port: u16) -> SocketAddr {
    let ip: IpAddr = address
        .parse()
        .unwrap_or_else(|_| panic!("`{address}` is not an IP address"));
    SocketAddr::new(ip, port)
}

fn end_addr(end: &PairEnd) -> SocketAddr {
    socket(&end.address, end.port)
}

/// A case that passed relay↔relay through `server`, whose listening address is `listen` and whose
/// allocations were `relayed`: every candidate and both ends of each side's selected pair are
/// addresses the server allocated, and the two sides agree on the pair.
fn assert_relayed_through(
    r: &CaseResult,
    server: ServerNeed,
    transport: TurnTransport,
    listen: SocketAddr,
    relayed: &[SocketAddr],
) {
    let what = format!("{} {}", r.scenario, r.pairing);
    assert_eq!(r.status, Status::Passed, "{what}: {:?}", r.failure);
    // The report says which server was in play, without its password.
    assert_eq!(r.ice_servers.len(), 1, "{what}: {:?}", r.ice_servers);
    let used = &r.ice_servers[0];
    assert_eq!(used.kind, server.kind.as_str(), "{what}");
    assert_eq!(used.transport, Some(transport), "{what}");
    assert_eq!(used.credentials, Some(server.credentials), "{what}");
    assert_eq!(
        used.urls,
        [format!("turn:{listen}?transport={transport}")],
        "{what}"
    );
    assert_eq!(listen.ip(), addrs::server_ip(), "{what}");

    for (role, candidates) in [
        ("offerer", &r.candidates.offerer),
        ("answerer", &r.candidates.answerer),
    ] {
        assert!(!candidates.local.is_empty(), "{what}: {role} gathered none");
        for c in candidates.local.iter().chain(&candidates.remote) {
            assert_eq!(c.kind.as_str(), "relay", "{what}: {role}: {c:?}");
            let addr = socket(&c.address, c.port);
            assert!(
                relayed.contains(&addr),
                "{what}: {role}'s candidate {addr} is not an allocation of the server ({relayed:?})"
            );
        }
        assert!(candidates.remote_complete, "{what}: {role}");
    }
    let offerer = r.selected_pair.offerer.as_ref().expect("offerer's pair");
    let answerer = r.selected_pair.answerer.as_ref().expect("answerer's pair");
    for (role, kind, pair) in [
        ("offerer", r.offerer, offerer),
        ("answerer", r.answerer, answerer),
    ] {
        for end in [&pair.local, &pair.remote] {
            assert_eq!(end.kind, "relay", "{what}: {role}: {end:?}");
            assert_eq!(end.protocol, "udp", "{what}: {role}: {end:?}");
            assert!(
                relayed.contains(&end_addr(end)),
                "{what}: {role}'s selected {end:?} is not an allocation of the server ({relayed:?})"
            );
            assert_ne!(end_addr(end), listen, "{what}");
        }
        // Browsers say how they reach the TURN server; webrtc-rs 0.21 does not.
        if kind.is_browser() {
            assert_eq!(
                pair.local.relay_protocol.as_deref(),
                Some(transport.as_str()),
                "{what}: {role}"
            );
        }
    }
    // Two allocations, one per peer, seen the same way from both sides.
    assert_eq!(
        end_addr(&offerer.local),
        end_addr(&answerer.remote),
        "{what}"
    );
    assert_eq!(
        end_addr(&offerer.remote),
        end_addr(&answerer.local),
        "{what}"
    );
    assert_ne!(
        end_addr(&offerer.local),
        end_addr(&offerer.remote),
        "{what}"
    );

    let echo = r.channels.offerer[0].echo.as_ref().expect("echo probe");
    assert_eq!(echo.received.as_deref(), Some(echo.sent.as_str()), "{what}");
}

/// The only server of a run, where it listened and what it allocated.
fn only_server(seen: &common::ServersSeen) -> (ServerNeed, SocketAddr, Vec<SocketAddr>) {
    assert_eq!(seen.running.len(), 1, "{seen:?}");
    let (need, listen) = seen.running[0];
    let relayed = seen.relayed[0].1.clone();
    (need, listen, relayed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_relay_only_passes_on_all_nine_pairings_through_the_embedded_servers_relays() {
    let _turn = common::browser_turn().await;
    let cases = common::cases(common::shipped("turn-relay-only"), &all_pairings());
    assert_eq!(cases.len(), 9);
    let (results, seen) = common::run_with_servers(&cases).await;
    let (need, listen, relayed) = only_server(&seen);
    assert_eq!(
        need,
        ServerNeed {
            kind: TurnServerKind::Embedded,
            credentials: TurnCredentials::LongTerm
        }
    );
    for r in &results {
        assert_relayed_through(r, need, TurnTransport::Udp, listen, &relayed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_relay_only_through_coturn_with_rest_credentials() {
    let _turn = common::browser_turn().await;
    let mut scenario = common::shipped("turn-relay-only");
    // As `run --turn coturn` does, and with credentials minted per case.
    scenario.ice.use_server_kind(TurnServerKind::Coturn);
    scenario.ice.turn.as_mut().unwrap().credentials = TurnCredentials::Rest;
    let cases = common::cases(
        scenario,
        &[
            (Native, Chromium),
            (Chromium, Native),
            (Chromium, Firefox),
            (Firefox, Chromium),
        ],
    );
    let (results, seen) = common::run_with_servers(&cases).await;
    let (need, listen, relayed) = only_server(&seen);
    assert_eq!(
        need,
        ServerNeed {
            kind: TurnServerKind::Coturn,
            credentials: TurnCredentials::Rest
        }
    );
    // Two allocations per case, none of them shared with another case.
    assert!(relayed.len() >= 2 * results.len(), "{relayed:?}");
    for r in &results {
        assert_relayed_through(r, need, TurnTransport::Udp, listen, &relayed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_over_tcp_browsers_relay_over_tcp_and_native_peers_are_known_failures() {
    let _turn = common::browser_turn().await;
    let browsers = [
        (Chromium, Chromium),
        (Chromium, Firefox),
        (Firefox, Chromium),
        (Firefox, Firefox),
    ];
    let with_native = [(Native, Native), (Native, Firefox), (Chromium, Native)];
    let pairings: Vec<_> = browsers.iter().chain(&with_native).copied().collect();
    let cases = common::cases(common::shipped("turn-relay-only-tcp"), &pairings);
    assert_eq!(cases.len(), 7);
    let (results, seen) = common::run_with_servers(&cases).await;
    let (need, listen, relayed) = only_server(&seen);
    for r in &results {
        if r.offerer.is_browser() && r.answerer.is_browser() {
            assert_relayed_through(r, need, TurnTransport::Tcp, listen, &relayed);
            continue;
        }
        assert_eq!(
            r.status,
            Status::ExpectedFailure,
            "{}: {:?}",
            r.pairing,
            r.failure
        );
        let failure = r.failure.as_deref().unwrap();
        assert!(
            failure.starts_with(
                "known failure (webrtc-rs 0.21 allocates on TURN servers over UDP only"
            ),
            "{failure}"
        );
        // The evidence for the reason: the native side gathered nothing at all.
        for (role, kind, candidates) in [
            ("offerer", r.offerer, &r.candidates.offerer),
            ("answerer", r.answerer, &r.candidates.answerer),
        ] {
            if kind == Native {
                assert!(
                    candidates.local.is_empty(),
                    "{}: the native {role} gathered {:?}",
                    r.pairing,
                    candidates.local
                );
                assert!(
                    failure.contains(&format!(
                        "{role} (native): no local relay candidate (saw none)"
                    )),
                    "{failure}"
                );
            }
        }
        assert_eq!(r.ice_servers[0].transport, Some(TurnTransport::Tcp));
    }
}
