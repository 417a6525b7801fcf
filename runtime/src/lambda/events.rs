//! The events API Gateway sends to Lambda functions and authorizers, built
//! from a request.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayProxyRequest, ApiGatewayProxyRequestContext,
    ApiGatewayRequestIdentity, ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription,
};
use aws_lambda_events::query_map::QueryMap;
use base64::Engine as _;
use http::HeaderMap;
use http::request::Parts;
use serde_json::{Map, Value, json};

use crate::auth::{Authorized, Via};
use crate::config::{AwsNames, PayloadFormat};

/// What an event is built from: the request and what the gateway learned
/// about it.
#[derive(Debug)]
pub struct RequestView<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// Method, URI, version and headers as received.
    pub parts: &'a Parts,
    /// The path as received (with the stage's prefix, if any).
    pub path: &'a str,
    /// The path within the stage.
    pub stage_path: &'a str,
    /// The matched route key, e.g. `GET /pets/{id}`, or `$default`.
    pub route_key: &'a str,
    /// The stage's name (`$default` for the default stage).
    pub stage: &'a str,
    /// Path parameters of the matched route.
    pub path_parameters: Vec<(&'a str, &'a str)>,
    /// The stage's variables.
    pub stage_variables: &'a BTreeMap<String, String>,
    /// The client's address.
    pub source_ip: IpAddr,
    /// The API's region, account and id.
    pub aws: &'a AwsNames,
    /// What the route's authorizer said, if it allowed.
    pub authorized: Option<&'a Authorized>,
    /// The API key the request was accounted to, if any.
    pub api_key: Option<&'a str>,
    /// When the request arrived.
    pub received: SystemTime,
}

/// `requestTime` as API Gateway writes it: `09/Apr/2015:12:34:56 +0000`.
pub fn request_time(at: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (year, month, day) = crate::util::time::civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month as usize).saturating_sub(1) % 12],
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The method ARN of a request, which Lambda authorizers' policies name:
/// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`.
pub fn method_arn(view: &RequestView<'_>) -> String {
    format!(
        "arn:aws:execute-api:{}:{}:{}/{}/{}{}",
        view.aws.region,
        view.aws.account_id,
        view.aws.api_id,
        view.stage,
        view.parts.method,
        view.stage_path
    )
}

/// The route's resource path: `/pets/{id}` for `GET /pets/{id}`, `$default`
/// for the default route.
fn resource(route_key: &str) -> &str {
    route_key
        .split_once(' ')
        .map_or(route_key, |(_, path)| path)
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn header_str(headers: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn host(view: &RequestView<'_>) -> String {
    let authority = view
        .parts
        .uri
        .authority()
        .map(|a| a.host())
        .or_else(|| header_str(&view.parts.headers, http::header::HOST))
        .unwrap_or("");
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host.to_owned()
        }
        _ => authority.to_owned(),
    }
}

fn protocol(parts: &Parts) -> &'static str {
    match parts.version {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Headers with text values, (single, multi) as payload 1.0 has them: the
/// single map holds each header's last value. Values that are not UTF-8
/// cannot be JSON strings and are left out.
fn headers_v1(headers: &HeaderMap) -> (HeaderMap, HeaderMap) {
    let mut single = HeaderMap::with_capacity(headers.keys_len());
    let mut multi = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if value.to_str().is_ok() {
            single.insert(name.clone(), value.clone());
            multi.append(name.clone(), value.clone());
        }
    }
    (single, multi)
}

/// Headers as payload 2.0 has them: repeated headers joined with commas,
/// `cookie` moved out into `cookies`.
fn headers_v2(headers: &HeaderMap) -> (HeaderMap, Vec<String>) {
    let mut joined = HeaderMap::with_capacity(headers.keys_len());
    let mut cookies = Vec::new();
    for name in headers.keys() {
        let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
        if name == http::header::COOKIE {
            for value in values {
                cookies.extend(
                    value
                        .split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned),
                );
            }
            continue;
        }
        let Some(first) = values.next() else { continue };
        let mut text = first.to_owned();
        for more in values {
            text.push(',');
            text.push_str(more);
        }
        if let Ok(value) = http::HeaderValue::try_from(text) {
            joined.insert(name.clone(), value);
        }
    }
    (joined, cookies)
}

