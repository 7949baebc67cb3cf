//! A real PgBouncer (Debian's `pgbouncer`) in front of a test cluster: a free 127.0.0.1 port,
//! md5 logins from its own auth file, one pooled database per entry, killed on drop and
//! restartable on the same port. PgBouncer refuses to run as root, so as root it runs as
//! `postgres`. `PGVITALS_PGBOUNCER` names the binary; a missing one fails the test loudly.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use pgvitals::pgcluster::Cluster;

/// The admin-console user (a `stats_users` member) and its password.
pub const STATS_USER: (&str, &str) = ("pgvitals_stats", "stats-pw");
/// The application's user and its password.
pub const APP_USER: (&str, &str) = ("app", "app-pw");

/// A running PgBouncer.
pub struct PgBouncer {
    child: Option<super::KillOnDrop>,
    ini: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn binary() -> String {
    std::env::var("PGVITALS_PGBOUNCER").unwrap_or_else(|_| {
        for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin"] {
            let p = format!("{dir}/pgbouncer");
            if std::path::Path::new(&p).is_file() {
                return p;
            }
        }
        panic!("PgBouncer is needed for this test (Debian package `pgbouncer`, or set PGVITALS_PGBOUNCER)")
    })
}

fn postgres_ids() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    Some((id("-u"), id("-g")))
}

impl PgBouncer {
    /// Starts one pooling `databases` (PgBouncer name, database of `cluster`, pool size), every
    /// server connection as `postgres`, in transaction pooling; waits until the admin console
    /// answers.
    pub async fn start(cluster: &Cluster, databases: &[(&str, &str, u32)]) -> PgBouncer {
        let dir = tempfile::tempdir().unwrap();
        let port = pgvitals::pgcluster::free_port().unwrap();
        let users = dir.path().join("users.txt");
        std::fs::write(
            &users,
            format!(
                "\"{}\" \"{}\"\n\"{}\" \"{}\"\n",
                STATS_USER.0, STATS_USER.1, APP_USER.0, APP_USER.1
            ),
        )
        .unwrap();
        let mut ini = String::from("[databases]\n");
        for (name, db, size) in databases {
            ini.push_str(&format!(
                "{name} = host=127.0.0.1 port={} dbname={db} user=postgres pool_size={size}\n",
                cluster.port()
            ));
        }
        let d = dir.path().display();
        ini.push_str(&format!(
            "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\nauth_type = md5\nauth_file = {d}/users.txt\nstats_users = {}\npool_mode = transaction\nmax_client_conn = 500\nlogfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n",
            STATS_USER.0
        ));
        let path = dir.path().join("pgbouncer.ini");
        std::fs::write(&path, ini).unwrap();
        if let Some((uid, gid)) = postgres_ids() {
            for p in [dir.path().to_path_buf(), users, path.clone()] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
            }
        }
        let mut b = PgBouncer {
            child: None,
            ini: path,
            port,
            _dir: dir,
        };
        b.start_again().await;
        b
    }

    /// Starts it again after [`PgBouncer::kill`], on the same port and settings.
    pub async fn start_again(&mut self) {
        let mut cmd = Command::new(binary());
        if let Some((uid, gid)) = postgres_ids() {
            cmd.uid(uid).gid(gid);
        }
        let child = cmd
            .arg(&self.ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting PgBouncer");
        self.child = Some(super::KillOnDrop(child));
        let dsn = self.admin_dsn(STATS_USER.1);
        super::poll_until(
            Duration::from_secs(30),
            Duration::from_millis(100),
            "PgBouncer's admin console",
            || {
                let dsn = dsn.clone();
                async move {
                    let (c, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
                        .await
                        .map_err(|e| e.to_string())?;
                    tokio::spawn(conn);
                    c.simple_query("SHOW VERSION")
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            },
        )
        .await;
    }

    /// Kills it (SIGKILL): its clients and servers are cut at once.
    pub fn kill(&mut self) {
        self.child = None;
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// DSN of the admin console as the stats user, with `password`.
    pub fn admin_dsn(&self, password: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={} password={password} dbname=pgbouncer sslmode=disable",
            self.port, STATS_USER.0
        )
    }

    /// DSN of a pooled database as the application's user.
    pub fn dsn(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={} password={} dbname={database} sslmode=disable",
            self.port, APP_USER.0, APP_USER.1
        )
    }
}
