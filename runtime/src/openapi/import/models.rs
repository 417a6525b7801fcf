//! Request validation: `x-amazon-apigateway-request-validators`, required
//! parameters, and body models with their `$ref`s resolved.

use serde_json::{Map, Value};

use super::emit::{OutModel, OutRoute};
use super::{Flavor, Importer, Severity, Spec};
use crate::openapi::source::escape;

/// Deepest `$ref` chain followed before a model counts as recursive.
const MAX_REF_DEPTH: usize = 32;

impl Importer<'_> {
    pub(super) fn validators(&mut self, value: &Value, pointer: &str) {
        let Some(validators) = value.as_object() else {
            self.find(Severity::Error, pointer, "expected an object of validators");
            return;
        };
        for (name, v) in validators {
            let flag = |key: &str| v.get(key).and_then(Value::as_bool).unwrap_or(false);
            self.validators.insert(
                name.clone(),
                (
                    flag("validateRequestBody"),
                    flag("validateRequestParameters"),
                ),
            );
        }
    }

    /// The route's required parameters and body models, as its validator
    /// asks.
    pub(super) fn validation(
        &mut self,
        operation: &Value,
        pointer: &str,
        shared_params: &[(String, &Value)],
        route: &mut OutRoute,
    ) {
        let chosen = match operation.get("x-amazon-apigateway-request-validator") {
            Some(Value::String(name)) => Some((
                name.clone(),
                format!("{pointer}/x-amazon-apigateway-request-validator"),
            )),
            Some(_) => {
                self.find(
                    Severity::Error,
                    &format!("{pointer}/x-amazon-apigateway-request-validator"),
                    "expected a validator name",
                );
                return;
            }
            None => self
                .default_validator
                .clone()
                .map(|n| (n, "/x-amazon-apigateway-request-validator".to_owned())),
        };
        let Some((name, at)) = chosen else { return };
        let Some(&(body, parameters)) = self.validators.get(&name) else {
            self.find(Severity::Error, &at, format!("request validator `{name}` is not defined in x-amazon-apigateway-request-validators"));
            return;
        };
        if self.flavor == Flavor::Http {
            self.find(
                Severity::Warning,
                &at,
                "HTTP APIs do not validate requests; the validator is applied as for a REST API",
            );
        }
        let own = super::parameters_of(operation.get("parameters"), pointer);
        let all: Vec<(String, &Value)> = shared_params.iter().cloned().chain(own).collect();
        for (p, parameter) in &all {
            let Some(parameter) = self.deref(parameter, p) else {
                continue;
            };
            let parameter = &parameter;
            let location = parameter.get("in").and_then(Value::as_str).unwrap_or("");
            let required = parameter
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let name = parameter
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            match location {
                "query" if parameters && required => route.required_query.push(name),
                "header" if parameters && required => route.required_headers.push(name),
                "body" if body => {
                    if let Some(schema) = parameter.get("schema") {
                        let consumes = operation
                            .get("consumes")
                            .or_else(|| self.doc.get("consumes"))
                            .and_then(Value::as_array)
                            .and_then(|c| c.first())
                            .and_then(Value::as_str)
                            .unwrap_or("application/json")
                            .to_owned();
                        let schema = schema.clone();
                        if let Some(model) =
                            self.model_for(&schema, &format!("{p}/schema"), &route.key)
                        {
                            route.request_models.insert(consumes, model);
                        }
                    }
                }
                _ => {}
            }
        }
        if body
            && self.spec == Spec::OpenApi3
            && let Some(request_body) = operation.get("requestBody")
        {
            let rp = format!("{pointer}/requestBody");
            let Some(request_body) = self.deref(request_body, &rp) else {
                return;
            };
            let request_body = &request_body;
            for (media, content) in request_body
                .get("content")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Some(schema) = content.get("schema") {
                    let schema = schema.clone();
                    let sp = format!("{rp}/content/{}/schema", escape(media));
                    if let Some(model) = self.model_for(&schema, &sp, &route.key) {
                        route.request_models.insert(media.clone(), model);
                    }
                }
            }
        }
    }

    /// A parameter or request body given by `$ref`, followed.
    fn deref(&mut self, value: &Value, pointer: &str) -> Option<Value> {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Some(value.clone());
        };
        let found = self.lookup(reference).map(|(value, _)| value);
        if found.is_none() {
            self.find(
                Severity::Error,
                &format!("{pointer}/$ref"),
                format!("unresolvable `$ref` `{reference}`"),
            );
        }
        found
    }

    /// The model name for a body schema: the referenced definition's, or a
    /// model made for this route from an inline schema.
    fn model_for(&mut self, schema: &Value, pointer: &str, route_key: &str) -> Option<String> {
        let name = match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) if schema.as_object().is_some_and(|o| o.len() == 1) => {
                reference.rsplit('/').next().unwrap_or(reference).to_owned()
            }
            _ => format!("{}Body", super::sanitize(route_key).replace('-', "_")),
        };
        let name = super::sanitize(&name);
        if self.api.models.contains_key(&name) {
            return Some(name);
        }
        let mut resolved = self.resolve_refs(schema, pointer, 0)?;
        // API Gateway's models and OpenAPI 3.0's schemas are draft 4.
        let draft4 = self.spec == Spec::Swagger2
            || self
                .doc
                .get("openapi")
                .and_then(Value::as_str)
                .is_some_and(|v| v.starts_with("3.0"));
        if draft4 && let Value::Object(o) = &mut resolved {
            o.entry("$schema")
                .or_insert_with(|| "http://json-schema.org/draft-04/schema#".into());
        }
        let schema = match toml::Value::try_from(&resolved) {
            Ok(v) => v,
            Err(e) => {
                self.find(
                    Severity::Error,
                    pointer,
                    format!(
                        "the schema cannot be written as TOML ({e}); null values have no TOML form"
                    ),
                );
                return None;
            }
        };
        self.api.models.insert(name.clone(), OutModel { schema });
        self.model_names.insert(name.clone(), pointer.to_owned());
        Some(name)
    }

    /// The schema with every `$ref` replaced by what it points at:
    /// `#/definitions/X`, `#/components/schemas/X`, any `#/...` pointer, or
    /// API Gateway's model URLs (`https://apigateway.amazonaws.com/restapis/ID/models/X`).
    fn resolve_refs(&mut self, schema: &Value, pointer: &str, depth: usize) -> Option<Value> {
        match schema {
            Value::Object(object) => {
                if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
                    if depth >= MAX_REF_DEPTH {
                        self.find(Severity::Error, pointer, format!("`$ref` `{reference}` is recursive; recursive models cannot be imported"));
                        return None;
                    }
                    let Some((target, at)) = self.lookup(reference) else {
                        self.find(
                            Severity::Error,
                            &format!("{pointer}/$ref"),
                            format!("unresolvable `$ref` `{reference}`"),
                        );
                        return None;
                    };
                    // Problems inside the target are reported where they are.
                    return self.resolve_refs(&target, &at, depth + 1);
                }
                let mut out = Map::new();
                for (key, value) in object {
                    // OpenAPI's annotations validate nothing (and `default:
                    // null` has no TOML form).
                    let annotation = matches!(
                        key.as_str(),
                        "nullable"
                            | "example"
                            | "examples"
                            | "default"
                            | "xml"
                            | "discriminator"
                            | "readOnly"
                            | "writeOnly"
                            | "externalDocs"
                            | "deprecated"
                    ) || key.starts_with("x-");
                    if annotation {
                        continue;
                    }
                    let p = format!("{pointer}/{}", escape(key));
                    out.insert(key.clone(), self.resolve_refs(value, &p, depth)?);
                }
                // OpenAPI 3.0's `nullable: true` is JSON Schema's null type.
                if object.get("nullable").and_then(Value::as_bool) == Some(true)
                    && let Some(Value::String(kind)) = out.get("type").cloned()
                {
                    out.insert(
                        "type".into(),
                        Value::Array(vec![Value::String(kind), "null".into()]),
                    );
                }
                Some(Value::Object(out))
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.resolve_refs(item, &format!("{pointer}/{i}"), depth)?);
                }
                Some(Value::Array(out))
            }
            other => Some(other.clone()),
        }
    }

    /// What `reference` points at, and its pointer.
    fn lookup(&self, reference: &str) -> Option<(Value, String)> {
        if let Some(pointer) = reference.strip_prefix('#') {
            return Some((self.doc.pointer(pointer)?.clone(), pointer.to_owned()));
        }
        if reference.starts_with("https://apigateway.amazonaws.com/restapis/") {
            let name = escape(reference.rsplit('/').next()?);
            for pointer in [
                format!("/definitions/{name}"),
                format!("/components/schemas/{name}"),
            ] {
                if let Some(found) = self.doc.pointer(&pointer) {
                    return Some((found.clone(), pointer));
                }
            }
        }
        None
    }
}
