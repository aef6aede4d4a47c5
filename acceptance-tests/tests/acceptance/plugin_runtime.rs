//! The plugin runtime as Terraform and strangers see it: the handshake, the
//! cookie check, AutoMTLS, debug mode and the schema.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use acceptance_tests::{Workspace, provider_bin, wait_until};
use base64::Engine;

const COOKIE: (&str, &str) = (
    "TF_PLUGIN_MAGIC_COOKIE",
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
);

#[test]
fn binary_run_by_hand_explains_and_exits_1() {
    let out = Command::new(provider_bin())
        .env_remove(COOKIE.0)
        .output()
        .expect("run provider");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "nothing may go to stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("plugin for Terraform") && stderr.contains("not meant to be run directly"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line of explanation: {stderr}");
}

#[test]
fn protocol_version_5_only_is_refused_clearly() {
    let out = Command::new(provider_bin())
        .env(COOKIE.0, COOKIE.1)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5")
        .output()
        .expect("run provider");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("version 6"), "{stderr}");
}

#[test]
fn schema_json_shows_the_data_source_with_external_id_sensitive() {
    let ws = Workspace::bare("schema");
    ws.config("");
    let run = ws.run(&["providers", "schema", "-json"]);
    run.expect_ok();
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).expect("schema json");
    let provider = &schema["provider_schemas"][acceptance_tests::SOURCE_ADDRESS];
    let ds = &provider["data_source_schemas"]["vantage_aws_provider_info"]["block"]["attributes"];
    assert_eq!(ds["external_id"]["sensitive"], true, "{ds}");
    assert_eq!(ds["external_id"]["computed"], true);
    for name in [
        "iam_role_arn",
        "root_policy",
        "autopilot_policy",
        "cloudwatch_metrics_policy",
        "additional_resources_policy",
        "iam_role_id",
        "vantage_id",
        "s3_request_metrics_policy",
    ] {
        assert_eq!(ds[name]["type"], "string", "{name}");
    }
    assert_eq!(
        provider["provider"]["block"]["attributes"]["api_token"]["sensitive"],
        true
    );
}

/// Starts the provider the way Terraform does (cookie, protocol 6, client cert)
/// and returns it with its handshake line.
fn start_with_client_cert(client_cert_pem: &str) -> (std::process::Child, String) {
    let mut child = Command::new(provider_bin())
        .env(COOKIE.0, COOKIE.1)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env("PLUGIN_CLIENT_CERT", client_cert_pem)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start provider");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("handshake line");
    (child, line.trim().to_string())
}

/// A certificate shaped like Terraform's: self-signed CA, P-521, client+server auth.
fn terraform_like_cert() -> (String, rustls::pki_types::PrivateKeyDer<'static>, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = params.self_signed(&key).expect("cert");
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    (cert.pem(), key_der, cert.der().to_vec())
}

/// Trusts exactly the server certificate announced in the handshake line.
#[derive(Debug)]
struct PinnedServer(Vec<u8>, rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::client::danger::ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0.as_slice() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("unexpected server certificate".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.1)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.1)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.1.supported_schemes()
    }
}

