//! Finding the browsers, drivers and servers (coturn) a run needs, and installing them where they
//! are missing.
//!
//! Like Selenium Manager, the harness looks for what it needs first and installs only what is
//! missing, with a progress line: Debian's packages with `apt-get` (as root), geckodriver (and
//! cargo-insta, for reviewing SDP snapshots) with `cargo install`. Where it cannot install (not root, no apt, no cargo) it stops and prints the
//! exact command to run. Each browser kind has one `Recipe` saying where its parts live and how
//! they are installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::bounded::BoundedCommand;
use crate::peer::external::ExternalKind;
use crate::scenario::PeerKind;

/// Why a browser or driver is not ready.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProvisionError {
    /// Not installed, and not installable by the harness here.
    #[error("{what} is not installed. Install it with:\n    {command}")]
    Missing {
        /// What is missing (`chromium and chromium-driver`).
        what: String,
        /// The exact command that installs it.
        command: String,
    },
    /// The installation was tried and failed.
    #[error("installing {what} failed ({reason}). Try by hand:\n    {command}")]
    InstallFailed {
        /// What was being installed.
        what: String,
        /// What went wrong, with the end of the installer's output.
        reason: String,
        /// The command to retry by hand.
        command: String,
    },
    /// Browser and driver are installed but their versions do not fit each other.
    #[error("{driver} does not fit {browser} ({why}). Fix it with:\n    {command}")]
    VersionMismatch {
        /// The browser's name and version (`firefox-esr 115.9.0esr`).
        browser: String,
        /// The driver's name and version (`geckodriver 0.37.0`).
        driver: String,
        /// Why they do not fit.
        why: String,
        /// The command that brings them together.
        command: String,
    },
    /// The peer kind is not a browser.
    #[error("{0} is not a browser: nothing to provision")]
    NotABrowser(PeerKind),
}

/// A browser and its WebDriver server, ready to start.
#[derive(Debug, Clone)]
pub struct BrowserInstall {
    /// Which peer kind this is.
    pub kind: PeerKind,
    /// The browser executable.
    pub browser: PathBuf,
    /// The browser's version (`156.0.8078.79`, `153.7.0esr`).
    pub browser_version: String,
    /// The WebDriver server executable.
    pub driver: PathBuf,
    /// The driver's version.
    pub driver_version: String,
}

/// Where one browser kind's parts live and how they are installed.
struct Recipe {
    browser_name: &'static str,
    /// Real binaries first: Debian's `/usr/bin/chromium` is a shell wrapper that starts slower.
    browser_paths: &'static [&'static str],
    browser_commands: &'static [&'static str],
    /// Debian packages that provide the browser (and, for Chromium, its driver).
    packages: &'static str,
    driver_name: &'static str,
    /// A crate that provides the driver, when Debian does not.
    driver_crate: Option<&'static str>,
}

const CHROMIUM: Recipe = Recipe {
    browser_name: "chromium",
    browser_paths: &["/usr/lib/chromium/chromium"],
    browser_commands: &["chromium", "chromium-browser"],
    packages: "chromium chromium-driver",
    driver_name: "chromedriver",
    driver_crate: None,
};

const FIREFOX: Recipe = Recipe {
    browser_name: "firefox-esr",
    browser_paths: &["/usr/lib/firefox-esr/firefox-esr"],
    browser_commands: &["firefox-esr", "firefox"],
    packages: "firefox-esr",
    driver_name: "geckodriver",
    driver_crate: Some("geckodriver"),
};

fn recipe(kind: PeerKind) -> Result<&'static Recipe, ProvisionError> {
    match kind {
        PeerKind::Chromium => Ok(&CHROMIUM),
        PeerKind::Firefox => Ok(&FIREFOX),
        PeerKind::Native | PeerKind::External(_) => Err(ProvisionError::NotABrowser(kind)),
    }
}

impl Recipe {
    fn apt_command(&self) -> String {
        format!(
            "sudo apt-get update && sudo apt-get install -y {}",
            self.packages
        )
    }

    fn find_browser(&self) -> Option<PathBuf> {
        self.browser_paths
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .or_else(|| find_in_path(self.browser_commands))
    }

    fn find_driver(&self) -> Option<PathBuf> {
        find_installed_by_cargo(self.driver_name)
    }

    fn missing_browser(&self) -> ProvisionError {
        ProvisionError::Missing {
            what: self.packages.replace(' ', " and "),
            command: self.apt_command(),
        }
    }