/// Query parameters, decoded, each name with its values in order.
fn query_values(query: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut values: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(query) = query {
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            values
                .entry(name.into_owned())
                .or_default()
                .push(value.into_owned());
        }
    }
    values
}

fn string_map<'s>(pairs: impl Iterator<Item = (&'s str, &'s str)>) -> HashMap<String, String> {
    pairs.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// A body as a Lambda event carries it: text, or base64 when `binary`
/// (or not UTF-8); `None` when empty.
fn event_body(body: &[u8], binary: bool) -> (Option<String>, bool) {
    if body.is_empty() {
        return (None, false);
    }
    match (binary, std::str::from_utf8(body)) {
        (false, Ok(text)) => (Some(text.to_owned()), false),
        _ => (
            Some(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    }
}

/// `requestContext.authorizer` of a 1.0 event: the principal and the
/// context, its values as strings (as API Gateway passes them); a JWT's
/// claims and scopes; SigV4's caller.
fn authorizer_v1(authorized: Option<&Authorized>) -> Value {
    let Some(authorized) = authorized else {
        return Value::Null;
    };
    let mut out = Map::new();
    match authorized.via {
        Via::Jwt => {
            out.insert("claims".into(), jwt_claims(authorized));
            out.insert("scopes".into(), json!(authorized.scopes));
        }
        _ => {
            out.insert("principalId".into(), json!(authorized.principal_id));
            for (key, value) in &authorized.context {
                out.insert(key.clone(), json!(value));
            }
            out.insert("integrationLatency".into(), json!(0));
        }
    }
    Value::Object(out)
}

fn jwt_claims(authorized: &Authorized) -> Value {
    Value::Object(
        authorized
            .context
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("claims.")?.to_owned(), json!(v))))
            .collect(),
    )
}

/// `requestContext.authorizer` of a 2.0 event: `jwt`, `lambda` (the context
/// with its JSON types) or `iam`.
fn authorizer_v2(authorized: Option<&Authorized>) -> Value {
    let Some(authorized) = authorized else {
        return Value::Null;
    };
    match authorized.via {
        Via::Jwt => json!({"jwt": {"claims": jwt_claims(authorized), "scopes": authorized.scopes}}),
        Via::SigV4 => json!({"iam": {
            "accessKey": authorized.context.iter().find(|(k, _)| k == "accessKeyId").map(|(_, v)| v),
            "userId": authorized.principal_id,
        }}),
        Via::Lambda | Via::Plugin => {
            let lambda = match &authorized.typed_context {
                Some(typed) => Value::Object((**typed).clone()),
                None => Value::Object(
                    authorized
                        .context
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect(),
                ),
            };
            json!({"principalId": authorized.principal_id, "integrationLatency": 0, "lambda": lambda})
        }
    }
}

fn v1_request(view: &RequestView<'_>) -> ApiGatewayProxyRequest {
    let (headers, multi_value_headers) = headers_v1(&view.parts.headers);
    let query = query_values(view.parts.uri.query());
    let last: HashMap<String, String> = query
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.last()?.clone())))
        .collect();
    let resource = resource(view.route_key).to_owned();
    let mut request = ApiGatewayProxyRequest::default();
    request.resource = Some(resource.clone());
    request.path = Some(view.stage_path.to_owned());
    request.http_method = view.parts.method.clone();
    request.headers = headers;
    request.multi_value_headers = multi_value_headers;
    request.query_string_parameters = QueryMap::from(last);
    request.multi_value_query_string_parameters = QueryMap::from(query);
    request.path_parameters = string_map(view.path_parameters.iter().copied());
    request.stage_variables = view
        .stage_variables
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut identity = ApiGatewayRequestIdentity::default();
    identity.source_ip = Some(view.source_ip.to_string());
    identity.user_agent =
        header_str(&view.parts.headers, http::header::USER_AGENT).map(str::to_owned);
    identity.api_key = view.api_key.map(str::to_owned);
    let host = host(view);
    let mut context = ApiGatewayProxyRequestContext::default();
    context.account_id = Some(view.aws.account_id.clone());
    context.apiid = Some(view.aws.api_id.clone());
    context.stage = Some(view.stage.to_owned());
    context.domain_prefix = host.split('.').next().map(str::to_owned);
    context.domain_name = Some(host);
    context.request_id = Some(view.request_id.to_owned());
    context.protocol = Some(protocol(view.parts).to_owned());
    context.identity = identity;
    context.resource_path = Some(resource);
    context.path = Some(view.path.to_owned());
    context.http_method = view.parts.method.clone();
    context.request_time = Some(request_time(view.received));
    context.request_time_epoch = millis(view.received);
    request.request_context = context;
    request
}

