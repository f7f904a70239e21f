//! The nft rulesets that make a NAT namespace behave like one kind of NAT (RFC 4787 terms).
//!
//! Every NAT namespace has two interfaces: `wan` (its public address on the public segment) and
//! `lan` (the gateway of the peer's private subnet). All kinds share a forward filter that makes the
//! namespace a NAT and not a plain router: outbound from `lan` passes, inbound passes only as part
//! of a connection conntrack knows (replies) or one the NAT itself forwarded (`ct status dnat`).
//! All kinds also drop unsolicited packets to the NAT's own address, silently, in `input`. That is
//! not only realism (no ICMP "port unreachable" back): a packet delivered locally leaves a
//! confirmed conntrack entry `remote → public:port`, and when the peer then sends to that remote
//! from the same port, port-preserving SNAT clashes with it and picks another port, breaking the
//! endpoint-independent mapping exactly when ICE hole punching needs it. Dropped in `input`, the
//! entry is never confirmed.
//!
//! | kind                  | mapping                     | filtering                   | recipe |
//! |-----------------------|-----------------------------|-----------------------------|--------|
//! | endpoint-independent  | endpoint-independent        | endpoint-independent        | port-preserving masquerade; a dynamic map *mapped port → internal address . port*, filled from outbound packets after NAT, DNATs inbound UDP to mapped ports from anyone |
//! | address-dependent     | endpoint-independent        | address-dependent           | the same, keyed *mapped port . remote address*: inbound UDP passes from any port of an address the peer has sent to |
//! | port-restricted       | endpoint-independent        | address-and-port-dependent  | port-preserving masquerade alone: conntrack lets in only replies from the exact remote address and port |
//! | symmetric             | address-and-port-dependent  | address-and-port-dependent  | `masquerade fully-random`: every new remote endpoint gets a fresh random port |
//!
//! Port-preserving masquerade keeps the peer's source port as the mapped port for every
//! destination (the kernel changes it only on a tuple clash, which one peer per NAT never causes),
//! which is what makes the mapping endpoint-independent. The dynamic maps hold an entry for two
//! minutes after the last outbound packet, like a real NAT's mapping lifetime. The maps cover UDP
//! only; TCP gets conntrack's filtering in every kind.

use super::NatType;

/// The name of the nft table in a NAT namespace.
pub(super) const TABLE: &str = "rtci_nat";

/// How long a mapping stays open for inbound packets after the last outbound one.
const MAPPING_TIMEOUT: &str = "120s";

/// The complete nft script for a NAT namespace of `kind`; `None` for [`NatType::None`].
pub(super) fn ruleset(kind: NatType) -> Option<String> {
    let (masquerade, inbound_map) = match kind {
        NatType::None => return None,
        NatType::EndpointIndependent => (
            "masquerade",
            Some((
                "type inet_service : ipv4_addr . inet_service",
                "udp sport",
                "udp dport",
            )),
        ),
        NatType::AddressDependent => (
            "masquerade",
            Some((
                "type inet_service . ipv4_addr : ipv4_addr . inet_service",
                "udp sport . ip daddr",
                "udp dport . ip saddr",
            )),
        ),
        NatType::PortRestricted => ("masquerade", None),
        NatType::Symmetric => ("masquerade fully-random", None),
    };
    let mut script = format!(
        "table ip {TABLE} {{\n\
         \x20 chain input {{\n\
         \x20   type filter hook input priority filter; policy drop;\n\
         \x20   iif \"lo\" accept\n\
         \x20   ct state established,related accept\n\
         \x20 }}\n\
         \x20 chain forward {{\n\
         \x20   type filter hook forward priority filter; policy drop;\n\
         \x20   iifname \"lan\" oifname \"wan\" accept\n\
         \x20   ct state established,related accept\n\
         \x20   ct status dnat accept\n\
         \x20 }}\n\
         \x20 chain postrouting {{\n\
         \x20   type nat hook postrouting priority srcnat; policy accept;\n\
         \x20   oifname \"wan\" {masquerade}\n\
         \x20 }}\n"
    );
    if let Some((map_type, record_key, lookup_key)) = inbound_map {
        // The record chain runs after srcnat, so `udp sport` is already the mapped port. Only
        // packets of outbound-initiated connections create mappings (`ct direction original`):
        // a reply to an inbound packet would otherwise record the remote end as the internal one.
        script.push_str(&format!(
            "\x20 map mappings {{\n\
             \x20   {map_type}\n\
             \x20   flags dynamic, timeout\n\
             \x20   timeout {MAPPING_TIMEOUT}\n\
             \x20 }}\n\
             \x20 chain record {{\n\
             \x20   type filter hook postrouting priority srcnat + 10; policy accept;\n\
             \x20   iifname \"lan\" oifname \"wan\" ct direction original meta l4proto udp update @mappings {{ {record_key} : ct original ip saddr . ct original proto-src }}\n\
             \x20 }}\n\
             \x20 chain prerouting {{\n\
             \x20   type nat hook prerouting priority dstnat; policy accept;\n\
             \x20   iifname \"wan\" meta l4proto udp dnat ip addr . port to {lookup_key} map @mappings\n\
             \x20 }}\n"
        ));
    }
    script.push_str("}\n");
    Some(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nat_kind_but_none_has_a_ruleset() {
        assert!(ruleset(NatType::None).is_none());
        for kind in NatType::ALL.into_iter().filter(|k| *k != NatType::None) {
            let script = ruleset(kind).unwrap();
            assert!(script.contains("masquerade"), "{kind}: {script}");
            assert!(script.contains("policy drop"), "{kind}: {script}");
        }
        assert!(
            ruleset(NatType::Symmetric)
                .unwrap()
                .contains("fully-random")
        );
        assert!(
            ruleset(NatType::AddressDependent)
                .unwrap()
                .contains("udp dport . ip saddr map @mappings")
        );
        assert!(
            !ruleset(NatType::PortRestricted)
                .unwrap()
                .contains("@mappings")
        );
    }
}
