//! Peers behind real NATs in network namespaces, checked with real packets: what address the public
//! side sees, which mappings the NAT makes, which strangers it lets in, impaired links, reaching
//! servers inside a namespace, and that nothing is left behind.
//!
//! These tests need root (as in CI); anywhere else each prints why it is skipped and passes.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common;
use rtc_interop::bounded::BoundedCommand;
use rtc_interop::net::netns::{
    self, Impairment, NatType, NetnsError, PeerSpec, TcpForwarder, Topology,
};

/// A topology, or `None` (with the reason printed) where namespaces are unavailable.
fn topology(peers: &[PeerSpec]) -> Option<Topology> {
    match Topology::create(peers) {
        Ok(t) => Some(t),
        Err(NetnsError::Unavailable { reason }) => {
            eprintln!("SKIPPED: {reason}");
            None
        }
        Err(e) => panic!("creating the topology: {e}"),
    }
}

/// A UDP server that answers every datagram with the address it came from (`ip:port`).
struct Echo {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start(ip: Ipv4Addr) -> Echo {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((_, from)) = socket.recv_from(&mut buf) {
                        let _ = socket.send_to(from.to_string().as_bytes(), from);
                    }
                }
            })
        };
        Echo {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A UDP socket inside the peer's namespace.
fn peer_socket(topology: &Topology, peer: usize) -> UdpSocket {
    let socket = topology.peers()[peer]
        .ns()
        .bind_udp(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        .unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    socket
}

/// Asks `server` what address the datagram came from; retries for up to 3 s.
fn mapped_address(socket: &UdpSocket, server: SocketAddr) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        socket.send_to(b"?", server).unwrap();
        let answered = Instant::now() + Duration::from_millis(500);
        while Instant::now() < answered {
            if let Ok((n, from)) = socket.recv_from(&mut buf)
                && from == server
            {
                return std::str::from_utf8(&buf[..n]).unwrap().parse().unwrap();
            }
        }
    }
    panic!("no answer from {server} within 3 s");
}

/// Sends a datagram from `from` to `to`; whether `socket` receives it within `within`.
fn arrives(socket: &UdpSocket, from: &UdpSocket, to: SocketAddr, within: Duration) -> bool {
    let token = format!("probe {}", from.local_addr().unwrap());
    from.send_to(token.as_bytes(), to).unwrap();
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && buf[..n] == *token.as_bytes()
        {
            return true;
        }
    }
    false
}

/// One peer behind `kind`: the public side sees the NAT's address; the mapping toward three
/// destinations (same address other port, other address) is shared or not; strangers get in or not.
fn check_nat(kind: NatType) {
    let Some(t) = topology(&[PeerSpec::behind(kind)]) else {
        return;
    };
    let other_ip = t.add_harness_ip().unwrap();
    let stranger_ip = t.add_harness_ip().unwrap();
    let e1 = Echo::start(t.harness_ip());
    let e2 = Echo::start(t.harness_ip());
    let e3 = Echo::start(other_ip);
    let peer = &t.peers()[0];
    let socket = peer_socket(&t, 0);
    let local_port = socket.local_addr().unwrap().port();

    let mapped: Vec<SocketAddr> = [e1.addr, e2.addr, e3.addr]
        .iter()
        .map(|server| mapped_address(&socket, *server))
        .collect();
    eprintln!(
        "{kind}: peer {}:{local_port} is seen as {mapped:?}",
        peer.address()
    );
    for m in &mapped {
        assert_eq!(m.ip(), IpAddr::V4(peer.public_ip()), "{kind}: {mapped:?}");
    }
    match kind {
        NatType::None => {
            assert_eq!(peer.address(), peer.public_ip());
            assert!(mapped.iter().all(|m| m.port() == local_port), "{mapped:?}");
        }
        NatType::Symmetric => {
            assert_ne!(peer.address(), peer.public_ip());
            assert_ne!(mapped[0], mapped[1], "a new mapping per port");
            assert_ne!(mapped[0], mapped[2], "a new mapping per address");
            assert_ne!(mapped[1], mapped[2], "a new mapping per address");
        }
        _ => {
            assert_ne!(peer.address(), peer.public_ip());
            assert!(
                mapped.iter().all(|m| *m == mapped[0]),
                "{kind}: one mapping for every destination: {mapped:?}"
            );
        }
    }

    // Strangers send to the mapping made toward e1.
    let stranger = UdpSocket::bind((stranger_ip, 0)).unwrap();
    let same_address = UdpSocket::bind((t.harness_ip(), 0)).unwrap();
    let wait = Duration::from_millis(600);
    let from_stranger = arrives(&socket, &stranger, mapped[0], wait);
    let from_same_address = arrives(&socket, &same_address, mapped[0], wait);
    eprintln!(
        "{kind}: from another address: {from_stranger}, from the same address, another port: {from_same_address}"
    );
    let (want_stranger, want_same_address) = match kind {
        NatType::None | NatType::EndpointIndependent => (true, true),
        NatType::AddressDependent => (false, true),
        NatType::PortRestricted | NatType::Symmetric => (false, false),
    };
    assert_eq!(
        from_stranger, want_stranger,
        "{kind}: inbound from an address the peer never sent to"
    );
    assert_eq!(
        from_same_address, want_same_address,
        "{kind}: inbound from a known address but another port"
    );
    // And the destination itself always gets through.
    assert_eq!(mapped_address(&socket, e1.addr), mapped[0]);

    // The stranger's probe must not have disturbed the mapping: when the peer now sends to the
    // stranger (as ICE does after a probe), it leaves from the same mapping (or a new one, for
    // symmetric).
    stranger
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    socket
        .send_to(b"hi", stranger.local_addr().unwrap())
        .unwrap();
    let mut buf = [0u8; 64];
    let (_, seen) = stranger
        .recv_from(&mut buf)
        .expect("the peer's datagram within 3 s");
    assert_eq!(seen.ip(), IpAddr::V4(peer.public_ip()));
    if kind == NatType::Symmetric {
        assert!(!mapped.contains(&seen), "{kind}: {seen} was used before");
    } else {
        assert_eq!(
            seen, mapped[0],
            "{kind}: the mapping changed after a stranger's probe"
        );
    }
}

