//! `report.html`: the run for people. One self-contained page (inline CSS and SVG, no external
//! assets): a header with the totals, a pairing matrix per scenario with its candidate types and
//! its SDP comparison across peer kinds, then one section per case with its failure, state
//! timelines, candidates, data channel, signaling ladder, SDP and SDP snapshot checks.
//!
//! The page depends only on the results, so the same results always give the same bytes.

mod candidate_types;
mod evidence;

pub use evidence::expanded;
mod ladder;
mod media;
mod sdp_compare;
mod timeline;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

use super::{Reporter, RunEvent, UnplayedCase, candidate_matrix, escape};
use crate::observe::{Candidate, DataChannelLog, PairEnd, SelectedPair, StepLog};
use crate::outcome::{CaseResult, RunSummary, Sides, Status};
use crate::scenario::PeerKind;
use crate::sdp::compare;

/// Writes `report.html` into the run folder when the run finishes.
pub struct HtmlReport {
    path: PathBuf,
    run_id: String,
}

impl HtmlReport {
    /// A report written to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            run_id: String::new(),
        }
    }
}

impl Reporter for HtmlReport {
    fn name(&self) -> &'static str {
        "HTML"
    }

    fn on_event(&mut self, event: &RunEvent<'_>) -> io::Result<()> {
        match event {
            RunEvent::Started { run, .. } => self.run_id = run.run_id.clone(),
            RunEvent::Finished {
                results, unplayed, ..
            } => {
                std::fs::write(&self.path, render(&self.run_id, results, unplayed))?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// The whole page for a run; `unplayed`: the cases an interruption left unfinished.
fn render(run_id: &str, results: &[CaseResult], unplayed: &[UnplayedCase]) -> String {
    let mut html = String::with_capacity(64 * 1024 + results.len() * 32 * 1024);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>rtc-interop run {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(run_id)
    );
    html.push_str(&header(run_id, results));
    if !unplayed.is_empty() {
        html.push_str(&interrupted(unplayed));
    }
    html.push_str("<section class=\"matrices\">\n<h2>Pairings</h2>\n");
    let comparisons = compare::compare(&compare::from_results(results));
    let candidate_matrices = candidate_matrix::build(results);
    for scenario in scenarios(results) {
        let cases: Vec<(usize, &CaseResult)> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.scenario == scenario)
            .collect();
        html.push_str(&matrix(scenario, &cases));
        if let Some(m) = candidate_matrices.iter().find(|m| m.scenario == scenario) {
            html.push_str(&candidate_types::render(m));
        }
        if let Some(c) = comparisons.iter().find(|c| c.scenario == scenario) {
            html.push_str(&sdp_compare::render(c));
        }
    }
    if results.is_empty() {
        html.push_str("<p class=\"muted\">No cases ran.</p>\n");
    }
    html.push_str("</section>\n<section class=\"cases\">\n<h2>Cases</h2>\n");
    let mut all_evidence = Vec::with_capacity(results.len());
    for (index, result) in results.iter().enumerate() {
        let (section, evidence) = case_section(index, result);
        html.push_str(&section);
        all_evidence.push(evidence);
    }
    html.push_str("</section>\n");
    html.push_str(&evidence::chunks(&all_evidence));
    let _ = write!(
        html,
        "<script>\n{}{NAVIGATION_SCRIPT}</script>\n",
        evidence::SCRIPT.replace("CHUNK", &evidence::CHUNK.to_string())
    );
    html.push_str("</body>\n</html>\n");
    html
}

/// The notice of an interrupted run, with the cases it did not play.
fn interrupted(unplayed: &[UnplayedCase]) -> String {
    let mut html = format!(
        "<section class=\"interrupted\">\n<h2>Interrupted</h2>\n<p>The run was interrupted; \
         {} case(s) were not played (or not finished), and the totals above count only the \
         cases that were:</p>\n<ul class=\"failure\">\n",
        unplayed.len()
    );
    for case in unplayed {
        let _ = writeln!(html, "<li>{}</li>", escape(&case.to_string()));
    }
    html.push_str("</ul>\n</section>\n");
    html
}

/// Scenario names in the order they first appear.
fn scenarios(results: &[CaseResult]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if !names.contains(&r.scenario.as_str()) {
            names.push(&r.scenario);
        }
    }
    names
}

/// The anchor of case `index`'s section.
fn case_id(index: usize) -> String {
    format!("case-{index}")
}

/// Milliseconds for reading: `12.3 ms`.
fn ms(value: f64) -> String {
    format!("{value:.1} ms")
}

fn optional_ms(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_string(), ms)
}

