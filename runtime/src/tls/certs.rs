//! Certificate files: a PEM chain and its private key, loaded and checked
//! (the chain parses, the key is the certificate's, the certificate is in
//! its validity period), and the names it covers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// A certificate chain file and its key file, as the configuration names
/// them (paths resolved against the configuration's folder).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificateFiles {
    /// PEM: the end-entity certificate first, then intermediates.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
}

/// A certificate ready to serve.
#[derive(Debug, Clone)]
pub struct LoadedCertificate {
    /// The chain and the signing key.
    pub key: Arc<CertifiedKey>,
    /// The DNS names it covers (subject alternative names, lower case;
    /// `*.example.com` for a wildcard), else its subject's common name.
    pub names: Vec<String>,
    /// End of its validity period.
    pub not_after: SystemTime,
}

/// Why a certificate cannot serve; each names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// A file could not be read.
    #[error("cannot read {}: {why}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A file holds no usable PEM item of the kind expected.
    #[error("{}: {why}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The key is not the certificate's.
    #[error("{} is not the private key of {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
}

/// A loaded certificate that is past (or before) its validity period: it
/// still serves, with a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidityWarning(pub String);

/// Reads and checks `files` with `provider`'s key loader. Returns the
/// certificate and, if it is outside its validity period now, a warning
/// that says since or until when.
pub fn load(
    files: &CertificateFiles,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<(LoadedCertificate, Option<ValidityWarning>), CertError> {
    let chain = read_chain(&files.cert)?;
    let key = read_key(&files.key)?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => CertError::KeyMismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
        },
        other => CertError::Invalid {
            path: files.key.clone(),
            why: format!("not a usable private key ({other})"),
        },
    })?;
    let leaf = certified.cert.first().ok_or_else(|| CertError::Invalid {
        path: files.cert.clone(),
        why: "no certificate".into(),
    })?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| CertError::Invalid {
            path: files.cert.clone(),
            why: format!("not an X.509 certificate ({e})"),
        })?;
    let names = dns_names(&parsed);
    let validity = parsed.validity();
    let not_before = timestamp(validity.not_before.timestamp());
    let not_after = timestamp(validity.not_after.timestamp());
    let now = SystemTime::now();
    let warning = if now > not_after {
        Some(ValidityWarning(format!(
            "{} expired on {} (still served: replace it)",
            files.cert.display(),
            validity.not_after
        )))
    } else if now < not_before {
        Some(ValidityWarning(format!(
            "{} is not valid before {}",
            files.cert.display(),
            validity.not_before
        )))
    } else {
        None
    };
    Ok((
        LoadedCertificate {
            key: Arc::new(certified),
            names,
            not_after,
        },
        warning,
    ))
}

/// Reads every certificate of a PEM file (a chain, or a CA bundle).
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let bytes = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Invalid {
            path: path.to_owned(),
            why: format!("not PEM certificates ({e})"),
        })?;
    if chain.is_empty() {
        return Err(CertError::Invalid {
            path: path.to_owned(),
            why: "holds no `BEGIN CERTIFICATE` block".into(),
        });
    }
    Ok(chain)
}

/// Reads every certificate revocation list of a PEM file.
pub fn read_crls(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateRevocationListDer<'static>>, CertError> {
    let bytes = read(path)?;
    let lists = rustls::pki_types::CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Invalid {
            path: path.to_owned(),
            why: format!("not PEM revocation lists ({e})"),
        })?;
    if lists.is_empty() {
        return Err(CertError::Invalid {
            path: path.to_owned(),
            why: "holds no `BEGIN X509 CRL` block".into(),
        });
    }
    Ok(lists)
}

/// Reads the private key of a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| CertError::Invalid {
        path: path.to_owned(),
        why: format!("holds no PEM private key ({e})"),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|e| CertError::Read {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

fn timestamp(seconds: i64) -> SystemTime {
    match u64::try_from(seconds) {
        Ok(s) => UNIX_EPOCH + Duration::from_secs(s),
        Err(_) => UNIX_EPOCH,
    }
}

/// The DNS names a certificate covers: its subject alternative names, or
/// its common name when it has none.
fn dns_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(name) => Some(name.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    names
}

/// Whether certificate name `pattern` (`api.example.com`, `*.example.com`)
/// covers host `name` (lower case): a wildcard covers exactly one label.
pub fn covers(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .strip_suffix(suffix)
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("api.example.com", "api.example.com"));
        assert!(!covers("api.example.com", "www.example.com"));
        assert!(covers("*.example.com", "api.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "apiexample.com"));
    }
}
