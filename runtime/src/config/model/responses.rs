//! Gateway responses: API Gateway's response types, and an API's
//! customisation of the answers the gateway itself gives (status, headers,
//! body), with `$context`-style variables.

use std::collections::BTreeMap;
use std::fmt;

use http::{HeaderName, StatusCode};

/// API Gateway's gateway response types that Turnpike produces, and the
/// two fallbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResponseType {
    /// The fallback of every 4xx type.
    Default4xx,
    /// The fallback of every 5xx type.
    Default5xx,
    /// An authorizer, policy or resource policy denied the request.
    AccessDenied,
    /// The API's own configuration failed at run time.
    ApiConfigurationError,
    /// An authorizer could not be run.
    AuthorizerConfigurationError,
    /// An authorizer failed.
    AuthorizerFailure,
    /// Required parameters are missing.
    BadRequestParameters,
    /// The body failed its model.
    BadRequestBody,
    /// A SigV4 signature is too old.
    ExpiredToken,
    /// The integration failed.
    IntegrationFailure,
    /// The integration timed out.
    IntegrationTimeout,
    /// The API key is missing, unknown or in no plan.
    InvalidApiKey,
    /// A SigV4 signature did not verify.
    InvalidSignature,
    /// No SigV4 signature (or no route, on REST APIs).
    MissingAuthenticationToken,
    /// The usage plan's quota is used up.
    QuotaExceeded,
    /// The request is too large.
    RequestTooLarge,
    /// No route matches.
    ResourceNotFound,
    /// A rate limit refused the request.
    Throttled,
    /// The caller is not authenticated.
    Unauthorized,
    /// The body's media type is not accepted.
    UnsupportedMediaType,
    /// A web application firewall refused the request.
    WafFiltered,
}

impl ResponseType {
    /// Every type, by its API Gateway name.
    pub const ALL: &[(&str, ResponseType)] = &[
        ("DEFAULT_4XX", ResponseType::Default4xx),
        ("DEFAULT_5XX", ResponseType::Default5xx),
        ("ACCESS_DENIED", ResponseType::AccessDenied),
        (
            "API_CONFIGURATION_ERROR",
            ResponseType::ApiConfigurationError,
        ),
        (
            "AUTHORIZER_CONFIGURATION_ERROR",
            ResponseType::AuthorizerConfigurationError,
        ),
        ("AUTHORIZER_FAILURE", ResponseType::AuthorizerFailure),
        ("BAD_REQUEST_PARAMETERS", ResponseType::BadRequestParameters),
        ("BAD_REQUEST_BODY", ResponseType::BadRequestBody),
        ("EXPIRED_TOKEN", ResponseType::ExpiredToken),
        ("INTEGRATION_FAILURE", ResponseType::IntegrationFailure),
        ("INTEGRATION_TIMEOUT", ResponseType::IntegrationTimeout),
        ("INVALID_API_KEY", ResponseType::InvalidApiKey),
        ("INVALID_SIGNATURE", ResponseType::InvalidSignature),
        (
            "MISSING_AUTHENTICATION_TOKEN",
            ResponseType::MissingAuthenticationToken,
        ),
        ("QUOTA_EXCEEDED", ResponseType::QuotaExceeded),
        ("REQUEST_TOO_LARGE", ResponseType::RequestTooLarge),
        ("RESOURCE_NOT_FOUND", ResponseType::ResourceNotFound),
        ("THROTTLED", ResponseType::Throttled),
        ("UNAUTHORIZED", ResponseType::Unauthorized),
        ("UNSUPPORTED_MEDIA_TYPE", ResponseType::UnsupportedMediaType),
        ("WAF_FILTERED", ResponseType::WafFiltered),
    ];

    /// The type named `name` (API Gateway's spelling).
    pub fn parse(name: &str) -> Option<ResponseType> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// API Gateway's name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("DEFAULT_4XX", |(n, _)| n)
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A variable of a gateway response template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseVar {
    /// `${context.error.message}`: the message, as text.
    ErrorMessage,
    /// `${context.error.messageString}`: the message as a quoted JSON string.
    ErrorMessageString,
    /// `${context.error.responseType}`.
    ErrorResponseType,
    /// `${context.requestId}`.
    RequestId,
    /// `${context.stage}`.
    Stage,
    /// `${context.apiId}`.
    ApiId,
    /// `${context.httpMethod}`.
    HttpMethod,
    /// `${context.path}`: the request's path.
    Path,
    /// `${context.resourcePath}`: the matched route's path.
    ResourcePath,
    /// `${context.identity.sourceIp}`.
    SourceIp,
    /// `${context.authorizer.principalId}` or `${context.authorizer.KEY}`.
    Authorizer(String),
    /// `${stageVariables.NAME}`.
    StageVariable(String),
    /// `${request.header.NAME}`.
    Header(HeaderName),
    /// `${request.querystring.NAME}`.
    Query(String),
    /// `${request.path.NAME}`.
    PathParam(String),
}

/// A piece of a gateway response template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponsePiece {
    /// Literal text.
    Text(String),
    /// A variable.
    Var(ResponseVar),
}

/// A parsed gateway response template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseTemplate(pub Vec<ResponsePiece>);

