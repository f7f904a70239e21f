//! Which external peer kinds exist: the stacks shipped under `peers/` (a folder each, with a
//! `peer.toml` manifest) and the user's own programs (`[peers.<name>]` in the project file
//! `rtc-interop.toml`, or `--peer-command name=…`). See `docs/external-peers.md`.
//!
//! The catalogue is process-wide: a kind name in a scenario file or on the command line means the
//! same program everywhere in a run. Shipped manifests are read once, on first use; user kinds are
//! registered by the CLI before anything is selected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use serde::Deserialize;

use crate::scenario::{KindName, PeerKind};

/// The project file a user's own peer kinds are declared in, looked for in the working directory.
pub const PROJECT_FILE: &str = "rtc-interop.toml";

/// One external kind: how to install, recognise and start it, and what it cannot do.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalKind {
    /// The kind's name (`aiortc`).
    pub name: KindName,
    /// What it is, in a few words (`aiortc 1.9 (Python)`).
    pub about: String,
    /// The folder its manifest lives in: `{dir}` in its commands.
    pub dir: PathBuf,
    /// The folder it installs into, owned by the harness: `{home}` in its commands.
    pub home: PathBuf,
    /// Installs the stack (empty: nothing to install).
    pub install: Vec<String>,
    /// Prints the stack's version; fails while it is not installed (empty: no check).
    pub version: Vec<String>,
    /// Starts one peer; `--plan … --observations …` are appended.
    pub command: Vec<String>,
    /// Features it cannot do, each with the reason (`restart_ice = "…"`).
    pub unsupported: BTreeMap<String, String>,
    /// Shipped with the harness (else the user's own).
    pub shipped: bool,
}

/// What `peer.toml` and a `[peers.<name>]` table say.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    about: String,
    #[serde(default)]
    install: Vec<String>,
    #[serde(default)]
    version: Vec<String>,
    command: Vec<String>,
    #[serde(default)]
    unsupported: BTreeMap<String, String>,
}

/// The features a kind may declare unsupported, besides the step names and `codec_<name>`
/// (`codec_vp9`: a codec a scenario asks for by name).
pub const FEATURES: &[&str] = &[
    "glare",
    "perfect_negotiation",
    "negotiated_channel",
    "binary",
    "media_audio",
    "media_video",
    "trickle",
    "network",
];

impl ExternalKind {
    fn from_manifest(
        manifest: Manifest,
        name: &str,
        dir: &Path,
        shipped: bool,
    ) -> Result<ExternalKind, String> {
        let name = KindName::new(name)?;
        if PeerKind::CORE.iter().any(|k| k.as_str() == name.as_str()) {
            return Err(format!(
                "`{name:?}` is a built-in kind",
                name = name.as_str()
            ));
        }
        if manifest.command.is_empty() {
            return Err("`command` is empty: it must name the program to start".into());
        }
        for key in manifest.unsupported.keys() {
            let codec = key.strip_prefix("codec_").is_some_and(|c| {
                !c.is_empty()
                    && c.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            });
            let known = FEATURES.contains(&key.as_str())
                || codec
                || crate::scenario::steps::StepKind::named(key).is_some();
            if !known {
                return Err(format!(
                    "`unsupported.{key}`: not a step name, `codec_<name>` or one of {}",
                    FEATURES.join(", ")
                ));
            }
        }
        Ok(ExternalKind {
            name,
            about: manifest.about,
            dir: dir.to_path_buf(),
            home: crate::provision::cache_dir()
                .map(|c| c.join("peers").join(name.as_str()))
                .unwrap_or_else(|_| dir.join(".home")),
            install: manifest.install,
            version: manifest.version,
            command: manifest.command,
            unsupported: manifest.unsupported,
            shipped,
        })
    }

    /// The kind as a [`PeerKind`].
    pub fn kind(&self) -> PeerKind {
        PeerKind::External(self.name)
    }

    /// `words` with `{dir}` and `{home}` filled in.
    fn expand(&self, words: &[String]) -> Vec<String> {
        words
            .iter()
            .map(|w| {
                w.replace("{dir}", &self.dir.to_string_lossy())
                    .replace("{home}", &self.home.to_string_lossy())
            })
            .collect()
    }

    /// The command that starts one peer, filled in.
    pub fn command_line(&self) -> Vec<String> {
        self.expand(&self.command)
    }

    /// The command that installs the stack, filled in (empty: nothing to install).
    pub fn install_line(&self) -> Vec<String> {
        self.expand(&self.install)
    }

    /// The command that prints the stack's version, filled in (empty: none).
    pub fn version_line(&self) -> Vec<String> {
        self.expand(&self.version)
    }

