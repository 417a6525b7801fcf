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

/// The process's crypto provider: ring, with its cipher suites ordered so
/// that SHA-256 suites come first. ring's SHA-256 uses the CPU's SHA
/// extensions where they exist; its SHA-384 (of the AES-256 suites) does
/// not, and was 12 % of a TLS 1.3 handshake's time here. Servers follow
/// this order rather than the client's (see `ignore_client_order`).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let mut provider = rustls::crypto::ring::default_provider();
            provider
                .cipher_suites
                .sort_by_key(|suite| match suite.suite() {
                    rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
                    rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => 1,
                    rustls::CipherSuite::TLS13_AES_256_GCM_SHA384 => 2,
                    rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                    | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 3,
                    _ => 4,
                });
            Arc::new(provider)
        })
        .clone()
}
