//! Finding STUN messages (RFC 8489, and the TURN methods of RFC 8656) in
//! UDP and TCP payloads and in whole captures.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::bytes::{array, be16};
use super::packet::{Transport, parse_frame};
use super::pcap::PcapReader;

/// The fixed value in bytes 4..8 of every RFC 5389/8489 STUN message.
pub(super) const STUN_MAGIC_COOKIE: u32 = 0x2112_A442;
pub(super) const STUN_HEADER_LEN: usize = 20;

/// The class of a STUN message (RFC 8489 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StunClass {
    /// A request; a response is expected.
    Request,
    /// An indication; no response.
    Indication,
    /// A success response.
    SuccessResponse,
    /// An error response.
    ErrorResponse,
}

impl fmt::Display for StunClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StunClass::Request => "request",
            StunClass::Indication => "indication",
            StunClass::SuccessResponse => "success response",
            StunClass::ErrorResponse => "error response",
        })
    }
}

/// The method of a STUN message: Binding (RFC 8489) or a TURN method
/// (RFC 8656), else its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StunMethod {
    /// Binding (0x001).
    Binding,
    /// TURN Allocate (0x003).
    Allocate,
    /// TURN Refresh (0x004).
    Refresh,
    /// TURN Send (0x006).
    Send,
    /// TURN Data (0x007).
    Data,
    /// TURN CreatePermission (0x008).
    CreatePermission,
    /// TURN ChannelBind (0x009).
    ChannelBind,
    /// Any other method, by its 12-bit number.
    Other(u16),
}

impl StunMethod {
    /// The method for a 12-bit method number.
    pub fn from_number(number: u16) -> Self {
        match number {
            0x001 => StunMethod::Binding,
            0x003 => StunMethod::Allocate,
            0x004 => StunMethod::Refresh,
            0x006 => StunMethod::Send,
            0x007 => StunMethod::Data,
            0x008 => StunMethod::CreatePermission,
            0x009 => StunMethod::ChannelBind,
            other => StunMethod::Other(other),
        }
    }
}

impl fmt::Display for StunMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StunMethod::Binding => f.write_str("Binding"),
            StunMethod::Allocate => f.write_str("Allocate"),
            StunMethod::Refresh => f.write_str("Refresh"),
            StunMethod::Send => f.write_str("Send"),
            StunMethod::Data => f.write_str("Data"),
            StunMethod::CreatePermission => f.write_str("CreatePermission"),
            StunMethod::ChannelBind => f.write_str("ChannelBind"),
            StunMethod::Other(number) => write!(f, "method {number:#05x}"),
        }
    }
}

/// The 20-byte header of a STUN message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StunHeader {
    /// Request, indication or response.
    pub class: StunClass,
    /// What the message is about.
    pub method: StunMethod,
    /// Length of the attributes after the header, in bytes.
    pub length: u16,
    /// The 96-bit transaction id.
    pub transaction_id: [u8; 12],
}

