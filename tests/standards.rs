//! The team's schema conventions, checked live: a schema with one breach of each rule beside a
//! compliant table gives every breach exactly once (in `/findings` and `pgvitals_findings`), the
//! compliant table nothing, and an exception pattern silences exactly the one it names.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// The columns every table of the schema below has, so each breaks only the rule it is for.
const BASE: &str = "id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now()";

/// (kind, table, column) of every standard finding of the database.
fn standard_findings(doc: &Value, db: &str) -> BTreeSet<(String, String, String)> {
    doc["databases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["database"] == db)
        .flat_map(|d| d["findings"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["kind"].as_str().unwrap().starts_with("standard_"))
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["table"].as_str().unwrap().to_string(),
                f["column"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_breach_of_each_rule_is_found_once_and_an_exception_silences_one() {
    let cluster = shared_cluster();
    let db = fresh_database(cluster, "standards").await;
    let owner = connect(&cluster.dsn("postgres", &db)).await;
    owner
        .batch_execute(&format!(
            "CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL,
                 is_active boolean NOT NULL DEFAULT true, balance numeric(12, 2),
                 created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
             CREATE TABLE invoice ({BASE});
             CREATE TABLE notes ({BASE}, \"noteText\" text);
             CREATE TABLE sessions ({BASE}, \"user\" text);
             CREATE TABLE countries (code text PRIMARY KEY,
                 created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
             CREATE TABLE tags (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now());
             CREATE TABLE events ({BASE}, happened_at timestamp);
             CREATE TABLE flags ({BASE}, active boolean);
             CREATE TABLE labels ({BASE}, title varchar);
             CREATE TABLE payloads ({BASE}, body json);
             CREATE TABLE payments ({BASE}, amount numeric);
             CREATE TABLE orders ({BASE}, customer_id bigint REFERENCES customers (id));
             CREATE INDEX orders_customer_id_idx ON orders (customer_id);
             CREATE TABLE refunds ({BASE}, amount numeric(12, 2));
             ALTER TABLE refunds ADD CONSTRAINT refunds_amount_positive CHECK (amount > 0) NOT VALID;"
        ))
        .await
        .unwrap();
    let expected: BTreeSet<(String, String, String)> = [
        ("standard_table_name", "invoice", ""),
        ("standard_column_name", "notes", "noteText"),
        ("standard_reserved_word", "sessions", "user"),
        ("standard_id_key", "countries", ""),
        ("standard_timestamps", "tags", ""),
        ("standard_timestamptz", "events", "happened_at"),
        ("standard_boolean_prefix", "flags", "active"),
        ("standard_varchar_unbounded", "labels", "title"),
        ("standard_json", "payloads", "body"),
        ("standard_numeric_unbounded", "payments", "amount"),
        ("standard_fk_on_delete", "orders", ""),
        ("standard_not_valid_constraint", "refunds", ""),
    ]
    .iter()
    .map(|(k, t, c)| (k.to_string(), t.to_string(), c.to_string()))
    .collect();
    assert_eq!(
        expected.len(),
        pgvitals::config::STANDARD_RULES.len(),
        "one case per rule"
    );

    let yaml =
        |exceptions: &str| format!("collectors:\n  standards: {{interval: 1s}}\n{exceptions}");
    let daemon = start(config(cluster, &db, &yaml(""))).await;
    let doc = wait_for_json(&daemon, "/findings", WAIT, "every breach", |d| {
        standard_findings(d, &db).len() >= expected.len()
    })
    .await;
    let found = standard_findings(&doc, &db);
    assert_eq!(found, expected);
    // Exactly once each, and nothing on the compliant table.
    let all: Vec<&Value> = doc["databases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["database"] == db.as_str())
        .flat_map(|d| d["findings"].as_array().unwrap())
        .filter(|f| f["kind"].as_str().unwrap().starts_with("standard_"))
        .collect();
    assert_eq!(all.len(), expected.len());
    assert!(all.iter().all(|f| f["table"] != "customers"));
    let fk = all
        .iter()
        .find(|f| f["kind"] == "standard_fk_on_delete")
        .unwrap();
    assert_eq!(fk["constraint"], "orders_customer_id_fkey");
    assert!(fk["detail"].as_str().unwrap().contains("ON DELETE"), "{fk}");
    let m = scrape(daemon.addr()).await;
    for (kind, _, _) in &expected {
        assert_eq!(
            m.get(
                "pgvitals_findings",
                &[("database", db.as_str()), ("kind", kind.as_str())]
            ),
            Some(1.0),
            "{kind}"
        );
    }

    // An exception for payloads.body silences that finding and no other.
    let with_exception = config(
        cluster,
        &db,
        &yaml("standards:\n  rules:\n    json:\n      exceptions: ['public.payloads.*']\n"),
    );
    daemon.reload(with_exception).await.unwrap();
    let doc = wait_for_json(&daemon, "/findings", WAIT, "json excepted", |d| {
        let f = standard_findings(d, &db);
        f.len() == expected.len() - 1 && !f.iter().any(|(k, _, _)| k == "standard_json")
    })
    .await;
    let mut without_json = expected.clone();
    without_json.retain(|(k, _, _)| k != "standard_json");
    assert_eq!(standard_findings(&doc, &db), without_json);
    daemon.shutdown().await;
}
