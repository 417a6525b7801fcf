//! `server.access_log_format`: one JSON object per line (the default), or a
//! template with API Gateway's `$context` variables, as in a stage's access
//! log settings (`$context.requestId $context.status ...`).

/// How access-log lines are written.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum AccessLogFormat {
    /// Every field, as one JSON object.
    #[default]
    Json,
    /// The operator's template.
    Template(LogTemplate),
}

/// A parsed template: text and `$context` variables in order.
#[derive(Debug, Clone, PartialEq)]
pub struct LogTemplate {
    /// The pieces of a line.
    pub parts: Vec<LogPart>,
    /// The template is a JSON object: values are written JSON-escaped so
    /// that a hostile path cannot end a string early.
    pub json: bool,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum LogPart {
    /// Written as is.
    Text(String),
    /// A request's value, `-` when it has none.
    Var(ContextVar),
}

macro_rules! context_vars {
    ($($variant:ident => [$($name:literal),+]: $doc:literal,)*) => {
        /// A `$context` variable the access log knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ContextVar {
            $(#[doc = $doc] $variant,)*
        }

        impl ContextVar {
            /// The variable named `name` (after `$context.`).
            pub fn parse(name: &str) -> Option<ContextVar> {
                match name {
                    $($($name)|+ => Some(ContextVar::$variant),)*
                    _ => None,
                }
            }

            /// Every name the template accepts.
            pub fn names() -> Vec<&'static str> {
                vec![$($($name),+),*]
            }
        }
    };
}

context_vars! {
    RequestId => ["requestId", "extendedRequestId"]: "The request id.",
    RequestTime => ["requestTime"]: "Arrival, RFC 3339 in UTC.",
    SourceIp => ["identity.sourceIp"]: "The client's address.",
    HttpMethod => ["httpMethod"]: "The method.",
    Path => ["path"]: "The path as received, without query.",
    Protocol => ["protocol"]: "`HTTP/1.1`, `HTTP/2.0`, ...",
    Status => ["status"]: "The status sent.",
    ApiName => ["apiId", "apiName"]: "The API's name.",
    Stage => ["stage"]: "The stage.",
    RouteKey => ["routeKey"]: "The route key.",
    ResourcePath => ["resourcePath"]: "The route key's path.",
    ResponseLatency => ["responseLatency"]: "Milliseconds to the response headers.",
    IntegrationLatency => ["integrationLatency", "integration.latency"]: "Milliseconds the integration took.",
    IntegrationStatus => ["integrationStatus", "integration.status"]: "The integration's status.",
    ErrorMessage => ["error.message", "error.messageString"]: "Why the request failed.",
    ErrorBlame => ["error.blame"]: "Who caused the failure.",
    PrincipalId => ["authorizer.principalId"]: "The principal an authorizer allowed.",
    DomainName => ["domainName"]: "The custom domain.",
    DeploymentId => ["deploymentId"]: "The deployment serving the stage.",
    IsCanaryRequest => ["isCanaryRequest"]: "Whether the canary served it.",
    ConnectionId => ["connectionId"]: "A WebSocket connection's id.",
    EventType => ["eventType"]: "`CONNECT`, `MESSAGE` or `DISCONNECT`.",
    CacheStatus => ["cacheStatus"]: "`hit`, `miss`, `bypass` or `invalidated`.",
    TraceId => ["traceId", "xrayTraceId"]: "The W3C trace id.",
    UpstreamAddress => ["upstreamAddress"]: "The upstream target that answered.",
    TlsVersion => ["tlsVersion"]: "`TLSv1.3` or `TLSv1.2`.",
}

impl LogTemplate {
    /// Parses `$context.NAME` variables (also `${context.NAME}`) out of
    /// `text`; an unknown one is an error naming it.
    pub fn parse(text: &str) -> Result<LogTemplate, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (braced, body) = match after.strip_prefix('{') {
                Some(inner) => (true, inner),
                None => (false, after),
            };
            let Some(name_start) = body.strip_prefix("context.") else {
                literal.push('$');
                rest = after;
                continue;
            };
            let len = name_start
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(name_start.len());
            // A sentence's full stop is not part of the name.
            let name = name_start[..len].trim_end_matches('.');
            let mut consumed = "context.".len() + name.len();
            if braced {
                if !name_start[name.len()..].starts_with('}') {
                    return Err(format!("`${{context.{name}` is missing its `}}`"));
                }
                consumed += 2;
            }
            let var = ContextVar::parse(name).ok_or_else(|| {
                format!(
                    "`$context.{name}` is not a variable the access log knows; known: {}",
                    ContextVar::names().join(", ")
                )
            })?;
            if !literal.is_empty() {
                parts.push(LogPart::Text(std::mem::take(&mut literal)));
            }
            parts.push(LogPart::Var(var));
            rest = &after[consumed..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(LogPart::Text(literal));
        }
        if !parts.iter().any(|p| matches!(p, LogPart::Var(_))) {
            return Err("the format has no `$context` variable".into());
        }
        let json = text.trim_start().starts_with('{');
        Ok(LogTemplate { parts, json })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_into_text_and_variables() {
        let t = LogTemplate::parse("$context.requestId ${context.status} [$context.path].")
            .expect("parses");
        assert_eq!(
            t.parts,
            vec![
                LogPart::Var(ContextVar::RequestId),
                LogPart::Text(" ".into()),
                LogPart::Var(ContextVar::Status),
                LogPart::Text(" [".into()),
                LogPart::Var(ContextVar::Path),
                LogPart::Text("].".into()),
            ]
        );
        assert!(!t.json);
        let json =
            LogTemplate::parse(r#"{"id":"$context.requestId","ms":$context.responseLatency}"#)
                .expect("parses");
        assert!(json.json);
        assert!(
            LogTemplate::parse("$context.nope")
                .expect_err("unknown")
                .contains("`$context.nope` is not a variable")
        );
        assert!(
            LogTemplate::parse("price: $5").is_err(),
            "no variable at all"
        );
        assert!(LogTemplate::parse("${context.status").is_err());
    }
}
