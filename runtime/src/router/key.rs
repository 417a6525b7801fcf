//! Route keys as Amazon API Gateway writes them: `"GET /pets/{id}"`,
//! `"ANY /{proxy+}"`, `"$default"`.

use std::fmt;

use http::Method;

/// A parsed route key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    /// `$default`: catches every request that no other route matches.
    Default,
    /// A method (or `ANY`) and a path pattern.
    Route {
        /// Which methods the route answers.
        method: MethodMatch,
        /// The path pattern, without stage prefix.
        path: PathPattern,
    },
    /// A WebSocket API's route: `$connect`, `$disconnect`, or a value of
    /// the route selection expression (`$default` is [`RouteKey::Default`]).
    Message(String),
}

/// The method half of a route key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodMatch {
    /// `ANY`: every method not claimed by a more specific route at the same path.
    Any,
    /// One HTTP method.
    Exact(Method),
}

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// `{name}`: matches one non-empty segment.
    Param(String),
    /// `{name+}`: matches the rest of the path, one segment or more; last only.
    Greedy(String),
}

/// The path half of a route key, e.g. `/pets/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<Segment>,
}

impl PathPattern {
    /// The segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Names of the path parameters, in the order they appear.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(n) | Segment::Greedy(n) => Some(n.as_str()),
            Segment::Literal(_) => None,
        })
    }
}

/// Methods a route key may name, besides `ANY`.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
];

impl RouteKey {
    /// Parses a WebSocket API's route key: `$connect`, `$disconnect`,
    /// `$default`, or any other value the selection expression may yield
    /// (up to 128 characters; other names starting with `$` are reserved).
    pub fn parse_message(text: &str) -> Result<RouteKey, String> {
        match text {
            "$default" => Ok(RouteKey::Default),
            "$connect" | "$disconnect" => Ok(RouteKey::Message(text.to_owned())),
            _ if text.starts_with('$') => Err(format!(
                "`{text}` is reserved: a WebSocket route key is `$connect`, `$disconnect`, `$default` or a name not starting with `$`"
            )),
            _ if text.is_empty() || text.len() > 128 || text.chars().any(char::is_control) => {
                Err(format!(
                    "route key `{text}` must be 1 to 128 characters without control characters"
                ))
            }
            _ => Ok(RouteKey::Message(text.to_owned())),
        }
    }

    /// Parses a route key, or says precisely what is wrong with it.
    pub fn parse(text: &str) -> Result<RouteKey, String> {
        if text == "$default" {
            return Ok(RouteKey::Default);
        }
        let Some((method, path)) = text.split_once(' ') else {
            return Err(format!(
                "route key `{text}` must be `$default` or `METHOD /path`, e.g. `GET /pets/{{id}}`"
            ));
        };
        let method = if method == "ANY" {
            MethodMatch::Any
        } else {
            match METHODS.iter().find(|m| m.as_str() == method) {
                Some(m) => MethodMatch::Exact(m.clone()),
                None => {
                    return Err(format!(
                        "route key `{text}`: unknown method `{method}` (expected one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, ANY)"
                    ));
                }
            }
        };
        let path = PathPattern::parse(path).map_err(|why| format!("route key `{text}`: {why}"))?;
        Ok(RouteKey::Route { method, path })
    }
}

impl PathPattern {
    fn parse(path: &str) -> Result<PathPattern, String> {
        let Some(rest) = path.strip_prefix('/') else {
            return Err("the path must start with `/`".into());
        };
        let mut segments = Vec::new();
        if rest.is_empty() {
            return Ok(PathPattern { segments });
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() {
                return Err("empty path segment (a `//` or a trailing `/`)".into());
            }
            let segment = if let Some(inner) = part.strip_prefix('{') {
                let Some(inner) = inner.strip_suffix('}') else {
                    return Err(format!("segment `{part}` opens `{{` without closing it"));
                };
                let (name, greedy) = match inner.strip_suffix('+') {
                    Some(name) => (name, true),
                    None => (inner, false),
                };
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
                {
                    return Err(format!(
                        "path parameter `{part}` needs a name of letters, digits, `_`, `-` or `.`"
                    ));
                }
                if greedy && i != last {
                    return Err(format!(
                        "greedy path parameter `{part}` must be the last segment"
                    ));
                }
                if segments
                    .iter()
                    .any(|s| matches!(s, Segment::Param(n) | Segment::Greedy(n) if n == name))
                {
                    return Err(format!("path parameter `{name}` appears twice"));
                }
                if greedy {
                    Segment::Greedy(name.to_owned())
                } else {
                    Segment::Param(name.to_owned())
                }
            } else {
                if part.contains(['{', '}']) {
                    return Err(format!(
                        "segment `{part}` mixes text and a parameter; a parameter must be a whole segment"
                    ));
                }
                if part.contains(['?', '#', ' ']) {
                    return Err(format!("segment `{part}` contains `?`, `#` or a space"));
                }
                Segment::Literal((*part).to_owned())
            };
            segments.push(segment);
        }
        Ok(PathPattern { segments })
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteKey::Default => f.write_str("$default"),
            RouteKey::Route { method, path } => write!(f, "{method} {path}"),
            RouteKey::Message(key) => f.write_str(key),
        }
    }
}

impl fmt::Display for MethodMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MethodMatch::Any => f.write_str("ANY"),
            MethodMatch::Exact(m) => f.write_str(m.as_str()),
        }
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for s in &self.segments {
            match s {
                Segment::Literal(l) => write!(f, "/{l}")?,
                Segment::Param(n) => write!(f, "/{{{n}}}")?,
                Segment::Greedy(n) => write!(f, "/{{{n}+}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        for key in [
            "$default",
            "GET /",
            "GET /pets",
            "POST /pets/{id}",
            "ANY /{proxy+}",
            "DELETE /a/{b}/c/{d+}",
        ] {
            assert_eq!(
                RouteKey::parse(key).map(|k| k.to_string()),
                Ok(key.to_owned())
            );
        }
    }

    #[test]
    fn rejects_with_reasons() {
        let cases = [
            ("GET", "must be `$default` or `METHOD /path`"),
            ("get /pets", "unknown method `get`"),
            ("FETCH /pets", "unknown method `FETCH`"),
            ("GET pets", "must start with `/`"),
            ("GET /pets/", "empty path segment"),
            ("GET /a//b", "empty path segment"),
            ("GET /{proxy+}/x", "must be the last segment"),
            ("GET /{id", "without closing"),
            ("GET /p{id}", "mixes text and a parameter"),
            ("GET /{}", "needs a name"),
            ("GET /{a}/{a}", "appears twice"),
            ("GET /a?b", "contains `?`"),
            ("GET  /a", "must start with `/`"),
        ];
        for (key, want) in cases {
            let err = RouteKey::parse(key).expect_err(key);
            assert!(err.contains(want), "{key}: {err}");
        }
    }
}
