//! This machine's own addresses: where a run's STUN/TURN servers listen, and what a scenario may
//! name as an ICE server.
//!
//! The servers a run starts listen on [`server_ip`]: the IPv4 address of the interface that holds
//! the default route, the address every peer gathers its host candidates on. Not loopback, because
//! Firefox leaves loopback out of ICE (`media.peerconnection.ice.loopback` is false by default) and
//! a TURN server that only one peer kind can reach would not test much.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address of a local interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The interface's name (`eth0`).
    pub interface: String,
    /// The address.
    pub ip: IpAddr,
    /// Whether the interface is up.
    pub up: bool,
    /// Whether it is a loopback interface.
    pub loopback: bool,
}

/// Every IPv4 and IPv6 address of every local interface (`getifaddrs`).
pub fn interface_addresses() -> Vec<InterfaceAddress> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that freeifaddrs releases below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut at = list;
    while !at.is_null() {
        // SAFETY: `at` is a node of the list getifaddrs returned, alive until freeifaddrs.
        let entry = unsafe { &*at };
        at = entry.ifa_next;
        if entry.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr whose family says its real type.
        let ip = unsafe {
            match i32::from((*entry.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(entry.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(entry.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                }
                _ => continue,
            }
        };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let interface = unsafe { CStr::from_ptr(entry.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let flags = entry.ifa_flags;
        found.push(InterfaceAddress {
            interface,
            ip,
            up: flags & libc::IFF_UP as u32 != 0,
            loopback: flags & libc::IFF_LOOPBACK as u32 != 0,
        });
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    found
}

/// Whether `ip` is this machine: a loopback address or an address of one of its interfaces.
pub fn is_this_machine(ip: IpAddr) -> bool {
    ip.is_loopback() || interface_addresses().iter().any(|a| a.ip == ip)
}

/// The address a run's STUN/TURN servers listen and relay on: the IPv4 address of the interface
/// with the default route; without one, the first IPv4 address of an interface that is up and not
/// loopback (interfaces of the harness's own network namespaces, `rtci-*`, are passed over: they
/// come and go with cases); with none, 127.0.0.1.
pub fn server_ip() -> IpAddr {
    let addresses = interface_addresses();
    let usable = |a: &&InterfaceAddress| a.lasts_the_run();
    let default_route = default_route_interface();
    addresses
        .iter()
        .filter(usable)
        .find(|a| Some(&a.interface) == default_route.as_ref())
        .or_else(|| addresses.iter().find(usable))
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip)
}

/// The addresses a native peer gathers host candidates on: every address that lasts the run
/// ([`InterfaceAddress::lasts_the_run`]), in the network namespace of the calling thread.
///
/// Not `0.0.0.0`: webrtc-rs expands that to every interface, including another case's `rtci-*`
/// link; a TURN allocation made from it dies with that case, and webrtc-rs's ICE agent keeps
/// nominating the dead pair (rtc-ice 0.21 agent_selector.rs:229) until the case times out.
pub fn peer_bind_ips() -> Vec<IpAddr> {
    lasting(&interface_addresses())
}

fn lasting(addresses: &[InterfaceAddress]) -> Vec<IpAddr> {
    addresses
        .iter()
        .filter(|a| a.lasts_the_run())
        .map(|a| a.ip)
        .collect()
}

impl InterfaceAddress {
    /// Up, IPv4, not loopback, link-local or unspecified, and not on a link of one of the
    /// harness's own network namespaces (`rtci-*`), which come and go with cases.
    pub fn lasts_the_run(&self) -> bool {
        self.up
            && !self.loopback
            && !self.interface.starts_with(crate::net::netns::PREFIX)
            && matches!(self.ip, IpAddr::V4(v4) if !v4.is_link_local() && !v4.is_unspecified())
    }
}

/// The interface of the IPv4 default route, from `/proc/net/route`.
fn default_route_interface() -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    default_route_in(&table)
}

/// The interface of the lowest-metric default route in the text of `/proc/net/route`.
fn default_route_in(table: &str) -> Option<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Iface Destination Gateway Flags RefCnt Use Metric Mask …
            let up = u32::from_str_radix(fields.get(3)?, 16).ok()? & 1 != 0;
            (fields.get(1) == Some(&"00000000") && fields.get(7) == Some(&"00000000") && up)
                .then(|| Some((fields.get(6)?.parse::<u32>().ok()?, fields[0].to_string())))
                .flatten()
        })
        .min()
        .map(|(_, interface)| interface)
}

