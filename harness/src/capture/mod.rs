//! Packet captures for a test case.
//!
//! Runs Debian's `tcpdump` (arguments, start-up detection, stopping), reads and
//! writes classic libpcap files without any pcap crate, cuts one case's packets
//! out of a capture shared by concurrent cases, and finds the STUN messages
//! (RFC 8489) in a capture.
//!
//! Only classic pcap (what `tcpdump -w` writes) is handled, not pcapng.

mod bytes;
mod packet;
mod pcap;
mod session;
mod stun;
mod tcpdump;
#[cfg(test)]
mod test_support;

pub use packet::{
    Packet, Segment, Transport, filter_case, filter_ports, parse_frame, read_packets,
};
pub use pcap::{
    LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_RAW,
    PcapHeader, PcapReader, PcapRecord, PcapWriter,
};
pub use session::Capture;
pub use stun::{
    StunClass, StunHeader, StunMethod, StunPacket, describe, stun_header, stun_in_payload,
    stun_messages,
};
pub use tcpdump::{
    CAPTURE_BUFFER_KIB, TCPDUMP, drain_stderr, dropped_by_kernel, stop, stop_and_wait,
    tcpdump_args, wait_for_packets, wait_until_listening,
};
