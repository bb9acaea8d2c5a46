//! Helpers the integration tests share.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use safepath::engine::Engine;
use safepath::session::Session;
use safepath::store::{SledStore, Store};

/// The shipped engine, compiled once per test binary.
pub fn engine() -> Arc<Engine> {
    static E: OnceLock<Arc<Engine>> = OnceLock::new();
    E.get_or_init(|| Arc::new(Engine::shipped().expect("shipped catalog")))
        .clone()
}

/// A session on a sled store in `dir`, without flood control.
pub fn session(dir: &Path) -> Session {
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir).expect("store"));
    Session::new(engine(), store, 3600).expect("session")
}

/// Every byte of every file under `dir`.
pub fn all_bytes_under(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(all_bytes_under(&p));
        } else {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}
