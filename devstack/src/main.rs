//! `vantage-devstack`: a local Vantage API stand-in and AWS front door on loopback, for the
//! provider's demo and tests. See README.md for the endpoints and behaviour.

mod admin;
mod app;
mod aws;
mod clock;
mod counts;
mod faults;
mod ids;
mod net;
mod state;
mod vantage;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;

use app::Devstack;
use aws::AwsSide;
use aws::forward::Forwarder;
use aws::moto::{Moto, Python};
use aws::upstream::Upstream;
use aws::verifier::{AcceptAll, CachedVerifier, UpstreamVerifier};
use net::{ConnHandle, KillableListener};
use state::StateFile;
use vantage::auth::{TokenSpec, Tokens};

/// How long in-flight requests may finish after a stop signal before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, Parser)]
#[command(name = "vantage-devstack", version, about)]
struct Cli {
    /// Address for the Vantage API and the admin API (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    vantage_addr: SocketAddr,

    /// Address for the AWS front door (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    aws_addr: SocketAddr,

    /// Upstream AWS emulator (moto or LocalStack) URL; without it devstack starts moto server.
    #[arg(long, value_name = "URL")]
    aws_upstream: Option<String>,

    /// Python interpreter with `moto[server]` installed (else VANTAGE_DEVSTACK_PYTHON, the
    /// project's venv <target>/devstack-venv, or python3).
    #[arg(long, value_name = "PATH", conflicts_with = "aws_upstream")]
    moto_python: Option<PathBuf>,

    /// Start moto without AWS's managed policies (ViewOnlyAccess, ...), so that its first
    /// call in an account costs milliseconds instead of about a second: for runs over
    /// hundreds of accounts that attach none (`cargo xtask bench`).
    #[arg(long, conflicts_with = "aws_upstream")]
    moto_without_managed_policies: bool,

    /// CUR report definitions per account before ReportLimitReachedException.
    #[arg(long, value_name = "N", default_value_t = 5)]
    cur_report_limit: usize,

    /// API token accepted by the Vantage API, with comma-separated scopes (read,write by
    /// default). Repeatable; one random read,write token is generated when none is given.
    #[arg(long = "token", value_name = "TOKEN[:SCOPES]")]
    tokens: Vec<TokenSpec>,

    /// Persist the Vantage state, CUR reports and Data Exports in this JSON file (loaded at
    /// startup if it exists).
    #[arg(long, value_name = "PATH")]
    state_file: Option<PathBuf>,

    /// Requests per token per window before answering 429.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: u32,

    /// Length of a rate-limit window in seconds. Vantage's is an hour; a short one lets a test
    /// see windows reset.
    #[arg(long, value_name = "SECS", default_value_t = vantage::rate_limit::DEFAULT_WINDOW_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    rate_limit_window: u64,

