//! Process entry point: the go-plugin handshake, the listener, AutoMTLS, and
//! serving the provider until Terraform shuts it down.

mod go_plugin;
mod provider_service;
pub mod tls;

use std::io::{self, Write};
#[cfg(unix)]
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;

/// Largest gRPC message decoded or sent: terraform-plugin-go's limit, which Terraform's client
/// matches. Bounds what one hostile message can make the provider allocate.
pub const MAX_MESSAGE_SIZE: usize = 256 << 20;

use crate::proto::plugin::grpc_broker_server::GrpcBrokerServer;
use crate::proto::plugin::grpc_controller_server::GrpcControllerServer;
use crate::proto::plugin::grpc_stdio_server::GrpcStdioServer;
use crate::proto::tfplugin6::provider_server::ProviderServer;
use crate::provider::Provider;

pub use provider_service::ProviderService;

/// The cookie Terraform sets so plugins know they were started by it.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
const CORE_PROTOCOL_VERSION: u32 = 1;
const APP_PROTOCOL_VERSION: u32 = 6;

/// How the plugin was asked to run.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The provider's source address, used in the debug-mode reattach value.
    pub source_address: String,
    /// Serve without the cookie and print `TF_REATTACH_PROVIDERS` (for debuggers).
    pub debug: bool,
}

/// Runs the plugin: checks how it was started, serves, and returns the exit
/// code. Call from `main`.
pub fn main<P: Provider>(provider: P, source_address: &str) -> ExitCode {
    let debug = std::env::args().skip(1).any(|a| a == "--debug" || a == "-debug");
    crate::log::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = ServeOptions {
        source_address: source_address.to_string(),
        debug,
    };
    let result = runtime.block_on(serve(provider, options));
    // Nothing is left to do on the worker threads and Terraform waits for
    // the process to exit: don't join them.
    runtime.shutdown_background();
    report_resource_usage();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// For benchmarks: with `TF_PLUGIN_USAGE_FILE` set, append this process's
/// peak RSS and CPU time (`pid=.. peak_rss_kb=.. cpu_ms=..`) when it exits.
/// Terraform starts one process per provider configuration, so a whole run's
/// processes can be summed.
fn report_resource_usage() {
    let Some(path) = std::env::var_os("TF_PLUGIN_USAGE_FILE") else {
        return;
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Peak resident set, and at exit the split between private (anonymous)
    // memory and pages of the binary, which the page cache shares between
    // every provider process.
    let (peak_kb, anon_kb, file_kb) = (kb("VmHWM:"), kb("RssAnon:"), kb("RssFile:"));
    // utime and stime, fields 14 and 15 of /proc/self/stat, in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|x| x.parse::<u64>().ok()).sum());
    // Proportional set size: shared pages divided among the processes
    // mapping them, so summing it over processes counts the binary once.
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    let pss_kb = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    let line = format!(
        "pid={} peak_rss_kb={peak_kb} rss_anon_kb={anon_kb} rss_file_kb={file_kb} pss_kb={pss_kb} cpu_ms={}\n",
        std::process::id(),
        ticks * 10
    );
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = file.write_all(line.as_bytes());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "This binary is a plugin for Terraform. It is not meant to be run directly: Terraform starts it \
         when a configuration uses this provider (run `terraform init` and `terraform plan`). \
         To debug it, run it with --debug."
    )]
    NotStartedByTerraform,
    #[error(
        "Terraform offered plugin protocol version(s) {0:?}, but this provider speaks version 6 only. \
         Use Terraform 1.0 or later."
    )]
    UnsupportedProtocol(String),
    #[error("could not set up AutoMTLS: {0}")]
    Tls(#[from] tls::TlsSetupError),
    #[error("could not listen for Terraform: {0}")]
    Listen(io::Error),
    #[error(
        "refusing to serve the plugin protocol in plaintext over TCP: PLUGIN_CLIENT_CERT is missing. \
         Terraform always passes its client certificate (AutoMTLS); anything else on this machine could \
         connect to a plaintext TCP port. Unix sockets (in a private directory) and --debug are served \
         without it."
    )]
    PlaintextTcp,
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Where the plugin listens.
enum Listener {
    #[cfg(unix)]
    Unix {
        listener: tokio::net::UnixListener,
        path: PathBuf,
    },
    Tcp {
        listener: tokio::net::TcpListener,
    },
}

