//! A route's `integration`: the keys each type takes, URLs and templates
//! checked against every stage's variables.

use std::collections::BTreeMap;

use http::{HeaderName, HeaderValue, StatusCode};
use serde_spanned::Spanned;

use super::Validator;
use super::routes::RouteScope;
use crate::config::model::*;
use crate::config::raw::{RawIntegration, SpannedStr};
use crate::config::template::{self, BraceParams, Resolved, Template};
use crate::router::RouteKey;
use crate::util::headers::is_hop_by_hop;

impl Validator {
    pub(super) fn integration(
        &mut self,
        raw: &Spanned<RawIntegration>,
        key: &str,
        route_key: &RouteKey,
        scope: &RouteScope<'_>,
    ) -> Option<IntegrationConfig> {
        let RouteScope {
            stages,
            limits,
            plugins,
            upstreams,
            ..
        } = *scope;
        let span = raw.span();
        let raw = raw.get_ref();
        let kind = raw.kind.get_ref().as_str();
        let present = [
            ("url", raw.url.as_ref().map(|s| s.span())),
            ("timeout", raw.timeout.as_ref().map(|s| s.span())),
            (
                "request_headers",
                raw.request_headers.as_ref().map(|s| s.span()),
            ),
            ("status", raw.status.as_ref().map(|s| s.span())),
            ("headers", raw.headers.as_ref().map(|s| s.span())),
            ("body", raw.body.as_ref().map(|s| s.span())),
            ("plugin", raw.plugin.as_ref().map(|s| s.span())),
            (
                "payload_format",
                raw.payload_format.as_ref().map(|s| s.span()),
            ),
        ];
        let reject_keys = |me: &mut Self, allowed: &[&str]| {
            me.keys_of_type(&present, allowed, key, "integrations", kind);
        };
        let param_names = || match route_key {
            RouteKey::Route { path, .. } => path.param_names().collect::<Vec<_>>(),
            RouteKey::Default | RouteKey::Message(_) => Vec::new(),
        };
        match kind {
            "http_proxy" => {
                reject_keys(self, &["url", "timeout", "request_headers"]);
                let Some(url) = &raw.url else {
                    self.problem(
                        span,
                        key.to_owned(),
                        "an `http_proxy` integration needs a `url`",
                    );
                    return None;
                };
                let url_key = format!("{key}.url");
                let template = match Template::parse(url.get_ref(), BraceParams::Allowed) {
                    Ok(t) => t,
                    Err(why) => {
                        self.problem(url.span(), url_key, why);
                        return None;
                    }
                };
                let names = param_names();
                for stage in stages {
                    match template.resolve(&stage.variables, names.iter().copied()) {
                        Ok(resolved) => {
                            if let Err(why) = check_upstream_url(&resolved, upstreams) {
                                self.problem(
                                    url.span(),
                                    url_key.clone(),
                                    stage_context(stages, stage, why),
                                );
                                break;
                            }
                        }
                        Err(why) => {
                            self.problem(
                                url.span(),
                                url_key.clone(),
                                stage_context(stages, stage, why),
                            );
                            break;
                        }
                    }
                }
                let timeout = self.duration(
                    raw.timeout.clone(),
                    &format!("{key}.timeout"),
                    limits.integration_timeout,
                );
                let request_headers = self.header_templates(
                    raw.request_headers.as_ref(),
                    &format!("{key}.request_headers"),
                    stages,
                    &names,
                    true,
                );
                Some(IntegrationConfig::HttpProxy(HttpProxyConfig {
                    url: template,
                    timeout,
                    request_headers,
                }))
            }
            "mock" => {
                reject_keys(self, &["status", "headers", "body"]);
                let status = match &raw.status {
                    None => StatusCode::OK,
                    Some(s) => match u16::try_from(*s.get_ref())
                        .ok()
                        .filter(|c| (200..=599).contains(c))
                        .and_then(|c| StatusCode::from_u16(c).ok())
                    {
                        Some(code) => code,
                        None => {
                            self.problem(
                                s.span(),
                                format!("{key}.status"),
                                format!(
                                    "{} is not an HTTP status between 200 and 599",
                                    s.get_ref()
                                ),
                            );
                            StatusCode::OK
                        }
                    },
                };
                let names = param_names();
                let headers = self.header_templates(
                    raw.headers.as_ref(),
                    &format!("{key}.headers"),
                    stages,
                    &names,
                    false,
                );
                let body = match &raw.body {
                    None => Template::literal(""),
                    Some(b) => match Template::parse(b.get_ref(), BraceParams::Literal) {
                        Ok(t) => {
                            for stage in stages {
                                if let Err(why) = t.resolve(&stage.variables, names.iter().copied())
                                {
                                    self.problem(
                                        b.span(),
                                        format!("{key}.body"),
                                        stage_context(stages, stage, why),
                                    );
                                    break;
                                }
                            }
                            t
                        }
                        Err(why) => {
                            self.problem(b.span(), format!("{key}.body"), why);
                            Template::literal("")
                        }
                    },
                };
                Some(IntegrationConfig::Mock(MockConfig {
                    status,
                    headers,
                    body,
                }))
            }
            "function" => {
                if let Some(timeout) = &raw.timeout {
                    // The plugin's own `timeout` bounds every invocation,
                    // response body included; a second, shorter bound here
                    // would only hide which one fired.
                    self.problem(
                        timeout.span(),
                        format!("{key}.timeout"),
                        "`timeout` does not apply to `function` integrations; set `timeout` in the plugin's [plugins.NAME] table, which bounds each invocation",
                    );
                }
                reject_keys(self, &["plugin", "timeout", "payload_format"]);
                let Some(name) = &raw.plugin else {
                    self.problem(
                        span,
                        key.to_owned(),
                        "a `function` integration needs a `plugin`",
                    );
                    return None;
                };
                let payload_format = self.payload_format(raw.payload_format.as_ref(), key)?;
                if payload_format.is_none()
                    && plugins
                        .iter()
                        .any(|p| p.name == *name.get_ref() && p.world == PluginWorld::Lambda)
                {
                    self.problem(
                        name.span(),
                        format!("{key}.plugin"),
                        format!(
                            "plugin `{}` is a Lambda-style handler; say which event it gets with payload_format = \"1.0\" (REST API) or \"2.0\" (HTTP API)",
                            name.get_ref()
                        ),
                    );
                    return None;
                }
                let world = match payload_format {
                    Some(_) => PluginWorld::Lambda,
                    None => PluginWorld::Function,
                };
                self.plugin_ref(name, format!("{key}.plugin"), plugins, world)
                    .map(|plugin| IntegrationConfig::Function {
                        plugin,
                        payload_format,
                    })
            }
            other => {
                self.problem(
                    raw.kind.span(),
                    format!("{key}.type"),
                    format!("unknown integration type `{other}` (expected `http_proxy`, `mock` or `function`)"),
                );
                None
            }
        }
    }

