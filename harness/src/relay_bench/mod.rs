//! `rtc-interop bench relay`: the standalone relay side by side with a minimal Node `ws` relay
//! (rooms by path, forward to the others), both driven by the same load in the same run: a Node
//! generator for throughput and memory, blocking Rust clients for burst latency (burst.rs).
//!
//! Each relay runs as its own process, so its resident memory (`VmRSS`) is its own. Figures:
//! round trips of 200 rooms × 2 clients ping-ponging (messages per second, p50/p99), the latency
//! of the last of 5 back-to-back frames whose receiver replies, memory per idle connection (2 000
//! open), and memory before and after 10⁵ messages. Throughput and latency are medians over the
//! rounds; rounds alternate between the relays.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::bench::median;
use crate::bounded::BoundedCommand;

mod burst;

/// The Node baseline relay and the load generator, written next to their `ws` package.
const NODE_RELAY: &str = include_str!("../../bench/node-relay.mjs");
const LOAD: &str = include_str!("../../bench/relay-load.mjs");

const PING_PONG_ROOMS: usize = 200;
const BURST_PAIRS: usize = 20;
const BURSTS_PER_PAIR: usize = 10;
const IDLE_CONNECTIONS: usize = 2000;
const LOAD_MESSAGES: usize = 100_000;
/// Any one step of the load generator finishes well within this, or the bench stops.
const STEP_TIMEOUT: Duration = Duration::from_secs(150);
const NODE_VERSION_TIMEOUT: Duration = Duration::from_secs(10);
/// `npm install ws@8` from the registry: seconds, unless the registry is slow.
const NPM_INSTALL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How long and how often to measure.
#[derive(Debug, Clone)]
pub struct RelayBenchSettings {
    /// Rounds of the throughput and burst measurements (medians are reported).
    pub rounds: usize,
    /// Seconds of ping-pong per round.
    pub seconds: u64,
}

/// One relay's figures.
#[derive(Debug, Clone, Default)]
pub struct RelayFigures {
    /// Which relay.
    pub name: String,
    /// Messages relayed per second (median over the rounds).
    pub msgs_per_s: f64,
    /// Ping-pong round trip, median of the rounds' p50 and p99 (ms).
    pub rtt_p50_ms: f64,
    /// See `rtt_p50_ms`.
    pub rtt_p99_ms: f64,
    /// The last frame of a burst of 5, to the receiver's reply (ms).
    pub burst_p50_ms: f64,
    /// See `burst_p50_ms`.
    pub burst_p99_ms: f64,
    /// Resident memory of the fresh relay (KB).
    pub rss_start_kb: u64,
    /// After 10⁵ messages, their clients gone (KB).
    pub rss_after_load_kb: u64,
    /// With 2 000 idle connections open (KB).
    pub rss_idle_kb: u64,
    /// The relay's CPU time during ping-pong, as a share of one core (median over the rounds).
    pub relay_cpu_share: f64,
    /// Messages relayed per second of the relay's own CPU time: what it would reach on a core of
    /// its own, whoever else needs the machine (median over the rounds).
    pub msgs_per_cpu_s: f64,
    /// The load generator's CPU time during ping-pong, as a share of one core (median). Near 1.0
    /// it, a single Node thread, limits `msgs_per_s` rather than the relay.
    pub load_cpu_share: f64,
}

impl RelayFigures {
    /// Memory per idle connection (KB).
    pub fn per_idle_connection_kb(&self) -> f64 {
        (self.rss_idle_kb as f64 - self.rss_after_load_kb as f64) / IDLE_CONNECTIONS as f64
    }
}

/// A relay under measurement: its process and the URL base of its rooms.
struct RunningRelay {
    name: String,
    child: Child,
    url: String,
}

impl RunningRelay {
    /// Starts `command`, whose first stderr line names its address (`… ws://ADDR/<room>`).
    fn start(name: &str, mut command: Command) -> Result<RunningRelay, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the {name}: {e}"))?;
        let stderr = child.stderr.take().expect("piped");
        let (lines, first) = mpsc::channel();
        // Keeps reading its log so it never writes into a full or closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let line = first.recv_timeout(Duration::from_secs(10));
        let addr = line
            .as_deref()
            .ok()
            .and_then(|l| l.split("ws://").nth(1))
            .and_then(|rest| rest.split('/').next())
            .map(str::to_string);
        match addr {
            Some(addr) => Ok(RunningRelay {
                name: name.to_string(),
                child,
                url: format!("ws://{addr}"),
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("the {name} did not say where it listens: {line:?}"))
            }
        }
    }

    /// CPU time the relay has used so far (user + system).
    fn cpu_seconds(&self) -> Result<f64, String> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .map_err(|e| format!("cannot read the {}'s CPU time: {e}", self.name))?;
        // Fields after the command name (which may hold spaces): state is the 3rd field, utime
        // and stime the 14th and 15th.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let ticks: Vec<u64> = after_name
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|t| t.parse().ok())
            .collect();
        match ticks[..] {
            [user, system] => Ok((user + system) as f64 / clock_ticks_per_second()),
            _ => Err(format!("no CPU times in the {}'s /proc stat", self.name)),
        }
    }

    fn rss_kb(&self) -> Result<u64, String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .map_err(|e| format!("cannot read the {}'s memory: {e}", self.name))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("no VmRSS for the {}", self.name))
    }
}

