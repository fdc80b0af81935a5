//! docker-compose.yml cannot drift from the code. There is no Docker engine
//! here, so the file is read as data: its services, the tether commands,
//! flags and variables it names, its ports and Prometheus's targets, and its
//! health checks, which run the real `tether healthcheck` against the real
//! routes.

use std::{collections::BTreeMap, net::SocketAddr, process::Command};

use yaml_rust2::Yaml;

use crate::{
    deploy::{load_yaml, repo_file},
    helpers::TestApp,
};

/// The image the Dockerfile builds; the services that run tether use it.
const TETHER_IMAGE: &str = "tether:local";

/// Images with no shell and no HTTP client (built `FROM scratch`), which
/// cannot run a health check inside their container.
const NO_HEALTHCHECK_POSSIBLE: &[&str] = &["otel-collector", "jaeger"];

fn services() -> BTreeMap<String, Yaml> {
    load_yaml("docker-compose.yml")["services"]
        .as_hash()
        .expect("docker-compose.yml has services")
        .iter()
        .map(|(name, service)| (name.as_str().unwrap().to_owned(), service.clone()))
        .collect()
}

fn service(name: &str) -> Yaml {
    services()
        .remove(name)
        .unwrap_or_else(|| panic!("docker-compose.yml has no service {name}"))
}

