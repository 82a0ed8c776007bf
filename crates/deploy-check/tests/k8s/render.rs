//! Renders a kustomization as `kubectl kustomize` does, for the features calsync's
//! manifests use: resources (files and directories), namespace, labels, images,
//! replicas, and patches (strategic merge by kind and name, or JSON 6902 with a target).
//! Any other kustomization field is refused, so a manifest change this renderer does not
//! understand fails the check instead of being checked wrongly.

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub type Doc = Value;

const KNOWN_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "namespace",
    "labels",
    "resources",
    "images",
    "replicas",
    "patches",
];

/// Every YAML document of `path`, in order; empty documents are skipped.
pub fn read_yaml(path: &Path) -> Result<Vec<Doc>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse_yaml(text: &str) -> Result<Vec<Doc>, String> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| e.to_string())?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// The files a kustomization directory (and those it includes) reads: resources and
/// patches. Lets a test find manifest files that no kustomization renders.
pub fn files_used(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let k = kustomization(dir)?;
    let mut out = vec![dir.join("kustomization.yaml")];
    for r in strings(&k, "resources")? {
        let path = dir.join(&r);
        if path.is_dir() {
            out.extend(files_used(&path)?);
        } else {
            out.push(path);
        }
    }
    for p in k
        .get("patches")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(path) = p.get("path").and_then(Value::as_str) {
            out.push(dir.join(path));
        }
    }
    Ok(out)
}

fn kustomization(dir: &Path) -> Result<Value, String> {
    let path = dir.join("kustomization.yaml");
    let mut docs = read_yaml(&path)?;
    if docs.len() != 1 {
        return Err(format!("{}: expected one document", path.display()));
    }
    let k = docs.remove(0);
    for field in k.as_object().into_iter().flat_map(Map::keys) {
        if !KNOWN_FIELDS.contains(&field.as_str()) {
            return Err(format!(
                "{}: `{field}` is not supported by the manifest check (extend render.rs)",
                path.display()
            ));
        }
    }
    Ok(k)
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>, String> {
    match v.get(field) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("`{field}` holds a non-string"))
            })
            .collect(),
        Some(_) => Err(format!("`{field}` is not a list")),
    }
}

/// The rendered documents of the kustomization in `dir`.
pub fn kustomize(dir: &Path) -> Result<Vec<Doc>, String> {
    let k = kustomization(dir)?;
    let mut docs = Vec::new();
    for r in strings(&k, "resources")? {
        let path = dir.join(&r);
        if path.is_dir() {
            docs.extend(kustomize(&path)?);
        } else {
            docs.extend(read_yaml(&path)?);
        }
    }
    for p in k
        .get("patches")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let path = p
            .get("path")
            .and_then(Value::as_str)
            .ok_or("a patch without `path` is not supported")?;
        let patch_docs = read_yaml(&dir.join(path))?;
        match (patch_docs.as_slice(), p.get("target")) {
            ([Value::Array(ops)], Some(target)) => {
                let doc = only_match(&mut docs, target, path)?;
                apply_json6902(doc, ops).map_err(|e| format!("patch {path}: {e}"))?;
            }
            ([patch @ Value::Object(_)], None) => {
                let doc = only_match(&mut docs, patch, path)?;
                merge(doc, patch);
            }
            _ => {
                return Err(format!(
                    "patch {path}: expected one strategic-merge document, or JSON 6902 operations with a target"
                ))
            }
        }
    }
    for label in k
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if label.get("includeSelectors").and_then(Value::as_bool) == Some(true)
            || label.get("includeTemplates").and_then(Value::as_bool) == Some(true)
        {
            return Err("labels with includeSelectors/includeTemplates are not supported".into());
        }
        let pairs = label.get("pairs").cloned().unwrap_or_default();
        for doc in &mut docs {
            merge(
                doc,
                &serde_json::json!({"metadata": {"labels": pairs.clone()}}),
            );
        }
    }
    for image in k
        .get("images")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = image
            .get("name")
            .and_then(Value::as_str)
            .ok_or("an image without `name`")?;
        for doc in &mut docs {
            set_images(doc, name, image);
        }
    }
    for r in k
        .get("replicas")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
        let count = r.get("count").cloned().ok_or("replicas without `count`")?;
        let doc = docs
            .iter_mut()
            .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == name)
            .ok_or_else(|| format!("replicas: no Deployment {name}"))?;
        doc["spec"]["replicas"] = count;
    }
    if let Some(ns) = k.get("namespace").and_then(Value::as_str) {
        for doc in &mut docs {
            doc["metadata"]["namespace"] = Value::from(ns);
        }
    }
    Ok(docs)
}

