//! API Gateway's mapping templates: the Velocity Template Language with
//! `$input`, `$util`, `$context` and `$stageVariables`, parsed once (a
//! syntax error names its line and column) and rendered per request.
//!
//! Templates run in the gateway rather than in a Wasm mapper: they are
//! configuration, not code the gateway cannot bound, and each render is
//! bounded here (steps, output size, range length) while costing
//! microseconds instead of a plugin invocation in each direction.

mod ast;
mod eval;
mod functions;
mod parse;
mod value;

use std::collections::HashMap;
use std::fmt;

pub use functions::escape_javascript;
pub use parse::SyntaxError;
pub use value::Val;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<parse::Node>,
    /// The literal JSONPaths of `$input.json(...)` / `$input.path(...)`,
    /// compiled once.
    paths: HashMap<String, serde_json_path::JsonPath>,
    /// What of the request it reads, which is worth gathering only then.
    uses: Uses,
}

/// What of the request a template reads besides the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uses {
    /// `$context`.
    pub context: bool,
    /// `$stageVariables`.
    pub stage_variables: bool,
    /// `$input.params`.
    pub params: bool,
}

impl std::ops::BitOr for Uses {
    type Output = Uses;
    fn bitor(self, other: Uses) -> Uses {
        Uses {
            context: self.context || other.context,
            stage_variables: self.stage_variables || other.stage_variables,
            params: self.params || other.params,
        }
    }
}

/// What a template reads: the body, the request's parameters, `$context`
/// and `$stageVariables`.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// `$input.body`: the request body (request templates) or the
    /// integration's response body (response templates).
    pub body: &'a [u8],
    /// Path parameters.
    pub path_params: &'a [(String, String)],
    /// Query-string parameters (the first value of each).
    pub query: &'a [(String, String)],
    /// Request headers.
    pub headers: &'a [(String, String)],
    /// `$context`, a map.
    pub context: &'a Val,
    /// `$stageVariables`, a map.
    pub stage_variables: &'a Val,
}

/// What a render produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The output.
    pub body: String,
    /// `$context.responseOverride.status`, if set.
    pub status: Option<u16>,
    /// `$context.responseOverride.header.NAME` (response templates) or
    /// `$context.requestOverride.header.NAME` (request templates).
    pub headers: Vec<(String, String)>,
}

/// A render that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// The template did something impossible (an unknown method, too many
    /// steps): the API's configuration is at fault.
    Template(String),
    /// The input is not what the template reads (a body that is not JSON).
    Input(String),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Template(m) | RenderError::Input(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RenderError {}

/// Which overrides a render reads back from `$context`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A request template: `$context.requestOverride`.
    Request,
    /// A response template: `$context.responseOverride`.
    Response,
}

impl Template {
    /// Parses template text.
    pub fn parse(text: &str) -> Result<Template, SyntaxError> {
        let nodes = parse::parse(text)?;
        let mut paths = HashMap::new();
        let mut uses = Uses::default();
        parse::visit_references(&nodes, &mut |r| {
            uses.context |= r.root == "context";
            uses.stage_variables |= r.root == "stageVariables";
            uses.params |= r.root == "input"
                && matches!(r.parts.first(), Some(parse::Part::Method(name, _)) if name == "params");
            if r.root == "input"
                && let Some(parse::Part::Method(name, args)) = r.parts.first()
                && (name == "json" || name == "path")
                && let [parse::Expr::Literal(parse::Literal::Str(path))] = args.as_slice()
                && let Ok(compiled) = serde_json_path::JsonPath::parse(path)
            {
                paths.insert(path.clone(), compiled);
            }
        });
        Ok(Template { nodes, paths, uses })
    }

    /// What of the request the template reads (so the caller can skip
    /// gathering the rest).
    pub fn uses(&self) -> Uses {
        self.uses
    }

    /// Renders the template against `inputs`.
    pub fn render(
        &self,
        inputs: &Inputs<'_>,
        direction: Direction,
    ) -> Result<Rendered, RenderError> {
        let mut eval = eval::Eval::new(inputs, &self.paths);
        eval.run(&self.nodes)?;
        let overrides = eval.context().and_then(|c| {
            c.get(match direction {
                Direction::Request => "requestOverride",
                Direction::Response => "responseOverride",
            })
        });
        let status = overrides
            .and_then(|o| o.get("status"))
            .and_then(|s| match s {
                Val::Int(i) => u16::try_from(*i).ok(),
                Val::Str(s) => s.trim().parse().ok(),
                _ => None,
            });
        let headers = match overrides.and_then(|o| o.get("header")) {
            Some(Val::Map(entries)) => entries
                .iter()
                .map(|(k, v)| (k.clone(), v.to_text()))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Rendered {
            body: eval.out,
            status,
            headers,
        })
    }
}

#[cfg(test)]
mod tests;
