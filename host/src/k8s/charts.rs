//! Charts shipped inside the binary (`helm/ecommerce-store`, embedded by `host/build.rs`).
//! Helm needs a directory, so they are written out once per content hash under the data
//! directory (into a temporary directory renamed into place, so a crash never leaves a partial
//! chart that looks complete).

use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

/// The files of one chart: `(path relative to the chart root, bytes)`.
pub type ChartFiles = &'static [(&'static str, &'static [u8])];

include!(concat!(env!("OUT_DIR"), "/bundled_charts.rs"));

/// A short content hash of each bundled chart (same order as `BUNDLED_CHARTS`). The embedded
/// bytes never change while the process runs, so each is computed once, not on every render.
fn content_digests() -> &'static [String] {
    static DIGESTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    DIGESTS.get_or_init(|| {
        BUNDLED_CHARTS
            .iter()
            .map(|(_, files)| {
                let mut hasher = Sha256::new();
                for (path, bytes) in *files {
                    hasher.update(path.as_bytes());
                    hasher.update((bytes.len() as u64).to_le_bytes());
                    hasher.update(bytes);
                }
                hex::encode(hasher.finalize())[..16].to_owned()
            })
            .collect()
    })
}

/// The bundled charts, written out under a base directory.
#[derive(Debug, Clone)]
pub struct BundledCharts {
    base: PathBuf,
}

impl BundledCharts {
    /// Charts extracted under `base` on demand.
    pub fn new(base: PathBuf) -> Self {
        Self { base }
    }

    /// Names of the bundled charts.
    pub fn names() -> impl Iterator<Item = &'static str> {
        BUNDLED_CHARTS.iter().map(|(name, _)| *name)
    }

    /// Directory of the bundled chart `name`, writing it out if needed. `None` for an unknown name.
    pub fn path(&self, name: &str) -> std::io::Result<Option<PathBuf>> {
        let Some(index) = BUNDLED_CHARTS.iter().position(|(n, _)| *n == name) else {
            return Ok(None);
        };
        let files = BUNDLED_CHARTS[index].1;
        let dir = self
            .base
            .join(format!("{name}-{}", content_digests()[index]));
        if dir.join("Chart.yaml").is_file() {
            return Ok(Some(dir));
        }
        std::fs::create_dir_all(&self.base)?;
        let staging = tempfile::tempdir_in(&self.base)?;
        for (path, bytes) in files {
            let target = staging.path().join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(target, bytes)?;
        }
        let staged = staging.keep();
        match std::fs::rename(&staged, &dir) {
            Ok(()) => Ok(Some(dir)),
            // Another process won the race: its copy is identical.
            Err(_) if dir.join("Chart.yaml").is_file() => {
                let _ = std::fs::remove_dir_all(&staged);
                Ok(Some(dir))
            }
            Err(err) => Err(err),
        }
    }
}
