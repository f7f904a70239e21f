//! report.html as people use it: opened from disk in headless Chromium and Firefox (no network,
//! no external assets). The pairing matrix, a failed case's section and its timelines render,
//! nothing logs an error, and a 5 000-case merged report opens with its failed cases' evidence.
//! How fast it opens is `rtc-interop bench report`'s to measure, not a test's.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, browser_turn, write_scenario};
use rtc_interop::bounded::BoundedCommand;
use rtc_interop::peer::DriverService;
use rtc_interop::report::ReportDocument;
use rtc_interop::scenario::{HostCandidates, PeerKind};
use serde_json::{Value, json};

const ECHO: &str = "peers = [\"native\"]\nnative_profile = \"fast\"\n[data_channel]\nlabel = \"echo\"\n[expect]\necho = true\n";
/// Connects, so it has timelines and a ladder, and fails: no relay candidate without TURN.
const NEEDS_RELAY: &str = "peers = [\"native\"]\nnative_profile = \"fast\"\n[data_channel]\nlabel = \"x\"\n[expect.local_candidates]\nrequire = [\"relay\"]\n";

/// Records every error and `console.error` of the page, from its first script on.
const ERROR_RECORDER: &str = "<script>window.reportErrors=[];addEventListener('error',function(e){reportErrors.push(String(e.message))});var ce=console.error;console.error=function(){reportErrors.push([].join.call(arguments,' '));ce.apply(console,arguments)};</script>";

/// A real run's report folder: one passed and one failed case.
fn real_report(dir: &Path) -> std::path::PathBuf {
    write_scenario(dir, "echo", ECHO);
    write_scenario(dir, "needs-relay", NEEDS_RELAY);
    let output = Command::new(BIN)
        .args(["run", "--snapshots", "off"])
        .current_dir(dir)
        .output_within(common::RUN_LIMIT)
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let latest = dir.join("reports/latest");
    dir.join("reports")
        .join(std::fs::read_link(latest).unwrap())
}

/// A merged report of `count` cases grown from the real run's two (as `bench report` grows
/// one), re-rendered by `report`.
fn big_report(real: &Path, out: &Path, count: usize) {
    let real = ReportDocument::read(&ReportDocument::file_of(real)).unwrap();
    let report = rtc_interop::report_bench::grow(&real, count).to_json();
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join("report.json"), report).unwrap();
    let output = Command::new(BIN)
        .arg("report")
        .arg(out)
        .output_within(common::QUICK_LIMIT)
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn eval(client: &fantoccini::Client, script: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(30), client.execute(script, vec![]))
        .await
        .unwrap_or_else(|_| panic!("`{script}` took over 30 s"))
        .unwrap_or_else(|e| panic!("`{script}`: {e}"))
}

