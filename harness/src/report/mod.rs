//! Reports: consumers of the runner's events. Each format is one [`Reporter`].

pub mod bundle;
pub mod candidate_matrix;
mod document;
mod html;
mod json;
mod junit;
mod terminal;
#[cfg(test)]
pub(crate) mod test_fixtures;

use std::io;
use std::path::{Path, PathBuf};

pub use document::{ReportDocument, RunInfo, ShardInfo, UnplayedCase, merge};
pub use html::{HtmlReport, expanded as html_with_evidence};
pub use json::JsonReport;
pub use junit::JunitReport;
pub use terminal::{TerminalReport, table};

use crate::outcome::{CaseResult, RunSummary};
use crate::plan::Case;

/// What happens during a run, in order.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The environment is ready and these cases are about to run.
    Started {
        /// The run: its id (also its folder name under `reports/`), versions and selection.
        run: &'a RunInfo,
        /// Every case, in the order they run.
        cases: &'a [Case],
    },
    /// A case begins.
    CaseStarted {
        /// The case.
        case: &'a Case,
        /// Its position in the run, from 0.
        index: usize,
    },
    /// A case has a verdict.
    CaseFinished {
        /// The verdict and its evidence.
        result: &'a CaseResult,
    },
    /// Every case has run, or the run was interrupted.
    Finished {
        /// The finished cases' results, in run order.
        results: &'a [CaseResult],
        /// Their counts.
        summary: &'a RunSummary,
        /// The cases an interruption (Ctrl-C) left unfinished; empty when the run ran to its end.
        unplayed: &'a [UnplayedCase],
    },
}

/// A consumer of run events.
pub trait Reporter {
    /// The report's name, for error messages.
    fn name(&self) -> &'static str;
    /// Handles one event.
    fn on_event(&mut self, event: &RunEvent<'_>) -> io::Result<()>;
}

/// Creates the folder of a new run in `reports`, named by the local time (`20261122-204512`, then
/// `20261122-204512-2`, … for runs started in the same second): the id and the folder. The
/// folder is claimed with an exclusive create, so runs started at the same moment never share one.
pub fn create_run_folder(reports: &Path) -> io::Result<(String, PathBuf)> {
    std::fs::create_dir_all(reports)?;
    let base = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    for n in 1..10_000 {
        let id = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let folder = reports.join(&id);
        match std::fs::create_dir(&folder) {
            Ok(()) => return Ok((id, folder)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "{}: 10000 runs started in the same second",
        reports.join(&base).display()
    )))
}

/// Removes the oldest run folders of `reports` so that at most `keep` remain (run ids sort by
/// time); returns the ids removed. Only folders named like a run id are touched.
pub fn prune_runs(reports: &Path, keep: usize) -> io::Result<Vec<String>> {
    let is_run_id = |name: &str| {
        let mut parts = name.split('-');
        let date = parts.next().unwrap_or_default();
        let time = parts.next().unwrap_or_default();
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        digits(date, 8)
            && digits(time, 6)
            && parts.all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut runs: Vec<(String, u32)> = std::fs::read_dir(reports)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| is_run_id(name))
        .map(|name| {
            // `-2` after `-`: the same second, later.
            let n = name
                .splitn(3, '-')
                .nth(2)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            (name, n)
        })
        .collect();
    runs.sort_by(|a, b| (a.0.get(..15), a.1).cmp(&(b.0.get(..15), b.1)));
    let excess = runs.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for (name, _) in runs.into_iter().take(excess) {
        std::fs::remove_dir_all(reports.join(&name))?;
        removed.push(name);
    }
    Ok(removed)
}

/// Points `reports/latest` at the run `run_id`, whose reports are complete. The link is replaced
/// in one step (a new link renamed over the old one), so `latest` never dangles or points at a
/// run still being written, however many runs finish at once.
pub fn mark_latest(reports: &Path, run_id: &str) -> io::Result<()> {
    let staged = reports.join(format!(".latest-{run_id}"));
    let _ = std::fs::remove_file(&staged);
    std::os::unix::fs::symlink(run_id, &staged)?;
    std::fs::rename(&staged, reports.join("latest"))
}

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by entities: safe as element content and as a
/// quoted attribute value, in HTML and in XML alike.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 has no way to write these, escaped or not (a junit.xml with one does not
            // parse); HTML calls them errors. Shown as text instead.
            c if is_control(c) && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&c.escape_unicode().to_string())
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` with every control character (escape sequences from a peer, a NUL from a file) shown as
/// `\u{1b}` instead: what the terminal prints of text the harness did not write itself.
pub(crate) fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if is_control(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// C0 and C1 controls, DEL, and the two noncharacters XML refuses.
fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_replaces_every_markup_character() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(escape("candidate:1 1 udp ↔ ok"), "candidate:1 1 udp ↔ ok");
        assert_eq!(escape("a\u{1b}[31mb\0\tc\n"), "a\\u{1b}[31mb\\u{0}\tc\n");
    }

    #[test]
    fn runs_started_together_get_folders_of_their_own_and_latest_always_resolves() {
        let reports = tempfile::tempdir().unwrap();
        let claimed: Vec<(String, std::path::PathBuf)> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| super::create_run_folder(reports.path()).unwrap()))
                .collect();
            starts.into_iter().map(|s| s.join().unwrap()).collect()
        });
        let mut ids: Vec<&str> = claimed.iter().map(|(id, _)| id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 16, "{ids:?}");
        assert!(claimed.iter().all(|(_, folder)| folder.is_dir()));
        std::thread::scope(|scope| {
            for (id, _) in &claimed {
                scope.spawn(|| super::mark_latest(reports.path(), id).unwrap());
            }
        });
        let latest = std::fs::read_link(reports.path().join("latest")).unwrap();
        assert!(ids.contains(&latest.to_str().unwrap()), "{latest:?}");
        assert!(reports.path().join("latest").is_dir());
    }

    #[test]
    fn old_runs_are_pruned_oldest_first_and_nothing_else_is_touched() {
        let reports = tempfile::tempdir().unwrap();
        for name in [
            "20261201-100000",
            "20261201-100000-2",
            "20261201-100000-10",
            "20261202-090000",
            "keep-me",
        ] {
            std::fs::create_dir(reports.path().join(name)).unwrap();
        }
        std::fs::write(reports.path().join("20261130-000000"), "a file, not a run").unwrap();
        let removed = super::prune_runs(reports.path(), 2).unwrap();
        assert_eq!(removed, ["20261201-100000", "20261201-100000-2"]);
        for kept in [
            "20261201-100000-10",
            "20261202-090000",
            "keep-me",
            "20261130-000000",
        ] {
            assert!(reports.path().join(kept).exists(), "{kept}");
        }
        assert!(super::prune_runs(reports.path(), 2).unwrap().is_empty());
    }

    #[test]
    fn terminal_text_shows_control_characters_instead_of_obeying_them() {
        assert_eq!(super::visible("plain ↔ text"), "plain ↔ text");
        assert_eq!(super::visible("\u{1b}[2Jgone\u{7}"), "\\u{1b}[2Jgone\\u{7}");
    }
}