    pub(super) fn header_templates(
        &mut self,
        raw: Option<&Spanned<BTreeMap<String, SpannedStr>>>,
        key: &str,
        stages: &[StageConfig],
        param_names: &[&str],
        upstream: bool,
    ) -> Vec<(HeaderName, Template)> {
        let Some(raw) = raw else { return Vec::new() };
        let mut out = Vec::new();
        for (name, value) in raw.get_ref() {
            let header_key = format!("{key}.{name}");
            let Ok(header) = HeaderName::try_from(name.as_str()) else {
                self.problem(
                    value.span(),
                    header_key,
                    format!("`{name}` is not a valid header name"),
                );
                continue;
            };
            if upstream && (is_hop_by_hop(&header) || header == http::header::CONTENT_LENGTH) {
                self.problem(
                    value.span(),
                    header_key,
                    format!("`{name}` is managed by the gateway and cannot be set"),
                );
                continue;
            }
            let template = match Template::parse(value.get_ref(), BraceParams::Literal) {
                Ok(t) => t,
                Err(why) => {
                    self.problem(value.span(), header_key, why);
                    continue;
                }
            };
            for stage in stages {
                match template.resolve(&stage.variables, param_names.iter().copied()) {
                    Ok(resolved) => {
                        let text: String = resolved
                            .iter()
                            .map(|r| match r {
                                template::Resolved::Text(t) => t.as_str(),
                                template::Resolved::Param(_)
                                | template::Resolved::Authorizer(_)
                                | template::Resolved::Header(_)
                                | template::Resolved::Query(_) => "x",
                            })
                            .collect();
                        if HeaderValue::try_from(text).is_err() {
                            self.problem(
                                value.span(),
                                header_key.clone(),
                                stage_context(stages, stage, "is not a valid header value".into()),
                            );
                            break;
                        }
                    }
                    Err(why) => {
                        self.problem(
                            value.span(),
                            header_key.clone(),
                            stage_context(stages, stage, why),
                        );
                        break;
                    }
                }
            }
            out.push((header, template));
        }
        out
    }
}
fn stage_context(stages: &[StageConfig], stage: &StageConfig, why: String) -> String {
    if stages.len() == 1 && stage.name == StageName::Default {
        why
    } else {
        format!("in stage `{}`: {why}", stage.name.as_str())
    }
}

