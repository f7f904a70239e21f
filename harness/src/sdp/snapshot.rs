//! Normalized descriptions stored as [insta](https://insta.rs) file snapshots, so that
//! `cargo insta review`, `cargo insta accept`, `cargo insta reject` and
//! `cargo insta pending-snapshots` work on them unchanged.
//!
//! # Files
//!
//! One snapshot per scenario × pairing × description, in one folder:
//! `<scenario>__<offerer>-to-<answerer>__<offerer|answerer>-<offer|answer>.snap` (a second
//! description of the same kind from the same side gets `-2`, and so on). An accepted snapshot is
//! `NAME.snap`; one waiting for review is `NAME.snap.new` beside it. Both are insta's format, as
//! insta 1.x writes it:
//!
//! ```text
//! ---
//! source: scenarios/datachannel-echo.toml
//! description: "datachannel-echo, chromium-to-native: local offer of the offerer (chromium), normalized"
//! expression: chromium offer
//! ---
//! v=0
//! o=- <session-id> <session-version> IN IP4 127.0.0.1
//! …
//! ```
//!
//! The header is YAML written the way insta's emitter writes it (same field order, same quoting
//! rules), so `cargo insta accept` rewrites a `.snap.new` into a `.snap` byte for byte. Contents
//! compare as insta compares them: line endings and trailing whitespace at the end don't count.
//!
//! # How cargo-insta finds them
//!
//! `cargo insta` asks `cargo metadata` for the workspace's packages and walks each package's
//! folder (and its targets' source folders) for `*.snap` and `*.snap.new`, skipping `target/`,
//! hidden folders and nested crates. The folder must therefore lie inside a workspace package's
//! folder: a folder elsewhere (e.g. a plain top-level `scenarios/snapshots/` in a virtual
//! workspace) is never visited. This repository makes `scenarios/snapshots/` a tiny workspace
//! member of its own (a `Cargo.toml` and an empty `lib.rs`), so `cargo insta review`, `accept`,
//! `reject` and `pending-snapshots` work on it from the repository root. Because the workspace has
//! no root package, cargo-insta visits every member without `--workspace`.
//!
//! # Modes
//!
//! [`SnapshotMode::from_env`] follows insta's `INSTA_UPDATE` and `CI`:
//!
//! | `INSTA_UPDATE` | mode | missing | different |
//! | --- | --- | --- | --- |
//! | unset, empty or `auto`, outside CI | [`SnapshotMode::Update`] | write `.snap.new`, fail | write `.snap.new`, fail |
//! | unset, empty or `auto`, with `CI` set | [`SnapshotMode::Check`] | fail | fail |
//! | `new` | [`SnapshotMode::Update`] | write `.snap.new`, fail | write `.snap.new`, fail |
//! | `no` | [`SnapshotMode::Check`] | fail | fail |
//! | `always`, `1`, `force` | [`SnapshotMode::Accept`] | write `.snap`, pass | write `.snap`, pass |
//! | `unseen` | [`SnapshotMode::AcceptNew`] | write `.snap`, pass | write `.snap.new`, fail |
//!
//! [`SnapshotMode::Off`] (no insta counterpart) skips snapshots altogether. A snapshot that
//! matches has any stale `.snap.new` removed, as insta does, except in [`SnapshotMode::Check`],
//! which never writes or removes anything.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::changes::describe_changes;

/// What to do with snapshots that are missing or different.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Write `NAME.snap.new` for review (`cargo insta review`); the check fails.
    Update,
    /// Never write; a missing or different snapshot fails the check.
    Check,
    /// Write `NAME.snap` directly; the check passes.
    Accept,
    /// Write `NAME.snap` directly for missing snapshots, `NAME.snap.new` for different ones.
    AcceptNew,
    /// Don't look at snapshots at all.
    Off,
}

impl SnapshotMode {
    /// The mode insta would use, from `INSTA_UPDATE` and `CI` (see the module documentation).
    pub fn from_env() -> Result<SnapshotMode, SnapshotError> {
        SnapshotMode::from_values(std::env::var("INSTA_UPDATE").ok().as_deref(), is_ci())
    }