/// The host of a `stun:`, `stuns:`, `turn:` or `turns:` URL (RFC 7064/7065), brackets removed.
pub fn ice_url_host(url: &str) -> Result<&str, String> {
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| format!("`{url}` is not a STUN or TURN URL (`stun:HOST:PORT`)"))?;
    if !["stun", "stuns", "turn", "turns"].contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "`{url}` is not a STUN or TURN URL: the scheme must be stun, stuns, turn or turns"
        ));
    }
    let rest = rest.split('?').next().unwrap_or_default();
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        rest.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok(host)
}

/// Checks that an ICE server URL points at this machine (loopback, `localhost`, or one of its
/// interface addresses), saying why not otherwise.
pub fn check_local_ice_url(url: &str) -> Result<(), String> {
    let host = ice_url_host(url)?;
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(());
    }
    let Ok(ip) = host.parse::<IpAddr>() else {
        return Err(format!(
            "`{url}` names the host `{host}`, not an IP address of this machine (host names are \
             never looked up)"
        ));
    };
    if is_this_machine(ip) {
        Ok(())
    } else {
        let mut own: Vec<String> = interface_addresses()
            .iter()
            .filter(|a| !a.loopback)
            .map(|a| a.ip.to_string())
            .collect();
        own.dedup();
        Err(format!(
            "`{url}` is not on this machine ({ip} is neither loopback nor one of its addresses: {})",
            if own.is_empty() {
                "none".into()
            } else {
                own.join(", ")
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_route_is_read_from_the_route_table() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth1\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
            eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
            eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(default_route_in(table).as_deref(), Some("eth0"));
        let no_default = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
            eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
        assert_eq!(default_route_in(no_default), None);
    }

    #[test]
    fn the_server_ip_is_an_up_interface_address_of_this_machine() {
        let ip = server_ip();
        assert!(is_this_machine(ip), "{ip}");
        assert!(ip.is_ipv4());
        if !ip.is_loopback() {
            let own = interface_addresses();
            let entry = own.iter().find(|a| a.ip == ip).unwrap();
            assert!(entry.up && !entry.loopback, "{entry:?}");
        }
    }

    #[test]
    fn peers_gather_on_lasting_addresses_only() {
        let address = |interface: &str, ip: &str, up: bool, loopback: bool| InterfaceAddress {
            interface: interface.into(),
            ip: ip.parse().unwrap(),
            up,
            loopback,
        };
        let addresses = [
            address("lo", "127.0.0.1", true, true),
            address("eth0", "192.0.2.2", true, false),
            address("eth0", "fe80::1", true, false),
            address("eth1", "169.254.3.4", true, false),
            address("down0", "10.1.1.1", false, false),
            // Another case's NAT link: gone when that case ends.
            address("rtci-1f-2", "203.0.113.1", true, false),
            address("docker0", "172.17.0.1", true, false),
        ];
        let ips: Vec<String> = lasting(&addresses)
            .iter()
            .map(|ip| ip.to_string())
            .collect();
        assert_eq!(ips, ["192.0.2.2", "172.17.0.1"]);
    }

    #[test]
    fn hosts_of_ice_urls() {
        assert_eq!(ice_url_host("stun:127.0.0.1:3478"), Ok("127.0.0.1"));
        assert_eq!(
            ice_url_host("turn:192.0.2.2:3478?transport=tcp"),
            Ok("192.0.2.2")
        );
        assert_eq!(ice_url_host("turn:[::1]:3478"), Ok("::1"));
        assert_eq!(
            ice_url_host("stun:stun.l.google.com:19302"),
            Ok("stun.l.google.com")
        );
        assert_eq!(ice_url_host("turns:example.org"), Ok("example.org"));
        assert!(ice_url_host("http://127.0.0.1").is_err());
        assert!(ice_url_host("stun:").is_err());
    }

    #[test]
    fn only_this_machine_is_a_local_ice_url() {
        assert_eq!(check_local_ice_url("stun:127.0.0.1:3478"), Ok(()));
        assert_eq!(check_local_ice_url("turn:[::1]:3478"), Ok(()));
        assert_eq!(check_local_ice_url("stun:localhost:3478"), Ok(()));
        let own = server_ip();
        assert_eq!(check_local_ice_url(&format!("turn:{own}:3478")), Ok(()));
        let e = check_local_ice_url("stun:stun.l.google.com:19302").unwrap_err();
        assert!(e.contains("never looked up"), "{e}");
        // A public address (only parsed, never contacted).
        let e = check_local_ice_url("turn:8.8.8.8:3478").unwrap_err();
        assert!(e.contains("not on this machine"), "{e}");
    }
}
