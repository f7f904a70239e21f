//! SDP snapshots in runs: every case's local descriptions checked against the accepted snapshots.
//!
//! For each description a side set locally (its offer or answer, as recorded in
//! `CaseResult.sdp`), the runner stores its [`snapshot_form`] as one insta snapshot per
//! scenario × pairing × description in `scenarios/snapshots/` (see [`super::snapshot`] for names,
//! format and modes). A snapshot that is missing or differs fails the case, whatever its known
//! failures say (those are about connecting, not about SDP), and the failure says what changed
//! in words: `SDP changed: chromium offer, m=application: sctp max-message-size 262144 → 65536`.
//! A scenario opts out with `snapshots = false`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SdpError;
use super::normalize::normalize;
use super::snapshot::{Side, SnapshotId, SnapshotMode, SnapshotOutcome, SnapshotStore};
use crate::observe::Description;
use crate::outcome::Sides;
use crate::plan::Case;
use crate::scenario::PeerKind;

/// The folder, inside the scenarios folder, that holds the accepted snapshots.
pub const SNAPSHOT_FOLDER: &str = "snapshots";

/// At most this many changes per description are listed in a failure; the rest are counted.
const MAX_CHANGES_LISTED: usize = 8;

/// Parses `--snapshots`: `update`, `check`, `accept` or `off`.
pub fn parse_mode(text: &str) -> Result<SnapshotMode, String> {
    match text {
        "update" => Ok(SnapshotMode::Update),
        "check" => Ok(SnapshotMode::Check),
        "accept" => Ok(SnapshotMode::Accept),
        "off" => Ok(SnapshotMode::Off),
        other => Err(format!(
            "`{other}` is not a snapshot mode: update, check, accept or off"
        )),
    }
}

/// Where a run's snapshots live, and what to do when they are missing or differ.
#[derive(Debug, Clone)]
pub struct SdpSnapshots {
    store: SnapshotStore,
    scenarios: String,
}

impl SdpSnapshots {
    /// The snapshots of the scenarios in `scenarios_dir`: kept in `scenarios_dir/snapshots/`.
    pub fn for_scenarios(scenarios_dir: &Path, mode: SnapshotMode) -> SdpSnapshots {
        let label = scenarios_dir
            .file_name()
            .map_or_else(|| "scenarios".into(), |n| n.to_string_lossy().into_owned());
        SdpSnapshots::new(scenarios_dir.join(SNAPSHOT_FOLDER), &label, mode)
    }

    /// Snapshots kept in `dir`; their headers name the scenario file
    /// `<scenarios_label>/<scenario>.toml` (a label, so that the files do not depend on where the
    /// checkout is).
    pub fn new(dir: impl Into<PathBuf>, scenarios_label: &str, mode: SnapshotMode) -> SdpSnapshots {
        SdpSnapshots {
            store: SnapshotStore::new(dir, mode),
            scenarios: scenarios_label.trim_end_matches('/').to_string(),
        }
    }

    /// The store.
    pub fn store(&self) -> &SnapshotStore {
        &self.store
    }

    /// The snapshot of the `nth` description of kind `kind` (`offer`, `answer`) that `side` set.
    pub fn id(&self, case: &Case, side: Side, kind: &str, nth: usize) -> SnapshotId {
        SnapshotId::for_description(
            &case.scenario.name,
            &format!("{}/{}.toml", self.scenarios, case.scenario.name),
            case.offerer.as_str(),
            case.answerer.as_str(),
            side,
            kind,
            nth,
        )
    }
}

/// A description as it is stored: [normalized](normalize), and without what ICE gathering adds
/// to a description while it runs: `a=candidate` and `a=end-of-candidates` lines go, and the
/// default candidate's port and address (`m=`, `c=`, `a=rtcp`) go back to `9` and `0.0.0.0`, as
/// before gathering. Whether a browser's `localDescription` already holds some candidates when it
/// is read depends on timing; the description the stack made does not.
pub fn snapshot_form(sdp: &str) -> Result<String, SdpError> {
    let normalized = normalize(sdp)?;
    let mut out = String::with_capacity(normalized.len());
    for line in normalized.lines() {
        if line.starts_with("a=candidate:") || line == "a=end-of-candidates" {
            continue;
        }
        let line = if let Some(rest) = line.strip_prefix("m=") {
            let mut fields: Vec<String> = rest.split(' ').map(String::from).collect();
            if let Some(port) = fields.get_mut(1) {
                *port = port.replacen("<port>", "9", 1);
            }
            format!("m={}", fields.join(" "))
        } else if line.starts_with("c=IN IP") && line.ends_with(" <address>") {
            "c=IN IP4 0.0.0.0".to_string()
        } else if line.starts_with("a=rtcp:") && line.contains("<port>") {
            "a=rtcp:9 IN IP4 0.0.0.0".to_string()
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// What a snapshot check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckOutcome {
    /// The accepted snapshot has the same contents.
    Matched,
    /// There is no accepted snapshot.
    Missing,
    /// The accepted snapshot differs.
    Changed,
    /// The snapshot was written as accepted (`--snapshots accept`, `INSTA_UPDATE=always`).
    Accepted,
    /// The description could not be read, or the snapshot could not be read or written.
    Error,
}

impl CheckOutcome {
    /// `matched`, `missing`, `changed`, `accepted` or `error`, as report.json spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Matched => "matched",
            CheckOutcome::Missing => "missing",
            CheckOutcome::Changed => "changed",
            CheckOutcome::Accepted => "accepted",
            CheckOutcome::Error => "error",
        }
    }
}

