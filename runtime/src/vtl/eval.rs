//! Rendering a parsed template against one request or response.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use serde_json::Value as Json;

use super::parse::{Expr, Literal, Node, Op, Part, Reference};
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
    regexes: HashMap<String, regex::Regex>,
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
            regexes: HashMap::new(),
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
                Part::Method(name, _) => self.method(&current, name, &args[i])?,
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

    fn regex(&mut self, pattern: &str) -> Result<&regex::Regex, RenderError> {
        if !self.regexes.contains_key(pattern) {
            let compiled = regex::Regex::new(pattern).map_err(|e| {
                RenderError::Template(format!("`{pattern}` is not a regular expression: {e}"))
            })?;
            self.regexes.insert(pattern.to_owned(), compiled);
        }
        Ok(&self.regexes[pattern])
    }

    /// Java's methods on strings, lists, maps and numbers.
    fn method(&mut self, target: &Val, name: &str, args: &[Val]) -> Result<Val, RenderError> {
        let unknown = || {
            RenderError::Template(format!(
                "no method `{name}` with {} arguments on {}",
                args.len(),
                kind(target)
            ))
        };
        Ok(match (target, name, args) {
            (_, "toString", []) => Val::Str(target.to_text()),
            (_, "equals", [x]) => Val::Bool(binary(Op::Eq, target, x) == Val::Bool(true)),
            (Val::Str(s), "length", []) => Val::Int(s.chars().count() as i64),
            (Val::Str(s), "isEmpty", []) => Val::Bool(s.is_empty()),
            (Val::Str(s), "isBlank", []) => Val::Bool(s.trim().is_empty()),
            (Val::Str(s), "contains", [x]) => Val::Bool(s.contains(&x.to_text())),
            (Val::Str(s), "startsWith", [x]) => Val::Bool(s.starts_with(&x.to_text())),
            (Val::Str(s), "endsWith", [x]) => Val::Bool(s.ends_with(&x.to_text())),
            (Val::Str(s), "indexOf", [x]) => Val::Int(char_index(s, s.find(&x.to_text()))),
            (Val::Str(s), "lastIndexOf", [x]) => Val::Int(char_index(s, s.rfind(&x.to_text()))),
            (Val::Str(s), "toLowerCase", []) => Val::Str(s.to_lowercase()),
            (Val::Str(s), "toUpperCase", []) => Val::Str(s.to_uppercase()),
            (Val::Str(s), "trim", []) => Val::Str(s.trim().to_owned()),
            (Val::Str(s), "concat", [x]) => Val::Str(format!("{s}{}", x.to_text())),
            (Val::Str(s), "equalsIgnoreCase", [x]) => {
                Val::Bool(s.eq_ignore_ascii_case(&x.to_text()))
            }
            (Val::Str(s), "charAt", [Val::Int(i)]) => s
                .chars()
                .nth(*i as usize)
                .map_or(Val::Null, |c| Val::Str(c.to_string())),
            (Val::Str(s), "substring", [Val::Int(from)]) => {
                Val::Str(s.chars().skip(*from as usize).collect())
            }
            (Val::Str(s), "substring", [Val::Int(from), Val::Int(to)]) => Val::Str(
                s.chars()
                    .skip(*from as usize)
                    .take((*to - *from).max(0) as usize)
                    .collect(),
            ),
            (Val::Str(s), "replace", [a, b]) => Val::Str(s.replace(&a.to_text(), &b.to_text())),
            (Val::Str(s), "replaceAll" | "replaceFirst", [pattern, with]) => {
                let with = java_replacement(&with.to_text());
                let re = self.regex(&pattern.to_text())?;
                Val::Str(if name == "replaceAll" {
                    re.replace_all(s, with.as_str()).into_owned()
                } else {
                    re.replace(s, with.as_str()).into_owned()
                })
            }
            (Val::Str(s), "matches", [pattern]) => {
                let pattern = format!("^(?:{})$", pattern.to_text());
                Val::Bool(self.regex(&pattern)?.is_match(s))
            }
            (Val::Str(s), "split", [pattern]) => {
                let mut parts: Vec<Val> = self
                    .regex(&pattern.to_text())?
                    .split(s)
                    .map(|p| Val::Str(p.to_owned()))
                    .collect();
                // Java drops trailing empty strings.
                while parts.last().is_some_and(|p| *p == Val::Str(String::new())) {
                    parts.pop();
                }
                Val::List(parts)
            }
            (Val::List(items), "size", []) => Val::Int(items.len() as i64),
            (Val::List(items), "isEmpty", []) => Val::Bool(items.is_empty()),
            (Val::List(items), "get", [Val::Int(i)]) => {
                items.get(*i as usize).cloned().unwrap_or(Val::Null)
            }
            (Val::List(items), "contains", [x]) => Val::Bool(
                items
                    .iter()
                    .any(|i| binary(Op::Eq, i, x) == Val::Bool(true)),
            ),
            (Val::List(items), "indexOf", [x]) => Val::Int(
                items
                    .iter()
                    .position(|i| binary(Op::Eq, i, x) == Val::Bool(true))
                    .map_or(-1, |p| p as i64),
            ),
            (Val::List(items), "subList", [Val::Int(a), Val::Int(b)]) => {
                let (a, b) = ((*a).max(0) as usize, (*b).max(0) as usize);
                Val::List(
                    items
                        .get(a..b.min(items.len()))
                        .unwrap_or_default()
                        .to_vec(),
                )
            }
            (Val::Map(entries), "size", []) => Val::Int(entries.len() as i64),
            (Val::Map(entries), "isEmpty", []) => Val::Bool(entries.is_empty()),
            (Val::Map(_), "get", [k]) => target.get(&k.to_text()).cloned().unwrap_or(Val::Null),
            (Val::Map(_), "containsKey", [k]) => Val::Bool(target.get(&k.to_text()).is_some()),
            (Val::Map(entries), "keySet", []) => {
                Val::List(entries.iter().map(|(k, _)| Val::Str(k.clone())).collect())
            }
            (Val::Map(entries), "values", []) => {
                Val::List(entries.iter().map(|(_, v)| v.clone()).collect())
            }
            (Val::Map(entries), "entrySet", []) => Val::List(
                entries
                    .iter()
                    .map(|(k, v)| {
                        Val::Map(vec![
                            ("key".into(), Val::Str(k.clone())),
                            ("value".into(), v.clone()),
                        ])
                    })
                    .collect(),
            ),
            (Val::Int(i), "intValue" | "longValue", []) => Val::Int(*i),
            (Val::Float(f), "intValue" | "longValue", []) => Val::Int(*f as i64),
            (Val::Int(i), "doubleValue", []) => Val::Float(*i as f64),
            (Val::Float(f), "doubleValue", []) => Val::Float(*f),
            _ => return Err(unknown()),
        })
    }
}

