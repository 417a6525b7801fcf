//! The events API Gateway sends to Lambda functions and authorizers, built
//! from a request (their JSON shapes are in `wire.rs`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
use base64::Engine as _;
use http::HeaderMap;
use http::request::Parts;

use super::wire::{
    AuthorizerV1, AuthorizerV2, ContextV1, ContextV2, EventV1, EventV2, Headers, HttpV2, Identity,
    Pairs, Query, QueryPairs, Values,
};
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
    /// The API key the request was accounted to, if any: its value and its
    /// name (API Gateway's key id).
    pub api_key: Option<(&'a str, &'a str)>,
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

/// The host the client asked for, without a port.
fn host(parts: &Parts) -> &str {
    let authority = parts
        .uri
        .authority()
        .map(|a| a.host())
        .or_else(|| header_str(&parts.headers, http::header::HOST))
        .unwrap_or("");
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => authority,
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

/// A body as a Lambda event carries it: text, or base64 when `binary`
/// (or not UTF-8); `None` when empty.
fn event_body(body: &[u8], binary: bool) -> (Option<Cow<'_, str>>, bool) {
    if body.is_empty() {
        return (None, false);
    }
    match (binary, std::str::from_utf8(body)) {
        (false, Ok(text)) => (Some(Cow::Borrowed(text)), false),
        _ => (
            Some(Cow::Owned(
                base64::engine::general_purpose::STANDARD.encode(body),
            )),
            true,
        ),
    }
}

/// What every event of a request shares, computed once.
struct Common<'a> {
    query: QueryPairs<'a>,
    host: &'a str,
    source_ip: String,
    time: String,
    user_agent: Option<&'a str>,
}

impl<'a> Common<'a> {
    fn of(view: &RequestView<'a>) -> Common<'a> {
        Common {
            query: view
                .parts
                .uri
                .query()
                .map(|q| form_urlencoded::parse(q.as_bytes()).collect())
                .unwrap_or_default(),
            host: host(view.parts),
            source_ip: view.source_ip.to_string(),
            time: request_time(view.received),
            user_agent: header_str(&view.parts.headers, http::header::USER_AGENT),
        }
    }
}

fn v1<'a>(
    view: &'a RequestView<'a>,
    common: &'a Common<'a>,
    authorizer: Option<AuthorizerV1<'a>>,
) -> EventV1<'a> {
    let headers = &view.parts.headers;
    let has_headers = !headers.is_empty();
    let has_query = !common.query.is_empty();
    let resource = resource(view.route_key);
    let sigv4 = view.authorized.filter(|a| a.via == Via::SigV4);
    EventV1 {
        kind: None,
        method_arn: None,
        resource,
        path: view.stage_path,
        http_method: view.parts.method.as_str(),
        headers: has_headers.then_some(Headers {
            map: headers,
            values: Values::Last,
        }),
        multi_value_headers: has_headers.then_some(Headers {
            map: headers,
            values: Values::All,
        }),
        query_string_parameters: has_query.then_some(Query {
            pairs: &common.query,
            values: Values::Last,
        }),
        multi_value_query_string_parameters: has_query.then_some(Query {
            pairs: &common.query,
            values: Values::All,
        }),
        path_parameters: (!view.path_parameters.is_empty()).then_some(Pairs(&view.path_parameters)),
        stage_variables: (!view.stage_variables.is_empty()).then_some(view.stage_variables),
        request_context: ContextV1 {
            account_id: &view.aws.account_id,
            api_id: &view.aws.api_id,
            resource_id: None,
            stage: view.stage,
            domain_name: common.host,
            domain_prefix: common.host.split('.').next().unwrap_or(""),
            request_id: view.request_id,
            protocol: protocol(view.parts),
            identity: Identity {
                cognito_identity_pool_id: None,
                account_id: None,
                cognito_identity_id: None,
                caller: sigv4.map(|a| a.principal_id.as_str()),
                source_ip: &common.source_ip,
                principal_org_id: None,
                access_key: sigv4.and_then(|a| {
                    a.context
                        .iter()
                        .find(|(k, _)| k == "accessKeyId")
                        .map(|(_, v)| v.as_str())
                }),
                cognito_authentication_type: None,
                cognito_authentication_provider: None,
                user_arn: None,
                user_agent: common.user_agent,
                user: sigv4.map(|a| a.principal_id.as_str()),
                api_key: view.api_key.map(|(value, _)| value),
                api_key_id: view.api_key.map(|(_, name)| name),
            },
            resource_path: resource,
            path: view.path,
            http_method: view.parts.method.as_str(),
            request_time: &common.time,
            request_time_epoch: millis(view.received),
            authorizer,
        },
        body: None,
        is_base64_encoded: None,
    }
}

