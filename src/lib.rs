//! safepath: an anti-fraud support engine for people whose messaging account is restricted,
//! banned, stolen or about to be deleted.
//!
//! The pipeline, one module a stage: [`normalize`] → [`guard`] → [`scam`] → [`intent`] →
//! [`dialogue`] → [`reply`], driven by the pure [`engine::Engine`]. [`session::Session`] adds the
//! storage ([`store`]); frontends ([`chat`], [`classify`]) are thin adapters over it.
//!
//! ```
//! let engine = safepath::engine::Engine::shipped().unwrap();
//! let a = engine.analyze("vx被封了怎么办 有人说300能解");
//! assert!(!a.scam.signals.is_empty());
//! ```

pub mod catalog;
pub mod chat;
pub mod classify;
pub mod corpus;
pub mod dialogue;
pub mod engine;
pub mod eval;
pub mod guard;
pub mod http;
pub mod intent;
pub mod limit;
pub mod live;
pub mod metrics;
pub mod model;
pub mod normalize;
pub mod patterns;
pub mod reply;
pub mod report;
pub mod scam;
pub mod session;
pub mod store;
pub mod store_redis;
pub mod telegram;
pub mod training;

use serde::{Deserialize, Serialize};

/// jemalloc for every binary and bench that links the library. Against glibc's allocator it
/// raised the session-turn rate by half and the ticket rate by a fifth or more when the
/// conversations were in sled (which allocates and frees a node's keys and values on every read
/// and write, from several threads); mimalloc was as fast but held ~60% more memory. Measured in
/// BENCHMARKS.md (fourth round).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The two languages replies are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}
