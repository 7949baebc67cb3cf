//! The `pgvitals` command: parses the command line and hands over to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pgvitals::config::Config;
use pgvitals::daemon::{wait_for_signal, Daemon};
use tokio::signal::unix::{signal, SignalKind};

/// PostgreSQL health monitor: polls your servers on its own schedule and serves Prometheus
/// metrics from memory.
#[derive(Parser)]
#[command(name = "pgvitals", version, about)]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum LintFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOnArg {
    Critical,
    Warning,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon.
    Run {
        /// Configuration file.
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
    },
    /// Validate a configuration file and print the effective configuration (secrets masked).
    /// Exits 0 when valid, 2 when not.
    CheckConfig {
        /// Configuration file.
        #[arg(default_value = "config.yaml")]
        file: PathBuf,
    },
    /// Print the configured alert rules as a Prometheus rule file (for `promtool check rules`
    /// and for alerting in Prometheus).
    Rules {
        /// Configuration file.
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
    },
    /// Check SQL migration files against the safe-migration rules before they run. Prints
    /// `file:line:col: rule: message` and the fix; exits 0 when clean, 1 with findings, 2 when
    /// a file cannot be read or the server of --dsn cannot be asked.
    LintMigration {
        /// SQL files; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Ask this server how large the tables are (otherwise a table not created earlier in
        /// the same input counts as large).
        #[arg(long)]
        dsn: Option<String>,
        /// Take `standards.large_table` (what counts as large) from this configuration file;
        /// default 100 MiB or 1,000,000 rows.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = LintFormat::Text)]
        format: LintFormat,
    },
    /// Poll every target once over one statements interval and print a report: performance
    /// targets met or missed, top statements, findings with fixes, running schema changes,
    /// alerts whose condition holds. Exits 0 when every target is met and no alert at
    /// --fail-on holds, 1 otherwise, 2 on bad input (a configuration that does not load, a
    /// --dsn that does not connect).
    Report {
        /// Configuration file (every target in it).
        #[arg(long, short, conflicts_with = "dsn", required_unless_present = "dsn")]
        config: Option<PathBuf>,
        /// One server, by DSN (`postgres://…` or `host=… dbname=…`).
        #[arg(long)]
        dsn: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = LintFormat::Text)]
        format: LintFormat,
        /// The lowest alert severity that fails the report.
        #[arg(long, value_enum, default_value_t = FailOnArg::Critical)]
        fail_on: FailOnArg,
        /// The interval the statements are measured over (default: the configuration's
        /// collectors.statements.interval, 15s).
        #[arg(long, value_parser = humantime::parse_duration)]
        interval: Option<std::time::Duration>,
    },
    /// Start a throwaway PostgreSQL with a small workload and serve its metrics until Ctrl-C.
    Demo {
        /// Address to serve on (default: the config default, 127.0.0.1:9816).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
}