fn v2<'a>(
    view: &'a RequestView<'a>,
    common: &'a Common<'a>,
    authorizer: Option<AuthorizerV2<'a>>,
) -> EventV2<'a> {
    let headers = &view.parts.headers;
    EventV2 {
        version: "2.0",
        kind: None,
        route_arn: None,
        identity_source: None,
        route_key: view.route_key,
        raw_path: view.path,
        raw_query_string: view.parts.uri.query().unwrap_or(""),
        cookies: headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect(),
        headers: Headers {
            map: headers,
            values: Values::Joined,
        },
        query_string_parameters: (!common.query.is_empty()).then_some(Query {
            pairs: &common.query,
            values: Values::Joined,
        }),
        path_parameters: (!view.path_parameters.is_empty()).then_some(Pairs(&view.path_parameters)),
        request_context: ContextV2 {
            account_id: &view.aws.account_id,
            api_id: &view.aws.api_id,
            authorizer,
            domain_name: common.host,
            domain_prefix: common.host.split('.').next().unwrap_or(""),
            http: HttpV2 {
                method: view.parts.method.as_str(),
                path: view.path,
                protocol: protocol(view.parts),
                source_ip: &common.source_ip,
                user_agent: common.user_agent,
            },
            request_id: view.request_id,
            route_key: view.route_key,
            stage: view.stage,
            time: &common.time,
            time_epoch: millis(view.received),
        },
        stage_variables: (!view.stage_variables.is_empty()).then_some(view.stage_variables),
        body: None,
        is_base64_encoded: None,
    }
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
    let common = Common::of(view);
    let (body, encoded) = event_body(body, binary);
    let json = match format {
        PayloadFormat::V1 => {
            let mut event = v1(view, &common, view.authorized.map(AuthorizerV1));
            event.body = Some(body);
            event.is_base64_encoded = Some(encoded);
            serde_json::to_string(&event)
        }
        PayloadFormat::V2 => {
            let mut event = v2(view, &common, view.authorized.map(AuthorizerV2));
            event.body = body;
            event.is_base64_encoded = Some(encoded);
            serde_json::to_string(&event)
        }
    };
    // Every value is a string, number or map of them: this cannot fail.
    json.unwrap_or_default()
}

/// What a WebSocket API's event adds to the request: the connection and
/// what happened on it.
#[derive(Debug, Clone, Copy)]
pub struct WebSocketView<'a> {
    /// `CONNECT`, `MESSAGE` or `DISCONNECT`.
    pub event_type: &'a str,
    /// The connection id.
    pub connection_id: &'a str,
    /// When the connection opened.
    pub connected_at: SystemTime,
    /// On `DISCONNECT`: the close code.
    pub close_code: Option<u16>,
    /// On `MESSAGE`: whether it was a binary message.
    pub binary: bool,
}

