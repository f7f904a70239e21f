//! Running Debian's `tcpdump`: its arguments, noticing when it has started
//! capturing, keeping its stderr drained, and stopping it so that its file is
//! complete.

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::pcap::PcapReader;

/// Where Debian installs tcpdump.
pub const TCPDUMP: &str = "/usr/bin/tcpdump";

/// Kernel capture buffer per tcpdump, in KiB (`-B`): 128 MiB.
///
/// In immediate mode libpcap gives every packet a ring frame as large as the
/// snap length allows (about 64 KiB on `lo`, 256 KiB on `any`), so the
/// default 2 MiB ring holds only 8 to 30 packets and a burst overflows it
/// ("N packets dropped by kernel"). 128 MiB took 2000 back-to-back 1 KB
/// datagrams on `lo` without loss.
pub const CAPTURE_BUFFER_KIB: &str = "131072";

/// What tcpdump prints on stderr once the capture is running, e.g.
/// `tcpdump: listening on lo, link-type EN10MB (Ethernet), snapshot length 262144 bytes`.
const LISTENING_MARKER: &[u8] = b"listening on ";

/// Arguments for a tcpdump capture of `interface` into the pcap file `out`,
/// optionally limited by a BPF `filter` expression (e.g. `udp port 5000`).
///
/// The capture writes each packet to `out` as it arrives (`-U`), resolves no
/// names (`-n`), keeps whole packets (`-s 0`), hands packets over without
/// waiting for the kernel buffer to fill (`--immediate-mode`, supported by
/// Debian's tcpdump 4.99), gets a large kernel buffer
/// ([`CAPTURE_BUFFER_KIB`]) and stays root (`-Z root`): otherwise tcpdump
/// drops to the `tcpdump` user, which usually cannot write `out`.
///
/// The caller spawns the process (e.g. `TCPDUMP` with these arguments, or
/// `ip netns exec NS tcpdump` followed by them) with stderr piped, then calls
/// [`wait_until_listening`]. Name `out` `*.pcap`: where AppArmor is enforced,
/// Debian's tcpdump profile only lets it write such names.
pub fn tcpdump_args(interface: &str, filter: Option<&str>, out: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-i",
        interface,
        "-n",
        "-U",
        "-s",
        "0",
        "--immediate-mode",
        "-B",
        CAPTURE_BUFFER_KIB,
        "-Z",
        "root",
        "-w",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push(out.as_os_str().to_owned());
    // tcpdump joins the remaining arguments into one expression, so a single
    // argument holding the whole filter is enough.
    if let Some(filter) = filter.map(str::trim).filter(|f| !f.is_empty()) {
        args.push(filter.into());
    }
    args
}

/// Waits until tcpdump reports on `stderr` that it is capturing, for at most
/// `timeout`.
///
/// Returns `Err` with everything tcpdump printed if it closes stderr (it
/// exited, e.g. unknown interface or bad filter) or the timeout passes.
/// Packets sent after `Ok` are captured.
///
/// Keep reading `stderr` afterwards (see [`drain_stderr`]) rather than
/// dropping it: tcpdump prints its counters there when it stops.
pub async fn wait_until_listening<R>(stderr: &mut R, timeout: Duration) -> Result<(), String>
where
    R: AsyncRead + Unpin,
{
    let mut seen = Vec::new();
    let outcome = tokio::time::timeout(timeout, read_until_listening(stderr, &mut seen)).await;
    let text = String::from_utf8_lossy(&seen);
    let text = text.trim();
    match outcome {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(format!("tcpdump exited before capturing: {text}")),
        Ok(Err(error)) => Err(format!("reading tcpdump's stderr failed ({error}): {text}")),
        Err(_) => Err(format!(
            "tcpdump did not start capturing within {timeout:?}: {text}"
        )),
    }
}

/// Reads `stderr` into `seen` until the listening marker shows up (`true`) or
/// the stream ends (`false`).
async fn read_until_listening<R>(stderr: &mut R, seen: &mut Vec<u8>) -> io::Result<bool>
where
    R: AsyncRead + Unpin,
{
    let mut chunk = [0u8; 1024];
    loop {
        let read = stderr.read(&mut chunk).await?;
        if read == 0 {
            return Ok(false);
        }
        seen.extend_from_slice(&chunk[..read]);
        // Search everything seen so far: the marker may span two reads.
        if contains(seen, LISTENING_MARKER) {
            return Ok(true);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Reads the rest of tcpdump's stderr in a background task, so that tcpdump
/// never blocks on a full pipe; the task yields the text once tcpdump exits
/// (e.g. `3 packets captured ...`). Needs a tokio runtime.
pub fn drain_stderr<R>(mut stderr: R) -> tokio::task::JoinHandle<String>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut text = Vec::new();
        // A read error just ends the text: it is only kept for logs.
        let _ = stderr.read_to_end(&mut text).await;
        String::from_utf8_lossy(&text).into_owned()
    })
}

