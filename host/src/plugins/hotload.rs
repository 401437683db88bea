//! Hot-loading from a directory (`PLUGIN_DIR`): a `.wasm` file that appears or changes is
//! validated and activated through the registry; an invalid one is reported and never
//! activated (the previous active version stays). Polling, not inotify: it works on every
//! filesystem (including the network and overlay mounts plugins often live on) and a scan of a
//! few files every couple of seconds costs nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::error::PluginError;
use super::model::PluginDigest;
use super::registry::{Origin, Registry};

/// What a scan did with one file.
#[derive(Debug)]
pub enum HotLoadEvent {
    /// The file's plugin version was validated and is now active.
    Activated {
        path: PathBuf,
        engine: String,
        version: semver::Version,
        digest: PluginDigest,
    },
    /// The file was rejected; nothing changed in the registry.
    Rejected { path: PathBuf, error: PluginError },
}

/// Size and modification time: a cheap "did it change" test before reading the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// Watches one directory.
#[derive(Debug)]
pub struct DirectoryLoader {
    dir: PathBuf,
    registry: Arc<Registry>,
    seen: HashMap<PathBuf, (Stamp, PluginDigest)>,
}

impl DirectoryLoader {
    /// A loader for `dir` feeding `registry`.
    pub fn new(dir: PathBuf, registry: Arc<Registry>) -> Self {
        Self {
            dir,
            registry,
            seen: HashMap::new(),
        }
    }

    /// Scans the directory once and handles every new or changed `.wasm` file.
    pub async fn scan(&mut self) -> Vec<HotLoadEvent> {
        let mut events = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) => {
                tracing::warn!(dir = %self.dir.display(), error = %err, "cannot read plugin directory");
                return events;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "wasm") && path.is_file())
            .collect();
        paths.sort();
        for path in paths {
            if let Some(event) = self.consider(&path).await {
                match &event {
                    HotLoadEvent::Activated {
                        engine,
                        version,
                        digest,
                        ..
                    } => tracing::info!(
                        path = %path.display(), engine, %version, digest = %digest.short(), "hot-loaded plugin activated"
                    ),
                    HotLoadEvent::Rejected { error, .. } => tracing::warn!(
                        path = %path.display(), error = %error, code = error.code(), "hot-loaded plugin rejected"
                    ),
                }
                events.push(event);
            }
        }
        events
    }

    async fn consider(&mut self, path: &Path) -> Option<HotLoadEvent> {
        let meta = std::fs::metadata(path).ok()?;
        let stamp = Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        };
        if self.seen.get(path).is_some_and(|(seen, _)| *seen == stamp) {
            return None;
        }
        let wasm = match std::fs::read(path) {
            Ok(wasm) => wasm,
            Err(source) => {
                let error = PluginError::Io {
                    path: path.display().to_string(),
                    source,
                };
                return Some(HotLoadEvent::Rejected {
                    path: path.to_owned(),
                    error,
                });
            }
        };
        let digest = PluginDigest::of(&wasm);
        let unchanged = self.seen.get(path).is_some_and(|(_, d)| *d == digest);
        self.seen.insert(path.to_owned(), (stamp, digest.clone()));
        if unchanged {
            return None; // touched, same bytes
        }
        let origin = Origin::Directory(path.display().to_string());
        Some(match self.registry.add_and_activate(wasm, origin).await {
            Ok(version) => HotLoadEvent::Activated {
                path: path.to_owned(),
                engine: version.info.id.clone(),
                version: version.info.version.clone(),
                digest,
            },
            Err(error) => HotLoadEvent::Rejected {
                path: path.to_owned(),
                error,
            },
        })
    }

    /// Scans every `interval` until `shutdown` resolves.
    pub async fn run(
        mut self,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticker.tick() => { self.scan().await; }
            }
        }
    }
}
