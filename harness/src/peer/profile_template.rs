//! A warmed-up Firefox profile that each local Firefox session starts from.
//!
//! Firefox spends half of its start-up on a new profile making its databases and caches (here a
//! session took 2.3 s and 2.9 CPU-seconds in an empty profile, 1.1 s and 1.4 CPU-seconds in one
//! that Firefox had used before). A run starts a Firefox per `[network]` side, and every test
//! its own, so when a process opens its second local Firefox session, another Firefox is opened
//! beside it in a profile of its own and closed, and that profile is copied for every session
//! opened once it is ready. Chromium starts as fast in an empty profile, so it gets none.
//!
//! What the copy carries over is Firefox's own state, never a case's: the template's session
//! loaded no page, and every session still gets its prefs from its capabilities (geckodriver
//! writes them into the copy's `user.js`, over the template's).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::provision::BrowserInstall;

/// Files Firefox keeps only while it runs (its profile lock): never copied.
const RUNNING_ONLY: [&str; 2] = ["lock", ".parentlock"];

/// The warmed profile of one Firefox install: how many sessions asked for it, and once made, the
/// profile (`Some`) or nothing (making it failed).
#[derive(Default)]
struct Template {
    asked: usize,
    made: Arc<OnceLock<Option<PathBuf>>>,
}

/// The warmed profile for `install`'s Firefox, once there is one. A process that opens a single
/// Firefox session gains nothing from one, so the second call starts making it in the background
/// with `make` (which opens and closes a session in the folder it is given). Until it is made,
/// and if making it failed, this is `None`: those sessions start in an empty profile, as they
/// would without a template, rather than wait for it.
pub fn firefox_template<F, Fut>(install: &BrowserInstall, make: F) -> Option<PathBuf>
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    static TEMPLATES: Mutex<Option<HashMap<PathBuf, Template>>> = Mutex::new(None);
    let (made, asked) = {
        let mut templates = TEMPLATES.lock().unwrap();
        let template = templates
            .get_or_insert_with(HashMap::new)
            .entry(install.browser.clone())
            .or_default();
        template.asked += 1;
        (template.made.clone(), template.asked)
    };
    if asked == 2 {
        // One folder per install, in this process's own run folder.
        let install_name = install.browser.to_string_lossy().replace('/', "_");
        let folder = crate::leftovers::run_folder()
            .ok()?
            .join(format!("firefox-profile{install_name}"));
        let making = make(folder.clone());
        let made = made.clone();
        tokio::spawn(async move {
            let profile = match making.await {
                Ok(()) => Some(folder),
                Err(e) => {
                    eprintln!(
                        "rtc-interop: Firefox sessions start in empty profiles (no warmed \
                         profile: {e})"
                    );
                    None
                }
            };
            let _ = made.set(profile);
        });
    }
    made.get().cloned().flatten()
}

/// Copies the profile `template` into `to` (which must not exist yet), leaving out its lock.
pub fn copy_profile(template: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(template)? {
        let entry = entry?;
        let name = entry.file_name();
        if RUNNING_ONLY.iter().any(|skip| name == *skip) {
            continue;
        }
        let kind = entry.file_type()?;
        let target = to.join(&name);
        if kind.is_dir() {
            copy_profile(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
        // Other symbolic links in a profile are locks too; sockets and the like are not state.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_has_every_file_and_folder_but_the_lock() {
        let template = tempfile::tempdir().unwrap();
        let t = template.path();
        std::fs::write(t.join("prefs.js"), "user_pref(\"a\", 1);").unwrap();
        std::fs::create_dir_all(t.join("startupCache/inner")).unwrap();
        std::fs::write(t.join("startupCache/inner/x.bin"), [1, 2, 3]).unwrap();
        std::os::unix::fs::symlink("127.0.0.1:+4242", t.join("lock")).unwrap();
        std::fs::write(t.join(".parentlock"), "").unwrap();
        let to = tempfile::tempdir().unwrap();
        let copy = to.path().join("session-1");

        copy_profile(t, &copy).unwrap();

        assert_eq!(
            std::fs::read_to_string(copy.join("prefs.js")).unwrap(),
            "user_pref(\"a\", 1);"
        );
        assert_eq!(
            std::fs::read(copy.join("startupCache/inner/x.bin")).unwrap(),
            [1, 2, 3]
        );
        assert!(std::fs::symlink_metadata(copy.join("lock")).is_err());
        assert!(!copy.join(".parentlock").exists());
    }
}