fn strings(list: &Yaml) -> Vec<String> {
    list.as_vec()
        .map(|items| {
            items
                .iter()
                .map(|i| i.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A service's environment; `None` for a variable passed through from the
/// shell only when it is set there.
fn environment(service: &Yaml) -> BTreeMap<String, Option<String>> {
    service["environment"]
        .as_hash()
        .map(|vars| {
            vars.iter()
                .map(|(k, v)| {
                    (
                        k.as_str().unwrap().to_owned(),
                        v.as_str().map(str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn runs_tether(service: &Yaml) -> bool {
    service["image"].as_str() == Some(TETHER_IMAGE)
}

/// `tether SUBCOMMAND --help`, which must succeed.
fn help(subcommand: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args([subcommand, "--help"])
        .output()
        .expect("tether runs");
    assert!(
        out.status.success(),
        "`tether {subcommand}` is not a tether command: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The value after `flag` in a command line.
fn flag_value(command: &[String], flag: &str) -> Option<String> {
    let at = command.iter().position(|arg| arg == flag)?;
    command.get(at + 1).cloned()
}

/// The URL a tether service's health check GETs, after checking that the
/// check runs the image's own binary.
fn health_url(name: &str) -> String {
    let test = strings(&service(name)["healthcheck"]["test"]);
    let dockerfile = std::fs::read_to_string(repo_file("Dockerfile")).unwrap();
    let entrypoint = format!("ENTRYPOINT [\"{}\"]", test[1]);
    assert!(
        dockerfile.contains(&entrypoint),
        "{name}'s health check runs {}, which is not the image's entrypoint",
        test[1]
    );
    assert_eq!(test[0], "CMD", "{name}: no shell in the image");
    assert_eq!(test[2], "healthcheck", "{name}");
    test[3].clone()
}

fn port_of(url: &str) -> u16 {
    reqwest::Url::parse(url)
        .unwrap()
        .port()
        .expect("an explicit port")
}

#[test]
fn compose_runs_the_production_services() {
    let names: Vec<String> = services().into_keys().collect();
    for expected in ["postgres", "migrate", "roles", "ingest", "worker"] {
        assert!(
            names.contains(&expected.to_owned()),
            "{expected} in {names:?}"
        );
    }
    let tether: Vec<&String> = names.iter().filter(|n| runs_tether(&service(n))).collect();
    assert_eq!(tether, ["ingest", "migrate", "worker"]);
    for name in tether {
        assert_eq!(
            service(name)["build"].as_str(),
            Some("."),
            "{name} builds the Dockerfile"
        );
    }
    // `--scale worker=3` needs a worker without a fixed name or host port.
    let worker = service("worker");
    assert!(worker["ports"].is_badvalue() && worker["container_name"].is_badvalue());
    let roles = strings(&service("roles")["volumes"]);
    assert_eq!(roles, ["./deploy/roles.sql:/deploy/roles.sql:ro"]);
    assert!(repo_file("deploy/roles.sql").exists());
    assert!(strings(&service("roles")["command"]).contains(&"/deploy/roles.sql".to_owned()));
}

#[test]
fn compose_publishes_no_database_port() {
    assert!(
        service("postgres")["ports"].is_badvalue(),
        "postgres publishes nothing"
    );
    for (name, service) in services() {
        for port in strings(&service["ports"]) {
            assert!(
                !port.ends_with(":5432"),
                "{name} publishes the database: {port}"
            );
        }
    }
}

/// `${VAR:?message}` everywhere: compose refuses to start without each
/// value, and no password has a default to forget to change.
#[test]
fn compose_has_no_default_value_for_any_variable() {
    let text = std::fs::read_to_string(repo_file("docker-compose.yml")).unwrap();
    let uses: Vec<&str> = text
        .split("${")
        .skip(1)
        .map(|rest| &rest[..rest.find('}').expect("a closed ${...}")])
        .collect();
    assert!(uses.len() >= 4, "{uses:?}");
    for interpolation in uses {
        let (name, rule) = interpolation.split_at(
            interpolation
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(interpolation.len()),
        );
        assert!(
            rule.starts_with(":?"),
            "${{{name}}} must be required: ${{{interpolation}}}"
        );
    }
    for (name, user) in [
        ("migrate", "postgres"),
        ("ingest", "tether_ingest"),
        ("worker", "tether_worker"),
    ] {
        let url = environment(&service(name))["DATABASE_URL"].clone().unwrap();
        assert!(
            url.starts_with(&format!("postgres://{user}:${{")),
            "{name} connects as {user} with a password from the environment: {url}"
        );
    }
}

#[test]
fn compose_names_only_real_commands_flags_and_variables() {
    for (name, service) in services().into_iter().filter(|(_, s)| runs_tether(s)) {
        let command = strings(&service["command"]);
        let help = help(&command[0]);
        for flag in command.iter().filter(|arg| arg.starts_with("--")) {
            assert!(
                help.contains(&format!("{flag} ")),
                "{name}: `tether {}` has no {flag}",
                command[0]
            );
        }
        for variable in environment(&service).into_keys() {
            // The OpenTelemetry SDK's own variables, read by the exporter.
            if variable.starts_with("OTEL_") {
                continue;
            }
            assert!(
                help.contains(&format!("[env: {variable}="))
                    || help.contains(&format!("[env: {variable}]")),
                "{name}: `tether {}` reads no {variable}",
                command[0]
            );
        }
    }
}

#[test]
fn compose_ports_agree_with_tether_and_prometheus() {
    let prometheus = load_yaml("deploy/prometheus/prometheus.yml");
    let jobs: BTreeMap<&str, &Yaml> = prometheus["scrape_configs"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|job| (job["job_name"].as_str().unwrap(), job))
        .collect();

    let ingest = service("ingest");
    let listen: SocketAddr = environment(&ingest)["TETHER_LISTEN"]
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    let port = listen.port();
    assert_eq!(strings(&ingest["ports"]), [format!("{port}:{port}")]);
    assert_eq!(port_of(&health_url("ingest")), port);
    let targets = strings(&jobs["tether-ingest"]["static_configs"][0]["targets"]);
    assert_eq!(targets, [format!("ingest:{port}")]);

    let command = strings(&service("worker")["command"]);
    let metrics: SocketAddr = flag_value(&command, "--metrics-listen")
        .expect("workers serve metrics")
        .parse()
        .unwrap();
    assert_eq!(port_of(&health_url("worker")), metrics.port());
    let discovery = &jobs["tether-worker"]["dns_sd_configs"][0];
    assert_eq!(strings(&discovery["names"]), ["worker"]);
    assert_eq!(discovery["port"].as_i64(), Some(i64::from(metrics.port())));
}

#[test]
fn every_long_running_service_has_a_health_check() {
    for (name, service) in services() {
        let one_shot = service["restart"].as_str() == Some("no");
        if one_shot || NO_HEALTHCHECK_POSSIBLE.contains(&name.as_str()) {
            continue;
        }
        let test = strings(&service["healthcheck"]["test"]);
        assert_eq!(
            test.first().map(String::as_str),
            Some("CMD"),
            "{name} has a health check"
        );
    }
}

/// `tether healthcheck` on ingest's real route answers 0, on a route that
/// does not exist 1, as docker reads them.
#[tokio::test]
async fn the_ingest_health_check_passes_against_a_running_ingest() {
    let app = TestApp::spawn().await;
    let url = reqwest::Url::parse(&health_url("ingest")).unwrap();
    // Asynchronously: the server answers on this test's runtime.
    let healthcheck = |path: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_tether"))
            .args(["healthcheck", &format!("http://{}{path}", app.addr)])
            .output()
    };
    let ok = healthcheck(url.path()).await.expect("tether runs");
    assert!(
        ok.status.success(),
        "{}: {}",
        url.path(),
        String::from_utf8_lossy(&ok.stderr)
    );
    let missing = healthcheck("/no-such-route").await.expect("tether runs");
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("404"), "{stderr}");
}

/// The worker's health check is its metrics listener's `/healthz`: run
/// against a real worker listening where compose's flag says.
#[tokio::test]
async fn the_worker_health_check_passes_against_a_running_worker() {
    let app = TestApp::spawn().await;
    let url = reqwest::Url::parse(&health_url("worker")).unwrap();
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], crate::metrics::free_port()));
    let _worker = crate::worker_support::spawn_worker(
        &app,
        &[("TETHER_METRICS_LISTEN", &listen.to_string())],
    );
    crate::metrics::wait_until_listening(listen).await;
    let checked = tokio::process::Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["healthcheck", &format!("http://{listen}{}", url.path())])
        .output()
        .await
        .expect("tether runs");
    assert!(
        checked.status.success(),
        "{}: {}",
        url.path(),
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// Traces are off unless OTEL_EXPORTER_OTLP_ENDPOINT is set when compose
/// starts (passed through, never defaulted), and the address the file tells
/// people to set is where the collector of the observability profile
/// receives OTLP over HTTP.
#[test]
fn the_traces_endpoint_is_the_collector_of_the_observability_profile() {
    let endpoint = "http://otel-collector:4318";
    for name in ["ingest", "worker"] {
        let env = environment(&service(name));
        assert_eq!(
            env.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            Some(&None),
            "{name} passes it through"
        );
    }
    let text = std::fs::read_to_string(repo_file("docker-compose.yml")).unwrap();
    assert!(text.contains(&format!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}")));
    let collector = service("otel-collector");
    assert_eq!(strings(&collector["profiles"]), ["observability"]);
    assert_eq!(
        strings(&collector["volumes"]),
        ["./deploy/otel/collector.yml:/etc/otelcol/config.yaml:ro"]
    );
    let config = load_yaml("deploy/otel/collector.yml");
    let http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].as_str();
    assert_eq!(http, Some("0.0.0.0:4318"));
    let exporter = config["exporters"]["otlp/jaeger"]["endpoint"]
        .as_str()
        .unwrap();
    assert!(
        services().contains_key(exporter.split(':').next().unwrap()),
        "{exporter}"
    );
}
