//! Hot reload: the catalog and the models a running `serve` or `telegram` answers with, replaced
//! without a restart (SIGHUP, or `POST /v1/admin/reload`).
//!
//! In: an [`EngineSource`] (the `--intents` directory or the catalog built in; the models
//! `safepath train --with-labels` installed in the data directory, else `--model` or the ones
//! built in). Out: a [`Live`] handle the frontends read the current [`Session`] from. A reload
//! builds a whole new engine first; one that does not load or validate is refused with its
//! reasons and the old one stays in use. Conversations live in the store, which the new session
//! shares, so none is dropped: a turn in flight finishes on the engine it started with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use sha2::{Digest, Sha256};

use crate::catalog::Catalog;
use crate::engine::Engine;
use crate::limit::Rate;
use crate::model::Models;
use crate::session::{now, Session};
use crate::store::{Store, StoreError};

/// The directory of the data directory that `train --with-labels` installs models into, and
/// that serving prefers when it holds a valid pair.
pub const DATA_MODEL_DIR: &str = "model";

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the catalog was refused, the one in use stays:\n{0}")]
    Catalog(String),
    #[error("the model was refused, the one in use stays: {0}")]
    Model(String),
    #[error("this process was started without a catalog and model source, so it cannot reload")]
    NoSource,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which models to load.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelChoice {
    /// The models in `<data>/model` when that directory holds them, else the ones built in.
    Preferred { data_dir: PathBuf },
    /// The models in this directory (`--model DIR`).
    Dir(PathBuf),
    /// The models built into the binary (what `check` holds against the corpus).
    BuiltIn,
    /// The catalog alone (`--model none`).
    None,
}

/// Where an engine comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSource {
    /// `--intents`: a catalog directory; `None`, the catalog built in.
    pub intents: Option<PathBuf>,
    pub models: ModelChoice,
}

/// An engine and what it was built from.
pub struct Loaded {
    pub engine: Engine,
    /// A hash of the catalog's files and the models' bytes: the same inputs, the same version.
    pub version: String,
    /// Where the models came from, in words (`built in`, a directory, `none`).
    pub models_from: String,
}

impl EngineSource {
    /// Builds the engine, or says why it cannot. A model directory that exists but does not
    /// load is an error here, never a silent fallback: the operator asked for those models.
    pub fn load(&self) -> Result<Loaded, ReloadError> {
        let (models, models_from) = match &self.models {
            ModelChoice::None => (None, "none".to_owned()),
            ModelChoice::BuiltIn => (
                Models::shipped().map_err(|e| ReloadError::Model(e.to_string()))?,
                "built in".to_owned(),
            ),
            ModelChoice::Dir(dir) => (
                Some(Models::from_dir(dir).map_err(ReloadError::Model)?),
                dir.display().to_string(),
            ),
            ModelChoice::Preferred { data_dir } => {
                let dir = data_dir.join(DATA_MODEL_DIR);
                if has_models(&dir) {
                    (
                        Some(Models::from_dir(&dir).map_err(ReloadError::Model)?),
                        dir.display().to_string(),
                    )
                } else {
                    let shipped =
                        Models::shipped().map_err(|e| ReloadError::Model(e.to_string()))?;
                    (shipped, "built in".to_owned())
                }
            }
        };
        let mut h = Sha256::new();
        let engine = match &self.intents {
            Some(dir) => {
                hash_catalog_dir(&mut h, dir);
                // Another catalog is audited before it may answer anyone.
                let catalog =
                    Catalog::from_dir(dir).map_err(|e| ReloadError::Catalog(e.to_string()))?;
                Engine::new_with(catalog, models)
                    .map_err(|e| ReloadError::Catalog(e.to_string()))?
            }
            None => {
                for (name, text) in crate::catalog::SHIPPED {
                    h.update(name.as_bytes());
                    h.update([0]);
                    h.update(text.as_bytes());
                }
                Engine::shipped_with(models).map_err(|e| ReloadError::Catalog(e.to_string()))?
            }
        };
        if let Some(m) = engine.models() {
            h.update(m.intents.file().to_bytes());
            h.update(m.scam.file().to_bytes());
        }
        let version = h.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Loaded {
            engine,
            version,
            models_from,
        })
    }
}

/// Whether `dir` holds model files at all (valid or not: a broken pair is an error, not absent).
pub fn has_models(dir: &Path) -> bool {
    dir.join(crate::model::INTENTS_FILE).exists() || dir.join(crate::model::SCAM_FILE).exists()
}

/// Every `*.toml` file of a catalog directory, by name, into the version hash. A directory that
/// cannot be read hashes as what could be read; loading it reports the error.
fn hash_catalog_dir(h: &mut Sha256, dir: &Path) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    for f in files {
        h.update(f.file_name().unwrap_or_default().as_encoded_bytes());
        h.update([0]);
        h.update(std::fs::read(&f).unwrap_or_default());
    }
}

