//! `--capture`: next to a run's reports, each case's packets and a bug bundle with everything
//! needed to reproduce it, listed in the case's `artifacts`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::outcome::{Artifact, CaseResult};
use crate::plan::Case;
use crate::report::bundle::{BundleEntry, write_bundle};
use crate::scenario::PeerKind;

/// Packets and log lines this long after a case's end still belong to it (the last ones tcpdump
/// writes, the peers' closing).
const CAPTURE_MARGIN: Duration = Duration::from_secs(1);

/// What a run recorded for all its cases together, that each case's files are cut from.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunRecordings<'a> {
    /// The run's capture of loopback.
    pub capture: Option<&'a Path>,
    /// Packets that capture lost.
    pub dropped: Option<u64>,
    /// The filter webrtc-rs's log was tapped by ([`crate::native_log`]), when it was.
    pub native_log: Option<&'a str>,
}

/// Writes `cases/<index>-<slug>/capture.pcap` (the case's packets, cut from the run's capture by
/// the ports of its candidates and its time), `native.log` (webrtc-rs's log of the case's time,
/// where a native peer took part) and `bundle.tar.gz` into `run_folder`, and lists them in
/// `result.artifacts`. `beside`: how many other cases played during this one's time. A file
/// that cannot be written is named in the case's errors instead.
pub fn write_case_files(
    run_folder: &Path,
    recordings: RunRecordings<'_>,
    beside: usize,
    case: &Case,
    result: &mut CaseResult,
) {
    let RunRecordings {
        capture: run_capture,
        dropped,
        native_log,
    } = recordings;
    let relative = format!("cases/{}-{}", result.index, case.slug());
    let folder = run_folder.join(&relative);
    if let Err(e) = std::fs::create_dir_all(&folder) {
        result
            .errors
            .offerer
            .push(format!("cannot create {}: {e}", folder.display()));
        return;
    }
    let mut bundle = Vec::new();
    // A `[network]` case's captures (made in its namespaces) and its browsers' logs
    // (`--browser-logs`) are in the run's temporary folder.
    for artifact in &mut result.artifacts {
        let from = std::path::PathBuf::from(&artifact.path);
        let to = folder.join(&artifact.name);
        match std::fs::copy(&from, &to) {
            Ok(_) => {
                let _ = std::fs::remove_file(&from);
                if artifact.name.ends_with(".pcap") {
                    let stun = crate::capture::stun_messages(&to).map_or(0, |m| m.len());
                    artifact.about = format!("{}, {stun} STUN/TURN message(s)", artifact.about);
                }
                artifact.path = format!("{relative}/{}", artifact.name);
                bundle.push(BundleEntry::file(to, artifact.name.clone()));
            }
            Err(e) => artifact.about = format!("{} (lost: {e})", artifact.about),
        }
    }
    let run_capture = run_capture.filter(|_| result.network.is_none());
    if let Some(run_capture) = run_capture {
        let file = folder.join("capture.pcap");
        match crate::capture::filter_case(run_capture, &file, &case_ports(result), window(result)) {
            Ok(packets) => {
                let stun = crate::capture::stun_messages(&file).map_or(0, |m| m.len());
                let lost = dropped
                    .filter(|n| *n > 0)
                    .map(|n| format!("; the capture lost {n} packet(s) of the run"))
                    .unwrap_or_default();
                result.artifacts.push(Artifact {
                    name: "capture.pcap".into(),
                    path: format!("{relative}/capture.pcap"),
                    about: format!(
                        "{packets} packet(s) on loopback to or from the case's candidates, \
                         {stun} STUN/TURN message(s){lost}"
                    ),
                });
                bundle.push(BundleEntry::file(file, "capture.pcap"));
            }
            Err(e) => result.errors.offerer.push(format!(
                "cannot cut the case's packets from the capture: {e}"
            )),
        }
    }
    if let Some(filter) = native_log.filter(|_| case.kinds().contains(&PeerKind::Native)) {
        let (from, to) = window(result);
        let (lines, dropped) = crate::native_log::lines_between(from, to);
        let file = folder.join("native.log");
        match std::fs::write(&file, lines.join("\n") + "\n") {
            Ok(()) => {
                let mut about = format!(
                    "{} line(s) of webrtc-rs's log (RUST_LOG={filter}) from the case's time",
                    lines.len()
                );
                if beside > 0 {
                    about += &format!(
                        "; {beside} other case(s) played meanwhile in this process, their \
                         native peers' lines can be among these"
                    );
                }
                if dropped > 0 {
                    about += &format!("; the run's log outgrew its limit, {dropped} line(s) lost");
                }
                result.artifacts.push(Artifact {
                    name: "native.log".into(),
                    path: format!("{relative}/native.log"),
                    about,
                });
                bundle.push(BundleEntry::file(file, "native.log"));
            }
            Err(e) => result
                .errors
                .offerer
                .push(format!("cannot write {}: {e}", file.display())),
        }
    }
    bundle.extend(bundle_entries(case, result));
    let out = folder.join("bundle.tar.gz");
    match write_bundle(&out, &bundle) {
        Ok(()) => result.artifacts.push(Artifact {
            name: "bundle.tar.gz".into(),
            path: format!("{relative}/bundle.tar.gz"),
            about: "the scenario, the command line, versions, this case's report entry, \
                    consoles, native log and capture: what reproducing it needs"
                .into(),
        }),
        Err(e) => result
            .errors
            .offerer
            .push(format!("cannot write {}: {e}", out.display())),
    }
}

