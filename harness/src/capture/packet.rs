//! Finding the UDP datagram or TCP segment (addresses, ports, payload) in a
//! captured frame, and cutting one case's packets out of a shared capture.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::bytes::{array, be16};
use super::pcap::{
    LATEST_RECORD_TIME, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL,
    LINKTYPE_RAW, PcapReader, PcapWriter,
};

pub(super) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(super) const ETHERTYPE_IPV6: u16 = 0x86DD;
/// 802.1Q, 802.1ad and the old QinQ tag: 4 more bytes before the real type.
const ETHERTYPE_VLAN_TAGS: [u16; 3] = [0x8100, 0x88A8, 0x9100];
pub(super) const IP_PROTOCOL_TCP: u8 = 6;
pub(super) const IP_PROTOCOL_UDP: u8 = 17;
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_DESTINATION_OPTIONS: u8 = 60;

/// The transport protocol of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// A UDP datagram or TCP segment found in a captured frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// UDP or TCP.
    pub transport: Transport,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The UDP or TCP payload (as far as it was captured).
    pub payload: &'a [u8],
}

/// A UDP or TCP packet read from a capture, with its own copy of the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// When it was captured, since the Unix epoch.
    pub time: Duration,
    /// UDP or TCP.
    pub transport: Transport,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The UDP or TCP payload.
    pub payload: Vec<u8>,
}

/// Finds the UDP or TCP segment in a frame of the given link type
/// (`LINKTYPE_*`, FCS bits allowed).
///
/// `None` for other protocols, unknown link types, truncated headers and IP
/// fragments (only whole datagrams carry both ports and the whole payload).
pub fn parse_frame(link_type: u32, frame: &[u8]) -> Option<Segment<'_>> {
    let ip_packet = match link_type & 0xFFFF {
        // The 4-byte address family is in the capturing host's byte order
        // and differs between systems; the IP version nibble is enough.
        LINKTYPE_NULL => frame.get(4..)?,
        LINKTYPE_RAW => frame,
        LINKTYPE_ETHERNET => ethernet_payload(frame)?,
        LINKTYPE_LINUX_SLL => ip_by_ethertype(be16(frame, 14)?, frame.get(16..)?)?,
        LINKTYPE_LINUX_SLL2 => ip_by_ethertype(be16(frame, 0)?, frame.get(20..)?)?,
        _ => return None,
    };
    parse_ip(ip_packet)
}
fn ethernet_payload(frame: &[u8]) -> Option<&[u8]> {
    let mut type_at = 12;
    let mut ethertype = be16(frame, type_at)?;
    while ETHERTYPE_VLAN_TAGS.contains(&ethertype) {
        type_at += 4;
        ethertype = be16(frame, type_at)?;
    }
    ip_by_ethertype(ethertype, frame.get(type_at + 2..)?)
}

fn ip_by_ethertype(ethertype: u16, payload: &[u8]) -> Option<&[u8]> {
    matches!(ethertype, ETHERTYPE_IPV4 | ETHERTYPE_IPV6).then_some(payload)
}

fn parse_ip(packet: &[u8]) -> Option<Segment<'_>> {
    match packet.first()? >> 4 {
        4 => parse_ipv4(packet),
        6 => parse_ipv6(packet),
        _ => None,
    }
}

fn parse_ipv4(packet: &[u8]) -> Option<Segment<'_>> {
    let header_len = usize::from(packet.first()? & 0x0F) * 4;
    let total_len = usize::from(be16(packet, 2)?);
    let fragment_bits = be16(packet, 6)?;
    // "More fragments" flag or a non-zero fragment offset.
    if fragment_bits & 0x3FFF != 0 || header_len < 20 {
        return None;
    }
    let protocol = *packet.get(9)?;
    let src = IpAddr::V4(Ipv4Addr::from(array::<4>(packet.get(12..16)?)));
    let dst = IpAddr::V4(Ipv4Addr::from(array::<4>(packet.get(16..20)?)));
    // The total length drops Ethernet padding; 0 appears in segmentation-
    // offloaded captures and means "up to the end".
    let end = match total_len {
        0 => packet.len(),
        len => len.min(packet.len()),
    };
    parse_transport(protocol, src, dst, packet.get(header_len..end)?)
}

