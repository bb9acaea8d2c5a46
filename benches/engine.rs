//! Criterion benchmarks for the rows of BENCHMARKS.md that are functions: a fixed mix of messages
//! through the engine, the length scaling, a session turn on sled, and start-up (catalog load and
//! compile). The same messages repeat, which flatters the engine (warm regex caches): its row in
//! BENCHMARKS.md comes from `benches/latency.rs`, over distinct messages.
//!
//!     cargo bench --bench engine

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use safepath::engine::Engine;
use safepath::session::Session;
use safepath::store::{SledStore, Store};

/// A realistic mix: routine questions, scams, secrets, English, chat.
const MIX: &[&str] = &[
    "vx被封了怎么办 有人说300能解",
    "微信被封了怎么解封",
    "我的微信号被盗了怎么办",
    "怎么注销微信账号",
    "小程序被处罚了怎么申诉",
    "专业解封微信，先付300定金，加V:jf8899，包解封不成功不收费",
    "客服你好 我的验证码是 482913 帮我解封",
    "my account got banned, how do I unblock it",
    "someone offered to unblock my account for a fee, is that legit?",
    "今天天气不错，晚上一起吃饭吗",
    "朋友让我帮他辅助验证解封，安全吗",
    "永久封号还能申诉吗",
];

fn engine(c: &mut Criterion) {
    let e = Engine::shipped().unwrap();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(MIX.len() as u64));
    g.bench_function("analyze_mix_of_12", |b| {
        b.iter(|| {
            for m in MIX {
                black_box(e.analyze(black_box(m)));
            }
        })
    });
    g.finish();
    let mut g = c.benchmark_group("engine_one");
    for (name, m) in [
        ("routine", MIX[1]),
        ("scam", MIX[5]),
        ("secret", MIX[6]),
        ("english", MIX[7]),
    ] {
        g.bench_function(name, |b| b.iter(|| black_box(e.analyze(black_box(m)))));
    }
    g.finish();
}

fn length(c: &mut Criterion) {
    let e = Engine::shipped().unwrap();
    let unit = "我的微信被封了，有人说付300元能解封，加V jf8899。今天下午三点收到的通知。";
    let mut g = c.benchmark_group("length");
    g.sample_size(10);
    for size in [1_000usize, 100_000, 1_000_000] {
        let mut m = String::new();
        while m.len() < size {
            m.push_str(unit);
        }
        g.throughput(Throughput::Bytes(m.len() as u64));
        g.bench_function(format!("{}KB", size / 1000), |b| {
            b.iter(|| black_box(e.analyze(black_box(&m))))
        });
    }
    g.finish();
}

fn session(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    let s = Session::new(Arc::new(Engine::shipped().unwrap()), store, 3600).unwrap();
    let mut g = c.benchmark_group("session");
    g.throughput(Throughput::Elements(1));
    let mut n = 0u64;
    // Many users, each message a routine one (a report would add its fsync: measured apart).
    g.bench_function("turn_sled", |b| {
        b.iter(|| {
            n += 1;
            let user = format!("u{}", n % 100_000);
            black_box(
                s.turn("bench", &user, MIX[(n % 5) as usize], false)
                    .unwrap(),
            )
        })
    });
    g.bench_function("turn_sled_with_durable_report", |b| {
        b.iter_batched(
            || {
                n += 1;
                format!("代解封 先交押金{n}元 加V jf{n}")
            },
            |m| black_box(s.turn("bench", "reporter", &m, true).unwrap()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn startup(c: &mut Criterion) {
    let mut g = c.benchmark_group("startup");
    g.sample_size(10);
    g.bench_function("catalog_load_and_compile", |b| {
        b.iter(|| black_box(Engine::shipped().unwrap()))
    });
    g.finish();
}

criterion_group!(benches, engine, length, session, startup);
criterion_main!(benches);
