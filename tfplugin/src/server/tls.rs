//! AutoMTLS as go-plugin does it: the plugin presents a fresh self-signed
//! certificate (sent to Terraform in the handshake line) and requires the
//! client to present exactly the certificate Terraform put in
//! `PLUGIN_CLIENT_CERT`. rustls' standard client verifier rejects that
//! certificate (it is a CA used as an end entity), so we pin it ourselves and
//! still check the handshake signatures.
//!
//! Crypto choice, measured: aws-lc seeds its random generator on first use,
//! ~31 ms, and Terraform starts the provider 3-5 times per command, so ring
//! does the handshake. ring has no P-521, the curve of Terraform's client key:
//! that one signature is checked by aws-lc, which needs no randomness to
//! verify (0.7 ms in a fresh process; RustCrypto's `p521` took 2.5 ms).

use std::sync::{Arc, OnceLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, SignatureVerificationAlgorithm, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, ServerConfig, SignatureScheme};

/// The server side of AutoMTLS: the TLS config and the certificate (DER) to
/// announce in the handshake line.
pub struct AutoMtls {
    pub config: Arc<ServerConfig>,
    pub server_cert_der: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("PLUGIN_CLIENT_CERT does not hold a PEM certificate: {0}")]
    ClientCert(String),
    #[error("could not generate the server certificate: {0}")]
    Generate(String),
    #[error("could not build the TLS configuration: {0}")]
    Rustls(#[from] Error),
}

/// Builds the TLS server config pinned to Terraform's client certificate.
pub fn auto_mtls(client_cert_pem: &str) -> Result<AutoMtls, TlsSetupError> {
    let client_cert = CertificateDer::from_pem_slice(client_cert_pem.as_bytes())
        .map_err(|e| TlsSetupError::ClientCert(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (cert_der, key_der) = generate_server_cert()?;
    let verifier = Arc::new(PinnedClientCert {
        expected: client_cert.into_owned(),
        algorithms: algorithms(&provider),
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![CertificateDer::from(cert_der.clone())], key_der)?;
    // go-plugin's client negotiates HTTP/2 through ALPN.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(AutoMtls {
        config: Arc::new(config),
        server_cert_der: cert_der,
    })
}

/// ring's verification algorithms plus aws-lc's ECDSA P-521 with SHA-512.
fn algorithms(provider: &CryptoProvider) -> WebPkiSupportedAlgorithms {
    static EXTENDED: OnceLock<WebPkiSupportedAlgorithms> = OnceLock::new();
    *EXTENDED.get_or_init(|| {
        let p521: &'static [&'static dyn SignatureVerificationAlgorithm] =
            rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms
                .mapping
                .iter()
                .find(|(scheme, _)| *scheme == SignatureScheme::ECDSA_NISTP521_SHA512)
                .map_or(&[], |(_, algs)| *algs);
        let base = provider.signature_verification_algorithms;
        let mut all: Vec<&'static dyn SignatureVerificationAlgorithm> = base.all.to_vec();
        all.extend_from_slice(p521);
        let mut mapping = base.mapping.to_vec();
        mapping.push((SignatureScheme::ECDSA_NISTP521_SHA512, p521));
        WebPkiSupportedAlgorithms {
            all: Vec::leak(all),
            mapping: Vec::leak(mapping),
        }
    })
}

/// A fresh ECDSA P-256 key held by ring, signing the certificate for rcgen.
struct RingKey {
    pair: ring::signature::EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
}

impl rcgen::PublicKeyData for RingKey {
    fn der_bytes(&self) -> &[u8] {
        use ring::signature::KeyPair;
        self.pair.public_key().as_ref()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for RingKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.pair
            .sign(&self.rng, msg)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// A self-signed certificate shaped like go-plugin's: CA, server and client
/// auth, valid for `localhost` (the name go-plugin's client verifies).
fn generate_server_cert() -> Result<(Vec<u8>, PrivateKeyDer<'static>), TlsSetupError> {
    let gen_err = |e: &dyn std::fmt::Display| TlsSetupError::Generate(e.to_string());
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|e| gen_err(&e))?;
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|e| gen_err(&e))?;
    let mut serial = [0u8; 16];
    ring::rand::SecureRandom::fill(&rng, &mut serial).map_err(|e| gen_err(&e))?;
    serial[0] &= 0x7f; // a positive DER integer
    let key = RingKey { pair, rng };

    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).map_err(|e| gen_err(&e))?;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "HashiCorp");
    params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(30)).into();
    params.not_after = (now + std::time::Duration::from_secs(262_980 * 3600)).into();
    let cert = params.self_signed(&key).map_err(|e| gen_err(&e))?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.as_ref().to_vec()));
    Ok((cert.der().to_vec(), key_der))
}

#[derive(Debug)]
struct PinnedClientCert {
    expected: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            // Sent to the peer as an access_denied alert.
            Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p521::ecdsa::signature::Signer;

    fn fixed_key() -> p521::ecdsa::SigningKey {
        let mut scalar = [0x11u8; 66];
        scalar[0] = 0x00; // below the group order
        p521::ecdsa::SigningKey::from_slice(&scalar).expect("a valid P-521 scalar")
    }

    #[test]
    fn p521_signatures_verify_and_tampering_is_caught() {
        let key = fixed_key();
        let public = p521::ecdsa::VerifyingKey::from(&key).to_encoded_point(false);
        let signature: p521::ecdsa::Signature = key.sign(b"client certificate verify");
        let der = signature.to_der();
        let provider = rustls::crypto::ring::default_provider();
        let alg = algorithms(&provider)
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == SignatureScheme::ECDSA_NISTP521_SHA512)
            .map(|(_, algs)| algs[0])
            .expect("a P-521 verifier");
        assert!(
            alg.verify_signature(public.as_bytes(), b"client certificate verify", der.as_bytes())
                .is_ok()
        );
        assert!(
            alg.verify_signature(public.as_bytes(), b"something else", der.as_bytes())
                .is_err()
        );
        assert!(
            alg.verify_signature(public.as_bytes(), b"client certificate verify", b"junk")
                .is_err()
        );
    }

    #[test]
    fn the_server_offers_p521_client_signatures() {
        let provider = rustls::crypto::ring::default_provider();
        let schemes = algorithms(&provider).supported_schemes();
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP521_SHA512), "{schemes:?}");
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256), "{schemes:?}");
    }
}
