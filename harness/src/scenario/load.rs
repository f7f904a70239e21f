//! Reading scenario files, with errors that name the file, the line and the field.

use std::path::{Path, PathBuf};

use super::model::{HostCandidates, PeerKind, Scenario};
use crate::peer::external::catalogue;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TOML does not parse, or names a field or value the format does not have.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The scenario file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong (the TOML parser's words, which name the field).
        message: String,
    },
    /// The file parses but its content is inconsistent.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        /// The scenario file.
        path: PathBuf,
        /// The offending field, dotted (`expect.echo`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Two files declare the same scenario name.
    #[error("{path}: scenario name `{name}` is already used by {other}")]
    DuplicateName {
        /// The second file.
        path: PathBuf,
        /// The shared name.
        name: String,
        /// The first file.
        other: PathBuf,
    },
    /// The folder holds no scenario.
    #[error("{path}: no scenario files (*.toml) found")]
    Empty {
        /// The folder.
        path: PathBuf,
    },
}

/// The largest scenario file read: the biggest shipped one is a few KB.
pub const MAX_SCENARIO_FILE_BYTES: u64 = 1024 * 1024;

/// The longest scenario name: it goes into snapshot file names
/// (`<name>__chromium-to-firefox__answerer-answer-2.snap.new`), which file systems cap at 255 bytes.
pub const MAX_SCENARIO_NAME_CHARS: usize = 100;

/// Loads one scenario file: a regular file (not a device, FIFO or folder, also behind a symlink)
/// of at most [`MAX_SCENARIO_FILE_BYTES`].
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let io = |source| ScenarioError::Io {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if !metadata.is_file() {
        return Err(io(std::io::Error::other(
            "not a regular file (a scenario is a TOML file, not a device, FIFO or folder)",
        )));
    }
    if metadata.len() > MAX_SCENARIO_FILE_BYTES {
        return Err(io(std::io::Error::other(format!(
            "{} bytes: a scenario file may have at most {MAX_SCENARIO_FILE_BYTES}",
            metadata.len()
        ))));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(
            std::fs::File::open(path).map_err(io)?,
            MAX_SCENARIO_FILE_BYTES,
        ),
        &mut text,
    )
    .map_err(io)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse(&text, &stem, path)
}

/// Parses scenario text; `default_name` is used when the file sets no `name`.
pub fn parse(text: &str, default_name: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map_or((1, 1), |span| line_and_column(text, span.start));
        ScenarioError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })?;
    if scenario.name.is_empty() {
        scenario.name = default_name.to_string();
    }
    scenario.source = path.to_path_buf();
    scenario.digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    validate(&scenario).map_err(|(field, message)| ScenarioError::Invalid {
        path: path.to_path_buf(),
        field,
        message,
    })?;
    validate_ice_servers(&scenario).map_err(|(field, message)| ScenarioError::Invalid {
        path: path.to_path_buf(),
        field,
        message,
    })?;
    Ok(scenario)
}

/// Loads every `*.toml` in `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Scenario)>, ScenarioError> {
    let io_error = |source| ScenarioError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ScenarioError::Empty {
            path: dir.to_path_buf(),
        });
    }
    let mut loaded: Vec<(PathBuf, Scenario)> = Vec::new();
    for path in files {
        let scenario = load_file(&path)?;
        if let Some((other, _)) = loaded.iter().find(|(_, s)| s.name == scenario.name) {
            return Err(ScenarioError::DuplicateName {
                path,
                name: scenario.name,
                other: other.clone(),
            });
        }
        loaded.push((path, scenario));
    }
    Ok(loaded)
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn validate(s: &Scenario) -> Result<(), (String, String)> {
    validate_fields(s).map_err(|(field, message)| (field.to_string(), message))?;
    validate_steps(s)?;
    validate_media(s)
}

fn validate_fields(s: &Scenario) -> Result<(), (&'static str, String)> {
    if !s
        .name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || s.name.is_empty()
        || s.name.len() > MAX_SCENARIO_NAME_CHARS
    {
        return Err((
            "name",
            format!(
                "`{}` must be non-empty, at most {MAX_SCENARIO_NAME_CHARS} characters (it names \
                 snapshot files), and use only letters, digits, `-` and `_`",
                s.name
            ),
        ));
    }
    if !(s.time_limit_secs.is_finite() && s.time_limit_secs > 0.0 && s.time_limit_secs <= 600.0) {
        return Err((
            "time_limit_secs",
            format!("{} must be more than 0 and at most 600", s.time_limit_secs),
        ));
    }
    let mut seen = Vec::new();
    for kind in &s.peers {
        if seen.contains(kind) {
            return Err(("peers", format!("`{kind}` is listed twice")));
        }
        if !catalogue::knows(*kind) {
            let every = catalogue::every_kind();
            let kinds: Vec<&str> = every.iter().map(|k| k.as_str()).collect();
            return Err((
                "peers",
                format!(
                    "unknown peer kind `{kind}` (there are: {})",
                    kinds.join(", ")
                ),
            ));
        }
        seen.push(*kind);
    }
    if let Some(dc) = &s.data_channel {
        if dc.label.is_empty() {
            return Err(("data_channel.label", "must not be empty".into()));
        }
        if dc.max_retransmits.is_some() && dc.max_packet_life_time.is_some() {
            return Err((
                "data_channel.max_retransmits",
                "cannot be combined with max_packet_life_time (W3C createDataChannel throws)"
                    .into(),
            ));
        }
    }
    for (field, rule) in [
        ("expect.local_candidates", &s.expect.local_candidates),
        ("expect.remote_candidates", &s.expect.remote_candidates),
    ] {
        if let Some(rule) = rule
            && !rule.allow.is_empty()
            && let Some(missing) = rule.require.iter().find(|t| !rule.allow.contains(t))
        {
            return Err((
                field,
                format!("requires `{missing}` but does not allow it: the case could never pass"),
            ));
        }
    }
    for known in &s.known_failures {
        let valid = known.pairing.split_once(':').is_some_and(|(o, a)| {
            [o, a].iter().all(|p| {
                let p = p.trim();
                p == "*" || PeerKind::named(p).is_ok_and(catalogue::knows)
            })
        });
        if !valid {
            let every = catalogue::every_kind();
            let kinds: Vec<&str> = every.iter().map(|k| k.as_str()).collect();
            return Err((
                "known_failures.pairing",
                format!(
                    "`{}` must be `offerer:answerer`, each one of {} or `*`",
                    known.pairing,
                    kinds.join(", ")
                ),
            ));
        }
        if known.reason.trim().is_empty() {
            return Err((
                "known_failures.reason",
                format!("`{}`: say why it is known to fail", known.pairing),
            ));
        }
        if known
            .symptom
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err((
                "known_failures.symptom",
                format!(
                    "`{}`: an empty symptom matches every failure; leave it out for that",
                    known.pairing
                ),
            ));
        }
    }
    Ok(())
}

