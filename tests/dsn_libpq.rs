//! pgvitals reads DSNs as libpq does. Each DSN of a table, in both forms, is tried with psql
//! (libpq itself, with no PG* variable, no ~/.pgpass and no service file to fall back on) and
//! with pgvitals (`Config::parse`, then the session config and TLS helpers the daemon connects
//! with), against a cluster that asks for passwords over TCP and trusts its socket. Both must
//! connect as the same role to the same database, the one the row expects, or both refuse (for
//! pgvitals, refusing the config counts). The keywords pgvitals refuses on purpose although
//! libpq takes them are listed with the reason; pgvitals' error must name them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pgvitals::config::{Config, ResolvedTarget, SslMode};
use pgvitals::db;
use pgvitals::pgcluster::Cluster;
use tokio::sync::OnceCell;
use tokio_postgres::{Client, NoTls};

const PLAIN_ROLE: &str = "dsn_plain";
const PLAIN_PW: &str = "plain-pw";
/// A role, password and database that need quoting: blanks, quotes, a backslash.
const ODD_ROLE: &str = "dsn o'neil x";
const ODD_PW: &str = r"pa ss'wo\rd";
const ODD_DB: &str = "dsn db's";
/// A role and password that need percent-encoding in a URI.
const URI_ROLE: &str = "dsn:u@h/x";
const URI_PW: &str = "p@ss:w/rd?&=%+#";
const DB: &str = "dsn_db";

struct Server {
    cluster: Cluster,
    _hba: tempfile::TempDir,
    /// psql's empty home: no ~/.pgpass, no ~/.pg_service.conf, no ~/.psqlrc.
    home: tempfile::TempDir,
}

/// The cluster of this file: scram-sha-256 for every role but `postgres` over TCP, trust on
/// the socket; the roles and databases of the table.
async fn server() -> &'static Server {
    static SERVER: OnceCell<Server> = OnceCell::const_new();
    SERVER
        .get_or_init(|| async {
            let hba = tempfile::tempdir().unwrap();
            // The server reads the file as `postgres`.
            std::fs::set_permissions(hba.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let file = hba.path().join("pg_hba.conf");
            std::fs::write(
                &file,
                "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
            )
            .unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let setting = format!("hba_file = '{}'", file.display());
            let cluster = tokio::task::spawn_blocking(move || {
                Cluster::start(&[&setting]).expect("starting PostgreSQL with password auth")
            })
            .await
            .unwrap();
            let admin = common::connect(&cluster.dsn("postgres", "postgres")).await;
            let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
            let ident = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            for (role, pw) in [(PLAIN_ROLE, PLAIN_PW), (ODD_ROLE, ODD_PW), (URI_ROLE, URI_PW)] {
                admin
                    .batch_execute(&format!(
                        "CREATE ROLE {} LOGIN PASSWORD {}",
                        ident(role),
                        lit(pw)
                    ))
                    .await
                    .unwrap();
            }
            // `dsn_plain` is also the database a DSN without dbname connects to as that role.
            for database in [DB, ODD_DB, PLAIN_ROLE] {
                admin
                    .batch_execute(&format!("CREATE DATABASE {}", ident(database)))
                    .await
                    .unwrap();
            }
            Server {
                cluster,
                _hba: hba,
                home: tempfile::tempdir().unwrap(),
            }
        })
        .await
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Connected {
        user: String,
        db: String,
    },
    /// Refused while connecting (or, for psql, while reading the DSN).
    Refused(String),
    /// pgvitals refused the configuration.
    RefusedConfig(String),
}

impl Outcome {
    fn refused(&self) -> bool {
        !matches!(self, Outcome::Connected { .. })
    }

    fn is(&self, want: &Want) -> bool {
        match (self, want) {
            (Outcome::Connected { user, db }, Want::Connect(u, d)) => user == u && db == d,
            (o, Want::Refuse) => o.refused(),
            _ => false,
        }
    }

    fn error(&self) -> &str {
        match self {
            Outcome::Connected { .. } => "",
            Outcome::Refused(e) | Outcome::RefusedConfig(e) => e,
        }
    }

    fn short(&self) -> String {
        match self {
            Outcome::Connected { user, db } => format!("connected as {user:?} to {db:?}"),
            Outcome::Refused(e) => format!("refused: {}", e.lines().next().unwrap_or("")),
            Outcome::RefusedConfig(e) => format!("config refused: {e}"),
        }
    }
}

