//! What a schema cannot see: references between objects (a Secret, ConfigMap,
//! ServiceAccount, TriggerAuthentication, Deployment, Service or port named but not
//! defined), selectors that select nothing, the pod rules every calsync pod keeps, and
//! the configuration the pods get, held to the keys `Settings` has.

use crate::render::Doc;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn name(doc: &Doc) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or("?")
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn find<'a>(docs: &'a [Doc], kind: &str, wanted: &str) -> Option<&'a Doc> {
    docs.iter().find(|d| d["kind"] == kind && name(d) == wanted)
}

/// Keys a Secret or ConfigMap defines (`data`, `stringData`, `binaryData`).
fn keys_of(doc: &Doc) -> BTreeSet<String> {
    ["data", "stringData", "binaryData"]
        .iter()
        .filter_map(|f| doc[f].as_object())
        .flat_map(|m| m.keys().cloned())
        .collect()
}

/// Workloads with their pod templates.
fn pods(docs: &[Doc]) -> impl Iterator<Item = (&Doc, &Value)> {
    docs.iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("Deployment" | "Job")))
        .map(|d| (d, &d["spec"]["template"]))
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    items(&pod["spec"]["containers"]).chain(items(&pod["spec"]["initContainers"]))
}

fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// Pod templates whose labels `selector` matches.
fn selected<'a>(docs: &'a [Doc], selector: &Value) -> Vec<&'a Value> {
    pods(docs)
        .map(|(_, pod)| pod)
        .filter(|pod| selects(selector, &pod["metadata"]["labels"]))
        .collect()
}

/// A `key` reference into a Secret or ConfigMap: both must exist.
fn key_ref(docs: &[Doc], kind: &str, r: &Value, who: &str, out: &mut Vec<String>) {
    if r["optional"] == true {
        return;
    }
    let wanted = r["name"].as_str().unwrap_or_default();
    match find(docs, kind, wanted) {
        None => out.push(format!("{who}: {kind} {wanted} is not defined")),
        Some(doc) => {
            if let Some(key) = r["key"].as_str() {
                if !keys_of(doc).contains(key) {
                    out.push(format!("{who}: {kind} {wanted} has no key {key}"));
                }
            }
        }
    }
}

