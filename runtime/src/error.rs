//! The request-path error type and the one place that turns errors into
//! responses.
//!
//! Every error carries a kind (which decides the status and the message the
//! client sees, as Amazon API Gateway words them) and who is at fault: the
//! kind's usual culprit, unless the failing site knows better (a JWKS
//! endpoint or Redis that failed is a dependency, not the gateway).

use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::ResponseBody;
use crate::config::ResponseType;
pub use crate::util::BoxError;

/// The header naming the error's type, as API Gateway sends it and the
/// AWS SDKs' generated clients read it.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

/// Who caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The client sent something the gateway will not serve.
    Downstream,
    /// The origin could not be reached or misbehaved.
    Upstream,
    /// A plugin failed.
    Plugin,
    /// A service the gateway relies on failed: a JWKS endpoint, the Redis
    /// holding shared limits.
    Dependency,
    /// The gateway itself.
    Internal,
}

impl Blame {
    /// Lower-case name used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Blame::Downstream => "downstream",
            Blame::Upstream => "upstream",
            Blame::Plugin => "plugin",
            Blame::Dependency => "dependency",
            Blame::Internal => "internal",
        }
    }
}

/// What went wrong, which fixes the response status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No API or route matches.
    NotFound,
    /// The path matches, the method does not; carries the `Allow` value.
    MethodNotAllowed(HeaderValue),
    /// The request body exceeds the configured limit.
    PayloadTooLarge,
    /// The request headers exceed the configured limit.
    HeadersTooLarge,
    /// The request could not be read.
    BadRequest,
    /// The request uses a feature the gateway does not implement (a
    /// transfer coding other than chunked).
    NotImplemented,
    /// The client stopped sending its body for longer than the body read
    /// timeout.
    RequestTimeout,
    /// An identity source is missing, or the authorizer said unauthorized.
    Unauthorized,
    /// The authorizer denied the request.
    Forbidden,
    /// A Lambda authorizer's policy did not allow the method ARN; `true`
    /// when a statement denied it explicitly.
    PolicyDenied(bool),
    /// A Lambda-style function raised, failed, or answered something that
    /// is not a proxy response: API Gateway's 502.
    FunctionFailed,
    /// A plugin failed (trap, timeout, its own error) and the policy is to fail closed.
    PluginFailed,
    /// An authorizer plugin failed and the authorizer fails closed.
    AuthorizerFailed,
    /// The route needs an API key and none, an unknown one, or one in no
    /// usage plan of the stage was sent.
    ApiKeyRefused,
    /// The upstream refused or dropped the connection, or answered garbage.
    UpstreamUnreachable,
    /// The upstream did not answer within the integration timeout.
    UpstreamTimeout,
    /// The upstream's connection or request limit is reached.
    UpstreamOverloaded,
    /// A rate limit (usage plan, stage or route throttle) refused the
    /// request; carries the seconds after which a retry may succeed.
    TooManyRequests(u64),
    /// The API key's usage-plan quota for the period is used up; carries the
    /// seconds until the period ends.
    LimitExceeded(u64),
    /// A SigV4 signature was missing or did not verify; carries API
    /// Gateway's message for the case.
    SignatureRefused(String),
    /// The request body failed validation; carries what failed.
    InvalidRequest(String),
    /// Required request parameters are missing; carries which.
    InvalidParameters(String),
    /// The request's media type has no mapping template and the route's
    /// passthrough behavior refuses it.
    UnsupportedMediaType,
    /// A mapping template failed while rendering (the API's configuration).
    TemplateFailed,
    /// A bug or resource failure inside the gateway.
    Internal,
}

/// An error on the request path.
#[derive(Debug)]
pub struct GatewayError {
    kind: ErrorKind,
    /// Set by the failing site when the kind's usual culprit is not it.
    blame: Option<Blame>,
    source: Option<BoxError>,
}

