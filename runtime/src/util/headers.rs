//! Facts about HTTP header fields that several concerns need.

use http::HeaderName;

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded by a proxy.
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    use http::header::*;
    *name == CONNECTION
        || *name == TE
        || *name == TRANSFER_ENCODING
        || *name == UPGRADE
        || *name == TRAILER
        || *name == PROXY_AUTHORIZATION
        || *name == PROXY_AUTHENTICATE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}
