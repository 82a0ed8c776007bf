//! Validation against the pinned schemas in `deploy/k8s/schemas/`: each file holds
//! `$defs`, and a definition carrying `x-kubernetes-group-version-kind` is the schema of
//! that apiVersion and kind. A kind without a pinned schema is an error, not a pass.

use crate::render::Doc;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;

pub struct Schemas {
    /// (apiVersion, kind) → the compiled schema.
    validators: HashMap<(String, String), jsonschema::Validator>,
}

impl Schemas {
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut validators = HashMap::new();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
            let doc: Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            let defs = doc["$defs"]
                .as_object()
                .ok_or_else(|| format!("{}: no $defs", file.display()))?;
            for (name, def) in defs {
                for gvk in def["x-kubernetes-group-version-kind"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let (group, version, kind) = (
                        gvk["group"].as_str().unwrap_or_default(),
                        gvk["version"].as_str().unwrap_or_default(),
                        gvk["kind"].as_str().unwrap_or_default(),
                    );
                    let api_version = if group.is_empty() {
                        version.to_owned()
                    } else {
                        format!("{group}/{version}")
                    };
                    let schema = json!({
                        "$schema": doc["$schema"],
                        "$defs": doc["$defs"],
                        "$ref": format!("#/$defs/{name}"),
                    });
                    let validator = jsonschema::draft202012::new(&schema)
                        .map_err(|e| format!("{}: {name}: {e}", file.display()))?;
                    validators.insert((api_version, kind.to_owned()), validator);
                }
            }
        }
        Ok(Self { validators })
    }

    /// Every way `doc` breaks its schema, each naming the object and the field.
    pub fn validate(&self, doc: &Doc) -> Vec<String> {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let what = format!("{kind} {}", doc["metadata"]["name"].as_str().unwrap_or("?"));
        match self
            .validators
            .get(&(api_version.to_owned(), kind.to_owned()))
        {
            None => vec![format!("{what}: no pinned schema for {api_version} {kind}")],
            Some(v) => v
                .iter_errors(doc)
                .map(|e| format!("{what}: at {}: {e}", e.instance_path()))
                .collect(),
        }
    }
}
