//! The Kubernetes manifests deploy: the production overlay (and the base alone) render,
//! every object validates against the pinned schemas, nothing references an object or
//! port that is not there, every pod keeps the rules, and the pods get exactly the
//! settings calsync has. The negative tests prove the checks catch what they claim to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod check;
mod render;
mod schema;

use render::Doc;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

fn k8s() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/k8s")
}

static SCHEMAS: LazyLock<schema::Schemas> =
    LazyLock::new(|| schema::Schemas::load(&k8s().join("schemas")).expect("pinned schemas load"));

fn settings() -> BTreeSet<String> {
    calsync_runtime::Settings::keys()
        .expect("settings keys")
        .iter()
        .map(|k| calsync_runtime::Settings::env_var(k))
        .collect()
}

/// Every problem the checks find in `docs`.
fn problems(docs: &[Doc]) -> Vec<String> {
    let mut out: Vec<String> = docs.iter().flat_map(|d| SCHEMAS.validate(d)).collect();
    out.extend(check::dangling(docs));
    out.extend(check::pod_rules(docs));
    out.extend(check::settings(docs, &settings()));
    out.extend(check::public_urls(docs));
    out
}

fn production() -> Vec<Doc> {
    render::kustomize(&k8s().join("overlays/production")).expect("the overlay renders")
}

fn assert_clean(docs: &[Doc]) {
    let problems = problems(docs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn kinds(docs: &[Doc]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| {
            format!(
                "{} {}",
                d["kind"].as_str().unwrap_or("?"),
                d["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[test]
fn the_production_overlay_renders_to_valid_objects_that_reference_only_what_exists() {
    let docs = production();
    assert_clean(&docs);
    let kinds = kinds(&docs);
    for expected in [
        "Deployment calsync-api",
        "Deployment calsync-webhook-ingest",
        "Deployment calsync-sync-worker",
        "Job calsync-migrate",
        "Ingress calsync",
        "ScaledObject calsync-sync-worker",
        "TriggerAuthentication calsync-rabbitmq",
        "PodDisruptionBudget calsync-api",
        "Secret calsync-secrets",
        "ConfigMap calsync-config",
    ] {
        assert!(
            kinds.contains(expected),
            "{expected} missing from {kinds:?}"
        );
    }
}

#[test]
fn the_overlay_sets_registry_replicas_namespace_and_hosts() {
    let docs = production();
    let api = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "calsync-api")
        .expect("api");
    assert_eq!(
        api["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/platform/calsync:0.1.0"
    );
    assert_eq!(api["spec"]["replicas"], 3);
    assert!(docs.iter().all(|d| d["metadata"]["namespace"] == "calsync"));
    let ingress = docs
        .iter()
        .find(|d| d["kind"] == "Ingress")
        .expect("ingress");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "calsync.example.org");
    // Rendered by the base's patch target too: the base's own hosts are gone.
    assert!(!serde_json::to_string(&docs)
        .unwrap()
        .contains("calsync.example.com"));
}

#[test]
fn the_base_alone_is_valid_too() {
    assert_clean(&render::kustomize(&k8s().join("base")).expect("the base renders"));
}

#[test]
fn every_manifest_file_is_rendered_by_a_kustomization() {
    let used: BTreeSet<PathBuf> = render::files_used(&k8s().join("overlays/production"))
        .expect("files")
        .into_iter()
        .map(|p| p.canonicalize().expect("exists"))
        .collect();
    let mut stack = vec![k8s()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                assert!(
                    used.contains(&path.canonicalize().unwrap()),
                    "{} is not part of the production overlay, so nothing checks it",
                    path.display()
                );
            }
        }
    }
}

/// The production objects with one edit applied by `edit`.
fn edited(edit: impl FnOnce(&mut Vec<Doc>)) -> Vec<String> {
    let mut docs = production();
    edit(&mut docs);
    problems(&docs)
}

fn named<'a>(docs: &'a mut [Doc], kind: &str, name: &str) -> &'a mut Doc {
    docs.iter_mut()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name}"))
}

#[test]
fn a_dangling_secret_is_caught() {
    let problems = edited(|docs| {
        named(docs, "Secret", "calsync-secrets")["metadata"]["name"] = "calsync-secret".into();
    });
    assert!(
        problems.iter().any(|p| p.starts_with(
            "Deployment calsync-api container api: Secret calsync-secrets is not defined"
        )),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with(
            "TriggerAuthentication calsync-rabbitmq: Secret calsync-secrets is not defined"
        )),
        "{problems:#?}"
    );
}

