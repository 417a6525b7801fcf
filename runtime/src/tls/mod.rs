//! Server-side TLS: certificate files loaded and checked, the per-listener
//! server configurations (SNI, versions, ALPN, resumption, mutual TLS per
//! custom domain), and what a verified client certificate says.
//!
//! One crypto provider for the whole binary: ring, as rustls, the upstream
//! client, the JWT fetcher and quinn use.

pub mod certs;
mod client_cert;
mod server;

pub use certs::{CertError, CertificateFiles, LoadedCertificate, ValidityWarning};
pub use client_cert::ClientCert;
pub use server::{
    DomainTlsSettings, ListenerTlsSettings, MtlsSettings, Selected, ServerTls, Sessions, TlsError,
    TlsVersion, WithoutSni,
};

use std::sync::{Arc, OnceLock};

/// The process's crypto provider: ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}
