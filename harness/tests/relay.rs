//! The signaling relay: forwarding within a room, isolation between rooms, bad frames, and the
//! limits that let it run unattended (slow readers, silent and idle connections, the connection
//! limit, the bounded trace, tokens and origins, memory under load).

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rtc_interop::relay::{Relay, RelayConfig};
use tokio_tungstenite::tungstenite::Message;

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn start(config: RelayConfig) -> Relay {
    Relay::start("127.0.0.1:0".parse::<SocketAddr>().unwrap(), config)
        .await
        .unwrap()
}

async fn join(relay: &Relay, room: &str) -> Client {
    let before = relay.members(room);
    let (client, _) = tokio_tungstenite::connect_async(relay.room_url(room))
        .await
        .unwrap();
    // The relay registers a member after the handshake; wait for it so no frame is sent too early.
    for _ in 0..200 {
        if relay.members(room) > before {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the relay never registered the new member of {room}");
}

async fn send(client: &mut Client, text: &str) {
    client.send(Message::text(text)).await.unwrap();
}

/// The next text frame, or None if nothing arrives within a short time.
async fn next_text(client: &mut Client, wait: Duration) -> Option<String> {
    match tokio::time::timeout(wait, client.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => Some(text.to_string()),
        Ok(Some(Ok(Message::Close(_)))) | Ok(None) => None,
        Ok(other) => panic!("unexpected frame: {other:?}"),
        Err(_) => None,
    }
}

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(5);

#[tokio::test]
async fn forwards_to_the_other_members_of_the_room_only() {
    let relay = start(RelayConfig::default()).await;
    relay.trace_room("room/a");
    let mut alice = join(&relay, "room/a").await;
    let mut bob = join(&relay, "room/a").await;
    let mut carol = join(&relay, "room/a").await;

    let hello = r#"{"type":"hello","m":"alice"}"#;
    send(&mut alice, hello).await;
    assert_eq!(next_text(&mut bob, LONG).await.as_deref(), Some(hello));
    assert_eq!(next_text(&mut carol, LONG).await.as_deref(), Some(hello));
    assert_eq!(
        next_text(&mut alice, SHORT).await,
        None,
        "the sender must not get its own message"
    );

    let trace = relay.trace("room/a");
    assert_eq!(trace.len(), 1);
    assert_eq!(trace[0].kind, "hello");
    assert_eq!(trace[0].sender.as_deref(), Some("alice"));
    assert_eq!(trace[0].delivered_to, 2);
    assert!(trace[0].at_ms > 0.0);
}

#[tokio::test]
async fn rooms_are_isolated() {
    let relay = start(RelayConfig::default()).await;
    relay.trace_room("one");
    relay.trace_room("two");
    let mut a1 = join(&relay, "one").await;
    let mut a2 = join(&relay, "one").await;
    let mut b1 = join(&relay, "two").await;

    send(&mut a1, r#"{"type":"offer","sdp":"v=0","m":"a1"}"#).await;
    assert!(next_text(&mut a2, LONG).await.unwrap().contains("offer"));
    assert_eq!(
        next_text(&mut b1, SHORT).await,
        None,
        "room two must not see room one"
    );
    assert!(relay.trace("two").is_empty());
    assert_eq!(relay.trace("one").len(), 1);
}

#[tokio::test]
async fn forwards_any_json_object_with_a_type_unchanged() {
    let relay = start(RelayConfig::default()).await;
    let mut a = join(&relay, "seed").await;
    let mut b = join(&relay, "seed").await;
    // A seed-tutorial client's message: only `candidate` as a string, plus its own fields.
    let message = r#"{"type":"candidate","m":1700000000,"candidate":"candidate:1 1 udp 1 192.0.2.1 9 typ host","extra":[1,2]}"#;
    send(&mut a, message).await;
    assert_eq!(next_text(&mut b, LONG).await.as_deref(), Some(message));
}

#[tokio::test]
async fn malformed_frames_get_an_error_and_other_rooms_keep_working() {
    let relay = start(RelayConfig::default()).await;
    relay.trace_room("bad");
    let mut bad = join(&relay, "bad").await;
    let mut bad_peer = join(&relay, "bad").await;
    let mut good1 = join(&relay, "good").await;
    let mut good2 = join(&relay, "good").await;

    for (frame, reason) in [
        ("not json", "not JSON"),
        (r#"{"m":"x"}"#, "no `type`"),
        (r#"{"type":7}"#, "must be a string"),
        (r#"["hello"]"#, "JSON object"),
        // Which of two `type`s a peer would act on is anyone's guess.
        (r#"{"type":"offer","type":"answer"}"#, "duplicate"),
    ] {
        send(&mut bad, frame).await;
        let error = next_text(&mut bad, LONG).await.expect("an error frame");
        let error: serde_json::Value = serde_json::from_str(&error).unwrap();
        assert_eq!(error["type"], "error");
        assert!(
            error["error"].as_str().unwrap().contains(reason),
            "{frame}: {error}"
        );
    }
    bad.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    let error = next_text(&mut bad, LONG)
        .await
        .expect("an error frame for binary");
    assert!(error.contains("binary"), "{error}");
    assert_eq!(
        next_text(&mut bad_peer, SHORT).await,
        None,
        "bad frames are never forwarded"
    );
    assert!(relay.trace("bad").is_empty());

    // The same connection still works after its bad frames, and so does every other room.
    send(&mut bad, r#"{"type":"hello","m":"x"}"#).await;
    assert!(next_text(&mut bad_peer, LONG).await.is_some());
    send(&mut good1, r#"{"type":"hello","m":"g"}"#).await;
    assert!(next_text(&mut good2, LONG).await.is_some());
}

#[tokio::test]
async fn an_oversized_frame_closes_only_that_connection() {
    let relay = start(RelayConfig {
        max_frame_bytes: 1024,
        ..RelayConfig::default()
    })
    .await;
    let mut big = join(&relay, "r").await;
    let mut other = join(&relay, "r").await;
    let mut third = join(&relay, "r").await;

    let huge = format!(
        r#"{{"type":"offer","sdp":"{}","m":"big"}}"#,
        "x".repeat(4096)
    );
    let _ = big.send(Message::text(huge)).await;
    let closed = tokio::time::timeout(LONG, async {
        loop {
            match big.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the relay closes the oversized sender");
    assert_eq!(closed, Some(1009), "close code 1009 (message too big)");
    assert_eq!(next_text(&mut other, SHORT).await, None);

    send(&mut other, r#"{"type":"hello","m":"other"}"#).await;
    assert!(
        next_text(&mut third, LONG).await.is_some(),
        "the room keeps working"
    );
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
    let relay = start(RelayConfig::default()).await;
    let mut mallory = join(&relay, "room/utf8").await;
    let raw = Frame::message(vec![0xff, 0xfe, 0x7b], OpCode::Data(Data::Text), true);
    mallory.send(Message::Frame(raw)).await.unwrap();
    let closed = tokio::time::timeout(LONG, async {
        while let Some(frame) = mallory.next().await {
            if let Ok(Message::Close(close)) = frame {
                return close;
            }
        }
        None
    })
    .await
    .expect("the relay answered within 5 s");
    let close = closed.expect("a close frame");
    assert_eq!(close.code, CloseCode::Invalid);
    assert!(close.reason.contains("not UTF-8"), "{}", close.reason);
}

#[tokio::test]
async fn clients_may_not_send_the_relays_own_error_frames() {
    let relay = start(RelayConfig::default()).await;
    let mut mallory = join(&relay, "room/err").await;
    let mut victim = join(&relay, "room/err").await;
    send(&mut mallory, r#"{"type":"error","error":"fake"}"#).await;
    let answer = next_text(&mut mallory, LONG).await.unwrap();
    assert!(answer.contains("the relay's own message type"), "{answer}");
    assert_eq!(next_text(&mut victim, SHORT).await, None);
}

/// The close code a client gets, reading (and discarding) whatever comes before it.
async fn close_code(client: &mut Client, wait: Duration) -> Option<u16> {
    tokio::time::timeout(wait, async {
        while let Some(frame) = client.next().await {
            match frame {
                Ok(Message::Close(close)) => return close.map(|c| u16::from(c.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// Waits until `condition` holds, for at most `wait`.
async fn eventually(wait: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_does_not_read_is_disconnected_and_the_sender_never_stalls() {
    // The default queue (256 messages): a reader that keeps up never fills it, even when the
    // relay's tasks wait for a core.
    let relay = start(RelayConfig::default()).await;
    let mut sender = join(&relay, "slow").await;
    let mut slow = join(&relay, "slow").await; // never reads until the end
    let mut reader = join(&relay, "slow").await;
    const MESSAGES: usize = 4000;
    // 16 KB each, 64 MB in all: far more than the socket buffers of the slow member hold (~11 MB
    // here, with its queue).
    let message = format!(r#"{{"type":"bulk","pad":"{}"}}"#, "x".repeat(16 * 1024));
    let relay = std::sync::Arc::new(relay);
    // Once out of the room, the slow member reads: the relay's close frame is behind the backlog.
    let kicked = {
        let relay = relay.clone();
        tokio::spawn(async move {
            let gone = eventually(Duration::from_secs(10), || relay.members("slow") == 2).await;
            (gone, close_code(&mut slow, LONG).await)
        })
    };
    use std::sync::atomic::{AtomicUsize, Ordering};
    let received = std::sync::Arc::new(AtomicUsize::new(0));
    let reading = {
        let received = received.clone();
        tokio::spawn(async move {
            while next_text(&mut reader, LONG).await.is_some() {
                if received.fetch_add(1, Ordering::Relaxed) + 1 == MESSAGES {
                    break;
                }
            }
            received.load(Ordering::Relaxed)
        })
    };
    let sending = tokio::time::timeout(Duration::from_secs(10), async {
        for sent in 0..MESSAGES {
            // A reader that keeps up: never more than 64 messages behind, even when this test's
            // tasks wait for a core (the slow member is not waited for).
            while sent > received.load(Ordering::Relaxed) + 64 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            sender.send(Message::text(message.clone())).await.unwrap();
        }
    })
    .await;
    assert!(sending.is_ok(), "the sender was stalled by the slow member");
    assert_eq!(
        reading.await.unwrap(),
        MESSAGES,
        "the reading member got everything"
    );
    let (gone, code) = kicked.await.unwrap();
    assert!(gone, "the slow member is still in the room");
    assert_eq!(code, Some(1008));
}

#[tokio::test]
async fn a_silent_tcp_connection_is_closed_after_the_handshake_timeout() {
    use tokio::io::AsyncReadExt;
    let relay = start(RelayConfig {
        handshake_timeout: Duration::from_millis(300),
        ..RelayConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    let mut silent = tokio::net::TcpStream::connect(relay.local_addr())
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(LONG, silent.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the relay must close a connection that never starts its handshake: {read:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
    assert!(eventually(LONG, || relay.connections() == 0).await);
}

#[tokio::test]
async fn an_idle_client_is_closed_and_one_answering_pings_stays() {
    let relay = start(RelayConfig {
        ping_interval: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(800),
        ..RelayConfig::default()
    })
    .await;
    let mut idle = join(&relay, "quiet").await; // not polled: never answers a ping
    let mut live = join(&relay, "quiet").await;
    // Polling the client answers the relay's pings; it sends nothing else.
    let live_task = tokio::spawn(async move {
        let quiet_for = Duration::from_millis(2500);
        let _ =
            tokio::time::timeout(quiet_for, async { while live.next().await.is_some() {} }).await;
        live
    });
    let mut live = live_task.await.unwrap();
    assert_eq!(
        relay.members("quiet"),
        1,
        "the idle client is closed, the live one stays"
    );
    assert_eq!(close_code(&mut idle, LONG).await, Some(1001));
    send(&mut live, r#"{"type":"hello","m":"live"}"#).await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused() {
    let relay = start(RelayConfig {
        max_connections: 2,
        ..RelayConfig::default()
    })
    .await;
    let _a = join(&relay, "full").await;
    let b = join(&relay, "full").await;
    let third = tokio::time::timeout(
        LONG,
        tokio_tungstenite::connect_async(relay.room_url("full")),
    )
    .await
    .expect("refused at once, not left hanging");
    assert!(third.is_err(), "a third connection is over the limit");
    drop(b);
    assert!(eventually(LONG, || relay.connections() == 1).await);
    join(&relay, "full").await; // room again below the limit
}

#[tokio::test]
async fn only_traced_rooms_are_recorded_and_a_trace_is_bounded() {
    let relay = start(RelayConfig {
        max_trace_entries: 3,
        ..RelayConfig::default()
    })
    .await;
    relay.trace_room("traced");
    let mut t1 = join(&relay, "traced").await;
    let mut t2 = join(&relay, "traced").await;
    let mut u1 = join(&relay, "untraced").await;
    let mut u2 = join(&relay, "untraced").await;
    for i in 0..5 {
        let hello = format!(r#"{{"type":"hello","m":"{i}"}}"#);
        send(&mut t1, &hello).await;
        send(&mut u1, &hello).await;
        assert!(next_text(&mut t2, LONG).await.is_some());
        assert!(next_text(&mut u2, LONG).await.is_some());
    }
    assert!(relay.trace("untraced").is_empty());
    let trace = relay.take_trace("traced");
    assert_eq!(trace.entries.len(), 3);
    assert_eq!(trace.dropped, 2);
    assert_eq!(trace.entries[2].sender.as_deref(), Some("2"));
    assert!(
        relay.trace("traced").is_empty(),
        "taking a trace stops recording"
    );
}

#[tokio::test]
async fn a_token_and_the_origin_are_checked_at_the_upgrade() {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let relay = start(RelayConfig {
        token: Some("s3cret".into()),
        allowed_origins: vec!["https://app.example".into()],
        ..RelayConfig::default()
    })
    .await;
    let status = |result: Result<_, WsError>| match result {
        Ok(_) => 101,
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("not an HTTP refusal: {e}"),
    };
    let url = relay.room_url("private");
    assert_eq!(status(tokio_tungstenite::connect_async(&url).await), 401);
    let wrong = format!("{url}?token=guess");
    assert_eq!(status(tokio_tungstenite::connect_async(&wrong).await), 401);

    let with_origin = |origin: &str| {
        let mut request = format!("{url}?token=s3cret").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        request
    };
    let foreign = tokio_tungstenite::connect_async(with_origin("https://evil.example")).await;
    assert_eq!(status(foreign), 403);
    for allowed in ["https://app.example", "http://127.0.0.1:4000"] {
        let client = tokio_tungstenite::connect_async(with_origin(allowed)).await;
        assert_eq!(status(client), 101, "{allowed}");
    }
    let (_client, _) = tokio_tungstenite::connect_async(format!("{url}?token=s3cret"))
        .await
        .unwrap();
    assert!(
        eventually(LONG, || relay.members("private") == 1).await,
        "the room is the path, without the query"
    );
}

/// The standalone relay's resident memory in KB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn the_standalone_relays_memory_stays_flat_under_load() {
    let (mut child, addr) = common::standalone_relay();
    let pid = child.id();
    let load = async {
        let before = rss_kb(pid);
        let pad = "x".repeat(1000);
        // One client alone in a room (forwarded to nobody), and ten pairs ping-ponging: 40 000
        // frames of 1 KB.
        let (mut alone, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/alone"))
            .await
            .unwrap();
        for _ in 0..20_000 {
            let frame = format!(r#"{{"type":"x","pad":"{pad}"}}"#);
            alone.send(Message::text(frame)).await.unwrap();
        }
        let pairs = (0..10).map(|i| {
            let (addr, pad) = (addr.clone(), pad.clone());
            async move {
                let url = format!("ws://{addr}/pair/{i}");
                let (mut a, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
                let (mut b, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await; // both joined
                let frame = format!(r#"{{"type":"ping","pad":"{pad}"}}"#);
                for _ in 0..1000 {
                    a.send(Message::text(frame.clone())).await.unwrap();
                    next_text(&mut b, LONG).await.unwrap();
                    b.send(Message::text(frame.clone())).await.unwrap();
                    next_text(&mut a, LONG).await.unwrap();
                }
            }
        });
        futures_util::future::join_all(pairs).await;
        drop(alone);
        tokio::time::sleep(Duration::from_millis(500)).await;
        (before, rss_kb(pid))
    };
    let measured = tokio::time::timeout(Duration::from_secs(60), load).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let (before, after) = measured.expect("the load finished within 60 s");
    assert!(
        after < before + 5 * 1024,
        "RSS grew from {before} KB to {after} KB after 40 000 frames"
    );
}
