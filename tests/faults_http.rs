//! HTTP faults against the real `safepath serve` binary: clients that send half a request hold
//! neither the server's descriptors nor its shutdown hostage. Deadlines here are generous (a
//! loaded 2-core machine); each one is still far below what the fault cost without the fix.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use safepath::store::{SledStore, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "faults-token-0123456789";
/// Headers that never end: the request line and one header, no blank line.
const HALF_HEADERS: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: safepath\r\n";

/// Ends the child (if the test failed before it did) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigterm(child: &Child) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM failed");
}

/// Waits up to `limit` for the child to exit; how long it took.
async fn exit_within(child: &mut Child, limit: Duration) -> (Duration, std::process::ExitStatus) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (start.elapsed(), status);
        }
        assert!(
            start.elapsed() < limit,
            "still running {limit:?} after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two clients once held 20,000 half-sent requests and every descriptor was gone; `/healthz`
/// timed out. Here the server may open only 256 files, and 300 clients send half a header each
/// and wait: the header timeout closes them in turn and a health check gets through.
#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_do_not_starve_the_health_check() {
    const SLOW: usize = 300;
    // The test itself holds 300 sockets.
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut cmd = common::serve_command(&dir.path().join("data"), port, TOKEN);
    cmd.env("SAFEPATH_HEADER_TIMEOUT_SECS", "2")
        .stderr(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, 256, 256));
    }
    let _server = Server(cmd.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    common::wait_healthy(&base).await;

    let connected = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let (connected, closed) = (connected.clone(), closed.clone());
        slow.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
                return;
            };
            if s.write_all(HALF_HEADERS).await.is_err() {
                return;
            }
            connected.fetch_add(1, Relaxed);
            // Hold the connection until the server closes it.
            let mut buf = [0u8; 512];
            while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            closed.fetch_add(1, Relaxed);
        }));
    }
    let start = Instant::now();
    while connected.load(Relaxed) < SLOW && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(connected.load(Relaxed) > 256, "the slow clients are all in");

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let asked = Instant::now();
    let r = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("/healthz answers despite 300 half-sent requests");
    assert_eq!(r.status(), 200);
    eprintln!("/healthz answered in {:?}", asked.elapsed());
    // The server closed slow clients to get there; none of them gave up on its own.
    assert!(closed.load(Relaxed) > 0);
    for t in slow {
        t.abort();
    }
}

/// SIGTERM once waited 50 s on a client that sent half its headers and 10 s on one that sent
/// half a body. With a 3 s deadline the server exits within twice that, and the report it
/// acknowledged before is on disk.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_by_the_deadline_despite_half_sent_requests() {
    const DEADLINE: u64 = 3;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = common::free_port();
    let mut cmd = common::serve_command(&data, port, TOKEN);
    cmd.env("SAFEPATH_SHUTDOWN_SECS", DEADLINE.to_string())
        .env("SAFEPATH_HEADER_TIMEOUT_SECS", "120")
        .stderr(Stdio::null());
    let mut server = Server(cmd.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    common::wait_healthy(&base).await;

    let acked = reqwest::Client::new()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"text": "专业解封微信 先付300定金 加V:jf8899 包成功"}))
        .send()
        .await
        .unwrap();
    assert_eq!(acked.status(), 201);
    let id = acked.json::<serde_json::Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap();

    let mut half_headers = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    half_headers.write_all(HALF_HEADERS).await.unwrap();
    let mut half_body = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: safepath\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"text\": \"代解封"
    );
    half_body.write_all(head.as_bytes()).await.unwrap();
    // Both are in the server's hands before it is told to stop (ordering, not timing, matters).
    tokio::time::sleep(Duration::from_millis(500)).await;

    sigterm(&server.0);
    let limit = Duration::from_secs(2 * DEADLINE + 2);
    let (took, status) = exit_within(&mut server.0, limit).await;
    assert!(status.success(), "{status:?} after {took:?}");
    eprintln!("exited {took:?} after SIGTERM");
    drop((half_headers, half_body));

    let store = SledStore::open(&data).unwrap();
    let reports = store.reports(0, 0, 10).unwrap();
    assert_eq!(
        reports.iter().map(|r| r.id).collect::<Vec<_>>(),
        [id],
        "the acknowledged report is on disk; the half-sent one recorded nothing"
    );
}