/// How many packets tcpdump says the kernel dropped, from the counters it
/// prints on stderr when it stops (`N packets dropped by kernel`); `None` if
/// the text has no such line. More than 0 means the capture is incomplete.
pub fn dropped_by_kernel(stderr_text: &str) -> Option<u64> {
    stderr_text.lines().find_map(|line| {
        let count = line.trim().strip_suffix("packets dropped by kernel")?;
        count.trim().parse().ok()
    })
}

/// Asks tcpdump (process `pid`) to stop by sending it SIGTERM.
///
/// On SIGTERM (or SIGINT) tcpdump flushes and closes its file, prints its
/// counters on stderr and exits. The caller must then wait for it to exit,
/// bounded (e.g. 5 s, then SIGKILL), before reading the file; with a
/// `tokio::process::Child`, [`stop_and_wait`] does both. `ip netns exec`
/// execs tcpdump, so its pid is tcpdump's.
///
/// Packets still in the kernel's buffer when the signal arrives can be lost:
/// stop a moment after the last traffic of interest, or first
/// [`wait_for_packets`].
pub fn stop(pid: i32) -> io::Result<()> {
    // 0 and negative pids would signal whole process groups.
    if pid <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to signal pid {pid}"),
        ));
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let result = unsafe { libc::kill(pid, libc::SIGTERM) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Stops a tcpdump `child` with SIGTERM and waits up to `timeout` for it to
/// exit; if it has not, kills it (SIGKILL, its file may then miss the last
/// packets) and returns `Err(TimedOut)`.
pub async fn stop_and_wait(
    child: &mut tokio::process::Child,
    timeout: Duration,
) -> io::Result<ExitStatus> {
    // `id()` is None once the child has been reaped: nothing left to signal.
    if let Some(pid) = child.id() {
        stop(pid as i32)?;
    }
    if let Ok(status) = tokio::time::timeout(timeout, child.wait()).await {
        return status;
    }
    child.start_kill()?;
    // SIGKILL cannot be ignored, but a wait is still bounded.
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("tcpdump did not exit within {timeout:?} of SIGTERM; killed it"),
    ))
}