    /// The mode for an `INSTA_UPDATE` value and whether this is CI.
    pub fn from_values(
        insta_update: Option<&str>,
        ci: bool,
    ) -> Result<SnapshotMode, SnapshotError> {
        Ok(match insta_update.unwrap_or("") {
            "" | "auto" if ci => SnapshotMode::Check,
            "" | "auto" | "new" => SnapshotMode::Update,
            "no" => SnapshotMode::Check,
            "always" | "1" | "force" => SnapshotMode::Accept,
            "unseen" => SnapshotMode::AcceptNew,
            other => return Err(SnapshotError::BadUpdateValue(other.to_string())),
        })
    }
}

/// Whether insta would consider this a CI run: `CI` set to anything but `false`, `0` or empty,
/// or (without `CI`) `TF_BUILD` set.
pub fn is_ci() -> bool {
    match std::env::var("CI").ok().as_deref() {
        Some("false" | "0" | "") => false,
        None => std::env::var_os("TF_BUILD").is_some(),
        Some(_) => true,
    }
}

/// Which side of the negotiation set the description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The peer that made the first offer.
    Offerer,
    /// The peer that answered it.
    Answerer,
}

impl Side {
    /// `offerer` or `answerer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Offerer => "offerer",
            Side::Answerer => "answerer",
        }
    }
}

/// Which snapshot, and the header fields cargo-insta shows when reviewing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotId {
    /// File name without `.snap`; safe for file names.
    pub name: String,
    /// Header `source:`, shown by `cargo insta review` (the scenario file, workspace-relative).
    pub source: String,
    /// Header `description:`, a sentence saying what the snapshot holds.
    pub description: String,
    /// Header `expression:`, a short label.
    pub expression: String,
}

impl SnapshotId {
    /// The snapshot of one local description: `kind` is `offer` or `answer`, `nth` counts the
    /// descriptions of that kind this side set (1 for the first). `source` is the scenario
    /// file's path relative to the workspace root.
    pub fn for_description(
        scenario: &str,
        source: &str,
        offerer: &str,
        answerer: &str,
        side: Side,
        kind: &str,
        nth: usize,
    ) -> SnapshotId {
        let peer = match side {
            Side::Offerer => offerer,
            Side::Answerer => answerer,
        };
        let nth_suffix = if nth > 1 {
            format!("-{nth}")
        } else {
            String::new()
        };
        let name = format!(
            "{}__{}-to-{}__{}-{}{nth_suffix}",
            file_safe(scenario),
            file_safe(offerer),
            file_safe(answerer),
            side.as_str(),
            file_safe(kind),
        );
        let ordinal = if nth > 1 {
            format!(" #{nth}")
        } else {
            String::new()
        };
        SnapshotId {
            name,
            source: source.to_string(),
            description: format!(
                "{scenario}, {offerer}-to-{answerer}: local {kind}{ordinal} of the {} ({peer}), normalized",
                side.as_str()
            ),
            expression: format!("{peer} {kind}{ordinal}"),
        }
    }
}

/// Letters, digits, `-`, `_` and `.` are kept; anything else becomes `-`; a leading `.` becomes
/// `_` (cargo-insta would treat the file as hidden).
fn file_safe(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// The stored snapshot has the same contents.
    Matched,
    /// No snapshot was stored; `pending` is the `.snap.new` written for review, if any.
    Missing {
        /// The `.snap.new` written.
        pending: Option<PathBuf>,
    },
    /// The stored snapshot differs.
    Changed {
        /// How, in words (see [`describe_changes`]).
        changes: Vec<String>,
        /// The `.snap.new` written for review, if any.
        pending: Option<PathBuf>,
    },
    /// The `.snap` was written directly ([`SnapshotMode::Accept`], or a missing snapshot in
    /// [`SnapshotMode::AcceptNew`]).
    Accepted {
        /// The `.snap` written.
        path: PathBuf,
        /// How it differs from the one it replaced; `None` if there was none.
        changes: Option<Vec<String>>,
    },
    /// Snapshots are off.
    Skipped,
}

