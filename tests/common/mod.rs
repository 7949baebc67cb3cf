//! Test harness: a real throwaway PostgreSQL per test binary, an in-process daemon, and a
//! scraper that reads `/metrics` over HTTP the way Prometheus does.
//!
//! The cluster comes from `pgvitals::pgcluster` (initdb into a temp dir, a free port on
//! 127.0.0.1, `pg_stat_statements` preloaded, run as `postgres` when root; `PGVITALS_PG_BIN`
//! picks the binaries). It is stopped and removed when the test process exits, panics included.
//! A missing PostgreSQL fails the tests loudly: nothing is skipped.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod alertmanager;
pub mod pgbouncer;
pub mod prometheus;
pub mod proxy;
pub mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use pgvitals::config::Config;
use pgvitals::daemon::Daemon;
use pgvitals::pgcluster::Cluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::{Client, NoTls};

/// The role the daemon connects as in tests: what the README tells users to create.
pub const MONITOR_ROLE: &str = "pgvitals_monitor";

/// The cluster shared by the tests of one binary (each test makes its own database).
pub fn shared_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        // Room for the 5,000-statement test without evictions.
        let c = Cluster::start(&["pg_stat_statements.max = 10000"])
            .expect("starting the test PostgreSQL cluster");
        prepare(&c);
        c
    })
}

/// Creates the monitoring role and pg_stat_statements on a new cluster.
pub fn prepare(cluster: &Cluster) {
    let dsn = cluster.dsn("postgres", "postgres");
    block_on(async move {
        let c = connect(&dsn).await;
        c.batch_execute(&format!(
            "CREATE ROLE {MONITOR_ROLE} LOGIN; GRANT pg_monitor TO {MONITOR_ROLE};
             CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
        ))
        .await
        .expect("creating the monitoring role");
    });
}

fn block_on<F>(f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    // OnceLock init may run inside a test's runtime: use a separate thread with its own.
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        })
        .join()
        .unwrap()
    })
}

/// Connects as the given DSN and drives the connection in the background.
pub async fn connect(dsn: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(dsn, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {dsn}: {e}"));
    tokio::spawn(conn);
    client
}

/// Creates a fresh database with a unique name and returns its name.
pub async fn fresh_database(cluster: &Cluster, prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("{prefix}_{}", N.fetch_add(1, Ordering::Relaxed));
    let admin = connect(&cluster.dsn("postgres", "postgres")).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    name
}

/// A config for one target `main` on `database`, listening on a free port, with `extra` YAML
/// appended (e.g. a `collectors:` section).
pub fn config(cluster: &Cluster, database: &str, extra: &str) -> Config {
    let yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n  - name: main\n    dsn: \"{}\"\n{extra}",
        cluster.dsn(MONITOR_ROLE, database)
    );
    Config::parse(&yaml, "<test>").unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// Starts a daemon in-process.
pub async fn start(config: Config) -> Daemon {
    Daemon::start(config).await.expect("starting the daemon")
}

/// A minimal HTTP/1.1 GET over TCP; returns (status, body).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    parse_response(&raw_get(addr, path, &[]).await)
}

/// A minimal HTTP/1.1 GET over TCP with extra `headers`; returns the raw response.
pub async fn raw_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    buf
}

/// Polls `probe` every `every` until it returns `Ok` — for external processes (Alertmanager,
/// Prometheus), which offer no change to await; panics after `timeout` with `what` and the last
/// `Err` it got.
pub async fn poll_until<T, F, Fut>(timeout: Duration, every: Duration, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    try_poll_until(timeout, every, probe)
        .await
        .unwrap_or_else(|last| {
            panic!("timed out after {timeout:?} waiting for {what}; last: {last}")
        })
}

/// [`poll_until`] for checks that report rather than panic: `Err` with the last `Err` the probe
/// gave once `timeout` has passed.
pub async fn try_poll_until<T, F, Fut>(
    timeout: Duration,
    every: Duration,
    mut probe: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(v) => return Ok(v),
            Err(last) if tokio::time::Instant::now() >= deadline => return Err(last),
            Err(_) => {}
        }
        tokio::time::sleep(every).await;
    }
}