    /// Seconds a newly seen role stays "not assumable yet".
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = parse_seconds)]
    propagation_delay: Duration,

    /// Skip the AWS checks of registrations: every role counts as assumable by Vantage and every
    /// bucket as readable. For tests of the Vantage API alone.
    #[arg(long)]
    accept_any_role: bool,

    /// Exit when stdin reaches end of file, so no devstack outlives the process that started it.
    #[arg(long)]
    stop_on_stdin_eof: bool,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let seconds: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("'{s}' must be a non-negative number"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vantage-devstack: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Don't wait on stragglers (a connection stuck in an injected delay).
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vantage-devstack: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `DEVSTACK_LOG` (error, warn, info, debug, trace, off;
/// default warn). Stdout carries only the ready line.
fn init_logging() {
    let level = std::env::var("DEVSTACK_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::LevelFilter>().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::WARN);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let started = Instant::now();
    let state_file = cli.state_file.clone().map(StateFile::open).transpose()?.map(Arc::new);
    let store = vantage::store::Store::open(state_file.clone())?;
    let aws_store = aws::store::AwsStore::open(state_file)?;
    // moto first, so it boots while nothing else waits on it. This runs on the main thread, as
    // moto's parent-death signal requires (see aws/moto.rs).
    let moto = match &cli.aws_upstream {
        Some(_) => None,
        None => Some(
            Moto::start(
                &Python::choose(cli.moto_python.clone()),
                !cli.moto_without_managed_policies,
            )
            .await?,
        ),
    };
    let upstream_url = match (&moto, &cli.aws_upstream) {
        (Some(moto), _) => moto.url.clone(),
        (None, Some(url)) => url.clone(),
        (None, None) => anyhow::bail!("no AWS upstream"),
    };
    if let Some(moto) = &moto {
        tracing::info!(pid = moto.pid(), url = %moto.url, elapsed_ms = started.elapsed().as_millis() as u64, "moto ready");
    }

    let upstream = Arc::new(Upstream::new(Forwarder::new(&upstream_url)?));
    // Before the ready line: a client may put a bucket notification as soon as it reads it.
    if let Err(e) = aws::upstream::create_vantage_topics(&upstream).await {
        tracing::info!(error = %e, "Vantage's CUR topics not created yet; tried again before the first bucket notification");
    }
    let tokens = if cli.tokens.is_empty() {
        vec![TokenSpec::generated()]
    } else {
        cli.tokens
    };

    let vantage_listener = TcpListener::bind(cli.vantage_addr)
        .await
        .with_context(|| format!("binding the Vantage API to {}", cli.vantage_addr))?;
    let aws_listener = TcpListener::bind(cli.aws_addr)
        .await
        .with_context(|| format!("binding the AWS front door to {}", cli.aws_addr))?;
    let vantage_url = net::bound_url(&vantage_listener)?;
    let aws_url = net::bound_url(&aws_listener)?;

    let app = Arc::new(Devstack {
        vantage_url: vantage_url.clone(),
        policies: std::sync::RwLock::new(vantage::account::policies()?),
        store,
        tokens: Tokens::new(tokens),
        rate: vantage::rate_limit::RateLimiter::new(cli.rate_limit, cli.rate_limit_window),
        faults: faults::Faults::default(),
        counts: counts::RequestCounts::default(),
        propagation: vantage::propagation::Propagation::new(cli.propagation_delay),
        verifier: Arc::new(CachedVerifier::new(if cli.accept_any_role {
            Arc::new(AcceptAll)
        } else {
            Arc::new(UpstreamVerifier::new(upstream.clone()))
        })),
        aws: AwsSide {
            upstream,
            store: aws_store,
            stacksets: Default::default(),
            cur_report_limit: cli.cur_report_limit,
        },
    });
    let first_token = app.tokens.first().to_owned();

    let (stop, stopped) = watch::channel(false);
    let vantage_server = axum::serve(
        KillableListener::new(vantage_listener),
        vantage::router(app.clone()).into_make_service_with_connect_info::<ConnHandle>(),
    )
    .with_graceful_shutdown(wait_for_stop(stopped.clone()));
    let aws_server = axum::serve(
        KillableListener::new(aws_listener),
        aws::router(app.clone()).into_make_service_with_connect_info::<ConnHandle>(),
    )
    .with_graceful_shutdown(wait_for_stop(stopped.clone()));
    let mut servers = tokio::task::JoinSet::new();
    servers.spawn(async move { ("Vantage API", vantage_server.await) });
    servers.spawn(async move { ("AWS front door", aws_server.await) });

    let signals = stop_signals();
    let ready = serde_json::json!({
        "vantage_url": vantage_url,
        "aws_url": aws_url,
        "admin_url": format!("{vantage_url}/_devstack"),
        "token": first_token,
        "aws_upstream_url": app.aws.upstream.url(),
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{ready}").context("writing the ready line")?;
    stdout.flush().context("writing the ready line")?;
    drop(stdout);
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");

    if cli.stop_on_stdin_eof {
        stop_on_stdin_eof(stop.clone());
    }
    let on_signal = stop.clone();
    tokio::spawn(async move {
        signals.await;
        let _ = on_signal.send(true);
    });

    // A server ending before a stop request is a failure. Stop is checked again after a server
    // ends because the servers may finish their graceful shutdown before this task sees it.
    let stop_requested = stopped.clone();
    tokio::select! {
        _ = wait_for_stop(stopped) => {}
        Some(ended) = servers.join_next() => {
            if !*stop_requested.borrow() {
                return server_exit(ended);
            }
        }
    }
    tracing::info!("stopping");
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async { while servers.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("in-flight requests did not finish in time; exiting anyway");
    }
    if let Some(moto) = moto {
        moto.stop();
    }
    Ok(())
}

async fn wait_for_stop(mut stopped: watch::Receiver<bool>) {
    // An error means every sender is gone, which also means stop.
    let _ = stopped.wait_for(|stop| *stop).await;
}

fn server_exit(ended: Result<(&'static str, std::io::Result<()>), tokio::task::JoinError>) -> anyhow::Result<()> {
    match ended {
        Ok((name, Ok(()))) => anyhow::bail!("the {name} server stopped unexpectedly"),
        Ok((name, Err(e))) => Err(e).with_context(|| format!("the {name} server failed")),
        Err(e) => Err(e).context("a server crashed"),
    }
}

/// A plain thread, not tokio's stdin: a blocking read would otherwise hold up runtime shutdown.
fn stop_on_stdin_eof(stop: watch::Sender<bool>) {
    let spawned = std::thread::Builder::new()
        .name("stdin-watch".to_owned())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 256];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = stop.send(true);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot watch stdin; stop with a signal instead");
    }
}

/// Installs the SIGTERM / SIGINT handlers now (before the ready line: a harness may signal as
/// soon as it reads it) and returns a future that ends at the first of them.
fn stop_signals() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
                    one.recv().await;
                }
                (Err(_), Err(_)) => std::future::pending::<()>().await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