/// Every reference in `docs` that names nothing.
pub fn dangling(docs: &[Doc]) -> Vec<String> {
    let mut out = Vec::new();
    for (workload, pod) in pods(docs) {
        let who = format!(
            "{} {}",
            workload["kind"].as_str().unwrap_or("?"),
            name(workload)
        );
        if workload["kind"] == "Deployment"
            && !selects(
                &workload["spec"]["selector"]["matchLabels"],
                &pod["metadata"]["labels"],
            )
        {
            out.push(format!(
                "{who}: its selector does not match its pod template"
            ));
        }
        let spec = &pod["spec"];
        if let Some(sa) = spec["serviceAccountName"].as_str() {
            if find(docs, "ServiceAccount", sa).is_none() {
                out.push(format!("{who}: ServiceAccount {sa} is not defined"));
            }
        }
        for v in items(&spec["volumes"]) {
            if v["secret"].is_object() {
                let r = serde_json::json!({"name": v["secret"]["secretName"], "optional": v["secret"]["optional"]});
                key_ref(docs, "Secret", &r, &who, &mut out);
            }
            if v["configMap"].is_object() {
                key_ref(docs, "ConfigMap", &v["configMap"], &who, &mut out);
            }
        }
        for c in containers(pod) {
            let who = format!("{who} container {}", c["name"].as_str().unwrap_or("?"));
            for from in items(&c["envFrom"]) {
                if from["secretRef"].is_object() {
                    key_ref(docs, "Secret", &from["secretRef"], &who, &mut out);
                }
                if from["configMapRef"].is_object() {
                    key_ref(docs, "ConfigMap", &from["configMapRef"], &who, &mut out);
                }
            }
            for e in items(&c["env"]) {
                let from = &e["valueFrom"];
                if from["secretKeyRef"].is_object() {
                    key_ref(docs, "Secret", &from["secretKeyRef"], &who, &mut out);
                }
                if from["configMapKeyRef"].is_object() {
                    key_ref(docs, "ConfigMap", &from["configMapKeyRef"], &who, &mut out);
                }
            }
            let port_names: BTreeSet<&str> = items(&c["ports"])
                .filter_map(|p| p["name"].as_str())
                .collect();
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                let p = &c[probe];
                for port in [&p["httpGet"]["port"], &p["tcpSocket"]["port"]] {
                    if let Some(n) = port.as_str() {
                        if !port_names.contains(n) {
                            out.push(format!("{who}: {probe} names port {n}, which the container does not declare"));
                        }
                    }
                }
            }
        }
    }
    for svc in docs.iter().filter(|d| d["kind"] == "Service") {
        let who = format!("Service {}", name(svc));
        let pods = selected(docs, &svc["spec"]["selector"]);
        if pods.is_empty() {
            out.push(format!("{who}: its selector matches no pod template"));
            continue;
        }
        let container_ports: Vec<&Value> = pods
            .iter()
            .flat_map(|p| containers(p))
            .flat_map(|c| items(&c["ports"]))
            .collect();
        for port in items(&svc["spec"]["ports"]) {
            let target = if port["targetPort"].is_null() {
                &port["port"]
            } else {
                &port["targetPort"]
            };
            let found = match target {
                Value::String(n) => container_ports.iter().any(|p| p["name"] == *n),
                n => container_ports.iter().any(|p| p["containerPort"] == *n),
            };
            if !found {
                out.push(format!(
                    "{who}: targetPort {target} names no container port of the pods it selects"
                ));
            }
        }
    }
    for pdb in docs.iter().filter(|d| d["kind"] == "PodDisruptionBudget") {
        if selected(docs, &pdb["spec"]["selector"]["matchLabels"]).is_empty() {
            out.push(format!(
                "PodDisruptionBudget {}: its selector matches no pod template",
                name(pdb)
            ));
        }
    }
    for ing in docs.iter().filter(|d| d["kind"] == "Ingress") {
        let who = format!("Ingress {}", name(ing));
        let backends = items(&ing["spec"]["rules"])
            .flat_map(|r| items(&r["http"]["paths"]))
            .map(|p| &p["backend"])
            .chain(Some(&ing["spec"]["defaultBackend"]).filter(|b| b.is_object()));
        for b in backends {
            let wanted = b["service"]["name"].as_str().unwrap_or_default();
            let Some(svc) = find(docs, "Service", wanted) else {
                out.push(format!("{who}: backend Service {wanted} is not defined"));
                continue;
            };
            let port = &b["service"]["port"];
            let found = items(&svc["spec"]["ports"]).any(|p| {
                (port["name"].is_string() && p["name"] == port["name"])
                    || (port["number"].is_number() && p["port"] == port["number"])
            });
            if !found {
                out.push(format!(
                    "{who}: backend port {port} is not a port of Service {wanted}"
                ));
            }
        }
        // cert-manager creates the TLS Secret of an Ingress that names an issuer.
        let annotations = &ing["metadata"]["annotations"];
        let issued = annotations.get("cert-manager.io/cluster-issuer").is_some()
            || annotations.get("cert-manager.io/issuer").is_some();
        for tls in items(&ing["spec"]["tls"]) {
            if let Some(secret) = tls["secretName"].as_str() {
                if !issued && find(docs, "Secret", secret).is_none() {
                    out.push(format!("{who}: TLS Secret {secret} is not defined and no cert-manager issuer creates it"));
                }
            }
        }
    }
    for so in docs.iter().filter(|d| d["kind"] == "ScaledObject") {
        let who = format!("ScaledObject {}", name(so));
        let target = &so["spec"]["scaleTargetRef"];
        let kind = target["kind"].as_str().unwrap_or("Deployment");
        let wanted = target["name"].as_str().unwrap_or_default();
        if find(docs, kind, wanted).is_none() {
            out.push(format!(
                "{who}: scale target {kind} {wanted} is not defined"
            ));
        }
        for t in items(&so["spec"]["triggers"]) {
            let r = &t["authenticationRef"];
            if r.is_object() {
                let kind = r["kind"].as_str().unwrap_or("TriggerAuthentication");
                let wanted = r["name"].as_str().unwrap_or_default();
                if find(docs, kind, wanted).is_none() {
                    out.push(format!("{who}: {kind} {wanted} is not defined"));
                }
            }
        }
    }
    for ta in docs.iter().filter(|d| d["kind"] == "TriggerAuthentication") {
        let who = format!("TriggerAuthentication {}", name(ta));
        for r in items(&ta["spec"]["secretTargetRef"]) {
            key_ref(docs, "Secret", r, &who, &mut out);
        }
        for r in items(&ta["spec"]["configMapTargetRef"]) {
            key_ref(docs, "ConfigMap", r, &who, &mut out);
        }
    }
    out
}

/// What every calsync pod keeps: a non-root user, requests and limits, a pinned image,
/// and (for the long-running services) both probes and a grace period.
pub fn pod_rules(docs: &[Doc]) -> Vec<String> {
    let mut out = Vec::new();
    for (workload, pod) in pods(docs) {
        let who = format!(
            "{} {}",
            workload["kind"].as_str().unwrap_or("?"),
            name(workload)
        );
        let spec = &pod["spec"];
        let long_running = workload["kind"] == "Deployment";
        if long_running && !spec["terminationGracePeriodSeconds"].is_number() {
            out.push(format!("{who}: no terminationGracePeriodSeconds"));
        }
        for c in containers(pod) {
            let who = format!("{who} container {}", c["name"].as_str().unwrap_or("?"));
            if spec["securityContext"]["runAsNonRoot"] != true
                && c["securityContext"]["runAsNonRoot"] != true
            {
                out.push(format!("{who}: may run as root (runAsNonRoot)"));
            }
            for need in ["requests", "limits"] {
                for r in ["cpu", "memory"] {
                    if c["resources"][need][r].is_null() {
                        out.push(format!("{who}: no {r} {need}"));
                    }
                }
            }
            let image = c["image"].as_str().unwrap_or_default();
            let tagged = image.contains('@')
                || image
                    .rsplit('/')
                    .next()
                    .is_some_and(|last| last.contains(':'));
            if !tagged || image.ends_with(":latest") {
                out.push(format!(
                    "{who}: image {image} is not pinned to a tag or digest"
                ));
            }
            if long_running {
                for probe in ["livenessProbe", "readinessProbe"] {
                    if !c[probe].is_object() {
                        out.push(format!("{who}: no {probe}"));
                    }
                }
            }
        }
    }
    out
}

