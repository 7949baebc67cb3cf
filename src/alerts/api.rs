//! The alert engine's state as the HTTP server serves it, in the shapes on-call tooling already
//! reads from Prometheus: `/alerts` like `GET /api/v1/alerts`, `/rules` like `GET /api/v1/rules`
//! (plus each rule's `threshold`), and `pgvitals_alerts` like Prometheus' `ALERTS` series.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::{json, Value};

use super::engine::{Alert, Engine};
use crate::metrics::write_label_value;

use crate::clock::rfc3339;

/// A float the way Prometheus' API writes alert values (Go's `strconv.FormatFloat(v, 'e', -1, 64)`).
pub fn value_string(v: f64) -> String {
    crate::template::go_float_e(v)
}

fn alert_json(a: &Alert) -> Value {
    let mut v = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": value_string(a.value),
    });
    if let Some(since) = a.keep_firing_since {
        v["keepFiringSince"] = json!(rfc3339(since));
    }
    v
}

/// `GET /alerts`: every pending and firing alert.
pub fn alerts_json(engine: &Engine) -> Bytes {
    let alerts: Vec<Value> = engine.active().map(alert_json).collect();
    Bytes::from(json!({"status": "success", "data": {"alerts": alerts}}).to_string())
}

/// `GET /rules`: one group with every rule, its threshold, state, health and alerts.
pub fn rules_json(
    engine: &Engine,
    file: &str,
    interval: Duration,
    last: Option<(SystemTime, Duration)>,
) -> Bytes {
    let rules: Vec<Value> = engine
        .rules()
        .iter()
        .map(|r| {
            let alerts: Vec<&Alert> = engine.active().filter(|a| a.rule == r.name).collect();
            let state = if alerts.iter().any(|a| a.state.as_str() == "firing") {
                "firing"
            } else if alerts.is_empty() {
                "inactive"
            } else {
                "pending"
            };
            let status = engine.status(&r.name);
            let evaluated = status.and_then(|s| s.last_evaluation);
            json!({
                "state": state,
                "name": r.name,
                "query": r.query(),
                "threshold": r.threshold(),
                "duration": r.for_.as_secs_f64(),
                "keepFiringFor": r.keep_firing_for.as_secs_f64(),
                "labels": r.labels,
                "annotations": r.annotations.iter().map(|(k, a)| (k.clone(), a.text.clone())).collect::<std::collections::BTreeMap<_, _>>(),
                "alerts": alerts.iter().map(|a| alert_json(a)).collect::<Vec<_>>(),
                "health": if evaluated.is_some() { "ok" } else { "unknown" },
                "builtin": r.builtin,
                "series": status.map_or(0, |s| s.series),
                "evaluationTime": status.map_or(0.0, |s| s.evaluation_time.as_secs_f64()),
                "lastEvaluation": evaluated.map_or("0001-01-01T00:00:00Z".to_string(), rfc3339),
                "type": "alerting",
            })
        })
        .collect();
    let (last_evaluation, evaluation_time) = match last {
        Some((at, took)) => (rfc3339(at), took.as_secs_f64()),
        None => ("0001-01-01T00:00:00Z".to_string(), 0.0),
    };
    Bytes::from(
        json!({"status": "success", "data": {"groups": [{
            "name": "pgvitals",
            "file": file,
            "interval": interval.as_secs_f64(),
            "limit": 0,
            "rules": rules,
            "evaluationTime": evaluation_time,
            "lastEvaluation": last_evaluation,
        }]}})
        .to_string(),
    )
}

/// `pgvitals_alerts{alertname, alertstate, ...} 1` for every pending and firing alert.
pub fn exposition(engine: &Engine) -> Bytes {
    let mut out = String::from(
        "# HELP pgvitals_alerts Pending and firing alerts of pgvitals' rules (like Prometheus' ALERTS).\n# TYPE pgvitals_alerts gauge\n",
    );
    let mut any = false;
    for a in engine.active() {
        any = true;
        out.push_str("pgvitals_alerts{alertname=\"");
        write_label_value(&mut out, &a.rule);
        let _ = write!(out, "\",alertstate=\"{}\"", a.state.as_str());
        for (k, v) in &a.labels {
            if k == "alertname" || k == "alertstate" {
                continue;
            }
            let _ = write!(out, ",{k}=\"");
            write_label_value(&mut out, v);
            out.push('"');
        }
        out.push_str("} 1\n");
    }
    if !any {
        return Bytes::new();
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_times_look_like_prometheus() {
        assert_eq!(value_string(0.95), "9.5e-01");
        assert_eq!(value_string(1.0), "1e+00");
        assert_eq!(value_string(1234.5), "1.2345e+03");
        assert_eq!(value_string(f64::NAN), "NaN");
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_000_250);
        assert_eq!(rfc3339(t), "2025-11-24T16:00:00.250Z");
    }
}
