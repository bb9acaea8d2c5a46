//! The `safepath` command: parses arguments and wires the frontends. Everything else lives in the
//! library.

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use std::collections::HashSet;

use safepath::catalog::Catalog;
use safepath::corpus::{self, Corpus};
use safepath::engine::Engine;
use safepath::limit::Rate;
use safepath::live::{EngineSource, Live, ModelChoice, Rebuild};
use safepath::model::Models;
use safepath::report;
use safepath::session::DEFAULT_IDLE_SECS;
use safepath::store::{SledStore, Store};
use safepath::training;

#[derive(Parser)]
#[command(
    name = "safepath",
    version,
    about = "Anti-fraud support chatbot for restricted, banned, stolen or closing accounts"
)]
struct Cli {
    /// Data directory (conversations, reports).
    #[arg(
        long,
        global = true,
        env = "SAFEPATH_DATA",
        default_value = "./safepath-data"
    )]
    data: PathBuf,
    /// Where state and reports live: `sled` (the data directory) or `redis://host:port/db`,
    /// shared by several instances.
    #[arg(long, global = true, env = "SAFEPATH_STORE", default_value = "sled")]
    store: String,
    /// Load the intent catalog from this directory instead of the one built in.
    #[arg(long, global = true, env = "SAFEPATH_INTENTS")]
    intents: Option<PathBuf>,
    /// Load the learned models from this directory (what `safepath train` wrote) instead of the
    /// ones built in; `none` runs the catalog alone. Unset: the models `train --with-labels`
    /// installed in the data directory (`DATA/model`) when there are any, else the ones built in.
    #[arg(long, global = true, env = "SAFEPATH_MODEL")]
    model: Option<PathBuf>,
    /// Memory for the embedded store's page cache, in MiB.
    #[arg(long, global = true, env = "SAFEPATH_CACHE_MB", default_value_t = safepath::store::DEFAULT_CACHE_MB)]
    cache_mb: u64,
    /// Forget conversations idle for this many seconds.
    #[arg(long, global = true, env = "SAFEPATH_IDLE_SECS", default_value_t = DEFAULT_IDLE_SECS)]
    idle_secs: u64,
    /// Messages a user may send per minute on the bot and the API (0: no limit).
    #[arg(long, global = true, env = "SAFEPATH_RATE_PER_MINUTE", default_value_t = Rate::USER.per_minute)]
    rate_per_minute: u32,
    /// `serve` and the webhook: seconds a client has to send a request's headers (idle
    /// kept-alive connections too) before its connection is closed.
    #[arg(
        long,
        global = true,
        env = "SAFEPATH_HEADER_TIMEOUT_SECS",
        default_value_t = 10
    )]
    header_timeout_secs: u64,
    /// `serve` and the webhook: connections served at once (lowered to fit the open-file limit);
    /// more wait to be accepted.
    #[arg(
        long,
        global = true,
        env = "SAFEPATH_MAX_CONNECTIONS",
        default_value_t = 4096
    )]
    max_connections: usize,
    /// `serve` and `telegram`: seconds requests and updates in flight get after Ctrl-C or
    /// SIGTERM; then it exits regardless.
    #[arg(
        long,
        global = true,
        env = "SAFEPATH_SHUTDOWN_SECS",
        default_value_t = 5
    )]
    shutdown_secs: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A conversation in the terminal, on the embedded store (no token, no network).
    Chat {
        /// Who you are in the store (hashed before it is stored).
        #[arg(long, default_value = "terminal-user")]
        user: String,
    },
    /// Stateless: JSON lines {"text": …} (or plain lines) on stdin → one JSON object a line.
    Classify {
        /// Worker threads (default: one per core). Output keeps the input's order.
        #[arg(long, env = "SAFEPATH_JOBS")]
        jobs: Option<usize>,
    },
    /// Validate the intent catalog and the labelled corpus; exits non-zero listing every
    /// problem.
    Check {
        /// The labelled corpus (checked when the directory exists).
        #[arg(long, default_value = "corpus")]
        corpus: PathBuf,
        /// Directories of held-out evaluation files (`heldout-*.jsonl`, `firstsight*.jsonl`)
        /// whose lines must not be in the corpus.
        #[arg(long, default_values = ["../shared/eval", "tests/data"])]
        heldout: Vec<PathBuf>,
    },
    /// Rebuild the learned models from the corpus (deterministic: the same corpus gives the same
    /// bytes).
    Train {
        #[arg(long, default_value = "corpus")]
        corpus: PathBuf,
        /// Where the models are written (`model/` is the one compiled into the binary; with
        /// --with-labels, `DATA/model`, which a running server loads on SIGHUP or
        /// POST /v1/admin/reload).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Add the reports the team labelled (their redacted text) to the scam corpus, and
        /// install the new models only if they are no worse on the --gate files.
        #[arg(long)]
        with_labels: bool,
        /// Read the labelled reports from this file (`reports export --format jsonl`, or the
        /// reports of GET /v1/reports one a line) instead of the store: a running server holds
        /// the data directory.
        #[arg(long, requires = "with_labels")]
        labels: Option<PathBuf>,
        /// Held-out labelled files (as `eval` reads them) the new models must do no worse on
        /// than the ones in use; required with --with-labels.
        #[arg(long, requires = "with_labels")]
        gate: Vec<PathBuf>,
    },
    /// Score the engine on labelled JSON lines ({"text", "intent"} and/or {"text", "scam"}),
    /// and/or on the conversations in a directory of dialogue files (--dialogues).
    Eval {
        files: Vec<PathBuf>,
        /// A directory of dialogue files (`*.jsonl`, one conversation a line), each played
        /// through a session on a scratch store.
        #[arg(long)]
        dialogues: Option<PathBuf>,
        /// One JSON object instead of the tables.
        #[arg(long)]
        json: bool,
        /// Print this many of the lines answered wrong.
        #[arg(long, default_value_t = 0)]
        show_errors: usize,
    },
    /// The Telegram bot. Token from TELOXIDE_TOKEN; TELOXIDE_API_URL points it at another Bot API
    /// server. Long polling unless --webhook is given.
    Telegram {
        /// Public HTTPS URL Telegram posts updates to (webhook mode).
        #[arg(long, env = "SAFEPATH_WEBHOOK_URL")]
        webhook: Option<String>,
        /// Where the webhook (and, with SAFEPATH_API_TOKEN set, the HTTP API) listens.
        #[arg(long, env = "SAFEPATH_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// The HTTP API for support desks, with /metrics and the reports page.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "SAFEPATH_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// The scam-report log.
    Reports {
        #[command(subcommand)]
        command: ReportsCommand,
    },
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// Write the reports, each with the team's label, to stdout.
    Export {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
        /// Only reports on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
    },
    /// Counts by day, signal and verdict, the most named contacts, the team's labels and the
    /// detector's precision on the labelled reports.
    Stats {
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
}

/// The catalog alone, for what needs no model (training one).
fn catalog(cli: &Cli) -> Result<Catalog> {
    Ok(match &cli.intents {
        Some(dir) => Catalog::from_dir(dir)?,
        None => Catalog::shipped()?,
    })
}

/// Where the engine comes from: `--intents` and `--model`; without `--model`, the models
/// installed in the data directory when `installed` (serving, classifying, evaluating) else the
/// ones built in (`check`, which holds them against the corpus).
fn source(cli: &Cli, installed: bool) -> EngineSource {
    let models = match &cli.model {
        Some(dir) if dir.as_os_str() == "none" => ModelChoice::None,
        Some(dir) => ModelChoice::Dir(dir.clone()),
        None if installed => ModelChoice::Preferred {
            data_dir: cli.data.clone(),
        },
        None => ModelChoice::BuiltIn,
    };
    EngineSource {
        intents: cli.intents.clone(),
        models,
    }
}

fn engine(cli: &Cli) -> Result<Engine> {
    Ok(source(cli, true).load()?.engine)
}

fn store(cli: &Cli) -> Result<Arc<dyn Store>> {
    if cli.store.starts_with("redis://") || cli.store.starts_with("rediss://") {
        // The salt of user keys is configuration in the Redis mode: kept outside Redis, a
        // restart of Redis without persistence cannot change it. Only from the environment,
        // never an argument (arguments are visible to every user of the machine).
        let salt = match std::env::var("SAFEPATH_SALT") {
            Ok(hex_salt) => Some(
                hex::decode(hex_salt.trim())
                    .ok()
                    .filter(|s| s.len() >= 16)
                    .context("SAFEPATH_SALT must be at least 32 hexadecimal digits (e.g. `openssl rand -hex 32`)")?,
            ),
            Err(_) => None,
        };
        let s = safepath::store_redis::RedisStore::open(&cli.store, cli.idle_secs, salt.as_deref())
            .context("opening the redis store")?;
        return Ok(Arc::new(s));
    }
    if cli.store != "sled" {
        anyhow::bail!(
            "--store must be `sled` or a redis://… URL, not `{}`",
            cli.store
        );
    }
    let s = SledStore::open_with_cache(&cli.data, cli.cache_mb)
        .with_context(|| format!("opening the data directory {}", cli.data.display()))?;
    Ok(Arc::new(s))
}

/// The session every frontend runs on, reloadable. `long_running` (the bot, the API): the
/// per-user limit applies and idle conversations are swept a little every second; otherwise (the
/// one person at a terminal) they are swept once, now.
fn session(cli: &Cli, long_running: bool) -> Result<Arc<Live>> {
    let rate = (long_running && cli.rate_per_minute > 0).then(|| Rate {
        per_minute: cli.rate_per_minute,
        burst: Rate::USER.burst.min(cli.rate_per_minute),
    });
    let live = Live::start(Rebuild {
        source: source(cli, true),
        store: store(cli)?,
        idle_secs: cli.idle_secs,
        rate,
        sweep: long_running,
    })?;
    if !long_running {
        let expired = live.session().expire_idle()?;
        if expired > 0 {
            tracing::info!(expired, "forgot idle conversations");
        }
    }
    Ok(Arc::new(live))
}

/// The server's limits from the options, fitted to the open-file limit once it is raised as far
/// as this process may (the soft limit to the hard one).
fn server_limits(cli: &Cli) -> safepath::http::ServerLimits {
    let wanted = safepath::http::ServerLimits {
        header_timeout: Duration::from_secs(cli.header_timeout_secs.max(1)),
        max_connections: cli.max_connections.max(1),
        shutdown_deadline: Duration::from_secs(cli.shutdown_secs),
    };
    let limits = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(open_files) => wanted.within_open_files(open_files),
        Err(e) => {
            tracing::warn!(error = %e, "the open-file limit could not be read or raised");
            wanted
        }
    };
    if limits.max_connections < wanted.max_connections {
        tracing::warn!(
            connections = limits.max_connections,
            "fewer connections than --max-connections: the open-file limit allows no more \
             (raise it: ulimit -n, or LimitNOFILE= in a systemd unit)"
        );
    }
    limits
}

