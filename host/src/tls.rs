//! TLS for the SciCat client with the system's root certificates read on
//! the first handshake instead of when the client is built: reading and
//! parsing the few hundred files of `/etc/ssl/certs` was a large share of a
//! process's CPU, and a run against an `http://` host or a dry run that asks
//! SciCat nothing never needs them. Verification is unchanged: the platform
//! verifier, built once when first needed.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, Error, SignatureScheme};

/// A client config that verifies servers with the platform verifier, built
/// on first use. HTTP/1.1 only, as the client speaks.
pub fn lazy_roots_config() -> Result<ClientConfig, Error> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(LazyVerifier {
            provider,
            inner: OnceLock::new(),
        }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[derive(Debug)]
struct LazyVerifier {
    provider: Arc<CryptoProvider>,
    inner: OnceLock<Result<rustls_platform_verifier::Verifier, Error>>,
}

impl LazyVerifier {
    fn inner(&self) -> Result<&rustls_platform_verifier::Verifier, Error> {
        self.inner
            .get_or_init(|| rustls_platform_verifier::Verifier::new(self.provider.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.inner()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner()?.verify_tls13_signature(message, cert, dss)
    }

    // Asked for every ClientHello, also of a handshake that is never made
    // to verify: answered from the crypto provider, which is what the
    // platform verifier answers too, without loading any root.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roots_are_not_read_until_a_handshake_needs_them() {
        let config = lazy_roots_config().unwrap();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
        let v = LazyVerifier {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            inner: OnceLock::new(),
        };
        assert!(!v.supported_verify_schemes().is_empty());
        assert!(v.inner.get().is_none());
        // A certificate that is not one fails verification (the roots are
        // read for it), as with the platform verifier itself.
        let r = v.verify_server_cert(
            &CertificateDer::from(vec![1, 2, 3]),
            &[],
            &ServerName::try_from("scicat.example.org").unwrap(),
            &[],
            UnixTime::now(),
        );
        assert!(r.is_err());
        assert!(v.inner.get().is_some());
    }
}
