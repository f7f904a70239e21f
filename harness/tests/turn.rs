//! The STUN/TURN servers a run starts, tested against real servers on 127.0.0.1: the embedded one
//! (webrtc-rs's `turn` crate) and coturn's `turnserver`.
//!
//! webrtc-rs 0.21 only speaks TURN over UDP (it skips `?transport=tcp` URLs), so TURN over TCP is
//! exercised with the `turn` crate's client over a TCP connection and, end to end, with Chromium.

use crate::common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rtc_interop::net::probe::{self, ProbeError};
use rtc_interop::net::{
    Coturn, CoturnOptions, EmbeddedTurn, IceServer, TurnAuth, TurnError, TurnOptions, TurnServer,
    TurnServerKind, TurnTransport, rest_credentials,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateType, RTCIceGatheringState, RTCIceServer, RTCIceTransportPolicy,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState,
};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// The limit for one STUN/TURN exchange with a server on this machine.
const PROBE: Duration = Duration::from_secs(5);
/// The limit for two peers to gather, connect and echo through a relay.
const CONNECT: Duration = Duration::from_secs(20);

fn long_term() -> TurnOptions {
    TurnOptions::loopback(TurnAuth::LongTerm {
        username: "alice".into(),
        password: "wonderland".into(),
    })
}

fn rest() -> TurnOptions {
    TurnOptions::loopback(TurnAuth::RestSecret {
        secret: "north-wind".into(),
    })
}

/// coturn as the tests run it: installed first where it is missing (as `run` installs browsers).
fn coturn_options() -> CoturnOptions {
    CoturnOptions {
        install: true,
        ..CoturnOptions::default()
    }
}

async fn start(kind: TurnServerKind, options: TurnOptions) -> TurnServer {
    TurnServer::start_with(kind, options, coturn_options())
        .await
        .unwrap_or_else(|e| panic!("cannot start the {} server: {e}", kind.as_str()))
}