/// Waits until the pcap file at `path` holds at least `count` packets,
/// checking every 50 ms for at most `timeout`; returns how many it holds.
///
/// Useful before [`stop`] to make sure tcpdump has written the packets of
/// interest (it writes each packet as it arrives with `-U`).
pub async fn wait_for_packets(path: &Path, count: usize, timeout: Duration) -> io::Result<usize> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // The file may not have its header yet: count that as no packets.
        let written = count_records(path).unwrap_or(0);
        if written >= count {
            return Ok(written);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} holds {written} packets, not {count}, after {timeout:?}",
                    path.display()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count_records(path: &Path) -> io::Result<usize> {
    let mut reader = PcapReader::open(path)?;
    let mut count = 0;
    while reader.next_record()?.is_some() {
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::packet::{Transport, read_packets};
    use crate::capture::stun::{StunClass, StunMethod, describe, stun_messages};
    use crate::capture::test_support::stun_message;

    #[test]
    fn tcpdump_args_ask_for_an_unbuffered_full_capture_as_root() {
        let args = tcpdump_args("lo", Some(" udp port 5 "), Path::new("/tmp/x.pcap"));
        let args: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "-i",
                "lo",
                "-n",
                "-U",
                "-s",
                "0",
                "--immediate-mode",
                "-B",
                "131072",
                "-Z",
                "root",
                "-w",
                "/tmp/x.pcap",
                "udp port 5"
            ]
        );
        assert_eq!(tcpdump_args("lo", None, Path::new("x.pcap")).len(), 13);
    }

    #[test]
    fn reads_the_kernel_drop_count() {
        let text = "tcpdump: listening on lo\n3 packets captured\n6 packets received by filter\n\
                    2 packets dropped by kernel\n";
        assert_eq!(dropped_by_kernel(text), Some(2));
        assert_eq!(dropped_by_kernel("tcpdump: listening on lo\n"), None);
    }

    #[tokio::test]
    async fn wait_until_listening_times_out_with_what_was_printed() {
        let (mut stderr, mut tcpdump_side) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut tcpdump_side, b"warning: something\n")
            .await
            .unwrap();
        let error = wait_until_listening(&mut stderr, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(error.contains("did not start capturing"), "{error}");
        assert!(error.contains("warning: something"), "{error}");
    }

    fn tcpdump_installed() -> bool {
        if Path::new(TCPDUMP).exists() {
            return true;
        }
        eprintln!("SKIPPED: {TCPDUMP} is missing (apt-get install tcpdump)");
        false
    }

    fn spawn_tcpdump(interface: &str, filter: &str, out: &Path) -> tokio::process::Child {
        tokio::process::Command::new(TCPDUMP)
            .args(tcpdump_args(interface, Some(filter), out))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn tcpdump")
    }

    #[tokio::test]
    async fn wait_until_listening_reports_why_tcpdump_exited() {
        if !tcpdump_installed() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("never.pcap");
        let mut child = spawn_tcpdump("no-such-interface0", "udp", &out);
        let mut stderr = child.stderr.take().unwrap();
        let error = wait_until_listening(&mut stderr, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(error.contains("exited before capturing"), "{error}");
        assert!(error.contains("no-such-interface0"), "{error}");
        let _ = stop_and_wait(&mut child, Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn captures_a_real_stun_binding_request_on_loopback() {
        if !tcpdump_installed() {
            return;
        }
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (client_addr, server_addr) =
            (client.local_addr().unwrap(), server.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("loopback.pcap");
        let filter = format!(
            "udp port {} or udp port {}",
            client_addr.port(),
            server_addr.port()
        );
        let mut tcpdump = spawn_tcpdump("lo", &filter, &out);
        let mut stderr = tcpdump.stderr.take().unwrap();
        wait_until_listening(&mut stderr, Duration::from_secs(10))
            .await
            .expect("tcpdump starts");
        let stderr_text = drain_stderr(stderr);

        let transaction_id = *b"\x01\x23\x45\x67\x89\xab\xcd\xef\x10\x32\x54\x76";
        let binding_request = stun_message(0x0001, transaction_id);
        let mut not_stun = binding_request.clone();
        not_stun.extend(b"junk"); // length field no longer matches
        let datagrams = [&binding_request[..], b"hello, not stun", &not_stun];
        let mut received = [0u8; 1500];
        for datagram in datagrams {
            client.send_to(datagram, server_addr).await.unwrap();
            let read = tokio::time::timeout(Duration::from_secs(5), server.recv(&mut received))
                .await
                .expect("datagram arrives")
                .unwrap();
            assert_eq!(&received[..read], datagram);
        }
        wait_for_packets(&out, datagrams.len(), Duration::from_secs(10))
            .await
            .expect("tcpdump writes the datagrams");
        let status = stop_and_wait(&mut tcpdump, Duration::from_secs(10))
            .await
            .expect("tcpdump stops on SIGTERM");
        let stderr_text = tokio::time::timeout(Duration::from_secs(5), stderr_text)
            .await
            .expect("stderr closes")
            .unwrap();
        assert!(status.success(), "{status}: {stderr_text}");
        assert_eq!(dropped_by_kernel(&stderr_text), Some(0), "{stderr_text}");

        let packets = read_packets(&out).unwrap();
        assert_eq!(packets.len(), datagrams.len(), "{packets:?}");
        assert!(packets.iter().any(|p| p.payload == b"hello, not stun"));
        let messages = stun_messages(&out).unwrap();
        assert_eq!(messages.len(), 1, "{messages:?}");
        let request = &messages[0];
        eprintln!("{}", describe(request));
        assert_eq!(request.transport, Transport::Udp);
        assert_eq!(request.src, client_addr);
        assert_eq!(request.dst, server_addr);
        assert_eq!(request.method, StunMethod::Binding);
        assert_eq!(request.class, StunClass::Request);
        assert_eq!(request.transaction_id, "0123456789abcdef10325476");
        assert!(describe(request).ends_with(&format!(
            "udp {client_addr} → {server_addr} Binding request"
        )));
    }
}
