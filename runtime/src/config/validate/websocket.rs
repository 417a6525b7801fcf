//! `protocol = "websocket"`: the route selection expression, `[apis.websocket]`
//! limits, and what a WebSocket API's routes may and may not have.

use std::sync::Arc;

use serde_spanned::Spanned;

use super::Validator;
use crate::config::model::*;
use crate::config::raw::{RawApi, RawRoute};
use crate::config::units;
use crate::router::RouteKey;

/// Whether `protocol` makes the API a WebSocket API.
pub(super) fn is_websocket(v: &mut Validator, api: &RawApi, key: &str) -> bool {
    let Some(protocol) = &api.protocol else {
        return false;
    };
    match protocol.get_ref().to_ascii_lowercase().as_str() {
        "http" | "rest" => false,
        "websocket" => true,
        _ => {
            v.problem(
                protocol.span(),
                format!("{key}.protocol"),
                format!(
                    "`{}` is not a protocol: \"http\" (REST and HTTP APIs, the default) or \"websocket\"",
                    protocol.get_ref()
                ),
            );
            false
        }
    }
}

impl Validator {
    /// A WebSocket API's settings; for another API, a problem for each
    /// WebSocket-only key it sets.
    pub(super) fn websocket(
        &mut self,
        api: &RawApi,
        key: &str,
        websocket: bool,
        authorizers: &[AuthorizerConfig],
    ) -> Option<Arc<WebSocketSettings>> {
        if !websocket {
            if let Some(e) = &api.route_selection_expression {
                self.problem(
                    e.span(),
                    format!("{key}.route_selection_expression"),
                    "a route selection expression needs `protocol = \"websocket\"`",
                );
            }
            if let Some(w) = &api.websocket {
                self.problem(
                    w.span(),
                    format!("{key}.websocket"),
                    "[apis.websocket] needs `protocol = \"websocket\"`",
                );
            }
            return None;
        }
        let selection = match &api.route_selection_expression {
            None => SelectionExpression::default(),
            Some(text) => match SelectionExpression::parse(text.get_ref()) {
                Ok(e) => e,
                Err(why) => {
                    self.problem(
                        text.span(),
                        format!("{key}.route_selection_expression"),
                        why,
                    );
                    SelectionExpression::default()
                }
            },
        };
        let raw = api.websocket.as_ref().map(Spanned::get_ref);
        let at = |field: &str| format!("{key}.websocket.{field}");
        let idle_timeout = self.duration(
            raw.and_then(|r| r.idle_timeout.clone()),
            &at("idle_timeout"),
            DEFAULT_WS_IDLE_TIMEOUT,
        );
        let max_duration = self.duration(
            raw.and_then(|r| r.max_duration.clone()),
            &at("max_duration"),
            DEFAULT_WS_MAX_DURATION,
        );
        let ping = self.duration(
            raw.and_then(|r| r.ping_interval.clone()),
            &at("ping_interval"),
            DEFAULT_WS_PING_INTERVAL,
        );
        let mut size = |value: Option<&Spanned<units::SizeValue>>, field: &str, default: u64| {
            let Some(value) = value else { return default };
            match units::parse_size(value.get_ref()) {
                Ok(n) => n,
                Err(why) => {
                    self.problem(value.span(), at(field), why);
                    default
                }
            }
        };
        let max_frame = size(
            raw.and_then(|r| r.max_frame_size.as_ref()),
            "max_frame_size",
            DEFAULT_WS_MAX_FRAME_BYTES,
        );
        let max_message = size(
            raw.and_then(|r| r.max_message_size.as_ref()),
            "max_message_size",
            DEFAULT_WS_MAX_MESSAGE_BYTES,
        );
        let send_queue = size(
            raw.and_then(|r| r.send_queue_size.as_ref()),
            "send_queue_size",
            DEFAULT_WS_SEND_QUEUE_BYTES,
        );
        for (value, field) in [
            (idle_timeout, "idle_timeout"),
            (max_duration, "max_duration"),
        ] {
            if value.is_zero()
                && let Some(table) = &api.websocket
            {
                self.problem(table.span(), at(field), "must be longer than 0s");
            }
        }
        let management_authorizer = raw
            .and_then(|r| r.management_authorizer.as_ref())
            .and_then(|name| {
                let found = authorizers.iter().position(|a| a.name == *name.get_ref());
                match found.map(|i| (i, &authorizers[i].kind)) {
                    Some((i, AuthorizerKind::SigV4(_))) => Some(i),
                    Some(_) => {
                        self.problem(
                            name.span(),
                            at("management_authorizer"),
                            "`@connections` calls are admitted by a `sigv4` authorizer, as API Gateway requires IAM",
                        );
                        None
                    }
                    None => {
                        self.problem(
                            name.span(),
                            at("management_authorizer"),
                            format!(
                                "no authorizer named `{}` in this API's [apis.authorizers]",
                                name.get_ref()
                            ),
                        );
                        None
                    }
                }
            });
        Some(Arc::new(WebSocketSettings {
            selection,
            idle_timeout,
            max_duration,
            max_frame_bytes: usize::try_from(max_frame).unwrap_or(usize::MAX),
            max_message_bytes: usize::try_from(max_message.max(max_frame)).unwrap_or(usize::MAX),
            ping_interval: (!ping.is_zero()).then_some(ping),
            send_queue_bytes: usize::try_from(send_queue).unwrap_or(usize::MAX),
            management_authorizer,
        }))
    }

