//! A TLS listener's server side: certificates chosen by SNI (exact names,
//! then one-label wildcards, then the default), TLS 1.2 and 1.3 with ring's
//! modern cipher suites, ALPN, session resumption (a session cache and
//! tickets with rotating keys), and a configuration of its own for each
//! custom domain that verifies client certificates (mutual TLS).
//!
//! [`ServerTls`] is built from files whenever the gateway's snapshot is
//! rebuilt (a reload, or a certificate file that changed): new handshakes
//! use the new one, open connections keep theirs. The session caches and
//! ticket keys live in [`Sessions`], outside, so that a rebuild does not
//! end resumption.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::crypto::CryptoProvider;
use rustls::server::{
    ClientHello, ProducesTickets, ResolvesServerCert, ServerSessionMemoryCache,
    StoresServerSessions, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use super::certs::{self, CertError, CertificateFiles, ValidityWarning, covers};

/// The lowest TLS version a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    V1_2,
    /// TLS 1.3 only.
    V1_3,
}

/// What a handshake without SNI gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithoutSni {
    /// The default (first) certificate.
    Default,
    /// A failed handshake.
    Refuse,
}

/// A listener's `tls` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerTlsSettings {
    /// Certificates; the first is the default.
    pub certificates: Vec<CertificateFiles>,
    /// The lowest version accepted.
    pub min_version: TlsVersion,
    /// Handshakes without SNI.
    pub without_sni: WithoutSni,
    /// ALPN protocols offered, in preference order.
    pub alpn: Vec<Vec<u8>>,
    /// Sessions kept for resumption by id (0: none).
    pub session_cache: usize,
    /// Whether resumption tickets are issued.
    pub session_tickets: bool,
}

/// A custom domain's TLS side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainTlsSettings {
    /// `api.example.com`, or `*.example.com`.
    pub name: String,
    /// Its own certificate, if it brings one.
    pub certificate: Option<CertificateFiles>,
    /// Client certificate verification.
    pub mtls: Option<MtlsSettings>,
}

/// Mutual TLS for a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtlsSettings {
    /// PEM bundle of the certificate authorities client certificates must
    /// chain to.
    pub truststore: PathBuf,
    /// PEM certificate revocation lists.
    pub crls: Vec<PathBuf>,
    /// Refuse clients without a certificate (else they may go without;
    /// a certificate they do send must still verify).
    pub required: bool,
}

/// The session caches and ticket keys of one listener, kept across
/// rebuilds so that resumption survives reloads.
#[derive(Default)]
pub struct Sessions {
    by_config: Mutex<HashMap<String, SessionState>>,
}

#[derive(Clone)]
struct SessionState {
    cache: Arc<dyn StoresServerSessions>,
    tickets: Arc<dyn ProducesTickets>,
    cache_size: usize,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    /// The cache and ticket keys of configuration `key` (the listener's own,
    /// or a domain with mutual TLS: resumption never crosses them).
    fn get(&self, key: &str, cache_size: usize) -> Result<SessionState, rustls::Error> {
        let mut map = self.by_config.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = map.get(key)
            && state.cache_size == cache_size
        {
            return Ok(state.clone());
        }
        let state = SessionState {
            cache: if cache_size == 0 {
                Arc::new(rustls::server::NoServerSessionStorage {})
            } else {
                ServerSessionMemoryCache::new(cache_size)
            },
            // Rotating keys: a new one every six hours, the previous still
            // accepted for the next six.
            tickets: rustls::crypto::ring::Ticketer::new()?,
            cache_size,
        };
        map.insert(key.to_owned(), state.clone());
        Ok(state)
    }
}

/// Why a listener's TLS could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key, truststore or CRL file.
    #[error("{0}")]
    Certificate(#[from] CertError),
    /// rustls refused the settings.
    #[error("{0}")]
    Rustls(String),
}

/// A TLS listener's server side, built from files.
#[derive(Debug)]
pub struct ServerTls {
    general: Arc<ServerConfig>,
    /// For HTTP/3 over QUIC: TLS 1.3 only, ALPN `h3`, the same
    /// certificates; no client certificates (a domain that requires one is
    /// refused over HTTP/3 by the request path).
    http3: Arc<ServerConfig>,
    /// By domain index: the configuration of a domain with mutual TLS.
    mtls: Vec<Option<Arc<ServerConfig>>>,
    /// Domain names (exact or wildcard), by domain index.
    domains: Vec<String>,
    without_sni: WithoutSni,
}

/// What a handshake's ClientHello selected.
pub struct Selected {
    /// The configuration to complete the handshake with.
    pub config: Arc<ServerConfig>,
    /// The custom domain the SNI names, if any (index in the domains given
    /// to [`ServerTls::build`]).
    pub domain: Option<usize>,
}

