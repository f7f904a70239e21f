//! Classic libpcap files (what `tcpdump -w` writes), read and written without
//! any pcap crate. pcapng is refused, not read.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::bytes::array;

const MAGIC_MICROSECONDS: u32 = 0xA1B2_C3D4;
const MAGIC_NANOSECONDS: u32 = 0xA1B2_3C4D;
const MAGIC_PCAPNG: u32 = 0x0A0D_0D0A;
const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
/// Larger records mean a corrupt file; refuse them rather than allocate.
const MAX_RECORD_LEN: u32 = 64 * 1024 * 1024;

/// The latest capture time a record read from a classic pcap file can have:
/// the seconds field is 32 bits and [`PcapReader`] caps the fraction at
/// `u32::MAX` nanoseconds.
pub(super) const LATEST_RECORD_TIME: Duration = Duration::new(u32::MAX as u64, u32::MAX);

/// Link type BSD loopback: a 4-byte address family, then the IP packet.
pub const LINKTYPE_NULL: u32 = 0;
/// Link type Ethernet (`EN10MB`).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Link type raw IP: the frame is the IPv4 or IPv6 packet.
pub const LINKTYPE_RAW: u32 = 101;
/// Link type Linux "cooked" capture v1 (`tcpdump -i any` before libpcap 1.10).
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// Link type Linux "cooked" capture v2 (`tcpdump -i any` with libpcap 1.10+).
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

/// The header of a classic pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapHeader {
    /// Whether the file's numbers are big-endian.
    pub big_endian: bool,
    /// Whether record timestamps count nanoseconds (else microseconds).
    pub nanoseconds: bool,
    /// Format major version (2).
    pub version_major: u16,
    /// Format minor version (4).
    pub version_minor: u16,
    /// Time zone correction (always 0 in practice).
    pub this_zone: i32,
    /// Timestamp accuracy (always 0 in practice).
    pub sigfigs: u32,
    /// Largest number of bytes kept per packet.
    pub snap_len: u32,
    /// The link type field as stored (`LINKTYPE_*` in the low 16 bits; the
    /// high bits may carry FCS information).
    pub link_type: u32,
}

impl PcapHeader {
    /// A header for a new file: this machine's byte order, microsecond
    /// timestamps, version 2.4, 262144-byte snap length.
    pub fn new(link_type: u32) -> Self {
        Self {
            big_endian: cfg!(target_endian = "big"),
            nanoseconds: false,
            version_major: 2,
            version_minor: 4,
            this_zone: 0,
            sigfigs: 0,
            snap_len: 262_144,
            link_type,
        }
    }

    /// The `LINKTYPE_*` value, without the FCS bits.
    pub fn link(&self) -> u32 {
        self.link_type & 0xFFFF
    }

    fn parse(bytes: &[u8; FILE_HEADER_LEN]) -> io::Result<Self> {
        let magic_le = u32::from_le_bytes(array(&bytes[0..4]));
        let magic_be = u32::from_be_bytes(array(&bytes[0..4]));
        let (big_endian, nanoseconds) = match (magic_le, magic_be) {
            (MAGIC_MICROSECONDS, _) => (false, false),
            (MAGIC_NANOSECONDS, _) => (false, true),
            (_, MAGIC_MICROSECONDS) => (true, false),
            (_, MAGIC_NANOSECONDS) => (true, true),
            (MAGIC_PCAPNG, _) => return Err(invalid_data("pcapng files are not supported")),
            _ => return Err(invalid_data("not a pcap file (unknown magic number)")),
        };
        let order = ByteOrder { big_endian };
        Ok(Self {
            big_endian,
            nanoseconds,
            version_major: order.u16(&bytes[4..6]),
            version_minor: order.u16(&bytes[6..8]),
            this_zone: order.u32(&bytes[8..12]) as i32,
            sigfigs: order.u32(&bytes[12..16]),
            snap_len: order.u32(&bytes[16..20]),
            link_type: order.u32(&bytes[20..24]),
        })
    }

    fn to_bytes(self) -> Vec<u8> {
        let order = ByteOrder {
            big_endian: self.big_endian,
        };
        let magic = if self.nanoseconds {
            MAGIC_NANOSECONDS
        } else {
            MAGIC_MICROSECONDS
        };
        let mut bytes = Vec::with_capacity(FILE_HEADER_LEN);
        bytes.extend(order.u32_bytes(magic));
        bytes.extend(order.u16_bytes(self.version_major));
        bytes.extend(order.u16_bytes(self.version_minor));
        bytes.extend(order.u32_bytes(self.this_zone as u32));
        bytes.extend(order.u32_bytes(self.sigfigs));
        bytes.extend(order.u32_bytes(self.snap_len));
        bytes.extend(order.u32_bytes(self.link_type));
        bytes
    }
}

/// One captured packet as stored in a pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapRecord {
    /// When it was captured, since the Unix epoch.
    pub time: Duration,
    /// Its length on the wire (`data` may be shorter if the snap length cut it).
    pub orig_len: u32,
    /// The captured bytes, starting with the link-layer header.
    pub data: Vec<u8>,
}

impl PcapRecord {
    /// When it was captured, as a point in time (`time` after the Unix epoch).
    ///
    /// Panics only for a `time` beyond what [`SystemTime`] can hold, which no
    /// record read from a pcap file has.
    pub fn captured_at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + self.time
    }
}

