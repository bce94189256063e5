//! The Kubernetes manifests and the image describe the server that actually runs: every port
//! a probe, Service or ServiceMonitor names is one the container declares, the listen
//! addresses the image and ConfigMap set use those ports, and `nova serve` and `nova worker`,
//! started with the manifests' settings (on loopback, as the container would on 0.0.0.0),
//! answer each probe path as the manifests expect.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::common;

use common::Backend;
use common::process::{KillOnDrop, Nova, stop};
use serde::Deserialize;
use yaml_serde::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every object in a YAML file.
fn objects(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    yaml_serde::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// The base's objects, by `Kind/name`.
fn base() -> BTreeMap<String, Value> {
    let dir = repo().join("deploy/kubernetes/base");
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml")
            && path.file_name().unwrap() != "kustomization.yaml"
        {
            for o in objects(&path) {
                let key = format!("{}/{}", s(&o["kind"]), s(&o["metadata"]["name"]));
                all.insert(key, o);
            }
        }
    }
    all
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

/// The port number in `host:port`.
fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// A Deployment's one container.
fn container<'a>(objs: &'a BTreeMap<String, Value>, deployment: &str) -> &'a Value {
    let d = &objs[&format!("Deployment/{deployment}")];
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap();
    assert_eq!(containers.len(), 1, "{deployment} runs one container");
    &containers[0]
}

/// The container's named ports.
fn ports(c: &Value) -> BTreeMap<String, u16> {
    c["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            (
                s(&p["name"]).to_string(),
                p["containerPort"].as_u64().unwrap() as u16,
            )
        })
        .collect()
}

/// `(path, port name)` of a probe.
fn probe(c: &Value, which: &str) -> (String, String) {
    let get = &c[which]["httpGet"];
    (s(&get["path"]).to_string(), s(&get["port"]).to_string())
}

/// The image's `ENV` settings, as `NAME=value` pairs.
fn image_env() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ENV "))
        .flat_map(|rest| rest.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The settings a container gets from the ConfigMap and its literal `env` values; secrets
/// (`secretKeyRef`) get a stand-in, as the Secret would give them.
fn container_env(objs: &BTreeMap<String, Value>, c: &Value) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for from in c["envFrom"].as_sequence().unwrap() {
        let name = s(&from["configMapRef"]["name"]);
        if let Some(cm) = objs.get(&format!("ConfigMap/{name}")) {
            for (k, v) in cm["data"].as_mapping().unwrap() {
                env.insert(s(k).to_string(), s(v).to_string());
            }
        } else {
            assert_eq!(
                from["configMapRef"]["optional"].as_bool(),
                Some(true),
                "ConfigMap {name} is not in the base, so it must be optional (an overlay's)"
            );
        }
    }
    for e in c["env"].as_sequence().unwrap() {
        let name = s(&e["name"]).to_string();
        let value = match (&e["value"], &e["valueFrom"]["secretKeyRef"]) {
            (Value::String(v), _) => v.clone(),
            // An optional secret (SMTP) may be missing.
            (_, secret) if secret["optional"].as_bool() == Some(true) => continue,
            (_, secret) if !secret.is_null() => format!("stand-in-{}", s(&secret["key"])),
            other => panic!("{name}: {other:?}"),
        };
        env.insert(name, value);
    }
    env
}

#[test]
fn ports_probes_and_listen_addresses_agree() {
    let objs = base();
    let image = image_env();
    let api = container(&objs, "nova-api");
    let worker = container(&objs, "nova-worker");
    let api_ports = ports(api);
    let worker_ports = ports(worker);

    // The image's listen addresses are on every interface and on the declared ports.
    assert!(image["NOVA_LISTEN"].starts_with("0.0.0.0:"));
    assert!(image["NOVA_WORKER_LISTEN"].starts_with("0.0.0.0:"));
    assert_eq!(port_of(&image["NOVA_LISTEN"]), api_ports["http"]);
    assert_eq!(
        port_of(&image["NOVA_WORKER_LISTEN"]),
        worker_ports["probes"]
    );
    let env = container_env(&objs, api);
    assert_eq!(port_of(&env["NOVA_METRICS_LISTEN"]), api_ports["metrics"]);

    // Probes name declared ports.
    for (c, ports) in [(api, &api_ports), (worker, &worker_ports)] {
        for which in ["readinessProbe", "livenessProbe"] {
            let (_, port) = probe(c, which);
            assert!(ports.contains_key(&port), "{which} names port {port}");
        }
    }
    // Services point at declared ports, and ServiceMonitors at Service ports.
    for (name, ports) in [("nova-api", &api_ports), ("nova-worker", &worker_ports)] {
        let svc = &objs[&format!("Service/{name}")];
        let mut svc_ports = Vec::new();
        for p in svc["spec"]["ports"].as_sequence().unwrap() {
            let target = s(&p["targetPort"]);
            assert!(ports.contains_key(target), "{name} targets {target}");
            assert_eq!(p["port"].as_u64().unwrap() as u16, ports[target]);
            svc_ports.push(s(&p["name"]).to_string());
        }
        let monitor = &objs[&format!("ServiceMonitor/{name}")];
        for e in monitor["spec"]["endpoints"].as_sequence().unwrap() {
            assert!(svc_ports.contains(&s(&e["port"]).to_string()));
            assert_eq!(s(&e["path"]), "/metrics");
        }
        // The HPA and budgets select what the Deployment labels.
        let labels = &objs[&format!("Deployment/{name}")]["spec"]["template"]["metadata"]["labels"];
        let budget = &objs[&format!("PodDisruptionBudget/{name}")];
        assert_eq!(&budget["spec"]["selector"]["matchLabels"], labels);
        assert_eq!(&svc["spec"]["selector"], labels);
    }
    assert_eq!(
        s(&objs["HorizontalPodAutoscaler/nova-api"]["spec"]["scaleTargetRef"]["name"]),
        "nova-api"
    );
}

