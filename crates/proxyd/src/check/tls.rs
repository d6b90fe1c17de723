//! TLS client settings for health checks (`check-ssl`, `verify none|required`, ssl-hello-chk),
//! on rustls with TLS 1.2 and 1.3 only (never SSLv3, reference §3.6).
//!
//! Owns the client configuration; it must not open connections itself.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

/// TLS settings of a check.
#[derive(Clone)]
pub struct TlsCheck {
    connector: TlsConnector,
    sni: Option<ServerName<'static>>,
}

impl std::fmt::Debug for TlsCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCheck")
            .field("sni", &self.sni)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .expect("ring provider supports TLS 1.2 and 1.3")
}

impl TlsCheck {
    /// `check-ssl verify none`: any certificate is accepted (handshake signatures still checked).
    pub fn insecure() -> Self {
        let config = builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider())))
            .with_no_client_auth();
        TlsCheck {
            connector: TlsConnector::from(Arc::new(config)),
            sni: None,
        }
    }

    /// `check-ssl verify required`: the certificate must chain to `roots` and name `sni` (or the
    /// target IP address when `sni` is `None`).
    pub fn verified(roots: RootCertStore, sni: Option<ServerName<'static>>) -> Self {
        let config = builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsCheck {
            connector: TlsConnector::from(Arc::new(config)),
            sni,
        }
    }

    /// Sets the SNI / verified name.
    pub fn with_sni(mut self, sni: ServerName<'static>) -> Self {
        self.sni = Some(sni);
        self
    }

    pub(crate) fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    pub(crate) fn server_name(&self, target: SocketAddr) -> ServerName<'static> {
        self.sni
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(target.ip().into()))
    }
}

/// `verify none`: trusts every certificate, as HAProxy's `check-ssl verify none`.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