/// A free 127.0.0.1 address for an external server the test starts.
pub fn free_local_addr() -> SocketAddr {
    let port = pgvitals::pgcluster::free_port().expect("a free port");
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A child process killed (and reaped) when the test lets go of it.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child's stderr, read line by line in the background, for tests that wait on log lines.
pub struct LogLines {
    rx: std::sync::mpsc::Receiver<String>,
    /// Every line read so far.
    pub lines: Vec<String>,
}

impl LogLines {
    /// Starts reading `stream` (a child's stderr, or its stdout).
    pub fn read(stream: impl std::io::Read + Send + 'static) -> LogLines {
        use std::io::BufRead;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        LogLines {
            rx,
            lines: Vec::new(),
        }
    }

    /// Reads until a line contains `want` and returns it; panics after 60 s with the log.
    pub fn wait_for(&mut self, want: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(want);
                    self.lines.push(line);
                    if found {
                        return self.lines.last().unwrap().clone();
                    }
                }
                Err(_) => panic!(
                    "no log line with `{want}` within 60 s:\n{}",
                    self.lines.join("\n")
                ),
            }
        }
    }

    /// Every line up to the end of the stream (the process has exited), joined.
    pub fn until_closed(&mut self) -> String {
        self.lines.extend(self.rx.iter());
        self.lines.join("\n")
    }
}

/// A minimal HTTP/1.1 request with any method and an empty body; returns (status, body).
pub async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    parse_response(&buf)
}

/// (status, body) of a raw HTTP/1.1 response; a chunked body is decoded.
pub fn parse_response(raw: &[u8]) -> (u16, String) {
    let text = String::from_utf8(raw.to_vec()).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    if !chunked {
        return (status, body.to_string());
    }
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return (status, out);
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// `GET path` answered 200 with JSON; returns it parsed.
pub async fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = get(addr, path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Reads `/alerts` until `cond` holds, waking on every snapshot change (each evaluation is
/// one); panics after `timeout`. Returns the matching alerts document.
pub async fn wait_for_alerts(
    daemon: &Daemon,
    timeout: Duration,
    what: &str,
    cond: impl Fn(&[serde_json::Value]) -> bool,
) -> serde_json::Value {
    wait_for_json(daemon, "/alerts", timeout, what, |doc| {
        cond(doc["data"]["alerts"].as_array().expect("data.alerts"))
    })
    .await
}

/// Reads the JSON document at `path` (`/alerts`, `/rules`, ...) until `cond` holds, waking on
/// every snapshot change; panics after `timeout`. Returns the matching document.
pub async fn wait_for_json(
    daemon: &Daemon,
    path: &str,
    timeout: Duration,
    what: &str,
    cond: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut changes = daemon.snapshot().subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        changes.borrow_and_update();
        let doc = get_json(daemon.addr(), path).await;
        if cond(&doc) {
            return doc;
        }
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .is_err()
        {
            panic!("timed out after {timeout:?} waiting for {what}; last {path}:\n{doc:#}");
        }
    }
}

/// The firing alert `name` whose labels include `want`, in an `/alerts` document.
pub fn firing_alert<'a>(
    alerts: &'a serde_json::Value,
    name: &str,
    want: &[(&str, &str)],
) -> Option<&'a serde_json::Value> {
    alerts_named(alerts["data"]["alerts"].as_array()?, name)
        .into_iter()
        .find(|a| a["state"] == "firing" && want.iter().all(|(k, v)| a["labels"][*k] == *v))
}

/// Waits until alert `name` fires with labels including `want`; returns it.
pub async fn wait_firing(
    daemon: &Daemon,
    timeout: Duration,
    name: &str,
    want: &[(&str, &str)],
) -> serde_json::Value {
    let alerts = wait_for_json(daemon, "/alerts", timeout, &format!("{name} firing"), |a| {
        firing_alert(a, name, want).is_some()
    })
    .await;
    firing_alert(&alerts, name, want).unwrap().clone()
}

