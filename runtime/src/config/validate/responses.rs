//! `[apis.gateway_responses.TYPE]`.

use std::collections::BTreeMap;

use http::{HeaderName, StatusCode};
use serde_spanned::Spanned;

use super::Validator;
use crate::config::model::{
    GatewayResponseConfig, GatewayResponses, ResponseTemplate, ResponseType,
};
use crate::config::raw::RawGatewayResponse;

impl Validator {
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