fn v2_request(view: &RequestView<'_>) -> ApiGatewayV2httpRequest {
    let (headers, cookies) = headers_v2(&view.parts.headers);
    let host = host(view);
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = view.parts.method.clone();
    http.path = Some(view.path.to_owned());
    http.protocol = Some(protocol(view.parts).to_owned());
    http.source_ip = Some(view.source_ip.to_string());
    http.user_agent = header_str(&view.parts.headers, http::header::USER_AGENT).map(str::to_owned);
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(view.route_key.to_owned());
    context.account_id = Some(view.aws.account_id.clone());
    context.stage = Some(view.stage.to_owned());
    context.request_id = Some(view.request_id.to_owned());
    context.apiid = Some(view.aws.api_id.clone());
    context.domain_prefix = host.split('.').next().map(str::to_owned);
    context.domain_name = Some(host);
    context.time = Some(request_time(view.received));
    context.time_epoch = millis(view.received);
    context.http = http;
    let mut request = ApiGatewayV2httpRequest::default();
    request.version = Some("2.0".to_owned());
    request.route_key = Some(view.route_key.to_owned());
    request.raw_path = Some(view.path.to_owned());
    request.raw_query_string = Some(view.parts.uri.query().unwrap_or("").to_owned());
    request.cookies = (!cookies.is_empty()).then_some(cookies);
    request.headers = headers;
    request.query_string_parameters = QueryMap::from(query_values(view.parts.uri.query()));
    request.path_parameters = string_map(view.path_parameters.iter().copied());
    request.stage_variables = view
        .stage_variables
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    request.request_context = context;
    request
}

/// Sets `key` to `null` when it holds an empty object, as API Gateway sends
/// absent maps in payload 1.0.
fn null_if_empty(object: &mut Map<String, Value>, key: &str) {
    if object
        .get(key)
        .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
    {
        object.insert(key.to_owned(), Value::Null);
    }
}

/// The 1.0 event's object, before the body.
fn v1_object(view: &RequestView<'_>) -> Map<String, Value> {
    // Only text headers are put in, so this is always an object.
    let mut event = match serde_json::to_value(v1_request(view)) {
        Ok(Value::Object(event)) => event,
        _ => Map::new(),
    };
    for key in [
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
    ] {
        null_if_empty(&mut event, key);
    }
    if let Some(Value::Object(context)) = event.get_mut("requestContext") {
        context.insert("authorizer".into(), authorizer_v1(view.authorized));
    }
    event
}

/// The 2.0 event's object, before the body.
fn v2_object(view: &RequestView<'_>) -> Map<String, Value> {
    let mut event = match serde_json::to_value(v2_request(view)) {
        Ok(Value::Object(event)) => event,
        _ => Map::new(),
    };
    if event
        .get("stageVariables")
        .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
    {
        event.remove("stageVariables");
    }
    // The type's fields for version 1.0 authorizer payloads, which HTTP
    // API events do not have.
    for key in [
        "type",
        "methodArn",
        "httpMethod",
        "identitySource",
        "authorizationToken",
        "resource",
    ] {
        event.remove(key);
    }
    if let Some(Value::Object(context)) = event.get_mut("requestContext") {
        match authorizer_v2(view.authorized) {
            Value::Null => context.remove("authorizer"),
            authorizer => context.insert("authorizer".into(), authorizer),
        };
    }
    event
}

