//! `[apis.gateway_responses.TYPE]`, and routes' VTL mapping templates.

use std::collections::BTreeMap;

use http::{HeaderName, StatusCode};
use serde_spanned::Spanned;

use super::Validator;
use crate::config::model::{
    GatewayResponseConfig, GatewayResponses, MappingTemplates, Passthrough, ResponseTemplate,
    ResponseType,
};
use crate::config::raw::{RawGatewayResponse, RawRoute, SpannedStr};

impl Validator {
    /// A route's `request_templates`, `response_templates` and
    /// `passthrough_behavior`; a template's syntax error names its line
    /// and column within the template.
    pub(super) fn templates(
        &mut self,
        route: &RawRoute,
        key: &str,
    ) -> Option<std::sync::Arc<MappingTemplates>> {
        let mut parse = |table: &Option<Spanned<BTreeMap<String, SpannedStr>>>, name: &str| {
            let mut out = Vec::new();
            for (media, text) in table.iter().flat_map(|t| t.get_ref()) {
                let at = format!("{key}.{name}.{media}");
                let valid_media = media.contains('/') && !media.contains(char::is_whitespace);
                if !valid_media {
                    self.problem(text.span(), at, format!("`{media}` is not a media type"));
                    continue;
                }
                match crate::vtl::Template::parse(text.get_ref()) {
                    Ok(template) => out.push((media.to_ascii_lowercase(), template)),
                    Err(e) => self.problem(text.span(), at, format!("template {e}")),
                }
            }
            out
        };
        let request = parse(&route.request_templates, "request_templates");
        let response = parse(&route.response_templates, "response_templates");
        let passthrough = match route
            .passthrough_behavior
            .as_ref()
            .map(|p| (p, p.get_ref().as_str()))
        {
            None | Some((_, "when_no_match")) => Passthrough::WhenNoMatch,
            Some((_, "when_no_templates")) => Passthrough::WhenNoTemplates,
            Some((_, "never")) => Passthrough::Never,
            Some((raw, other)) => {
                self.problem(
                    raw.span(),
                    format!("{key}.passthrough_behavior"),
                    format!("`{other}` is not a passthrough behavior: \"when_no_match\", \"when_no_templates\" or \"never\""),
                );
                Passthrough::WhenNoMatch
            }
        };
        let any = route.request_templates.is_some()
            || route.response_templates.is_some()
            || route.passthrough_behavior.is_some();
        any.then(|| {
            std::sync::Arc::new(MappingTemplates {
                request,
                response,
                passthrough,
            })
        })
    }

    pub(super) fn gateway_responses(
        &mut self,
        raw: &BTreeMap<String, Spanned<RawGatewayResponse>>,
        key: &str,
    ) -> GatewayResponses {
        let mut out = GatewayResponses::new();
        for (name, entry) in raw {
            let entry_key = format!("{key}.gateway_responses.{name}");
            let Some(kind) = ResponseType::parse(name) else {
                let known: Vec<&str> = ResponseType::ALL.iter().map(|(n, _)| *n).collect();
                self.problem(
                    entry.span(),
                    entry_key,
                    format!(
                        "`{name}` is not a gateway response type; one of {}",
                        known.join(", ")
                    ),
                );
                continue;
            };
            let entry = entry.get_ref();
            let status = entry.status.as_ref().and_then(|s| {
                let code = *s.get_ref();
                let status = u16::try_from(code)
                    .ok()
                    .filter(|c| (400..600).contains(c))
                    .and_then(|c| StatusCode::from_u16(c).ok());
                if status.is_none() {
                    self.problem(
                        s.span(),
                        format!("{entry_key}.status"),
                        format!("{code} is not an error status (400-599)"),
                    );
                }
                status
            });
            let mut headers = Vec::new();
            for (header, value) in entry.headers.iter().flat_map(|h| h.get_ref()) {
                let header_key = format!("{entry_key}.headers.{header}");
                let Ok(name) = HeaderName::from_bytes(header.as_bytes()) else {
                    self.problem(
                        value.span(),
                        header_key,
                        format!("`{header}` is not a valid header name"),
                    );
                    continue;
                };
                match ResponseTemplate::parse(value.get_ref()) {
                    Ok(template) => headers.push((name, template)),
                    Err(why) => self.problem(value.span(), header_key, why),
                }
            }
            let body =
                entry
                    .body
                    .as_ref()
                    .and_then(|b| match ResponseTemplate::parse(b.get_ref()) {
                        Ok(template) => Some(template),
                        Err(why) => {
                            self.problem(b.span(), format!("{entry_key}.body"), why);
                            None
                        }
                    });
            out.insert(
                kind,
                GatewayResponseConfig {
                    status,
                    headers,
                    body,
                },
            );
        }
        out
    }
}