/// A `[network]` case's capture of every interface of `namespace`, still at `file` (absolute):
/// [`write_case_files`] moves it beside the reports.
pub fn namespace_capture(
    namespace: &str,
    file: std::path::PathBuf,
    dropped: Option<u64>,
) -> Artifact {
    let lost = dropped
        .filter(|n| *n > 0)
        .map(|n| format!(" ({n} packet(s) lost)"))
        .unwrap_or_default();
    Artifact {
        name: format!("capture-{namespace}.pcap"),
        path: file.display().to_string(),
        about: format!("every interface of namespace {namespace}{lost}"),
    }
}

/// Every port of the case's candidates, both sides', gathered and received: each packet of its
/// ICE, STUN, TURN and DTLS/SRTP traffic has one of them at an end.
fn case_ports(result: &CaseResult) -> BTreeSet<u16> {
    [&result.candidates.offerer, &result.candidates.answerer]
        .into_iter()
        .flat_map(|side| side.local.iter().chain(&side.remote))
        .map(|c| c.port)
        .filter(|&port| port != 0 && port != 9)
        .collect()
}

/// From the case's start until a moment after its end.
/// How many of `others` (every played case's [`window`], this one's included) overlap `result`'s.
pub fn played_beside(result: &CaseResult, others: &[(SystemTime, SystemTime)]) -> usize {
    let (from, to) = window(result);
    others
        .iter()
        .filter(|(start, end)| *start < to && *end > from)
        .count()
        .saturating_sub(1)
}

/// A case's time: from its start to a little after its end (the last packets and log lines).
pub fn window(result: &CaseResult) -> (SystemTime, SystemTime) {
    let at = |ms: f64| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(ms.max(0.0) / 1000.0);
    (
        at(result.started_at_ms),
        at(result.started_at_ms + result.duration_ms) + CAPTURE_MARGIN,
    )
}

/// The bundle's other files: scenario, command line, versions, report entry, consoles.
fn bundle_entries(case: &Case, result: &CaseResult) -> Vec<BundleEntry> {
    let mut entries = Vec::new();
    let scenario_file = case
        .scenario
        .source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{}.toml", case.scenario.name));
    entries.push(BundleEntry::file(
        &case.scenario.source,
        format!("scenarios/{scenario_file}"),
    ));
    let command: Vec<String> = std::env::args().map(|a| shell_quoted(&a)).collect();
    let cwd = std::env::current_dir().unwrap_or_default();
    entries.push(BundleEntry::bytes(
        "command.txt",
        format!(
            "# in {}\n{}\n\n# this case alone, from the bundle's folder:\nrtc-interop run --scenarios scenarios --scenario {} --pairing {}:{}\n",
            cwd.display(),
            command.join(" "),
            shell_quoted(&case.scenario.name),
            case.offerer,
            case.answerer
        ),
    ));
    let mut versions = format!(
        "rtc-interop {}\nwebrtc-rs {}\n",
        env!("CARGO_PKG_VERSION"),
        crate::WEBRTC_RS_VERSION
    );
    for b in &result.browsers {
        versions.push_str(&format!(
            "{} {} (driver {}{}; {})\n",
            b.kind,
            b.version,
            b.driver_version,
            b.endpoint
                .as_deref()
                .map(|e| format!(", remote {e}"))
                .unwrap_or_default(),
            b.user_agent
        ));
    }
    entries.push(BundleEntry::bytes("versions.txt", versions));
    let entry = serde_json::to_string_pretty(result).expect("a case result is JSON");
    entries.push(BundleEntry::bytes("case.json", entry));
    for (side, lines) in [
        ("offerer", &result.console.offerer),
        ("answerer", &result.console.answerer),
    ] {
        if !lines.is_empty() {
            entries.push(BundleEntry::bytes(
                format!("console-{side}.txt"),
                lines.join("\n") + "\n",
            ));
        }
    }
    entries
}

/// `text` as one shell word.
fn shell_quoted(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quoted;

    #[test]
    fn command_words_are_quoted_only_when_needed() {
        assert_eq!(shell_quoted("--pairing"), "--pairing");
        assert_eq!(shell_quoted("aiortc:*"), "'aiortc:*'");
        assert_eq!(shell_quoted("it's"), r"'it'\''s'");
        assert_eq!(shell_quoted(""), "''");
    }
}