fn parse_ipv6(packet: &[u8]) -> Option<Segment<'_>> {
    let payload_len = usize::from(be16(packet, 4)?);
    let mut next_header = *packet.get(6)?;
    let src = IpAddr::V6(Ipv6Addr::from(array::<16>(packet.get(8..24)?)));
    let dst = IpAddr::V6(Ipv6Addr::from(array::<16>(packet.get(24..40)?)));
    // A payload length of 0 is a jumbogram or offloaded segment.
    let end = match payload_len {
        0 => packet.len(),
        len => (40 + len).min(packet.len()),
    };
    let mut body = packet.get(40..end)?;
    loop {
        match next_header {
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DESTINATION_OPTIONS => {
                let len = (usize::from(*body.get(1)?) + 1) * 8;
                next_header = *body.first()?;
                body = body.get(len..)?;
            }
            IPV6_FRAGMENT => {
                // Offset (13 bits) or "more fragments": a real fragment.
                if be16(body, 2)? & 0xFFF9 != 0 {
                    return None;
                }
                next_header = *body.first()?;
                body = body.get(8..)?;
            }
            protocol => return parse_transport(protocol, src, dst, body),
        }
    }
}

fn parse_transport(protocol: u8, src: IpAddr, dst: IpAddr, body: &[u8]) -> Option<Segment<'_>> {
    let src_port = be16(body, 0)?;
    let dst_port = be16(body, 2)?;
    let (transport, payload) = match protocol {
        IP_PROTOCOL_UDP => (Transport::Udp, udp_payload(body)?),
        IP_PROTOCOL_TCP => (Transport::Tcp, tcp_payload(body)?),
        _ => return None,
    };
    Some(Segment {
        transport,
        src: SocketAddr::new(src, src_port),
        dst: SocketAddr::new(dst, dst_port),
        payload,
    })
}

fn udp_payload(datagram: &[u8]) -> Option<&[u8]> {
    let len = usize::from(be16(datagram, 4)?);
    // A length below the header size (0 for jumbograms) means "up to the end".
    let end = if len < 8 {
        datagram.len()
    } else {
        len.min(datagram.len())
    };
    datagram.get(8..end)
}

fn tcp_payload(segment: &[u8]) -> Option<&[u8]> {
    let header_len = usize::from(segment.get(12)? >> 4) * 4;
    if header_len < 20 {
        return None;
    }
    segment.get(header_len..)
}

/// Reads every UDP and TCP packet of the pcap file at `path`, in file order;
/// other packets are skipped.
pub fn read_packets(path: &Path) -> io::Result<Vec<Packet>> {
    let mut reader = PcapReader::open(path)?;
    let link_type = reader.header().link_type;
    let mut packets = Vec::new();
    while let Some(record) = reader.next_record()? {
        if let Some(segment) = parse_frame(link_type, &record.data) {
            packets.push(Packet {
                time: record.time,
                transport: segment.transport,
                src: segment.src,
                dst: segment.dst,
                payload: segment.payload.to_vec(),
            });
        }
    }
    Ok(packets)
}

/// Copies into a new pcap file at `output` only the packets of `input` whose
/// source or destination port is in `ports`, keeping the header (byte order,
/// resolution, link type); returns how many packets it kept.
///
/// Used to cut one case's packets out of a loopback capture shared by
/// concurrent cases. Packets without ports (ARP, ICMP, IP fragments) are left
/// out. [`filter_case`] also limits the packets to the case's time window.
pub fn filter_ports(input: &Path, output: &Path, ports: &BTreeSet<u16>) -> io::Result<usize> {
    let any_record_time = (
        SystemTime::UNIX_EPOCH,
        SystemTime::UNIX_EPOCH + LATEST_RECORD_TIME,
    );
    filter_case(input, output, ports, any_record_time)
}

