//! Builders for the frames, STUN messages and pcap files the capture tests
//! feed to the code under test.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::path::Path;
use std::time::Duration;

use super::packet::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, IP_PROTOCOL_TCP, IP_PROTOCOL_UDP};
use super::pcap::{PcapHeader, PcapRecord, PcapWriter};
use super::stun::{STUN_HEADER_LEN, STUN_MAGIC_COOKIE};

/// The transaction id of the STUN messages the tests build.
pub(super) const TRANSACTION_ID: [u8; 12] = *b"rtc-interop!";

/// A STUN message with `type_bits` and a SOFTWARE attribute (padded).
pub(super) fn stun_message(type_bits: u16, transaction_id: [u8; 12]) -> Vec<u8> {
    let software = b"rtc-interop";
    let padded = software.len().div_ceil(4) * 4;
    let mut message = Vec::new();
    message.extend(type_bits.to_be_bytes());
    message.extend(((4 + padded) as u16).to_be_bytes());
    message.extend(STUN_MAGIC_COOKIE.to_be_bytes());
    message.extend(transaction_id);
    message.extend(0x8022u16.to_be_bytes());
    message.extend((software.len() as u16).to_be_bytes());
    message.extend(software);
    message.resize(STUN_HEADER_LEN + 4 + padded, 0);
    message
}

/// An Ethernet frame of `ethertype` carrying `ip_packet`.
pub(super) fn ethernet(ethertype: u16, ip_packet: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    frame.extend(ethertype.to_be_bytes());
    frame.extend(ip_packet);
    // Ethernet pads short frames to 60 bytes: the IP length must win.
    frame.resize(frame.len().max(60), 0);
    frame
}

/// An IPv4 packet (20-byte header, not a fragment) carrying `body`.
pub(super) fn ipv4(protocol: u8, src: Ipv4Addr, dst: Ipv4Addr, body: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x45, 0];
    packet.extend(((20 + body.len()) as u16).to_be_bytes());
    packet.extend([0, 0, 0x40, 0, 64, protocol, 0, 0]);
    packet.extend(src.octets());
    packet.extend(dst.octets());
    packet.extend(body);
    packet
}

/// An IPv6 packet with no extension headers carrying `body`.
pub(super) fn ipv6(next_header: u8, src: Ipv6Addr, dst: Ipv6Addr, body: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x60, 0, 0, 0];
    packet.extend((body.len() as u16).to_be_bytes());
    packet.extend([next_header, 64]);
    packet.extend(src.octets());
    packet.extend(dst.octets());
    packet.extend(body);
    packet
}

/// A UDP datagram carrying `payload`.
pub(super) fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut datagram = Vec::new();
    datagram.extend(src_port.to_be_bytes());
    datagram.extend(dst_port.to_be_bytes());
    datagram.extend(((8 + payload.len()) as u16).to_be_bytes());
    datagram.extend([0, 0]);
    datagram.extend(payload);
    datagram
}

/// A TCP segment (20-byte header) carrying `payload`.
pub(super) fn tcp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut segment = Vec::new();
    segment.extend(src_port.to_be_bytes());
    segment.extend(dst_port.to_be_bytes());
    segment.extend([0, 0, 0, 1, 0, 0, 0, 0, 5 << 4, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]);
    segment.extend(payload);
    segment
}

/// A UDP datagram over IPv4 over Ethernet.
pub(super) fn ethernet_ipv4_udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let datagram = udp(src.port(), dst.port(), payload);
    let packet = ipv4(IP_PROTOCOL_UDP, *src.ip(), *dst.ip(), &datagram);
    ethernet(ETHERTYPE_IPV4, &packet)
}

/// A TCP segment over IPv6 over Ethernet.
pub(super) fn ethernet_ipv6_tcp(src: SocketAddrV6, dst: SocketAddrV6, payload: &[u8]) -> Vec<u8> {
    let segment = tcp(src.port(), dst.port(), payload);
    let packet = ipv6(IP_PROTOCOL_TCP, *src.ip(), *dst.ip(), &segment);
    ethernet(ETHERTYPE_IPV6, &packet)
}

/// An IPv4 socket address from text such as `127.0.0.1:5000`.
pub(super) fn v4(text: &str) -> SocketAddrV4 {
    text.parse().unwrap()
}

/// An IPv6 socket address from text such as `[::1]:5000`.
pub(super) fn v6(text: &str) -> SocketAddrV6 {
    text.parse().unwrap()
}

/// A record captured `millis` after 2023-11-14 22:13:20 UTC, whole on the wire.
pub(super) fn record(millis: u64, data: Vec<u8>) -> PcapRecord {
    PcapRecord {
        time: Duration::from_millis(1_700_000_000_000 + millis),
        orig_len: data.len() as u32,
        data,
    }
}

/// Writes a pcap file at `path` holding `records`.
pub(super) fn write_pcap(path: &Path, header: PcapHeader, records: &[PcapRecord]) {
    let mut writer = PcapWriter::create(path, header).unwrap();
    for record in records {
        writer.write_record(record).unwrap();
    }
    writer.finish().unwrap();
}

/// An Ethernet/IPv4/UDP STUN request and an Ethernet/IPv6/TCP segment
/// carrying a framed STUN success response.
pub(super) fn synthetic_records() -> Vec<PcapRecord> {
    let request = stun_message(0x0001, TRANSACTION_ID);
    let mut framed_response = (stun_message(0x0101, TRANSACTION_ID).len() as u16)
        .to_be_bytes()
        .to_vec();
    framed_response.extend(stun_message(0x0101, TRANSACTION_ID));
    vec![
        record(
            0,
            ethernet_ipv4_udp(v4("10.0.0.1:5000"), v4("10.0.0.2:6000"), &request),
        ),
        record(
            1_500,
            ethernet_ipv6_tcp(v6("[fd00::1]:7000"), v6("[fd00::2]:443"), &framed_response),
        ),
    ]
}