#[test]
fn a_secret_key_that_is_missing_is_caught() {
    let problems = edited(|docs| {
        let secret = named(docs, "Secret", "calsync-secrets");
        secret["stringData"]
            .as_object_mut()
            .unwrap()
            .remove("CALSYNC__AMQP__URL");
    });
    assert!(
        problems.contains(&"TriggerAuthentication calsync-rabbitmq: Secret calsync-secrets has no key CALSYNC__AMQP__URL".to_owned()),
        "{problems:#?}"
    );
}

#[test]
fn a_dangling_trigger_authentication_is_caught() {
    let problems = edited(|docs| {
        docs.retain(|d| d["kind"] != "TriggerAuthentication");
    });
    assert_eq!(
        problems,
        ["ScaledObject calsync-sync-worker: TriggerAuthentication calsync-rabbitmq is not defined"]
    );
}

#[test]
fn a_service_port_naming_no_container_port_is_caught() {
    let problems = edited(|docs| {
        named(docs, "Service", "calsync-api")["spec"]["ports"][0]["targetPort"] = "web".into();
    });
    assert_eq!(
        problems,
        ["Service calsync-api: targetPort \"web\" names no container port of the pods it selects"]
    );
}

#[test]
fn an_ingress_backend_naming_no_service_or_port_is_caught() {
    let problems = edited(|docs| {
        let ingress = named(docs, "Ingress", "calsync");
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] =
            serde_json::json!({"number": 8080});
        ingress["spec"]["rules"][1]["http"]["paths"][0]["backend"]["service"]["name"] =
            "ingest".into();
    });
    assert_eq!(
        problems,
        [
            "Ingress calsync: backend port {\"number\":8080} is not a port of Service calsync-api",
            "Ingress calsync: backend Service ingest is not defined",
        ]
    );
}

#[test]
fn a_misspelt_field_fails_the_schema() {
    let problems = edited(|docs| {
        let api = named(docs, "Deployment", "calsync-api");
        api["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = serde_json::json!({});
    });
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("Deployment calsync-api: at /spec/template/spec/containers/0"),
        "{problems:#?}"
    );
    assert!(problems[0].contains("readinesProbe"), "{problems:#?}");
}

#[test]
fn an_unknown_or_misplaced_setting_is_caught() {
    let problems = edited(|docs| {
        let config = named(docs, "ConfigMap", "calsync-config");
        config["data"]["CALSYNC__API__NOT_A_SETTING"] = "x".into();
        config["data"]["CALSYNC__API__JWT_SECRET"] = "x".into();
    });
    let api: Vec<_> = problems
        .iter()
        .filter(|p| p.starts_with("Deployment calsync-api "))
        .collect();
    assert_eq!(
        api,
        [
            "Deployment calsync-api container api: CALSYNC__API__JWT_SECRET is set 2 times (ConfigMap, Secret)",
            "Deployment calsync-api container api: CALSYNC__API__JWT_SECRET is a secret but comes from ConfigMap, Secret",
            "Deployment calsync-api container api: CALSYNC__API__NOT_A_SETTING is not a setting; the service would refuse to start",
        ]
    );
}

#[test]
fn a_public_url_the_ingress_does_not_serve_is_caught() {
    let problems = edited(|docs| {
        named(docs, "ConfigMap", "calsync-config")["data"]["CALSYNC__INGEST__PUBLIC_URL"] =
            "https://hooks.elsewhere.example".into();
    });
    assert_eq!(
        problems,
        [
            "CALSYNC__INGEST__PUBLIC_URL = https://hooks.elsewhere.example: no Ingress rule for hooks.elsewhere.example routes /webhooks/google",
            "CALSYNC__INGEST__PUBLIC_URL = https://hooks.elsewhere.example: no Ingress TLS entry covers hooks.elsewhere.example",
        ]
    );
}

#[test]
fn the_renderer_merges_patches_and_images_as_kustomize_does() {
    let mut base = serde_json::json!({"spec": {"containers": [
        {"name": "a", "image": "calsync:1", "env": [{"name": "X", "value": "1"}]},
        {"name": "b", "image": "reg:5000/calsync@sha256:abc"}
    ]}});
    render::merge(
        &mut base,
        &serde_json::json!({"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}]}}),
    );
    assert_eq!(
        base["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(base["spec"]["containers"][0]["image"], "calsync:1");
    let docs = render::parse_yaml("a: 1\n---\n---\nb: [x, y]\n").unwrap();
    assert_eq!(docs.len(), 2, "empty documents are skipped");
}