impl SnapshotOutcome {
    /// Whether the check passes: matched, accepted or skipped.
    pub fn passed(&self) -> bool {
        matches!(
            self,
            SnapshotOutcome::Matched | SnapshotOutcome::Accepted { .. } | SnapshotOutcome::Skipped
        )
    }
}

/// Why a snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// A `.snap` file is not in insta's format.
    #[error("{path}: not an insta snapshot: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `INSTA_UPDATE` has a value insta does not know.
    #[error(
        "INSTA_UPDATE={0} is not one of auto, always, 1, new, unseen, no, force (as insta accepts)"
    )]
    BadUpdateValue(String),
}

/// A folder of snapshots and what to do when they differ.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
    mode: SnapshotMode,
}

impl SnapshotStore {
    /// A store in `dir` (created when a snapshot is first written).
    pub fn new(dir: impl Into<PathBuf>, mode: SnapshotMode) -> SnapshotStore {
        SnapshotStore {
            dir: dir.into(),
            mode,
        }
    }

    /// The mode.
    pub fn mode(&self) -> SnapshotMode {
        self.mode
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the accepted snapshot `name` lives (`NAME.snap`).
    pub fn snap_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.snap"))
    }

    /// Where the pending snapshot `name` lives (`NAME.snap.new`).
    pub fn pending_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.snap.new"))
    }

    /// Compares `contents` (a normalized SDP) with the stored snapshot, and writes or removes
    /// files as the mode says.
    pub fn check(&self, id: &SnapshotId, contents: &str) -> Result<SnapshotOutcome, SnapshotError> {
        if self.mode == SnapshotMode::Off {
            return Ok(SnapshotOutcome::Skipped);
        }
        let snap = self.snap_path(&id.name);
        let pending = self.pending_path(&id.name);
        let new = normalize_contents(contents);
        let old = match fs::read_to_string(&snap) {
            Ok(text) => Some(parse_snapshot(&snap, &text)?.1),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(SnapshotError::Io { path: snap, source }),
        };
        let changes = old.as_ref().map(|old| describe_changes(old, &new));
        if changes.as_ref().is_some_and(Vec::is_empty) {
            if self.mode != SnapshotMode::Check {
                remove_if_present(&pending)?;
            }
            return Ok(SnapshotOutcome::Matched);
        }
        let text = render_snapshot(id, &new);
        let accept = match self.mode {
            SnapshotMode::Accept => true,
            SnapshotMode::AcceptNew => changes.is_none(),
            _ => false,
        };
        if accept {
            write(&snap, &text)?;
            remove_if_present(&pending)?;
            return Ok(SnapshotOutcome::Accepted {
                path: snap,
                changes,
            });
        }
        let pending = if self.mode == SnapshotMode::Check {
            None
        } else {
            write(&pending, &text)?;
            Some(pending)
        };
        Ok(match changes {
            None => SnapshotOutcome::Missing { pending },
            Some(changes) => SnapshotOutcome::Changed { changes, pending },
        })
    }
}

fn write(path: &Path, text: &str) -> Result<(), SnapshotError> {
    let io = |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    fs::write(path, text).map_err(io)
}

fn remove_if_present(path: &Path) -> Result<(), SnapshotError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SnapshotError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Contents as insta compares them: `\r\n` as `\n`, no trailing whitespace at the end.
fn normalize_contents(text: &str) -> String {
    text.trim_end().replace("\r\n", "\n")
}