    /// Why the kind cannot do `feature`, if it declared so.
    pub fn unsupported(&self, feature: &str) -> Option<&str> {
        self.unsupported.get(feature).map(String::as_str)
    }
}

/// Where the shipped kinds live: `$RTC_INTEROP_PEERS_DIR`, else the `peers/` folder of the
/// source tree the harness was built from.
pub fn shipped_dir() -> PathBuf {
    std::env::var_os("RTC_INTEROP_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../peers"))
}

/// The shipped kinds, and the manifests that could not be read (each naming its file).
struct Shipped {
    kinds: Vec<Arc<ExternalKind>>,
    problems: Vec<String>,
}

fn shipped() -> &'static Shipped {
    static SHIPPED: OnceLock<Shipped> = OnceLock::new();
    SHIPPED.get_or_init(|| read_shipped(&shipped_dir()))
}

/// Reads every `<dir>/*/peer.toml`.
fn read_shipped(dir: &Path) -> Shipped {
    let mut shipped = Shipped {
        kinds: Vec::new(),
        problems: Vec::new(),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return shipped;
    };
    let mut folders: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("peer.toml").is_file())
        .collect();
    folders.sort();
    for folder in folders {
        let file = folder.join("peer.toml");
        let folder_name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let read = std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|text| toml::from_str::<Manifest>(&text).map_err(|e| e.to_string()))
            .and_then(|manifest| {
                let name = manifest.name.clone().unwrap_or(folder_name.clone());
                if name != folder_name {
                    return Err(format!(
                        "`name = \"{name}\"` differs from its folder `{folder_name}`"
                    ));
                }
                let dir = folder.canonicalize().unwrap_or(folder.clone());
                ExternalKind::from_manifest(manifest, &name, &dir, true)
            });
        match read {
            Ok(kind) => shipped.kinds.push(Arc::new(kind)),
            Err(e) => shipped.problems.push(format!("{}: {e}", file.display())),
        }
    }
    shipped
}

fn user_kinds() -> &'static RwLock<Vec<Arc<ExternalKind>>> {
    static USER: RwLock<Vec<Arc<ExternalKind>>> = RwLock::new(Vec::new());
    &USER
}

/// Every external kind: the shipped ones, then the user's, each list by name.
pub fn all() -> Vec<Arc<ExternalKind>> {
    let mut kinds = shipped().kinds.clone();
    kinds.extend(
        user_kinds()
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned(),
    );
    kinds
}

/// The external kind called `name`, if there is one.
pub fn find(name: KindName) -> Option<Arc<ExternalKind>> {
    all().into_iter().find(|k| k.name == name)
}

/// Manifests under `peers/` that could not be read, each naming its file and field.
pub fn problems() -> Vec<String> {
    shipped().problems.clone()
}

/// Every kind a run can play: the core ones, then the external ones.
pub fn every_kind() -> Vec<PeerKind> {
    let mut kinds = PeerKind::CORE.to_vec();
    kinds.extend(all().iter().map(|k| k.kind()));
    kinds
}

/// Whether `kind` is one the harness can play (core, or in the catalogue).
pub fn knows(kind: PeerKind) -> bool {
    match kind {
        PeerKind::External(name) => find(name).is_some(),
        _ => true,
    }
}

/// Adds the user's own kind. A name already taken (built in, shipped or declared twice) is an
/// error naming it.
pub fn register(kind: ExternalKind) -> Result<(), String> {
    if knows(kind.kind()) {
        return Err(format!(
            "peer kind `{}` already exists: choose another name",
            kind.name.as_str()
        ));
    }
    user_kinds()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::new(kind));
    Ok(())
}

/// The kinds a project file declares (`[peers.<name>]` tables; nothing else is read from it
/// yet). Relative program paths are taken from the file's folder.
pub fn read_project_file(path: &Path) -> Result<Vec<ExternalKind>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Project {
        #[serde(default)]
        peers: BTreeMap<String, Manifest>,
        // Read by `crate::remote` (remote browsers); named here so that other keys stay errors.
        #[serde(default, rename = "webdriver")]
        _webdriver: toml::Table,
        #[serde(default, rename = "advertise_address")]
        _advertise_address: Option<toml::Value>,
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let project: Project = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = dir.canonicalize().unwrap_or(dir.to_path_buf());
    project
        .peers
        .into_iter()
        .map(|(name, mut manifest)| {
            let at = |e: String| format!("{}: [peers.{name}]: {e}", path.display());
            if manifest.name.as_deref().is_some_and(|n| n != name) {
                return Err(at("`name` must be the table's name or absent".into()));
            }
            resolve_program(&mut manifest.command, &dir);
            ExternalKind::from_manifest(manifest, &name, &dir, false).map_err(at)
        })
        .collect()
}