/// Waits (up to 10 s) until `condition` is true in the page: a case's evidence is unpacked
/// asynchronously once the case is opened.
async fn wait_until(client: &fantoccini::Client, condition: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while eval(client, &format!("return !!({condition});")).await != json!(true) {
        assert!(Instant::now() < deadline, "`{condition}` never became true");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Scrolls to the first failed case (open from the start) and waits until its evidence is
/// unpacked.
async fn show_first_failed_case(client: &fantoccini::Client) {
    eval(
        client,
        "document.querySelector('details.case.failed').scrollIntoView();",
    )
    .await;
    wait_until(
        client,
        "document.querySelector('details.case.failed .evidence.filled')",
    )
    .await;
}

async fn check_in(kind: PeerKind, small: &Path, big: &Path) {
    let install = rtc_interop::provision::locate(kind).expect("installed (`rtc-interop install`)");
    let driver = DriverService::start(install).await.unwrap();
    let (client, _) = driver.new_session(HostCandidates::Ip, None).await.unwrap();
    let url = |p: &Path| format!("file://{}", p.display());

    client.goto(&url(small)).await.unwrap();
    // Scrolled to, a failed case (open from the start) unpacks its evidence.
    show_first_failed_case(&client).await;
    let seen = eval(
        &client,
        "var failed = document.querySelector('details.case.failed');
         var rendered = function(sel, root) { return [].slice.call((root || document).querySelectorAll(sel))
             .filter(function(e) { var r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; }).length; };
         return {
           matrices: rendered('table.matrix'),
           cells: rendered('td.cell'),
           failedOpen: !!(failed && failed.open),
           failedTimelines: failed ? rendered('svg.timeline', failed) : 0,
           failedLadders: failed ? rendered('svg.ladder', failed) : 0,
           failure: failed ? failed.querySelector('ul.failure').textContent : '',
           errors: window.reportErrors,
         };",
    )
    .await;
    assert_eq!(seen["matrices"], 2, "{kind}: {seen}");
    assert_eq!(seen["cells"], 2, "{kind}: {seen}");
    assert_eq!(seen["failedOpen"], true, "{kind}: {seen}");
    assert!(
        seen["failedTimelines"].as_u64() >= Some(1),
        "{kind}: {seen}"
    );
    assert_eq!(seen["failedLadders"], 1, "{kind}: {seen}");
    assert!(
        seen["failure"]
            .as_str()
            .unwrap()
            .contains("offerer (native)"),
        "{kind}: {seen}"
    );
    assert_eq!(seen["errors"], json!([]), "{kind}: {seen}");
    // A passed case opens from a link in the matrix, with its evidence.
    eval(
        &client,
        "location.hash = document.querySelector('td.cell.passed a').getAttribute('href');",
    )
    .await;
    wait_until(
        &client,
        "document.querySelector(location.hash + ' .evidence.filled')",
    )
    .await;
    let passed = eval(
        &client,
        "var d = document.querySelector(location.hash);
         return { open: d.open, timelines: d.querySelectorAll('svg.timeline').length, errors: window.reportErrors };",
    )
    .await;
    assert_eq!(passed["open"], true, "{kind}: {passed}");
    assert!(passed["timelines"].as_u64() >= Some(1), "{kind}: {passed}");
    assert_eq!(passed["errors"], json!([]), "{kind}: {passed}");

    client.goto(&url(big)).await.unwrap();
    // Its failed cases are open from the start; their evidence is unpacked as they come near
    // the screen: the one at the top at once, the last one once scrolled to.
    show_first_failed_case(&client).await;
    eval(&client, "var f = document.querySelectorAll('details.case.failed'); f[f.length - 1].scrollIntoView();").await;
    wait_until(&client, "(function(){ var f = document.querySelectorAll('details.case.failed'); return f[f.length - 1].querySelector('.evidence.filled'); })()").await;
    let opened = eval(
        &client,
        "return { cases: document.querySelectorAll('details.case').length,
                  open: document.querySelectorAll('details.case[open] svg.timeline').length, errors: window.reportErrors };",
    )
    .await;
    assert_eq!(opened["cases"], 5000, "{kind}: {opened}");
    assert_eq!(opened["errors"], json!([]), "{kind}: {opened}");
    let _ = client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_renders_in_both_browsers_and_a_5000_case_report_opens_with_its_evidence() {
    let _turn = browser_turn().await;
    let dir = tempfile::tempdir().unwrap();
    let real = real_report(dir.path());
    // Instrumented copies, so that errors from the page's first line on are caught.
    let instrument = |from: &Path, to: &Path| {
        let html = std::fs::read_to_string(from).unwrap();
        assert!(
            !html.contains(" src=") && !html.contains("<link"),
            "no external assets"
        );
        let html = html.replacen("<head>", &format!("<head>{ERROR_RECORDER}"), 1);
        std::fs::write(to, html).unwrap();
    };
    let small = dir.path().join("small.html");
    instrument(&real.join("report.html"), &small);
    let big_folder = dir.path().join("big");
    big_report(&real, &big_folder, 5000);
    let big = dir.path().join("big.html");
    instrument(&big_folder.join("report.html"), &big);
    for kind in [PeerKind::Chromium, PeerKind::Firefox] {
        check_in(kind, &small, &big).await;
    }
}