/// The snapshot check of one description, as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotCheck {
    /// The snapshot's name.
    pub name: String,
    /// The accepted snapshot's file, `NAME.snap` in the snapshot folder.
    pub snapshot: PathBuf,
    /// `offerer` or `answerer`: who set the description.
    pub side: String,
    /// The kind of peer that set it.
    pub peer: PeerKind,
    /// `offer` or `answer`, with ` #2` and so on for later ones of the same kind.
    pub description: String,
    /// What the check found.
    pub outcome: CheckOutcome,
    /// How the description differs from the accepted snapshot, in words (empty unless `changed`,
    /// or `accepted` over a different snapshot).
    pub changes: Vec<String>,
    /// The `NAME.snap.new` written for review (`cargo insta review`), if any.
    pub pending: Option<PathBuf>,
    /// What went wrong, for `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SnapshotCheck {
    /// Whether this check lets the case pass.
    pub fn passed(&self) -> bool {
        matches!(self.outcome, CheckOutcome::Matched | CheckOutcome::Accepted)
    }

    /// `chromium offer`.
    pub fn label(&self) -> String {
        format!("{} {}", self.peer, self.description)
    }

    /// The failure lines this check adds to its case: none when it passed.
    pub fn problems(&self) -> Vec<String> {
        let label = self.label();
        let pending = self
            .pending
            .as_ref()
            .map(|p| format!("pending review: {}", p.display()));
        match self.outcome {
            CheckOutcome::Matched | CheckOutcome::Accepted => Vec::new(),
            CheckOutcome::Missing => vec![format!(
                "no accepted SDP snapshot for the {label}: {}",
                pending.unwrap_or_else(|| format!("{} is missing", self.snapshot.display()))
            )],
            CheckOutcome::Changed => {
                let mut lines: Vec<String> = self
                    .changes
                    .iter()
                    .take(MAX_CHANGES_LISTED)
                    .map(|change| format!("SDP changed: {label}, {change}"))
                    .collect();
                if self.changes.len() > MAX_CHANGES_LISTED {
                    lines.push(format!(
                        "SDP changed: {label}, and {} more change(s)",
                        self.changes.len() - MAX_CHANGES_LISTED
                    ));
                }
                lines.extend(pending.map(|p| format!("SDP of the {label} {p}")));
                lines
            }
            CheckOutcome::Error => vec![format!(
                "SDP snapshot of the {label}: {}",
                self.error.as_deref().unwrap_or("failed")
            )],
        }
    }
}

