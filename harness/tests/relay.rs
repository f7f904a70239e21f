//! The signaling relay: forwarding within a room, isolation between rooms, and bad frames.

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
    let mut bad = join(&relay, "bad").await;
    let mut bad_peer = join(&relay, "bad").await;
    let mut good1 = join(&relay, "good").await;
    let mut good2 = join(&relay, "good").await;

    for (frame, reason) in [
        ("not json", "not JSON"),
        (r#"{"m":"x"}"#, "no `type`"),
        (r#"{"type":7}"#, "must be a string"),
        (r#"["hello"]"#, "JSON object"),
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
