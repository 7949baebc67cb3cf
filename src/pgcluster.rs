//! A throwaway PostgreSQL cluster: `initdb` into a temporary directory, a free port on
//! 127.0.0.1, `pg_stat_statements` preloaded. Used by `pgvitals demo` and the integration tests.
//!
//! PostgreSQL refuses to run as root, so when pgvitals runs as root the server runs as the
//! `postgres` system user. The cluster is stopped and its directory removed when the
//! [`Cluster`] is dropped, and also when the process dies without dropping it (a test binary's
//! statics are never dropped; a panic may abort): a watchdog shell waits on a pipe held open by
//! this process and cleans up when the pipe closes.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{bail, Context};

/// Environment variable naming the directory of `initdb`, `pg_ctl` and `postgres`.
pub const PG_BIN_ENV: &str = "PGVITALS_PG_BIN";

/// A running throwaway cluster.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
    watchdog: Option<(Child, ChildStdin)>,
}

/// Finds the PostgreSQL server binaries: `$PGVITALS_PG_BIN`, then [`find_system_bin`].
pub fn find_bin() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(PG_BIN_ENV) {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").is_file() {
            return Ok(dir);
        }
        bail!("{PG_BIN_ENV}={} has no initdb", dir.display());
    }
    find_system_bin()
}

/// Finds the system's PostgreSQL server binaries, ignoring `$PGVITALS_PG_BIN`: `initdb` on
/// `PATH`, then the newest `/usr/lib/postgresql/*/bin`.
pub fn find_system_bin() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "no PostgreSQL server binaries: install PostgreSQL (Debian: postgresql and postgresql-contrib) or set {PG_BIN_ENV}"
        ),
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn postgres_ids() -> anyhow::Result<(u32, u32)> {
    let id = |flag: &str| -> anyhow::Result<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output()?;
        if !out.status.success() {
            bail!("running as root needs a `postgres` system user to run the server as");
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    };
    Ok((id("-u")?, id("-g")?))
}

impl Cluster {
    /// Creates and starts a cluster with the binaries [`find_bin`] picks and the given extra
    /// `postgresql.conf` lines (`name = value`).
    pub fn start(settings: &[&str]) -> anyhow::Result<Cluster> {
        Cluster::start_with(find_bin()?, settings)
    }