impl Drop for RunningRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Node side: the folder holding the scripts and their `ws` package.
struct Node {
    dir: PathBuf,
}

impl Node {
    /// Finds `node`, installs `ws` into the harness's own cache folder when missing (never
    /// globally), and writes the scripts there.
    fn prepare() -> Result<Node, String> {
        let version = Command::new("node")
            .arg("--version")
            .output_within(NODE_VERSION_TIMEOUT);
        if !version.is_ok_and(|o| o.status.success()) {
            return Err(
                "`node` is not on PATH: the load generator and the baseline relay are \
                        Node scripts (install nodejs and npm)"
                    .into(),
            );
        }
        let dir = crate::provision::cache_dir()?.join("relay-bench");
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {dir:?}: {e}"))?;
        if !dir.join("node_modules/ws/package.json").exists() {
            eprintln!("rtc-interop: installing the `ws` npm package into {dir:?} …");
            let installed = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .arg("ws@8")
                .stdout(Stdio::null())
                .status_within(NPM_INSTALL_TIMEOUT);
            if !installed.is_ok_and(|s| s.success()) {
                return Err(format!("`npm install ws@8` into {dir:?} failed"));
            }
        }
        for (name, text) in [("node-relay.mjs", NODE_RELAY), ("relay-load.mjs", LOAD)] {
            std::fs::write(dir.join(name), text)
                .map_err(|e| format!("cannot write {name}: {e}"))?;
        }
        Ok(Node { dir })
    }

    fn relay(&self) -> Result<RunningRelay, String> {
        let mut command = Command::new("node");
        command.arg(self.dir.join("node-relay.mjs"));
        RunningRelay::start("Node relay", command)
    }

    fn load(&self, args: &[String]) -> Command {
        let mut command = Command::new("node");
        command.arg(self.dir.join("relay-load.mjs")).args(args);
        command
    }

    /// Runs one load step to its end and returns its JSON line, and the CPU time it used.
    fn step_with_cpu(&self, args: &[String]) -> Result<(serde_json::Value, f64), String> {
        let before = children_cpu_seconds();
        let value = self.step(args)?;
        Ok((value, children_cpu_seconds() - before))
    }

    /// Runs one load step to its end and returns its JSON line.
    fn step(&self, args: &[String]) -> Result<serde_json::Value, String> {
        let mut child = self
            .load(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the load generator: {e}"))?;
        let line = next_line(child.stdout.take().expect("piped"), STEP_TIMEOUT);
        let _ = child.kill();
        let _ = child.wait();
        let line = line.map_err(|e| format!("load step {args:?}: {e}"))?;
        serde_json::from_str(&line).map_err(|e| format!("load step {args:?} printed {line:?}: {e}"))
    }
}

/// CPU time (user + system) of this process's children that ended and were waited for.
fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The first line `out` prints, within `timeout`.
fn next_line(out: ChildStdout, timeout: Duration) -> Result<String, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(out).read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(line)) if !line.is_empty() => Ok(line),
        Ok(Ok(_)) => Err("ended without output".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// `host:port` of a `ws://host:port/room` URL.
fn address_of(room_url: &str) -> Result<&str, String> {
    room_url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| format!("not a ws:// URL: {room_url}"))
}

/// The value below which a share `q` of the sorted `values` lie (as the Node generator computes it).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((q * sorted.len() as f64) as usize).min(sorted.len() - 1);
    sorted[at]
}

fn number(value: &serde_json::Value, key: &str) -> f64 {
    value[key].as_f64().unwrap_or(f64::NAN)
}