impl GatewayError {
    /// An error of `kind` without an underlying cause.
    pub fn new(kind: ErrorKind) -> GatewayError {
        GatewayError {
            kind,
            blame: None,
            source: None,
        }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(kind: ErrorKind, source: impl Into<BoxError>) -> GatewayError {
        GatewayError {
            kind,
            blame: None,
            source: Some(source.into()),
        }
    }

    /// The same error, blamed on `blame` instead of the kind's usual
    /// culprit.
    pub fn blamed_on(mut self, blame: Blame) -> GatewayError {
        self.blame = Some(blame);
        self
    }

    /// The kind.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Who is at fault.
    pub fn blame(&self) -> Blame {
        if let Some(blame) = self.blame {
            return blame;
        }
        match self.kind {
            ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed(_)
            | ErrorKind::PayloadTooLarge
            | ErrorKind::HeadersTooLarge
            | ErrorKind::BadRequest
            | ErrorKind::NotImplemented
            | ErrorKind::RequestTimeout
            | ErrorKind::Unauthorized
            | ErrorKind::Forbidden
            | ErrorKind::ApiKeyRefused
            | ErrorKind::PolicyDenied(_)
            | ErrorKind::TooManyRequests(_)
            | ErrorKind::LimitExceeded(_)
            | ErrorKind::SignatureRefused(_)
            | ErrorKind::InvalidRequest(_)
            | ErrorKind::InvalidParameters(_)
            | ErrorKind::UnsupportedMediaType => Blame::Downstream,
            ErrorKind::PluginFailed | ErrorKind::AuthorizerFailed | ErrorKind::FunctionFailed => {
                Blame::Plugin
            }
            ErrorKind::UpstreamUnreachable
            | ErrorKind::UpstreamTimeout
            | ErrorKind::UpstreamOverloaded => Blame::Upstream,
            ErrorKind::Internal | ErrorKind::TemplateFailed => Blame::Internal,
        }
    }

    /// The status the client receives.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorKind::BadRequest
            | ErrorKind::InvalidRequest(_)
            | ErrorKind::InvalidParameters(_) => StatusCode::BAD_REQUEST,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden
            | ErrorKind::ApiKeyRefused
            | ErrorKind::PolicyDenied(_)
            | ErrorKind::SignatureRefused(_) => StatusCode::FORBIDDEN,
            ErrorKind::FunctionFailed => StatusCode::BAD_GATEWAY,
            ErrorKind::PluginFailed | ErrorKind::AuthorizerFailed => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ErrorKind::UpstreamUnreachable => StatusCode::BAD_GATEWAY,
            ErrorKind::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::UpstreamOverloaded => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::TooManyRequests(_) | ErrorKind::LimitExceeded(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Internal | ErrorKind::TemplateFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message the client sees, worded as Amazon API Gateway words it.
    pub fn public_message(&self) -> &str {
        match &self.kind {
            ErrorKind::NotFound => "Not Found",
            ErrorKind::MethodNotAllowed(_) => "Method Not Allowed",
            ErrorKind::PayloadTooLarge => "Request Entity Too Large",
            ErrorKind::HeadersTooLarge => "Request Header Fields Too Large",
            ErrorKind::BadRequest => "Bad Request",
            ErrorKind::NotImplemented => "Not Implemented",
            ErrorKind::RequestTimeout => "Request Timeout",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::Forbidden | ErrorKind::ApiKeyRefused => "Forbidden",
            ErrorKind::PolicyDenied(false) => "User is not authorized to access this resource",
            ErrorKind::PolicyDenied(true) => {
                "User is not authorized to access this resource with an explicit deny"
            }
            ErrorKind::PluginFailed | ErrorKind::AuthorizerFailed | ErrorKind::FunctionFailed => {
                "Internal server error"
            }
            ErrorKind::UpstreamUnreachable => "Bad Gateway",
            ErrorKind::UpstreamTimeout => "Endpoint request timed out",
            ErrorKind::UpstreamOverloaded => "Service Unavailable",
            ErrorKind::TooManyRequests(_) => "Too Many Requests",
            ErrorKind::LimitExceeded(_) => "Limit Exceeded",
            ErrorKind::SignatureRefused(message)
            | ErrorKind::InvalidRequest(message)
            | ErrorKind::InvalidParameters(message) => message,
            ErrorKind::UnsupportedMediaType => "Unsupported Media Type",
            ErrorKind::Internal | ErrorKind::TemplateFailed => "Internal server error",
        }
    }

    /// API Gateway's gateway response type for this error, which an API's
    /// `gateway_responses` may customise.
    pub fn response_type(&self) -> ResponseType {
        match &self.kind {
            ErrorKind::NotFound => ResponseType::ResourceNotFound,
            ErrorKind::PayloadTooLarge | ErrorKind::HeadersTooLarge => {
                ResponseType::RequestTooLarge
            }
            ErrorKind::Unauthorized => ResponseType::Unauthorized,
            ErrorKind::Forbidden | ErrorKind::PolicyDenied(_) => ResponseType::AccessDenied,
            ErrorKind::ApiKeyRefused => ResponseType::InvalidApiKey,
            ErrorKind::AuthorizerFailed => ResponseType::AuthorizerFailure,
            ErrorKind::FunctionFailed | ErrorKind::UpstreamUnreachable => {
                ResponseType::IntegrationFailure
            }
            ErrorKind::UpstreamTimeout => ResponseType::IntegrationTimeout,
            ErrorKind::TooManyRequests(_) => ResponseType::Throttled,
            ErrorKind::LimitExceeded(_) => ResponseType::QuotaExceeded,
            ErrorKind::SignatureRefused(message) => {
                if message.starts_with("Missing Authentication Token") {
                    ResponseType::MissingAuthenticationToken
                } else if message.contains("expired") {
                    ResponseType::ExpiredToken
                } else {
                    ResponseType::InvalidSignature
                }
            }
            ErrorKind::InvalidRequest(_) => ResponseType::BadRequestBody,
            ErrorKind::InvalidParameters(_) => ResponseType::BadRequestParameters,
            ErrorKind::PluginFailed | ErrorKind::TemplateFailed => {
                ResponseType::ApiConfigurationError
            }
            ErrorKind::UnsupportedMediaType => ResponseType::UnsupportedMediaType,
            _ if self.status().is_server_error() => ResponseType::Default5xx,
            _ => ResponseType::Default4xx,
        }
    }

    /// The `x-amzn-ErrorType` value, as API Gateway names the error.
    pub fn error_type(&self) -> &'static str {
        match &self.kind {
            ErrorKind::NotFound => "NotFoundException",
            ErrorKind::MethodNotAllowed(_) => "MethodNotAllowedException",
            ErrorKind::PayloadTooLarge | ErrorKind::HeadersTooLarge => "RequestTooLargeException",
            ErrorKind::BadRequest
            | ErrorKind::InvalidRequest(_)
            | ErrorKind::InvalidParameters(_) => "BadRequestException",
            ErrorKind::RequestTimeout => "RequestTimeoutException",
            ErrorKind::Unauthorized => "UnauthorizedException",
            ErrorKind::Forbidden | ErrorKind::PolicyDenied(_) => "AccessDeniedException",
            ErrorKind::ApiKeyRefused => "ForbiddenException",
            ErrorKind::AuthorizerFailed => "AuthorizerConfigurationException",
            ErrorKind::TooManyRequests(_) => "TooManyRequestsException",
            ErrorKind::LimitExceeded(_) => "LimitExceededException",
            ErrorKind::SignatureRefused(message) => {
                if message.starts_with("Missing Authentication Token") {
                    "MissingAuthenticationTokenException"
                } else {
                    "InvalidSignatureException"
                }
            }
            ErrorKind::UpstreamOverloaded => "ServiceUnavailableException",
            ErrorKind::NotImplemented => "NotImplementedException",
            ErrorKind::UnsupportedMediaType => "UnsupportedMediaTypeException",
            ErrorKind::FunctionFailed
            | ErrorKind::PluginFailed
            | ErrorKind::UpstreamUnreachable
            | ErrorKind::UpstreamTimeout
            | ErrorKind::TemplateFailed
            | ErrorKind::Internal => "InternalServerErrorException",
        }
    }

    /// The response for this error: `{"message": "..."}` as JSON.
    pub fn to_response(&self) -> Response<ResponseBody> {
        let body = match &self.kind {
            // The messages not fixed here: quoted by the JSON encoder.
            ErrorKind::SignatureRefused(message)
            | ErrorKind::InvalidRequest(message)
            | ErrorKind::InvalidParameters(message) => {
                Bytes::from(serde_json::json!({ "message": message }).to_string())
            }
            // REST APIs' ACCESS_DENIED answer spells it with a capital M.
            ErrorKind::PolicyDenied(_) => {
                Bytes::from(format!("{{\"Message\":\"{}\"}}", self.public_message()))
            }
            _ => Bytes::from(format!("{{\"message\":\"{}\"}}", self.public_message())),
        };
        let mut response = Response::new(ResponseBody::full(body));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response.headers_mut().insert(
            ERROR_TYPE_HEADER,
            HeaderValue::from_static(self.error_type()),
        );
        match &self.kind {
            ErrorKind::MethodNotAllowed(allow) => {
                response.headers_mut().insert(header::ALLOW, allow.clone());
            }
            ErrorKind::TooManyRequests(seconds) | ErrorKind::LimitExceeded(seconds) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            _ => {}
        }
        response
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.public_message())?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
            let mut next = source.source();
            while let Some(cause) = next {
                write!(f, ": {cause}")?;
                next = cause.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for GatewayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}