/// `offerer (chromium)`.
fn side_name(role: &str, kind: PeerKind) -> String {
    format!("{role} ({kind})")
}

/// Run id, version, start time, totals and the browsers seen.
fn header(run_id: &str, results: &[CaseResult]) -> String {
    let summary = RunSummary::of(results);
    let started = results
        .iter()
        .map(|r| r.started_at_ms)
        .reduce(f64::min)
        .and_then(|ms| chrono::DateTime::from_timestamp_millis(ms as i64))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    let browsers: BTreeSet<(String, String)> = results
        .iter()
        .flat_map(|r| &r.browsers)
        .map(|b| (b.kind.to_string(), b.version.clone()))
        .collect();
    let browsers = if browsers.is_empty() {
        "none".to_string()
    } else {
        browsers
            .iter()
            .map(|(kind, version)| format!("{} {}", escape(kind), escape(version)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let profiles: BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r.native_profile.map(|p| p.as_str()))
        .collect();

    let mut html = String::from("<header>\n");
    let _ = writeln!(
        html,
        "<h1>rtc-interop run <code>{}</code></h1>",
        escape(run_id)
    );
    let _ = writeln!(
        html,
        "<p class=\"totals\"><span class=\"badge passed\">{} passed</span> \
         <span class=\"badge failed\">{} failed</span> \
         <span class=\"badge skipped\">{} skipped</span> \
         <span class=\"badge xfail\">{} known failure(s)</span> \
         <span class=\"badge xpass\">{} known failure(s) now passing</span>{} <span class=\"muted\">of {} case(s)</span></p>",
        summary.passed,
        summary.failed,
        summary.skipped,
        summary.expected_failures,
        summary.unexpected_passes,
        if summary.flaky > 0 {
            format!(
                " <span class=\"badge flaky\">{} flaky</span>",
                summary.flaky
            )
        } else {
            String::new()
        },
        summary.total
    );
    html.push_str("<dl class=\"facts\">");
    let _ = write!(
        html,
        "<dt>tool</dt><dd>rtc-interop {}</dd>",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(started) = started {
        let _ = write!(html, "<dt>started</dt><dd>{started}</dd>");
    }
    let _ = write!(html, "<dt>browsers</dt><dd>{browsers}</dd>");
    if !profiles.is_empty() {
        let profiles: Vec<&str> = profiles.into_iter().collect();
        let _ = write!(
            html,
            "<dt>native profile</dt><dd>{}</dd>",
            profiles.join(", ")
        );
    }
    html.push_str("</dl>\n</header>\n");
    html
}

/// The worst of several statuses: failed, then skipped, then passed.
fn worst(statuses: impl Iterator<Item = Status>) -> Option<Status> {
    let rank = |s: &Status| match s {
        Status::Passed => 0,
        Status::Flaky => 1,
        Status::Skipped => 2,
        Status::ExpectedFailure => 3,
        Status::UnexpectedPass => 4,
        Status::Failed => 5,
    };
    statuses.max_by_key(rank)
}

/// A scenario's pairing matrix: offerer kinds down, answerer kinds across, every kind that took
/// part in the scenario on both axes.
fn matrix(scenario: &str, cases: &[(usize, &CaseResult)]) -> String {
    let kinds: BTreeSet<PeerKind> = cases
        .iter()
        .flat_map(|(_, r)| [r.offerer, r.answerer])
        .collect();
    let mut html = format!(
        "<h3>{}</h3>\n<table class=\"matrix\">\n<tr><th class=\"corner\">offerer ↓ answerer →</th>",
        escape(scenario)
    );
    for kind in &kinds {
        let _ = write!(html, "<th>{kind}</th>");
    }
    html.push_str("</tr>\n");
    for &offerer in &kinds {
        let _ = write!(html, "<tr><th>{offerer}</th>");
        for &answerer in &kinds {
            let here: Vec<&(usize, &CaseResult)> = cases
                .iter()
                .filter(|(_, r)| r.offerer == offerer && r.answerer == answerer)
                .collect();
            html.push_str(&matrix_cell(offerer, answerer, &here));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// One matrix cell: a link per case of that pairing (normally one), or a dash when none ran. A
/// pairing played several times (`--repeat`) shows its pass rate and one small link per run.
fn matrix_cell(offerer: PeerKind, answerer: PeerKind, cases: &[&(usize, &CaseResult)]) -> String {
    let Some(status) = worst(cases.iter().map(|(_, r)| r.status)) else {
        return "<td class=\"cell none\">—</td>".to_string();
    };
    let mut html = format!(
        "<td class=\"cell {}\" data-pairing=\"{offerer}→{answerer}\">",
        status.as_str()
    );
    if cases.len() > 1 {
        let rate = RunSummary::of(cases.iter().map(|(_, r)| *r));
        let _ = write!(
            html,
            "<span class=\"rate\">{}</span>",
            escape(&rate.describe_as_rate())
        );
        for (index, result) in cases {
            let _ = write!(
                html,
                "<a class=\"run {}\" href=\"#{}\" title=\"{}\">{}</a>",
                result.status.as_str(),
                case_id(*index),
                escape(result.failure.as_deref().unwrap_or(result.status.as_str())),
                result.repetition.map_or("·".into(), |n| n.to_string()),
            );
        }
        html.push_str("</td>");
        return html;
    }
    for (index, result) in cases {
        let pair = match result.status {
            Status::Skipped => String::new(),
            _ => pair_summary(&result.selected_pair),
        };
        let _ = write!(
            html,
            "<a href=\"#{}\" title=\"{}\"><span class=\"status\">{}</span>\
             <span class=\"ttc\">{}</span><span class=\"pair\">{}</span>{}</a>",
            case_id(*index),
            escape(result.failure.as_deref().unwrap_or(result.status.as_str())),
            result.status.as_str(),
            connected(result),
            escape(&pair),
            result
                .failure
                .as_deref()
                .map_or_else(String::new, |f| format!(
                    "<span class=\"why\">{}</span>",
                    escape(&shorten(f, 80))
                )),
        );
    }
    html.push_str("</td>");
    html
}

/// `connected in 75.5 ms`, `never connected`, or `not run`.
fn connected(r: &CaseResult) -> String {
    match r.time_to_connected_ms {
        Some(t) => format!("connected in {}", ms(t)),
        None if r.status == Status::Skipped => "not run".to_string(),
        None => "never connected".to_string(),
    }
}

/// The first `max` characters of `text`, with `…` when it was longer.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The selected pair's candidate types, offerer's end first: `host↔prflx`, as the offerer saw it,
/// and as the answerer saw it when that differs.
fn pair_summary(pair: &Sides<Option<SelectedPair>>) -> String {
    let offerer = pair
        .offerer
        .as_ref()
        .map(|p| format!("{}↔{}", p.local.kind, p.remote.kind));
    let answerer = pair
        .answerer
        .as_ref()
        .map(|p| format!("{}↔{}", p.remote.kind, p.local.kind));
    match (offerer, answerer) {
        (Some(o), Some(a)) if o == a => o,
        (Some(o), Some(a)) => format!("{o} (answerer: {a})"),
        (Some(o), None) => o,
        (None, Some(a)) => format!("answerer: {a}"),
        (None, None) => "no selected pair".to_string(),
    }
}

/// One case's section: open when it failed.
/// A case's section, and its evidence (shown when the section is opened; see [`evidence`]).
fn case_section(index: usize, r: &CaseResult) -> (String, String) {
    let status = r.status.as_str();
    let open = if r.status.fails_run() { " open" } else { "" };
    let mut html = format!(
        "<details class=\"case {status}\" id=\"{}\"{open}>\n<summary><span class=\"badge {status}\">{status}</span> \
         <b>{}</b> {} → {}{} <span class=\"muted\">{} · took {}</span></summary>\n<div class=\"body\">\n",
        case_id(index),
        escape(&r.scenario),
        r.offerer,
        r.answerer,
        r.repetition.map_or(String::new(), |n| format!(" #{n}")),
        connected(r),
        ms(r.duration_ms),
    );
    if let Some(failure) = &r.failure {
        html.push_str(&failure_block(failure));
    }
    for (n, attempt) in r.attempts.iter().enumerate() {
        let _ = writeln!(
            html,
            "<p class=\"muted\">attempt {} of {} failed after {}:</p>",
            n + 1,
            r.attempts.len() + 1,
            ms(attempt.duration_ms)
        );
        html.push_str(&failure_block(attempt.failure.as_deref().unwrap_or("?")));
    }
    html.push_str(&artifacts(r));
    html.push_str(&evidence::placeholder(index));
    html.push_str("</div>\n</details>\n");
    (html, case_evidence(r))
}

/// Links to the files written for the case (`--capture`), relative to the run's folder.
fn artifacts(r: &CaseResult) -> String {
    if r.artifacts.is_empty() {
        return String::new();
    }
    let links: Vec<String> = r
        .artifacts
        .iter()
        .map(|a| {
            format!(
                "<a href=\"{}\">{}</a> <span class=\"muted\">({})</span>",
                escape(&a.path),
                escape(&a.name),
                escape(&a.about)
            )
        })
        .collect();
    format!("<p class=\"artifacts\">Files: {}</p>\n", links.join(" · "))
}

/// Everything a case's section shows below its failure.
fn case_evidence(r: &CaseResult) -> String {
    let mut html = case_facts(r);
    html.push_str("<h4>State timelines</h4>\n");
    html.push_str(&timeline::render(r));
    html.push_str(&media::render(r));
    html.push_str("<h4>Candidates</h4>\n");
    html.push_str(&candidates(r));
    html.push_str("<h4>Data channel</h4>\n");
    html.push_str(&steps(r));
    html.push_str(&data_channel(r));
    let _ = writeln!(
        html,
        "<h4>Signaling <span class=\"muted\">({} message(s) through the relay)</span></h4>",
        r.signaling.len()
    );
    html.push_str(&ladder::render(r));
    html.push_str(&errors(r));
    html.push_str(&lint(r));
    html.push_str(&sdp(r));
    html
}

/// The unmet expectations, one per line.
fn failure_block(failure: &str) -> String {
    let mut html = String::from("<ul class=\"failure\">");
    for line in failure.split("; ") {
        let _ = write!(html, "<li>{}</li>", escape(line));
    }
    html.push_str("</ul>\n");
    html
}

fn case_facts(r: &CaseResult) -> String {
    let mut html = String::from("<dl class=\"facts\">");
    let _ = write!(
        html,
        "<dt>pairing</dt><dd>{}</dd><dt>duration</dt><dd>{}</dd>\
         <dt>time to connected</dt><dd>{}</dd><dt>echo round trip</dt><dd>{}</dd>",
        escape(&r.pairing),
        ms(r.duration_ms),
        optional_ms(r.time_to_connected_ms),
        optional_ms(r.echo_round_trip_ms),
    );
    if let Some(profile) = r.native_profile {
        let _ = write!(html, "<dt>native profile</dt><dd>{}</dd>", profile.as_str());
    }
    if let Some(network) = &r.network {
        for (role, place) in [
            ("offerer", &network.offerer),
            ("answerer", &network.answerer),
        ] {
            let _ = write!(
                html,
                "<dt>{role} network</dt><dd>{} NAT · host {} · public {} · <span class=\"muted\">{}</span></dd>",
                place.nat,
                escape(&place.address),
                escape(&place.public_ip),
                escape(&place.namespace)
            );
        }
    }
    let mut browsers: Vec<_> = r.browsers.iter().collect();
    browsers.dedup();
    for b in browsers {
        let _ = write!(
            html,
            "<dt>{}</dt><dd title=\"{}\">{}</dd>",
            b.kind,
            escape(&b.user_agent),
            escape(&b.version)
        );
    }
    html.push_str("</dl>\n");
    html
}

/// `host udp 192.0.2.2:5000`; an address the stack hid shows as `(hidden)`.
fn pair_end(end: &PairEnd) -> String {
    let address = match end.address.as_str() {
        "" => "(hidden)".to_string(),
        a if a.contains(':') => format!("[{a}]"),
        a => a.to_string(),
    };
    format!("{} {} {address}:{}", end.kind, end.protocol, end.port)
}

/// Whether a candidate is the given end of the selected pair.
fn is_end(c: &Candidate, end: Option<&PairEnd>) -> bool {
    end.is_some_and(|e| e.address == c.address && e.port == c.port && e.protocol == c.protocol)
}

/// Per side: the candidates it gathered and received, and the pair it selected.
fn candidates(r: &CaseResult) -> String {
    let mut html = String::from("<div class=\"sides\">\n");
    for (role, kind, sets, pair) in [
        (
            "offerer",
            r.offerer,
            &r.candidates.offerer,
            &r.selected_pair.offerer,
        ),
        (
            "answerer",
            r.answerer,
            &r.candidates.answerer,
            &r.selected_pair.answerer,
        ),
    ] {
        let _ = write!(
            html,
            "<div class=\"side\"><h5>{}</h5>\n<table class=\"grid\"><tr><th></th><th>type</th>\
             <th>protocol</th><th>address</th><th>port</th><th></th></tr>\n",
            side_name(role, kind)
        );
        let rows = [
            ("local", &sets.local, pair.as_ref().map(|p| &p.local)),
            ("remote", &sets.remote, pair.as_ref().map(|p| &p.remote)),
        ];
        for (direction, list, end) in rows {
            if list.is_empty() {
                let _ = writeln!(
                    html,
                    "<tr><td>{direction}</td><td colspan=\"5\" class=\"muted\">none</td></tr>"
                );
            }
            for c in list {
                let selected = is_end(c, end);
                let _ = writeln!(
                    html,
                    "<tr{}><td>{direction}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if selected { " class=\"selected\"" } else { "" },
                    c.kind,
                    escape(&c.protocol),
                    escape(&c.address),
                    c.port,
                    if selected { "selected" } else { "" },
                );
            }
        }
        html.push_str("</table>\n");
        let selected = pair.as_ref().map_or_else(
            || "<span class=\"muted\">none</span>".to_string(),
            |p| {
                format!(
                    "{} ↔ {}",
                    escape(&pair_end(&p.local)),
                    escape(&pair_end(&p.remote))
                )
            },
        );
        let _ = writeln!(
            html,
            "<p class=\"pair\">selected pair (local ↔ remote): {selected}</p></div>"
        );
    }
    html.push_str("</div>\n");
    html
}

/// The plan's steps as each side played them: when each began and ended, and how.
fn steps(r: &CaseResult) -> String {
    let count = r.steps.offerer.len().max(r.steps.answerer.len());
    if count == 0 {
        return String::new();
    }
    let mut html = format!(
        "<h4>Steps</h4>\n<table class=\"grid steps\"><tr><th>#</th><th>do</th><th>by</th>\
         <th>{}</th><th>{}</th></tr>\n",
        side_name("offerer", r.offerer),
        side_name("answerer", r.answerer)
    );
    let cell = |log: Option<&StepLog>| match log {
        None => "<td class=\"muted\">not reached</td>".to_string(),
        Some(s) => {
            let how = match (&s.error, &s.skipped, s.ended_at_ms) {
                (Some(error), _, _) => format!("failed: {error}"),
                (None, Some(why), _) => format!("skipped: {why}"),
                (None, None, Some(_)) if s.acted => "done".into(),
                (None, None, Some(_)) => "saw it".into(),
                (None, None, None) => "still waiting".into(),
            };
            format!(
                "<td class=\"{}\">{} → {} · {}</td>",
                if s.error.is_some() { "failed" } else { "" },
                optional_ms(Some(s.started_at_ms)),
                optional_ms(s.ended_at_ms),
                escape(&how)
            )
        }
    };
    for index in 0..count {
        let (offerer, answerer) = (r.steps.offerer.get(index), r.steps.answerer.get(index));
        let any = offerer.or(answerer).expect("one side reached it");
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}{}</tr>",
            index + 1,
            escape(&any.kind),
            escape(&any.by),
            cell(offerer),
            cell(answerer)
        );
    }
    html.push_str("</table>\n");
    html
}

/// Every data channel on each side: its life, its traffic, and the first message's echo.
fn data_channel(r: &CaseResult) -> String {
    let mut html = String::from(
        "<table class=\"grid\"><tr><th></th><th>label</th><th>opened</th><th>closed</th>\
         <th>sent</th><th>received</th><th>echoed</th><th>came back</th><th>first echo</th>\
         <th>round trip</th><th>send errors</th></tr>\n",
    );
    let sides: [(&str, PeerKind, &Vec<DataChannelLog>); 2] = [
        ("offerer", r.offerer, &r.channels.offerer),
        ("answerer", r.answerer, &r.channels.answerer),
    ];
    for (role, kind, logs) in sides {
        if logs.is_empty() {
            let _ = writeln!(
                html,
                "<tr><th>{}</th><td colspan=\"10\" class=\"muted\">no data channel</td></tr>",
                side_name(role, kind)
            );
        }
        for log in logs {
            let echo = log.echo.as_ref();
            let intact = echo.map_or("—", |e| match &e.received {
                Some(back) if *back == e.sent => "intact",
                Some(_) => "changed",
                None => "no reply",
            });
            let _ = writeln!(
                html,
                "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{} ({} B)</td><td>{} ({} B)</td>\
                 <td>{}</td><td>{}</td><td title=\"{}\">{intact}</td><td>{}</td><td>{}</td></tr>",
                side_name(role, kind),
                escape(&log.label),
                optional_ms(log.opened_at_ms),
                optional_ms(log.closed_at_ms),
                log.messages_sent,
                log.bytes_sent,
                log.messages_received,
                log.bytes_received,
                log.messages_echoed,
                log.echoes_matched,
                escape(&echo.map_or_else(String::new, |e| format!(
                    "sent: {}\nback: {}",
                    e.sent,
                    e.received.as_deref().unwrap_or("(nothing)")
                ))),
                optional_ms(echo.and_then(|e| e.round_trip_ms())),
                escape(&log.send_errors.join("; ")),
            );
        }
    }
    html.push_str("</table>\n");
    html
}

/// What the signaling lint found, when it found anything.
fn lint(r: &CaseResult) -> String {
    if r.lint.is_empty() {
        return String::new();
    }
    let mut html = String::from("<h4>Signaling lint</h4>\n<ul class=\"errors\">");
    for finding in &r.lint {
        let _ = write!(
            html,
            "<li><code>{}</code> {}</li>",
            finding.rule.as_str(),
            escape(&finding.sentence())
        );
    }
    html.push_str("</ul>\n");
    html
}

/// Errors each side met, when there are any.
fn errors(r: &CaseResult) -> String {
    if r.errors.offerer.is_empty() && r.errors.answerer.is_empty() {
        return String::new();
    }
    let mut html = String::from("<h4>Errors the peers met</h4>\n");
    for (role, kind, list) in [
        ("offerer", r.offerer, &r.errors.offerer),
        ("answerer", r.answerer, &r.errors.answerer),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(
            html,
            "<h5>{}</h5><ul class=\"errors\">",
            side_name(role, kind)
        );
        for e in list {
            let _ = write!(html, "<li>{}</li>", escape(e));
        }
        html.push_str("</ul>\n");
    }
    html
}

/// The session descriptions, folded away (open when a snapshot check failed), with their
/// snapshot checks.
fn sdp(r: &CaseResult) -> String {
    let count = r.sdp.offerer.len() + r.sdp.answerer.len();
    let failed = r.snapshots.iter().filter(|c| !c.passed()).count();
    let checks = if r.snapshots.is_empty() {
        String::new()
    } else if failed == 0 {
        format!("; {} snapshot(s) match", r.snapshots.len())
    } else {
        format!("; {failed} of {} snapshot(s) differ", r.snapshots.len())
    };
    let mut html = format!(
        "<details class=\"sdp\"{}><summary>SDP ({count} description(s){checks})</summary>\n",
        if failed > 0 { " open" } else { "" }
    );
    if !r.snapshots.is_empty() {
        html.push_str(
            "<table class=\"grid\"><tr><th>description</th><th>snapshot</th><th>outcome</th>\
             <th>changes</th></tr>\n",
        );
        for c in &r.snapshots {
            let mut notes: Vec<String> = c.changes.clone();
            if let Some(pending) = &c.pending {
                notes.push(format!("pending review: {}", pending.display()));
            }
            if let Some(error) = &c.error {
                notes.push(error.clone());
            }
            let notes: Vec<String> = notes.iter().map(|n| escape(n)).collect();
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}.snap</td><td>{}</td><td>{}</td></tr>",
                escape(&c.label()),
                escape(&c.name),
                c.outcome.as_str(),
                notes.join("<br>")
            );
        }
        html.push_str("</table>\n");
    }
    for (role, kind, list) in [
        ("offerer", r.offerer, &r.sdp.offerer),
        ("answerer", r.answerer, &r.sdp.answerer),
    ] {
        for d in list {
            let _ = writeln!(
                html,
                "<h5>{} set its {} @ {}</h5><pre>{}</pre>",
                side_name(role, kind),
                escape(&d.kind),
                ms(d.at_ms),
                escape(d.sdp.trim_end())
            );
        }
    }
    html.push_str("</details>\n");
    html
}

/// Opens a case's section when the address names it (a matrix link to a closed case).
/// Opens the case a link points at, and fills a case's evidence in when it is opened (a click or
/// a link) or, for cases open from the start (failed ones), when it scrolls near the screen: a
/// report with a hundred failures unpacks only what is looked at.
const NAVIGATION_SCRIPT: &str = "document.addEventListener('toggle',function(e){if(e.target.open)fill(e.target);},true);\n\
function openTarget(){var e=document.getElementById(location.hash.slice(1));if(e&&e.tagName==='DETAILS'){e.open=true;fill(e);}}\n\
var nearScreen=new IntersectionObserver(function(entries){entries.forEach(function(e){if(e.isIntersecting){nearScreen.unobserve(e.target);fill(e.target.closest('details'));}});},{rootMargin:'1000px'});\n\
document.querySelectorAll('details.case[open] .evidence[data-case]').forEach(function(e){nearScreen.observe(e);});\n\
addEventListener('hashchange',openTarget);openTarget();\n";

const STYLE: &str = r#"
:root{--passed:#dafbe1;--passed-ink:#1a7f37;--failed:#ffebe9;--failed-ink:#cf222e;--skipped:#eaeef2;--skipped-ink:#57606a;--line:#d0d7de}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:0 auto;padding:16px 24px;max-width:1200px}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px;margin-top:28px}
h3{font-size:15px;margin:16px 0 6px}h4{font-size:14px;margin:18px 0 6px}h5{font-size:13px;margin:8px 0 4px}
code,pre,.grid td{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.muted{color:#656d76;font-weight:normal}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.badge.passed{background:var(--passed);color:var(--passed-ink)}.badge.failed{background:var(--failed);color:var(--failed-ink)}.badge.skipped{background:var(--skipped);color:var(--skipped-ink)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}dl.facts dt{color:#656d76}dl.facts dd{margin:0}
table.matrix{border-collapse:collapse;margin:4px 0 12px}
table.matrix th{padding:6px 10px;background:#f6f8fa;border:1px solid var(--line);font-weight:600}
table.matrix th.corner{font-weight:normal;color:#656d76;font-size:12px}
td.cell{border:1px solid var(--line);padding:0;min-width:170px;vertical-align:top}
td.cell a{display:block;padding:6px 10px;color:inherit;text-decoration:none}td.cell a:hover{outline:2px solid #0969da}
td.cell span{display:block}td.cell .why{font-size:11px;color:#57606a;max-width:260px;margin-top:2px}td.cell .status{font-weight:600}td.cell .pair,td.cell .ttc{font-size:12px}
td.passed{background:var(--passed)}td.passed .status{color:var(--passed-ink)}
td.failed{background:var(--failed)}td.failed .status{color:var(--failed-ink)}
td.skipped{background:var(--skipped)}td.skipped .status{color:var(--skipped-ink)}
/* A known failure is not a regression: amber, not red. One that now passes is flagged violet. */
.badge.xfail,td.xfail{background:#fdf0d5;color:#8a5a00}td.cell .rate{display:block;font-weight:600;margin-bottom:4px}td.cell a.run{display:inline-block;min-width:1.6em;margin:1px;padding:0 3px;border-radius:3px;text-align:center;font-size:11px;background:#fff}td.cell a.run.failed,td.cell a.run.xpass{background:#82071e;color:#fff}td.cell a.run.flaky{background:#bf8700;color:#fff}.badge.flaky,td.flaky{background:#fff3bf;color:#7a5d00}.badge.xpass,td.xpass{background:#eadcf8;color:#5b2a86}
details.case.xfail{border-left-color:#8a5a00}details.case.flaky{border-left-color:#7a5d00}details.case.xpass{border-left-color:#5b2a86}
td.none{color:#8c959f;text-align:center;vertical-align:middle;background:repeating-linear-gradient(45deg,#fff,#fff 6px,#f6f8fa 6px,#f6f8fa 12px)}
details.case{border:1px solid var(--line);border-left-width:5px;border-radius:6px;margin:10px 0}
/* Off-screen cases and tables are not laid out until scrolled to: a merged report of thousands of cases opens fast. */
details.case,table.matrix,table.grid,details.sdp{content-visibility:auto;contain-intrinsic-size:auto 44px}
details.case.passed{border-left-color:var(--passed-ink)}details.case.failed{border-left-color:var(--failed-ink)}details.case.skipped{border-left-color:var(--skipped-ink)}
details.case>summary{cursor:pointer;padding:8px 12px;background:#f6f8fa}
details.case>.body{padding:4px 16px 12px}
ul.failure{background:var(--failed);color:#82071e;border-radius:6px;padding:8px 8px 8px 28px;margin:10px 0;font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap}
ul.errors{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap}
.sides{display:flex;flex-wrap:wrap;gap:16px}.side{flex:1 1 420px}
table.grid{border-collapse:collapse}table.grid th,table.grid td{border:1px solid var(--line);padding:2px 8px;text-align:left}
table.grid th{background:#f6f8fa;font-weight:600;font-size:12px}
tr.selected td{background:#ddf4ff;font-weight:600}
p.pair{margin:4px 0;font-family:ui-monospace,monospace;font-size:12px}
svg{display:block;max-width:100%;height:auto}
.legend{font-size:12px;margin:4px 0}.legend span{display:inline-block;margin-right:10px}
.legend i{display:inline-block;width:12px;height:12px;border:1px solid #8c959f;vertical-align:-2px;margin-right:4px}
.legend i.line{width:18px;height:0;border:0;vertical-align:middle}
details.sdp{margin-top:14px}details.sdp summary{cursor:pointer;font-weight:600}
details.sdp-compare{margin:0 0 16px}details.sdp-compare summary{cursor:pointer}
pre.sdp-table mark{background:#fff8c5;display:inline-block;min-width:100%}
pre{background:#f6f8fa;padding:8px;overflow-x:auto;border-radius:6px}
"#;

#[cfg(test)]
mod tests;
