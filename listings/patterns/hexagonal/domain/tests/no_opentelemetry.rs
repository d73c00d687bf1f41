//! The domain's architectural rule as a test: nothing the domain depends on, directly or
//! transitively, may be an OpenTelemetry crate. `cargo metadata` gives the resolved graph; the
//! test walks the domain's normal (not dev, not build) dependencies.

use std::collections::{BTreeMap, VecDeque};
use std::process::Command;

use serde_json::Value;

// ANCHOR: rule
/// Crates that would tie the domain to one telemetry implementation.
fn is_forbidden(name: &str) -> bool {
    name.starts_with("opentelemetry") || name == "tracing-opentelemetry"
}

/// Every path from `root` to a forbidden crate through normal dependencies, as
/// `a -> b -> opentelemetry`. `metadata` is the output of `cargo metadata --format-version 1`.
fn forbidden_paths(metadata: &Value, root: &str) -> Vec<String> {
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes: BTreeMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let root_id = names
        .iter()
        .find(|(_, name)| **name == root)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("{root} is not in the metadata"));

    // Breadth-first over normal edges, remembering how each crate was reached.
    let mut reached_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([root_id]);
    let mut found = Vec::new();
    while let Some(id) = queue.pop_front() {
        if is_forbidden(names[id]) {
            let mut path = vec![names[id]];
            let mut at = id;
            while let Some(parent) = reached_from.get(at) {
                path.push(names[parent]);
                at = parent;
            }
            path.reverse();
            found.push(path.join(" -> "));
            continue;
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|kind| kind["kind"].is_null());
            let Some(dep_id) = dep["pkg"].as_str() else {
                continue;
            };
            if normal && dep_id != root_id && !reached_from.contains_key(dep_id) {
                reached_from.insert(dep_id, id);
                queue.push_back(dep_id);
            }
        }
    }
    found
}

#[test]
fn domain_has_no_opentelemetry_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("parsing cargo metadata");

    let paths = forbidden_paths(&metadata, env!("CARGO_PKG_NAME"));
    assert!(
        paths.is_empty(),
        "the domain must not depend on OpenTelemetry, but it does through:\n  {}",
        paths.join("\n  ")
    );
}
// ANCHOR_END: rule

/// A graph in `cargo metadata`'s shape: `domain` depends on `tracing` (normal), on `helper`
/// (normal), and on `opentelemetry_sdk` (dev only); `helper` depends on `tracing-opentelemetry`
/// through an edge of kind `helper_edge` (`null` = normal, `"build"`, `"dev"`).
fn fixture(helper_edge: Value) -> Value {
    let dep = |pkg: &str, kind: Value| serde_json::json!({ "name": pkg, "pkg": pkg, "dep_kinds": [{ "kind": kind, "target": null }] });
    serde_json::json!({
        "packages": [
            { "id": "domain", "name": "domain" },
            { "id": "tracing", "name": "tracing" },
            { "id": "helper", "name": "helper" },
            { "id": "tracing-opentelemetry", "name": "tracing-opentelemetry" },
            { "id": "opentelemetry_sdk", "name": "opentelemetry_sdk" },
        ],
        "resolve": { "nodes": [
            { "id": "domain", "deps": [
                dep("tracing", Value::Null),
                dep("helper", Value::Null),
                dep("opentelemetry_sdk", Value::from("dev")),
            ]},
            { "id": "tracing", "deps": [] },
            { "id": "helper", "deps": [dep("tracing-opentelemetry", helper_edge)] },
            { "id": "tracing-opentelemetry", "deps": [] },
            { "id": "opentelemetry_sdk", "deps": [] },
        ]}
    })
}

#[test]
fn a_transitive_opentelemetry_dependency_is_found_with_its_path() {
    assert_eq!(
        forbidden_paths(&fixture(Value::Null), "domain"),
        ["domain -> helper -> tracing-opentelemetry"]
    );
}

#[test]
fn dev_and_build_dependencies_do_not_count() {
    // `opentelemetry_sdk` is a dev-dependency of the domain, and `helper` only needs
    // `tracing-opentelemetry` to build: neither ends up in the domain's code.
    assert!(forbidden_paths(&fixture(Value::from("build")), "domain").is_empty());
}
