//! `[listeners.tls]` and `[[domains]]`: certificates (loaded and checked
//! now, so that a bad file is named with its key and line), versions, ALPN,
//! mutual TLS, and base path mappings.

use std::ops::Range;
use std::path::PathBuf;

use serde_spanned::Spanned;

use super::Validator;
use crate::config::model::*;
use crate::config::raw::{self, RawCertificate};
use crate::tls::{
    CertificateFiles, DomainTlsSettings, ListenerTlsSettings, MtlsSettings, TlsVersion, WithoutSni,
    certs,
};

impl Validator {
    /// A listener's `tls` table.
    pub(super) fn listener_tls(&mut self, raw: &Spanned<raw::RawTls>, key: &str) -> ListenerTls {
        let tls = raw.get_ref();
        let certificates = tls
            .certificates
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.certificate(c, &format!("{key}.certificates[{i}]")))
            .collect();
        let min_version = match tls.min_version.as_ref().map(|v| (v, v.get_ref().as_str())) {
            None | Some((_, "1.2")) => TlsVersion::V1_2,
            Some((_, "1.3")) => TlsVersion::V1_3,
            Some((v, other)) => {
                self.problem(
                    v.span(),
                    format!("{key}.min_version"),
                    format!("`{other}` is not a TLS version Turnpike speaks: \"1.2\" or \"1.3\""),
                );
                TlsVersion::V1_2
            }
        };
        let without_sni = match tls.without_sni.as_ref().map(|v| (v, v.get_ref().as_str())) {
            None | Some((_, "default")) => WithoutSni::Default,
            Some((_, "refuse")) => WithoutSni::Refuse,
            Some((v, other)) => {
                self.problem(
                    v.span(),
                    format!("{key}.without_sni"),
                    format!("`{other}` is not \"default\" (the first certificate) or \"refuse\""),
                );
                WithoutSni::Default
            }
        };
        let alpn = match &tls.alpn {
            None => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Some(list) => {
                let mut out = Vec::new();
                for (i, protocol) in list.get_ref().iter().enumerate() {
                    match protocol.get_ref().as_str() {
                        p @ ("h2" | "http/1.1") => out.push(p.as_bytes().to_vec()),
                        other => self.problem(
                            protocol.span(),
                            format!("{key}.alpn[{i}]"),
                            format!("`{other}` is not \"h2\" or \"http/1.1\""),
                        ),
                    }
                }
                if list.get_ref().is_empty() {
                    self.problem(
                        list.span(),
                        format!("{key}.alpn"),
                        "list \"h2\", \"http/1.1\" or both",
                    );
                }
                out
            }
        };
        let session_cache = match &tls.session_cache {
            None => DEFAULT_TLS_SESSION_CACHE,
            Some(n) => match usize::try_from(*n.get_ref()) {
                Ok(n) if n <= 1_000_000 => n,
                _ => {
                    self.problem(
                        n.span(),
                        format!("{key}.session_cache"),
                        format!(
                            "{} is not a number of sessions from 0 to 1000000",
                            n.get_ref()
                        ),
                    );
                    DEFAULT_TLS_SESSION_CACHE
                }
            },
        };
        ListenerTls {
            settings: ListenerTlsSettings {
                certificates,
                min_version,
                without_sni,
                alpn,
                session_cache,
                session_tickets: tls.session_tickets.as_ref().is_none_or(|t| *t.get_ref()),
            },
            http3: tls.http3.as_ref().is_some_and(|h| *h.get_ref()),
        }
    }

    /// A certificate and its key: both readable, the key the certificate's;
    /// a certificate outside its validity period is a warning.
    pub(super) fn certificate(
        &mut self,
        raw: &Spanned<RawCertificate>,
        key: &str,
    ) -> Option<CertificateFiles> {
        let files = CertificateFiles {
            cert: self.base_dir.join(raw.get_ref().cert.get_ref()),
            key: self.base_dir.join(raw.get_ref().key.get_ref()),
        };
        match certs::load(&files, &crate::tls::provider()) {
            Ok((_, warning)) => {
                if let Some(warning) = warning {
                    self.warning(raw.get_ref().cert.span(), format!("{key}.cert"), warning.0);
                }
                Some(files)
            }
            Err(error) => {
                let at = match &error {
                    certs::CertError::Read { path, .. }
                    | certs::CertError::Invalid { path, .. }
                        if *path == files.key =>
                    {
                        (raw.get_ref().key.span(), format!("{key}.key"))
                    }
                    certs::CertError::KeyMismatch { .. } => {
                        (raw.get_ref().key.span(), format!("{key}.key"))
                    }
                    _ => (raw.get_ref().cert.span(), format!("{key}.cert")),
                };
                self.problem(at.0, at.1, error.to_string());
                None
            }
        }
    }

    /// `[[domains]]`.
    pub(super) fn domains(
        &mut self,
        raw: Vec<Spanned<raw::RawDomain>>,
        listeners: &[ListenerConfig],
        apis: &[ApiConfig],
    ) -> Vec<DomainConfig> {
        let mut out: Vec<DomainConfig> = Vec::new();
        for (i, domain) in raw.iter().enumerate() {
            let span = domain.span();
            let domain = domain.get_ref();
            let key = format!("domains[{i}]");
            let name = domain.name.get_ref().trim().to_ascii_lowercase();
            if !is_domain_name(&name) {
                self.problem(
                    domain.name.span(),
                    format!("{key}.name"),
                    format!(
                        "`{}` is not a domain name: e.g. \"api.example.com\" or \"*.example.com\" (no scheme, port or path)",
                        domain.name.get_ref()
                    ),
                );
            } else if out.iter().any(|d| d.tls.name == name) {
                self.problem(
                    domain.name.span(),
                    format!("{key}.name"),
                    format!("domain `{name}` is defined twice"),
                );
            }
            let served_on = self.listener_refs(domain.listeners.as_deref(), listeners, &key);
            let certificate = domain
                .certificate
                .as_ref()
                .and_then(|c| self.certificate(c, &format!("{key}.certificate")));
            let mtls = domain.mtls.as_ref().and_then(|m| {
                let plain: Vec<&str> = served_on
                    .iter()
                    .filter(|&&l| {
                        listeners[l].tls.is_none() && listeners[l].redirect_https.is_none()
                    })
                    .map(|&l| listeners[l].name.as_str())
                    .collect();
                if !plain.is_empty() && domain.listeners.is_some() {
                    self.problem(
                        m.span(),
                        format!("{key}.mtls"),
                        format!(
                            "mutual TLS needs TLS listeners; `{}` has no `tls`",
                            plain.join("`, `")
                        ),
                    );
                }
                self.mtls(m, &format!("{key}.mtls"))
            });
            let mappings = self.mappings(domain, &key, apis);
            for &l in &served_on {
                if let Some(api) = apis
                    .iter()
                    .find(|a| a.listeners.contains(&l) && a.hosts.contains(&name))
                {
                    self.problem(
                        domain.name.span(),
                        format!("{key}.name"),
                        format!(
                            "API `{}` already answers host `{name}` on listener `{}`; map it here with [[domains.mappings]] instead",
                            api.name, listeners[l].name
                        ),
                    );
                }
            }
            if domain.mappings.is_empty() {
                self.problem(
                    span.clone(),
                    key.clone(),
                    "a domain needs at least one [[domains.mappings]] entry",
                );
            }
            out.push(DomainConfig {
                tls: DomainTlsSettings {
                    name,
                    certificate,
                    mtls,
                },
                listeners: served_on,
                mappings,
            });
        }
        out
    }

    fn mtls(&mut self, raw: &Spanned<raw::RawMtls>, key: &str) -> Option<MtlsSettings> {
        let m = raw.get_ref();
        let required = match m.mode.as_ref().map(|v| (v, v.get_ref().as_str())) {
            None | Some((_, "required")) => true,
            Some((_, "optional")) => false,
            Some((v, other)) => {
                self.problem(
                    v.span(),
                    format!("{key}.mode"),
                    format!("`{other}` is not \"required\" or \"optional\""),
                );
                true
            }
        };
        let truststore = self.base_dir.join(m.truststore.get_ref());
        let mut ok = true;
        if let Err(e) = certs::read_chain(&truststore) {
            self.problem(
                m.truststore.span(),
                format!("{key}.truststore"),
                e.to_string(),
            );
            ok = false;
        }
        let mut crls: Vec<PathBuf> = Vec::new();
        for (i, crl) in m.crls.iter().enumerate() {
            let path = self.base_dir.join(crl.get_ref());
            match certs::read_crls(&path) {
                Ok(_) => crls.push(path),
                Err(e) => {
                    self.problem(crl.span(), format!("{key}.crls[{i}]"), e.to_string());
                    ok = false;
                }
            }
        }
        ok.then_some(MtlsSettings {
            truststore,
            crls,
            required,
        })
    }

    fn mappings(
        &mut self,
        domain: &raw::RawDomain,
        key: &str,
        apis: &[ApiConfig],
    ) -> Vec<BasePathMapping> {
        let mut out: Vec<BasePathMapping> = Vec::new();
        for (j, mapping) in domain.mappings.iter().enumerate() {
            let m = mapping.get_ref();
            let key = format!("{key}.mappings[{j}]");
            let base_path = m.base_path.get_ref().trim_matches('/').to_owned();
            let valid = base_path.is_empty()
                || base_path.split('/').all(|segment| {
                    !segment.is_empty()
                        && segment
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
                });
            if !valid {
                self.problem(
                    m.base_path.span(),
                    format!("{key}.base_path"),
                    format!(
                        "`{}` is not a base path: \"\" (the root) or segments of letters, digits, `-`, `.`, `_` and `~` separated by `/`",
                        m.base_path.get_ref()
                    ),
                );
            } else if out.iter().any(|o| o.base_path == base_path) {
                self.problem(
                    m.base_path.span(),
                    format!("{key}.base_path"),
                    format!("base path `{base_path}` is mapped twice"),
                );
            }
            let Some(api) = apis.iter().position(|a| a.name == *m.api.get_ref()) else {
                self.problem(
                    m.api.span(),
                    format!("{key}.api"),
                    format!("no API is named `{}`", m.api.get_ref()),
                );
                continue;
            };
            let stage = m
                .stage
                .as_ref()
                .map_or("$default", |s| s.get_ref().as_str())
                .to_owned();
            if !apis[api].stages.iter().any(|s| s.name.as_str() == stage) {
                let at: Range<usize> = m.stage.as_ref().map_or(mapping.span(), |s| s.span());
                self.problem(
                    at,
                    format!("{key}.stage"),
                    format!("API `{}` has no stage `{stage}`", apis[api].name),
                );
                continue;
            }
            out.push(BasePathMapping {
                base_path,
                api,
                stage,
            });
        }
        // Longest first: `v1/orders` before `v1`.
        out.sort_by_key(|m| {
            std::cmp::Reverse(m.base_path.split('/').count() * usize::from(!m.base_path.is_empty()))
        });
        out
    }

    /// Every TLS listener has a certificate for every domain it serves, and
    /// at least one certificate. `raw_listeners` has each listener's span
    /// and how many certificates it lists (those that did not load are
    /// reported already, and their names unknown: no coverage check then).
    pub(super) fn tls_coverage(
        &mut self,
        listeners: &[ListenerConfig],
        domains: &[DomainConfig],
        raw_listeners: &[(Range<usize>, usize)],
        raw_domains: &[Range<usize>],
    ) {
        let provider = crate::tls::provider();
        let names_of = |files: &CertificateFiles| -> Vec<String> {
            certs::load(files, &provider)
                .map(|(c, _)| c.names)
                .unwrap_or_default()
        };
        for (l, listener) in listeners.iter().enumerate() {
            let Some(tls) = &listener.tls else { continue };
            let mut names: Vec<String> = tls
                .settings
                .certificates
                .iter()
                .flat_map(names_of)
                .collect();
            let served: Vec<&DomainConfig> = domains
                .iter()
                .filter(|d| d.listeners.contains(&l))
                .collect();
            let own = served
                .iter()
                .filter(|d| d.tls.certificate.is_some())
                .count();
            let (span, listed) = raw_listeners[l].clone();
            if listed != tls.settings.certificates.len() {
                continue;
            }
            if listed == 0 && own == 0 {
                self.problem(
                    span,
                    format!("listeners[{l}].tls.certificates"),
                    "a TLS listener needs a certificate: list one here, or give a [[domains]] entry it serves a `certificate`",
                );
                continue;
            }
            for domain in &served {
                if let Some(files) = &domain.tls.certificate {
                    names.extend(names_of(files));
                    names.push(domain.tls.name.clone());
                }
            }
            for domain in &served {
                let covered = names
                    .iter()
                    .any(|n| *n == domain.tls.name || certs::covers(n, &domain.tls.name));
                if !covered {
                    let d = domains
                        .iter()
                        .position(|x| std::ptr::eq(x, *domain))
                        .unwrap_or(0);
                    self.problem(
                        raw_domains[d].clone(),
                        format!("domains[{d}]"),
                        format!(
                            "no certificate on listener `{}` covers `{}`: give the domain a `certificate`",
                            listener.name, domain.tls.name
                        ),
                    );
                }
            }
        }
    }
}

/// Whether `name` is a host name, or `*.` and a host name.
fn is_domain_name(name: &str) -> bool {
    let host = name.strip_prefix("*.").unwrap_or(name);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}
