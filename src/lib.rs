//! pgvitals: a PostgreSQL health-monitoring daemon.
//!
//! Data flows one way: [`config`] → [`scheduler`] → [`collectors`] → [`snapshot`] → exposition
//! ([`http`]). Nothing upstream knows what is downstream: collectors return typed
//! [`metrics::Family`] values, the scheduler publishes them into the snapshot, and the HTTP
//! server renders the snapshot without touching a database.

pub mod alerts;
pub mod clock;
pub mod collectors;
pub mod config;
pub mod console;
pub mod daemon;
pub mod db;
pub mod ddl;
pub mod demo;
pub mod detail;
pub mod discovery;
pub mod figures;
pub mod gzip;
pub mod history;
pub mod http;
pub mod latency;
pub mod lint;
pub mod metrics;
pub mod migration_rules;
pub mod pages;
pub mod pgbouncer;
pub mod pgcluster;
pub mod plan;
pub mod queries;
pub mod report;
pub mod rule_expr;
pub mod scheduler;
pub mod snapshot;
pub mod telemetry;
pub mod template;
pub mod web;