/// The event API Gateway sends a WebSocket route's Lambda function, as
/// JSON: the handshake's headers and query string on `CONNECT`, the
/// message on `MESSAGE` (base64 when binary), the close code on
/// `DISCONNECT`, and the connection in `requestContext`.
pub fn websocket_event(view: &RequestView<'_>, ws: &WebSocketView<'_>, body: &[u8]) -> String {
    use serde_json::{Map, Value, json};
    let common = Common::of(view);
    let mut context = json!({
        "routeKey": view.route_key,
        "eventType": ws.event_type,
        "extendedRequestId": view.request_id,
        "requestTime": common.time,
        "messageDirection": "IN",
        "stage": view.stage,
        "connectedAt": millis(ws.connected_at),
        "requestTimeEpoch": millis(view.received),
        "identity": {"sourceIp": common.source_ip, "userAgent": common.user_agent},
        "requestId": view.request_id,
        "domainName": common.host,
        "connectionId": ws.connection_id,
        "apiId": view.aws.api_id,
    });
    let mut event = Map::new();
    match ws.event_type {
        "CONNECT" => {
            let headers = &view.parts.headers;
            let last = |values: Values| {
                serde_json::to_value(Headers {
                    map: headers,
                    values,
                })
                .unwrap_or(Value::Null)
            };
            event.insert("headers".into(), last(Values::Last));
            event.insert("multiValueHeaders".into(), last(Values::All));
            if !common.query.is_empty() {
                let query = |values: Values| {
                    serde_json::to_value(Query {
                        pairs: &common.query,
                        values,
                    })
                    .unwrap_or(Value::Null)
                };
                event.insert("queryStringParameters".into(), query(Values::Last));
                event.insert("multiValueQueryStringParameters".into(), query(Values::All));
            }
        }
        "MESSAGE" => {
            context["messageId"] = json!(view.request_id);
            let (text, encoded) = event_body(body, ws.binary);
            event.insert("body".into(), json!(text.unwrap_or_default()));
            event.insert("isBase64Encoded".into(), json!(encoded));
        }
        _ => {
            context["disconnectStatusCode"] = json!(ws.close_code);
            context["disconnectReason"] = json!("");
        }
    }
    if let Some(authorized) = view.authorized {
        context["authorizer"] = serde_json::to_value(AuthorizerV1(authorized)).unwrap_or_default();
    }
    if !view.stage_variables.is_empty() {
        event.insert("stageVariables".into(), json!(view.stage_variables));
    }
    if ws.event_type != "MESSAGE" {
        event.insert("isBase64Encoded".into(), json!(false));
    }
    event.insert("requestContext".into(), context);
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
    let json = match which {
        AuthorizerEvent::Token(token) => {
            let mut event = ApiGatewayCustomAuthorizerRequest::default();
            event.type_ = Some("TOKEN".to_owned());
            event.authorization_token = Some(token.to_owned());
            event.method_arn = Some(arn);
            serde_json::to_string(&event)
        }
        AuthorizerEvent::RequestV1 => {
            let common = Common::of(view);
            let mut event = v1(view, &common, None);
            event.kind = Some("REQUEST");
            event.method_arn = Some(&arn);
            serde_json::to_string(&event)
        }
        AuthorizerEvent::RequestV2(identity) => {
            let common = Common::of(view);
            let mut event = v2(view, &common, None);
            event.kind = Some("REQUEST");
            event.route_arn = Some(&arn);
            event.identity_source = Some(identity);
            serde_json::to_string(&event)
        }
    };
    json.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::apigw::{
        ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayProxyRequest,
        ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest,
    };
    use serde_json::{Value, json};

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
    fn websocket_events_read_as_aws_lambda_events_reads_them() {
        use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
        let parts = parts(
            "/prod?token=t1",
            &[("host", "chat.example.com"), ("user-agent", "ua/1")],
        );
        let aws = aws();
        let variables = BTreeMap::from([("room".to_owned(), "lobby".to_owned())]);
        let mut view = view(&parts, &aws, &variables);
        view.route_key = "$connect";
        let ws = WebSocketView {
            event_type: "CONNECT",
            connection_id: "abcDEF0123456789",
            connected_at: UNIX_EPOCH + std::time::Duration::from_millis(1_428_582_896_000),
            close_code: None,
            binary: false,
        };
        let connect: ApiGatewayWebsocketProxyRequest =
            serde_json::from_str(&websocket_event(&view, &ws, b"")).expect("a CONNECT event");
        let context = &connect.request_context;
        assert_eq!(context.connection_id.as_deref(), Some("abcDEF0123456789"));
        assert_eq!(context.event_type.as_deref(), Some("CONNECT"));
        assert_eq!(context.route_key.as_deref(), Some("$connect"));
        assert_eq!(context.domain_name.as_deref(), Some("chat.example.com"));
        assert_eq!(context.stage.as_deref(), Some("prod"));
        assert_eq!(context.connected_at, 1_428_582_896_000);
        assert_eq!(context.identity.source_ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(connect.query_string_parameters.first("token"), Some("t1"));
        assert_eq!(connect.headers["user-agent"], "ua/1");
        assert_eq!(connect.stage_variables["room"], "lobby");

        view.route_key = "sendmessage";
        let message = WebSocketView {
            event_type: "MESSAGE",
            ..ws
        };
        let event: ApiGatewayWebsocketProxyRequest = serde_json::from_str(&websocket_event(
            &view,
            &message,
            br#"{"action":"sendmessage"}"#,
        ))
        .expect("a MESSAGE event");
        assert_eq!(event.body.as_deref(), Some(r#"{"action":"sendmessage"}"#));
        assert!(!event.is_base64_encoded);
        assert_eq!(event.request_context.message_id.as_deref(), Some("req-1"));
        let binary = WebSocketView {
            binary: true,
            ..message
        };
        let event: ApiGatewayWebsocketProxyRequest =
            serde_json::from_str(&websocket_event(&view, &binary, &[0xff, 0x00]))
                .expect("a binary MESSAGE event");
        assert_eq!(event.body.as_deref(), Some("/wA="));
        assert!(event.is_base64_encoded);

        view.route_key = "$disconnect";
        let gone = WebSocketView {
            event_type: "DISCONNECT",
            close_code: Some(1001),
            ..ws
        };
        let raw: Value = serde_json::from_str(&websocket_event(&view, &gone, b"")).expect("json");
        assert_eq!(raw["requestContext"]["disconnectStatusCode"], 1001);
        assert_eq!(raw["requestContext"]["eventType"], "DISCONNECT");
        assert!(raw.get("headers").is_none());
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
        // aws_lambda_events reads it as what it is.
        let typed: ApiGatewayProxyRequest = serde_json::from_value(event).expect("a 1.0 event");
        assert_eq!(typed.http_method, http::Method::GET);
        assert_eq!(typed.path_parameters["id"], "7");
        assert_eq!(
            typed.multi_value_query_string_parameters.all("a"),
            Some(vec!["1", "2"])
        );
        assert_eq!(typed.request_context.request_id.as_deref(), Some("req-1"));
        assert_eq!(typed.request_context.stage.as_deref(), Some("prod"));
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
        let typed: ApiGatewayV2httpRequest = serde_json::from_value(event).expect("a 2.0 event");
        assert_eq!(typed.request_context.http.method, http::Method::GET);
        assert_eq!(
            typed.cookies,
            Some(vec!["s=1".to_owned(), "t=2".to_owned()])
        );
        assert_eq!(typed.stage_variables["env"], "test");
        assert!(typed.is_base64_encoded);
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
        assert_eq!(request.get("body"), None);
        let typed: ApiGatewayCustomAuthorizerRequestTypeRequest =
            serde_json::from_value(request).expect("a REQUEST event");
        assert_eq!(typed.type_.as_deref(), Some("REQUEST"));
        assert!(
            typed
                .method_arn
                .is_some_and(|a| a.ends_with("/prod/GET/pets/7"))
        );
        let v2: Value = serde_json::from_str(&authorizer_event(
            &view,
            AuthorizerEvent::RequestV2(&["Bearer t".to_owned()]),
        ))
        .expect("json");
        assert_eq!(v2["version"], "2.0");
        assert_eq!(v2["identitySource"], json!(["Bearer t"]));
        assert_eq!(v2.get("methodArn"), None);
        let typed: ApiGatewayV2CustomAuthorizerV2Request =
            serde_json::from_value(v2.clone()).expect("a 2.0 authorizer event");
        assert_eq!(typed.identity_source, Some(vec!["Bearer t".to_owned()]));
        assert!(
            v2["routeArn"]
                .as_str()
                .is_some_and(|a| a.ends_with("/prod/GET/pets/7"))
        );
    }
}
