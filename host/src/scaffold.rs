//! `storeplane plugin new NAME`: a new engine plugin crate that builds and passes `plugin
//! check` untouched — `Cargo.toml` with a version and a release profile, a `build.rs` that
//! packages `chart/` into the component at build time, the engine (`src/lib.rs`), its options
//! type from which their JSON Schema is derived (`src/options.rs`), unit tests on the SDK's
//! store fixture, a starter chart within every rule the host applies, and a README with the
//! crate's own commands.

use std::path::{Path, PathBuf};

/// `(path in the crate, template)`; `{{name}}`, `{{crate}}`, `{{crate_file}}`, `{{sdk}}` and
/// `{{build}}` are filled in.
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("scaffold/Cargo.toml.tmpl")),
    ("build.rs", include_str!("scaffold/build.rs.tmpl")),
    ("src/lib.rs", include_str!("scaffold/lib.rs.tmpl")),
    ("src/options.rs", include_str!("scaffold/options.rs.tmpl")),
    ("chart/Chart.yaml", include_str!("scaffold/Chart.yaml.tmpl")),
    (
        "chart/templates/app.yaml",
        include_str!("scaffold/app.yaml.tmpl"),
    ),
    ("README.md", include_str!("scaffold/README.md.tmpl")),
    (".gitignore", "/target\n"),
];

/// Where the new crate takes the SDK and the build helper from.
#[derive(Debug, Clone)]
pub enum SdkSource {
    /// A checkout of storeplane (its `plugins/sdk` and `plugins/build`).
    Checkout(PathBuf),
    /// The storeplane repository on GitHub, at the release tag of this binary's version, so
    /// the SDK a crate builds with is the one the binary checks it against.
    Git,
}

/// Why the crate was not written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("{0:?} is not a valid engine id: a DNS label (lowercase letters, digits, '-')")]
    BadName(String),
    #[error("{} exists and is not empty", .0.display())]
    NotEmpty(PathBuf),
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes a new engine crate named `name` into `dir`; returns the files written.
pub fn new_plugin(name: &str, dir: &Path, sdk: &SdkSource) -> Result<Vec<PathBuf>, ScaffoldError> {
    if !crate::plugins::validate::is_dns_label(name) {
        return Err(ScaffoldError::BadName(name.to_owned()));
    }
    if dir
        .read_dir()
        .is_ok_and(|mut entries| entries.next().is_some())
    {
        return Err(ScaffoldError::NotEmpty(dir.to_owned()));
    }
    let (sdk_dep, build_dep) = match sdk {
        SdkSource::Checkout(root) => (
            format!(
                "{{ path = {:?} }}",
                root.join("plugins/sdk").display().to_string()
            ),
            format!(
                "{{ path = {:?} }}",
                root.join("plugins/build").display().to_string()
            ),
        ),
        SdkSource::Git => {
            let release = format!(
                "{{ git = \"https://github.com/storeplane/storeplane\", tag = \"v{}\" }}",
                env!("CARGO_PKG_VERSION")
            );
            (release.clone(), release)
        }
    };
    let crate_name = format!("{name}-engine");
    let mut written = Vec::new();
    for (path, template) in FILES {
        let text = template
            .replace("{{crate_file}}", &crate_name.replace('-', "_"))
            .replace("{{crate}}", &crate_name)
            .replace("{{name}}", name)
            .replace("{{sdk}}", &sdk_dep)
            .replace("{{build}}", &build_dep);
        let target = dir.join(path);
        let write = |target: &Path| -> std::io::Result<()> {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(target, text.as_bytes())
        };
        write(&target).map_err(|source| ScaffoldError::Write {
            path: target.clone(),
            source,
        })?;
        written.push(target);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_names_and_non_empty_directories() {
        let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
        assert!(matches!(
            new_plugin("Bad_Name", dir.path(), &SdkSource::Git),
            Err(ScaffoldError::BadName(_))
        ));
        let written =
            new_plugin("demo", dir.path(), &SdkSource::Git).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(written.len(), FILES.len());
        let cargo = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap_or_default();
        assert!(cargo.contains("name = \"demo-engine\"") && cargo.contains("version = \"0.1.0\""));
        let pinned = format!(
            "storeplane-sdk = {{ git = \"https://github.com/storeplane/storeplane\", tag = \"v{}\" }}",
            env!("CARGO_PKG_VERSION")
        );
        assert!(cargo.contains(&pinned), "{cargo}");
        let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap_or_default();
        assert!(
            readme.contains("plugin check target/wasm32-wasip2/release/demo_engine.wasm")
                && readme.contains("/api/v1/admin/plugins/demo/0.1.0/activate"),
            "{readme}"
        );
        let chart = std::fs::read_to_string(dir.path().join("chart/templates/app.yaml"))
            .unwrap_or_default();
        assert!(
            chart.contains("name: demo")
                && chart.contains("{{ .Values.storeplane.hostname | quote }}")
        );
        assert!(matches!(
            new_plugin("demo", dir.path(), &SdkSource::Git),
            Err(ScaffoldError::NotEmpty(_))
        ));
    }
}