/// The proxy integration event for a function, as JSON. `binary` says the
/// body is to be base64-encoded (by the binary media types in 1.0, by its
/// content type in 2.0).
pub fn proxy_event(
    view: &RequestView<'_>,
    format: PayloadFormat,
    body: &[u8],
    binary: bool,
) -> String {
    let mut event = match format {
        PayloadFormat::V1 => v1_object(view),
        PayloadFormat::V2 => v2_object(view),
    };
    let (body, encoded) = event_body(body, binary);
    match (format, body) {
        (PayloadFormat::V2, None) => {}
        (_, body) => {
            event.insert("body".into(), json!(body));
        }
    }
    event.insert("isBase64Encoded".into(), json!(encoded));
    Value::Object(event).to_string()
}

/// Which authorizer event to build.
#[derive(Debug, Clone, Copy)]
pub enum AuthorizerEvent<'t> {
    /// REST's TOKEN event, with the identity source's value.
    Token(&'t str),
    /// REST's REQUEST event (payload 1.0).
    RequestV1,
    /// HTTP APIs' 2.0 authorizer event, with the identity sources' values.
    RequestV2(&'t [String]),
}

/// The event a Lambda authorizer receives, as JSON.
pub fn authorizer_event(view: &RequestView<'_>, which: AuthorizerEvent<'_>) -> String {
    let arn = method_arn(view);
    match which {
        AuthorizerEvent::Token(token) => {
            let mut event = ApiGatewayCustomAuthorizerRequest::default();
            event.type_ = Some("TOKEN".to_owned());
            event.authorization_token = Some(token.to_owned());
            event.method_arn = Some(arn);
            serde_json::to_string(&event).unwrap_or_default()
        }
        AuthorizerEvent::RequestV1 => {
            let mut event = v1_object(view);
            if let Some(Value::Object(context)) = event.get_mut("requestContext") {
                context.remove("authorizer");
            }
            event.remove("body");
            event.remove("isBase64Encoded");
            event.insert("type".into(), json!("REQUEST"));
            event.insert("methodArn".into(), json!(arn));
            Value::Object(event).to_string()
        }
        AuthorizerEvent::RequestV2(identity) => {
            let mut event = v2_object(view);
            if let Some(Value::Object(context)) = event.get_mut("requestContext") {
                context.remove("authorizer");
            }
            event.insert("type".into(), json!("REQUEST"));
            event.insert("routeArn".into(), json!(arn));
            event.insert("identitySource".into(), json!(identity));
            Value::Object(event).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method("GET").uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    fn view<'a>(
        parts: &'a Parts,
        aws: &'a AwsNames,
        variables: &'a BTreeMap<String, String>,
    ) -> RequestView<'a> {
        RequestView {
            request_id: "req-1",
            parts,
            path: "/prod/pets/7",
            stage_path: "/pets/7",
            route_key: "GET /pets/{id}",
            stage: "prod",
            path_parameters: vec![("id", "7")],
            stage_variables: variables,
            source_ip: "192.0.2.1".parse().expect("ip"),
            aws,
            authorized: None,
            api_key: None,
            received: UNIX_EPOCH + std::time::Duration::from_secs(1_428_582_896),
        }
    }

    fn aws() -> AwsNames {
        AwsNames {
            region: "eu-west-1".into(),
            account_id: "123456789012".into(),
            api_id: "abc123".into(),
        }
    }

    #[test]
    fn payload_1_0_has_api_gateway_shape() {
        let parts = parts(
            "/prod/pets/7?a=1&a=2&b=x%20y",
            &[
                ("host", "api.example.com"),
                ("accept", "a"),
                ("accept", "b"),
            ],
        );
        let aws = aws();
        let variables = BTreeMap::new();
        let event: Value = serde_json::from_str(&proxy_event(
            &view(&parts, &aws, &variables),
            PayloadFormat::V1,
            b"",
            false,
        ))
        .expect("json");
        assert_eq!(event["resource"], "/pets/{id}");
        assert_eq!(event["path"], "/pets/7");
        assert_eq!(event["httpMethod"], "GET");
        assert_eq!(event["headers"]["accept"], "b");
        assert_eq!(event["multiValueHeaders"]["accept"], json!(["a", "b"]));
        assert_eq!(event["queryStringParameters"]["a"], "2");
        assert_eq!(event["queryStringParameters"]["b"], "x y");
        assert_eq!(
            event["multiValueQueryStringParameters"]["a"],
            json!(["1", "2"])
        );
        assert_eq!(event["pathParameters"]["id"], "7");
        assert_eq!(event["stageVariables"], Value::Null);
        assert_eq!(event["body"], Value::Null);
        assert_eq!(event["isBase64Encoded"], false);
        let context = &event["requestContext"];
        assert_eq!(context["path"], "/prod/pets/7");
        assert_eq!(context["stage"], "prod");
        assert_eq!(context["requestTime"], "09/Apr/2015:12:34:56 +0000");
        assert_eq!(context["requestTimeEpoch"], 1_428_582_896_000i64);
        assert_eq!(context["identity"]["sourceIp"], "192.0.2.1");
        assert_eq!(context["domainName"], "api.example.com");
        assert_eq!(context["apiId"], "abc123");
    }

    #[test]
    fn payload_2_0_joins_headers_and_splits_cookies() {
        let parts = parts(
            "/prod/pets/7?a=1&a=2",
            &[
                ("host", "api.example.com:8443"),
                ("x-v", "1"),
                ("x-v", "2"),
                ("cookie", "s=1; t=2"),
            ],
        );
        let aws = aws();
        let variables = BTreeMap::from([("env".to_owned(), "test".to_owned())]);
        let event: Value = serde_json::from_str(&proxy_event(
            &view(&parts, &aws, &variables),
            PayloadFormat::V2,
            &[0xff, 0x00],
            false,
        ))
        .expect("json");
        assert_eq!(event["version"], "2.0");
        assert_eq!(event.get("httpMethod"), None);
        assert_eq!(event["routeKey"], "GET /pets/{id}");
        assert_eq!(event["rawPath"], "/prod/pets/7");
        assert_eq!(event["rawQueryString"], "a=1&a=2");
        assert_eq!(event["headers"]["x-v"], "1,2");
        assert_eq!(event["headers"].get("cookie"), None);
        assert_eq!(event["cookies"], json!(["s=1", "t=2"]));
        assert_eq!(event["queryStringParameters"]["a"], "1,2");
        assert_eq!(event["stageVariables"]["env"], "test");
        assert_eq!(event["requestContext"]["http"]["method"], "GET");
        assert_eq!(event["requestContext"]["domainName"], "api.example.com");
        // Not UTF-8: base64 whatever the content type.
        assert_eq!(event["body"], "/wA=");
        assert_eq!(event["isBase64Encoded"], true);
    }

    #[test]
    fn authorizer_events_name_the_method_arn() {
        let parts = parts("/prod/pets/7", &[("authorization", "Bearer t")]);
        let aws = aws();
        let variables = BTreeMap::new();
        let view = view(&parts, &aws, &variables);
        let token: Value =
            serde_json::from_str(&authorizer_event(&view, AuthorizerEvent::Token("Bearer t")))
                .expect("json");
        assert_eq!(
            token,
            json!({"type": "TOKEN", "authorizationToken": "Bearer t",
                   "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/pets/7"})
        );
        let request: Value =
            serde_json::from_str(&authorizer_event(&view, AuthorizerEvent::RequestV1))
                .expect("json");
        assert_eq!(request["type"], "REQUEST");
        assert_eq!(request["headers"]["authorization"], "Bearer t");
        assert_eq!(request["pathParameters"]["id"], "7");
        let v2: Value = serde_json::from_str(&authorizer_event(
            &view,
            AuthorizerEvent::RequestV2(&["Bearer t".to_owned()]),
        ))
        .expect("json");
        assert_eq!(v2["version"], "2.0");
        assert_eq!(v2["identitySource"], json!(["Bearer t"]));
        assert_eq!(v2.get("methodArn"), None);
        assert!(
            v2["routeArn"]
                .as_str()
                .is_some_and(|a| a.ends_with("/prod/GET/pets/7"))
        );
    }
}