/// The text of a snapshot file for `id` holding `contents`, exactly as insta would write it.
pub fn render_snapshot(id: &SnapshotId, contents: &str) -> String {
    let mut out = String::from("---\n");
    for (key, value) in [
        ("source", &id.source),
        ("description", &id.description),
        ("expression", &id.expression),
    ] {
        if !value.is_empty() {
            out.push_str(key);
            out.push_str(": ");
            out.push_str(&yaml_scalar(value));
            out.push('\n');
        }
    }
    out.push_str("---\n");
    out.push_str(&normalize_contents(contents));
    out.push('\n');
    out
}

/// Reads a snapshot file: its header lines and its contents (normalized as insta compares them).
pub fn read_snapshot(path: &Path) -> Result<(Vec<String>, String), SnapshotError> {
    let text = fs::read_to_string(path).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_snapshot(path, &text)
}

fn parse_snapshot(path: &Path, text: &str) -> Result<(Vec<String>, String), SnapshotError> {
    let malformed = |reason: &str| SnapshotError::Malformed {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return Err(malformed("the first line is not `---`"));
    }
    let mut header = Vec::new();
    loop {
        match lines.next() {
            Some(line) if line.trim_end() == "---" => break,
            Some(line) => header.push(line.to_string()),
            None => return Err(malformed("the header has no closing `---`")),
        }
    }
    let contents = lines.collect::<Vec<_>>().join("\n");
    Ok((header, normalize_contents(&contents)))
}

