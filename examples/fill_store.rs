//! Fills a data directory with N conversations (one routine turn each, distinct users) for the
//! memory benchmark: `cargo run --release --example fill_store -- DIR N`.

use std::sync::Arc;
use std::time::Instant;

use safepath::engine::Engine;
use safepath::session::Session;
use safepath::store::{SledStore, Store};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: fill_store DIR N"))?;
    let n: u64 = args.next().unwrap_or_else(|| "1000000".into()).parse()?;
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.as_ref())?);
    let s = Session::new(Arc::new(Engine::shipped()?), store.clone(), 30 * 86_400)?;
    let msgs = [
        "微信被封了怎么解封",
        "账号被盗了怎么办",
        "怎么注销微信",
        "小程序被处罚了",
    ];
    let t = Instant::now();
    for i in 0..n {
        s.turn("api", &format!("user-{i}"), msgs[(i % 4) as usize], false)?;
        if i > 0 && i % 100_000 == 0 {
            eprintln!(
                "{i} conversations ({:.0}/s)",
                i as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    store.flush()?;
    eprintln!(
        "{n} conversations stored in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