/// Checks every description `case`'s sides set against the accepted snapshots. Nothing is
/// checked (an empty list) without `snapshots`, in [`SnapshotMode::Off`], or when the scenario
/// opts out (`snapshots = false`).
pub fn check_case(
    snapshots: Option<&SdpSnapshots>,
    case: &Case,
    descriptions: &Sides<Vec<Description>>,
) -> Vec<SnapshotCheck> {
    let Some(snapshots) = snapshots else {
        return Vec::new();
    };
    if snapshots.store.mode() == SnapshotMode::Off || !case.scenario.snapshots {
        return Vec::new();
    }
    let mut checks = Vec::new();
    for (side, peer, list) in [
        (Side::Offerer, case.offerer, &descriptions.offerer),
        (Side::Answerer, case.answerer, &descriptions.answerer),
    ] {
        let mut seen: Vec<&str> = Vec::new();
        for d in list {
            let nth = seen.iter().filter(|k| **k == d.kind).count() + 1;
            seen.push(&d.kind);
            let id = snapshots.id(case, side, &d.kind, nth);
            let description = if nth > 1 {
                format!("{} #{nth}", d.kind)
            } else {
                d.kind.clone()
            };
            let mut check = SnapshotCheck {
                name: id.name.clone(),
                snapshot: snapshots.store.snap_path(&id.name),
                side: side.as_str().to_string(),
                peer,
                description,
                outcome: CheckOutcome::Error,
                changes: Vec::new(),
                pending: None,
                error: None,
            };
            let outcome = snapshot_form(&d.sdp)
                .map_err(|e| e.to_string())
                .and_then(|form| snapshots.store.check(&id, &form).map_err(|e| e.to_string()));
            match outcome {
                Err(e) => check.error = Some(e),
                Ok(SnapshotOutcome::Matched) => check.outcome = CheckOutcome::Matched,
                Ok(SnapshotOutcome::Missing { pending }) => {
                    check.outcome = CheckOutcome::Missing;
                    check.pending = pending;
                }
                Ok(SnapshotOutcome::Changed { changes, pending }) => {
                    check.outcome = CheckOutcome::Changed;
                    check.changes = changes;
                    check.pending = pending;
                }
                Ok(SnapshotOutcome::Accepted { changes, .. }) => {
                    check.outcome = CheckOutcome::Accepted;
                    check.changes = changes.unwrap_or_default();
                }
                // Off was handled above.
                Ok(SnapshotOutcome::Skipped) => continue,
            }
            checks.push(check);
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathering_leaves_no_trace_in_the_snapshot_form() {
        let before = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
             m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
             a=ice-ufrag:abcd\r\na=mid:0\r\na=sctp-port:5000\r\n";
        let after = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
             m=application 50123 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP6 fd00::2\r\n\
             a=rtcp:50123 IN IP6 fd00::2\r\n\
             a=candidate:1 1 udp 2122260223 192.0.2.2 50123 typ host generation 0\r\n\
             a=candidate:2 1 tcp 1518280447 192.0.2.2 9 typ host tcptype active\r\n\
             a=ice-ufrag:wxyz\r\na=mid:0\r\na=end-of-candidates\r\na=sctp-port:5000\r\n";
        let form = snapshot_form(before).unwrap();
        assert_eq!(
            form,
            "v=0\no=- <session-id> <session-version> IN IP4 127.0.0.1\ns=-\nt=0 0\n\
             m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\n\
             a=ice-ufrag:<ice-ufrag>\na=mid:0\na=sctp-port:5000\n"
        );
        let after = snapshot_form(after).unwrap();
        assert_eq!(
            after,
            form.replace("a=ice-ufrag", "a=rtcp:9 IN IP4 0.0.0.0\na=ice-ufrag")
        );
        assert_eq!(snapshot_form(&form).unwrap(), form, "stable");
        assert!(snapshot_form("").is_err());
    }

    #[test]
    fn failures_name_the_description_and_the_change() {
        let check = SnapshotCheck {
            name: "s__chromium-to-native__offerer-offer".into(),
            snapshot: "scenarios/snapshots/s__chromium-to-native__offerer-offer.snap".into(),
            side: "offerer".to_string(),
            peer: PeerKind::Chromium,
            description: "offer".into(),
            outcome: CheckOutcome::Changed,
            changes: vec!["m=application: sctp max-message-size 262144 → 65536".into()],
            pending: Some(
                "scenarios/snapshots/s__chromium-to-native__offerer-offer.snap.new".into(),
            ),
            error: None,
        };
        // (A changed description fails even a known failure: `decide` tests that.)
        let failure = check.problems().join("; ");
        assert!(
            failure.starts_with(
                "SDP changed: chromium offer, m=application: sctp max-message-size 262144 → 65536; "
            ),
            "{failure}"
        );
        assert!(
            failure.ends_with("; SDP of the chromium offer pending review: scenarios/snapshots/s__chromium-to-native__offerer-offer.snap.new"),
            "{failure}"
        );

        let many = SnapshotCheck {
            changes: (0..20).map(|i| format!("change {i}")).collect(),
            ..check.clone()
        };
        let lines = many.problems();
        assert_eq!(lines.len(), MAX_CHANGES_LISTED + 2, "{lines:?}");
        assert!(lines[MAX_CHANGES_LISTED].contains("12 more"), "{lines:?}");

        let missing = SnapshotCheck {
            outcome: CheckOutcome::Missing,
            changes: Vec::new(),
            pending: None,
            ..check.clone()
        };
        let lines = missing.problems();
        assert_eq!(
            lines,
            [
                "no accepted SDP snapshot for the chromium offer: scenarios/snapshots/s__chromium-to-native__offerer-offer.snap is missing"
            ]
        );

        let matched = SnapshotCheck {
            outcome: CheckOutcome::Matched,
            ..check
        };
        assert_eq!(matched.problems(), Vec::<String>::new());
    }
}
