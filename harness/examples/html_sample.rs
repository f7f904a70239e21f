//! Renders `report.html` from a run's `report.json`, to look at the HTML report without a run:
//!
//! ```sh
//! cargo run --release --example html_sample -- reports/latest/report.json /tmp/report-sample.html
//! ```
//!
//! `CaseResult` is only `Serialize`, so the JSON is read back field by field here.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde_json::Value;

use rtc_interop::observe::Candidate;
use rtc_interop::outcome::{CandidateSets, CaseResult, Sides, Status};
use rtc_interop::peer::BrowserInfo;
use rtc_interop::relay::TraceEntry;
use rtc_interop::report::{HtmlReport, Reporter, RunEvent};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let input = args
        .next()
        .unwrap_or_else(|| "/tmp/sample-report.json".into());
    let output = args
        .next()
        .unwrap_or_else(|| "/tmp/report-sample.html".into());
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&input)?)?;
    let results = document["cases"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("{input} has no `cases`"))?
        .iter()
        .map(case)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut report = HtmlReport::new(PathBuf::from(&output));
    let run_id = document["run_id"].as_str().unwrap_or("sample");
    report.on_event(&RunEvent::Started { run_id, cases: &[] })?;
    report.on_event(&RunEvent::Finished { results: &results })?;
    println!("wrote {output}");
    Ok(())
}

fn get<T: DeserializeOwned>(value: &Value, key: &str) -> anyhow::Result<T> {
    serde_json::from_value(value[key].clone()).map_err(|e| anyhow::anyhow!("`{key}`: {e}"))
}

fn sides<T>(value: &Value, read: impl Fn(&Value) -> anyhow::Result<T>) -> anyhow::Result<Sides<T>> {
    Ok(Sides {
        offerer: read(&value["offerer"])?,
        answerer: read(&value["answerer"])?,
    })
}

fn candidate(value: &Value) -> anyhow::Result<Candidate> {
    Ok(Candidate {
        kind: get(value, "type")?,
        protocol: get(value, "protocol")?,
        address: get(value, "address")?,
        port: get(value, "port")?,
        component: get(value, "component")?,
        related_address: get(value, "related_address")?,
        tcp_type: get(value, "tcp_type")?,
    })
}

/// Each element of a JSON array (none when it is missing).
fn list<T>(value: &Value, read: fn(&Value) -> anyhow::Result<T>) -> anyhow::Result<Vec<T>> {
    value
        .as_array()
        .map_or(Ok(Vec::new()), |a| a.iter().map(read).collect())
}

fn candidates(value: &Value) -> anyhow::Result<CandidateSets> {
    Ok(CandidateSets {
        local: list(&value["local"], candidate)?,
        remote: list(&value["remote"], candidate)?,
    })
}

fn trace_entry(value: &Value) -> anyhow::Result<TraceEntry> {
    Ok(TraceEntry {
        at_ms: get(value, "at_ms")?,
        room: get(value, "room")?,
        connection: get(value, "connection")?,
        kind: get(value, "type")?,
        sender: get(value, "sender")?,
        delivered_to: get(value, "delivered_to")?,
        message: value["message"].clone(),
    })
}

fn browser(value: &Value) -> anyhow::Result<BrowserInfo> {
    Ok(BrowserInfo {
        kind: get(value, "kind")?,
        version: get(value, "version")?,
        user_agent: get(value, "user_agent")?,
    })
}

fn case(value: &Value) -> anyhow::Result<CaseResult> {
    let status = match value["status"].as_str() {
        Some("passed") => Status::Passed,
        Some("skipped") => Status::Skipped,
        _ => Status::Failed,
    };
    Ok(CaseResult {
        scenario: get(value, "scenario")?,
        pairing: get(value, "pairing")?,
        offerer: get(value, "offerer")?,
        answerer: get(value, "answerer")?,
        status,
        failure: get(value, "failure")?,
        started_at_ms: get(value, "started_at_ms")?,
        duration_ms: get(value, "duration_ms")?,
        time_to_connected_ms: get(value, "time_to_connected_ms")?,
        echo_round_trip_ms: get(value, "echo_round_trip_ms")?,
        native_profile: get(value, "native_profile")?,
        browsers: list(&value["browsers"], browser)?,
        ice_states: sides(&value["ice_states"], |v| {
            Ok(serde_json::from_value(v.clone())?)
        })?,
        connection_states: sides(&value["connection_states"], |v| {
            Ok(serde_json::from_value(v.clone())?)
        })?,
        gathering_states: sides(&value["gathering_states"], |v| {
            Ok(serde_json::from_value(v.clone())?)
        })?,
        candidates: sides(&value["candidates"], candidates)?,
        selected_pair: sides(&value["selected_pair"], |v| {
            Ok(serde_json::from_value(v.clone())?)
        })?,
        data_channel: sides(&value["data_channel"], |v| {
            Ok(serde_json::from_value(v.clone())?)
        })?,
        sdp: sides(&value["sdp"], |v| Ok(serde_json::from_value(v.clone())?))?,
        errors: sides(&value["errors"], |v| Ok(serde_json::from_value(v.clone())?))?,
        signaling: list(&value["signaling"], trace_entry)?,
    })
}
