//! `[[apis.routes]]`: route keys, the authorizer, mapper and policy a route
//! names, its API key requirement, scopes, request validation and throttle.

use std::ops::Range;
use std::sync::Arc;

use http::HeaderName;

use super::Validator;
use crate::config::model::*;
use crate::config::raw::{self, RawApi};
use crate::router::{RouteKey, Router};

/// What a route may refer to: the rest of its API and of the file,
/// validated already.
#[derive(Clone, Copy)]
pub(super) struct RouteScope<'a> {
    /// The API's stages.
    pub stages: &'a [StageConfig],
    /// `[limits]`, for the integrations' default timeout.
    pub limits: &'a Limits,
    /// The API's authorizers.
    pub authorizers: &'a [AuthorizerConfig],
    /// Every plugin.
    pub plugins: &'a [PluginConfig],
    /// The API's models.
    pub models: &'a [Arc<Model>],
    /// Every upstream.
    pub upstreams: &'a [Arc<UpstreamConfig>],
    /// Whether the API is a WebSocket API.
    pub websocket: bool,
}

impl Validator {
    pub(super) fn routes(
        &mut self,
        api: &RawApi,
        key: &str,
        scope: RouteScope<'_>,
    ) -> Vec<RouteConfig> {
        let RouteScope {
            authorizers,
            plugins,
            models,
            ..
        } = scope;
        let mut parsed: Vec<(RouteConfig, Range<usize>)> = Vec::new();
        for (i, route) in api.routes.iter().enumerate() {
            let route_key_path = format!("{key}.routes[{i}]");
            let route = route.get_ref();
            let parse = match scope.websocket {
                true => RouteKey::parse_message,
                false => RouteKey::parse,
            };
            let route_key = match parse(route.key.get_ref()) {
                Ok(k) => k,
                Err(why) => {
                    self.problem(route.key.span(), format!("{route_key_path}.key"), why);
                    continue;
                }
            };
            let Some(integration) = self.integration(
                &route.integration,
                &format!("{route_key_path}.integration"),
                &route_key,
                &scope,
            ) else {
                continue;
            };
            self.websocket_route(route, &route_key, &route_key_path, scope.websocket);
            let authorizer = match &route.authorizer {
                None => None,
                Some(name) => {
                    let found = authorizers.iter().position(|a| a.name == *name.get_ref());
                    if found.is_none() {
                        self.problem(
                            name.span(),
                            format!("{route_key_path}.authorizer"),
                            format!(
                                "no authorizer named `{}` in this API's [apis.authorizers]",
                                name.get_ref()
                            ),
                        );
                    }
                    found
                }
            };
            let jwt =
                authorizer.is_some_and(|a| matches!(authorizers[a].kind, AuthorizerKind::Jwt(_)));
            if let Some(first) = route.authorization_scopes.first()
                && !jwt
            {
                self.problem(
                    first.span(),
                    format!("{route_key_path}.authorization_scopes"),
                    "authorization scopes need a `jwt` authorizer on the route",
                );
            }
            let mapper = route.mapper.as_ref().and_then(|name| {
                self.plugin_ref(
                    name,
                    format!("{route_key_path}.mapper"),
                    plugins,
                    PluginWorld::Mapper,
                )
            });
            let policy = route
                .policy
                .as_ref()
                .map(|p| self.policy(p, &format!("{route_key_path}.policy")));
            let throttle = route
                .throttle
                .as_ref()
                .map(|t| self.throttle(t, &format!("{route_key_path}.throttle")));
            let templates = self.templates(route, &route_key_path);
            let cache = match (&route.cache, scope.websocket) {
                (Some(c), true) => {
                    self.problem(
                        c.span(),
                        format!("{route_key_path}.cache"),
                        "a WebSocket API's messages are not cached",
                    );
                    None
                }
                (Some(c), false) => {
                    Some(self.route_cache(c, &format!("{route_key_path}.cache"), &route_key))
                }
                (None, _) => None,
            };
            if let (Some(_), Some(name)) = (&templates, &route.mapper) {
                self.problem(
                    name.span(),
                    format!("{route_key_path}.mapper"),
                    "a route maps with a `mapper` plugin or with VTL templates, not both",
                );
            }
            parsed.push((
                RouteConfig {
                    key: route_key,
                    integration,
                    authorizer,
                    mapper,
                    policy,
                    api_key_required: route.api_key_required.unwrap_or(false),
                    authorization_scopes: route
                        .authorization_scopes
                        .iter()
                        .map(|s| s.get_ref().clone())
                        .collect(),
                    validation: self.validation(route, &route_key_path, models),
                    throttle,
                    templates,
                    return_response: route.return_response.as_ref().is_some_and(|r| *r.get_ref()),
                    cache,
                },
                route.key.span(),
            ));
        }
        if let Err(conflicts) = Router::build(parsed.iter().map(|(r, _)| &r.key)) {
            for c in conflicts {
                let (route, span) = &parsed[c.route];
                let (existing, _) = &parsed[c.existing];
                self.problem(
                    span.clone(),
                    format!("{key}.routes"),
                    format!(
                        "route `{}` conflicts with route `{}`: {}",
                        route.key, existing.key, c.reason
                    ),
                );
            }
        }
        parsed.into_iter().map(|(r, _)| r).collect()
    }

    /// A route's validation settings, if it has any.
    pub(super) fn validation(
        &mut self,
        route: &raw::RawRoute,
        key: &str,
        models: &[Arc<Model>],
    ) -> Option<Arc<RequestValidation>> {
        let mut validation = RequestValidation::default();
        if let Some(by_type) = &route.request_models {
            for (media_type, name) in by_type.get_ref() {
                match models.iter().find(|m| m.name == *name.get_ref()) {
                    Some(model) => validation
                        .models
                        .push((media_type.to_ascii_lowercase(), model.clone())),
                    None => self.problem(
                        name.span(),
                        format!("{key}.request_models.{media_type}"),
                        format!("no model `{}` in this API's [apis.models]", name.get_ref()),
                    ),
                }
            }
        }
        validation.required_query = route
            .required_query
            .iter()
            .map(|q| q.get_ref().clone())
            .collect();
        for (i, header) in route.required_headers.iter().enumerate() {
            match HeaderName::try_from(header.get_ref().as_str()) {
                Ok(name) => validation.required_headers.push(name),
                Err(_) => self.problem(
                    header.span(),
                    format!("{key}.required_headers[{i}]"),
                    format!("`{}` is not a header name", header.get_ref()),
                ),
            }
        }
        let empty = validation.models.is_empty()
            && validation.required_query.is_empty()
            && validation.required_headers.is_empty();
        (!empty).then(|| Arc::new(validation))
    }
}
