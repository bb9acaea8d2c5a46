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

/// Cases per property test: 300 by default; CI's long pass sets `SAFEPATH_FUZZ_CASES` (not
/// `PROPTEST_CASES`, which would override every per-property count).
pub fn fuzz_cases() -> u32 {
    std::env::var("SAFEPATH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
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

/// A sled store whose writes (or reads) can be made to fail, as on a full disk or a dying volume.
pub struct FaultyStore {
    pub inner: SledStore,
    pub fail_writes: std::sync::atomic::AtomicBool,
    pub fail_reads: std::sync::atomic::AtomicBool,
}

use safepath::store::{Reputation, StoreError};
use std::sync::atomic::Ordering::Relaxed;

impl FaultyStore {
    pub fn open(dir: &Path) -> FaultyStore {
        FaultyStore {
            inner: SledStore::open(dir).unwrap(),
            fail_writes: false.into(),
            fail_reads: false.into(),
        }
    }
    fn w(&self) -> Result<(), StoreError> {
        if self.fail_writes.load(Relaxed) {
            Err(StoreError::Write(
                "No space left on device (os error 28)".into(),
            ))
        } else {
            Ok(())
        }
    }
    fn r(&self) -> Result<(), StoreError> {
        if self.fail_reads.load(Relaxed) {
            Err(StoreError::Read("Input/output error (os error 5)".into()))
        } else {
            Ok(())
        }
    }
}

impl Store for FaultyStore {
    fn salt(&self) -> Result<Vec<u8>, StoreError> {
        self.r()?;
        self.inner.salt()
    }
    fn health(&self) -> Result<(), StoreError> {
        self.w()?;
        self.r()?;
        self.inner.health()
    }
    fn load_state(&self, u: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.r()?;
        self.inner.load_state(u)
    }
    fn save_state(&self, u: &str, s: &[u8]) -> Result<(), StoreError> {
        self.w()?;
        self.inner.save_state(u, s)
    }
    fn delete_user(&self, u: &str) -> Result<(), StoreError> {
        self.w()?;
        self.inner.delete_user(u)
    }
    fn append_report(
        &self,
        d: &str,
        r: safepath::report::Report,
    ) -> Result<(u64, bool), StoreError> {
        self.w()?;
        self.inner.append_report(d, r)
    }
    fn reports(
        &self,
        a: u64,
        s: u64,
        l: usize,
    ) -> Result<Vec<safepath::report::Report>, StoreError> {
        self.r()?;
        self.inner.reports(a, s, l)
    }
    fn set_label(&self, id: u64, l: &safepath::report::Label) -> Result<bool, StoreError> {
        self.w()?;
        self.inner.set_label(id, l)
    }
    fn labels(&self, ids: &[u64]) -> Result<Vec<Option<safepath::report::Label>>, StoreError> {
        self.r()?;
        self.inner.labels(ids)
    }
    fn reputation(&self, k: &[String]) -> Result<Vec<Reputation>, StoreError> {
        self.r()?;
        self.inner.reputation(k)
    }
    fn bump(&self, k: &[String], n: u64) -> Result<(), StoreError> {
        self.w()?;
        self.inner.bump(k, n)
    }
    fn expire_states_step(
        &self,
        b: u64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(usize, Option<String>), StoreError> {
        self.w()?;
        self.inner.expire_states_step(b, cursor, limit)
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.w()?;
        self.inner.flush()
    }
    fn take_token(
        &self,
        k: &str,
        r: safepath::limit::Rate,
        n: u64,
    ) -> Result<Option<u64>, StoreError> {
        self.inner.take_token(k, r, n)
    }
    fn setting(&self, k: &str) -> Result<Option<String>, StoreError> {
        self.r()?;
        self.inner.setting(k)
    }
    fn set_setting(&self, k: &str, v: &str) -> Result<(), StoreError> {
        self.w()?;
        self.inner.set_setting(k, v)
    }
}

/// Serves the HTTP API for `session` on a free 127.0.0.1 port until the test ends; its base URL.
pub async fn spawn_api(session: Arc<Session>, token: &str) -> String {
    let api = Arc::new(safepath::http::Api::new(session, token).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(safepath::http::serve(
        listener,
        safepath::http::router(api),
        std::future::pending(),
    ));
    base
}

/// Writes the reports of a `GET /v1/reports` page one a line, as `train --with-labels --labels`
/// reads them (a running server holds the data directory); how many.
pub fn write_report_lines(page: &serde_json::Value, path: &Path) -> usize {
    let lines: Vec<String> = page["reports"]
        .as_array()
        .expect("a page of reports")
        .iter()
        .map(|r| r.to_string())
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
    lines.len()
}

/// A free port on 127.0.0.1 for a process the test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 30 s) until a started `safepath serve` answers /healthz.
pub async fn wait_healthy(base: &str) {
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not come up at {base}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `safepath --data DATA serve --listen 127.0.0.1:PORT` with the API token set and stdout
/// discarded; callers add their own environment and stderr.
pub fn serve_command(data: &Path, port: u16, token: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_safepath"));
    c.args(["--data", data.to_str().unwrap(), "serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env("SAFEPATH_API_TOKEN", token)
        .stdout(std::process::Stdio::null());
    c
}