/// The byte order of a pcap file's numbers.
#[derive(Clone, Copy)]
struct ByteOrder {
    big_endian: bool,
}

impl ByteOrder {
    fn u16(self, bytes: &[u8]) -> u16 {
        if self.big_endian {
            u16::from_be_bytes(array(bytes))
        } else {
            u16::from_le_bytes(array(bytes))
        }
    }

    fn u32(self, bytes: &[u8]) -> u32 {
        if self.big_endian {
            u32::from_be_bytes(array(bytes))
        } else {
            u32::from_le_bytes(array(bytes))
        }
    }

    fn u16_bytes(self, value: u16) -> [u8; 2] {
        if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    }

    fn u32_bytes(self, value: u32) -> [u8; 4] {
        if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    }
}
fn invalid_data(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads a classic pcap file record by record.
pub struct PcapReader<R> {
    input: R,
    header: PcapHeader,
}

impl PcapReader<BufReader<File>> {
    /// Opens the pcap file at `path` and reads its header.
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::new(BufReader::new(File::open(path)?))
    }
}

impl<R: Read> PcapReader<R> {
    /// Reads the file header from `input`; fails on pcapng or non-pcap data.
    pub fn new(mut input: R) -> io::Result<Self> {
        let mut bytes = [0u8; FILE_HEADER_LEN];
        input.read_exact(&mut bytes)?;
        let header = PcapHeader::parse(&bytes)?;
        Ok(Self { input, header })
    }

    /// The file header.
    pub fn header(&self) -> &PcapHeader {
        &self.header
    }

    /// The next record, or `None` at the end of the file.
    ///
    /// A record cut short at the end (tcpdump killed mid-write, or a file
    /// still being written) also ends the file instead of failing.
    pub fn next_record(&mut self) -> io::Result<Option<PcapRecord>> {
        let mut record_header = [0u8; RECORD_HEADER_LEN];
        if !read_whole(&mut self.input, &mut record_header)? {
            return Ok(None);
        }
        let order = ByteOrder {
            big_endian: self.header.big_endian,
        };
        let seconds = order.u32(&record_header[0..4]);
        let fraction = order.u32(&record_header[4..8]);
        let captured_len = order.u32(&record_header[8..12]);
        let orig_len = order.u32(&record_header[12..16]);
        if captured_len > MAX_RECORD_LEN {
            return Err(invalid_data(format!(
                "pcap record of {captured_len} bytes: corrupt file"
            )));
        }
        let mut data = vec![0u8; captured_len as usize];
        if !read_whole(&mut self.input, &mut data)? {
            return Ok(None);
        }
        let nanos = if self.header.nanoseconds {
            fraction
        } else {
            fraction.saturating_mul(1000)
        };
        Ok(Some(PcapRecord {
            // Duration::new carries an out-of-range fraction into seconds.
            time: Duration::new(u64::from(seconds), nanos),
            orig_len,
            data,
        }))
    }
}

impl<R: Read> Iterator for PcapReader<R> {
    type Item = io::Result<PcapRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// Fills `buf` completely (`true`), or reports the end of input (`false`)
/// when it ends first, even part-way.
fn read_whole(input: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(true)
}

/// Writes a classic pcap file in the byte order and timestamp resolution of
/// its header.
pub struct PcapWriter<W: Write> {
    output: W,
    header: PcapHeader,
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (or truncates) the file at `path` and writes `header`.
    pub fn create(path: &Path, header: PcapHeader) -> io::Result<Self> {
        Self::new(BufWriter::new(File::create(path)?), header)
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes `header` to `output`.
    pub fn new(mut output: W, header: PcapHeader) -> io::Result<Self> {
        output.write_all(&header.to_bytes())?;
        Ok(Self { output, header })
    }

    /// Appends one record. Its time is truncated to the file's resolution;
    /// its wire length is at least its captured length.
    pub fn write_record(&mut self, record: &PcapRecord) -> io::Result<()> {
        let order = ByteOrder {
            big_endian: self.header.big_endian,
        };
        let seconds = u32::try_from(record.time.as_secs())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timestamp past 2106"))?;
        let fraction = if self.header.nanoseconds {
            record.time.subsec_nanos()
        } else {
            record.time.subsec_micros()
        };
        let captured_len = u32::try_from(record.data.len())
            .ok()
            .filter(|len| *len <= MAX_RECORD_LEN)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
        self.output.write_all(&order.u32_bytes(seconds))?;
        self.output.write_all(&order.u32_bytes(fraction))?;
        self.output.write_all(&order.u32_bytes(captured_len))?;
        self.output
            .write_all(&order.u32_bytes(record.orig_len.max(captured_len)))?;
        self.output.write_all(&record.data)
    }

    /// Flushes the file and hands back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.output.flush()?;
        Ok(self.output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::test_support::record;

    #[test]
    fn a_truncated_last_record_ends_the_file() {
        let mut writer = PcapWriter::new(Vec::new(), PcapHeader::new(LINKTYPE_RAW)).unwrap();
        writer.write_record(&record(0, vec![0x45; 30])).unwrap();
        writer.write_record(&record(1, vec![0x45; 30])).unwrap();
        let written = writer.finish().unwrap();
        let cut = &written[..written.len() - 5];
        let mut reader = PcapReader::new(cut).unwrap();
        assert!(reader.next_record().unwrap().is_some());
        assert!(reader.next_record().unwrap().is_none());
    }
}