    fn missing_driver(&self) -> ProvisionError {
        match self.driver_crate {
            Some(krate) => ProvisionError::Missing {
                what: self.driver_name.into(),
                command: cargo_command(krate),
            },
            None => self.missing_browser(),
        }
    }
}

/// Finds `kind`'s browser and driver without installing anything.
pub fn locate(kind: PeerKind) -> Result<BrowserInstall, ProvisionError> {
    let recipe = recipe(kind)?;
    let browser = recipe
        .find_browser()
        .ok_or_else(|| recipe.missing_browser())?;
    let browser_version = version_of(&browser).ok_or_else(|| recipe.missing_browser())?;
    let driver = recipe
        .find_driver()
        .ok_or_else(|| recipe.missing_driver())?;
    let driver_version = version_of(&driver).ok_or_else(|| recipe.missing_driver())?;
    let found = BrowserInstall {
        kind,
        browser,
        browser_version,
        driver,
        driver_version,
    };
    check_versions_fit(recipe, &found)?;
    Ok(found)
}

/// Finds `kind`'s browser and driver; installs what is missing first when `install` is set.
pub fn ensure(kind: PeerKind, install: bool) -> Result<BrowserInstall, ProvisionError> {
    match locate(kind) {
        Err(ProvisionError::Missing { .. }) if install => {
            install_missing(kind)?;
            locate(kind)
        }
        other => other,
    }
}

/// Installs the missing tools that come from crates.io, with `cargo install`: Firefox's driver
/// (geckodriver) when `firefox` is set, and cargo-insta when `insta` is. `install` runs this
/// beside the package installs: compiling keeps the cores busy while packages download.
pub fn install_from_crates(firefox: bool, insta: bool) -> Result<(), ProvisionError> {
    if let (true, Some(krate)) = (
        firefox && FIREFOX.find_driver().is_none(),
        FIREFOX.driver_crate,
    ) {
        cargo_install(FIREFOX.driver_name, krate, &cargo_command(krate))?;
    }
    if insta {
        cargo_insta(true)?;
    }
    Ok(())
}

/// Installs whatever `kind` lacks (browser packages, driver), one progress line per step.
pub fn install_missing(kind: PeerKind) -> Result<(), ProvisionError> {
    let recipe = recipe(kind)?;
    let browser_missing = recipe.find_browser().is_none();
    let driver_missing = recipe.find_driver().is_none();
    if browser_missing || (driver_missing && recipe.driver_crate.is_none()) {
        apt_install(&recipe.packages.replace(' ', " and "), recipe.packages)?;
    }
    if let (true, Some(krate)) = (driver_missing, recipe.driver_crate) {
        cargo_install(recipe.driver_name, krate, &cargo_command(krate))?;
    }
    Ok(())
}