#[test]
fn no_nat_peer_is_seen_at_its_own_public_address() {
    check_nat(NatType::None);
}

#[test]
fn endpoint_independent_nat_maps_once_and_lets_anyone_in() {
    check_nat(NatType::EndpointIndependent);
}

#[test]
fn address_dependent_nat_maps_once_and_lets_in_known_addresses() {
    check_nat(NatType::AddressDependent);
}

#[test]
fn port_restricted_nat_maps_once_and_lets_in_known_endpoints_only() {
    check_nat(NatType::PortRestricted);
}

#[test]
fn symmetric_nat_maps_per_destination_and_lets_no_stranger_in() {
    check_nat(NatType::Symmetric);
}

/// Two peers learn their mappings from a STUN-like echo, then send to each other's mapping at the
/// same time, as ICE does. Whether the second round gets through.
fn hole_punch(kind: NatType) -> bool {
    let t = topology(&[PeerSpec::behind(kind), PeerSpec::behind(kind)]).unwrap();
    let echo = Echo::start(t.harness_ip());
    let a = peer_socket(&t, 0);
    let b = peer_socket(&t, 1);
    let ma = mapped_address(&a, echo.addr);
    let mb = mapped_address(&b, echo.addr);
    // The first packets open each side's NAT toward the other's mapping (and may be dropped).
    a.send_to(b"punch", mb).unwrap();
    b.send_to(b"punch", ma).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let wait = Duration::from_millis(600);
    let to_a = arrives(&a, &b, ma, wait);
    let to_b = arrives(&b, &a, mb, wait);
    eprintln!("{kind}: {ma} <-> {mb}: to a {to_a}, to b {to_b}");
    to_a && to_b
}

#[test]
fn hole_punching_works_through_port_restricted_nats_but_not_symmetric_ones() {
    if topology(&[]).is_none() {
        return;
    }
    assert!(hole_punch(NatType::PortRestricted));
    assert!(hole_punch(NatType::AddressDependent));
    assert!(!hole_punch(NatType::Symmetric));
}

#[tokio::test]
async fn tcp_forwarder_reaches_a_server_on_loopback_inside_a_peer_namespace() {
    let Some(t) = topology(&[PeerSpec::behind(NatType::Symmetric)]) else {
        return;
    };
    let ns = t.peers()[0].ns().clone();
    // A server that only exists on the namespace's own loopback, as chromedriver will.
    let listener = ns
        .bind_tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .unwrap();
    let target = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut conn, from) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 64];
            let n = conn.read(&mut buf).unwrap();
            let reply = format!(
                "inside got {} from {from}",
                String::from_utf8_lossy(&buf[..n])
            );
            conn.write_all(reply.as_bytes()).unwrap();
        }
    });

    let forwarder = TcpForwarder::start(ns.clone(), target).await.unwrap();
    assert!(forwarder.local_addr().ip().is_loopback());
    for word in ["hello", "again"] {
        let mut stream = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(forwarder.local_addr()),
        )
        .await
        .unwrap()
        .unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(word.as_bytes()).await.unwrap();
        let mut reply = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut reply))
            .await
            .expect("the forwarded reply within 5 s")
            .unwrap();
        assert!(
            reply.starts_with(&format!("inside got {word} from 127.0.0.1:")),
            "{reply}"
        );
    }
    server.join().unwrap();

    // The direct helper too.
    let direct = ns.connect_tcp(target, Duration::from_secs(2)).await;
    assert!(direct.is_err(), "the server has stopped listening");
}

