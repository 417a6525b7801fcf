//! The events' JSON, serialized straight from the request: borrowed views
//! in `aws_lambda_events`' field names and shapes. Filling the crate's owned
//! request types first (header maps, hash maps and strings copied) cost
//! more than the whole budget of an event (~3.4 µs of ~6 µs); the tests in
//! `events.rs` read every event back into the crate's types, which keeps
//! these views honest.

use std::borrow::Cow;
use std::collections::BTreeMap;

use http::HeaderMap;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::auth::{Authorized, Via};

/// Which values of a repeated header or query parameter an event shows.
#[derive(Debug, Clone, Copy)]
pub(super) enum Values {
    /// The last one (1.0's `headers`, `queryStringParameters`).
    Last,
    /// All, as a list (1.0's `multiValue…`).
    All,
    /// All, joined with commas (2.0); 2.0 headers leave `cookie` out.
    Joined,
}

/// A request's headers with text values, as an event map.
pub(super) struct Headers<'a> {
    pub map: &'a HeaderMap,
    pub values: Values,
}

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        for name in self.map.keys() {
            if matches!(self.values, Values::Joined) && name == http::header::COOKIE {
                continue;
            }
            let texts = || {
                self.map
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
            };
            match self.values {
                Values::Last => {
                    if let Some(last) = texts().next_back() {
                        out.serialize_entry(name.as_str(), last)?;
                    }
                }
                Values::All => {
                    if texts().next().is_some() {
                        out.serialize_entry(name.as_str(), &Listed(texts))?;
                    }
                }
                Values::Joined => {
                    if texts().next().is_some() {
                        out.serialize_entry(name.as_str(), &Joined(texts))?;
                    }
                }
            }
        }
        out.end()
    }
}

/// Query parameters, decoded, in order.
pub(super) type QueryPairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Decoded query parameters as an event map.
pub(super) struct Query<'a> {
    pub pairs: &'a QueryPairs<'a>,
    pub values: Values,
}

impl Serialize for Query<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        for (at, (name, _)) in self.pairs.iter().enumerate() {
            if self.pairs[..at].iter().any(|(earlier, _)| earlier == name) {
                continue;
            }
            let values = || {
                self.pairs
                    .iter()
                    .filter(move |(n, _)| n == name)
                    .map(|(_, v)| v.as_ref())
            };
            match self.values {
                Values::Last => out.serialize_entry(name, values().next_back().unwrap_or(""))?,
                Values::All => out.serialize_entry(name, &Listed(values))?,
                Values::Joined => out.serialize_entry(name, &Joined(values))?,
            }
        }
        out.end()
    }
}

/// Values as a JSON list.
struct Listed<F>(F);

impl<'v, F, I> Serialize for Listed<F>
where
    F: Fn() -> I,
    I: Iterator<Item = &'v str>,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_seq(None)?;
        for value in (self.0)() {
            out.serialize_element(value)?;
        }
        out.end()
    }
}

/// Values joined with commas.
struct Joined<F>(F);

impl<'v, F, I> Serialize for Joined<F>
where
    F: Fn() -> I,
    I: Iterator<Item = &'v str>,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = String::new();
        for (i, value) in (self.0)().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(value);
        }
        serializer.serialize_str(&text)
    }
}

/// Name-value pairs (path parameters) as a JSON object.
pub(super) struct Pairs<'a>(pub &'a [(&'a str, &'a str)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (*k, *v)))
    }
}

/// `requestContext.identity` of payload 1.0 (every field API Gateway
/// sends; those the gateway cannot know are `null`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Identity<'a> {
    pub cognito_identity_pool_id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub cognito_identity_id: Option<&'a str>,
    pub caller: Option<&'a str>,
    pub source_ip: &'a str,
    pub principal_org_id: Option<&'a str>,
    pub access_key: Option<&'a str>,
    pub cognito_authentication_type: Option<&'a str>,
    pub cognito_authentication_provider: Option<&'a str>,
    pub user_arn: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub user: Option<&'a str>,
    pub api_key: Option<&'a str>,
    pub api_key_id: Option<&'a str>,
}

/// `requestContext` of payload 1.0.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ContextV1<'a> {
    pub account_id: &'a str,
    pub api_id: &'a str,
    pub resource_id: Option<&'a str>,
    pub stage: &'a str,
    pub domain_name: &'a str,
    pub domain_prefix: &'a str,
    pub request_id: &'a str,
    pub protocol: &'a str,
    pub identity: Identity<'a>,
    pub resource_path: &'a str,
    pub path: &'a str,
    pub http_method: &'a str,
    pub request_time: &'a str,
    pub request_time_epoch: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<AuthorizerV1<'a>>,
}

