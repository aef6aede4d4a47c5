//! A provider network mirror on loopback, over HTTPS (Terraform refuses plain
//! HTTP for network mirrors) with a throwaway CA that terraform trusts through
//! `SSL_CERT_FILE`.
//!
//! It serves a directory in the layout `terraform providers mirror` writes:
//! `<host>/<namespace>/<type>/index.json`, `<version>.json` and the zips
//! beside them, addressed relative to the version document.
//!
//! A small HTTP/1.1 GET server on std threads and rustls rather than hyper:
//! hyper's server features would change the build of reqwest, tonic and the
//! AWS SDK in this crate's dependency graph.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

pub struct Mirror {
    /// `https://127.0.0.1:<port>/`, the `network_mirror` url.
    pub url: String,
    /// The CA certificate (PEM) to point `SSL_CERT_FILE` at.
    pub ca_file: PathBuf,
    root: tempfile::TempDir,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Mirror {
    pub fn start() -> Mirror {
        let root = tempfile::Builder::new()
            .prefix("tfacc-mirror-")
            .tempdir()
            .expect("mirror dir");
        let (config, ca_pem) = tls_config();
        let ca_file = root.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).expect("writing the CA");
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the mirror");
        let port = listener.local_addr().expect("mirror address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let files = root.path().join("files");
        std::fs::create_dir_all(&files).expect("mirror files dir");
        {
            let (stop, requests) = (stop.clone(), requests.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (config, files, requests) = (config.clone(), files.clone(), requests.clone());
                    std::thread::spawn(move || {
                        let _ = serve(stream, config, &files, &requests);
                    });
                }
            });
        }
        Mirror {
            url: format!("https://127.0.0.1:{port}/"),
            ca_file,
            root,
            requests,
            stop,
            port,
        }
    }

    /// Writes a file the mirror serves at `path` (relative, `/`-separated).
    pub fn put(&self, path: &str, bytes: &[u8]) {
        let file = self.root.path().join("files").join(path);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).expect("mirror subdirectory");
        }
        std::fs::write(&file, bytes).expect("writing a mirror file");
    }

    /// Publishes one version of `<host>/<namespace>/<type>` with one archive
    /// per `(platform, zip file name, zip bytes, hashes)`.
    pub fn publish(&self, address: &str, version: &str, archives: &[(&str, &str, &[u8], Vec<String>)]) {
        let mut listed = serde_json::Map::new();
        for (platform, file, bytes, hashes) in archives {
            self.put(&format!("{address}/{file}"), bytes);
            listed.insert(platform.to_string(), json!({ "url": file, "hashes": hashes }));
        }
        self.put(
            &format!("{address}/index.json"),
            json!({ "versions": { version: {} } }).to_string().as_bytes(),
        );
        self.put(
            &format!("{address}/{version}.json"),
            json!({ "archives": listed }).to_string().as_bytes(),
        );
    }

    /// The paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag and ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A CA and a certificate for 127.0.0.1 signed by it; returns the server
/// config and the CA's PEM.
fn tls_config() -> (Arc<rustls::ServerConfig>, String) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "acceptance-tests mirror CA");
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().expect("server key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("server params");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    let chain = vec![cert.der().clone(), ca_cert.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server TLS config");
    (Arc::new(config), ca_cert.pem())
}

/// One request per connection (`Connection: close`): all Terraform needs.
fn serve(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    files: &Path,
    requests: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let connection = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(connection, stream);
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf)?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = path.split('?').next().unwrap_or_default().trim_start_matches('/');
    if let Ok(mut log) = requests.lock() {
        log.push(path.to_string());
    }
    let body = if method == "GET" && !path.split('/').any(|p| p == ".." || p.is_empty()) {
        std::fs::read(files.join(path)).ok()
    } else {
        None
    };
    let (status, content_type, body) = match body {
        Some(body) if path.ends_with(".json") => ("200 OK", "application/json", body),
        Some(body) => ("200 OK", "application/zip", body),
        None => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
    };
    write!(
        tls,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    tls.write_all(&body)?;
    tls.conn.send_close_notify();
    tls.flush()
}