impl Listener {
    /// A unix socket in a fresh private directory (returned too: the socket
    /// goes when it is dropped); TCP on loopback where unix sockets are
    /// missing (or when `TF_PLUGIN_TRANSPORT=tcp`, for testing).
    async fn bind() -> io::Result<(Listener, Option<tempfile::TempDir>)> {
        let force_tcp = std::env::var("TF_PLUGIN_TRANSPORT").is_ok_and(|v| v == "tcp");
        #[cfg(unix)]
        if !force_tcp {
            // tempfile creates the directory with mode 0700.
            let dir = tempfile::Builder::new().prefix("plugin").tempdir()?;
            let path = dir.path().join("plugin.sock");
            let listener = tokio::net::UnixListener::bind(&path)?;
            return Ok((Listener::Unix { listener, path }, Some(dir)));
        }
        let _ = force_tcp;
        let min: u16 = env_port("PLUGIN_MIN_PORT").unwrap_or(0);
        let max: u16 = env_port("PLUGIN_MAX_PORT").unwrap_or(0);
        if min > 0 && max >= min {
            let mut last = None;
            for port in min..=max {
                match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                    Ok(listener) => return Ok((Listener::Tcp { listener }, None)),
                    Err(e) => last = Some(e),
                }
            }
            return Err(last.unwrap_or_else(|| io::Error::other("no free port in range")));
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok((Listener::Tcp { listener }, None))
    }

    /// (network, address) as go-plugin announces them.
    fn address(&self) -> io::Result<(&'static str, String)> {
        match self {
            #[cfg(unix)]
            Listener::Unix { path, .. } => Ok(("unix", path.display().to_string())),
            Listener::Tcp { listener } => Ok(("tcp", listener.local_addr()?.to_string())),
        }
    }

    async fn accept(&self) -> io::Result<Conn> {
        match self {
            #[cfg(unix)]
            Listener::Unix { listener, .. } => Ok(Conn(Box::new(listener.accept().await?.0))),
            Listener::Tcp { listener } => {
                let (stream, _) = listener.accept().await?;
                // Without nodelay every RPC waits ~40 ms on Nagle + delayed ACK.
                stream.set_nodelay(true)?;
                Ok(Conn(Box::new(stream)))
            }
        }
    }
}

fn env_port(name: &str) -> Option<u16> {
    std::env::var(name).ok()?.parse().ok()
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// One accepted connection, plain or TLS, over unix or TCP.
struct Conn(Box<dyn Io>);

impl Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

/// Checks the environment Terraform starts plugins with.
fn check_started_by_terraform() -> Result<(), ServeError> {
    if std::env::var(MAGIC_COOKIE_KEY).ok().as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Err(ServeError::NotStartedByTerraform);
    }
    if let Ok(versions) = std::env::var("PLUGIN_PROTOCOL_VERSIONS") {
        let offered = versions
            .split(',')
            .any(|v| v.trim() == APP_PROTOCOL_VERSION.to_string());
        if !offered {
            return Err(ServeError::UnsupportedProtocol(versions));
        }
    }
    Ok(())
}