fn is_mutator(name: &str) -> bool {
    matches!(
        name,
        "add" | "addAll" | "put" | "putAll" | "remove" | "clear"
    )
}

fn kind(v: &Val) -> &'static str {
    match v {
        Val::Null => "null",
        Val::Bool(_) => "a boolean",
        Val::Int(_) | Val::Float(_) => "a number",
        Val::Str(_) => "a string",
        Val::List(_) => "a list",
        Val::Map(_) => "a map",
    }
}

fn char_index(s: &str, byte: Option<usize>) -> i64 {
    byte.map_or(-1, |b| s[..b].chars().count() as i64)
}

/// Java's `$1` group references in replacements are Rust's `${1}`.
fn java_replacement(with: &str) -> String {
    let mut out = String::with_capacity(with.len());
    let mut chars = with.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    if next == '$' {
                        out.push_str("$$");
                    } else {
                        out.push(next);
                    }
                }
            }
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str("$$");
                } else {
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
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

fn binary(op: Op, a: &Val, b: &Val) -> Val {
    let numbers = a.as_number().zip(b.as_number());
    match op {
        Op::Eq | Op::Ne => {
            let equal = match (a, b) {
                (Val::Null, Val::Null) => true,
                (Val::Null, _) | (_, Val::Null) => false,
                _ => match numbers {
                    Some((x, y)) => x == y,
                    // Different kinds compare as text, as Velocity does.
                    None => a == b || a.to_text() == b.to_text(),
                },
            };
            Val::Bool(equal == (op == Op::Eq))
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ordering = match (numbers, a, b) {
                (Some((x, y)), _, _) => x.partial_cmp(&y),
                (None, Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
                _ => None,
            };
            let Some(ordering) = ordering else {
                return Val::Null;
            };
            Val::Bool(match op {
                Op::Lt => ordering.is_lt(),
                Op::Le => ordering.is_le(),
                Op::Gt => ordering.is_gt(),
                _ => ordering.is_ge(),
            })
        }
        Op::Add if matches!(a, Val::Str(_)) || matches!(b, Val::Str(_)) => {
            Val::Str(format!("{}{}", a.to_text(), b.to_text()))
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Rem => match (a, b) {
            (Val::Int(x), Val::Int(y)) => {
                let r = match op {
                    Op::Add => x.checked_add(*y),
                    Op::Sub => x.checked_sub(*y),
                    Op::Mul => x.checked_mul(*y),
                    Op::Div => x.checked_div(*y),
                    _ => x.checked_rem(*y),
                };
                r.map_or(Val::Null, Val::Int)
            }
            _ => match numbers {
                Some((x, y)) => Val::Float(match op {
                    Op::Add => x + y,
                    Op::Sub => x - y,
                    Op::Mul => x * y,
                    Op::Div => x / y,
                    _ => x % y,
                }),
                None => Val::Null,
            },
        },
        Op::And | Op::Or => Val::Null,
    }
}

/// `$util.*`.
fn util(name: &str, args: &[Val]) -> Result<Val, RenderError> {
    let text = |i: usize| args.get(i).map(Val::to_text).unwrap_or_default();
    Ok(match (name, args.len()) {
        ("escapeJavaScript", 1) => Val::Str(escape_javascript(&text(0))),
        ("parseJson", 1) => {
            let json: Json = serde_json::from_str(&text(0))
                .map_err(|e| RenderError::Input(format!("$util.parseJson: not JSON: {e}")))?;
            Val::from_json(&json)
        }
        ("urlEncode", 1) => Val::Str(form_urlencoded::byte_serialize(text(0).as_bytes()).collect()),
        ("urlDecode", 1) => Val::Str(
            form_urlencoded::parse(format!("x={}", text(0)).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default(),
        ),
        ("base64Encode", 1) => Val::Str(base64::engine::general_purpose::STANDARD.encode(text(0))),
        ("base64Decode", 1) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text(0).trim())
                .map_err(|e| RenderError::Input(format!("$util.base64Decode: {e}")))?;
            Val::Str(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => {
            return Err(RenderError::Template(format!(
                "`$util.{name}` with {} arguments does not exist",
                args.len()
            )));
        }
    })
}

/// Apache Commons Lang's `StringEscapeUtils.escapeJavaScript`, which API
/// Gateway's `$util.escapeJavaScript` is.
pub fn escape_javascript(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) > 0x7f => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}