    /// As [`Cluster::start`], with the server binaries in `bin`.
    pub fn start_with(bin: PathBuf, settings: &[&str]) -> anyhow::Result<Cluster> {
        let mut cluster = Cluster::empty(bin)?;
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data_dir(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let mut conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             shared_preload_libraries = 'pg_stat_statements'\ntrack_io_timing = on\n\
             fsync = off\nmax_connections = 100\n",
            cluster.port,
            cluster.dir.display()
        );
        for s in settings {
            conf.push_str(s);
            conf.push('\n');
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(Path::new(&cluster.data_dir()).join("postgresql.conf"))?
            .write_all(conf.as_bytes())?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// A cluster with its directory (owned by `postgres` when running as root), a free port
    /// and its watchdog, and nothing in the directory yet.
    fn empty(bin: PathBuf) -> anyhow::Result<Cluster> {
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("pgvitals-pg-")
            .tempdir()
            .context("creating the cluster directory")?
            .keep();
        if as_postgres {
            let (uid, gid) = postgres_ids()?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .with_context(|| format!("chown {} to postgres", dir.display()))?;
        }
        let mut cluster = Cluster {
            bin,
            dir,
            port: free_port()?,
            as_postgres,
            running: false,
            watchdog: None,
        };
        cluster.spawn_watchdog()?;
        Ok(cluster)
    }

    /// A streaming standby of `primary`: its own directory and port on 127.0.0.1, reporting as
    /// `name` (`application_name`, `cluster_name`), streaming through a physical slot `name`.
    /// Made by `pg_basebackup -R` where it is beside the server binaries, else by the low-level
    /// backup API (`pg_backup_start`, a copy of the data directory, `pg_backup_stop`), which
    /// every supported version has.
    pub fn standby_of(primary: &Cluster, name: &str) -> anyhow::Result<Cluster> {
        let mut cluster = Cluster::empty(primary.bin.clone())?;
        let conninfo = format!(
            "host=127.0.0.1 port={} user=postgres application_name={name}",
            primary.port
        );
        if primary.has_basebackup() {
            cluster.run(
                "pg_basebackup",
                &[
                    "-D",
                    &cluster.data_dir(),
                    "-d",
                    &conninfo,
                    "-R",
                    "-X",
                    "stream",
                    "-C",
                    "-S",
                    name,
                    "-c",
                    "fast",
                    "--no-sync",
                ],
            )?;
        } else {
            cluster.copy_with_backup_api(primary, name, &conninfo)?;
        }
        // The copied postgresql.conf is the primary's: the last setting of a name wins.
        cluster.append_conf(&format!(
            "\nport = {}\nunix_socket_directories = '{}'\ncluster_name = '{name}'\nhot_standby = on\n",
            cluster.port,
            cluster.dir.display()
        ))?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// Appends to the cluster's postgresql.conf.
    fn append_conf(&self, text: &str) -> anyhow::Result<()> {
        std::fs::OpenOptions::new()
            .append(true)
            .open(Path::new(&self.data_dir()).join("postgresql.conf"))?
            .write_all(text.as_bytes())?;
        Ok(())
    }

    /// Copies `primary`'s data directory between `pg_backup_start` and `pg_backup_stop` (on a
    /// session of their own, in a thread with its own runtime) and makes the copy a standby.
    fn copy_with_backup_api(
        &self,
        primary: &Cluster,
        slot: &str,
        conninfo: &str,
    ) -> anyhow::Result<()> {
        let dsn = primary.dsn("postgres", "postgres");
        let (from, to) = (primary.data_dir(), self.data_dir());
        let copy = {
            let mut c = if self.as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--", "cp", "-a"]);
                c
            } else {
                let mut c = Command::new("cp");
                c.arg("-a");
                c
            };
            c.arg(&from).arg(&to);
            c
        };
        let slot_name = slot.to_string();
        let label = std::thread::spawn(move || -> anyhow::Result<String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let (client, connection) =
                    tokio_postgres::connect(&dsn, tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                let version: i32 = client
                    .query_one("SELECT current_setting('server_version_num')::int4", &[])
                    .await?
                    .get(0);
                client
                    .execute(
                        "SELECT pg_create_physical_replication_slot($1, true)",
                        &[&slot_name],
                    )
                    .await?;
                let (start, stop) = if version >= 150000 {
                    (
                        "SELECT pg_backup_start('standby', true)",
                        "SELECT labelfile FROM pg_backup_stop()",
                    )
                } else {
                    (
                        "SELECT pg_start_backup('standby', true, false)",
                        "SELECT labelfile FROM pg_stop_backup(false)",
                    )
                };
                client.execute(start, &[]).await?;
                // Files may change or vanish while they are copied: the backup's WAL replays
                // over them, and cp's complaints about vanished files are not errors here.
                let mut copy = copy;
                let _ = tokio::task::spawn_blocking(move || copy.output()).await?;
                let label: String = client.query_one(stop, &[]).await?.get(0);
                Ok(label)
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the backup thread panicked"))??;
        let data = Path::new(&to);
        anyhow::ensure!(
            data.join("PG_VERSION").exists(),
            "copying {from} to {to} left no PG_VERSION"
        );
        for leftover in ["postmaster.pid", "postmaster.opts"] {
            let _ = std::fs::remove_file(data.join(leftover));
        }
        for entry in std::fs::read_dir(data.join("pg_wal"))? {
            let path = entry?.path();
            if path.is_file() {
                std::fs::remove_file(path)?;
            }
        }
        let written = [("backup_label", label), ("standby.signal", String::new())];
        for (file, text) in written {
            let path = data.join(file);
            std::fs::write(&path, text)?;
            if self.as_postgres {
                let (uid, gid) = postgres_ids()?;
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
            }
        }
        self.append_conf(&format!(
            "\nprimary_conninfo = '{conninfo}'\nprimary_slot_name = '{slot}'\n"
        ))
    }

    /// Whether `pg_basebackup` is beside the server binaries.
    fn has_basebackup(&self) -> bool {
        self.bin.join("pg_basebackup").exists()
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data, log, socket); removed when the cluster is dropped.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of the server binaries in use.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// A URL DSN for `user` on `database`.
    pub fn dsn(&self, user: &str, database: &str) -> String {
        format!(
            "postgresql://{user}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// Stops the server (fast shutdown); the data directory is kept for [`Cluster::start_server`].
    pub fn stop_server(&mut self) -> anyhow::Result<()> {
        self.run(
            "pg_ctl",
            &["-D", &self.data_dir(), "-m", "fast", "-w", "stop"],
        )?;
        self.running = false;
        Ok(())
    }

    /// Crashes and restarts the server (`pg_ctl restart -m immediate`: no shutdown checkpoint,
    /// every session killed, crash recovery at start), waiting until it accepts connections.
    pub fn restart_immediate(&mut self) -> anyhow::Result<()> {
        self.pg_ctl_waiting(&["-m", "immediate", "restart"])
    }

    /// Crashes the server and leaves it down (`pg_ctl stop -m immediate`: every session killed,
    /// no shutdown checkpoint); [`Cluster::start_server`] brings it back through crash recovery.
    pub fn crash(&mut self) -> anyhow::Result<()> {
        self.pg_ctl_waiting(&["-m", "immediate", "stop"])?;
        self.running = false;
        Ok(())
    }

    /// `pg_ctl -D data -l server.log -w -t 60 <args>`, with the server's log in the error.
    fn pg_ctl_waiting(&self, args: &[&str]) -> anyhow::Result<()> {
        let log = self.dir.join("server.log").display().to_string();
        let data = self.data_dir();
        let mut all = vec!["-D", data.as_str(), "-l", log.as_str(), "-w", "-t", "60"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all).with_context(|| {
            format!(
                "pg_ctl {}; the server log says:\n{}",
                args.join(" "),
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
    }

    /// Starts the server again on the same port, waiting until it accepts connections.
    pub fn start_server(&mut self) -> anyhow::Result<()> {
        self.pg_ctl_waiting(&["start"])?;
        self.running = true;
        Ok(())
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", self.bin.join(program).display()))?;
        if !out.status.success() {
            bail!(
                "{program} {} failed ({}):\n{}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Starts the shell that stops the server and removes the directory once our end of its
    /// stdin pipe closes, which the kernel does when this process exits in any way.
    fn spawn_watchdog(&mut self) -> anyhow::Result<()> {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = if self.as_postgres {
            "runuser -u postgres -- \"$1\" -D \"$2/data\" -m immediate stop"
        } else {
            "\"$1\" -D \"$2/data\" -m immediate stop"
        };
        let script = format!("cat >/dev/null; {stop} >/dev/null 2>&1; rm -rf \"$2\"");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("pgvitals-watchdog")
            .arg(&pg_ctl)
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the cluster watchdog")?;
        let stdin = child.stdin.take().expect("piped stdin");
        self.watchdog = Some((child, stdin));
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self.run(
                "pg_ctl",
                &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"],
            );
        }
        if let Some((mut child, stdin)) = self.watchdog.take() {
            drop(stdin);
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