/// `[data_channel]` (the default steps) or `[[steps]]`, never both, and the steps consistent.
fn validate_steps(s: &Scenario) -> Result<(), (String, String)> {
    match (&s.data_channel, s.steps.is_empty()) {
        // Without an m-section there is nothing for ICE to connect: the case could only time out.
        (None, true) => Err((
            "data_channel".into(),
            "a scenario needs something to negotiate: add a [data_channel] table, or [[steps]] \
             that open a channel"
                .into(),
        )),
        (Some(_), false) => Err((
            "data_channel".into(),
            "a scenario with [[steps]] opens its channels in them (`do = \"open_channel\"`); \
             [data_channel] is the shorthand for scenarios without steps"
                .into(),
        )),
        (None, false) => {
            super::steps::validate(&s.steps)?;
            if !s.steps.iter().any(|st| {
                matches!(
                    st.kind,
                    super::StepKind::OpenChannel | super::StepKind::AddTrack
                )
            }) {
                return Err((
                    "steps".into(),
                    "no `open_channel` or `add_track` step: without an m-section there is \
                     nothing to connect"
                        .into(),
                ));
            }
            Ok(())
        }
        (Some(_), true) => Ok(()),
    }
}

/// `[[expect.media]]` entries and the `add_track` / `expect_media` steps fit together.
fn validate_media(s: &Scenario) -> Result<(), (String, String)> {
    use super::StepKind;
    use super::media::{CodecSpec, MediaKind};
    let waits = |offerer: bool| {
        s.steps.iter().any(|st| {
            st.kind == StepKind::ExpectMedia
                && st.by.sides().contains(&if offerer {
                    super::Actor::Offerer
                } else {
                    super::Actor::Answerer
                })
        })
    };
    for (i, entry) in s.expect.media.iter().enumerate() {
        let at = |field: &str| format!("expect.media[{i}].{field}");
        if let Some(codec) = &entry.codec {
            CodecSpec::parse(codec).map_err(|e| (at("codec"), e))?;
        }
        if entry.kind == MediaKind::Audio && (entry.width.is_some() || entry.height.is_some()) {
            return Err((at("width"), "audio has no frame size".into()));
        }
        for offerer in [true, false] {
            if entry.side.covers(offerer) && !waits(offerer) {
                let side = if offerer { "offerer" } else { "answerer" };
                return Err((
                    at("side"),
                    format!(
                        "no `expect_media` step by the {side} waits for it: the case would end \
                         before the media had time to arrive"
                    ),
                ));
            }
        }
    }
    for (i, step) in s.steps.iter().enumerate() {
        if step.kind == StepKind::ExpectMedia
            && let Some(side) = step.by.sides().iter().find(|side| {
                s.expect
                    .media_for(**side == super::Actor::Offerer)
                    .is_empty()
            })
        {
            return Err((
                format!("steps[{i}].by"),
                format!(
                    "`expect_media` by the {}, but no `[[expect.media]]` entry says what the {} \
                     must receive",
                    side.as_str(),
                    side.as_str()
                ),
            ));
        }
        let captures = step.kind == StepKind::AddTrack && step.direction.is_none_or(|d| d.sends());
        if captures && s.host_candidates == HostCandidates::Mdns {
            return Err((
                format!("steps[{i}]"),
                "capturing media grants the camera permission, and a browser with that \
                 permission skips mDNS host names: `host_candidates = \"mdns\"` cannot be tested \
                 with a captured track"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// `[[ice.servers]]` may only name this machine: the harness runs offline, and a case that depends
/// on a server elsewhere would test that server and the network, not the peers.
fn validate_ice_servers(s: &Scenario) -> Result<(), (String, String)> {
    for (i, server) in s.ice.servers.iter().enumerate() {
        let field = format!("ice.servers[{i}].urls");
        if server.urls.is_empty() {
            return Err((
                field,
                "must list at least one `stun:` or `turn:` URL".into(),
            ));
        }
        for url in &server.urls {
            crate::net::addrs::check_local_ice_url(url).map_err(|why| {
                (
                    field.clone(),
                    format!(
                        "{why}. rtc-interop runs offline and uses only STUN/TURN servers on this \
                         machine: write `stun = \"embedded\"` or `turn = {{ server = \"embedded\" }}` \
                         under [ice] to have the run start one"
                    ),
                )
            })?;
        }
    }
    Ok(())
}