impl ResponseTemplate {
    /// Parses `text`, naming the first unknown or malformed variable.
    pub fn parse(text: &str) -> Result<ResponseTemplate, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                pieces.push(ResponsePiece::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!("`${{` without a closing `}}` in `{text}`"));
            };
            pieces.push(ResponsePiece::Var(variable(&after[..end])?));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(ResponsePiece::Text(rest.to_owned()));
        }
        Ok(ResponseTemplate(pieces))
    }
}

fn variable(name: &str) -> Result<ResponseVar, String> {
    let fixed = match name {
        "context.error.message" => Some(ResponseVar::ErrorMessage),
        "context.error.messageString" => Some(ResponseVar::ErrorMessageString),
        "context.error.responseType" => Some(ResponseVar::ErrorResponseType),
        "context.requestId" | "context.extendedRequestId" => Some(ResponseVar::RequestId),
        "context.stage" => Some(ResponseVar::Stage),
        "context.apiId" => Some(ResponseVar::ApiId),
        "context.httpMethod" => Some(ResponseVar::HttpMethod),
        "context.path" => Some(ResponseVar::Path),
        "context.resourcePath" => Some(ResponseVar::ResourcePath),
        "context.identity.sourceIp" => Some(ResponseVar::SourceIp),
        _ => None,
    };
    if let Some(var) = fixed {
        return Ok(var);
    }
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    if let Some(key) = name.strip_prefix("context.authorizer.").and_then(nonempty) {
        return Ok(ResponseVar::Authorizer(key));
    }
    if let Some(v) = name.strip_prefix("stageVariables.").and_then(nonempty) {
        return Ok(ResponseVar::StageVariable(v));
    }
    if let Some(h) = name.strip_prefix("request.header.") {
        return HeaderName::from_bytes(h.as_bytes())
            .map(ResponseVar::Header)
            .map_err(|_| format!("`${{{name}}}` does not name a valid header"));
    }
    if let Some(q) = name.strip_prefix("request.querystring.").and_then(nonempty) {
        return Ok(ResponseVar::Query(q));
    }
    if let Some(p) = name.strip_prefix("request.path.").and_then(nonempty) {
        return Ok(ResponseVar::PathParam(p));
    }
    Err(format!(
        "unknown variable `${{{name}}}` (gateway responses know `${{context.error.message}}`, `${{context.error.messageString}}`, `${{context.error.responseType}}`, `${{context.requestId}}`, `${{context.stage}}`, `${{context.apiId}}`, `${{context.httpMethod}}`, `${{context.path}}`, `${{context.resourcePath}}`, `${{context.identity.sourceIp}}`, `${{context.authorizer.KEY}}`, `${{stageVariables.NAME}}`, `${{request.header.NAME}}`, `${{request.querystring.NAME}}`, `${{request.path.NAME}}`)"
    ))
}

/// A route's VTL mapping templates (API Gateway's `requestTemplates` and
/// `responseTemplates`), parsed when the configuration loads.
#[derive(Debug, Clone)]
pub struct MappingTemplates {
    /// Request templates by media type (lower case).
    pub request: Vec<(String, crate::vtl::Template)>,
    /// Response templates by media type (lower case).
    pub response: Vec<(String, crate::vtl::Template)>,
    /// What a request whose media type has no template gets.
    pub passthrough: Passthrough,
}

/// API Gateway's `passthroughBehavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passthrough {
    /// A request with no template for its type goes through unchanged.
    WhenNoMatch,
    /// Only when the route has no request templates at all; otherwise 415.
    WhenNoTemplates,
    /// Never: a request with no template for its type gets 415.
    Never,
}

/// `[apis.gateway_responses.TYPE]`: how the API answers errors of a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayResponseConfig {
    /// Replaces the error's status.
    pub status: Option<StatusCode>,
    /// Set on the answer (replacing the gateway's own of the same name).
    pub headers: Vec<(HeaderName, ResponseTemplate)>,
    /// Replaces `{"message": ...}`.
    pub body: Option<ResponseTemplate>,
}

/// An API's gateway responses by type.
pub type GatewayResponses = BTreeMap<ResponseType, GatewayResponseConfig>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_templates() {
        assert_eq!(
            ResponseType::parse("THROTTLED"),
            Some(ResponseType::Throttled)
        );
        assert_eq!(ResponseType::Throttled.name(), "THROTTLED");
        assert_eq!(ResponseType::parse("throttled"), None);
        let t = ResponseTemplate::parse(
            "{\"m\":${context.error.messageString},\"s\":\"${stageVariables.x}\"}",
        )
        .unwrap();
        assert_eq!(
            t.0,
            vec![
                ResponsePiece::Text("{\"m\":".into()),
                ResponsePiece::Var(ResponseVar::ErrorMessageString),
                ResponsePiece::Text(",\"s\":\"".into()),
                ResponsePiece::Var(ResponseVar::StageVariable("x".into())),
                ResponsePiece::Text("\"}".into()),
            ]
        );
        assert!(
            ResponseTemplate::parse("${context.nope}")
                .unwrap_err()
                .contains("unknown variable `${context.nope}`")
        );
        assert!(
            ResponseTemplate::parse("${context.requestId")
                .unwrap_err()
                .contains("without a closing")
        );
    }
}