/// The one document `selector` (a patch or a target: kind and name) names.
fn only_match<'a>(
    docs: &'a mut [Doc],
    selector: &Value,
    what: &str,
) -> Result<&'a mut Doc, String> {
    let kind = selector.get("kind").and_then(Value::as_str);
    let name = selector
        .get("name")
        .or_else(|| selector.get("metadata").and_then(|m| m.get("name")))
        .and_then(Value::as_str);
    let (Some(kind), Some(name)) = (kind, name) else {
        return Err(format!("patch {what}: names no kind and name"));
    };
    let mut found = docs
        .iter_mut()
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name);
    match (found.next(), found.next()) {
        (Some(doc), None) => Ok(doc),
        (None, _) => Err(format!("patch {what}: no {kind} {name} to patch")),
        (Some(_), Some(_)) => Err(format!("patch {what}: several {kind} {name}")),
    }
}

/// Strategic merge as far as calsync uses it: maps merge, `null` deletes, lists of
/// named items (containers, env, ports) merge by name, other lists are replaced.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match (b.get_mut(k), v) {
                    (_, Value::Null) => {
                        b.remove(k);
                    }
                    (Some(existing), v) => merge(existing, v),
                    (None, v) => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(p)) if named(b) && named(p) => {
            for item in p {
                match b.iter_mut().find(|i| i["name"] == item["name"]) {
                    Some(existing) => merge(existing, item),
                    None => b.push(item.clone()),
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn named(items: &[Value]) -> bool {
    items
        .iter()
        .all(|i| i.get("name").is_some_and(Value::is_string))
}

fn apply_json6902(doc: &mut Doc, ops: &[Value]) -> Result<(), String> {
    for op in ops {
        let path = op["path"].as_str().ok_or("an operation without `path`")?;
        let (parent, last) = path.rsplit_once('/').ok_or("a path must start with /")?;
        let last = last.replace("~1", "/").replace("~0", "~");
        let parent = doc
            .pointer_mut(parent)
            .ok_or_else(|| format!("{path}: no such parent"))?;
        match (op["op"].as_str(), parent) {
            (Some("replace"), target) => {
                let slot =
                    child(target, &last).ok_or_else(|| format!("{path}: nothing to replace"))?;
                *slot = op["value"].clone();
            }
            (Some("remove"), Value::Object(map)) => {
                map.remove(&last)
                    .ok_or_else(|| format!("{path}: nothing to remove"))?;
            }
            (Some("remove"), Value::Array(items)) => {
                let i: usize = last.parse().map_err(|_| format!("{path}: bad index"))?;
                if i >= items.len() {
                    return Err(format!("{path}: nothing to remove"));
                }
                items.remove(i);
            }
            (Some("add"), Value::Object(map)) => {
                map.insert(last, op["value"].clone());
            }
            (Some("add"), Value::Array(items)) if last == "-" => items.push(op["value"].clone()),
            (Some("add"), Value::Array(items)) => {
                let i: usize = last.parse().map_err(|_| format!("{path}: bad index"))?;
                if i > items.len() {
                    return Err(format!("{path}: index out of range"));
                }
                items.insert(i, op["value"].clone());
            }
            (other, _) => return Err(format!("{path}: operation {other:?} is not supported")),
        }
    }
    Ok(())
}

fn child<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    match v {
        Value::Object(map) => map.get_mut(key),
        Value::Array(items) => items.get_mut(key.parse::<usize>().ok()?),
        _ => None,
    }
}

/// `kustomize edit set image`: every container image named `name` (any tag) gets the
/// entry's newName / newTag / digest.
fn set_images(v: &mut Value, name: &str, entry: &Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "image" {
                    if let Some(image) = child.as_str() {
                        if let Some(new) = replace_image(image, name, entry) {
                            *child = Value::from(new);
                        }
                    }
                } else {
                    set_images(child, name, entry);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| set_images(i, name, entry)),
        _ => {}
    }
}

fn replace_image(image: &str, name: &str, entry: &Value) -> Option<String> {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    // A colon after the last slash separates the tag (a registry may carry a port).
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match rest[slash..].find(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    if repo != name {
        return None;
    }
    let repo = entry.get("newName").and_then(Value::as_str).unwrap_or(repo);
    if let Some(d) = entry.get("digest").and_then(Value::as_str) {
        return Some(format!("{repo}@{d}"));
    }
    let tag = entry.get("newTag").and_then(Value::as_str).or(tag);
    Some(match (tag, digest) {
        (Some(t), _) => format!("{repo}:{t}"),
        (None, Some(d)) => format!("{repo}@{d}"),
        (None, None) => repo.to_owned(),
    })
}