/// The configuration each calsync container gets through `envFrom` and `env`.
fn container_config<'a>(docs: &'a [Doc], c: &'a Value) -> Vec<(String, &'a str)> {
    let mut out = Vec::new();
    for from in items(&c["envFrom"]) {
        for (field, kind) in [("secretRef", "Secret"), ("configMapRef", "ConfigMap")] {
            if let Some(src) = from[field]["name"]
                .as_str()
                .and_then(|n| find(docs, kind, n))
            {
                out.extend(keys_of(src).into_iter().map(|k| (k, kind)));
            }
        }
    }
    out.extend(
        items(&c["env"])
            .filter_map(|e| e["name"].as_str())
            .map(|n| (n.to_owned(), "env")),
    );
    out
}

/// Keys holding credentials: they belong in a Secret, never a ConfigMap.
fn is_secret(var: &str) -> bool {
    const SECRET_ENDINGS: &[&str] = &["_TOKEN", "_SECRET", "_SECRETS", "_KEY", "_KEYS"];
    // The URLs carry the database and broker passwords.
    var == "CALSYNC__DATABASE__URL"
        || var == "CALSYNC__AMQP__URL"
        || SECRET_ENDINGS.iter().any(|e| var.ends_with(e))
}

/// Each calsync container must get every setting exactly once, only settings that exist
/// (a service refuses unknown keys at start), and secrets only from Secrets.
pub fn settings(docs: &[Doc], settings: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for (workload, pod) in pods(docs) {
        for c in containers(pod) {
            let who = format!(
                "{} {} container {}",
                workload["kind"].as_str().unwrap_or("?"),
                name(workload),
                c["name"].as_str().unwrap_or("?")
            );
            let mut seen: BTreeMap<String, Vec<&str>> = BTreeMap::new();
            for (var, source) in container_config(docs, c) {
                if var.starts_with("CALSYNC__") {
                    seen.entry(var).or_default().push(source);
                }
            }
            for (var, sources) in &seen {
                if !settings.contains(var) {
                    out.push(format!(
                        "{who}: {var} is not a setting; the service would refuse to start"
                    ));
                    continue;
                }
                if sources.len() > 1 {
                    out.push(format!(
                        "{who}: {var} is set {} times ({})",
                        sources.len(),
                        sources.join(", ")
                    ));
                }
                if is_secret(var) && sources.iter().any(|s| *s != "Secret") {
                    out.push(format!(
                        "{who}: {var} is a secret but comes from {}",
                        sources.join(", ")
                    ));
                }
            }
            for var in settings {
                if !seen.contains_key(var) {
                    out.push(format!(
                        "{who}: {var} is set by no ConfigMap, Secret or env"
                    ));
                }
            }
        }
    }
    out
}

/// The public URLs providers are given must be served: each names an Ingress host (with
/// TLS) whose paths reach the callback / webhook paths.
pub fn public_urls(docs: &[Doc]) -> Vec<String> {
    let mut out = Vec::new();
    let config: BTreeMap<&str, &str> = docs
        .iter()
        .filter(|d| d["kind"] == "ConfigMap")
        .filter_map(|d| d["data"].as_object())
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect();
    for (var, path) in [
        (
            "CALSYNC__API__PUBLIC_URL",
            "/api/integrations/google/callback",
        ),
        ("CALSYNC__INGEST__PUBLIC_URL", "/webhooks/google"),
    ] {
        let Some(url) = config.get(var) else {
            out.push(format!("{var} is in no ConfigMap"));
            continue;
        };
        let Some(host) = url
            .strip_prefix("https://")
            .map(|h| h.split('/').next().unwrap_or_default())
        else {
            out.push(format!("{var} = {url}: providers need https"));
            continue;
        };
        let ingresses = docs.iter().filter(|d| d["kind"] == "Ingress");
        let routed = ingresses.clone().any(|ing| {
            items(&ing["spec"]["rules"]).any(|r| {
                r["host"] == host
                    && items(&r["http"]["paths"]).any(|p| {
                        p["path"]
                            .as_str()
                            .is_some_and(|prefix| path.starts_with(prefix))
                    })
            })
        });
        let tls = ingresses
            .flat_map(|ing| items(&ing["spec"]["tls"]))
            .any(|t| items(&t["hosts"]).any(|h| h == host));
        if !routed {
            out.push(format!(
                "{var} = {url}: no Ingress rule for {host} routes {path}"
            ));
        }
        if !tls {
            out.push(format!("{var} = {url}: no Ingress TLS entry covers {host}"));
        }
    }
    out
}