fn client_config(
    server_der: Vec<u8>,
    client: Option<(String, rustls::pki_types::PrivateKeyDer<'static>)>,
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer(
            server_der,
            provider.signature_verification_algorithms,
        )));
    let mut config = match client {
        Some((pem, key)) => {
            use rustls::pki_types::pem::PemObject;
            let cert = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).expect("pem");
            builder.with_client_auth_cert(vec![cert], key).expect("client auth")
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

fn parse_handshake(line: &str) -> (String, Vec<u8>) {
    let parts: Vec<&str> = line.split('|').collect();
    assert_eq!(parts.len(), 6, "handshake line {line:?}");
    assert_eq!(&parts[..3], ["1", "6", "unix"], "{line}");
    assert_eq!(parts[4], "grpc");
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(parts[5])
        .expect("base64 cert without padding");
    (parts[3].to_string(), der)
}

/// A gRPC channel to the plugin's unix socket over TLS, the way go-plugin connects.
async fn tls_channel(
    socket: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let socket = socket.to_string();
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_uri| {
            let socket = socket.clone();
            let config = config.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(&socket).await?;
                let name = rustls::pki_types::ServerName::try_from("localhost").map_err(std::io::Error::other)?;
                let tls = tokio_rustls::TlsConnector::from(config).connect(name, stream).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
}

/// Connects over the unix socket with TLS and makes one gRPC call.
async fn get_schema_over_tls(socket: &str, config: Arc<rustls::ClientConfig>) -> Result<bool, String> {
    use tfplugin::proto::tfplugin6::provider_client::ProviderClient;
    let channel = tls_channel(socket, config).await.map_err(|e| format!("{e:?}"))?;
    let mut client = ProviderClient::new(channel);
    let schema = client
        .get_provider_schema(tfplugin::proto::tfplugin6::get_provider_schema::Request {})
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(schema
        .into_inner()
        .data_source_schemas
        .contains_key("vantage_aws_provider_info"))
}

#[tokio::test]
async fn tls_requires_terraforms_client_certificate() {
    let (cert_pem, key, _der) = terraform_like_cert();
    let (mut child, line) = start_with_client_cert(&cert_pem);
    let (socket, server_der) = parse_handshake(&line);

    // Terraform's own certificate is accepted and the provider answers.
    let ok = get_schema_over_tls(
        &socket,
        client_config(server_der.clone(), Some((cert_pem.clone(), key))),
    )
    .await;
    assert_eq!(ok, Ok(true), "a client with the pinned certificate is served");

    // No certificate: refused.
    let none = get_schema_over_tls(&socket, client_config(server_der.clone(), None)).await;
    assert!(none.is_err(), "a client without a certificate must be refused");

    // Another certificate, even one shaped exactly like Terraform's: refused.
    let (other_pem, other_key, _) = terraform_like_cert();
    let other = get_schema_over_tls(&socket, client_config(server_der, Some((other_pem, other_key)))).await;
    assert!(other.is_err(), "a client with another certificate must be refused");

    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn shutdown_exits_cleanly_and_removes_the_socket() {
    let (cert_pem, key, _der) = terraform_like_cert();
    let (mut child, line) = start_with_client_cert(&cert_pem);
    let (socket, server_der) = parse_handshake(&line);
    assert!(std::path::Path::new(&socket).exists());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        use tfplugin::proto::plugin::grpc_controller_client::GrpcControllerClient;
        let config = client_config(server_der, Some((cert_pem, key)));
        let channel = tls_channel(&socket, config).await.expect("connect");
        GrpcControllerClient::new(channel)
            .shutdown(tfplugin::proto::plugin::Empty {})
            .await
            .expect("shutdown rpc");
    });
    let exited = wait_until(Duration::from_secs(10), || matches!(child.try_wait(), Ok(Some(_))));
    assert!(exited, "the provider exits after Shutdown");
    assert_eq!(child.wait().ok().and_then(|s| s.code()), Some(0));
    assert!(!std::path::Path::new(&socket).exists(), "the socket is removed");
}

#[test]
fn debug_mode_prints_a_reattach_value_terraform_can_use() {
    let mut child = Command::new(provider_bin())
        .arg("--debug")
        .env_remove(COOKIE.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start provider in debug mode");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut reattach = None;
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap_or(0) > 0 {
        if let Some(rest) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            reattach = Some(rest.trim_end_matches('\'').to_string());
            break;
        }
        line.clear();
    }
    let reattach = reattach.expect("a TF_REATTACH_PROVIDERS line");
    let value: serde_json::Value = serde_json::from_str(&reattach).expect("reattach JSON");
    let entry = &value[acceptance_tests::SOURCE_ADDRESS];
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Addr"]["Network"], "unix");

    // Terraform attaches to the running provider instead of starting one.
    let mut ws = Workspace::bare("debug");
    ws.env("TF_REATTACH_PROVIDERS", &reattach);
    ws.config(
        r#"provider "vantage" {
  api_token = "not-used-here"
}
output "ok" { value = "attached" }"#,
    );
    let mut cmd = ws.command(&["plan", "-no-color"]);
    cmd.env("TF_REATTACH_PROVIDERS", &reattach);
    let out = cmd.output().expect("terraform plan");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("attached"), "{text}");

    // Ctrl-C stops a debug-mode provider.
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let exited = wait_until(Duration::from_secs(10), || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
    }
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    assert!(exited, "a debug-mode provider stops on SIGINT");
}

#[test]
fn plaintext_over_tcp_is_refused() {
    let out = Command::new(provider_bin())
        .env(COOKIE.0, COOKIE.1)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env("TF_PLUGIN_TRANSPORT", "tcp")
        .env_remove("PLUGIN_CLIENT_CERT")
        .output()
        .expect("run provider");
    assert_eq!(out.status.code(), Some(1), "it exits instead of serving");
    assert!(
        out.stdout.is_empty(),
        "no handshake line: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("plaintext over TCP") && stderr.contains("PLUGIN_CLIENT_CERT"),
        "{stderr}"
    );
}

#[test]
fn a_client_that_never_finishes_the_tls_handshake_is_dropped() {
    let (cert_pem, key, _der) = terraform_like_cert();
    let (mut child, line) = start_with_client_cert(&cert_pem);
    let (socket, server_der) = parse_handshake(&line);
    let mut stalled = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let read = stalled.read(&mut buf);
    assert!(
        matches!(read, Ok(0)),
        "the provider closes a connection that sends nothing: {read:?} after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(25), "{:?}", started.elapsed());
    // Terraform itself is still served afterwards.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let ok = rt.block_on(get_schema_over_tls(
        &socket,
        client_config(server_der, Some((cert_pem, key))),
    ));
    assert_eq!(ok, Ok(true));
    let _ = child.kill();
    let _ = child.wait();
}
