//! Where the versions come from: `Cargo.lock`, the listing crates' manifests and `rustc`.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use toml::{Table, Value};

/// One `[[package]]` of `Cargo.lock`.
#[derive(Debug)]
struct Package {
    name: String,
    version: String,
    /// `None` for path packages, i.e. the workspace's own crates.
    source: Option<String>,
    /// Entries as the lock writes them: `name`, or `name version` when the name is ambiguous.
    dependencies: Vec<String>,
}

/// The packages of a `Cargo.lock`.
#[derive(Debug)]
pub struct Lock {
    packages: Vec<Package>,
}

impl Lock {
    pub fn read(path: &Path) -> Result<Lock> {
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Lock::parse(&text).with_context(|| format!("cannot parse {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Lock> {
        let table: Table = text.parse().map_err(|e: toml::de::Error| {
            anyhow::anyhow!("invalid TOML: {}", e.message().trim())
        })?;
        let entries = match table.get("package") {
            None => &[][..],
            Some(Value::Array(entries)) => entries.as_slice(),
            Some(_) => bail!("`package` is not an array of tables"),
        };
        let mut packages = Vec::new();
        for entry in entries {
            let string = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_string);
            let (Some(name), Some(version)) = (string("name"), string("version")) else {
                bail!("a [[package]] has no name or version");
            };
            let dependencies = entry
                .get("dependencies")
                .and_then(Value::as_array)
                .map(|deps| {
                    deps.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            packages.push(Package {
                name,
                version,
                source: string("source"),
                dependencies,
            });
        }
        Ok(Lock { packages })
    }

    /// Every version `name` is locked at, lowest first; empty if it is not in the lock.
    pub fn versions(&self, name: &str) -> Vec<&str> {
        sorted(
            self.packages
                .iter()
                .filter(|p| p.name == name)
                .map(|p| p.version.as_str()),
        )
    }

    /// The versions of `dep` that the workspace package `user` is locked to. Falls back to
    /// every locked version of `dep` when the lock does not say (e.g. `user` is not in it).
    pub fn versions_used_by(&self, user: &str, dep: &str) -> Vec<&str> {
        let mut used = Vec::new();
        for package in self
            .packages
            .iter()
            .filter(|p| p.name == user && p.source.is_none())
        {
            for entry in &package.dependencies {
                let mut parts = entry.split_whitespace();
                if parts.next() != Some(dep) {
                    continue;
                }
                match parts.next() {
                    Some(version) => used.extend(
                        self.versions(dep)
                            .into_iter()
                            .filter(|locked| *locked == version),
                    ),
                    None => used.extend(self.versions(dep)),
                }
            }
        }
        if used.is_empty() {
            return self.versions(dep);
        }
        sorted(used.into_iter())
    }
}

/// Sorts versions by their numeric parts (so `0.14.10` comes after `0.14.9`) and drops duplicates.
pub fn sorted<'a>(versions: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut versions: Vec<&str> = versions.collect();
    versions.sort_by(|a, b| compare_versions(a, b));
    versions.dedup();
    versions
}

fn compare_versions(a: &str, b: &str) -> Ordering {
    let numbers = |v: &str| -> Vec<u64> {
        let core = v.split(['-', '+']).next().unwrap_or(v);
        core.split('.').map(|n| n.parse().unwrap_or(0)).collect()
    };
    numbers(a).cmp(&numbers(b)).then_with(|| a.cmp(b))
}

/// A crate under a chapter's `listings/` folder.
#[derive(Debug, PartialEq, Eq)]
pub struct ListingCrate {
    /// `[package] name`; `None` for a manifest without one (a virtual workspace).
    pub name: Option<String>,
    /// Real names (after `package = "…"` renames) of its direct dependencies of every kind.
    pub dependencies: BTreeSet<String>,
}

/// The crates whose `Cargo.toml` lies anywhere under `dir` (skipping `target/`), sorted by path.
/// Empty if `dir` does not exist.
pub fn listing_crates(dir: &Path) -> Result<Vec<ListingCrate>> {
    let mut manifests = Vec::new();
    if dir.is_dir() {
        find_manifests(dir, &mut manifests)?;
    }
    manifests.sort();
    manifests
        .iter()
        .map(|path| {
            let text = fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            parse_manifest(&text).with_context(|| format!("cannot parse {}", path.display()))
        })
        .collect()
}

fn find_manifests(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .with_context(|| format!("cannot read {}", path.display()))?;
        if file_type.is_dir() {
            if entry.file_name() != "target" {
                find_manifests(&path, found)?;
            }
        } else if entry.file_name() == "Cargo.toml" {
            found.push(path);
        }
    }
    Ok(())
}

fn parse_manifest(text: &str) -> Result<ListingCrate> {
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("invalid TOML: {}", e.message().trim()))?;
    let name = table
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut dependencies = BTreeSet::new();
    let mut scopes = vec![&table];
    if let Some(Value::Table(targets)) = table.get("target") {
        scopes.extend(targets.values().filter_map(Value::as_table));
    }
    for scope in scopes {
        for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(Value::Table(deps)) = scope.get(kind) else {
                continue;
            };
            for (key, value) in deps {
                let real = value.get("package").and_then(Value::as_str).unwrap_or(key);
                dependencies.insert(real.to_string());
            }
        }
    }
    Ok(ListingCrate { name, dependencies })
}

