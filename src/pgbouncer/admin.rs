//! Reading PgBouncer's admin console: `SHOW POOLS`, `SHOW STATS`, `SHOW DATABASES` and `SHOW
//! LISTS`, by column name, over the simple-query protocol (the only one the console speaks).
//!
//! Columns come and go between PgBouncer versions (1.18 split `cl_cancel_req` into
//! `cl_active_cancel_req` and `cl_waiting_cancel_req`; 1.23 added
//! `total_server_assignment_count`), so every figure is read by name and a column a version
//! lacks is `None`, never an error.

use tokio_postgres::{Client, SimpleQueryMessage, SimpleQueryRow};

/// One pool (database, user) of `SHOW POOLS`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pool {
    /// The PgBouncer database.
    pub database: String,
    /// The user.
    pub user: String,
    /// Clients linked to a server or idle with no query waiting.
    pub cl_active: f64,
    /// Clients that sent a query and wait for a server.
    pub cl_waiting: f64,
    /// Cancel requests waiting: `cl_waiting_cancel_req` (1.18+) or `cl_cancel_req` (older).
    pub cl_cancel_waiting: Option<f64>,
    /// Servers linked to a client.
    pub sv_active: f64,
    /// Servers idle, ready for a client.
    pub sv_idle: f64,
    /// Servers idle for longer than `server_check_delay`, to be checked before use.
    pub sv_used: f64,
    /// Servers running `server_reset_query` or `server_check_query`.
    pub sv_tested: f64,
    /// Servers logging in.
    pub sv_login: f64,
    /// How long the oldest waiting client has waited, in seconds (`maxwait` + `maxwait_us`).
    pub maxwait_seconds: f64,
    /// `session`, `transaction` or `statement`.
    pub pool_mode: Option<String>,
}

/// One database of `SHOW STATS`: PgBouncer's cumulative counters since it started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// The PgBouncer database.
    pub database: String,
    /// Transactions pooled (`total_xact_count`).
    pub xacts: f64,
    /// Queries pooled (`total_query_count`).
    pub queries: f64,
    /// Bytes received from clients.
    pub received: f64,
    /// Bytes sent to clients.
    pub sent: f64,
    /// Microseconds spent in transactions, idle in transaction included.
    pub xact_us: f64,
    /// Microseconds spent in queries.
    pub query_us: f64,
    /// Microseconds clients waited for a server.
    pub wait_us: f64,
    /// Times a server was assigned to a client (1.23+): the waits `wait_us` is spread over.
    pub server_assignments: Option<f64>,
}

/// One database of `SHOW DATABASES`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Database {
    /// Its name in PgBouncer.
    pub name: String,
    /// Servers per (database, user) pool.
    pub pool_size: f64,
    /// Extra servers a pool may open when clients wait (`reserve_pool`, `reserve_pool_size` on
    /// 1.24+).
    pub reserve_pool: Option<f64>,
    /// Most servers for the database in all its pools (0: no limit).
    pub max_connections: Option<f64>,
    /// Servers open for the database.
    pub current_connections: Option<f64>,
    /// 1 while `PAUSE`d.
    pub paused: Option<f64>,
    /// 1 while `DISABLE`d.
    pub disabled: Option<f64>,
}

/// One reading of the admin console.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// `SHOW POOLS`.
    pub pools: Vec<Pool>,
    /// `SHOW STATS`.
    pub stats: Vec<Stats>,
    /// `SHOW DATABASES`.
    pub databases: Vec<Database>,
    /// `SHOW LISTS`: (list, items).
    pub lists: Vec<(String, f64)>,
}

/// Runs the four `SHOW`s.
pub async fn read(client: &Client) -> Result<Reading, tokio_postgres::Error> {
    let pools = rows(client, "SHOW POOLS")
        .await?
        .iter()
        .map(|r| Pool {
            database: text(r, "database"),
            user: text(r, "user"),
            cl_active: num(r, "cl_active").unwrap_or(0.0),
            cl_waiting: num(r, "cl_waiting").unwrap_or(0.0),
            cl_cancel_waiting: num(r, "cl_waiting_cancel_req").or_else(|| num(r, "cl_cancel_req")),
            sv_active: num(r, "sv_active").unwrap_or(0.0),
            sv_idle: num(r, "sv_idle").unwrap_or(0.0),
            sv_used: num(r, "sv_used").unwrap_or(0.0),
            sv_tested: num(r, "sv_tested").unwrap_or(0.0),
            sv_login: num(r, "sv_login").unwrap_or(0.0),
            maxwait_seconds: num(r, "maxwait").unwrap_or(0.0)
                + num(r, "maxwait_us").unwrap_or(0.0) / 1e6,
            pool_mode: opt_text(r, "pool_mode"),
        })
        .collect();
    let stats = rows(client, "SHOW STATS")
        .await?
        .iter()
        .map(|r| Stats {
            database: text(r, "database"),
            xacts: num(r, "total_xact_count").unwrap_or(0.0),
            queries: num(r, "total_query_count").unwrap_or(0.0),
            received: num(r, "total_received").unwrap_or(0.0),
            sent: num(r, "total_sent").unwrap_or(0.0),
            xact_us: num(r, "total_xact_time").unwrap_or(0.0),
            query_us: num(r, "total_query_time").unwrap_or(0.0),
            wait_us: num(r, "total_wait_time").unwrap_or(0.0),
            server_assignments: num(r, "total_server_assignment_count"),
        })
        .collect();
    let databases = rows(client, "SHOW DATABASES")
        .await?
        .iter()
        .map(|r| Database {
            name: text(r, "name"),
            pool_size: num(r, "pool_size").unwrap_or(0.0),
            reserve_pool: num(r, "reserve_pool_size").or_else(|| num(r, "reserve_pool")),
            max_connections: num(r, "max_connections"),
            current_connections: num(r, "current_connections"),
            paused: num(r, "paused"),
            disabled: num(r, "disabled"),
        })
        .collect();
    let lists = rows(client, "SHOW LISTS")
        .await?
        .iter()
        .filter_map(|r| Some((text(r, "list"), num(r, "items")?)))
        .collect();
    Ok(Reading {
        pools,
        stats,
        databases,
        lists,
    })
}

async fn rows(
    client: &Client,
    command: &str,
) -> Result<Vec<SimpleQueryRow>, tokio_postgres::Error> {
    Ok(client
        .simple_query(command)
        .await?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect())
}

fn opt_text(r: &SimpleQueryRow, column: &str) -> Option<String> {
    r.try_get(column).ok().flatten().map(str::to_string)
}

fn text(r: &SimpleQueryRow, column: &str) -> String {
    opt_text(r, column).unwrap_or_default()
}

fn num(r: &SimpleQueryRow, column: &str) -> Option<f64> {
    r.try_get(column).ok().flatten()?.parse().ok()
}