    /// What a route of a WebSocket API may not have: authorizers, API keys
    /// and request checks belong to `$connect` (as in API Gateway), mappers
    /// and VTL templates to HTTP routes, two-way answers to message routes.
    /// For an HTTP API's route, `return_response` is the one key to refuse.
    pub(super) fn websocket_route(
        &mut self,
        route: &RawRoute,
        route_key: &RouteKey,
        at: &str,
        websocket: bool,
    ) {
        let flag = route.return_response.as_ref();
        if !websocket {
            if let Some(flag) = flag {
                self.problem(
                    flag.span(),
                    format!("{at}.return_response"),
                    "`return_response` is for the routes of a WebSocket API",
                );
            }
            return;
        }
        let connect = matches!(route_key, RouteKey::Message(k) if k == "$connect");
        let lifecycle = connect || matches!(route_key, RouteKey::Message(k) if k == "$disconnect");
        let span = route.key.span();
        if !connect {
            let connect_only = [
                ("authorizer", route.authorizer.is_some()),
                ("api_key_required", route.api_key_required == Some(true)),
                (
                    "authorization_scopes",
                    !route.authorization_scopes.is_empty(),
                ),
                ("required_query", !route.required_query.is_empty()),
                ("required_headers", !route.required_headers.is_empty()),
            ];
            for (field, set) in connect_only {
                if set {
                    self.problem(
                        span.clone(),
                        format!("{at}.{field}"),
                        format!(
                            "`{field}` applies to a WebSocket API's `$connect` route only: the connection is authorized once, when it opens"
                        ),
                    );
                }
            }
        }
        let http_only = [
            ("mapper", route.mapper.is_some()),
            ("request_models", route.request_models.is_some()),
            ("request_templates", route.request_templates.is_some()),
            ("response_templates", route.response_templates.is_some()),
            ("passthrough_behavior", route.passthrough_behavior.is_some()),
        ];
        for (field, set) in http_only {
            if set {
                self.problem(
                    span.clone(),
                    format!("{at}.{field}"),
                    format!("`{field}` is not supported on a WebSocket API's routes"),
                );
            }
        }
        if let (true, Some(flag)) = (lifecycle, flag)
            && *flag.get_ref()
        {
            self.problem(
                flag.span(),
                format!("{at}.return_response"),
                "`$connect` and `$disconnect` cannot answer with a message: the connection is not open yet, or no longer",
            );
        }
    }
}
