//! Rendering a parsed template against one request or response.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value as Json;

use super::ast::{Expr, Literal, Node, Op, Part, Reference};
use super::functions::{Regexes, binary, method, util};
use super::value::Val;
use super::{Inputs, RenderError};

/// Most evaluation steps (nodes, expressions, loop turns) of one render.
const MAX_STEPS: u64 = 1_000_000;
/// Longest output of one render.
const MAX_OUTPUT: usize = 10 * 1024 * 1024;
/// Longest `[a..b]` range.
const MAX_RANGE: i64 = 100_000;

/// What a body's rendering ended with.
enum Flow {
    Normal,
    Break,
    Stop,
}

/// The state of one render.
pub struct Eval<'a> {
    inputs: &'a Inputs<'a>,
    /// The template's literal JSONPaths, compiled when it was parsed.
    paths: &'a HashMap<String, serde_json_path::JsonPath>,
    /// Variables set by the template; `$context` and `$stageVariables`
    /// are read from the inputs until the template assigns into them.
    vars: HashMap<String, Val>,
    pub out: String,
    steps: u64,
    body_json: OnceLock<Option<Json>>,
    regexes: Regexes,
}

impl<'a> Eval<'a> {
    pub fn new(
        inputs: &'a Inputs<'a>,
        paths: &'a HashMap<String, serde_json_path::JsonPath>,
    ) -> Eval<'a> {
        Eval {
            inputs,
            paths,
            vars: HashMap::new(),
            out: String::new(),
            steps: 0,
            body_json: OnceLock::new(),
            regexes: Regexes::default(),
        }
    }

    /// `$context` after rendering (with what `#set` put there).
    pub fn context(&self) -> Option<&Val> {
        self.var("context")
    }

    /// A variable: one the template set, else `$context` or
    /// `$stageVariables` as given.
    fn var(&self, name: &str) -> Option<&'_ Val> {
        match self.vars.get(name) {
            Some(v) => Some(v),
            None => match name {
                "context" => Some(self.inputs.context),
                "stageVariables" => Some(self.inputs.stage_variables),
                _ => None,
            },
        }
    }

    /// A variable to change: `$context` and `$stageVariables` are copied
    /// from the inputs on their first change.
    fn var_mut(&mut self, name: &str) -> Option<&mut Val> {
        if !self.vars.contains_key(name) {
            let initial = match name {
                "context" => self.inputs.context.clone(),
                "stageVariables" => self.inputs.stage_variables.clone(),
                _ => return None,
            };
            self.vars.insert(name.to_owned(), initial);
        }
        self.vars.get_mut(name)
    }

    pub fn run(&mut self, nodes: &[Node]) -> Result<(), RenderError> {
        self.nodes(nodes).map(|_| ())
    }

    fn step(&mut self) -> Result<(), RenderError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(RenderError::Template(format!(
                "the template took more than {MAX_STEPS} steps"
            )));
        }
        if self.out.len() > MAX_OUTPUT {
            return Err(RenderError::Template(format!(
                "the template wrote more than {MAX_OUTPUT} bytes"
            )));
        }
        Ok(())
    }

    fn nodes(&mut self, nodes: &[Node]) -> Result<Flow, RenderError> {
        for node in nodes {
            self.step()?;
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Ref(r) => {
                    let value = self.reference(r)?;
                    match value {
                        None if !r.quiet => self.out.push_str(&r.source),
                        Some(Val::Null) if !r.quiet && r.parts.is_empty() => {
                            self.out.push_str(&r.source)
                        }
                        Some(v) => v.render(&mut self.out),
                        None => {}
                    }
                }
                Node::Set(target, value) => {
                    let value = self.expr(value)?;
                    self.assign(target, value)?;
                }
                Node::If(branches, otherwise) => {
                    let mut chosen = None;
                    for (condition, body) in branches {
                        if self.expr(condition)?.truthy() {
                            chosen = Some(body);
                            break;
                        }
                    }
                    match self.nodes(chosen.unwrap_or(otherwise))? {
                        Flow::Normal => {}
                        other => return Ok(other),
                    }
                }
                Node::Foreach(name, items, body) => {
                    let items = match self.expr(items)? {
                        Val::List(items) => items,
                        Val::Map(entries) => entries.into_iter().map(|(_, v)| v).collect(),
                        Val::Null => Vec::new(),
                        other => vec![other],
                    };
                    let saved = (
                        self.vars.remove(name),
                        self.vars.remove("foreach"),
                        self.vars.remove("velocityCount"),
                    );
                    let count = items.len();
                    let mut flow = Flow::Normal;
                    for (i, item) in items.into_iter().enumerate() {
                        self.step()?;
                        self.vars.insert(name.clone(), item);
                        self.vars.insert(
                            "foreach".to_owned(),
                            Val::Map(vec![
                                ("index".into(), Val::Int(i as i64)),
                                ("count".into(), Val::Int(i as i64 + 1)),
                                ("hasNext".into(), Val::Bool(i + 1 < count)),
                                ("first".into(), Val::Bool(i == 0)),
                                ("last".into(), Val::Bool(i + 1 == count)),
                            ]),
                        );
                        self.vars
                            .insert("velocityCount".to_owned(), Val::Int(i as i64 + 1));
                        match self.nodes(body)? {
                            Flow::Normal => {}
                            Flow::Break => break,
                            Flow::Stop => {
                                flow = Flow::Stop;
                                break;
                            }
                        }
                    }
                    for (key, old) in [
                        (name.as_str(), saved.0),
                        ("foreach", saved.1),
                        ("velocityCount", saved.2),
                    ] {
                        match old {
                            Some(v) => {
                                self.vars.insert(key.to_owned(), v);
                            }
                            None => {
                                self.vars.remove(key);
                            }
                        }
                    }
                    if let Flow::Stop = flow {
                        return Ok(Flow::Stop);
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Stop => return Ok(Flow::Stop),
            }
        }
        Ok(Flow::Normal)
    }

    fn assign(&mut self, target: &Reference, value: Val) -> Result<(), RenderError> {
        if target.root == "input" || target.root == "util" {
            return Err(RenderError::Template(format!(
                "`{}` cannot be assigned",
                target.source
            )));
        }
        // Indexes are evaluated before the variable is borrowed.
        let mut keys = Vec::with_capacity(target.parts.len());
        for part in &target.parts {
            keys.push(match part {
                Part::Property(name) => Val::Str(name.clone()),
                Part::Index(index) => self.expr(index)?,
                Part::Method(..) => {
                    return Err(RenderError::Template(format!(
                        "`{}` cannot be assigned",
                        target.source
                    )));
                }
            });
        }
        let Some((last, path)) = keys.split_last() else {
            self.vars.insert(target.root.clone(), value);
            return Ok(());
        };
        let mut slot = self
            .vars
            .entry(target.root.clone())
            .or_insert_with(|| Val::Map(Vec::new()));
        for key in path {
            slot = match (slot, key) {
                (Val::List(items), Val::Int(i)) => {
                    match usize::try_from(*i).ok().and_then(|i| items.get_mut(i)) {
                        Some(item) => item,
                        None => return Ok(()),
                    }
                }
                (map @ Val::Map(_), key) => match map.entry_mut(&key.to_text()) {
                    Some(next) => next,
                    None => return Ok(()),
                },
                _ => return Ok(()),
            };
        }
        match (slot, last) {
            (Val::List(items), Val::Int(i)) => {
                if let Some(item) = usize::try_from(*i).ok().and_then(|i| items.get_mut(i)) {
                    *item = value;
                }
            }
            (map @ Val::Map(_), key) => {
                map.put(&key.to_text(), value);
            }
            _ => {}
        }
        Ok(())
    }

    /// The value of a reference; `None` when its variable does not exist.
    fn reference(&mut self, r: &Reference) -> Result<Option<Val>, RenderError> {
        // Arguments and indexes first, so the walk below only reads.
        let mut args = Vec::with_capacity(r.parts.len());
        for part in &r.parts {
            args.push(match part {
                Part::Method(_, exprs) => {
                    let mut values = Vec::with_capacity(exprs.len());
                    for e in exprs {
                        values.push(self.expr(e)?);
                    }
                    values
                }
                Part::Index(e) => vec![self.expr(e)?],
                Part::Property(_) => Vec::new(),
            });
        }
        let (mut current, start) = match r.root.as_str() {
            "input" => match r.parts.first() {
                Some(Part::Property(name) | Part::Method(name, _)) => {
                    (self.input(name, &args[0])?, 1)
                }
                _ => return Ok(None),
            },
            "util" => match r.parts.first() {
                Some(Part::Method(name, _)) => (util(name, &args[0])?, 1),
                _ => return Ok(None),
            },
            root => {
                if let Some(Part::Method(name, _)) = r.parts.last()
                    && is_mutator(name)
                {
                    return self.mutate(r, &args).map(Some);
                }
                let Some(base) = self.var(root) else {
                    return Ok(None);
                };
                let mut value = base;
                let mut start = 0;
                // Properties and indexes borrow; the first method call owns.
                for (i, part) in r.parts.iter().enumerate() {
                    let next = match part {
                        Part::Property(name) => property(value, name),
                        Part::Index(_) => index(value, &args[i][0]),
                        Part::Method(..) => break,
                    };
                    match next {
                        Some(next) => value = next,
                        None => return Ok(Some(Val::Null)),
                    }
                    start = i + 1;
                }
                (value.clone(), start)
            }
        };
        for (i, part) in r.parts.iter().enumerate().skip(start) {
            current = match part {
                Part::Property(name) => property(&current, name).cloned().unwrap_or(Val::Null),
                Part::Index(_) => index(&current, &args[i][0]).cloned().unwrap_or(Val::Null),
                Part::Method(name, _) => method(&mut self.regexes, &current, name, &args[i])?,
            };
        }
        Ok(Some(current))
    }

    /// `$list.add(x)`, `$map.put(k, v)` and the like change the variable.
    fn mutate(&mut self, r: &Reference, args: &[Vec<Val>]) -> Result<Val, RenderError> {
        let Some(mut slot) = self.var_mut(&r.root) else {
            return Ok(Val::Null);
        };
        let (last, path) = r.parts.split_last().expect("a method part");
        for (i, part) in path.iter().enumerate() {
            slot = match (part, slot) {
                (Part::Property(name), Val::Map(entries)) => {
                    match entries.iter_mut().find(|(k, _)| k == name) {
                        Some((_, v)) => v,
                        None => return Ok(Val::Null),
                    }
                }
                (Part::Index(_), Val::List(items)) => {
                    match args[i][0]
                        .as_number()
                        .and_then(|n| items.get_mut(n as usize))
                    {
                        Some(v) => v,
                        None => return Ok(Val::Null),
                    }
                }
                _ => return Ok(Val::Null),
            };
        }
        let Part::Method(name, _) = last else {
            return Ok(Val::Null);
        };
        let args = &args[r.parts.len() - 1];
        Ok(match (name.as_str(), slot, args.as_slice()) {
            ("add", Val::List(items), [x]) => {
                items.push(x.clone());
                Val::Bool(true)
            }
            ("add", Val::List(items), [Val::Int(at), x]) => {
                let at = (*at).clamp(0, items.len() as i64) as usize;
                items.insert(at, x.clone());
                Val::Null
            }
            ("addAll", Val::List(items), [Val::List(more)]) => {
                items.extend(more.iter().cloned());
                Val::Bool(true)
            }
            ("remove", Val::List(items), [Val::Int(at)]) => {
                if (*at as usize) < items.len() {
                    items.remove(*at as usize)
                } else {
                    Val::Null
                }
            }
            ("clear", Val::List(items), []) => {
                items.clear();
                Val::Null
            }
            ("put", map @ Val::Map(_), [k, v]) => map.put(&k.to_text(), v.clone()),
            ("putAll", Val::Map(entries), [Val::Map(more)]) => {
                for (k, v) in more {
                    match entries.iter_mut().find(|(key, _)| key == k) {
                        Some((_, old)) => *old = v.clone(),
                        None => entries.push((k.clone(), v.clone())),
                    }
                }
                Val::Null
            }
            ("remove", Val::Map(entries), [k]) => {
                let key = k.to_text();
                match entries.iter().position(|(e, _)| *e == key) {
                    Some(at) => entries.remove(at).1,
                    None => Val::Null,
                }
            }
            ("clear", Val::Map(entries), []) => {
                entries.clear();
                Val::Null
            }
            (name, _, _) => {
                return Err(RenderError::Template(format!(
                    "`{}`: no method `{name}` with {} arguments",
                    r.source,
                    args.len()
                )));
            }
        })
    }

    fn expr(&mut self, expr: &Expr) -> Result<Val, RenderError> {
        self.step()?;
        Ok(match expr {
            Expr::Literal(l) => match l {
                Literal::Null => Val::Null,
                Literal::Bool(b) => Val::Bool(*b),
                Literal::Int(i) => Val::Int(*i),
                Literal::Float(f) => Val::Float(*f),
                Literal::Str(s) => Val::Str(s.clone()),
            },
            Expr::Interpolated(nodes) => {
                let outer = std::mem::take(&mut self.out);
                let flow = self.nodes(nodes);
                let text = std::mem::replace(&mut self.out, outer);
                flow?;
                Val::Str(text)
            }
            Expr::Ref(r) => self.reference(r)?.unwrap_or(Val::Null),
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.expr(item)?);
                }
                Val::List(out)
            }
            Expr::Range(from, to) => {
                let (from, to) = (self.expr(from)?, self.expr(to)?);
                let (Some(from), Some(to)) = (from.as_number(), to.as_number()) else {
                    return Ok(Val::Null);
                };
                let (from, to) = (from as i64, to as i64);
                if (to - from).abs() > MAX_RANGE {
                    return Err(RenderError::Template(format!(
                        "the range [{from}..{to}] is longer than {MAX_RANGE}"
                    )));
                }
                if from <= to {
                    Val::List((from..=to).map(Val::Int).collect())
                } else {
                    Val::List((to..=from).rev().map(Val::Int).collect())
                }
            }
            Expr::Map(entries) => {
                let mut out = Val::Map(Vec::with_capacity(entries.len()));
                for (k, v) in entries {
                    let key = self.expr(k)?.to_text();
                    let value = self.expr(v)?;
                    out.put(&key, value);
                }
                out
            }
            Expr::Not(inner) => Val::Bool(!self.expr(inner)?.truthy()),
            Expr::Negate(inner) => match self.expr(inner)? {
                Val::Int(i) => Val::Int(i.wrapping_neg()),
                Val::Float(f) => Val::Float(-f),
                _ => Val::Null,
            },
            Expr::Binary(Op::And, a, b) => {
                Val::Bool(self.expr(a)?.truthy() && self.expr(b)?.truthy())
            }
            Expr::Binary(Op::Or, a, b) => {
                Val::Bool(self.expr(a)?.truthy() || self.expr(b)?.truthy())
            }
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                binary(*op, &a, &b)
            }
        })
    }

    /// `$input.body`, `$input.json(path)`, `$input.path(path)`, `$input.params(...)`.
    fn input(&mut self, name: &str, args: &[Val]) -> Result<Val, RenderError> {
        let inputs = self.inputs;
        match (name, args) {
            ("body", []) => Ok(Val::Str(String::from_utf8_lossy(inputs.body).into_owned())),
            ("json", [path]) => {
                let path = path.to_text();
                let found = self.json_path(&path, |nodes| match nodes {
                    [] => String::new(),
                    [one] => one.to_string(),
                    many => Json::Array(many.iter().map(|n| (*n).clone()).collect()).to_string(),
                })?;
                Ok(Val::Str(found))
            }
            ("path", [path]) => {
                let path = path.to_text();
                self.json_path(&path, |nodes| match nodes {
                    [] => Val::Null,
                    [one] => Val::from_json(one),
                    many => Val::List(many.iter().map(|n| Val::from_json(n)).collect()),
                })
            }
            ("params", []) => {
                let map = |pairs: &[(String, String)]| {
                    Val::Map(
                        pairs
                            .iter()
                            .map(|(k, v)| (k.clone(), Val::Str(v.clone())))
                            .collect(),
                    )
                };
                Ok(Val::Map(vec![
                    ("path".into(), map(inputs.path_params)),
                    ("querystring".into(), map(inputs.query)),
                    ("header".into(), map(inputs.headers)),
                ]))
            }
            ("params", [name]) => {
                let name = name.to_text();
                let found = inputs
                    .path_params
                    .iter()
                    .chain(inputs.query.iter())
                    .find(|(k, _)| *k == name)
                    .or_else(|| {
                        inputs
                            .headers
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
                    });
                Ok(Val::Str(found.map(|(_, v)| v.clone()).unwrap_or_default()))
            }
            _ => Err(RenderError::Template(format!(
                "`$input.{name}` with {} arguments does not exist",
                args.len()
            ))),
        }
    }

    /// What `read` makes of the body's nodes at a JSONPath (the
    /// template's own, compiled when it was parsed, or one computed now).
    fn json_path<T>(
        &mut self,
        path: &str,
        read: impl FnOnce(&[&Json]) -> T,
    ) -> Result<T, RenderError> {
        let inputs = self.inputs;
        let body = self
            .body_json
            .get_or_init(|| {
                if inputs.body.iter().all(u8::is_ascii_whitespace) {
                    Some(Json::Object(Default::default()))
                } else {
                    serde_json::from_slice(inputs.body).ok()
                }
            })
            .as_ref()
            .ok_or_else(|| RenderError::Input("the body is not JSON".to_owned()))?;
        if path == "$" {
            return Ok(read(&[body]));
        }
        let computed;
        let compiled = match self.paths.get(path) {
            Some(compiled) => compiled,
            None => {
                computed = serde_json_path::JsonPath::parse(path).map_err(|e| {
                    RenderError::Template(format!("`{path}` is not a JSONPath: {e}"))
                })?;
                &computed
            }
        };
        let nodes = compiled.query(body).all();
        Ok(read(&nodes))
    }
}

fn is_mutator(name: &str) -> bool {
    matches!(
        name,
        "add" | "addAll" | "put" | "putAll" | "remove" | "clear"
    )
}

/// `$map.key` and the Java bean properties Velocity knows on lists and strings.
fn property<'v>(value: &'v Val, name: &str) -> Option<&'v Val> {
    static TRUE: Val = Val::Bool(true);
    static FALSE: Val = Val::Bool(false);
    match value {
        Val::Map(_) => value.get(name),
        Val::List(items) if name == "empty" => Some(if items.is_empty() { &TRUE } else { &FALSE }),
        Val::Str(s) if name == "empty" => Some(if s.is_empty() { &TRUE } else { &FALSE }),
        _ => None,
    }
}

fn index<'v>(value: &'v Val, key: &Val) -> Option<&'v Val> {
    match (value, key) {
        (Val::List(items), Val::Int(i)) => {
            let i = if *i < 0 { items.len() as i64 + i } else { *i };
            items.get(usize::try_from(i).ok()?)
        }
        (Val::Map(_), key) => value.get(&key.to_text()),
        _ => None,
    }
}