/// A payload 1.0 event: a proxy integration's, or (with `type` and
/// `methodArn`, without a body) a REQUEST authorizer's.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventV1<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method_arn: Option<&'a str>,
    pub resource: &'a str,
    pub path: &'a str,
    pub http_method: &'a str,
    pub headers: Option<Headers<'a>>,
    pub multi_value_headers: Option<Headers<'a>>,
    pub query_string_parameters: Option<Query<'a>>,
    pub multi_value_query_string_parameters: Option<Query<'a>>,
    pub path_parameters: Option<Pairs<'a>>,
    pub stage_variables: Option<&'a BTreeMap<String, String>>,
    pub request_context: ContextV1<'a>,
    /// Outer `None`: no body field (authorizer events); `Some(None)`: null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Option<Cow<'a, str>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_base64_encoded: Option<bool>,
}

/// `requestContext.http` of payload 2.0.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HttpV2<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub protocol: &'a str,
    pub source_ip: &'a str,
    pub user_agent: Option<&'a str>,
}

/// `requestContext` of payload 2.0.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ContextV2<'a> {
    pub account_id: &'a str,
    pub api_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<AuthorizerV2<'a>>,
    pub domain_name: &'a str,
    pub domain_prefix: &'a str,
    pub http: HttpV2<'a>,
    pub request_id: &'a str,
    pub route_key: &'a str,
    pub stage: &'a str,
    pub time: &'a str,
    pub time_epoch: i64,
}

/// A payload 2.0 event: a proxy integration's, or (with `type`,
/// `routeArn` and `identitySource`, without a body) an HTTP API
/// authorizer's.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventV2<'a> {
    pub version: &'a str,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<&'a [String]>,
    pub route_key: &'a str,
    pub raw_path: &'a str,
    pub raw_query_string: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<&'a str>,
    pub headers: Headers<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_string_parameters: Option<Query<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_parameters: Option<Pairs<'a>>,
    pub request_context: ContextV2<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_variables: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_base64_encoded: Option<bool>,
}

/// `requestContext.authorizer` of a 1.0 event: the principal and the
/// context as strings (as REST APIs pass them), or a JWT's claims and
/// scopes.
pub(super) struct AuthorizerV1<'a>(pub &'a Authorized);

impl Serialize for AuthorizerV1<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let authorized = self.0;
        let mut out = serializer.serialize_map(None)?;
        if authorized.via == Via::Jwt {
            out.serialize_entry("claims", &Claims(authorized))?;
            out.serialize_entry("scopes", &authorized.scopes)?;
        } else {
            out.serialize_entry("principalId", &authorized.principal_id)?;
            for (key, value) in &authorized.context {
                out.serialize_entry(key, value)?;
            }
            out.serialize_entry("integrationLatency", &0)?;
        }
        out.end()
    }
}

/// A JWT's claims, from the authorizer's `claims.NAME` context entries.
struct Claims<'a>(&'a Authorized);

impl Serialize for Claims<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.0
                .context
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("claims.")?, v))),
        )
    }
}

/// `requestContext.authorizer` of a 2.0 event: `jwt`, `lambda` (a Lambda
/// authorizer's context with its JSON types) or `iam`.
pub(super) struct AuthorizerV2<'a>(pub &'a Authorized);

impl Serialize for AuthorizerV2<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let authorized = self.0;
        let mut out = serializer.serialize_map(None)?;
        match authorized.via {
            Via::Jwt => {
                out.serialize_entry(
                    "jwt",
                    &JwtV2 {
                        claims: Claims(authorized),
                        scopes: &authorized.scopes,
                    },
                )?;
            }
            Via::SigV4 => {
                let access_key = authorized
                    .context
                    .iter()
                    .find(|(k, _)| k == "accessKeyId")
                    .map(|(_, v)| v.as_str());
                out.serialize_entry(
                    "iam",
                    &IamV2 {
                        access_key,
                        user_id: &authorized.principal_id,
                    },
                )?;
            }
            Via::Lambda | Via::Plugin => {
                out.serialize_entry("principalId", &authorized.principal_id)?;
                out.serialize_entry("integrationLatency", &0)?;
                match &authorized.typed_context {
                    Some(typed) => out.serialize_entry("lambda", &**typed)?,
                    None => out.serialize_entry(
                        "lambda",
                        &authorized
                            .context
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                            .collect::<Map<String, Value>>(),
                    )?,
                }
            }
        }
        out.end()
    }
}

#[derive(Serialize)]
struct JwtV2<'a> {
    claims: Claims<'a>,
    scopes: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IamV2<'a> {
    access_key: Option<&'a str>,
    user_id: &'a str,
}
