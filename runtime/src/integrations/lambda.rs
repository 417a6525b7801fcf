//! `function` with a `payload_format`: a Lambda-style handler serves the
//! route, called with the event API Gateway's Lambda proxy integration
//! would send (payload 1.0 or 2.0) and answered as API Gateway reads a
//! proxy response. A handler that raises, a plugin that fails and an answer
//! that is not a proxy response are all API Gateway's 502 `Internal server
//! error`, with a log line saying which.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use http::{Response, header};

use super::{Forwarding, Measured};
use crate::body::{RequestBody, ResponseBody};
use crate::config::{AwsNames, PayloadFormat, StageConfig};
use crate::error::{ErrorKind, GatewayError};
use crate::lambda::{
    RequestView, WebSocketView, is_binary_type, is_textual_type, proxy_event, read_proxy_answer,
    websocket_event,
};
use crate::plugin::LambdaPlugin;

/// A Lambda-style `function` integration compiled for one stage.
pub struct LambdaFunction {
    plugin: Arc<LambdaPlugin>,
    format: PayloadFormat,
    route_key: String,
    stage: String,
    stage_variables: BTreeMap<String, String>,
    param_names: Vec<String>,
    aws: AwsNames,
    binary_media_types: Vec<String>,
    function_arn: String,
}

impl std::fmt::Debug for LambdaFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaFunction")
            .field("plugin", &self.plugin.name())
            .field("format", &self.format)
            .finish()
    }
}

/// What a Lambda-style integration needs to know about its API.
#[derive(Debug, Clone, Copy)]
pub struct LambdaApi<'a> {
    /// `[apis.aws]`.
    pub aws: &'a AwsNames,
    /// `binary_media_types`.
    pub binary_media_types: &'a [String],
}

impl LambdaFunction {
    /// Prepares the integration of `route_key` on `stage`.
    pub fn compile(
        plugin: Arc<LambdaPlugin>,
        format: PayloadFormat,
        api: LambdaApi<'_>,
        stage: &StageConfig,
        route_key: &str,
        param_names: &[&str],
    ) -> LambdaFunction {
        LambdaFunction {
            function_arn: crate::lambda::function_arn(api.aws, plugin.name()),
            plugin,
            format,
            route_key: route_key.to_owned(),
            stage: stage.name.as_str().to_owned(),
            stage_variables: stage.variables.clone(),
            param_names: param_names.iter().map(|n| (*n).to_owned()).collect(),
            aws: api.aws.clone(),
            binary_media_types: api.binary_media_types.to_vec(),
        }
    }

    /// Reads the body, calls the handler with the event, and answers with
    /// what it returned.
    pub async fn invoke(
        &self,
        forwarding: Forwarding<'_>,
        parts: Parts,
        body: Option<RequestBody>,
        params: &[&str],
        measured: &mut Measured,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let mut parts = parts;
        // The handler sees the trace it is part of in its event's headers,
        // as a Lambda function sees API Gateway's `X-Amzn-Trace-Id`.
        if let Some(traceparent) = forwarding.traceparent {
            crate::observe::trace::set_context(
                &mut parts.headers,
                traceparent.clone(),
                forwarding.tracestate,
            );
        }
        let body = super::collect_body(body, forwarding.max_body_bytes).await?;
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let binary = match self.format {
            PayloadFormat::V1 => is_binary_type(content_type, &self.binary_media_types),
            PayloadFormat::V2 => {
                !is_textual_type(content_type)
                    || is_binary_type(content_type, &self.binary_media_types)
            }
        };
        let request_id = forwarding.request_id.to_str().unwrap_or_default();
        let view = RequestView {
            request_id,
            parts: &parts,
            path: forwarding.path,
            stage_path: forwarding.stage_path,
            route_key: &self.route_key,
            stage: &self.stage,
            path_parameters: self
                .param_names
                .iter()
                .map(String::as_str)
                .zip(params.iter().copied())
                .collect(),
            stage_variables: &self.stage_variables,
            source_ip: forwarding.source_ip,
            aws: &self.aws,
            authorized: forwarding.authorized,
            api_key: forwarding
                .api_key
                .map(|k| (k.value.as_str(), k.name.as_str())),
            received: forwarding.received,
        };
        let event = match forwarding.websocket {
            Some(ws) => websocket_event(
                &view,
                &WebSocketView {
                    event_type: ws.event_type,
                    connection_id: ws.connection_id,
                    connected_at: ws.connected_at,
                    close_code: ws.close_code,
                    binary: content_type == Some("application/octet-stream"),
                },
                &body,
            ),
            None => proxy_event(&view, self.format, &body, binary),
        };
        let started = Instant::now();
        let outcome = self
            .plugin
            .handle(request_id, &self.function_arn, &event)
            .await;
        measured.latency = Some(started.elapsed());
        let plugin = self.plugin.name();
        let answer = match outcome {
            Ok(Ok(answer)) => answer,
            Ok(Err(raised)) => {
                tracing::error!(plugin, request_id, error_type = %raised.error_type, error = %raised.error_message, "function raised");
                return Err(GatewayError::with_source(
                    ErrorKind::FunctionFailed,
                    format!(
                        "function `{plugin}` raised {}: {}",
                        raised.error_type, raised.error_message
                    ),
                ));
            }
            Err(failure) => {
                tracing::error!(plugin, request_id, error = %failure, "function failed");
                return Err(GatewayError::with_source(
                    ErrorKind::FunctionFailed,
                    failure,
                ));
            }
        };
        // A WebSocket route's function may return nothing: accepted, no
        // message (API Gateway's reading of a Lambda without an answer).
        let answer = match answer.trim() {
            "" | "null" if forwarding.websocket.is_some() => r#"{"statusCode":200}"#,
            _ => answer.as_str(),
        };
        // WebSocket routes answer in payload 1.0's shape, whatever the
        // route's format.
        let format = match forwarding.websocket {
            Some(_) => PayloadFormat::V1,
            None => self.format,
        };
        let answer = read_proxy_answer(format, answer).map_err(|why| {
            tracing::error!(plugin, request_id, error = %why, "function answered a malformed proxy response");
            GatewayError::with_source(
                ErrorKind::FunctionFailed,
                format!("function `{plugin}`: {why}"),
            )
        })?;
        measured.status = Some(answer.status);
        let mut response = Response::new(ResponseBody::full(answer.body));
        *response.status_mut() = answer.status;
        let mut headers = answer.headers;
        // The body's length is known here; framing is the connection's.
        headers.remove(header::CONTENT_LENGTH);
        super::http_proxy::strip_hop_by_hop(&mut headers);
        *response.headers_mut() = headers;
        Ok(response)
    }
}