/// Start `nova <command>` with `env`, reading the lines it prints until each prefix has been
/// seen; the addresses after the prefixes, in order.
fn start(
    nova: &Nova,
    command: &str,
    env: &BTreeMap<String, String>,
    prefixes: &[&str],
) -> (Child, Vec<String>) {
    let mut cmd = nova.command();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .arg(command)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut found = vec![String::new(); prefixes.len()];
    while found.iter().any(String::is_empty) {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "nova {command} stopped"
        );
        for (i, p) in prefixes.iter().enumerate() {
            if let Some(addr) = line.trim().strip_prefix(p) {
                found[i] = addr.to_string();
            }
        }
    }
    // Keep reading what it prints, so a later line never meets a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, found)
}

/// The image's settings, but for the data and cache directories: those are volumes, which
/// the test's own temporary directories stand in for.
fn image_settings() -> BTreeMap<String, String> {
    let mut env = image_env();
    env.remove("NOVA_DATA_DIR");
    env.remove("NOVA_CACHE_DIR");
    env
}

/// Loopback instead of every interface, on a free port.
fn on_loopback(env: &mut BTreeMap<String, String>, key: &str) {
    env.insert(key.into(), "127.0.0.1:0".into());
}

async fn status(http: &reqwest::Client, url: &str, token: Option<&str>) -> u16 {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn the_servers_answer_what_the_manifests_probe(backend: Backend) {
    let objs = base();
    let image = image_settings();
    let nova = Nova::new(backend).await;
    let http = reqwest::Client::new();
    let redis = common::redis_url();

    // The API, as its container runs it.
    let api = container(&objs, "nova-api");
    let mut env = image.clone();
    env.extend(container_env(&objs, api));
    env.insert("REDIS_URL".into(), redis.clone());
    match &nova.database_url {
        Some(url) => env.insert("DATABASE_URL".into(), url.clone()),
        None => env.remove("DATABASE_URL"),
    };
    on_loopback(&mut env, "NOVA_LISTEN");
    on_loopback(&mut env, "NOVA_METRICS_LISTEN");
    let token = env["NOVA_METRICS_TOKEN"].clone();
    let args: Vec<&str> = api["args"].as_sequence().unwrap().iter().map(s).collect();
    assert_eq!(args, ["serve"]);
    let (child, addrs) = start(
        &nova,
        "serve",
        &env,
        &["nova listening on ", "nova metrics on "],
    );
    let mut serve = KillOnDrop(Some(child));
    let by_port: BTreeMap<&str, &str> =
        [("http", addrs[0].as_str()), ("metrics", addrs[1].as_str())].into();
    for which in ["readinessProbe", "livenessProbe"] {
        let (path, port) = probe(api, which);
        let url = format!("{}{path}", by_port[port.as_str()]);
        assert_eq!(status(&http, &url, None).await, 200, "api {which} {url}");
    }
    // Metrics: the private port wants the token; so does the API port.
    let metrics = format!("{}/metrics", by_port["metrics"]);
    assert_eq!(status(&http, &metrics, Some(&token)).await, 200);
    assert_eq!(status(&http, &metrics, None).await, 401);
    assert_eq!(status(&http, &metrics, Some("not-the-token")).await, 401);
    let api_metrics = format!("{}/metrics", by_port["http"]);
    assert_eq!(status(&http, &api_metrics, None).await, 401);
    assert_eq!(status(&http, &api_metrics, Some(&token)).await, 200);

    // The worker, likewise.
    let worker = container(&objs, "nova-worker");
    let mut env = image.clone();
    env.extend(container_env(&objs, worker));
    env.insert("REDIS_URL".into(), redis);
    match &nova.database_url {
        Some(url) => env.insert("DATABASE_URL".into(), url.clone()),
        None => env.remove("DATABASE_URL"),
    };
    on_loopback(&mut env, "NOVA_WORKER_LISTEN");
    let (child, addrs) = start(&nova, "worker", &env, &["nova worker probes on "]);
    let mut worker_child = KillOnDrop(Some(child));
    for which in ["readinessProbe", "livenessProbe"] {
        let (path, port) = probe(worker, which);
        assert_eq!(port, "probes");
        let url = format!("{}{path}", addrs[0]);
        assert_eq!(status(&http, &url, None).await, 200, "worker {which} {url}");
    }
    let metrics = format!("{}/metrics", addrs[0]);
    assert_eq!(status(&http, &metrics, Some(&token)).await, 200);
    assert_eq!(status(&http, &metrics, None).await, 401);

    stop(worker_child.take());
    stop(serve.take());
}

both_backends!(the_servers_answer_what_the_manifests_probe);