impl StunHeader {
    /// The transaction id in lower-case hex (24 digits).
    pub fn transaction_id_hex(&self) -> String {
        self.transaction_id
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// Reads the header of `message` if it is exactly one STUN message (RFC 8489
/// §6): first two bits zero, the magic cookie, and a length field (a
/// multiple of 4) that accounts for every byte after the header.
pub fn stun_header(message: &[u8]) -> Option<StunHeader> {
    let header = stun_header_at_start(message)?;
    (STUN_HEADER_LEN + usize::from(header.length) == message.len()).then_some(header)
}

/// Reads the header of a complete STUN message at the start of `bytes`,
/// which may go on after it.
fn stun_header_at_start(bytes: &[u8]) -> Option<StunHeader> {
    let message_type = be16(bytes, 0)?;
    let length = be16(bytes, 2)?;
    let cookie = u32::from_be_bytes(array(bytes.get(4..8)?));
    let transaction_id = array(bytes.get(8..STUN_HEADER_LEN)?);
    let fits = STUN_HEADER_LEN + usize::from(length) <= bytes.len();
    // Attributes are padded to 4 bytes, so the length's last two bits are 0.
    let valid =
        message_type & 0xC000 == 0 && cookie == STUN_MAGIC_COOKIE && length % 4 == 0 && fits;
    valid.then(|| StunHeader {
        class: stun_class(message_type),
        method: StunMethod::from_number(stun_method_number(message_type)),
        length,
        transaction_id,
    })
}

/// The class bits C1 (bit 8) and C0 (bit 4) of a message type (RFC 8489 §5).
fn stun_class(message_type: u16) -> StunClass {
    match ((message_type >> 7) & 0b10) | ((message_type >> 4) & 0b01) {
        0b00 => StunClass::Request,
        0b01 => StunClass::Indication,
        0b10 => StunClass::SuccessResponse,
        _ => StunClass::ErrorResponse,
    }
}

/// The 12 method bits of a message type, around the two class bits.
fn stun_method_number(message_type: u16) -> u16 {
    (message_type & 0x000F) | ((message_type >> 1) & 0x0070) | ((message_type >> 2) & 0x0F80)
}

/// The STUN messages in a UDP or TCP payload.
///
/// A UDP datagram is one whole message. A TCP payload may start with
/// messages framed by a 2-byte length (RFC 4571, as ICE-TCP uses) or
/// unframed (TURN over TCP); consecutive messages are all read, and reading
/// stops at the first bytes that are not a complete message.
pub fn stun_in_payload(transport: Transport, payload: &[u8]) -> Vec<StunHeader> {
    match transport {
        Transport::Udp => stun_header(payload).into_iter().collect(),
        Transport::Tcp => stun_in_tcp(payload),
    }
}

fn stun_in_tcp(payload: &[u8]) -> Vec<StunHeader> {
    let mut found = Vec::new();
    let mut rest = payload;
    while let Some((header, used)) = framed_stun(rest).or_else(|| unframed_stun(rest)) {
        found.push(header);
        rest = &rest[used..];
    }
    found
}

/// A STUN message behind an RFC 4571 length prefix, and the bytes it takes.
fn framed_stun(bytes: &[u8]) -> Option<(StunHeader, usize)> {
    let frame_len = usize::from(be16(bytes, 0)?);
    let header = stun_header(bytes.get(2..2 + frame_len)?)?;
    Some((header, 2 + frame_len))
}

/// A STUN message without framing, and the bytes it takes.
fn unframed_stun(bytes: &[u8]) -> Option<(StunHeader, usize)> {
    let header = stun_header_at_start(bytes)?;
    Some((header, STUN_HEADER_LEN + usize::from(header.length)))
}

/// A STUN message seen in a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StunPacket {
    /// When it was captured, since the Unix epoch.
    pub time: Duration,
    /// Since the capture's first packet (of any kind).
    pub since_start: Duration,
    /// UDP or TCP.
    pub transport: Transport,
    /// Sender's address and port.
    pub src: SocketAddr,
    /// Receiver's address and port.
    pub dst: SocketAddr,
    /// Request, indication or response.
    pub class: StunClass,
    /// What the message is about.
    pub method: StunMethod,
    /// The transaction id in lower-case hex (24 digits), to pair requests
    /// with responses.
    pub transaction_id: String,
}

/// Every STUN message in the pcap file at `path`, in file order (see
/// [`stun_in_payload`] for what counts as STUN).
pub fn stun_messages(path: &Path) -> io::Result<Vec<StunPacket>> {
    let mut reader = PcapReader::open(path)?;
    let link_type = reader.header().link_type;
    let mut first_time = None;
    let mut found = Vec::new();
    while let Some(record) = reader.next_record()? {
        let start = *first_time.get_or_insert(record.time);
        let Some(segment) = parse_frame(link_type, &record.data) else {
            continue;
        };
        for header in stun_in_payload(segment.transport, segment.payload) {
            found.push(StunPacket {
                time: record.time,
                since_start: record.time.saturating_sub(start),
                transport: segment.transport,
                src: segment.src,
                dst: segment.dst,
                class: header.class,
                method: header.method,
                transaction_id: header.transaction_id_hex(),
            });
        }
    }
    Ok(found)
}

/// One line for a STUN message, e.g.
/// `12.345 udp 127.0.0.1:5000 → 127.0.0.1:6000 Binding request`
/// (seconds since the capture's first packet).
pub fn describe(packet: &StunPacket) -> String {
    format!(
        "{:.3} {} {} → {} {} {}",
        packet.since_start.as_secs_f64(),
        packet.transport,
        packet.src,
        packet.dst,
        packet.method,
        packet.class
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::pcap::{LINKTYPE_ETHERNET, PcapHeader};
    use crate::capture::test_support::{
        TRANSACTION_ID, stun_message, synthetic_records, write_pcap,
    };

    #[test]
    fn finds_stun_in_udp_and_framed_tcp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stun.pcap");
        write_pcap(
            &path,
            PcapHeader::new(LINKTYPE_ETHERNET),
            &synthetic_records(),
        );

        let messages = stun_messages(&path).unwrap();
        let lines: Vec<String> = messages.iter().map(describe).collect();
        assert_eq!(
            lines,
            [
                "0.000 udp 10.0.0.1:5000 → 10.0.0.2:6000 Binding request",
                "1.500 tcp [fd00::1]:7000 → [fd00::2]:443 Binding success response",
            ]
        );
        assert!(
            messages
                .iter()
                .all(|m| m.transaction_id == "7274632d696e7465726f7021")
        );
    }

    #[test]
    fn reads_unframed_and_consecutive_stun_over_tcp() {
        let mut payload = stun_message(0x0003, TRANSACTION_ID);
        payload.extend(stun_message(0x0113, TRANSACTION_ID));
        payload.extend(b"trailing bytes");
        let headers = stun_in_payload(Transport::Tcp, &payload);
        let kinds: Vec<_> = headers.iter().map(|h| (h.method, h.class)).collect();
        assert_eq!(
            kinds,
            [
                (StunMethod::Allocate, StunClass::Request),
                (StunMethod::Allocate, StunClass::ErrorResponse),
            ]
        );
    }

    #[test]
    fn decodes_stun_classes_and_methods() {
        let cases = [
            (0x0001, StunMethod::Binding, StunClass::Request),
            (0x0011, StunMethod::Binding, StunClass::Indication),
            (0x0101, StunMethod::Binding, StunClass::SuccessResponse),
            (0x0111, StunMethod::Binding, StunClass::ErrorResponse),
            (0x0004, StunMethod::Refresh, StunClass::Request),
            (0x0016, StunMethod::Send, StunClass::Indication),
            (0x0017, StunMethod::Data, StunClass::Indication),
            (
                0x0108,
                StunMethod::CreatePermission,
                StunClass::SuccessResponse,
            ),
            (0x0009, StunMethod::ChannelBind, StunClass::Request),
            (0x000A, StunMethod::Other(0x00A), StunClass::Request),
            (0x0200, StunMethod::Other(0x080), StunClass::Request),
            (0x3FFF, StunMethod::Other(0xFFF), StunClass::ErrorResponse),
        ];
        for (type_bits, method, class) in cases {
            let header = stun_header(&stun_message(type_bits, TRANSACTION_ID)).unwrap();
            assert_eq!(
                (header.method, header.class),
                (method, class),
                "{type_bits:#06x}"
            );
        }
        assert_eq!(StunMethod::Other(0x00A).to_string(), "method 0x00a");
    }

    #[test]
    fn rejects_payloads_that_only_look_like_stun() {
        let message = stun_message(0x0001, TRANSACTION_ID);
        let mut wrong_cookie = message.clone();
        wrong_cookie[4] ^= 0xFF;
        let mut top_bits_set = message.clone();
        top_bits_set[0] |= 0x80;
        let mut extra_byte = message.clone();
        extra_byte.push(0);
        let cut_short = &message[..message.len() - 4];
        for payload in [
            &wrong_cookie[..],
            &top_bits_set,
            &extra_byte,
            cut_short,
            b"hello",
        ] {
            assert!(stun_in_payload(Transport::Udp, payload).is_empty());
        }
    }
}
