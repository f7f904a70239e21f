//! The native peer's own conduct towards other stacks: one bad candidate does not stop it, it
//! closes on `bye` (and closes its WebSocket properly), and `peer native` exits 0 only when it
//! did everything it was asked.

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rtc_interop::bounded::wait_with_output_within;
use rtc_interop::observe::Observations;
use rtc_interop::peer::native::NativePeer;
use rtc_interop::peer::{Peer, PeerPlan, Role};
use rtc_interop::relay::{Relay, RelayConfig};
use rtc_interop::scenario::steps::default_steps;
use rtc_interop::scenario::{DataChannelSpec, IceMode, IceTransportPolicy, NativeProfile, Step};
use tokio_tungstenite::tungstenite::Message;

fn echo_steps() -> Vec<Step> {
    let channel = DataChannelSpec {
        label: "echo".into(),
        ordered: true,
        max_retransmits: None,
        max_packet_life_time: None,
        protocol: String::new(),
    };
    default_steps(&channel)
        .into_iter()
        .map(|mut s| {
            s.within_secs = Some(10.0);
            s
        })
        .collect()
}

fn plan(role: Role, signal_url: String, steps: Vec<Step>) -> PeerPlan {
    PeerPlan {
        id: format!("{}-native", role.as_str()),
        role,
        signal_url,
        ice_transport_policy: IceTransportPolicy::All,
        ice_servers: Vec::new(),
        steps,
        echo_message: "probe".into(),
        ice_mode: IceMode::Trickle,
        perfect_negotiation: false,
        media: Vec::new(),
    }
}

async fn relay() -> Relay {
    Relay::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        RelayConfig::default(),
    )
    .await
    .unwrap()
}

