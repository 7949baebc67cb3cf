//! `alerts:` (evaluation, built-in overrides, user rules) and `alertmanager:` (delivery).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ser_masked_secret, Config, Dur};
use crate::metrics::valid_label_name;

/// `alerts:`: how and what pgvitals evaluates.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// How often the rules are evaluated against the latest polls.
    pub evaluation_interval: Dur,
    /// How long an alert whose series vanished while its collector kept succeeding (e.g. a
    /// statement with no executions in the interval) keeps its state before it is treated as
    /// no longer true.
    #[serde(deserialize_with = "Dur::or_zero")]
    pub hold_absent: Dur,
    /// How long resolved alerts are still sent to Alertmanager (with their `endsAt`).
    pub resolved_retention: Dur,
    /// Window of the `ConnectionAcquisitionSlow` p95.
    pub connection_acquisition_window: Dur,
    /// Base URL of this daemon as users reach it, for alerts' `generatorURL` (default:
    /// `http://` + `listen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    /// Overrides of the built-in rules, by alert name.
    pub builtin: BTreeMap<String, BuiltinRuleConfig>,
    /// User-defined rules over any exported metric.
    pub rules: Vec<UserRuleConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            evaluation_interval: Dur::secs(15),
            hold_absent: Dur::secs(300),
            resolved_retention: Dur::secs(900),
            connection_acquisition_window: Dur::secs(300),
            external_url: None,
            builtin: BTreeMap::new(),
            rules: Vec::new(),
        }
    }
}

/// The names of the built-in alert rules, the keys `alerts.builtin` accepts.
pub const BUILTIN_RULES: [&str; 18] = [
    "QueryLatencyTargetMissed",
    "SlowQuery",
    "QueryRegressed",
    "IndexHitRatioLow",
    "ConnectionAcquisitionSlow",
    "MigrationTooSlow",
    "UnsafeMigration",
    "MigrationBlockingQueries",
    "DeadlocksDetected",
    "TransactionIdWraparoundRisk",
    "XminHorizonHeld",
    "AutovacuumOverdue",
    "SequenceNearExhaustion",
    "ConnectionsNearMax",
    "ReplicationLagHigh",
    "ReplicationSlotInactive",
    "TargetDown",
    "CollectorFailing",
];

/// Overrides of one built-in rule; unset fields keep the rule's defaults.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuiltinRuleConfig {
    /// `false` turns the rule off.
    pub enabled: bool,
    /// How long the condition must hold before the alert fires.
    #[serde(
        rename = "for",
        deserialize_with = "Dur::or_zero_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub for_: Option<Dur>,
    /// How long a firing alert keeps firing after the condition stopped holding.
    #[serde(
        deserialize_with = "Dur::or_zero_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_firing_for: Option<Dur>,
    /// The `severity` label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Extra labels (added to the alert's identity).
    pub labels: BTreeMap<String, String>,
    /// Extra or replaced annotations (templates).
    pub annotations: BTreeMap<String, String>,
}

impl Default for BuiltinRuleConfig {
    fn default() -> Self {
        BuiltinRuleConfig {
            enabled: true,
            for_: None,
            keep_firing_for: None,
            severity: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }
}

/// A user-defined rule: `expr` is `metric{label="value",...} op number` over any exported metric.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserRuleConfig {
    /// The alert name.
    pub alert: String,
    /// The condition, e.g. `pgvitals_connections{state="active"} > 80`.
    pub expr: String,
    /// How long the condition must hold before the alert fires.
    #[serde(
        rename = "for",
        default = "Dur::zero",
        deserialize_with = "Dur::or_zero"
    )]
    pub for_: Dur,
    /// How long a firing alert keeps firing after the condition stopped holding.
    #[serde(default = "Dur::zero", deserialize_with = "Dur::or_zero")]
    pub keep_firing_for: Dur,
    /// The `severity` label.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (templates: `{{ $value }}`, `{{ $labels.NAME }}`, humanize functions).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn default_severity() -> String {
    "warning".into()
}

/// `alertmanager:`: where alerts are POSTed (`/api/v2/alerts` of each URL).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager base URLs, e.g. `http://alertmanager:9093`; every one gets every alert.
    pub urls: Vec<String>,
    /// Deadline of one delivery attempt.
    #[serde(default = "default_alertmanager_timeout")]
    pub timeout: Dur,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthConfig>,
    /// Bearer token sent as `Authorization: Bearer …`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_masked_secret"
    )]
    pub bearer_token: Option<String>,
    /// A file whose first line is the bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// TLS settings for `https://` URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsClientConfig>,
}

/// TLS settings of an HTTPS client.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientConfig {
    /// CA certificates (PEM) to verify the server with, instead of the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM), for servers that ask for one; needs `key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

fn default_alertmanager_timeout() -> Dur {
    Dur::secs(10)
}

