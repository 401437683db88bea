//! On-disk cache of precompiled plugin artifacts.
//!
//! Compiling a component takes ~100 ms; loading a precompiled artifact takes well under 5 ms.
//! Artifacts are keyed by the wasm digest and the engine's compatibility hash (wasmtime
//! version, target, and settings such as fuel and epochs, which are baked into machine code).
//! Each artifact is written with a sha256 of its own bytes, atomically (temp file + rename),
//! and checked before use: a torn, truncated or tampered file is a miss and is replaced. Only
//! artifacts this host wrote are ever deserialized; precompiled bytes are never accepted from
//! outside.

use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::model::PluginDigest;

/// Where an artifact came from, reported to callers (and asserted by tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadSource {
    /// Compiled from wasm now (no cache configured, cache miss, or bad cache entry).
    Compiled,
    /// Deserialized from a valid cache entry.
    Cache,
}

/// Cache directory plus the engine-compatibility key of this process.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    compat: String,
}

/// Header line of every artifact file: magic, then the sha256 of the artifact bytes.
const MAGIC: &[u8; 16] = b"storeplane-cwasm";

impl ArtifactCache {
    /// A cache in `dir` (created when missing) for artifacts compiled by `engine`.
    pub fn new(dir: PathBuf, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        // The host's own version too: a new storeplane build may change engine settings.
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        Ok(Self {
            dir,
            compat: format!("{:016x}", hasher.finish()),
        })
    }

    /// Path of the artifact of `digest`.
    pub fn path_of(&self, digest: &PluginDigest) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", digest.as_str(), self.compat))
    }

    /// Loads the component for `digest` from the cache, or compiles `wasm` and stores it.
    /// Cache trouble of any kind falls back to compiling; only a compile error is an error.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &PluginDigest,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, LoadSource)> {
        let path = self.path_of(digest);
        if let Some(component) = read_verified(&path).and_then(|bytes| deserialize(engine, &bytes))
        {
            return Ok((component, LoadSource::Cache));
        }
        let artifact = engine.precompile_component(wasm)?;
        // Deserializing what we just produced gives the same result as Component::new without
        // compiling twice.
        let component =
            deserialize(engine, &artifact).map_or_else(|| Component::new(engine, wasm), Ok)?;
        if let Err(err) = write_atomically(&path, &artifact) {
            tracing::warn!(path = %path.display(), error = %err, "could not write plugin cache entry");
        }
        Ok((component, LoadSource::Compiled))
    }
}

/// Reads an artifact file and returns its payload when the embedded checksum matches.
fn read_verified(path: &Path) -> Option<Vec<u8>> {
    let mut bytes = std::fs::read(path).ok()?;
    let header = MAGIC.len() + 32;
    if bytes.len() <= header || &bytes[..MAGIC.len()] != MAGIC {
        tracing::warn!(path = %path.display(), "plugin cache entry malformed; recompiling");
        return None;
    }
    let payload = bytes.split_off(header);
    if Sha256::digest(&payload).as_slice() != &bytes[MAGIC.len()..header] {
        tracing::warn!(path = %path.display(), "plugin cache entry corrupted; recompiling");
        return None;
    }
    Some(payload)
}

/// Deserializes an artifact this host wrote. `None` on any failure (wrong engine settings,
/// different wasmtime version...), which callers treat as a cache miss.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> Option<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be an artifact produced by
    // `precompile_component` of a compatible engine. We only pass bytes that this host produced:
    // either just now, or read back from our own cache directory after verifying the sha256 we
    // wrote next to them, so a torn or altered file never reaches this call. Wasmtime itself
    // re-checks the version and engine settings and errors (→ cache miss) on a mismatch.
    match unsafe { Component::deserialize(engine, artifact) } {
        Ok(component) => Some(component),
        Err(err) => {
            tracing::debug!(error = %err, "plugin artifact not usable; recompiling");
            None
        }
    }
}

fn write_atomically(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(MAGIC)?;
    file.write_all(&Sha256::digest(artifact))?;
    file.write_all(artifact)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}