/// Memory before and after 10⁵ messages, then with 2 000 idle connections.
fn measure_memory(
    node: &Node,
    relay: &RunningRelay,
    figures: &mut RelayFigures,
) -> Result<(), String> {
    let settle = || std::thread::sleep(Duration::from_millis(1000));
    figures.rss_start_kb = relay.rss_kb()?;
    let rooms = PING_PONG_ROOMS.to_string();
    node.step(&[
        "count".into(),
        relay.url.clone(),
        rooms,
        LOAD_MESSAGES.to_string(),
    ])?;
    settle();
    figures.rss_after_load_kb = relay.rss_kb()?;

    let mut idle = node
        .load(&[
            "idle".into(),
            relay.url.clone(),
            IDLE_CONNECTIONS.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the load generator: {e}"))?;
    let ready = next_line(idle.stdout.take().expect("piped"), STEP_TIMEOUT);
    if ready.is_ok() {
        settle();
        figures.rss_idle_kb = relay.rss_kb()?;
    }
    let _ = idle.kill();
    let _ = idle.wait();
    ready
        .map(|_| ())
        .map_err(|e| format!("opening {IDLE_CONNECTIONS} idle connections: {e}"))
}

/// What one round measured of one relay.
#[derive(Clone)]
struct Round {
    pingpong: serde_json::Value,
    burst: burst::BurstFigures,
    /// The relay's CPU seconds during the ping-pong step.
    relay_cpu: f64,
    /// The load generator's CPU seconds during the ping-pong step.
    load_cpu: f64,
}

/// Runs the whole comparison.
pub fn run(settings: &RelayBenchSettings) -> Result<Vec<RelayFigures>, String> {
    let node = Node::prepare()?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut ours = Command::new(exe);
    ours.args(["relay", "--listen", "127.0.0.1:0"]);
    let relays = [
        RunningRelay::start("rtc-interop relay", ours)?,
        node.relay()?,
    ];
    let mut figures: Vec<RelayFigures> = relays
        .iter()
        .map(|r| RelayFigures {
            name: r.name.clone(),
            ..RelayFigures::default()
        })
        .collect();
    for (relay, figures) in relays.iter().zip(&mut figures) {
        eprintln!("rtc-interop: {}: memory …", relay.name);
        measure_memory(&node, relay, figures)?;
    }
    let mut rounds: Vec<Vec<Round>> = vec![Vec::new(); 2];
    for round in 1..=settings.rounds {
        for (i, relay) in relays.iter().enumerate() {
            eprintln!("rtc-interop: {}: round {round} …", relay.name);
            let url = relay.url.clone();
            let relay_cpu_before = relay.cpu_seconds()?;
            let (pingpong, load_cpu) = node.step_with_cpu(&[
                "pingpong".into(),
                url.clone(),
                PING_PONG_ROOMS.to_string(),
                settings.seconds.to_string(),
            ])?;
            let relay_cpu = relay.cpu_seconds()? - relay_cpu_before;
            let burst = burst::measure(&url, BURST_PAIRS, BURSTS_PER_PAIR)?;
            rounds[i].push(Round {
                pingpong,
                burst,
                relay_cpu,
                load_cpu,
            });
        }
    }
    for (figures, rounds) in figures.iter_mut().zip(&rounds) {
        let of = |pick: &dyn Fn(&Round) -> f64| median(rounds.iter().map(pick)).unwrap_or(f64::NAN);
        figures.msgs_per_s = of(&|r| number(&r.pingpong, "msgs_per_s"));
        figures.rtt_p50_ms = of(&|r| number(&r.pingpong, "p50_ms"));
        figures.rtt_p99_ms = of(&|r| number(&r.pingpong, "p99_ms"));
        figures.burst_p50_ms = of(&|r| r.burst.p50_ms);
        figures.burst_p99_ms = of(&|r| r.burst.p99_ms);
        figures.relay_cpu_share = of(&|r| r.relay_cpu / number(&r.pingpong, "seconds"));
        figures.load_cpu_share = of(&|r| r.load_cpu / number(&r.pingpong, "seconds"));
        figures.msgs_per_cpu_s = of(&|r| number(&r.pingpong, "messages") / r.relay_cpu);
    }
    Ok(figures)
}

/// The figures as a table, each of ours also as a ratio against the Node relay's, and the
/// issue's targets checked.
pub fn render(figures: &[RelayFigures], settings: &RelayBenchSettings) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "relay bench: {PING_PONG_ROOMS} rooms × 2 clients ping-pong ({} s × {} round(s), medians); \
         bursts of 5 frames in {BURST_PAIRS} pairs (blocking Rust clients); {IDLE_CONNECTIONS} idle connections; \
         {LOAD_MESSAGES} messages",
        settings.seconds, settings.rounds
    );
    let _ = writeln!(
        out,
        "{:<18} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "relay",
        "msg/s",
        "relay CPU",
        "msg/CPU-s",
        "load CPU",
        "rtt p50",
        "rtt p99",
        "burst p50",
        "burst p99",
        "RSS start",
        "after 1e5",
        "KB/idle"
    );
    for f in figures {
        let _ = writeln!(
            out,
            "{:<18} {:>9.0} {:>8.0}% {:>9.0} {:>8.0}% {:>8.2} {:>8.2} {:>9.2} {:>9.2} {:>8}K {:>8}K {:>10.1}",
            f.name,
            f.msgs_per_s,
            f.relay_cpu_share * 100.0,
            f.msgs_per_cpu_s,
            f.load_cpu_share * 100.0,
            f.rtt_p50_ms,
            f.rtt_p99_ms,
            f.burst_p50_ms,
            f.burst_p99_ms,
            f.rss_start_kb,
            f.rss_after_load_kb,
            f.per_idle_connection_kb()
        );
    }
    if let [ours, node] = figures {
        let throughput = ours.msgs_per_s / node.msgs_per_s;
        let per_cpu = ours.msgs_per_cpu_s / node.msgs_per_cpu_s;
        let grown_kb = ours.rss_after_load_kb as i64 - ours.rss_start_kb as i64;
        let _ = writeln!(
            out,
            "ratios (ours / Node): msg/s {throughput:.2}×, msg per CPU-second {per_cpu:.2}×, rtt p50 {:.2}×, burst p99 {:.2}×, KB per idle connection {:.2}×",
            ours.rtt_p50_ms / node.rtt_p50_ms,
            ours.burst_p99_ms / node.burst_p99_ms,
            ours.per_idle_connection_kb() / node.per_idle_connection_kb()
        );
        // One Node thread generates the load: when it is near a whole core, msg/s is its limit,
        // and only the relays' CPU cost per message tells them apart.
        let saturated = figures.iter().filter(|f| f.load_cpu_share >= 0.9).count();
        if saturated > 0 {
            let _ = writeln!(
                out,
                "note: the load generator used ≥ 90 % of a core in {saturated} of 2 measurements: \
                 msg/s is bounded by it there, msg per CPU-second is not"
            );
        }
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        let _ = writeln!(
            out,
            "targets: throughput ≥ 1.5× Node: msg/s {}, per CPU-second {}; burst p99 ≤ 2 ms: {}; \
             RSS flat after the load (+{grown_kb} KB, ≤ 5 MB): {}; ≤ 16 KB per idle connection: {}",
            met(throughput >= 1.5),
            met(per_cpu >= 1.5),
            met(ours.burst_p99_ms <= 2.0),
            met(grown_kb <= 5 * 1024),
            met(ours.per_idle_connection_kb() <= 16.0)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_from_the_sorted_values() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 101.0);
        assert_eq!(quantile(&values, 0.99), 199.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    fn figures(name: &str, msgs_per_s: f64, msgs_per_cpu_s: f64, load: f64) -> RelayFigures {
        RelayFigures {
            name: name.into(),
            msgs_per_s,
            msgs_per_cpu_s,
            load_cpu_share: load,
            relay_cpu_share: 0.8,
            burst_p99_ms: 1.5,
            ..RelayFigures::default()
        }
    }

    #[test]
    fn throughput_is_judged_per_second_and_per_cpu_second_and_a_saturated_generator_is_named() {
        let settings = RelayBenchSettings {
            rounds: 1,
            seconds: 1,
        };
        let text = render(
            &[
                figures("ours", 80_000.0, 160_000.0, 0.97),
                figures("node", 80_000.0, 80_000.0, 0.95),
            ],
            &settings,
        );
        assert!(
            text.contains("msg/s 1.00×, msg per CPU-second 2.00×"),
            "{text}"
        );
        assert!(text.contains("msg/s NOT met, per CPU-second met"), "{text}");
        assert!(text.contains("in 2 of 2 measurements"), "{text}");

        let text = render(
            &[
                figures("ours", 160_000.0, 160_000.0, 0.5),
                figures("node", 80_000.0, 80_000.0, 0.5),
            ],
            &settings,
        );
        assert!(!text.contains("bounded by it"), "{text}");
    }

    #[test]
    fn a_process_cpu_time_is_read_from_proc() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo 'x ws://127.0.0.1:1/<room>' >&2; while :; do :; done",
        ]);
        let relay = RunningRelay::start("busy loop", command).unwrap();
        let first = relay.cpu_seconds().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let later = relay.cpu_seconds().unwrap();
        assert!(later > first, "{first} then {later}");
    }
}