/// A YAML scalar as insta's emitter writes it: plain when safe, else double-quoted with escapes.
fn yaml_scalar(value: &str) -> String {
    if !needs_quotes(value) {
        return value.to_string();
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// insta's `need_quotes` (its vendored yaml-rust emitter).
fn needs_quotes(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "yes", "Yes", "YES", "no", "No", "NO", "True", "TRUE", "true", "False", "FALSE", "false",
        "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
    ];
    s.is_empty()
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.starts_with(['&', '*', '?', '|', '-', '<', '>', '=', '!', '%', '@'])
        || s.contains(|c: char| {
            matches!(c, ':' | '{' | '}' | '[' | ']' | ',' | '#' | '`' | '"' | '\'' | '\\'
                | '\0'..='\x06' | '\t' | '\n' | '\r' | '\x0e'..='\x1a' | '\x1c'..='\x1f')
        })
        || WORDS.contains(&s)
        || s.starts_with('.')
        || s.starts_with("0x")
        || s.parse::<i64>().is_ok()
        || s.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_insta_update() {
        use SnapshotMode::*;
        let m = |v: Option<&str>, ci| SnapshotMode::from_values(v, ci).unwrap();
        assert_eq!(m(None, false), Update);
        assert_eq!(m(Some(""), false), Update);
        assert_eq!(m(Some("auto"), false), Update);
        assert_eq!(m(None, true), Check);
        assert_eq!(m(Some("auto"), true), Check);
        assert_eq!(m(Some("new"), true), Update);
        assert_eq!(m(Some("no"), false), Check);
        assert_eq!(m(Some("always"), true), Accept);
        assert_eq!(m(Some("1"), false), Accept);
        assert_eq!(m(Some("force"), false), Accept);
        assert_eq!(m(Some("unseen"), false), AcceptNew);
        let e = SnapshotMode::from_values(Some("sometimes"), false).unwrap_err();
        assert!(e.to_string().contains("sometimes"));
    }

    #[test]
    fn names_are_recognisable_and_file_safe() {
        let id = SnapshotId::for_description(
            "datachannel-echo",
            "scenarios/datachannel-echo.toml",
            "chromium",
            "native",
            Side::Answerer,
            "answer",
            1,
        );
        assert_eq!(
            id.name,
            "datachannel-echo__chromium-to-native__answerer-answer"
        );
        assert_eq!(id.expression, "native answer");
        let id = SnapshotId::for_description(".x/y z", "s", "a", "b", Side::Offerer, "offer", 2);
        assert_eq!(id.name, "_x-y-z__a-to-b__offerer-offer-2");
    }

    #[test]
    fn yaml_quoting_matches_insta() {
        assert_eq!(yaml_scalar("scenarios/a.toml"), "scenarios/a.toml");
        assert_eq!(yaml_scalar("native answer"), "native answer");
        assert_eq!(yaml_scalar("a, b: c"), "\"a, b: c\"");
        assert_eq!(yaml_scalar("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
        assert_eq!(yaml_scalar("-x"), "\"-x\"");
        assert_eq!(yaml_scalar("12"), "\"12\"");
        assert_eq!(yaml_scalar("off"), "\"off\"");
        assert_eq!(yaml_scalar(""), "\"\"");
    }

    #[test]
    fn rendered_snapshots_parse_back() {
        let id = SnapshotId {
            name: "n".into(),
            source: "scenarios/x.toml".into(),
            description: "x, y: z".into(),
            expression: "native offer".into(),
        };
        let text = render_snapshot(&id, "v=0\r\ns=-\r\n\n");
        assert_eq!(
            text,
            "---\nsource: scenarios/x.toml\ndescription: \"x, y: z\"\nexpression: native offer\n---\nv=0\ns=-\n"
        );
        let (header, contents) = parse_snapshot(Path::new("n.snap"), &text).unwrap();
        assert_eq!(header.len(), 3);
        assert_eq!(contents, "v=0\ns=-");
        assert!(parse_snapshot(Path::new("n.snap"), "v=0\n").is_err());
        assert!(parse_snapshot(Path::new("n.snap"), "---\nsource: x\n").is_err());
    }

    #[test]
    fn store_flow_without_cargo_insta() {
        let dir = tempfile::tempdir().unwrap();
        let id = SnapshotId::for_description("s", "s.toml", "a", "b", Side::Offerer, "offer", 1);
        let sdp = "v=0\ns=-\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=max-message-size:262144\n";
        let check = SnapshotStore::new(dir.path(), SnapshotMode::Check);
        assert_eq!(
            check.check(&id, sdp).unwrap(),
            SnapshotOutcome::Missing { pending: None }
        );
        assert!(
            fs::read_dir(dir.path()).unwrap().next().is_none(),
            "check writes nothing"
        );

        let update = SnapshotStore::new(dir.path(), SnapshotMode::Update);
        let pending = update.pending_path(&id.name);
        assert_eq!(
            update.check(&id, sdp).unwrap(),
            SnapshotOutcome::Missing {
                pending: Some(pending.clone())
            }
        );
        fs::rename(&pending, update.snap_path(&id.name)).unwrap();
        assert_eq!(update.check(&id, sdp).unwrap(), SnapshotOutcome::Matched);

        let changed = sdp.replace("262144", "65536");
        let outcome = update.check(&id, &changed).unwrap();
        assert!(!outcome.passed());
        assert_eq!(
            outcome,
            SnapshotOutcome::Changed {
                changes: vec!["m=application: sctp max-message-size 262144 → 65536".into()],
                pending: Some(pending.clone()),
            }
        );
        // Matching again removes the stale pending file.
        assert_eq!(update.check(&id, sdp).unwrap(), SnapshotOutcome::Matched);
        assert!(!pending.exists());

        let new_only = SnapshotStore::new(dir.path(), SnapshotMode::AcceptNew);
        assert!(matches!(
            new_only.check(&id, &changed).unwrap(),
            SnapshotOutcome::Changed {
                pending: Some(_),
                ..
            }
        ));
        let accept = SnapshotStore::new(dir.path(), SnapshotMode::Accept);
        let outcome = accept.check(&id, &changed).unwrap();
        assert!(outcome.passed());
        assert!(
            matches!(outcome, SnapshotOutcome::Accepted { changes: Some(ref c), .. } if c.len() == 1)
        );
        assert!(!pending.exists(), "accepting removes the pending file");
        assert_eq!(
            accept.check(&id, &changed).unwrap(),
            SnapshotOutcome::Matched
        );

        let off = SnapshotStore::new(dir.path(), SnapshotMode::Off);
        assert_eq!(
            off.check(&id, "anything").unwrap(),
            SnapshotOutcome::Skipped
        );
    }
}