/// Checks that a resolved integration URL is an absolute http(s) URL, with
/// sample values standing in for path parameters.
fn check_upstream_url(
    resolved: &[template::Resolved],
    upstreams: &[std::sync::Arc<UpstreamConfig>],
) -> Result<(), String> {
    let sample: String = resolved
        .iter()
        .map(|r| match r {
            template::Resolved::Text(t) => t.as_str(),
            template::Resolved::Param(_)
            | template::Resolved::Authorizer(_)
            | template::Resolved::Header(_)
            | template::Resolved::Query(_) => "p",
        })
        .collect();
    if resolved.iter().any(|r| {
        matches!(
            r,
            template::Resolved::Authorizer(_) | template::Resolved::Header(_)
        )
    }) {
        return Err(
            "`${context.authorizer.KEY}` and `${request.header.NAME}` are for request headers and bodies, not URLs".into(),
        );
    }
    let uri: http::Uri = sample
        .parse()
        .map_err(|e| format!("`{sample}` is not a valid URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("`{sample}` must start with http:// or https://")),
    }
    match uri.authority() {
        Some(a) if !a.host().is_empty() && !a.as_str().contains('@') => {}
        _ => return Err(format!("`{sample}` needs a host (and no user info)")),
    }
    if let Some(Resolved::Param(_)) = resolved.first() {
        return Err("the URL must not start with a path parameter".into());
    }
    if !uri.path().starts_with('/') && !uri.path().is_empty() {
        return Err(format!("`{sample}` has no valid path"));
    }
    if sample.contains('#') {
        return Err(format!("`{sample}` must not contain a fragment"));
    }
    // A host that names an upstream: the scheme says whether it is TLS.
    if let Some(upstream) = uri
        .host()
        .and_then(|h| upstreams.iter().find(|u| u.name == h))
    {
        let https = uri.scheme_str() == Some("https");
        if https != upstream.tls.is_some() {
            return Err(format!(
                "upstream `{}` {}; write {}://{}/...",
                upstream.name,
                if upstream.tls.is_some() {
                    "speaks TLS"
                } else {
                    "has no `tls`"
                },
                if upstream.tls.is_some() {
                    "https"
                } else {
                    "http"
                },
                upstream.name
            ));
        }
        if uri.port().is_some() {
            return Err(format!(
                "`{sample}` names upstream `{}` with a port; its targets have theirs",
                upstream.name
            ));
        }
    }
    Ok(())
}
