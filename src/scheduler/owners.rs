//! Which target reports a database's rows of a cluster-wide view.
//!
//! Cluster-wide views (`pg_stat_database`, `pg_stat_activity`, the ages in `pg_database`) list
//! every database of the server, whatever database the session is on. A fleet is often watched
//! as one target per application database: 50 targets on a 50-database server would each report
//! all 50 databases, 2,500 rows where 50 say it all, and a sum over targets would count every
//! session 50 times. So a row of database D leaves target T's cluster-wide families when another
//! configured target on the same server polls D and T does not. Rows of databases that no target
//! polls (`postgres`, `template0`) stay with every target of the server, and a server watched by
//! one target reports every database as before.
//!
//! The claims come from the whole target list, every shard's: daemons that split a list agree on
//! who reports what without talking to each other. `databases: auto` claims nothing (it polls
//! whatever it finds), so the targets that name a database keep it.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

use crate::config::{Databases, ResolvedTarget};
use crate::metrics::Family;

/// Databases claimed per server: server key → database → the targets that poll it.
#[derive(Debug, Default)]
pub struct DatabaseOwners {
    by_server: RwLock<HashMap<String, HashMap<String, BTreeSet<String>>>>,
}

/// Identifies a server by the hosts and ports of its DSN (two spellings of one host are two
/// servers here: their rows are then reported twice, as before, never lost).
pub fn server_key(t: &ResolvedTarget) -> String {
    format!("{:?}:{:?}", t.pg.get_hosts(), t.pg.get_ports())
}

impl DatabaseOwners {
    /// Recomputes the claims from every configured target (all shards).
    pub fn set(&self, targets: &[ResolvedTarget]) {
        let mut by_server: HashMap<String, HashMap<String, BTreeSet<String>>> = HashMap::new();
        for t in targets {
            let claimed: Vec<&String> = match &t.databases {
                Databases::FromDsn => vec![&t.primary_database],
                Databases::List(l) => l.iter().collect(),
                Databases::Auto => Vec::new(),
            };
            let server = by_server.entry(server_key(t)).or_default();
            for db in claimed {
                server.entry(db.clone()).or_default().insert(t.name.clone());
            }
        }
        *self.by_server.write().expect("owners lock") = by_server;
    }

    /// Drops from a cluster-wide poll's families the rows of databases another target of the
    /// server reports.
    pub fn retain(&self, server: &str, target: &str, families: &mut [Family]) {
        let by_server = self.by_server.read().expect("owners lock");
        let Some(claims) = by_server.get(server) else {
            return;
        };
        for f in families {
            f.samples.retain(|s| {
                let Some((_, db)) = s.labels.iter().find(|(k, _)| *k == "database") else {
                    return true;
                };
                claims.get(db).is_none_or(|owners| owners.contains(target))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn targets(yaml: &str) -> Vec<ResolvedTarget> {
        Config::parse(yaml, "t.yaml")
            .unwrap()
            .resolve_targets()
            .unwrap()
    }

    fn rows(owners: &DatabaseOwners, t: &ResolvedTarget) -> Vec<String> {
        let mut f = Family::gauge("x", "x");
        for db in ["a", "b", "postgres"] {
            f.push([("database", db.to_string())], 1.0);
        }
        f.push([], 2.0);
        let mut fs = [f];
        owners.retain(&server_key(t), &t.name, &mut fs);
        let [f] = fs;
        f.samples
            .iter()
            .map(|s| s.labels.first().map_or("-".into(), |(_, v)| v.clone()))
            .collect()
    }

    #[test]
    fn each_database_is_reported_by_the_target_that_polls_it() {
        let ts = targets(
            "targets:\n  - {name: a, dsn: 'host=h1 dbname=a'}\n  - {name: b, dsn: 'host=h1 dbname=b'}\n  - {name: c, dsn: 'host=h2 dbname=a'}\n  - {name: d, dsn: 'host=h1 dbname=a', databases: auto}\n",
        );
        let owners = DatabaseOwners::default();
        owners.set(&ts);
        assert_eq!(rows(&owners, &ts[0]), ["a", "postgres", "-"]);
        assert_eq!(rows(&owners, &ts[1]), ["b", "postgres", "-"]);
        // Alone on its server: every database.
        assert_eq!(rows(&owners, &ts[2]), ["a", "b", "postgres", "-"]);
        // `auto` claims nothing and keeps what nobody else polls.
        assert_eq!(rows(&owners, &ts[3]), ["postgres", "-"]);
    }
}
