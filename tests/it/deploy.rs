//! deploy/: the alert rules pass Prometheus's own checks and unit tests,
//! every rule is tested both ways and has its runbook, and the Prometheus
//! config is valid. promtool is a real process here, as in CI.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use yaml_rust2::{Yaml, YamlLoader};

/// A file of the repository, by its path from the root.
pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The one YAML document in `path` (from the repository root).
pub fn load_yaml(path: &str) -> Yaml {
    let text = std::fs::read_to_string(repo_file(path))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut docs =
        YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{path} holds one YAML document");
    docs.remove(0)
}

/// `promtool ARGS` in deploy/prometheus/, or a failure that says how to
/// install it.
fn promtool(args: &[&str]) -> Output {
    match Command::new("promtool")
        .args(args)
        .current_dir(repo_file("deploy/prometheus"))
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed; it comes with Prometheus: \
             `apt-get install prometheus` (Debian/Ubuntu), or see .ci/run"
        ),
        Err(e) => panic!("promtool did not start: {e}"),
    }
}

#[track_caller]
fn assert_succeeds(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every rule of every group in alerts.yml.
fn alert_rules() -> Vec<Yaml> {
    load_yaml("deploy/prometheus/alerts.yml")["groups"]
        .as_vec()
        .expect("alerts.yml has groups")
        .iter()
        .flat_map(|group| group["rules"].as_vec().expect("a group has rules").clone())
        .collect()
}

/// Every alert in alerts.yml, by name.
fn alert_names() -> BTreeSet<String> {
    alert_rules()
        .iter()
        .map(|rule| {
            rule["alert"]
                .as_str()
                .expect("every rule is an alert")
                .to_owned()
        })
        .collect()
}

#[test]
fn the_alert_rules_pass_promtool_check() {
    let stdout = assert_succeeds(
        &promtool(&["check", "rules", "alerts.yml"]),
        "promtool check rules",
    );
    assert!(
        stdout.contains(&format!("SUCCESS: {} rules found", alert_names().len())),
        "{stdout}"
    );
}

#[test]
fn the_alert_rules_pass_their_promtool_unit_tests() {
    let stdout = assert_succeeds(
        &promtool(&["test", "rules", "alerts_test.yml"]),
        "promtool test rules",
    );
    assert!(stdout.contains("SUCCESS"), "{stdout}");
}

#[test]
fn the_prometheus_config_passes_promtool_check() {
    let stdout = assert_succeeds(
        &promtool(&["check", "config", "prometheus.yml"]),
        "promtool check config",
    );
    assert!(stdout.contains("SUCCESS: 1 rule files found"), "{stdout}");
}

/// A rule with only a firing case could fire on anything; one with only a
/// quiet case could never fire. Each needs both.
#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let tests = load_yaml("deploy/prometheus/alerts_test.yml");
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for case in tests["tests"].as_vec().expect("alerts_test.yml has tests") {
        for check in case["alert_rule_test"]
            .as_vec()
            .expect("a test checks alerts")
        {
            let name = check["alertname"].as_str().unwrap().to_owned();
            match check["exp_alerts"].as_vec().map(Vec::is_empty) {
                Some(false) => fires.insert(name),
                _ => quiet.insert(name),
            };
        }
    }
    let names = alert_names();
    assert_eq!(fires, names, "alerts with a firing case");
    assert_eq!(quiet, names, "alerts with a quiet case");
}

/// Each alert's runbook_url points at a section of docs/operations.md that
/// exists (GitHub's anchor: the heading in lower case).
#[test]
fn every_alert_links_to_its_runbook_section() {
    let docs = std::fs::read_to_string(repo_file("docs/operations.md")).unwrap();
    let anchors: BTreeSet<String> = docs
        .lines()
        .filter_map(|line| line.strip_prefix("### "))
        .map(|heading| heading.trim().to_lowercase())
        .collect();
    for rule in alert_rules() {
        let name = rule["alert"].as_str().unwrap();
        let runbook = rule["annotations"]["runbook_url"].as_str().unwrap();
        assert_eq!(
            runbook,
            format!("docs/operations.md#{}", name.to_lowercase()),
            "{name}"
        );
        assert!(
            anchors.contains(&name.to_lowercase()),
            "docs/operations.md has no section `### {name}`"
        );
        assert!(
            matches!(
                rule["labels"]["severity"].as_str(),
                Some("warning" | "critical")
            ),
            "{name} has no severity"
        );
        assert!(
            rule["annotations"]["summary"].as_str().is_some(),
            "{name} has no summary"
        );
    }
}

/// The metrics tether's code exposes (`shared/src/telemetry/metrics.rs`).
/// A rule or a panel naming anything else would silently show nothing.
const METRICS: &[&str] = tether_shared::telemetry::metrics::ALL;

/// Every `tether_...` name in a PromQL expression, without the
/// `_bucket`/`_sum`/`_count` series a histogram adds.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("tether_"))
        .map(|word| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .filter(|base| METRICS.contains(base))
                .unwrap_or(word)
                .to_owned()
        })
        .collect()
}

fn dashboard() -> serde_json::Value {
    let text = std::fs::read_to_string(repo_file("deploy/grafana/tether-dashboard.json")).unwrap();
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

#[test]
fn rules_and_panels_name_only_the_agreed_metrics() {
    let mut exprs: Vec<String> = alert_rules()
        .iter()
        .map(|rule| rule["expr"].as_str().unwrap().to_owned())
        .collect();
    for panel in dashboard()["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for expr in &exprs {
        for name in metric_names(expr) {
            assert!(METRICS.contains(&name.as_str()), "{name} in {expr}");
        }
    }
    assert_eq!(
        metric_names("rate(tether_apply_duration_seconds_bucket[5m])"),
        ["tether_apply_duration_seconds"]
    );
}

/// The panels someone on call looks at first, all on the data source that
/// Grafana's provisioning creates.
#[test]
fn the_dashboard_shows_the_on_call_panels() {
    let dashboard = dashboard();
    let panels = dashboard["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for expected in [
        "Queue depth",
        "Oldest pending job",
        "Ack-to-applied lag",
        "Dead letters",
        "Webhooks by outcome",
        "Jobs by outcome",
        "Apply latency (one claim's transaction)",
        "Live workers",
    ] {
        assert!(titles.contains(&expected), "{expected} in {titles:?}");
    }
    let source = load_yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let uid = source["datasources"][0]["uid"].as_str().unwrap();
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"], uid, "{}", panel["title"]);
        assert!(
            !panel["targets"].as_array().unwrap().is_empty(),
            "{}",
            panel["title"]
        );
    }
}