/// Serves the provider until Terraform calls Shutdown (or, in debug mode,
/// until interrupted).
pub async fn serve<P: Provider>(provider: P, options: ServeOptions) -> Result<(), ServeError> {
    // Before anything can panic: the default printer would bypass the redactor.
    crate::log::install_panic_hook();
    if !options.debug {
        check_started_by_terraform()?;
    }
    let client_cert = if options.debug {
        None
    } else {
        std::env::var("PLUGIN_CLIENT_CERT").ok()
    };
    let mtls = match client_cert.filter(|c| !c.trim().is_empty()) {
        Some(pem) => Some(tls::auto_mtls(&pem)?),
        None => None,
    };
    // Held here so the socket directory is removed when serving ends, before
    // the process exits.
    let (listener, _socket_dir) = Listener::bind().await.map_err(ServeError::Listen)?;
    let (network, address) = listener.address().map_err(ServeError::Listen)?;
    if network == "tcp" && mtls.is_none() && !options.debug {
        return Err(ServeError::PlaintextTcp);
    }

    let shutdown = CancellationToken::new();
    let incoming = accept_loop(listener, mtls.as_ref().map(|m| m.config.clone()), shutdown.clone());

    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;

    let provider_service = ProviderServer::new(ProviderService::new(provider))
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    let router = tonic::transport::Server::builder()
        .add_service(provider_service)
        .add_service(GrpcControllerServer::new(go_plugin::Controller {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcStdioServer::new(go_plugin::Stdio {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcBrokerServer::new(go_plugin::Broker {
            shutdown: shutdown.clone(),
        }))
        .add_service(health);

    announce(
        &options,
        network,
        &address,
        mtls.as_ref().map(|m| m.server_cert_der.as_slice()),
    )
    .map_err(ServeError::Listen)?;
    spawn_signal_handlers(options.debug, shutdown.clone());

    let stop = shutdown.clone();
    let server = router.serve_with_incoming_shutdown(incoming, async move { stop.cancelled().await });
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => r?,
        () = async {
            shutdown.cancelled().await;
            // In-flight RPCs get a moment to finish; then we exit regardless.
            tokio::time::sleep(Duration::from_secs(2)).await;
        } => {}
    }
    Ok(())
}

/// Prints the handshake line (or the reattach instructions in debug mode).
fn announce(options: &ServeOptions, network: &str, address: &str, cert_der: Option<&[u8]>) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if options.debug {
        let reattach = serde_json::json!({
            options.source_address.clone(): {
                "Protocol": "grpc",
                "ProtocolVersion": APP_PROTOCOL_VERSION,
                "Pid": std::process::id(),
                "Test": true,
                "Addr": { "Network": network, "String": address },
            }
        });
        writeln!(
            out,
            "Provider started in debug mode. To attach Terraform, set TF_REATTACH_PROVIDERS \
             in the shell you run terraform from:\n\n\tTF_REATTACH_PROVIDERS='{reattach}'\n"
        )?;
    } else {
        let cert = cert_der
            .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
            .unwrap_or_default();
        writeln!(
            out,
            "{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|{network}|{address}|grpc|{cert}"
        )?;
    }
    out.flush()
}

/// Terraform's own handshake takes milliseconds; a client that connects and
/// stalls must not hold a task and a socket for ever.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts connections (doing the TLS handshake off the accept path) and
/// hands them to tonic until shutdown.
fn accept_loop(
    listener: Listener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        loop {
            let conn = tokio::select! {
                _ = shutdown.cancelled() => break,
                c = listener.accept() => c,
            };
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(target: "tfplugin", error = %e, "accept failed");
                    continue;
                }
            };
            let tx = tx.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let conn = match acceptor {
                    None => conn,
                    Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(conn)).await {
                        Ok(Ok(tls)) => Conn(Box::new(tls)),
                        Ok(Err(e)) => {
                            // A client without Terraform's certificate ends here.
                            tracing::warn!(target: "tfplugin", error = %e, "TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::warn!(target: "tfplugin", "TLS handshake not finished in time; connection closed");
                            return;
                        }
                    },
                };
                let _ = tx.send(Ok(conn)).await;
            });
        }
    });
    ReceiverStream::new(rx)
}

/// SIGINT reaches the whole process group on Ctrl-C: Terraform handles it and
/// calls StopProvider, so the plugin ignores it (as go-plugin plugins do).
/// SIGTERM ends the plugin. In debug mode Ctrl-C stops the server.
fn spawn_signal_handlers(debug: bool, shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut sigint) = signal(SignalKind::interrupt()) {
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                while sigint.recv().await.is_some() {
                    if debug {
                        shutdown.cancel();
                        break;
                    }
                    tracing::debug!(target: "tfplugin", "ignoring SIGINT: Terraform will call StopProvider");
                }
            });
        }
        if let Ok(mut sigterm) = signal(SignalKind::terminate()) {
            tokio::spawn(async move {
                if sigterm.recv().await.is_some() {
                    shutdown.cancel();
                }
            });
        }
    }
    #[cfg(not(unix))]
    {
        let _ = debug;
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() && debug {
                shutdown.cancel();
            }
        });
    }
}