/// The toolchain's version, e.g. `1.95.0`, from `$RUSTC --version` (default `rustc`).
pub fn rust_version() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let shown = rustc.to_string_lossy().into_owned();
    let output = Command::new(&rustc)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run `{shown} --version`"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        let said = if stderr.is_empty() {
            String::new()
        } else {
            format!(": {stderr}")
        };
        bail!("`{shown} --version` failed ({}){said}", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_rustc_version(&stdout).with_context(|| {
        format!(
            "`{shown} --version` printed {:?}, not `rustc <version> …`",
            stdout.trim()
        )
    })
}

fn parse_rustc_version(output: &str) -> Option<String> {
    let mut words = output.split_whitespace();
    if words.next() != Some("rustc") {
        return None;
    }
    words
        .next()
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "demo"
version = "0.1.0"
dependencies = [
 "opentelemetry",
 "tokio 1.54.1",
]

[[package]]
name = "opentelemetry"
version = "0.33.1"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "tokio"
version = "1.54.1"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "tokio"
version = "0.2.25"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "tonic"
version = "0.14.10"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "tonic"
version = "0.14.9"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;

    #[test]
    fn locked_versions_sorted_numerically() {
        let lock = Lock::parse(LOCK).unwrap();
        assert_eq!(lock.versions("tokio"), ["0.2.25", "1.54.1"]);
        assert_eq!(lock.versions("tonic"), ["0.14.9", "0.14.10"]);
        assert!(lock.versions("axum").is_empty());
    }

    #[test]
    fn versions_a_package_is_locked_to() {
        let lock = Lock::parse(LOCK).unwrap();
        assert_eq!(lock.versions_used_by("demo", "tokio"), ["1.54.1"]);
        assert_eq!(lock.versions_used_by("demo", "opentelemetry"), ["0.33.1"]);
        // Not a dependency of `demo` in the lock, or no such package: every locked version.
        assert_eq!(
            lock.versions_used_by("demo", "tonic"),
            ["0.14.9", "0.14.10"]
        );
        assert_eq!(
            lock.versions_used_by("other", "tokio"),
            ["0.2.25", "1.54.1"]
        );
    }

    #[test]
    fn invalid_lock() {
        let error = Lock::parse("[[package]]\nname = \"x\"\n").unwrap_err();
        assert_eq!(error.to_string(), "a [[package]] has no name or version");
        let error = Lock::parse("version = ").unwrap_err();
        assert!(error.to_string().starts_with("invalid TOML: "), "{error}");
    }

    #[test]
    fn manifest_dependencies_of_every_kind() {
        let krate = parse_manifest(
            r#"
[package]
name = "demo"

[dependencies]
tokio = { version = "1", features = ["rt"] }
otel = { version = "0.33", package = "opentelemetry" }

[dev-dependencies]
tracing = "0.1"

[build-dependencies.tonic-build]
version = "0.14"

[target.'cfg(unix)'.dependencies]
axum = "0.8"
"#,
        )
        .unwrap();
        assert_eq!(krate.name.as_deref(), Some("demo"));
        assert_eq!(
            krate.dependencies.iter().collect::<Vec<_>>(),
            ["axum", "opentelemetry", "tokio", "tonic-build", "tracing"]
        );
    }

    #[test]
    fn rustc_version_output() {
        assert_eq!(
            parse_rustc_version("rustc 1.95.0 (59807616e 2026-04-14)\n").as_deref(),
            Some("1.95.0")
        );
        assert_eq!(
            parse_rustc_version("rustc 1.96.0-nightly (abc 2026-05-01)").as_deref(),
            Some("1.96.0-nightly")
        );
        assert_eq!(parse_rustc_version("cargo 1.95.0"), None);
        assert_eq!(parse_rustc_version(""), None);
    }
}