/// Colour in log lines only on a terminal, and never with `NO_COLOR` set (no-color.org): a
/// file or a pipe gets plain text.
fn log_colour() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(log_colour())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A report's output is the report: the daemon it runs logs warnings only.
    let quiet = matches!(cli.command, Cmd::Report { .. });
    init_logging(cli.log_format, if quiet { "warn" } else { "info" });
    match cli.command {
        Cmd::CheckConfig { file } => match Config::load(&file) {
            Ok(config) => {
                print!("{}", config.masked_yaml());
                eprintln!("{}: valid", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Rules { config } => match Config::load(&config) {
            Ok(config) => {
                let rules = pgvitals::alerts::rules::build(&config);
                print!("{}", pgvitals::alerts::promrules::render(&config, &rules));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Run { config: path } => {
            let config = match Config::load(&path) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            runtime(async move {
                // Before anything is logged as listening: SIGHUP's default action ends the process.
                let mut hangup = signal(SignalKind::hangup())?;
                let daemon = Daemon::start_from_file(config, &path).await?;
                let stop = wait_for_signal();
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = hangup.recv() => {
                            tracing::info!("SIGHUP received, reloading {}", path.display());
                            if let Err(e) = daemon.reload_file().await {
                                tracing::error!("configuration reload refused, the running configuration stays: {e:#}");
                            }
                        }
                    }
                }
                daemon.shutdown().await;
                Ok(())
            })
        }
        Cmd::Demo { listen } => runtime(pgvitals::demo::run(listen)),
        Cmd::Report {
            config,
            dsn,
            format,
            fail_on,
            interval,
        } => report(config, dsn, format, fail_on, interval),
        Cmd::LintMigration {
            files,
            dsn,
            config,
            format,
        } => {
            let large = match config.map(|c| Config::load(&c)) {
                None => Default::default(),
                Some(Ok(c)) => c.standards.large_table,
                Some(Err(e)) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            lint_migration(&files, dsn.as_deref(), large, format)
        }
    }
}

/// glibc gives every thread that allocates its own malloc arena and keeps freed memory there,
/// so a poll's transient allocations raise RSS once per worker that ever ran a large poll.
/// pgvitals allocates little and rarely contends: one arena keeps RSS at one peak. Measured on
/// the large fixture with pg_stat_statements full: 22.2 MiB after 4 minutes with one arena,
/// 25.9 MiB and rising with glibc's default, the same CPU.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// The daemon's runtime: two workers, one malloc arena.
fn build_runtime() -> tokio::runtime::Runtime {
    one_malloc_arena();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building the tokio runtime")
}

fn runtime(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    match build_runtime().block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `pgvitals report`: exit 0 pass, 1 fail, 2 bad input.
fn report(
    config: Option<PathBuf>,
    dsn: Option<String>,
    format: LintFormat,
    fail_on: FailOnArg,
    interval: Option<std::time::Duration>,
) -> ExitCode {
    let bad = |e: String| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    };
    let mut config = match (config, &dsn) {
        (Some(path), _) => match Config::load(&path) {
            Ok(c) => c,
            Err(e) => return bad(e.to_string()),
        },
        (None, Some(dsn)) => match pgvitals::config::report_config(dsn) {
            Ok(c) => c,
            Err(e) => return bad(format!("--dsn: {e}")),
        },
        (None, None) => return bad("give --config FILE or --dsn DSN".into()),
    };
    if let Some(i) = interval {
        config.collectors.statements.interval = pgvitals::config::Dur(i);
    }
    let fail_on = match fail_on {
        FailOnArg::Critical => pgvitals::report::FailOn::Critical,
        FailOnArg::Warning => pgvitals::report::FailOn::Warning,
    };
    let rt = build_runtime();
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let result = rt.block_on(async {
        if dsn.is_some() {
            pgvitals::report::check_connect(&config)
                .await
                .map_err(|e| (2, format!("--dsn: {e:#}")))?;
        }
        pgvitals::report::run(config, fail_on, progress)
            .await
            .map_err(|e| (2, format!("{e:#}")))
    });
    match result {
        Ok(r) => {
            match format {
                LintFormat::Text => print!(
                    "{}",
                    pgvitals::report::render_text(&r, &pgvitals::report::Paint::for_stdout())
                ),
                LintFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&r).expect("a report serializes")
                ),
            }
            if r.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err((code, e)) => {
            eprintln!("error: {e}");
            ExitCode::from(code)
        }
    }
}

/// `pgvitals lint-migration`: reads every file first (exit 2 if one cannot be read), asks the
/// server of `dsn` for the sizes of the tables they lock, then prints the findings.
fn lint_migration(
    files: &[PathBuf],
    dsn: Option<&str>,
    large: pgvitals::config::LargeTable,
    format: LintFormat,
) -> ExitCode {
    use std::io::Read;
    let mut inputs = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let text = if name == "-" {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map(|_| s)
        } else {
            std::fs::read_to_string(f)
        };
        match text {
            Ok(t) => inputs.push((if name == "-" { "<stdin>".into() } else { name }, t)),
            Err(e) => {
                eprintln!("error: {name}: cannot read: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let sizes = match dsn {
        Some(dsn) => {
            let mut tables: Vec<String> = Vec::new();
            for (_, t) in &inputs {
                tables.extend(pgvitals::lint::tables(t));
            }
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(pgvitals::lint::live_sizes(dsn, &tables, large))
            {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return ExitCode::from(2);
                }
            }
        }
        None => None,
    };
    let lookup = |t: &str| sizes.as_ref().and_then(|s| s.get(t).copied());
    let mut all = Vec::new();
    for (name, text) in &inputs {
        for f in pgvitals::lint::lint(text, &lookup) {
            all.push((name.clone(), f));
        }
    }
    match format {
        LintFormat::Text => {
            for (file, f) in &all {
                println!("{file}:{}:{}: {}: {}", f.line, f.column, f.rule, f.message);
                println!("  fix: {}", f.fix);
            }
        }
        LintFormat::Json => {
            let out: Vec<serde_json::Value> = all
                .iter()
                .map(|(file, f)| {
                    let mut v = serde_json::to_value(f).expect("findings serialize");
                    v["file"] = serde_json::json!(file);
                    v
                })
                .collect();
            println!("{}", serde_json::Value::Array(out));
        }
    }
    if all.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
