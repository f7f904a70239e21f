//! Reading fixed-size fields out of packet bytes.

/// Copies a slice of known length into an array; callers pass exact ranges.
pub(super) fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().expect("caller passes exactly N bytes")
}

/// The big-endian (network order) `u16` at `at`, if `bytes` is long enough.
pub(super) fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(array(bytes.get(at..at + 2)?)))
}