/// How a new session is made at a reload: the same store, limits and sweeping as the first.
pub struct Rebuild {
    pub source: EngineSource,
    pub store: Arc<dyn Store>,
    pub idle_secs: u64,
    pub rate: Option<Rate>,
    /// Sweep idle conversations in the background (long-running frontends).
    pub sweep: bool,
}

impl Rebuild {
    fn session(&self, engine: Engine) -> Result<Arc<Session>, StoreError> {
        let s = Arc::new(
            Session::new(Arc::new(engine), self.store.clone(), self.idle_secs)?
                .with_rate(self.rate),
        );
        if self.sweep {
            // The previous session's sweeper stops once nothing holds that session.
            s.sweep_in_background(1_000);
        }
        Ok(s)
    }
}

/// What `/metrics` and the reload answer say about the engine in use.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Version {
    pub version: String,
    pub models: String,
    /// Unix seconds the engine in use was loaded (at start, or by the last reload).
    pub loaded_at: u64,
    /// Reloads that succeeded and that were refused since the start.
    pub reloads: u64,
    pub refused: u64,
}

/// The session the frontends answer with now; replaced whole by [`Live::reload`].
pub struct Live {
    current: RwLock<Arc<Session>>,
    rebuild: Option<Rebuild>,
    version: Mutex<Version>,
    /// One reload at a time: two at once would both build an engine for nothing.
    reloading: Mutex<()>,
}

impl Live {
    /// Loads the engine from `rebuild.source` and starts the first session.
    pub fn start(rebuild: Rebuild) -> Result<Live, ReloadError> {
        let loaded = rebuild.source.load()?;
        let session = rebuild.session(loaded.engine)?;
        Ok(Live {
            current: RwLock::new(session),
            version: Mutex::new(Version {
                version: loaded.version,
                models: loaded.models_from,
                loaded_at: now(),
                reloads: 0,
                refused: 0,
            }),
            rebuild: Some(rebuild),
            reloading: Mutex::new(()),
        })
    }

    /// A session that is never reloaded (tests, embedders): [`Live::reload`] says so.
    pub fn fixed(session: Arc<Session>) -> Live {
        Live {
            current: RwLock::new(session),
            version: Mutex::new(Version {
                version: "fixed".into(),
                models: String::new(),
                loaded_at: now(),
                reloads: 0,
                refused: 0,
            }),
            rebuild: None,
            reloading: Mutex::new(()),
        }
    }

    /// The session to answer with now. Hold it for one request or update, not longer: a
    /// reload replaces it for the next one.
    pub fn session(&self) -> Arc<Session> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn version(&self) -> Version {
        self.version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Builds a new engine from the source and swaps it in; on any error the engine in use
    /// stays and the error says why. Blocking (reads files, compiles the catalog): call it off
    /// the async threads.
    pub fn reload(&self) -> Result<Version, ReloadError> {
        let rebuild = self.rebuild.as_ref().ok_or(ReloadError::NoSource)?;
        let _one = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let built = rebuild.source.load().and_then(|loaded| {
            let Loaded {
                engine,
                version,
                models_from,
            } = loaded;
            Ok((rebuild.session(engine)?, version, models_from))
        });
        let mut v = self.version.lock().unwrap_or_else(|e| e.into_inner());
        match built {
            Ok((session, version, models)) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = session;
                v.version = version;
                v.models = models;
                v.loaded_at = now();
                v.reloads += 1;
                tracing::info!(version = %v.version, models = %v.models, "reloaded the catalog and models");
                Ok(v.clone())
            }
            Err(e) => {
                v.refused += 1;
                tracing::warn!(error = %e, "a reload was refused; the catalog and models in use stay");
                Err(e)
            }
        }
    }

    /// The session's metrics, with the engine's version and the time it was loaded.
    pub fn render_metrics(&self) -> String {
        let text = self.session().metrics().render();
        let v = self.version();
        let engine = crate::metrics::render_engine(&v.version, v.loaded_at, v.refused);
        match text.strip_suffix("# EOF\n") {
            Some(body) => format!("{body}{engine}"),
            None => format!("{text}{engine}"),
        }
    }
}

/// Reloads on every SIGHUP for as long as the process runs (Unix; elsewhere, never).
pub fn reload_on_sighup(live: Arc<Live>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "SIGHUP cannot be caught; reload with POST /v1/admin/reload");
                return;
            }
        };
        while hup.recv().await.is_some() {
            let live = live.clone();
            // Errors are logged by `reload`; the old engine stays.
            // Said on stderr whatever the log filter: the operator who sent the signal reads it.
            let _ = crate::session::off_thread(move || match live.reload() {
                Ok(v) => eprintln!(
                    "safepath: reloaded; engine {} (models: {})",
                    v.version, v.models
                ),
                Err(e) => eprintln!("safepath: reload refused: {e}"),
            })
            .await;
        }
    });
    #[cfg(not(unix))]
    drop(live);
}
