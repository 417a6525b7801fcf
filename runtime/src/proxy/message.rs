//! Phase 0's checks on the request message itself: what hyper's HTTP/1
//! parser lets through but RFC 9112 tells a proxy to refuse. Each is a
//! request-smuggling or routing-confusion vector when two hops read one
//! message differently, so it is refused before any phase runs, its body
//! is not read, and the connection is closed after the answer.
//!
//! hyper itself already refuses malformed request lines, header lines,
//! `Content-Length` values and chunk framing; `tests/h1-corpus.txt` (the
//! differential test against nginx and HAProxy) covers both halves.

use http::header::{HOST, TRANSFER_ENCODING};
use http::request::Parts;
use http::{Method, Version};

use crate::error::{ErrorKind, GatewayError};

/// Refuses a message whose framing, transfer codings, `Host` or request
/// target a proxy must not forward.
pub fn check(parts: &Parts) -> Result<(), GatewayError> {
    if !matches!(parts.version, Version::HTTP_10 | Version::HTTP_11) {
        // HTTP/2 and HTTP/3 carry framing and authority in their own
        // frames, checked by h2 and h3.
        return Ok(());
    }
    framing(parts)?;
    host(parts)?;
    target(parts)
}

fn bad(reason: &'static str) -> GatewayError {
    GatewayError::with_source(ErrorKind::BadRequest, reason)
}

/// RFC 9112 section 6: one way to find the end of the body. hyper has
/// already refused a Content-Length it cannot read, two that differ, and a
/// Transfer-Encoding not ending in chunked; given both, it has dropped
/// Content-Length and will close the connection after the answer (section
/// 6.3's choice for a server that processes such a message).
fn framing(parts: &Parts) -> Result<(), GatewayError> {
    let codings = parts
        .headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|coding| !coding.is_empty());
    let mut chunked = 0;
    let mut other = false;
    for coding in codings {
        if coding.eq_ignore_ascii_case(b"chunked") {
            chunked += 1;
        } else {
            other = true;
        }
    }
    if chunked > 1 {
        return Err(bad("chunked applied more than once"));
    }
    if other {
        // The gateway decodes chunked only; forwarding a body still in
        // another coding with no header saying so would corrupt it.
        return Err(GatewayError::with_source(
            ErrorKind::NotImplemented,
            "a transfer coding other than chunked",
        ));
    }
    Ok(())
}

/// RFC 9112 section 3.2: exactly one valid `Host` in an HTTP/1.1 request,
/// at most one in HTTP/1.0.
fn host(parts: &Parts) -> Result<(), GatewayError> {
    let mut hosts = parts.headers.get_all(HOST).iter();
    let Some(value) = hosts.next() else {
        return if parts.version == Version::HTTP_11 {
            Err(bad("no Host field"))
        } else {
            Ok(())
        };
    };
    if hosts.next().is_some() {
        return Err(bad("more than one Host field"));
    }
    if valid_host(value.as_bytes()) {
        Ok(())
    } else {
        Err(bad("an invalid Host field"))
    }
}

/// `uri-host [ ":" port ]` (RFC 3986): an IP literal in brackets or a
/// non-empty registered name (an http URI always has a host, so an empty
/// value cannot name it), then digits after a colon. Checked by hand
/// because parsing an `Authority` copies the value, on every request.
fn valid_host(value: &[u8]) -> bool {
    let port = if let Some(literal) = value.strip_prefix(b"[") {
        let Some(end) = literal.iter().position(|b| *b == b']') else {
            return false;
        };
        if end == 0
            || !literal[..end]
                .iter()
                .all(|b| is_host_byte(*b) || *b == b':')
        {
            return false;
        }
        &literal[end + 1..]
    } else {
        let split = value
            .iter()
            .rposition(|b| *b == b':')
            .unwrap_or(value.len());
        let (name, port) = value.split_at(split);
        if name.is_empty() || !name.iter().all(|b| is_host_byte(*b)) {
            return false;
        }
        port
    };
    match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// Unreserved characters, sub-delimiters and the `%` of percent-encoding
/// (RFC 3986 section 3.2.2).
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b)
}

/// RFC 9112 section 3.2: origin form or absolute form; `*` for OPTIONS.
/// CONNECT (authority form) asks for a tunnel, which an API gateway does
/// not offer: 501, as HAProxy answers, rather than forwarding it as if it
/// were a request for `/`.
fn target(parts: &Parts) -> Result<(), GatewayError> {
    let uri = &parts.uri;
    if parts.method == Method::CONNECT {
        return Err(GatewayError::with_source(
            ErrorKind::NotImplemented,
            "CONNECT: no tunnels through the gateway",
        ));
    }
    if uri.scheme().is_none() && uri.authority().is_some() {
        return Err(bad("a request target in authority form"));
    }
    if uri.path() == "*" && uri.authority().is_none() && parts.method != Method::OPTIONS {
        return Err(bad("a request target of * for a method other than OPTIONS"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(version: Version, target: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder()
            .method("POST")
            .uri(target)
            .version(version);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    /// Name, version, target, fields, the status expected (none: passes).
    type Case<'a> = (
        &'a str,
        Version,
        &'a str,
        &'a [(&'a str, &'a str)],
        Option<u16>,
    );

    #[test]
    fn refuses_what_a_proxy_must_not_forward() {
        let h11 = Version::HTTP_11;
        let cases: &[Case] = &[
            ("plain", h11, "/x", &[("host", "t")], None),
            (
                "chunked",
                h11,
                "/x",
                &[("host", "t"), ("transfer-encoding", "Chunked")],
                None,
            ),
            ("http/1.0 without host", Version::HTTP_10, "/x", &[], None),
            ("absolute form", h11, "http://u/x", &[("host", "t")], None),
            ("host with port", h11, "/x", &[("host", "t:8080")], None),
            ("ipv6 host", h11, "/x", &[("host", "[::1]:80")], None),
            ("OPTIONS *", h11, "*", &[("host", "t")], None),
            ("no host", h11, "/x", &[], Some(400)),
            (
                "two hosts",
                h11,
                "/x",
                &[("host", "t"), ("host", "t")],
                Some(400),
            ),
            ("empty host", h11, "/x", &[("host", "")], Some(400)),
            ("host with user", h11, "/x", &[("host", "u@t")], Some(400)),
            ("host with path", h11, "/x", &[("host", "t/x")], Some(400)),
            (
                "host port letters",
                h11,
                "/x",
                &[("host", "t:ab")],
                Some(400),
            ),
            (
                "chunked twice",
                h11,
                "/x",
                &[
                    ("host", "t"),
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ],
                Some(400),
            ),
            (
                "gzip then chunked",
                h11,
                "/x",
                &[("host", "t"), ("transfer-encoding", "gzip, chunked")],
                Some(501),
            ),
            ("authority form", h11, "t:80", &[("host", "t")], Some(400)),
            ("CONNECT", h11, "t:80", &[("host", "t")], Some(501)),
        ];
        for (name, version, target, headers, want) in cases {
            let mut request = parts(*version, target, headers);
            match *name {
                "OPTIONS *" => request.method = Method::OPTIONS,
                "CONNECT" => request.method = Method::CONNECT,
                _ => {}
            }
            let got = check(&request).err().map(|e| e.status().as_u16());
            assert_eq!(got, *want, "{name}");
        }
    }
}