#[tokio::test]
async fn a_child_process_runs_inside_the_peer_namespace() {
    let Some(t) = topology(&[PeerSpec::behind(NatType::PortRestricted)]) else {
        return;
    };
    let peer = &t.peers()[0];
    let out = tempfile::NamedTempFile::new().unwrap();
    let script = format!("ip -4 -o addr show > {}", out.path().display());
    let mut child = peer.ns().spawn("ip-addr", "sh", ["-c", &script]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.exit_status() {
            break status;
        }
        assert!(Instant::now() < deadline, "the child did not finish in 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success());
    let seen = std::fs::read_to_string(out.path()).unwrap();
    assert!(
        seen.contains(&format!("inet {}/24", peer.address())),
        "{seen}"
    );
    assert!(seen.contains("eth0"), "{seen}");
    assert!(!seen.contains(&t.harness_ip().to_string()), "{seen}");
}

/// The shortest of five round trips to `server`.
fn min_rtt(socket: &UdpSocket, server: SocketAddr) -> Duration {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            mapped_address(socket, server);
            start.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
fn impaired_link_delays_drops_and_throttles() {
    let delay = Duration::from_millis(40);
    let Some(t) = topology(&[
        PeerSpec::behind(NatType::PortRestricted).impaired(Impairment::delay(delay)),
        PeerSpec::behind(NatType::PortRestricted),
        PeerSpec::behind(NatType::None).impaired(Impairment::delay(delay)),
    ]) else {
        return;
    };
    let echo = Echo::start(t.harness_ip());
    let impaired = peer_socket(&t, 0);
    let plain = peer_socket(&t, 1);
    let public = peer_socket(&t, 2);

    let rtt_impaired = min_rtt(&impaired, echo.addr);
    let rtt_plain = min_rtt(&plain, echo.addr);
    let rtt_public = min_rtt(&public, echo.addr);
    eprintln!(
        "round trips: impaired {rtt_impaired:?}, plain {rtt_plain:?}, impaired without NAT {rtt_public:?}"
    );
    // The delay applies in each direction.
    assert!(rtt_impaired >= 2 * delay, "{rtt_impaired:?}");
    assert!(rtt_public >= 2 * delay, "{rtt_public:?}");
    assert!(rtt_plain < delay, "{rtt_plain:?}");

    // Changed while running: no delay, then total loss, then a slow link.
    t.set_impairment(0, Impairment::default()).unwrap();
    let rtt_cleared = min_rtt(&impaired, echo.addr);
    assert!(rtt_cleared < delay, "{rtt_cleared:?}");

    t.set_impairment(
        0,
        Impairment {
            loss_percent: 100.0,
            ..Impairment::default()
        },
    )
    .unwrap();
    impaired.send_to(b"?", echo.addr).unwrap();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        assert!(
            impaired.recv_from(&mut buf).is_err(),
            "a datagram crossed a link that drops everything"
        );
    }
    // The other peers are unaffected.
    mapped_address(&plain, echo.addr);

    // 800 kbit/s: each 1000-byte datagram takes 10 ms on the wire.
    t.set_impairment(
        0,
        Impairment {
            rate_bits_per_sec: Some(800_000),
            ..Impairment::default()
        },
    )
    .unwrap();
    let start = Instant::now();
    for _ in 0..20 {
        impaired.send_to(&[0u8; 1000], echo.addr).unwrap();
    }
    let mut answers = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while answers < 20 && Instant::now() < deadline {
        if impaired.recv_from(&mut buf).is_ok() {
            answers += 1;
        }
    }
    let took = start.elapsed();
    eprintln!("20 datagrams of 1000 bytes at 800 kbit/s: {answers} answers in {took:?}");
    assert_eq!(answers, 20);
    assert!(took >= Duration::from_millis(150), "{took:?}");

    assert!(t.set_impairment(1, Impairment::default()).is_err());
}

/// Namespaces whose name starts with `prefix`.
fn namespaces_named(prefix: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output_within(common::QUICK_LIMIT)
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Whether the root namespace has an interface called `name`.
fn link_exists(name: &str) -> bool {
    links_named(name).iter().any(|n| n == name)
}

/// Root-namespace interfaces whose name starts with `prefix`.
fn links_named(prefix: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output_within(common::QUICK_LIMIT)
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|n| {
            n.trim_end_matches(':')
                .split('@')
                .next()
                .unwrap()
                .to_string()
        })
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn root_routes() -> String {
    let out = Command::new("ip")
        .args(["-4", "route", "show"])
        .output_within(common::QUICK_LIMIT)
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dropping_the_topology_removes_everything_even_processes_inside() {
    let Some(t) = topology(&[
        PeerSpec::behind(NatType::EndpointIndependent),
        PeerSpec::behind(NatType::Symmetric).impaired(Impairment::default()),
        PeerSpec::behind(NatType::None),
    ]) else {
        return;
    };
    let tag = format!("{}-", t.tag());
    let root_link = t.root_link().to_string();
    assert_eq!(namespaces_named(&tag).len(), 6, "{:?}", t.namespaces());
    assert!(link_exists(&root_link));
    let private = t.peers()[0].address();
    let private_net = format!(
        "{}.{}.{}.0/24",
        private.octets()[0],
        private.octets()[1],
        private.octets()[2]
    );
    assert!(root_routes().contains(&private_net), "{}", root_routes());
    // The root namespace sends peers' private addresses into the topology, not out of the machine.
    let route = Command::new("ip")
        .args(["route", "get", &private.to_string()])
        .output_within(common::QUICK_LIMIT)
        .unwrap();
    let route = String::from_utf8_lossy(&route.stdout);
    assert!(route.contains(&root_link), "{route}");

    // A process nobody tracks, inside a peer namespace.
    let mut stray = Command::new("ip")
        .args(["netns", "exec", t.peers()[1].ns().name(), "sleep", "300"])
        .spawn()
        .unwrap();

    // Wait until it has entered the namespace (`ip netns exec` needs a moment).
    let ns_file = std::fs::metadata(t.peers()[1].ns().path()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        use std::os::unix::fs::MetadataExt;
        let inside = std::fs::metadata(format!("/proc/{}/ns/net", stray.id()))
            .is_ok_and(|m| m.ino() == ns_file.ino() && m.dev() == ns_file.dev());
        if inside {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stray process never entered the namespace"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    drop(t);
    assert!(
        namespaces_named(&tag).is_empty(),
        "{:?}",
        namespaces_named(&tag)
    );
    assert!(!link_exists(&root_link));
    assert!(!root_routes().contains(&private_net), "{}", root_routes());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if stray.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stray process outlived its namespace"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sweep_stale_removes_what_a_dead_run_left_behind() {
    let Some(live) = topology(&[PeerSpec::behind(NatType::PortRestricted)]) else {
        return;
    };
    // A pid that is certainly gone: a child that has exited and been reaped.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();

    let ns = format!("rtci-{dead}-0-pub");
    let link = format!("rtci-{dead:x}-0");
    let ok = |args: &[&str]| {
        let out = Command::new("ip")
            .args(args)
            .output_within(common::QUICK_LIMIT)
            .unwrap();
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(&["netns", "add", &ns]);
    ok(&[
        "link", "add", &link, "type", "veth", "peer", "name", "up0", "netns", &ns,
    ]);

    let removed = netns::sweep_stale(netns::PREFIX).unwrap();
    let leftovers_gone = namespaces_named(&ns).is_empty() && !link_exists(&link);
    if !leftovers_gone {
        let _ = Command::new("ip")
            .args(["link", "del", &link])
            .status_within(common::QUICK_LIMIT);
        let _ = Command::new("ip")
            .args(["netns", "del", &ns])
            .status_within(common::QUICK_LIMIT);
    }
    assert!(leftovers_gone, "sweep removed {removed:?}");
    assert!(
        removed.contains(&ns) && removed.contains(&link),
        "{removed:?}"
    );
    // A live run's topology stays.
    for name in live.namespaces() {
        assert_eq!(namespaces_named(&name), vec![name.clone()]);
    }
    assert!(link_exists(live.root_link()));
}

#[test]
fn parallel_topologies_get_disjoint_public_subnets() {
    if topology(&[]).is_none() {
        return;
    }
    let topologies: Vec<Topology> = (0..3)
        .map(|_| std::thread::spawn(|| Topology::create(&[PeerSpec::behind(NatType::None)])))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    let mut subnets: Vec<(Ipv4Addr, u8)> = topologies.iter().map(|t| t.public_subnet()).collect();
    subnets.sort();
    subnets.dedup();
    assert_eq!(subnets.len(), 3);
    // Each is a /28 of a documentation range.
    for (base, len) in subnets {
        assert_eq!(len, 28);
        let o = base.octets();
        assert!(matches!(o[..3], [203, 0, 113] | [198, 51, 100]), "{base}");
    }
    assert!(Topology::create(&vec![PeerSpec::default(); netns::MAX_PEERS + 1]).is_err());
}
