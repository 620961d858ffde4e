//! TLS server configuration from PEM files.

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;

/// A TLS server configuration from a PEM certificate chain and a PEM
/// private key (PKCS#8, PKCS#1 or SEC1), without client authentication.
pub fn tls_config_from_pem(cert: &Path, key: &Path) -> io::Result<Arc<ServerConfig>> {
    let bad = |what: &str, p: &Path, e: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} {}: {e}", p.display()),
        )
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("cannot read certificate", cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("bad certificate in", cert, &e))?;
    if chain.is_empty() {
        return Err(bad("no certificate in", cert, &"empty"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("cannot read key", key, &e))?;
    tls_config(chain, key)
}

/// A TLS server configuration from DER values.
pub fn tls_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(Arc::new(config))
}