fn check_versions_fit(recipe: &Recipe, found: &BrowserInstall) -> Result<(), ProvisionError> {
    let mismatch = |why: String, command: String| ProvisionError::VersionMismatch {
        browser: format!("{} {}", recipe.browser_name, found.browser_version),
        driver: format!("{} {}", recipe.driver_name, found.driver_version),
        why,
        command,
    };
    match found.kind {
        PeerKind::Chromium if major(&found.browser_version) != major(&found.driver_version) => {
            Err(mismatch(
                "major versions differ".into(),
                format!(
                    "sudo apt-get update && sudo apt-get install -y --only-upgrade {}",
                    recipe.packages
                ),
            ))
        }
        PeerKind::Firefox => {
            let oldest = oldest_firefox_for_geckodriver(&found.driver_version);
            let firefox: u32 = major(&found.browser_version).parse().unwrap_or(0);
            if firefox < oldest {
                Err(mismatch(
                    format!("this geckodriver needs Firefox {oldest} or newer"),
                    recipe.apt_command(),
                ))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// The oldest Firefox a geckodriver release supports (geckodriver's "Supported platforms" table).
fn oldest_firefox_for_geckodriver(version: &str) -> u32 {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let minor = match (parts.next(), parts.next()) {
        (Some(0), Some(minor)) => minor,
        _ => return 128, // a 1.x geckodriver: assume the newest ESR floor
    };
    match minor {
        36.. => 128,
        34..=35 => 115,
        32..=33 => 102,
        _ => 91,
    }
}

/// The crate that provides `cargo insta`, for reviewing SDP snapshots.
const CARGO_INSTA: &str = "cargo-insta";

/// Finds `cargo-insta` (`cargo insta review` reviews SDP snapshots); installs it first with
/// `cargo install cargo-insta --locked`, as geckodriver is, when `install` is set and it is
/// missing. Runs don't need it; reviewing their snapshot changes does.
pub fn cargo_insta(install: bool) -> Result<PathBuf, ProvisionError> {
    match locate_cargo_insta() {
        Err(ProvisionError::Missing { .. }) if install => {
            cargo_install(CARGO_INSTA, CARGO_INSTA, &cargo_command(CARGO_INSTA))?;
            locate_cargo_insta()
        }
        other => other,
    }
}

/// Finds `cargo-insta` without installing anything.
pub fn locate_cargo_insta() -> Result<PathBuf, ProvisionError> {
    find_installed_by_cargo(CARGO_INSTA).ok_or_else(|| ProvisionError::Missing {
        what: CARGO_INSTA.into(),
        command: cargo_command(CARGO_INSTA),
    })
}

const COTURN_PACKAGE: &str = "coturn";

/// Finds coturn's `turnserver`; installs the `coturn` package first when `install` is set and it
/// is missing.
pub fn coturn(install: bool) -> Result<PathBuf, ProvisionError> {
    ensure_apt(
        locate_coturn,
        "coturn (turnserver)",
        COTURN_PACKAGE,
        install,
    )
}

/// Finds coturn's `turnserver` without installing anything.
pub fn locate_coturn() -> Result<PathBuf, ProvisionError> {
    find_in_path(&["turnserver"])
        .or_else(|| Some(PathBuf::from("/usr/bin/turnserver")).filter(|p| p.is_file()))
        .ok_or_else(|| coturn_missing("coturn (turnserver)"))
}

/// The error for a missing coturn, with the command that installs it; `what` names what was
/// looked for.
pub fn coturn_missing(what: &str) -> ProvisionError {
    ProvisionError::Missing {
        what: what.into(),
        command: format!("sudo apt-get update && sudo apt-get install -y {COTURN_PACKAGE}"),
    }
}

/// Finds `tcpdump` (`run --capture`); installs Debian's tcpdump first when `install` is set and
/// it is missing.
pub fn tcpdump(install: bool) -> Result<PathBuf, ProvisionError> {
    ensure_apt(locate_tcpdump, "tcpdump", "tcpdump", install)
}

/// Finds `tcpdump` without installing anything.
pub fn locate_tcpdump() -> Result<PathBuf, ProvisionError> {
    find_in_path(&["tcpdump"])
        .or_else(|| Some(PathBuf::from("/usr/bin/tcpdump")).filter(|p| p.is_file()))
        .ok_or_else(|| ProvisionError::Missing {
            what: "tcpdump".into(),
            command: "sudo apt-get update && sudo apt-get install -y tcpdump".into(),
        })
}

/// The packages behind `[network]` scenarios' NATs and namespaces.
const NETWORK_PACKAGES: &str = "nftables iproute2";

/// Finds `nft` (nftables: the NATs of `[network]` scenarios); installs nftables and iproute2
/// first when `install` is set and it is missing.
pub fn nftables(install: bool) -> Result<PathBuf, ProvisionError> {
    ensure_apt(locate_nft, "nft (nftables)", NETWORK_PACKAGES, install)
}

/// What `locate` finds, after installing the Debian `packages` when it finds nothing and
/// `install` is set. Where apt cannot run, the error is `locate`'s, with its command.
fn ensure_apt(
    locate: fn() -> Result<PathBuf, ProvisionError>,
    what: &str,
    packages: &str,
    install: bool,
) -> Result<PathBuf, ProvisionError> {
    match locate() {
        Ok(found) => Ok(found),
        Err(missing @ ProvisionError::Missing { .. }) if install => {
            apt_install(what, packages).map_err(|e| match e {
                ProvisionError::Missing { .. } => missing,
                other => other,
            })?;
            locate()
        }
        Err(e) => Err(e),
    }
}

/// Finds `nft` without installing anything (also in `/usr/sbin`, which a non-login `PATH` may
/// lack).
pub fn locate_nft() -> Result<PathBuf, ProvisionError> {
    find_in_path(&["nft"])
        .or_else(|| Some(PathBuf::from("/usr/sbin/nft")).filter(|p| p.is_file()))
        .ok_or_else(|| ProvisionError::Missing {
            what: "nft (nftables)".into(),
            command: format!("sudo apt-get update && sudo apt-get install -y {NETWORK_PACKAGES}"),
        })
}

/// Installs Debian packages, printing one progress line; `Missing` when this machine cannot.
fn apt_install(what: &str, packages: &str) -> Result<(), ProvisionError> {
    let command = format!("sudo apt-get update && sudo apt-get install -y {packages}");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || find_in_path(&["apt-get"]).is_none() {
        return Err(ProvisionError::Missing {
            what: what.into(),
            command,
        });
    }
    // One `apt-get update` per process is enough for every install that follows.
    static UPDATED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let update = if UPDATED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        ""
    } else {
        "apt-get update -q; "
    };
    let script = format!(
        "set -e; export DEBIAN_FRONTEND=noninteractive; {update}apt-get install -y -q {packages}"
    );
    run_installer(
        what,
        "with apt-get (about a minute)",
        Command::new("sh").args(["-c", &script]),
        command,
    )
}

/// The command that installs `krate` from crates.io.
fn cargo_command(krate: &str) -> String {
    format!("cargo install {krate} --locked")
}

/// A program on `PATH`, or where `cargo install` puts it (`$CARGO_HOME/bin`, not on every
/// `PATH`).
fn find_installed_by_cargo(name: &str) -> Option<PathBuf> {
    find_in_path(&[name]).or_else(|| {
        let cargo_bin = cargo_home()?.join("bin").join(name);
        cargo_bin.is_file().then_some(cargo_bin)
    })
}

/// Installs a tool from crates.io with `cargo install`, printing one progress line.
fn cargo_install(what: &str, krate: &str, command: &str) -> Result<(), ProvisionError> {
    let Some(cargo) = find_in_path(&["cargo"]).or_else(|| {
        let path = cargo_home()?.join("bin/cargo");
        path.is_file().then_some(path)
    }) else {
        return Err(ProvisionError::Missing {
            what: what.into(),
            command: format!("(install Rust from rustup.rs, then) {command}"),
        });
    };
    run_installer(
        what,
        "with cargo install (about two minutes)",
        Command::new(cargo).args(["install", krate, "--locked"]),
        command.to_string(),
    )
}

/// Runs an installer with its output in a log file, and one progress line before and after.
fn run_installer(
    what: &str,
    how: &str,
    command: &mut Command,
    retry: String,
) -> Result<(), ProvisionError> {
    let log = std::env::temp_dir().join(format!(
        "rtc-interop-install-{}.log",
        what.replace(' ', "-")
    ));
    eprintln!(
        "rtc-interop: installing {what} {how}; log in {} …",
        log.display()
    );
    let failed = |reason: String| ProvisionError::InstallFailed {
        what: what.into(),
        reason,
        command: retry.clone(),
    };
    let status = std::fs::File::create(&log)
        .and_then(|file| {
            let err = file.try_clone()?;
            command
                .stdout(file)
                .stderr(err)
                .status_within(INSTALL_TIMEOUT)
        })
        .map_err(|e| failed(e.to_string()))?;
    if !status.success() {
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = output.lines().collect();
        let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
        return Err(failed(format!("exited with {status}: {tail}")));
    }
    eprintln!("rtc-interop: installed {what}");
    Ok(())
}

/// The first of `names` found on `PATH`.
pub fn find_in_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
}

/// The first version number `program --version` prints (`156.0.8078.79`, `153.7.0esr`); none
/// when it fails or hangs.
fn version_of(program: &Path) -> Option<String> {
    let output = Command::new(program)
        .arg("--version")
        .output_within(VERSION_TIMEOUT)
        .ok()?;
    parse_version(&String::from_utf8_lossy(&output.stdout))
}

fn parse_version(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|word| {
            let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            digits.contains('.')
                && digits
                    .split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

/// The harness's own cache folder (`$XDG_CACHE_HOME/rtc-interop`, else `~/.cache/rtc-interop`):
/// what it installs for itself (external stacks, the relay benchmark's Node packages) goes there,
/// never into system folders.
pub fn cache_dir() -> Result<PathBuf, String> {
    let home = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .ok_or("neither XDG_CACHE_HOME nor HOME is set")?;
    Ok(home.join("rtc-interop"))
}

/// How long a version command (`chromium --version`, an external kind's) may take; an
/// external stack's may start an interpreter that loads its whole library.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an installer may run: apt-get, `cargo install`, an external stack's build.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The version an external kind's stack reports (its manifest's `version` command), or why it
/// is not installed.
pub fn locate_external(kind: &ExternalKind) -> Result<String, ProvisionError> {
    let missing = || ProvisionError::Missing {
        what: format!("the {} peer ({})", kind.name.as_str(), kind.about),
        command: external_install_hint(kind),
    };
    let line = kind.version_line();
    let Some((program, args)) = line.split_first() else {
        return Ok("unknown version".into());
    };
    // Any program may be a version command: one that hangs counts as not installed.
    let output = Command::new(program)
        .args(args)
        .output_within(VERSION_TIMEOUT)
        .map_err(|_| missing())?;
    if !output.status.success() {
        return Err(missing());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown version")
        .to_string())
}

/// An external kind's stack: its version, after running its install command when it is missing
/// and `install` allows.
pub fn ensure_external(kind: &ExternalKind, install: bool) -> Result<String, ProvisionError> {
    match locate_external(kind) {
        Ok(version) => return Ok(version),
        Err(e) if !install || kind.install.is_empty() => return Err(e),
        Err(_) => {}
    }
    let line = kind.install_line();
    let (program, args) = line.split_first().expect("checked non-empty");
    std::fs::create_dir_all(&kind.home).map_err(|e| ProvisionError::InstallFailed {
        what: kind.name.as_str().into(),
        reason: format!("cannot create {}: {e}", kind.home.display()),
        command: external_install_hint(kind),
    })?;
    run_installer(
        &format!("the {} peer", kind.name.as_str()),
        &format!("into {}", kind.home.display()),
        Command::new(program).args(args),
        external_install_hint(kind),
    )?;
    locate_external(kind)
}

/// The command that installs an external kind by hand.
fn external_install_hint(kind: &ExternalKind) -> String {
    if kind.install.is_empty() {
        format!(
            "(it has no install command: make `{}` work)",
            kind.command_line().join(" ")
        )
    } else {
        format!("rtc-interop install --peers {}", kind.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_the_tools_print_them() {
        let chromium = "Chromium 156.0.8078.79 built on Debian GNU/Linux 12 (bookworm)";
        assert_eq!(parse_version(chromium).as_deref(), Some("156.0.8078.79"));
        let driver = "ChromeDriver 156.0.8078.79 (2fa1b9c-refs/branch-heads/7832@{#1})";
        assert_eq!(parse_version(driver).as_deref(), Some("156.0.8078.79"));
        let firefox = "Mozilla Firefox 153.7.0esr";
        assert_eq!(parse_version(firefox).as_deref(), Some("153.7.0esr"));
        let gecko = "geckodriver 0.37.0\n\nThe source code of this program is available from";
        assert_eq!(parse_version(gecko).as_deref(), Some("0.37.0"));
        assert_eq!(parse_version("no version here"), None);
        assert_eq!(major("153.7.0esr"), "153");
    }

    #[test]
    fn geckodriver_support_floor() {
        assert_eq!(oldest_firefox_for_geckodriver("0.37.0"), 128);
        assert_eq!(oldest_firefox_for_geckodriver("0.34.0"), 115);
        assert_eq!(oldest_firefox_for_geckodriver("0.30.0"), 91);
    }

    #[test]
    fn an_old_firefox_is_a_version_mismatch_naming_both() {
        let found = BrowserInstall {
            kind: PeerKind::Firefox,
            browser: "/usr/bin/firefox-esr".into(),
            browser_version: "115.9.0esr".into(),
            driver: "/root/.cargo/bin/geckodriver".into(),
            driver_version: "0.37.0".into(),
        };
        let text = check_versions_fit(&FIREFOX, &found)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("geckodriver 0.37.0 does not fit firefox-esr 115.9.0esr"),
            "{text}"
        );
        assert!(text.contains("needs Firefox 128 or newer"), "{text}");
    }

    #[test]
    fn mismatched_chromedriver_is_reported_as_such() {
        let found = BrowserInstall {
            kind: PeerKind::Chromium,
            browser: "/usr/lib/chromium/chromium".into(),
            browser_version: "156.0.8078.79".into(),
            driver: "/usr/bin/chromedriver".into(),
            driver_version: "155.0.1.2".into(),
        };
        let text = check_versions_fit(&CHROMIUM, &found)
            .unwrap_err()
            .to_string();
        assert!(text.contains("major versions differ"), "{text}");
        assert!(
            text.contains("--only-upgrade chromium chromium-driver"),
            "{text}"
        );
    }

    #[test]
    fn missing_errors_name_the_install_command() {
        let text = CHROMIUM.missing_browser().to_string();
        assert!(
            text.contains("chromium and chromium-driver is not installed"),
            "{text}"
        );
        assert!(
            text.contains("apt-get install -y chromium chromium-driver"),
            "{text}"
        );
        let text = FIREFOX.missing_driver().to_string();
        assert!(
            text.contains("cargo install geckodriver --locked"),
            "{text}"
        );
    }
}