/// A kind from `--peer-command NAME=PROGRAM ARG…` (split on whitespace; a relative program path
/// is taken from the working directory).
pub fn parse_peer_command(text: &str) -> Result<ExternalKind, String> {
    let (name, command) = text.split_once('=').ok_or_else(|| {
        format!("`{text}` is not `NAME=PROGRAM [ARG…]` (e.g. `myapp=./build/client --verbose`)")
    })?;
    let mut command: Vec<String> = command.split_whitespace().map(String::from).collect();
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    resolve_program(&mut command, &here);
    let manifest = Manifest {
        name: None,
        about: format!("your program: {}", command.join(" ")),
        install: Vec::new(),
        version: Vec::new(),
        command,
        unsupported: BTreeMap::new(),
    };
    ExternalKind::from_manifest(manifest, name.trim(), &here, false)
        .map_err(|e| format!("--peer-command `{text}`: {e}"))
}

/// Makes a relative program path (`./build/client`, `bin/client`) absolute against `dir`: peers
/// start in a folder of the run's. A bare name (`python3`) is left to `PATH`.
fn resolve_program(command: &mut [String], dir: &Path) {
    if let Some(program) = command.first_mut()
        && program.contains('/')
        && Path::new(program.as_str()).is_relative()
    {
        *program = dir.join(&*program).to_string_lossy().into_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, folder: &str, manifest: &str) {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        std::fs::write(dir.join(folder).join("peer.toml"), manifest).unwrap();
    }

    #[test]
    fn manifests_are_read_with_their_placeholders_and_bad_ones_are_named() {
        let temp = tempfile::tempdir().unwrap();
        write(
            temp.path(),
            "good",
            r#"about = "a stack"
install = ["sh", "{dir}/install.sh", "{home}"]
command = ["{home}/bin/peer", "--flag"]
[unsupported]
restart_ice = "no ICE restarts"
"#,
        );
        write(temp.path(), "typo", "comand = [\"x\"]\n");
        write(
            temp.path(),
            "feature",
            "command = [\"x\"]\n[unsupported]\nteleport = \"no\"\n",
        );
        write(
            temp.path(),
            "other",
            "name = \"different\"\ncommand = [\"x\"]\n",
        );
        let shipped = read_shipped(temp.path());
        assert_eq!(shipped.kinds.len(), 1);
        let good = &shipped.kinds[0];
        assert_eq!(good.name.as_str(), "good");
        let dir = good.dir.to_string_lossy().into_owned();
        assert_eq!(good.install_line()[1], format!("{dir}/install.sh"));
        assert!(good.command_line()[0].ends_with("peers/good/bin/peer"));
        assert_eq!(good.unsupported("restart_ice"), Some("no ICE restarts"));
        assert_eq!(good.unsupported("hang_up"), None);
        let problems = shipped.problems.join("\n");
        assert!(
            problems.contains("typo/peer.toml") && problems.contains("comand"),
            "{problems}"
        );
        assert!(
            problems.contains("feature/peer.toml") && problems.contains("unsupported.teleport")
        );
        assert!(
            problems.contains("other/peer.toml") && problems.contains("differs from its folder")
        );
    }

    #[test]
    fn user_kinds_come_from_the_project_file_or_the_command_line() {
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join(PROJECT_FILE);
        std::fs::write(
            &file,
            "[peers.myapp]\ncommand = [\"./build/client\", \"--verbose\"]\n",
        )
        .unwrap();
        let kinds = read_project_file(&file).unwrap();
        assert_eq!(kinds[0].name.as_str(), "myapp");
        let root = temp.path().canonicalize().unwrap();
        assert_eq!(
            kinds[0].command_line()[0],
            root.join("./build/client").to_string_lossy()
        );
        std::fs::write(&file, "[peers.chromium]\ncommand = [\"x\"]\n").unwrap();
        assert!(
            read_project_file(&file)
                .unwrap_err()
                .contains("[peers.chromium]")
        );
        std::fs::write(&file, "[peers.Bad]\ncommand = [\"x\"]\n").unwrap();
        assert!(
            read_project_file(&file)
                .unwrap_err()
                .contains("not a peer kind name")
        );

        let kind = parse_peer_command("mine=python3 client.py").unwrap();
        assert_eq!(kind.command_line(), ["python3", "client.py"]);
        assert!(
            parse_peer_command("python3 client.py")
                .unwrap_err()
                .contains("NAME=PROGRAM")
        );
        assert!(
            parse_peer_command("mine=")
                .unwrap_err()
                .contains("`command` is empty")
        );
    }
}