/// Like [`filter_ports`], but keeps only the packets that were also captured
/// within `window` (start and end included, compared with each record's
/// absolute capture time); returns how many packets it kept.
///
/// Ports alone are not enough when the operating system hands a port that
/// one case has released to a later case on the same shared capture.
pub fn filter_case(
    input: &Path,
    output: &Path,
    ports: &BTreeSet<u16>,
    window: (SystemTime, SystemTime),
) -> io::Result<usize> {
    let (start, end) = window;
    let mut reader = PcapReader::open(input)?;
    let header = *reader.header();
    let mut writer = PcapWriter::create(output, header)?;
    let mut kept = 0;
    while let Some(record) = reader.next_record()? {
        // The time check first: it is cheaper than parsing the frame.
        let matches = (start..=end).contains(&record.captured_at())
            && parse_frame(header.link_type, &record.data)
                .is_some_and(|s| ports.contains(&s.src.port()) || ports.contains(&s.dst.port()));
        if matches {
            writer.write_record(&record)?;
            kept += 1;
        }
    }
    writer.finish()?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::pcap::{PcapHeader, PcapRecord};
    use crate::capture::test_support::{
        TRANSACTION_ID, ethernet, ethernet_ipv4_udp, ethernet_ipv6_tcp, ipv4, record, stun_message,
        synthetic_records, udp, v4, v6, write_pcap,
    };

    #[test]
    fn writes_and_reads_back_udp_and_tcp_packets_in_every_file_format() {
        let dir = tempfile::tempdir().unwrap();
        for (big_endian, nanoseconds) in
            [(false, false), (true, false), (false, true), (true, true)]
        {
            let path = dir.path().join("synthetic.pcap");
            let header = PcapHeader {
                big_endian,
                nanoseconds,
                ..PcapHeader::new(LINKTYPE_ETHERNET)
            };
            let records = synthetic_records();
            write_pcap(&path, header, &records);

            let reader = PcapReader::open(&path).unwrap();
            assert_eq!(*reader.header(), header);
            let read: Vec<PcapRecord> = reader.map(Result::unwrap).collect();
            assert_eq!(read, records);

            let packets = read_packets(&path).unwrap();
            assert_eq!(packets.len(), 2);
            let udp = &packets[0];
            assert_eq!(udp.transport, Transport::Udp);
            assert_eq!(
                udp.src,
                "10.0.0.1:5000".parse::<std::net::SocketAddr>().unwrap()
            );
            assert_eq!(
                udp.dst,
                "10.0.0.2:6000".parse::<std::net::SocketAddr>().unwrap()
            );
            assert_eq!(udp.payload, stun_message(0x0001, TRANSACTION_ID));
            assert_eq!(udp.time, Duration::from_millis(1_700_000_000_000));
            let tcp = &packets[1];
            assert_eq!(tcp.transport, Transport::Tcp);
            assert_eq!(
                tcp.src,
                "[fd00::1]:7000".parse::<std::net::SocketAddr>().unwrap()
            );
            assert_eq!(
                tcp.dst,
                "[fd00::2]:443".parse::<std::net::SocketAddr>().unwrap()
            );
            assert_eq!(
                tcp.payload.len(),
                2 + stun_message(0x0101, TRANSACTION_ID).len()
            );
            assert_eq!(tcp.time - udp.time, Duration::from_millis(1_500));
        }
    }

    #[test]
    fn parses_every_supported_link_type() {
        let datagram = udp(1111, 2222, b"payload");
        let ip_packet = ipv4(
            IP_PROTOCOL_UDP,
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::LOCALHOST,
            &datagram,
        );
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend(&ip_packet);
        let mut sll = vec![0u8; 14];
        sll.extend(ETHERTYPE_IPV4.to_be_bytes());
        sll.extend(&ip_packet);
        let mut sll2 = ETHERTYPE_IPV4.to_be_bytes().to_vec();
        sll2.extend([0u8; 18]);
        sll2.extend(&ip_packet);
        let mut vlan = ethernet(0x8100, &[0, 7]);
        vlan.truncate(16);
        vlan.extend(ETHERTYPE_IPV4.to_be_bytes());
        vlan.extend(&ip_packet);
        let frames = [
            (LINKTYPE_NULL, null),
            (LINKTYPE_RAW, ip_packet.clone()),
            (LINKTYPE_LINUX_SLL, sll),
            (LINKTYPE_LINUX_SLL2, sll2),
            (LINKTYPE_ETHERNET, vlan),
        ];
        for (link_type, frame) in frames {
            let segment = parse_frame(link_type, &frame).unwrap_or_else(|| panic!("{link_type}"));
            assert_eq!(segment.src.port(), 1111);
            assert_eq!(segment.dst.port(), 2222);
            assert_eq!(segment.payload, b"payload");
        }
        assert!(parse_frame(9999, &ip_packet).is_none());
    }

    #[test]
    fn filter_ports_keeps_exactly_the_packets_on_those_ports() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("shared.pcap");
        let output = dir.path().join("case.pcap");
        let records = vec![
            record(
                0,
                ethernet_ipv4_udp(v4("127.0.0.1:5000"), v4("127.0.0.1:5001"), b"a"),
            ),
            record(
                1,
                ethernet_ipv4_udp(v4("127.0.0.1:6000"), v4("127.0.0.1:6001"), b"b"),
            ),
            record(
                2,
                ethernet_ipv4_udp(v4("127.0.0.1:6001"), v4("127.0.0.1:7000"), b"c"),
            ),
            record(
                3,
                ethernet_ipv6_tcp(v6("[::1]:8000"), v6("[::1]:5000"), b"d"),
            ),
            record(4, ethernet(0x0806, &[0; 28])),
        ];
        let header = PcapHeader {
            big_endian: true,
            nanoseconds: true,
            ..PcapHeader::new(LINKTYPE_ETHERNET)
        };
        write_pcap(&input, header, &records);

        let ports = BTreeSet::from([5000, 7000]);
        assert_eq!(filter_ports(&input, &output, &ports).unwrap(), 3);

        let reader = PcapReader::open(&output).unwrap();
        assert_eq!(*reader.header(), header);
        let kept: Vec<PcapRecord> = reader.map(Result::unwrap).collect();
        assert_eq!(
            kept,
            [records[0].clone(), records[2].clone(), records[3].clone()]
        );
    }

    #[test]
    fn filter_case_keeps_only_the_packets_on_its_ports_within_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("shared.pcap");
        let output = dir.path().join("case.pcap");
        let on_port = |millis| {
            record(
                millis,
                ethernet_ipv4_udp(v4("127.0.0.1:5000"), v4("127.0.0.1:5001"), b"case"),
            )
        };
        let records = vec![
            on_port(0),
            on_port(10),
            record(
                20,
                ethernet_ipv4_udp(v4("127.0.0.1:6000"), v4("127.0.0.1:6001"), b"other"),
            ),
            on_port(30),
            on_port(40),
        ];
        write_pcap(&input, PcapHeader::new(LINKTYPE_ETHERNET), &records);
        let at = |index: usize| SystemTime::UNIX_EPOCH + records[index].time;
        let ports = BTreeSet::from([5000]);

        // Both ends of the window are included.
        assert_eq!(
            filter_case(&input, &output, &ports, (at(1), at(3))).unwrap(),
            2
        );
        let kept: Vec<PcapRecord> = PcapReader::open(&output)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(kept, [records[1].clone(), records[3].clone()]);

        // Microseconds are the file's resolution, so this starts right after
        // the last packet.
        let after_the_last = (
            at(4) + Duration::from_micros(1),
            at(4) + Duration::from_secs(60),
        );
        assert_eq!(
            filter_case(&input, &output, &ports, after_the_last).unwrap(),
            0
        );
        assert_eq!(
            filter_case(&input, &output, &ports, (at(3), at(1))).unwrap(),
            0,
            "a window that ends before it starts holds nothing"
        );
    }
}