/// Ends the runtime without waiting on work a client or Telegram left behind: blocking store
/// calls in flight get a second (each is short, and what was acknowledged is already flushed).
fn stop(rt: tokio::runtime::Runtime) {
    rt.shutdown_timeout(Duration::from_secs(1));
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    // Session turns run on the blocking pool. Unbounded, it grew to 80 threads under 32
    // connections on 2 cores, each with its own allocator arena and regex caches: more memory
    // and more switching for no more throughput. Twice the cores leaves room for store I/O waits.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads((2 * cores).max(4))
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// A webhook secret when none is configured: Telegram echoes it in a header on every post.
fn random_secret() -> Result<String> {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn since(s: &Option<String>) -> Result<u64> {
    match s {
        Some(d) => report::parse_day(d).map_err(anyhow::Error::msg),
        None => Ok(0),
    }
}

/// `train --with-labels`: the corpus and the labelled reports → new models, installed in the
/// data directory (or `out`) only if they are no worse than the ones in use on the gate files.
fn train_with_labels(
    cli: &Cli,
    catalog: Catalog,
    c: &mut Corpus,
    labels: Option<&std::path::Path>,
    gate: &[PathBuf],
    out: Option<&std::path::Path>,
) -> Result<ExitCode> {
    if gate.is_empty() {
        anyhow::bail!(
            "--with-labels needs at least one --gate FILE (held-out labelled lines, e.g. \
             ../shared/eval/heldout-scam.jsonl): new models are installed only if they are no \
             worse on them"
        );
    }
    let reports = match labels {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            report::read_jsonl(&path.display().to_string(), &text).map_err(anyhow::Error::msg)?
        }
        None => store(cli)
            .context(
                "reading the labelled reports (while a server holds the data directory, save \
                 its GET /v1/reports pages one report a line and pass them with --labels FILE)",
            )?
            .labelled_reports(0, 0, usize::MAX)?,
    };
    let mut gate_lines = Vec::new();
    for f in gate {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        gate_lines.extend(
            safepath::eval::read(&f.display().to_string(), &text).map_err(anyhow::Error::msg)?,
        );
    }
    // Never train on a held-out line: the gate's, and those `check` keeps out of the corpus.
    let mut held = corpus::texts_of(gate);
    held.extend(corpus::texts_of(&corpus::heldout_files(&[
        PathBuf::from("../shared/eval"),
        PathBuf::from("tests/data"),
    ])));
    let added = training::add_labels(c, &reports, &held);
    eprintln!(
        "labelled reports: {} scam and {} not_scam added to the scam corpus; {} already there, \
         {} in a held-out file (left out)",
        added.scam, added.not_scam, added.duplicates, added.held_out
    );
    let in_use = source(cli, true).load()?;
    let trained = training::train(&catalog, c, |line| eprintln!("{line}"));
    let new = Engine::new_with(catalog, Some(trained.models()))?;
    let verdict = training::Gate::run(&in_use.engine, &new, &gate_lines);
    println!("models in use: {}", in_use.models_from);
    print!("{verdict}");
    let worse = verdict.worse();
    if !worse.is_empty() {
        println!(
            "refused: the new models are worse on the gate files ({}); the models in use stay",
            worse.join("; ")
        );
        return Ok(ExitCode::from(1));
    }
    let out = out.map_or_else(
        || cli.data.join(safepath::live::DATA_MODEL_DIR),
        |o| o.to_path_buf(),
    );
    Models::write(&out, &trained.intents, &trained.scam)
        .with_context(|| format!("writing the models to {}", out.display()))?;
    println!(
        "installed in {} (a running server loads them on SIGHUP or POST /v1/admin/reload)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Check { corpus, heldout } => {
            let engine = match source(&cli, false).load() {
                Ok(loaded) => loaded.engine,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(1));
                }
            };
            let mut problems = engine.audit();
            if corpus.is_dir() {
                let c = Corpus::load(corpus).map_err(anyhow::Error::msg)?;
                let held = corpus::heldout_files(heldout);
                problems.extend(c.problems(engine.catalog(), &corpus::texts_of(&held)));
                // The models built in must be the ones the corpus trains.
                if cli.model.is_none() && cli.intents.is_none() {
                    problems.extend(training::stale(&engine, &c));
                }
                println!(
                    "corpus: {} intent lines, {} scam lines; {} held-out file(s) kept out",
                    c.intents.len(),
                    c.scam.len(),
                    held.len()
                );
            }
            if problems.is_empty() {
                let c = engine.catalog();
                println!(
                    "catalog OK: {} intents, {} nodes, {} signals, {} patterns",
                    c.intents.len(),
                    c.nodes.len(),
                    c.signals.len(),
                    c.patterns.len() + c.route_patterns.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{}", safepath::catalog::CatalogErrors(problems));
                Ok(ExitCode::from(1))
            }
        }
        Command::Train {
            corpus,
            out,
            with_labels,
            labels,
            gate,
        } => {
            // Not the engine: the models built in may be the very thing being replaced.
            let catalog = catalog(&cli)?;
            let mut c = Corpus::load(corpus).map_err(anyhow::Error::msg)?;
            let problems = c.problems(&catalog, &HashSet::new());
            if !problems.is_empty() {
                eprintln!("{}", safepath::catalog::CatalogErrors(problems));
                return Ok(ExitCode::from(1));
            }
            if !with_labels {
                let out = out.clone().unwrap_or_else(|| PathBuf::from("model"));
                let trained = training::train(&catalog, &c, |line| eprintln!("{line}"));
                Models::write(&out, &trained.intents, &trained.scam)
                    .with_context(|| format!("writing the models to {}", out.display()))?;
                eprintln!(
                    "wrote {} and {} to {} (rebuild to ship them: cargo build --release)",
                    safepath::model::INTENTS_FILE,
                    safepath::model::SCAM_FILE,
                    out.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            train_with_labels(
                &cli,
                catalog,
                &mut c,
                labels.as_deref(),
                gate,
                out.as_deref(),
            )
        }
        Command::Eval {
            files,
            dialogues,
            json,
            show_errors,
        } => {
            if files.is_empty() && dialogues.is_none() {
                anyhow::bail!("name at least one labelled JSON-lines file, or --dialogues DIR");
            }
            let engine = Arc::new(engine(&cli)?);
            if let Some(dir) = dialogues {
                let conversations =
                    safepath::eval::dialogues::read_dir(dir).map_err(anyhow::Error::msg)?;
                // Reports and state go to a scratch directory, never the data directory.
                let scratch =
                    std::env::temp_dir().join(format!("safepath-dialogues-{}", std::process::id()));
                // A directory left by an earlier process with this id would carry its state.
                let _ = std::fs::remove_dir_all(&scratch);
                let scores = safepath::eval::dialogues::score(&engine, &conversations, &scratch);
                let _ = std::fs::remove_dir_all(&scratch);
                let scores = scores.context("playing the dialogues on a scratch store")?;
                if *json {
                    println!("{}", serde_json::to_string_pretty(&scores)?);
                } else {
                    print!("{scores}");
                    for t in scores.failed_turns.iter().take(*show_errors) {
                        println!("{t}");
                    }
                }
            }
            if files.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            let mut lines = Vec::new();
            for f in files {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?;
                lines.extend(
                    safepath::eval::read(&f.display().to_string(), &text)
                        .map_err(anyhow::Error::msg)?,
                );
            }
            let scores = safepath::eval::score(&engine, &lines);
            if *json {
                println!("{}", serde_json::to_string_pretty(&scores)?);
            } else {
                print!("{scores}");
                for (text, want, got) in scores.errors.iter().take(*show_errors) {
                    println!("  want {want}, got {got}: {text}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Classify { jobs } => {
            let engine = engine(&cli)?;
            let mut options = safepath::classify::Options {
                progress: io::stderr().is_terminal(),
                ..Default::default()
            };
            options.jobs = jobs.unwrap_or(options.jobs);
            let input = io::BufReader::with_capacity(1 << 16, io::stdin());
            let (_, bad) = safepath::classify::run(&engine, input, io::stdout().lock(), options)?;
            if bad > 0 {
                eprintln!("safepath classify: {bad} line(s) could not be read; see their \"error\" objects");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { listen } => {
            let token = std::env::var("SAFEPATH_API_TOKEN").unwrap_or_default();
            let live = session(&cli, true)?;
            let api = Arc::new(
                safepath::http::Api::with_live(live.clone(), &token).map_err(anyhow::Error::msg)?,
            );
            let limits = server_limits(&cli);
            let rt = runtime()?;
            let served = rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen.as_str())
                    .await
                    .with_context(|| format!("listening on {listen}"))?;
                safepath::live::reload_on_sighup(live.clone());
                eprintln!(
                    "safepath serve — listening on http://{} (engine {}; SIGHUP reloads it)",
                    listener.local_addr()?,
                    live.version().version
                );
                let app = safepath::http::router(api);
                safepath::http::serve_with(listener, app, limits, shutdown_signal()).await?;
                anyhow::Ok(())
            });
            stop(rt);
            live.session().store().flush()?;
            served?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Telegram { webhook, listen } => {
            use safepath::telegram;
            let token = std::env::var("TELOXIDE_TOKEN").map_err(|_| {
                anyhow::anyhow!(
                    "TELOXIDE_TOKEN is not set; create a bot with @BotFather and export its token"
                )
            })?;
            let api_url = std::env::var("TELOXIDE_API_URL").ok();
            let admins =
                telegram::parse_admins(&std::env::var("SAFEPATH_ADMINS").unwrap_or_default())
                    .map_err(anyhow::Error::msg)?;
            let admin_chat = telegram::parse_admin_chat(
                &std::env::var("SAFEPATH_ADMIN_CHAT").unwrap_or_default(),
            )
            .map_err(anyhow::Error::msg)?;
            let live = session(&cli, true)?;
            let tg = Arc::new(telegram::Tg {
                live: live.clone(),
                admins,
                admin_chat,
            });
            let limits = server_limits(&cli);
            let rt = runtime()?;
            let ran = rt.block_on(async {
                let bot = telegram::bot(&token, api_url.as_deref(), telegram::default_limits())
                    .map_err(anyhow::Error::msg)?;
                let mode = match webhook {
                    None => telegram::Mode::Polling(std::time::Duration::from_secs(25)),
                    Some(url) => {
                        let url = url::Url::parse(url).context("--webhook is not a URL")?;
                        let listen = listen.parse().context("--listen is not an address")?;
                        let secret = match std::env::var("SAFEPATH_WEBHOOK_SECRET") {
                            Ok(s) if !s.is_empty() => s,
                            _ => random_secret()?,
                        };
                        let extra = match std::env::var("SAFEPATH_API_TOKEN") {
                            Ok(t) if !t.is_empty() => safepath::http::router(Arc::new(
                                safepath::http::Api::with_live(live.clone(), &t)
                                    .map_err(anyhow::Error::msg)?,
                            )),
                            _ => axum::Router::new(),
                        };
                        telegram::Mode::Webhook {
                            url,
                            listen,
                            secret,
                            extra,
                        }
                    }
                };
                safepath::live::reload_on_sighup(live.clone());
                eprintln!("safepath telegram — running; Ctrl-C stops it, SIGHUP reloads the catalog and models");
                telegram::run(bot, tg, mode, limits, shutdown_signal())
                    .await
                    .map_err(anyhow::Error::msg)
            });
            stop(rt);
            live.session().store().flush()?;
            ran?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Chat { user } => {
            let session = session(&cli, false)?.session();
            if io::stdin().is_terminal() {
                eprintln!(
                    "safepath chat — data in {}; type /quit to leave",
                    cli.data.display()
                );
            }
            safepath::chat::run(&session, user, io::stdin().lock(), io::stdout().lock())?;
            session.store().flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reports { command } => {
            let store = store(&cli)?;
            match command {
                ReportsCommand::Export { format, since: s } => {
                    let reports = store.labelled_reports(0, since(s)?, usize::MAX)?;
                    let mut out = io::stdout().lock();
                    match format {
                        Format::Jsonl => report::write_jsonl(&reports, &mut out)?,
                        Format::Csv => report::write_csv(&reports, &mut out)?,
                    }
                    eprintln!("exported {} report(s)", reports.len());
                }
                ReportsCommand::Stats { since: s } => {
                    let mut tally = report::Tally::default();
                    for r in store.labelled_reports(0, since(s)?, usize::MAX)? {
                        tally.add_labelled(&r);
                    }
                    let st = tally.finish(10);
                    println!("{}", serde_json::to_string_pretty(&st)?);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SAFEPATH_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("safepath: {e:#}");
            ExitCode::from(2)
        }
    }
}