impl ServerTls {
    /// Loads every certificate of `settings` and `domains` and builds the
    /// configurations. `sessions` are the listener's, kept across builds.
    /// Returns warnings for certificates outside their validity period.
    pub fn build(
        listener: &str,
        settings: &ListenerTlsSettings,
        domains: &[DomainTlsSettings],
        sessions: &Sessions,
        provider: &Arc<CryptoProvider>,
    ) -> Result<(ServerTls, Vec<ValidityWarning>), TlsError> {
        let mut warnings = Vec::new();
        let mut resolver = SniResolver::default();
        for files in &settings.certificates {
            let (loaded, warning) = certs::load(files, provider)?;
            warnings.extend(warning);
            resolver.add(&loaded.names, &loaded.key);
        }
        for domain in domains {
            if let Some(files) = &domain.certificate {
                let (loaded, warning) = certs::load(files, provider)?;
                warnings.extend(warning);
                // Its own name first: a domain's certificate answers for it
                // even when the certificate lists other names.
                resolver.add(std::slice::from_ref(&domain.name), &loaded.key);
                resolver.add(&loaded.names, &loaded.key);
            }
        }
        let resolver = Arc::new(resolver);
        let rustls = |e: rustls::Error| TlsError::Rustls(e.to_string());
        let versions: &[&rustls::SupportedProtocolVersion] = match settings.min_version {
            TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::V1_3 => &[&rustls::version::TLS13],
        };
        let finish =
            |builder: rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>,
             key: &str|
             -> Result<Arc<ServerConfig>, TlsError> {
                let mut config = builder.with_cert_resolver(resolver.clone());
                config.alpn_protocols = settings.alpn.clone();
                // The provider's suite order (SHA-256 first), not the
                // client's: see `crate::tls::provider`.
                config.ignore_client_order = true;
                let state = sessions.get(key, settings.session_cache).map_err(rustls)?;
                config.session_storage = state.cache;
                if settings.session_tickets {
                    config.ticketer = state.tickets;
                }
                // 0-RTT stays off: early data can be replayed.
                config.max_early_data_size = 0;
                Ok(Arc::new(config))
            };
        let builder = || {
            ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(versions)
                .map_err(rustls)
        };
        let general = finish(builder()?.with_no_client_auth(), listener)?;
        let http3 = {
            let resolver: Arc<dyn ResolvesServerCert> = match settings.without_sni {
                WithoutSni::Default => resolver.clone(),
                WithoutSni::Refuse => Arc::new(RefuseWithoutSni(resolver.clone())),
            };
            let mut config = ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .map_err(rustls)?
                .with_no_client_auth()
                .with_cert_resolver(resolver);
            config.alpn_protocols = vec![b"h3".to_vec()];
            config.ignore_client_order = true;
            let state = sessions
                .get(listener, settings.session_cache)
                .map_err(rustls)?;
            config.session_storage = state.cache;
            if settings.session_tickets {
                config.ticketer = state.tickets;
            }
            // No 0-RTT: early data can be replayed.
            config.max_early_data_size = 0;
            Arc::new(config)
        };
        let mut mtls = Vec::with_capacity(domains.len());
        for domain in domains {
            let Some(settings) = &domain.mtls else {
                mtls.push(None);
                continue;
            };
            let mut roots = RootCertStore::empty();
            for ca in certs::read_chain(&settings.truststore)? {
                roots.add(ca).map_err(|e| {
                    TlsError::Certificate(CertError::Invalid {
                        path: settings.truststore.clone(),
                        why: format!("not a usable CA certificate ({e})"),
                    })
                })?;
            }
            let mut crls = Vec::new();
            for path in &settings.crls {
                crls.extend(certs::read_crls(path)?);
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .with_crls(crls);
            if !settings.required {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Rustls(format!("{}: {e}", domain.name)))?;
            let key = format!("{listener}/{}", domain.name);
            mtls.push(Some(finish(
                builder()?.with_client_cert_verifier(verifier),
                &key,
            )?));
        }
        Ok((
            ServerTls {
                general,
                http3,
                mtls,
                domains: domains.iter().map(|d| d.name.clone()).collect(),
                without_sni: settings.without_sni,
            },
            warnings,
        ))
    }

    /// The TLS configuration of HTTP/3 connections.
    pub fn http3(&self) -> Arc<ServerConfig> {
        self.http3.clone()
    }

    /// The custom domain (index) a server name selects, if any.
    pub fn domain_of(&self, name: &str) -> Option<usize> {
        let name = name.to_ascii_lowercase();
        self.domains
            .iter()
            .position(|d| *d == name)
            .or_else(|| self.domains.iter().position(|d| covers(d, &name)))
    }

    /// The configuration for a ClientHello; `None` refuses the handshake.
    pub fn select(&self, hello: &ClientHello<'_>) -> Option<Selected> {
        let Some(name) = hello.server_name() else {
            return match self.without_sni {
                WithoutSni::Default => Some(Selected {
                    config: self.general.clone(),
                    domain: None,
                }),
                WithoutSni::Refuse => None,
            };
        };
        let domain = self.domain_of(name);
        let config = domain
            .and_then(|d| self.mtls[d].clone())
            .unwrap_or_else(|| self.general.clone());
        Some(Selected { config, domain })
    }
}

/// A resolver that answers only ClientHellos naming a server (the
/// listener's `without_sni = "refuse"` for HTTP/3, whose handshake cannot
/// be looked at before it starts).
#[derive(Debug)]
struct RefuseWithoutSni(Arc<SniResolver>);

impl ResolvesServerCert for RefuseWithoutSni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello.server_name()?;
        self.0.resolve(hello)
    }
}

/// Certificates by the names they cover.
#[derive(Debug, Default)]
struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` stored as `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl SniResolver {
    /// Registers `key` for `names`; the first certificate added is the
    /// default, and a name keeps the first certificate that claimed it.
    fn add(&mut self, names: &[String], key: &Arc<CertifiedKey>) {
        if self.default.is_none() {
            self.default = Some(key.clone());
        }
        for name in names {
            let name = name.to_ascii_lowercase();
            match name.strip_prefix("*.") {
                Some(suffix) => {
                    self.wildcard
                        .entry(suffix.to_owned())
                        .or_insert_with(|| key.clone());
                }
                None => {
                    self.exact.entry(name).or_insert_with(|| key.clone());
                }
            }
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return self.default.clone();
        };
        let name = name.to_ascii_lowercase();
        if let Some(key) = self.exact.get(&name) {
            return Some(key.clone());
        }
        let wildcard = name
            .split_once('.')
            .and_then(|(_, suffix)| self.wildcard.get(suffix));
        wildcard.or(self.default.as_ref()).cloned()
    }
}
