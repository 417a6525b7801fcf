//! The operator view's static assets, embedded in the binary: a single
//! page at `/ui/` on the admin listener that polls `/metrics`, `/apis`,
//! `/plugins` and `/recent-errors` with the admin token and shows live
//! totals, charts, routes, stages, plugins and the last errors.
//!
//! The assets themselves are public (they hold no data; the page asks for
//! the token and sends it as a bearer token on every call), and each is
//! served with [`CONTENT_SECURITY_POLICY`]: the page loads nothing but
//! these files and talks to nothing but its own origin. The sources are in
//! `ui/` beside this file; `ui/vendor/` holds uPlot 1.6.32 (MIT, its
//! `LICENSE` beside it), the chart library, as published on npm.

/// The Content-Security-Policy every asset is served with.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every asset: its request path, content type and bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("/ui/", HTML, include_bytes!("ui/index.html")),
    ("/ui/app.js", JAVASCRIPT, include_bytes!("ui/app.js")),
    ("/ui/app.css", CSS, include_bytes!("ui/app.css")),
    (
        "/ui/vendor/uPlot.iife.min.js",
        JAVASCRIPT,
        include_bytes!("ui/vendor/uPlot.iife.min.js"),
    ),
    (
        "/ui/vendor/uPlot.min.css",
        CSS,
        include_bytes!("ui/vendor/uPlot.min.css"),
    ),
];

/// The embedded asset at `path` (the request path on the admin listener), with its content type.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = if path == "/ui" { "/ui/" } else { path };
    ASSETS
        .iter()
        .find(|(at, _, _)| *at == path)
        .map(|&(_, content_type, bytes)| (content_type, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of every `attribute="..."` in `html`.
    fn attribute_values<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
        let needle = format!(" {attribute}=\"");
        let mut found = Vec::new();
        let mut rest = html;
        while let Some(at) = rest.find(&needle) {
            rest = &rest[at + needle.len()..];
            let end = rest.find('"').expect("a closing quote");
            found.push(&rest[..end]);
            rest = &rest[end..];
        }
        found
    }

    #[test]
    fn every_asset_the_page_references_is_served() {
        let (content_type, index) = asset("/ui/").expect("the page");
        assert_eq!(content_type, HTML);
        let html = std::str::from_utf8(index).expect("UTF-8");
        let mut references: Vec<&str> = attribute_values(html, "src");
        references.extend(attribute_values(html, "href"));
        let local: Vec<&str> = references
            .into_iter()
            .filter(|r| !r.starts_with("data:"))
            .collect();
        assert_eq!(local.len(), 4, "{local:?}");
        for reference in local {
            assert!(reference.starts_with("/ui/"), "{reference} is not absolute");
            let (content_type, bytes) = asset(reference).unwrap_or_else(|| panic!("{reference}"));
            assert!(!bytes.is_empty(), "{reference}");
            let expected = if reference.ends_with(".js") {
                JAVASCRIPT
            } else {
                CSS
            };
            assert_eq!(content_type, expected, "{reference}");
        }
    }

    #[test]
    fn the_page_is_at_both_spellings_and_nothing_else_is_served() {
        assert_eq!(asset("/ui").map(|a| a.0), Some(HTML));
        assert_eq!(asset("/ui"), asset("/ui/"));
        for path in [
            "/ui/index.html",
            "/ui/../ui/app.js",
            "/ui/vendor/LICENSE",
            "/ui/vendor/",
            "/",
        ] {
            assert!(asset(path).is_none(), "{path}");
        }
    }

    #[test]
    fn the_page_has_no_inline_script_style_or_handler() {
        let html = std::str::from_utf8(asset("/ui/").expect("the page").1).expect("UTF-8");
        assert!(!html.contains("<style"), "inline <style>");
        assert!(!html.contains(" style="), "a style attribute");
        for (at, _) in html.match_indices(" on") {
            let name: String = html[at + 3..]
                .chars()
                .take_while(char::is_ascii_lowercase)
                .collect();
            let after = html[at + 3 + name.len()..].chars().next();
            assert!(
                name.is_empty() || after != Some('='),
                "an inline event handler: on{name}"
            );
        }
        for (at, _) in html.match_indices("<script") {
            let tag_end = html[at..].find('>').expect("tag end") + at;
            assert!(html[at..tag_end].contains(" src="), "inline script");
        }
    }
}