/// The alerts of one rule in an `/alerts` list.
pub fn alerts_named<'a>(alerts: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == name)
        .collect()
}

/// Scrapes `/metrics` and parses it.
pub async fn scrape(addr: SocketAddr) -> Metrics {
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    Metrics::parse(&body)
}

/// A parsed exposition: samples by name.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// The raw text.
    pub text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Metrics {
    /// Parses the text format (enough of it for pgvitals' output).
    pub fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not a sample line: `{line}`"));
            let value = sample_value(line, value);
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, parse_labels(rest.trim_end_matches('}'))),
                None => (series, BTreeMap::new()),
            };
            samples.push((name.to_string(), labels, value));
        }
        Metrics {
            text: text.to_string(),
            samples,
        }
    }

    /// All samples of `name` whose labels include `want`.
    pub fn all(&self, name: &str, want: &[(&str, &str)]) -> Vec<(&BTreeMap<String, String>, f64)> {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, l, v)| (l, *v))
            .collect()
    }

    /// The one sample of `name` with labels `want`, if present.
    pub fn get(&self, name: &str, want: &[(&str, &str)]) -> Option<f64> {
        let all = self.all(name, want);
        assert!(
            all.len() <= 1,
            "{name}{want:?} matches {} series",
            all.len()
        );
        all.first().map(|(_, v)| *v)
    }
}

/// The value of a sample line of the text format (`NaN`, `+Inf`, `-Inf` or a float); panics
/// with the line when it is anything else, so an unparsable value fails the test instead of
/// being read as some number.
pub fn sample_value(line: &str, value: &str) -> f64 {
    match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|e| panic!("unparsable value `{v}` ({e}) in sample line `{line}`")),
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

/// Scrapes until `cond` holds, waking on every snapshot change; panics after `timeout`.
pub async fn wait_for(
    daemon: &Daemon,
    timeout: Duration,
    what: &str,
    cond: impl Fn(&Metrics) -> bool,
) -> Metrics {
    let mut changes = daemon.snapshot().subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        changes.borrow_and_update();
        let m = scrape(daemon.addr()).await;
        if cond(&m) {
            return m;
        }
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .is_err()
        {
            panic!(
                "timed out after {timeout:?} waiting for {what}; last scrape:\n{}",
                m.text
            );
        }
    }
}

/// Waits until `/readyz` says every target was polled.
pub async fn wait_ready(daemon: &Daemon) {
    let mut changes = daemon.snapshot().subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        changes.borrow_and_update();
        if get(daemon.addr(), "/readyz").await.0 == 200 {
            return;
        }
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("daemon not ready within 60 s")
            .unwrap();
    }
}

/// `server_version_num` of the server behind `client`.
pub async fn server_version(client: &Client) -> i32 {
    client
        .query_one("SELECT current_setting('server_version_num')::int4", &[])
        .await
        .unwrap()
        .get(0)
}

/// Polls a collector once, directly (no scheduler), over `client`; panics on failure.
pub async fn collect_once(
    collector: &mut dyn pgvitals::collectors::Collector,
    client: &Client,
    server_version: i32,
) -> pgvitals::collectors::Output {
    let cx = pgvitals::collectors::PollContext {
        client,
        server_version,
    };
    match collector.collect(cx).await {
        Ok(o) => o,
        Err(f) => panic!("poll failed: {:#}", f.error),
    }
}

/// Runs `sql` (one int8 column, one row) until `done` holds for its value; panics after 30 s.
/// For statistics, which backends publish asynchronously: there is nothing to await but the
/// numbers themselves.
pub async fn wait_for_value(client: &Client, sql: &str, what: &str, done: impl Fn(i64) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let v: i64 = client.query_one(sql, &[]).await.unwrap().get(0);
        if done(v) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {v} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