/// The `turnserver` processes started with `config` (its path is on their command lines).
fn turnserver_processes(config: &Path) -> Vec<String> {
    let config = config.to_string_lossy();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(config.as_ref()) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

/// Waits (a few seconds at most) for every process started with `config` to be gone.
async fn assert_no_turnserver_left(config: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = turnserver_processes(config);
        if left.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "turnserver left running: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Closes `server`; for coturn, checks that its process is gone afterwards.
async fn close(server: TurnServer) {
    let config = match &server {
        TurnServer::Coturn(c) => Some(c.config_path().to_path_buf()),
        TurnServer::Embedded(_) => None,
    };
    server.close().await;
    if let Some(config) = config {
        assert_no_turnserver_left(&config).await;
    }
}

// ---------------------------------------------------------------------------------------------
// STUN binding, written out by hand so the check does not lean on the code under test.

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];

fn binding_request() -> ([u8; 20], [u8; 12]) {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut txid = [0u8; 12];
    txid.copy_from_slice(&nanos.to_be_bytes()[4..]);
    let mut request = [0u8; 20];
    request[..2].copy_from_slice(&[0x00, 0x01]); // Binding request
    request[4..8].copy_from_slice(&MAGIC_COOKIE);
    request[8..].copy_from_slice(&txid);
    (request, txid)
}

/// The XOR-MAPPED-ADDRESS of a Binding success response to `txid`.
fn mapped_address(response: &[u8], txid: &[u8; 12]) -> SocketAddr {
    assert!(response.len() >= 20, "short response {response:?}");
    assert_eq!(
        &response[..2],
        &[0x01, 0x01],
        "not a Binding success response"
    );
    assert_eq!(&response[8..20], txid, "another transaction's response");
    let mut at = 20;
    while at + 4 <= response.len() {
        let kind = u16::from_be_bytes([response[at], response[at + 1]]);
        let len = u16::from_be_bytes([response[at + 2], response[at + 3]]) as usize;
        let value = &response[at + 4..at + 4 + len];
        if kind == 0x0020 {
            assert_eq!(value[1], 0x01, "not IPv4");
            let port = u16::from_be_bytes([value[2], value[3]]) ^ 0x2112;
            let ip: [u8; 4] = std::array::from_fn(|i| value[4 + i] ^ MAGIC_COOKIE[i]);
            return SocketAddr::from((ip, port));
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    panic!("no XOR-MAPPED-ADDRESS in {response:?}");
}

/// Sends a binding request over UDP; returns (the address it was sent from, the mapped address).
async fn udp_binding(server: SocketAddr) -> (SocketAddr, SocketAddr) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (request, txid) = binding_request();
    let mut buf = [0u8; 1500];
    for _ in 0..5 {
        socket.send_to(&request, server).await.unwrap();
        if let Ok(Ok((n, from))) =
            tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await
        {
            assert_eq!(from, server);
            return (
                socket.local_addr().unwrap(),
                mapped_address(&buf[..n], &txid),
            );
        }
    }
    panic!("{server} did not answer a STUN binding request over UDP");
}

/// The same over TCP.
async fn tcp_binding(server: SocketAddr) -> (SocketAddr, SocketAddr) {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
        let (request, txid) = binding_request();
        stream.write_all(&request).await.unwrap();
        let mut response = vec![0u8; 20];
        stream.read_exact(&mut response).await.unwrap();
        let len = u16::from_be_bytes([response[2], response[3]]) as usize;
        response.resize(20 + len, 0);
        stream.read_exact(&mut response[20..]).await.unwrap();
        (
            stream.local_addr().unwrap(),
            mapped_address(&response, &txid),
        )
    };
    tokio::time::timeout(PROBE, exchange)
        .await
        .unwrap_or_else(|_| panic!("{server} did not answer a STUN binding request over TCP"))
}

async fn check_stun_binding(kind: TurnServerKind) {
    let server = start(kind, long_term()).await;
    let addr = server.endpoint().addr();
    assert_eq!(addr.ip(), LOCALHOST);
    assert_ne!(addr.port(), 0);
    assert_eq!(server.stun_url(), format!("stun:{addr}"));
    for (sent_from, mapped) in [udp_binding(addr).await, tcp_binding(addr).await] {
        assert_eq!(mapped, sent_from, "{}", kind.as_str());
    }
    // The library's own probe agrees, over both transports.
    for transport in [TurnTransport::Udp, TurnTransport::Tcp] {
        let mapped = probe::stun_binding(addr, transport, PROBE).await.unwrap();
        assert_eq!(mapped.ip(), LOCALHOST);
        assert_ne!(mapped.port(), addr.port());
    }
    close(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_answers_stun_binding_with_the_clients_address() {
    check_stun_binding(TurnServerKind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_answers_stun_binding_with_the_clients_address() {
    check_stun_binding(TurnServerKind::Coturn).await;
}

// ---------------------------------------------------------------------------------------------
// TURN allocations with the `turn` crate's client.

/// Allocates with `username`/`password`, then relays a datagram each way between the allocation
/// and a plain UDP socket on 127.0.0.1.
async fn allocate_and_relay(
    server: &TurnServer,
    transport: TurnTransport,
    username: &str,
    password: &str,
) {
    let addr = server.endpoint().addr();
    let allocation = probe::allocate(addr, transport, username, password, PROBE)
        .await
        .unwrap_or_else(|e| panic!("allocation over {transport} failed: {e}"));
    let relayed = allocation.relayed_addr();
    assert_eq!(relayed.ip(), LOCALHOST, "relayed on the server's IP");
    assert_ne!(relayed.port(), addr.port());

    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let mut buf = [0u8; 1500];
    // The first send creates the permission; resend until the peer hears it.
    let mut heard = None;
    for _ in 0..10 {
        allocation.send_to(b"to the peer", peer_addr).await.unwrap();
        if let Ok(received) =
            tokio::time::timeout(Duration::from_millis(300), peer.recv_from(&mut buf)).await
        {
            heard = Some(received.unwrap());
            break;
        }
    }
    let (n, from) = heard.unwrap_or_else(|| panic!("nothing relayed to the peer over {transport}"));
    assert_eq!(&buf[..n], b"to the peer");
    assert_eq!(from, relayed, "the peer hears from the relayed address");

    peer.send_to(b"to the client", relayed).await.unwrap();
    let (data, from) = allocation.recv_from(PROBE).await.unwrap();
    assert_eq!(data, b"to the client");
    assert_eq!(from, peer_addr);
    allocation.close().await;
}

/// Asserts that allocating is refused with `code`.
async fn assert_refused(
    server: &TurnServer,
    transport: TurnTransport,
    username: &str,
    password: &str,
    code: u16,
) {
    let addr = server.endpoint().addr();
    match probe::allocate(addr, transport, username, password, PROBE).await {
        Ok(allocation) => {
            let relayed = allocation.relayed_addr();
            allocation.close().await;
            panic!("{username}/{password} was given {relayed} over {transport}");
        }
        Err(ProbeError::Refused {
            code: got, message, ..
        }) => {
            assert_eq!(got, code, "{message}");
        }
        Err(e) => panic!("{username}/{password} over {transport}: expected error {code}, got {e}"),
    }
}

/// The code a server answers bad credentials with: coturn says 401 as RFC 8489 §9.2.4 has it;
/// the `turn` crate answers 400 when MESSAGE-INTEGRITY does not verify or the user is unknown.
fn refusal_code(kind: TurnServerKind) -> u16 {
    match kind {
        TurnServerKind::Coturn => 401,
        TurnServerKind::Embedded => 400,
    }
}

async fn check_long_term(kind: TurnServerKind) {
    let server = start(kind, long_term()).await;
    let (username, password) = server.credentials();
    assert_eq!(
        (username.as_str(), password.as_str()),
        ("alice", "wonderland")
    );
    for transport in [TurnTransport::Udp, TurnTransport::Tcp] {
        allocate_and_relay(&server, transport, &username, &password).await;
        assert_refused(
            &server,
            transport,
            &username,
            "rabbit-hole",
            refusal_code(kind),
        )
        .await;
        assert_refused(&server, transport, "bob", &password, refusal_code(kind)).await;
    }
    close(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_allocates_and_relays_with_long_term_credentials() {
    check_long_term(TurnServerKind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_allocates_and_relays_with_long_term_credentials() {
    check_long_term(TurnServerKind::Coturn).await;
}

async fn check_rest(kind: TurnServerKind) {
    let server = start(kind, rest()).await;
    let (username, password) = server.credentials();
    let (expiry, user) = username.split_once(':').expect("<expiry>:<user>");
    let expiry: u64 = expiry.parse().unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expiry > now + 3000 && expiry <= now + 3601, "{username}");
    assert_eq!(user, "rtc-interop");
    let code = refusal_code(kind);
    for transport in [TurnTransport::Udp, TurnTransport::Tcp] {
        allocate_and_relay(&server, transport, &username, &password).await;
        // Minted elsewhere with the same secret: also fine.
        let (other_user, other_password) = rest_credentials(
            "north-wind",
            "carol",
            SystemTime::now() + Duration::from_secs(60),
        );
        allocate_and_relay(&server, transport, &other_user, &other_password).await;
        // Expired a minute ago, though correctly signed.
        let (expired, expired_password) = rest_credentials(
            "north-wind",
            "carol",
            SystemTime::now() - Duration::from_secs(60),
        );
        assert_refused(&server, transport, &expired, &expired_password, code).await;
        // Signed with another secret.
        let (forged, forged_password) = rest_credentials(
            "south-wind",
            "carol",
            SystemTime::now() + Duration::from_secs(60),
        );
        assert_refused(&server, transport, &forged, &forged_password, code).await;
    }
    close(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_takes_rest_credentials_and_refuses_expired_ones() {
    check_rest(TurnServerKind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_takes_rest_credentials_and_refuses_expired_ones() {
    check_rest(TurnServerKind::Coturn).await;
}

// ---------------------------------------------------------------------------------------------
// Two webrtc-rs peers, relay only, through the server.

struct Events {
    gathered: mpsc::UnboundedSender<()>,
    states: mpsc::UnboundedSender<RTCPeerConnectionState>,
    channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
    candidates: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            self.candidates.lock().unwrap().push(init.candidate);
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(());
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.states.send(state);
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.channels.send(channel);
    }
}

struct TestPeer {
    connection: Arc<dyn PeerConnection>,
    gathered: mpsc::UnboundedReceiver<()>,
    states: mpsc::UnboundedReceiver<RTCPeerConnectionState>,
    channels: mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
    candidates: Arc<Mutex<Vec<String>>>,
}

async fn relay_only_peer(ice_server: &IceServer) -> TestPeer {
    let (gathered_tx, gathered) = mpsc::unbounded_channel();
    let (states_tx, states) = mpsc::unbounded_channel();
    let (channels_tx, channels) = mpsc::unbounded_channel();
    let candidates = Arc::new(Mutex::new(Vec::new()));
    let connection = PeerConnectionBuilder::new()
        .with_configuration(
            RTCConfigurationBuilder::new()
                .with_ice_servers(vec![RTCIceServer::from(ice_server)])
                .with_ice_transport_policy(RTCIceTransportPolicy::Relay)
                .build(),
        )
        .with_handler(Arc::new(Events {
            gathered: gathered_tx,
            states: states_tx,
            channels: channels_tx,
            candidates: candidates.clone(),
        }))
        .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
        .build()
        .await
        .expect("an RTCPeerConnection");
    TestPeer {
        connection: Arc::new(connection),
        gathered,
        states,
        channels,
        candidates,
    }
}

async fn within<T>(what: &str, work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(CONNECT, work)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {CONNECT:?}"))
}

/// The selected pair's (local, remote) candidate types and the local candidate's address.
async fn selected_pair(
    connection: &Arc<dyn PeerConnection>,
) -> (RTCIceCandidateType, RTCIceCandidateType, String) {
    let sctp = connection.sctp().await.expect("an SCTP transport");
    let ice = sctp.transport().ice_transport();
    let pair = ice
        .get_selected_candidate_pair()
        .await
        .expect("the selected pair")
        .expect("a pair is selected");
    (
        pair.local().typ,
        pair.remote().typ,
        pair.local().address.clone(),
    )
}

async fn check_webrtc_peers_through_relay(server: &TurnServer) {
    let ice_server = server.ice_server(&[TurnTransport::Udp]);
    assert_eq!(
        ice_server.urls,
        vec![server.turn_url(TurnTransport::Udp).unwrap()]
    );
    let mut offerer = relay_only_peer(&ice_server).await;
    let mut answerer = relay_only_peer(&ice_server).await;

    let channel = offerer
        .connection
        .create_data_channel("echo", None)
        .await
        .unwrap();
    let offer = offerer.connection.create_offer(None).await.unwrap();
    offerer
        .connection
        .set_local_description(offer)
        .await
        .unwrap();
    within("the offerer's gathering", offerer.gathered.recv()).await;
    let offer = offerer.connection.local_description().await.unwrap();
    answerer
        .connection
        .set_remote_description(offer)
        .await
        .unwrap();
    let answer = answerer.connection.create_answer(None).await.unwrap();
    answerer
        .connection
        .set_local_description(answer)
        .await
        .unwrap();
    within("the answerer's gathering", answerer.gathered.recv()).await;
    let answer = answerer.connection.local_description().await.unwrap();
    offerer
        .connection
        .set_remote_description(answer)
        .await
        .unwrap();

    for (role, peer) in [("offerer", &offerer), ("answerer", &answerer)] {
        let candidates = peer.candidates.lock().unwrap().clone();
        assert!(!candidates.is_empty(), "the {role} gathered nothing");
        for c in &candidates {
            assert!(c.contains(" typ relay"), "{role} gathered {c}");
            assert!(
                c.contains(" 127.0.0.1 "),
                "{role}'s relay is not on the server: {c}"
            );
        }
    }

    // The answerer echoes whatever arrives.
    let echo = tokio::spawn(async move {
        let channel = answerer.channels.recv().await.expect("a data channel");
        while let Some(event) = channel.poll().await {
            if let DataChannelEvent::OnMessage(message) = event {
                let text = String::from_utf8_lossy(&message.data).into_owned();
                channel.send_text(&text).await.unwrap();
            }
        }
        answerer
    });
    let echoed = within("opening the channel and the echo", async {
        while let Some(event) = channel.poll().await {
            match event {
                DataChannelEvent::OnOpen => channel.send_text("over the relay").await.unwrap(),
                DataChannelEvent::OnMessage(message) => {
                    return String::from_utf8_lossy(&message.data).into_owned();
                }
                _ => {}
            }
        }
        panic!("the channel closed before the echo came back");
    })
    .await;
    assert_eq!(echoed, "over the relay");
    within("the offerer's connected state", async {
        while let Some(state) = offerer.states.recv().await {
            if state == RTCPeerConnectionState::Connected {
                return;
            }
            assert_ne!(state, RTCPeerConnectionState::Failed);
        }
    })
    .await;

    let (local, remote, address) = selected_pair(&offerer.connection).await;
    assert_eq!(local, RTCIceCandidateType::Relay);
    assert_eq!(remote, RTCIceCandidateType::Relay);
    assert_eq!(address, "127.0.0.1");

    let _ = tokio::time::timeout(Duration::from_secs(3), offerer.connection.close()).await;
    echo.abort();
    if let Ok(answerer) = echo.await {
        let _ = tokio::time::timeout(Duration::from_secs(3), answerer.connection.close()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_peers_connect_through_embedded_relay_over_udp() {
    let server = start(TurnServerKind::Embedded, long_term()).await;
    check_webrtc_peers_through_relay(&server).await;
    close(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_peers_connect_through_coturn_relay_over_udp() {
    let server = start(TurnServerKind::Coturn, rest()).await;
    check_webrtc_peers_through_relay(&server).await;
    close(server).await;
}

// ---------------------------------------------------------------------------------------------
// Start-up failures and clean-up.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_refuses_a_taken_port_clearly() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let e = EmbeddedTurn::start(TurnOptions {
        port,
        ..long_term()
    })
    .await
    .err()
    .expect("a taken port is refused");
    assert_eq!(
        e.to_string(),
        format!("cannot start the embedded TURN server on 127.0.0.1:{port}: address in use")
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let e = EmbeddedTurn::start(TurnOptions {
        port,
        ..long_term()
    })
    .await
    .err()
    .expect("a taken TCP port is refused");
    assert_eq!(
        e.to_string(),
        format!("cannot start the embedded TURN server on 127.0.0.1:{port} (TCP): address in use")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_close_frees_its_ports_and_allocations() {
    let server = EmbeddedTurn::start(long_term()).await.unwrap();
    let addr = server.endpoint().addr();
    let (username, password) = server.credentials();
    let allocation = probe::allocate(addr, TurnTransport::Udp, &username, &password, PROBE)
        .await
        .unwrap();
    let relayed = allocation.relayed_addr();
    server.close().await;
    // Both listening sockets and the relay socket are free again.
    std::net::UdpSocket::bind(addr).expect("the UDP port is free after close");
    std::net::TcpListener::bind(addr).expect("the TCP port is free after close");
    std::net::UdpSocket::bind(relayed).expect("the relayed port is free after close");
    allocation.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_stops_when_dropped() {
    let server = EmbeddedTurn::start(long_term()).await.unwrap();
    let addr = server.endpoint().addr();
    udp_binding(addr).await;
    drop(server);
    // The server's tasks wind down on their own once it is dropped.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let free =
            std::net::UdpSocket::bind(addr).is_ok() && std::net::TcpListener::bind(addr).is_ok();
        if free {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} still taken 3 s after the server was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_without_tcp_offers_no_tcp_url() {
    let server = EmbeddedTurn::start(TurnOptions {
        tcp: false,
        ..long_term()
    })
    .await
    .unwrap();
    let addr = server.endpoint().addr();
    assert_eq!(server.turn_url(TurnTransport::Tcp), None);
    assert_eq!(
        server
            .ice_server(&[TurnTransport::Udp, TurnTransport::Tcp])
            .urls,
        vec![format!("turn:{addr}?transport=udp")]
    );
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_refuses_a_taken_port_clearly() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let e = Coturn::start(
        TurnOptions {
            port,
            ..long_term()
        },
        coturn_options(),
    )
    .await
    .err()
    .expect("a taken port is refused");
    assert_eq!(
        e.to_string(),
        format!("cannot start the coturn TURN server on 127.0.0.1:{port}: address in use")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_missing_names_the_install_command() {
    let e = Coturn::start(
        long_term(),
        CoturnOptions {
            program: Some(PathBuf::from("/nonexistent/turnserver")),
            ..CoturnOptions::default()
        },
    )
    .await
    .err()
    .expect("a missing program is an error");
    assert!(matches!(e, TurnError::Missing(_)), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("/nonexistent/turnserver"), "{text}");
    assert!(text.contains("sudo apt-get install -y coturn"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_that_exits_at_once_is_reported_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("turnserver");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'starting up'\necho 'fatal: cannot open the relay ports' >&2\nexit 3\n",
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&fake).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&fake, permissions).unwrap();
    let e = Coturn::start(
        long_term(),
        CoturnOptions {
            program: Some(fake),
            ..CoturnOptions::default()
        },
    )
    .await
    .err()
    .expect("a server that exits is an error");
    let text = e.to_string();
    assert!(matches!(e, TurnError::Exited { .. }), "{text}");
    assert!(text.contains("exit status: 3"), "{text}");
    assert!(
        text.contains("fatal: cannot open the relay ports"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_is_killed_when_dropped() {
    let server = Coturn::start(long_term(), coturn_options()).await.unwrap();
    let config = server.config_path().to_path_buf();
    let pid = server.pid();
    assert_eq!(
        turnserver_processes(&config).len(),
        1,
        "exactly one turnserver runs"
    );
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(server);
    assert_no_turnserver_left(&config).await;
}

// ---------------------------------------------------------------------------------------------
// End to end in a browser (and TURN over TCP, which webrtc-rs does not speak): two relay-only
// RTCPeerConnections in one headless Chromium page.

const CHROMIUM_RELAY_SCRIPT: &str = r#"
const [iceServers, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const config = { iceServers, iceTransportPolicy: 'relay' };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  const gathered = pc => new Promise(resolve => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
  });
  b.ondatachannel = e => { e.channel.onmessage = m => e.channel.send(m.data); };
  const channel = a.createDataChannel('echo');
  const echoed = new Promise(resolve => {
    channel.onopen = () => channel.send('over the relay');
    channel.onmessage = m => resolve(m.data);
  });
  await a.setLocalDescription();
  await gathered(a);
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription();
  await gathered(b);
  await a.setRemoteDescription(b.localDescription);
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('no echo within 15 s')), 15000));
  const echo = await Promise.race([echoed, timeout]);
  const stats = await a.getStats();
  let pair = null;
  stats.forEach(s => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  const local = pair && stats.get(pair.localCandidateId);
  const remote = pair && stats.get(pair.remoteCandidateId);
  const candidates = pc => pc.localDescription.sdp.split('\r\n').filter(l => l.startsWith('a=candidate:'));
  done({
    echo,
    local: local && { type: local.candidateType, address: local.address, relayProtocol: local.relayProtocol },
    remote: remote && { type: remote.candidateType },
    candidates: candidates(a).concat(candidates(b)),
  });
  a.close(); b.close();
})().catch(e => done({ error: String(e) }));
"#;

async fn check_chromium_relay(server: &TurnServer, transport: TurnTransport) {
    let _turn = common::browser_turn().await;
    let install = rtc_interop::provision::ensure(rtc_interop::scenario::PeerKind::Chromium, true)
        .expect("chromium and chromedriver");
    let driver = rtc_interop::peer::DriverService::start(install)
        .await
        .expect("chromedriver");
    let (client, _) = driver
        .new_session(rtc_interop::scenario::HostCandidates::Ip, None)
        .await
        .expect("a Chromium session");
    let ice_server = server.ice_server(&[transport]);
    assert_eq!(
        ice_server.urls,
        vec![format!(
            "turn:{}?transport={transport}",
            server.endpoint().addr()
        )]
    );
    let result = within("Chromium's relay-only connection", async {
        client.goto("about:blank").await.unwrap();
        client
            .execute_async(
                CHROMIUM_RELAY_SCRIPT,
                vec![serde_json::to_value([&ice_server]).unwrap()],
            )
            .await
            .unwrap()
    })
    .await;
    let _ = client.close().await;
    drop(driver);
    assert_eq!(result.get("error"), None, "{result}");
    assert_eq!(result["echo"], "over the relay", "{result}");
    let candidates = result["candidates"].as_array().unwrap();
    assert!(!candidates.is_empty(), "{result}");
    for c in candidates {
        assert!(c.as_str().unwrap().contains(" typ relay"), "{result}");
    }
    assert_eq!(result["local"]["type"], "relay", "{result}");
    // How Chromium reached the TURN server: the transport asked for.
    assert_eq!(
        result["local"]["relayProtocol"],
        transport.as_str(),
        "{result}"
    );
    assert_eq!(result["local"]["address"], "127.0.0.1", "{result}");
    assert_eq!(result["remote"]["type"], "relay", "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_connects_through_embedded_relay_over_udp() {
    let server = start(TurnServerKind::Embedded, long_term()).await;
    check_chromium_relay(&server, TurnTransport::Udp).await;
    close(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_connects_through_embedded_relay_over_tcp() {
    let server = start(TurnServerKind::Embedded, rest()).await;
    check_chromium_relay(&server, TurnTransport::Tcp).await;
    close(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_connects_through_coturn_relay_over_tcp() {
    let server = start(TurnServerKind::Coturn, long_term()).await;
    check_chromium_relay(&server, TurnTransport::Tcp).await;
    close(server).await;
}