#[derive(Debug)]
enum Want {
    Connect(&'static str, &'static str),
    Refuse,
}

#[derive(Debug)]
enum Ours {
    /// pgvitals does what libpq does; when it refuses, its error contains this.
    Same(Option<&'static str>),
    /// libpq takes the keyword; pgvitals refuses it on purpose, for this reason.
    Refuses {
        keyword: &'static str,
        why: &'static str,
    },
    /// A keyword newer than libpq 15: an older libpq refuses it as unknown.
    NewerThan15 { keyword: &'static str },
}

struct Row {
    name: &'static str,
    dsn: String,
    want: Want,
    ours: Ours,
}

fn row(name: &'static str, dsn: String, want: Want) -> Row {
    Row {
        name,
        dsn,
        want,
        ours: Ours::Same(None),
    }
}

fn refused_naming(name: &'static str, dsn: String, says: &'static str) -> Row {
    Row {
        name,
        dsn,
        want: Want::Refuse,
        ours: Ours::Same(Some(says)),
    }
}

fn deliberately(name: &'static str, dsn: String, keyword: &'static str, why: &'static str) -> Row {
    Row {
        name,
        dsn,
        want: Want::Connect(PLAIN_ROLE, DB),
        ours: Ours::Refuses { keyword, why },
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn table(port: u16, dead: u16, socket_dir: &Path) -> Vec<Row> {
    use Want::*;
    let p = port;
    let s = socket_dir.display().to_string();
    let es = percent_encode(&s);
    let tcp = format!("host=127.0.0.1 port={p}");
    let plain = format!("{tcp} user={PLAIN_ROLE} password={PLAIN_PW} dbname={DB}");
    let uri = format!("postgresql://{PLAIN_ROLE}:{PLAIN_PW}@127.0.0.1:{p}/{DB}");
    vec![
        // Keyword/value form.
        row("kw plain", plain.clone(), Connect(PLAIN_ROLE, DB)),
        row(
            "kw blanks around = and between pairs",
            format!("host = 127.0.0.1\tport= {p}  user =dsn_plain password = {PLAIN_PW}   dbname={DB} "),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "kw quoted values with blanks and escaped quotes",
            format!(r"{tcp} user='dsn o\'neil x' password='pa ss\'wo\\rd' dbname='dsn db\'s'"),
            Connect(ODD_ROLE, ODD_DB),
        ),
        row(
            "kw unquoted values with backslash escapes",
            format!(r"{tcp} user=dsn\ o\'neil\ x password=pa\ ss\'wo\\rd dbname=dsn\ db\'s"),
            Connect(ODD_ROLE, ODD_DB),
        ),
        row(
            "kw URI-ish characters need no escaping",
            format!("{tcp} user={URI_ROLE} password='{URI_PW}' dbname={DB}"),
            Connect(URI_ROLE, DB),
        ),
        row(
            "kw repeated keyword: the last wins",
            format!("{tcp} dbname=postgres user={PLAIN_ROLE} password={PLAIN_PW} dbname={DB}"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "kw no dbname: the user's",
            format!("{tcp} user={PLAIN_ROLE} password={PLAIN_PW}"),
            Connect(PLAIN_ROLE, PLAIN_ROLE),
        ),
        row(
            "kw socket directory",
            format!("host={s} port={p} user={PLAIN_ROLE} dbname={DB}"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "kw two hosts, the first a dead port",
            format!("host=127.0.0.1,127.0.0.1 port={dead},{p} user={PLAIN_ROLE} password={PLAIN_PW} dbname={DB}"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "kw host name with hostaddr",
            format!("host=db.invalid hostaddr=127.0.0.1 port={p} user={PLAIN_ROLE} password={PLAIN_PW} dbname={DB}"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "kw hostaddr alone",
            format!("hostaddr=127.0.0.1 port={p} user={PLAIN_ROLE} password={PLAIN_PW} dbname={DB}"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "kw honoured extras",
            format!("{plain} connect_timeout=5 keepalives=1 keepalives_idle=30 keepalives_interval=5 keepalives_count=3 tcp_user_timeout=10000 gssencmode=disable sslcompression=0 sslsni=1 client_encoding=UTF8 fallback_application_name=x channel_binding=prefer target_session_attrs=any replication=off options='-c work_mem=2MB'"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "kw sslmode=allow, plain server",
            format!("{plain} sslmode=allow"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "kw wrong password",
            format!("{tcp} user={PLAIN_ROLE} password=wrong dbname={DB}"),
            Refuse,
        ),
        row(
            "kw no password over TCP",
            format!("{tcp} user={PLAIN_ROLE} dbname={DB}"),
            Refuse,
        ),
        refused_naming(
            "kw unknown keyword",
            format!("hots=127.0.0.1 port={p} user={PLAIN_ROLE}"),
            "invalid connection option \"hots\"",
        ),
        refused_naming(
            "kw missing =",
            format!("{tcp} user"),
            "missing \"=\" after \"user\"",
        ),
        refused_naming(
            "kw unterminated quote",
            format!("{tcp} user='{PLAIN_ROLE}"),
            "unterminated quoted string",
        ),
        refused_naming(
            "kw invalid sslmode",
            format!("{plain} sslmode=sometimes"),
            "invalid sslmode value",
        ),
        refused_naming(
            "kw more ports than hosts",
            format!("{plain} port={p},{p}"),
            "could not match 2 port numbers to 1 hosts",
        ),
        refused_naming(
            "kw service (no service file)",
            format!("{plain} service=nowhere"),
            "`service`",
        ),
        refused_naming(
            "kw sslmode=require, plain server",
            format!("{plain} sslmode=require"),
            "TLS",
        ),
        deliberately(
            "kw application_name",
            format!("{plain} application_name=other"),
            "application_name",
            "pgvitals names its sessions `pgvitals`",
        ),
        deliberately(
            "kw passfile",
            format!("{plain} passfile=/nonexistent/pgpass"),
            "passfile",
            "the target's password_file is pgvitals' way",
        ),
        deliberately(
            "kw target_session_attrs=read-write",
            format!("{plain} target_session_attrs=read-write"),
            "target_session_attrs",
            "pgvitals' sessions are read-only, so no server would pass",
        ),
        deliberately(
            "kw connect_timeout=0",
            format!("{plain} connect_timeout=0"),
            "connect_timeout",
            "0 waits forever; pgvitals needs a limit",
        ),
        deliberately(
            "kw client_encoding=LATIN1",
            format!("{plain} client_encoding=LATIN1"),
            "client_encoding",
            "pgvitals always talks UTF8",
        ),
        Row {
            name: "kw load_balance_hosts (PostgreSQL 16)",
            dsn: format!("{plain} load_balance_hosts=disable"),
            want: Connect(PLAIN_ROLE, DB),
            ours: Ours::NewerThan15 {
                keyword: "load_balance_hosts",
            },
        },
        // URI form.
        row(
            "uri plain",
            format!("{uri}?sslmode=disable"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "uri percent-encoded user, password and dbname with blanks and quotes",
            format!("postgres://dsn%20o%27neil%20x:pa%20ss%27wo%5Crd@127.0.0.1:{p}/dsn%20db%27s"),
            Connect(ODD_ROLE, ODD_DB),
        ),
        row(
            "uri percent-encoded : @ / ? & = % + #",
            format!("postgresql://dsn%3Au%40h%2Fx:p%40ss%3Aw%2Frd%3F%26%3D%25%2B%23@127.0.0.1:{p}/{DB}"),
            Connect(URI_ROLE, DB),
        ),
        row(
            "uri user and password in the query, percent-encoded",
            format!("postgresql://127.0.0.1:{p}/{DB}?user=dsn%3Au%40h%2Fx&password=p%40ss%3Aw%2Frd%3F%26%3D%25%2B%23&sslmode=disable"),
            Connect(URI_ROLE, DB),
        ),
        row(
            "uri percent-encoded query keywords",
            format!("postgresql://127.0.0.1:{p}/?us%65r={PLAIN_ROLE}&pass%77ord={PLAIN_PW}&dbnam%65={DB}"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "uri repeated query keyword: the last wins",
            format!("{uri}?dbname=postgres&dbname={DB}"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "uri + is not a blank",
            format!("postgresql://dsn+o%27neil+x:pa%20ss%27wo%5Crd@127.0.0.1:{p}/{DB}"),
            Refuse,
        ),
        row(
            "uri percent-encoded socket directory",
            format!("postgresql://{PLAIN_ROLE}@{es}:{p}/{DB}"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "uri socket directory in the query",
            format!("postgresql:///{DB}?host={s}&port={p}&user={PLAIN_ROLE}"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "uri two hosts, the first a dead port",
            format!("postgresql://{PLAIN_ROLE}:{PLAIN_PW}@127.0.0.1:{dead},127.0.0.1:{p}/{DB}"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "uri requiressl=0",
            format!("{uri}?requiressl=0"),
            Connect(PLAIN_ROLE, DB),
        ),
        row(
            "uri wrong password",
            format!("postgresql://{PLAIN_ROLE}:wrong@127.0.0.1:{p}/{DB}"),
            Refuse,
        ),
        refused_naming(
            "uri ssl=true is sslmode=require, plain server",
            format!("{uri}?ssl=true"),
            "TLS",
        ),
        refused_naming(
            "uri invalid percent escape",
            format!("postgresql://{PLAIN_ROLE}:plain%zz@127.0.0.1:{p}/{DB}"),
            "invalid percent-encoded token",
        ),
        refused_naming(
            "uri %00",
            format!("{uri}%00"),
            "forbidden value %00",
        ),
        refused_naming(
            "uri unknown query parameter",
            format!("{uri}?foo=bar"),
            "invalid URI query parameter: \"foo\"",
        ),
        refused_naming(
            "uri query parameter without =",
            format!("{uri}?sslmode"),
            "missing key/value separator",
        ),
        refused_naming(
            "uri unterminated IPv6 address",
            format!("postgresql://[::1:{p}/{DB}"),
            "matching \"]\"",
        ),
        deliberately(
            "uri application_name",
            format!("{uri}?application_name=other"),
            "application_name",
            "pgvitals names its sessions `pgvitals`",
        ),
    ]
}

/// psql with nothing to fall back on: no PG* variable, an empty home, no password prompt.
async fn through_psql(psql: &Path, home: &Path, dsn: &str) -> Outcome {
    let run = tokio::process::Command::new(psql)
        .env_clear()
        .env("HOME", home)
        .args(["-w", "-X", "-A", "-t", "-c"])
        .arg("select current_user, current_database()")
        .arg(format!("--dbname={dsn}"))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("psql finishes")
        .expect("running psql");
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.trim_end().split_once('|') {
        Some((user, db)) if out.status.success() => Outcome::Connected {
            user: user.into(),
            db: db.into(),
        },
        _ => Outcome::Refused(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    }
}

/// The target resolved from a config with this DSN, or why the config is refused.
fn resolve(dsn: &str) -> Result<(ResolvedTarget, Config), String> {
    let yaml = format!(
        "targets:\n  - name: t\n    dsn: {}\n",
        serde_json::to_string(dsn).unwrap()
    );
    let config = Config::parse(&yaml, "<dsn>").map_err(|e| e.to_string())?;
    let target = config
        .resolve_targets()
        .map_err(|e| e.to_string())?
        .remove(0);
    Ok((target, config))
}

/// Opens a session the way the daemon does: its session config, its TLS connector unless
/// `sslmode=disable`, its bound on connecting.
async fn session(target: &ResolvedTarget, config: &Config) -> Result<Client, String> {
    let pg = db::session_config(target, &target.primary_database, &config.connections);
    let connect = async {
        if target.tls.mode == SslMode::Disable {
            let (client, conn) = pg.connect(NoTls).await.map_err(|e| db::error_chain(&e))?;
            tokio::spawn(conn);
            Ok(client)
        } else {
            let tls = db::tls_connector(&target.tls).map_err(|e| format!("{e:#}"))?;
            let (client, conn) = pg.connect(tls).await.map_err(|e| db::error_chain(&e))?;
            tokio::spawn(conn);
            Ok(client)
        }
    };
    tokio::time::timeout(db::connect_deadline(&pg), connect)
        .await
        .map_err(|_| "timed out".to_string())?
}

async fn through_pgvitals(dsn: &str) -> Outcome {
    let (target, config) = match resolve(dsn) {
        Ok(t) => t,
        Err(e) => return Outcome::RefusedConfig(e),
    };
    let client = match session(&target, &config).await {
        Ok(c) => c,
        Err(e) => return Outcome::Refused(e),
    };
    match client
        .query_one("select current_user::text, current_database()::text", &[])
        .await
    {
        Ok(r) => Outcome::Connected {
            user: r.get(0),
            db: r.get(1),
        },
        Err(e) => Outcome::Refused(db::error_chain(&e)),
    }
}

/// The psql of the server binaries in use (next to `initdb`, or to what a symlinked `initdb`
/// points at): the binary itself, not Debian's pg_wrapper, which sets PGHOST and PGPORT.
fn psql_of(cluster: &Cluster) -> PathBuf {
    let initdb = cluster.bin().join("initdb");
    let dirs = [
        Some(cluster.bin().to_path_buf()),
        initdb
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf)),
    ];
    dirs.into_iter()
        .flatten()
        .map(|d| d.join("psql"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no psql next to {}", initdb.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dsn_connects_as_with_libpq_or_is_refused_by_both() {
    let server = server().await;
    let cluster = &server.cluster;
    let psql = psql_of(cluster);
    let dead = pgvitals::pgcluster::free_port().unwrap();
    let rows = table(cluster.port(), dead, cluster.dir());
    assert!(rows.len() >= 25);
    let mut report = String::new();
    let mut failures = Vec::new();
    for row in &rows {
        let libpq = through_psql(&psql, server.home.path(), &row.dsn).await;
        let ours = through_pgvitals(&row.dsn).await;
        report.push_str(&format!(
            "{}\n  dsn:      {}\n  psql:     {}\n  pgvitals: {}\n",
            row.name,
            row.dsn,
            libpq.short(),
            ours.short()
        ));
        let problem = match &row.ours {
            Ours::Same(says) => {
                if !libpq.is(&row.want) {
                    Some(format!("psql: expected {:?}", row.want))
                } else if !ours.is(&row.want) {
                    Some(format!("pgvitals: expected {:?}", row.want))
                } else {
                    says.filter(|s| !ours.error().contains(s))
                        .map(|s| format!("pgvitals' error does not say `{s}`"))
                }
            }
            Ours::Refuses { keyword, why } => {
                report.push_str(&format!(
                    "  (pgvitals refuses `{keyword}` on purpose: {why})\n"
                ));
                if !libpq.is(&row.want) {
                    Some(format!("psql: expected {:?}", row.want))
                } else if !matches!(&ours, Outcome::RefusedConfig(e) if e.contains(&format!("`{keyword}")))
                {
                    Some(format!(
                        "pgvitals: expected its config refused naming `{keyword}`"
                    ))
                } else {
                    None
                }
            }
            Ours::NewerThan15 { keyword } => {
                let unknown = format!("invalid connection option \"{keyword}\"");
                if !(libpq.is(&row.want) || libpq.error().contains(&unknown)) {
                    Some(format!("psql: expected {:?} or `{unknown}`", row.want))
                } else if !ours.is(&row.want) {
                    Some(format!("pgvitals: expected {:?}", row.want))
                } else {
                    None
                }
            }
        };
        if let Some(p) = problem {
            failures.push(format!("{}: {p}", row.name));
        }
    }
    println!("{report}");
    assert!(failures.is_empty(), "{}\n\n{report}", failures.join("\n"));
}

/// A DSN's `options` reach the server in both, and pgvitals' own session settings, sent after
/// them, win where they collide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dsn_s_options_apply_but_pgvitals_settings_win() {
    let server = server().await;
    let cluster = &server.cluster;
    let dsn = format!(
        "host=127.0.0.1 port={} user={PLAIN_ROLE} password={PLAIN_PW} dbname={DB} options='-c work_mem=2MB -c default_transaction_read_only=off -c statement_timeout=0'",
        cluster.port()
    );
    let out = tokio::process::Command::new(psql_of(cluster))
        .env_clear()
        .env("HOME", server.home.path())
        .args(["-w", "-X", "-A", "-t", "-c"])
        .arg("select current_setting('work_mem'), current_setting('default_transaction_read_only')")
        .arg(format!("--dbname={dsn}"))
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2MB|off",
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (target, config) = resolve(&dsn).unwrap();
    let client = session(&target, &config).await.unwrap();
    let row = client
        .query_one(
            "select current_setting('work_mem'), current_setting('default_transaction_read_only'), current_setting('statement_timeout'), current_setting('application_name')",
            &[],
        )
        .await
        .unwrap();
    let got: (String, String, String, String) = (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        got,
        ("2MB".into(), "on".into(), "30s".into(), "pgvitals".into())
    );
}
