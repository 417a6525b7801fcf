//! What a verified client certificate says, as API Gateway's
//! `$context.identity.clientCert` has it: subject, issuer, serial number,
//! validity and a fingerprint, plus the certificate itself.

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

/// A client certificate the handshake verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The subject's distinguished name, e.g. `CN=alice,O=Example`.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// The serial number, lower-case hex.
    pub serial: String,
    /// Start of the validity period, RFC 3339.
    pub not_before: String,
    /// End of the validity period, RFC 3339.
    pub not_after: String,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub fingerprint: String,
    /// The certificate as PEM, percent-encoded to fit in a header (as
    /// nginx's `$ssl_client_escaped_cert`).
    pub escaped_pem: String,
}

impl ClientCert {
    /// Reads the end-entity certificate of a verified chain; `None` if it
    /// cannot be parsed (the handshake verified it, so this does not happen
    /// for certificates rustls accepted).
    pub fn from_der(der: &CertificateDer<'_>) -> Option<ClientCert> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let rfc3339 = |t: x509_parser::time::ASN1Time| {
            u64::try_from(t.timestamp())
                .map(|s| {
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(s),
                    )
                    .to_string()
                })
                .unwrap_or_default()
        };
        let pem = pem_of(der);
        Some(ClientCert {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string().replace(':', ""),
            not_before: rfc3339(cert.validity().not_before),
            not_after: rfc3339(cert.validity().not_after),
            fingerprint: hex::encode(Sha256::digest(der.as_ref())),
            escaped_pem: percent_encoding::utf8_percent_encode(&pem, UNRESERVED_KEPT).to_string(),
        })
    }

    /// The fields as `(name, value)` pairs, the names the upstream headers
    /// and plugins' request headers use after `x-turnpike-client-cert-`.
    pub fn fields(&self) -> [(&'static str, &str); 7] {
        [
            ("subject", &self.subject),
            ("issuer", &self.issuer),
            ("serial", &self.serial),
            ("not-before", &self.not_before),
            ("not-after", &self.not_after),
            ("fingerprint", &self.fingerprint),
            ("pem", &self.escaped_pem),
        ]
    }
}

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const UNRESERVED_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn pem_of(der: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}