/// HTTP basic authentication credentials.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// User name.
    pub username: String,
    /// Password (prefer `password_file`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_masked_secret"
    )]
    pub password: Option<String>,
    /// A file whose first line is the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

impl Config {
    pub(super) fn validate_alerts(&self) -> Result<(), (String, String)> {
        let a = &self.alerts;
        let check_labels =
            |key: String, labels: &BTreeMap<String, String>| -> Result<(), (String, String)> {
                for name in labels.keys() {
                    if !valid_label_name(name) || name == "alertname" || name.starts_with("__") {
                        return Err((
                            format!("{key}.{name}"),
                            format!("`{name}` cannot be an alert label name"),
                        ));
                    }
                }
                Ok(())
            };
        let check_annotations = |key: String,
                                 annotations: &BTreeMap<String, String>|
         -> Result<(), (String, String)> {
            for (name, text) in annotations {
                crate::template::Template::parse(text).map_err(|e| (format!("{key}.{name}"), e))?;
            }
            Ok(())
        };
        for (name, b) in &a.builtin {
            if !BUILTIN_RULES.contains(&name.as_str()) {
                return Err((
                    format!("alerts.builtin.{name}"),
                    format!(
                        "no built-in rule is called `{name}`; they are {}",
                        BUILTIN_RULES.join(", ")
                    ),
                ));
            }
            check_labels(format!("alerts.builtin.{name}.labels"), &b.labels)?;
            check_annotations(format!("alerts.builtin.{name}.annotations"), &b.annotations)?;
        }
        let mut names = BTreeSet::new();
        for (i, r) in a.rules.iter().enumerate() {
            let key = |k: &str| format!("alerts.rules[{i}].{k}");
            if !valid_label_name(&r.alert) {
                return Err((
                    key("alert"),
                    format!(
                        "`{}` is not a valid alert name: use letters, digits and `_`",
                        r.alert
                    ),
                ));
            }
            if BUILTIN_RULES.contains(&r.alert.as_str()) {
                return Err((
                    key("alert"),
                    format!(
                        "`{}` is a built-in rule; change it under `alerts.builtin.{}`",
                        r.alert, r.alert
                    ),
                ));
            }
            if !names.insert(r.alert.as_str()) {
                return Err((
                    key("alert"),
                    format!("alert name `{}` is used twice", r.alert),
                ));
            }
            crate::rule_expr::Expr::parse(&r.expr).map_err(|e| (key("expr"), e))?;
            check_labels(key("labels"), &r.labels)?;
            check_annotations(key("annotations"), &r.annotations)?;
        }
        if let Some(url) = &a.external_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err((
                    "alerts.external_url".into(),
                    format!("`{url}` is not an http:// or https:// URL"),
                ));
            }
        }
        if let Some(am) = &self.alertmanager {
            if am.urls.is_empty() {
                return Err((
                    "alertmanager.urls".into(),
                    "at least one Alertmanager URL is required".into(),
                ));
            }
            for (i, url) in am.urls.iter().enumerate() {
                let rest = url
                    .strip_prefix("http://")
                    .or_else(|| url.strip_prefix("https://"))
                    .ok_or_else(|| {
                        (
                            format!("alertmanager.urls[{i}]"),
                            format!("`{url}` is not an http:// or https:// URL"),
                        )
                    })?;
                if rest
                    .split('/')
                    .next()
                    .is_some_and(|authority| authority.contains('@'))
                {
                    return Err((
                        format!("alertmanager.urls[{i}]"),
                        "put credentials under `basic_auth`, not in the URL".into(),
                    ));
                }
                if rest.is_empty() || rest.starts_with('/') {
                    return Err((
                        format!("alertmanager.urls[{i}]"),
                        format!("`{url}` names no host"),
                    ));
                }
            }
            if let Some(b) = &am.basic_auth {
                if b.password.is_some() == b.password_file.is_some() {
                    return Err((
                        "alertmanager.basic_auth".into(),
                        "set exactly one of `password` and `password_file`".into(),
                    ));
                }
            }
            if let Some(t) = &am.tls {
                if t.cert_file.is_some() != t.key_file.is_some() {
                    return Err((
                        "alertmanager.tls".into(),
                        "`cert_file` and `key_file` go together".into(),
                    ));
                }
            }
            if am.bearer_token.is_some() && am.bearer_token_file.is_some() {
                return Err((
                    "alertmanager.bearer_token_file".into(),
                    "set either `bearer_token` or `bearer_token_file`, not both".into(),
                ));
            }
            if am.basic_auth.is_some()
                && (am.bearer_token.is_some() || am.bearer_token_file.is_some())
            {
                return Err((
                    "alertmanager.basic_auth".into(),
                    "set either basic authentication or a bearer token, not both".into(),
                ));
            }
        }
        Ok(())
    }
}