async fn until_finished(peer: &mut NativePeer, limit: Duration) -> Observations {
    let deadline = Instant::now() + limit;
    loop {
        let obs = peer.observations().await.unwrap();
        if obs.finished || Instant::now() > deadline {
            return obs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A native answerer in `room` of `relay`, and a bare WebSocket in the same room that plays the
/// other side frame by frame.
async fn answerer_and_a_bare_socket(
    relay: &Relay,
    room: &str,
) -> (
    NativePeer,
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) {
    let url = relay.room_url(room);
    let mut answerer = NativePeer::new(NativeProfile::Default);
    answerer
        .start(&plan(Role::Answerer, url.clone(), echo_steps()))
        .await
        .unwrap();
    let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    (answerer, ws)
}

#[tokio::test]
async fn a_candidate_that_fails_to_add_is_recorded_and_the_rest_still_count() {
    let relay = relay().await;
    let (mut answerer, mut ws) = answerer_and_a_bare_socket(&relay, "bad-candidate").await;
    // Another stack's broken candidate arrives before the offer, so it waits in the queue in
    // front of the good ones.
    let bad = r#"{"type":"candidate","candidate":"candidate:garbage","sdpMid":"0","sdpMLineIndex":0,"m":"offerer-native"}"#;
    ws.send(Message::text(bad)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut offerer = NativePeer::new(NativeProfile::Default);
    offerer
        .start(&plan(
            Role::Offerer,
            relay.room_url("bad-candidate"),
            echo_steps(),
        ))
        .await
        .unwrap();
    let answered = until_finished(&mut answerer, Duration::from_secs(15)).await;
    let offered = until_finished(&mut offerer, Duration::from_secs(5)).await;
    offerer.close().await;
    answerer.close().await;
    assert!(
        answered
            .errors
            .iter()
            .any(|e| e.contains("addIceCandidate(candidate:garbage)")),
        "{:?}",
        answered.errors
    );
    assert!(answered.failed_step().is_none(), "{:?}", answered.steps);
    assert!(!answered.remote_candidates.is_empty());
    let echo = offered.channels[0].echo.as_ref().unwrap();
    assert_eq!(echo.received.as_deref(), Some("probe"));
}

#[tokio::test]
async fn an_offer_the_answerer_cannot_apply_fails_its_round_at_once() {
    let relay = relay().await;
    let (mut answerer, mut ws) = answerer_and_a_bare_socket(&relay, "unanswerable-offer").await;
    // An offer webrtc-rs refuses to apply (no fingerprint, no ICE credentials): the other side
    // offers each round once, so this round is lost and the step says so without waiting 10 s.
    let hello = r#"{"type":"hello","m":"offerer-script"}"#;
    let offer = r#"{"type":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n","m":"offerer-script"}"#;
    ws.send(Message::text(hello)).await.unwrap();
    ws.send(Message::text(offer)).await.unwrap();
    let answered = until_finished(&mut answerer, Duration::from_secs(8)).await;
    answerer.close().await;
    assert!(answered.finished, "still waiting: {:?}", answered.steps);
    let failed = answered.failed_step().expect("a failed step");
    let error = failed.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("offer/answer round 1 never completed (its offer could not be answered)"),
        "{error}"
    );
    assert!(error.contains("last error: "), "{error}");
}

#[tokio::test]
async fn bye_closes_the_connection_and_the_websocket_with_a_close_frame() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/room", listener.local_addr().unwrap());
    let mut answerer = NativePeer::new(NativeProfile::Default);
    let started = Instant::now();
    let answerer_plan = plan(Role::Answerer, url, echo_steps());
    let (accepted, joined) = tokio::join!(
        async {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio_tungstenite::accept_async(tcp).await.unwrap()
        },
        answerer.start(&answerer_plan)
    );
    joined.unwrap();
    let mut ws = accepted;
    ws.send(Message::text(r#"{"type":"hello","m":"other"}"#))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"bye","m":"other"}"#))
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(frame)) = ws.next().await {
            if let Message::Close(frame) = frame {
                return frame;
            }
        }
        None
    })
    .await
    .expect("no close frame within 5 s");
    assert_eq!(closed.map(|f| f.code), Some(1000.into()));
    let obs = until_finished(&mut answerer, Duration::from_secs(5)).await;
    answerer.close().await;
    assert!(obs.finished);
    assert!(obs.bye_received_at_ms.is_some());
    assert_eq!(obs.final_connection_state(), Some("closed"));
    // It stopped on `bye`, long before its 10 s step limit.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let failed = obs.failed_step().expect("the answer never came");
    assert!(
        failed.error.as_deref().unwrap().contains("hung up"),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_native_answer_fails_when_no_message_arrives_although_connected() {
    let relay = relay().await;
    let url = relay.room_url("no-message");
    let answerer = std::process::Command::new(common::BIN)
        .args([
            "peer",
            "native",
            "--signal",
            &url,
            "--answer",
            "--timeout-secs",
            "4",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // An offerer that connects with a channel but never sends on it.
    let mut steps = echo_steps();
    steps.truncate(2);
    let mut offerer = NativePeer::new(NativeProfile::Default);
    offerer
        .start(&plan(Role::Offerer, url, steps))
        .await
        .unwrap();
    let output = tokio::task::spawn_blocking(move || {
        wait_with_output_within(answerer, common::RUN_LIMIT).unwrap()
    })
    .await
    .unwrap();
    offerer.close().await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("step 3 (send)"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["connected"], true, "{json}");
    assert_eq!(json["completed"], false, "{json}");
}

/// Steps from TOML, each limited to `within` seconds.
fn steps(toml_text: &str, within: f64) -> Vec<Step> {
    #[derive(serde::Deserialize)]
    struct Doc {
        steps: Vec<Step>,
    }
    let doc: Doc = toml::from_str(toml_text).unwrap();
    doc.steps
        .into_iter()
        .map(|mut s| {
            s.within_secs = Some(within);
            s
        })
        .collect()
}

/// Plays `offerer` and `answerer` plans (which may disagree, to provoke a failure) between two
/// native peers; returns what each observed.
async fn play_pair(offerer: Vec<Step>, answerer: Vec<Step>) -> (Observations, Observations) {
    let relay = relay().await;
    let url = relay.room_url("steps");
    let mut peers = [
        NativePeer::new(NativeProfile::Fast),
        NativePeer::new(NativeProfile::Fast),
    ];
    let [first, second] = &mut peers;
    first
        .start(&plan(Role::Offerer, url.clone(), offerer))
        .await
        .unwrap();
    second
        .start(&plan(Role::Answerer, url, answerer))
        .await
        .unwrap();
    let offered = until_finished(first, Duration::from_secs(10)).await;
    let answered = until_finished(second, Duration::from_secs(10)).await;
    first.close().await;
    second.close().await;
    (offered, answered)
}

fn failure(obs: &Observations) -> String {
    let step = obs
        .failed_step()
        .unwrap_or_else(|| panic!("no step failed: {:?}", obs.steps));
    format!(
        "step {} ({}, {}): {}",
        step.index + 1,
        step.kind,
        step.by,
        step.error.as_deref().unwrap()
    )
}

const CALL: &str =
    "[[steps]]\ndo = \"open_channel\"\nlabel = \"c\"\n[[steps]]\ndo = \"negotiate\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_names_itself_and_what_it_saw_when_it_fails() {
    // negotiate: nobody else in the room.
    let room = relay().await;
    let mut alone = NativePeer::new(NativeProfile::Fast);
    alone
        .start(&plan(
            Role::Offerer,
            room.room_url("alone"),
            steps(CALL, 0.5),
        ))
        .await
        .unwrap();
    let obs = until_finished(&mut alone, Duration::from_secs(5)).await;
    alone.close().await;
    assert_eq!(
        failure(&obs),
        "step 2 (negotiate, offerer): the other peer never said hello within 0.5 s"
    );

    // The other side's plan has a second round that this side's plan never offers.
    let (_, answered) = play_pair(
        steps(&format!("{CALL}[[steps]]\ndo = \"wait_for\"\nof = \"connection\"\nstate = \"connected\"\n"), 2.0),
        steps(&format!("{CALL}[[steps]]\ndo = \"wait_for\"\nof = \"connection\"\nstate = \"connected\"\n[[steps]]\ndo = \"negotiate\"\nby = \"offerer\"\n"), 1.0),
    )
    .await;
    assert!(
        failure(&answered).starts_with(
            "step 4 (negotiate, offerer): offer/answer round 2 never completed within 1 s (signaling `stable`, 1 rounds done)"
        ),
        "{}",
        failure(&answered)
    );

    // send: a channel that can never open (relay-only ICE through a TURN server that is not
    // there: no candidate, nothing to connect).
    let url = room.room_url("no-ice");
    let send = format!("{CALL}[[steps]]\ndo = \"send\"\nchannel = \"c\"\n");
    let mut lonely = [
        NativePeer::new(NativeProfile::Fast),
        NativePeer::new(NativeProfile::Fast),
    ];
    for (peer, role) in lonely.iter_mut().zip([Role::Offerer, Role::Answerer]) {
        let mut p = plan(role, url.clone(), steps(&send, 1.0));
        p.ice_transport_policy = IceTransportPolicy::Relay;
        p.ice_servers = vec![rtc_interop::net::IceServer {
            urls: vec!["turn:127.0.0.1:9?transport=udp".into()],
            username: "nobody".into(),
            credential: "nothing".into(),
        }];
        peer.start(&p).await.unwrap();
    }
    let obs = until_finished(&mut lonely[0], Duration::from_secs(5)).await;
    for peer in &mut lonely {
        peer.close().await;
    }
    assert_eq!(
        failure(&obs),
        "step 3 (send, offerer): channel `c` never opened within 1 s (it was `connecting`)"
    );

    // expect_echo: both sides open the same negotiated channel as their own, so neither echoes.
    let own = |by: &str| {
        format!(
            "[[steps]]\ndo = \"open_channel\"\nby = \"{by}\"\nlabel = \"n\"\nnegotiated = true\nid = 3\n\
             [[steps]]\ndo = \"negotiate\"\n[[steps]]\ndo = \"send\"\nchannel = \"n\"\n\
             [[steps]]\ndo = \"expect_echo\"\nchannel = \"n\"\n"
        )
    };
    let (offered, _) = play_pair(steps(&own("offerer"), 2.0), steps(&own("answerer"), 2.0)).await;
    assert_eq!(
        failure(&offered),
        "step 4 (expect_echo, offerer): 0 of 1 messages came back on `n` within 2 s"
    );

    // send with expect_error: a small message is accepted, which is the failure.
    let refused = format!(
        "{CALL}[[steps]]\ndo = \"send\"\nchannel = \"c\"\nsize = 10\nexpect_error = true\n"
    );
    let (offered, _) = play_pair(steps(&refused, 2.0), steps(&refused, 2.0)).await;
    assert!(
        failure(&offered).starts_with(
            "step 3 (send, offerer): sent 10 bytes on `c` without an error, although the most it may send is 65536"
        ),
        "{}",
        failure(&offered)
    );

    // close_channel / hang_up / wait_for: the other side never does its part.
    let mine = |tail: &str| {
        format!(
            "{CALL}[[steps]]\ndo = \"wait_for\"\nby = \"both\"\nof = \"connection\"\nstate = \"connected\"\n{tail}"
        )
    };
    let (_, answered) = play_pair(
        steps(&mine(""), 2.0),
        steps(
            &mine("[[steps]]\ndo = \"close_channel\"\nchannel = \"c\"\n"),
            1.0,
        ),
    )
    .await;
    assert_eq!(
        failure(&answered),
        "step 4 (close_channel, offerer): channel `c` never closed within 1 s"
    );
    let (_, answered) = play_pair(
        steps(&mine(""), 2.0),
        steps(&mine("[[steps]]\ndo = \"hang_up\"\n"), 1.0),
    )
    .await;
    assert_eq!(
        failure(&answered),
        "step 4 (hang_up, offerer): no `bye` arrived within 1 s (connection `connected`)"
    );
    let (offered, _) = play_pair(
        steps(
            &mine("[[steps]]\ndo = \"wait_for\"\nof = \"gathering\"\nstate = \"new\"\n"),
            1.0,
        ),
        steps(&mine(""), 2.0),
    )
    .await;
    assert_eq!(
        failure(&offered),
        "step 4 (wait_for, offerer): gathering never became `new` within 1 s; last saw `complete`"
    );
}
