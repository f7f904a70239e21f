//! The native peer's own conduct towards other stacks: one bad candidate does not stop it, it
//! closes on `bye` (and closes its WebSocket properly), and `peer native` exits 0 only when it
//! did everything it was asked.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
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

#[tokio::test]
async fn a_candidate_that_fails_to_add_is_recorded_and_the_rest_still_count() {
    let relay = relay().await;
    let url = relay.room_url("bad-candidate");
    let mut answerer = NativePeer::new(NativeProfile::Default);
    answerer
        .start(&plan(Role::Answerer, url.clone(), echo_steps()))
        .await
        .unwrap();
    // Another stack's broken candidate arrives before the offer, so it waits in the queue in
    // front of the good ones.
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let bad = r#"{"type":"candidate","candidate":"candidate:garbage","sdpMid":"0","sdpMLineIndex":0,"m":"offerer-native"}"#;
    ws.send(Message::text(bad)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut offerer = NativePeer::new(NativeProfile::Default);
    offerer
        .start(&plan(Role::Offerer, url, echo_steps()))
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
    let output = tokio::task::spawn_blocking(move || answerer.wait_with_output().unwrap())
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
