//! TLS client settings for health checks (`check-ssl`, `verify none|required`, `ca-file`,
//! `check-sni`, `verifyhost`, ssl-hello-chk), on rustls with TLS 1.2 and 1.3 only (never SSLv3,
//! reference §3.6).
//!
//! Name checking follows HAProxy 2.6 (`ssl_sock_srv_verifycbk`): the certificate must carry the
//! SNI the check sent (`check-sni`), else the `verifyhost` name; with neither, `verify required`
//! checks the chain only. Owns the client configuration and reading `ca-file`; it must not open
//! connections itself.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use lbcore::config::proxy::{Server, Verify};
use lbcore::diag::Span;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
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

/// A server's TLS check settings that cannot be used, with where the problem is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSetupError {
    /// The `ca-file` path, or the `server` line.
    pub span: Span,
    /// What is wrong.
    pub message: String,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config(verifier: CheckVerifier) -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .expect("ring provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth()
}

/// Reads the PEM certificates of `path` into a root store; at least one is required.
pub fn load_ca_file(path: &Path) -> Result<RootCertStore, String> {
    let pem = std::fs::read(path).map_err(|e| format!("unable to load {}: {e}", path.display()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("unable to load {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("unable to load {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "unable to load {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(roots)
}

fn dns_name(name: &str, what: &str, span: &Span) -> Result<ServerName<'static>, TlsSetupError> {
    ServerName::try_from(name.to_owned()).map_err(|_| TlsSetupError {
        span: span.clone(),
        message: format!("invalid {what} name '{name}'"),
    })
}

impl TlsCheck {
    /// `check-ssl verify none`: any certificate is accepted (handshake signatures still checked).
    pub fn insecure() -> Self {
        TlsCheck {
            connector: TlsConnector::from(Arc::new(config(CheckVerifier::any()))),
            sni: None,
        }
    }

    /// `check-ssl verify required`: the certificate must chain to `roots`, and carry `sni` when
    /// one is sent, else `verifyhost` when given (else only the chain is checked, as HAProxy).
    pub fn verified(
        roots: RootCertStore,
        sni: Option<ServerName<'static>>,
        verifyhost: Option<ServerName<'static>>,
    ) -> Self {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .ok();
        let verifier = CheckVerifier {
            provider: provider(),
            webpki: Some(inner),
            name: sni.clone().or(verifyhost),
        };
        TlsCheck {
            connector: TlsConnector::from(Arc::new(config(verifier))),
            sni,
        }
    }

    /// The check TLS settings of `server`: `None` without `check-ssl`. Reads `ca-file` (the
    /// whole file, at every call: call it once per server at startup).
    pub fn for_server(server: &Server) -> Result<Option<Self>, TlsSetupError> {
        if !server.check_ssl {
            return Ok(None);
        }
        let sni = match &server.check_sni {
            Some(n) => Some(dns_name(n, "check-sni", &server.span)?),
            None => None,
        };
        if server.verify != Some(Verify::Required) {
            let t = TlsCheck::insecure();
            return Ok(Some(match sni {
                Some(n) => t.with_sni(n),
                None => t,
            }));
        }
        let verifyhost = match &server.verifyhost {
            Some(n) => Some(dns_name(n, "verifyhost", &server.span)?),
            None => None,
        };
        let roots = match &server.ca_file {
            Some(ca) => load_ca_file(&ca.path).map_err(|message| TlsSetupError {
                span: ca.span.clone(),
                message,
            })?,
            // The config parser refuses this; an empty store fails every check.
            None => RootCertStore::empty(),
        };
        Ok(Some(TlsCheck::verified(roots, sni, verifyhost)))
    }

    /// Sets the SNI (and so the verified name).
    pub fn with_sni(mut self, sni: ServerName<'static>) -> Self {
        self.sni = Some(sni);
        self
    }

    pub(crate) fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    /// The SNI, or the target IP address (rustls then sends no SNI).
    pub(crate) fn server_name(&self, target: SocketAddr) -> ServerName<'static> {
        self.sni
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(target.ip().into()))
    }
}

/// The certificate verifier of checks: accept anything (`verify none`), or webpki with
/// HAProxy's name rule.
#[derive(Debug)]
struct CheckVerifier {
    provider: Arc<CryptoProvider>,
    /// `None`: `verify none`. `Some(None)`: no usable root (every certificate is refused).
    webpki: Option<Option<Arc<WebPkiServerVerifier>>>,
    /// The name the certificate must carry; `None`: chain only.
    name: Option<ServerName<'static>>,
}

impl CheckVerifier {
    fn any() -> Self {
        CheckVerifier {
            provider: provider(),
            webpki: None,
            name: None,
        }
    }
}

impl ServerCertVerifier for CheckVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        let Some(webpki) = webpki else {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        };
        match &self.name {
            Some(name) => {
                webpki.verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            }
            None => match webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                // No SNI and no verifyhost: HAProxy verifies the chain only.
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                r => r,
            },
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
