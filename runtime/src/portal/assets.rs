//! The portal's static files, embedded in the binary: its style sheet,
//! the account page's script (the copy button and the usage chart), the
//! documentation page's script, and the vendored Swagger UI 5.35.0 and
//! uPlot 1.6.32 (the operator view's copy), each with its licence beside
//! it in the source tree. No file is fetched from anywhere else.

use bytes::Bytes;
use http::StatusCode;

use super::{Answer, plain, secured};

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file: its request path, content type and bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "/assets/portal.css",
        CSS,
        include_bytes!("assets/portal.css"),
    ),
    (
        "/assets/account.js",
        JAVASCRIPT,
        include_bytes!("assets/account.js"),
    ),
    (
        "/assets/docs.js",
        JAVASCRIPT,
        include_bytes!("assets/docs.js"),
    ),
    (
        "/assets/vendor/swagger-ui-bundle.js",
        JAVASCRIPT,
        include_bytes!("assets/vendor/swagger-ui-bundle.js"),
    ),
    (
        "/assets/vendor/swagger-ui.css",
        CSS,
        include_bytes!("assets/vendor/swagger-ui.css"),
    ),
    (
        "/assets/vendor/uPlot.iife.min.js",
        JAVASCRIPT,
        include_bytes!("../control/admin/ui/vendor/uPlot.iife.min.js"),
    ),
    (
        "/assets/vendor/uPlot.min.css",
        CSS,
        include_bytes!("../control/admin/ui/vendor/uPlot.min.css"),
    ),
];

/// Answers `GET /assets/...`.
pub fn serve(path: &str) -> Answer {
    match ASSETS.iter().find(|(at, _, _)| *at == path) {
        Some(&(_, content_type, bytes)) => {
            let mut answer = secured(StatusCode::OK, content_type, Bytes::from_static(bytes));
            answer.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-cache"),
            );
            answer
        }
        None => plain(StatusCode::NOT_FOUND, "Not Found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_with_its_type() {
        for (path, content_type, _) in ASSETS {
            let answer = serve(path);
            assert_eq!(answer.status(), StatusCode::OK, "{path}");
            assert_eq!(answer.headers()["content-type"], *content_type, "{path}");
            assert!(answer.headers().contains_key("content-security-policy"));
        }
        assert_eq!(
            serve("/assets/../Cargo.toml").status(),
            StatusCode::NOT_FOUND
        );
    }
}
