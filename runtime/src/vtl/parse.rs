//! Velocity Template Language text → syntax tree, with the line and column
//! of the first error.
//!
//! The subset API Gateway's mapping templates use: text, references
//! (`$a`, `${a}`, `$!a`, `$a.b`, `$a.m(args)`, `$a[i]`), `#set`, `#if` /
//! `#elseif` / `#else`, `#foreach` (with `$foreach`), `#break`, `#stop`,
//! comments (`##`, `#* *#`) and unparsed blocks (`#[[ ]]#`). A line that
//! holds only a directive leaves no trace in the output (Velocity 2's
//! "lines" whitespace mode), so templates can be indented freely.

use std::fmt;

pub use super::ast::{Expr, Literal, Node, Op, Part, Reference, visit_references};

/// A syntax error, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Line of the error.
    pub line: usize,
    /// Column of the error.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Parses a whole template.
pub fn parse(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut parser = Parser {
        text,
        pos: 0,
        line_has_content: false,
        depth: 0,
    };
    let (nodes, end) = parser.nodes(&[])?;
    match end {
        End::Eof => Ok(nodes),
        End::Directive(name, at, _) => Err(parser.error_at(
            at,
            format!("`#{name}` without an opening `#if` or `#foreach`"),
        )),
    }
}

/// Deepest nesting of directives and expressions.
const MAX_DEPTH: usize = 64;

struct Parser<'t> {
    text: &'t str,
    pos: usize,
    /// Whether the current line has produced output so far (text or a
    /// reference): a directive alone on its line swallows the line.
    line_has_content: bool,
    depth: usize,
}

/// What ended a body.
enum End {
    Eof,
    /// `#else`, `#elseif`, `#end`, at this byte offset; whether it stood
    /// alone on its line.
    Directive(&'static str, usize, bool),
}

impl<'t> Parser<'t> {
    fn rest(&self) -> &'t str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> SyntaxError {
        let before = &self.text[..at.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        SyntaxError {
            line,
            column,
            message: message.into(),
        }
    }

    fn error(&self, message: impl Into<String>) -> SyntaxError {
        self.error_at(self.pos, message)
    }

    /// Parses nodes until the end of input or one of `terminators`.
    fn nodes(&mut self, terminators: &[&'static str]) -> Result<(Vec<Node>, End), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("directives nested too deeply"));
        }
        let mut nodes = Vec::new();
        let mut text = String::new();
        let end = loop {
            let Some(c) = self.peek() else { break End::Eof };
            match c {
                '#' => {
                    let start = self.pos;
                    let rest = self.rest();
                    if rest.starts_with("##") {
                        // A line comment, with its newline.
                        let line_start = !self.line_has_content;
                        match rest.find('\n') {
                            Some(i) => self.pos += i + 1,
                            None => self.pos = self.text.len(),
                        }
                        // The comment takes its newline with it.
                        if line_start {
                            trim_line_end(&mut text);
                        }
                        self.line_has_content = false;
                        continue;
                    }
                    if rest.starts_with("#*") {
                        match rest.find("*#") {
                            Some(i) => self.pos += i + 2,
                            None => return Err(self.error("`#*` comment without `*#`")),
                        }
                        continue;
                    }
                    if let Some(after) = rest.strip_prefix("#[[") {
                        match after.find("]]#") {
                            Some(i) => {
                                text.push_str(&after[..i]);
                                self.pos += 3 + i + 3;
                                self.line_has_content = true;
                            }
                            None => return Err(self.error("`#[[` without `]]#`")),
                        }
                        continue;
                    }
                    let Some(name) = directive_name(rest) else {
                        text.push('#');
                        self.pos += 1;
                        self.line_has_content = true;
                        continue;
                    };
                    let alone = !self.line_has_content;
                    if terminators.contains(&name) {
                        self.pos += directive_len(rest, name);
                        // `#elseif`'s line ends after its condition.
                        if name == "elseif" {
                            if alone {
                                trim_line_end(&mut text);
                            }
                        } else if alone && self.swallow_line_end() {
                            trim_line_end(&mut text);
                        }
                        break End::Directive(name, start, alone);
                    }
                    if matches!(name, "else" | "elseif" | "end") {
                        break End::Directive(name, start, alone);
                    }
                    flush(&mut text, &mut nodes);
                    let node = self.directive(name, alone, &mut nodes)?;
                    nodes.push(node);
                }
                '$' => match self.reference_in_text()? {
                    Some(reference) => {
                        flush(&mut text, &mut nodes);
                        nodes.push(Node::Ref(reference));
                        self.line_has_content = true;
                    }
                    None => {
                        text.push('$');
                        self.pos += 1;
                        self.line_has_content = true;
                    }
                },
                '\n' => {
                    text.push('\n');
                    self.pos += 1;
                    self.line_has_content = false;
                }
                _ => {
                    text.push(c);
                    self.pos += c.len_utf8();
                    if !c.is_whitespace() {
                        self.line_has_content = true;
                    }
                }
            }
        };
        flush(&mut text, &mut nodes);
        self.depth -= 1;
        Ok((nodes, end))
    }

    /// After a directive: consumes the rest of the line if it is blank.
    fn swallow_line_end(&mut self) -> bool {
        let rest = self.rest();
        let blank = rest.len() - rest.trim_start_matches([' ', '\t', '\r']).len();
        match rest[blank..].chars().next() {
            Some('\n') => {
                self.pos += blank + 1;
                self.line_has_content = false;
                true
            }
            None => {
                self.pos += blank;
                true
            }
            _ => false,
        }
    }

    /// Parses a directive other than a terminator; the cursor is on `#`.
    /// `alone`: nothing but spaces precedes it on its line.
    fn directive(
        &mut self,
        name: &'static str,
        alone: bool,
        nodes: &mut [Node],
    ) -> Result<Node, SyntaxError> {
        let start = self.pos;
        self.pos += directive_len(self.rest(), name);
        let trim_before = |nodes: &mut [Node]| {
            if let Some(Node::Text(t)) = nodes.last_mut() {
                trim_line_end(t);
            }
        };
        let node = match name {
            "set" => {
                self.open_paren("#set")?;
                self.skip_space();
                if self.peek() != Some('$') {
                    return Err(
                        self.error("`#set` needs a reference to assign: `#set($name = value)`")
                    );
                }
                let target = self.reference()?;
                self.skip_space();
                if !self.eat("=") {
                    return Err(self.error("`#set` needs `=`"));
                }
                let value = self.expr()?;
                self.close_paren("#set")?;
                Node::Set(target, value)
            }
            "if" => {
                self.open_paren("#if")?;
                let condition = self.expr()?;
                self.close_paren("#if")?;
                if alone && self.swallow_line_end() {
                    trim_before(nodes);
                }
                let mut branches = Vec::new();
                let mut current = condition;
                loop {
                    let (body, end) = self.nodes(&["elseif", "else", "end"])?;
                    match end {
                        End::Directive("elseif", _, alone) => {
                            branches.push((current, body));
                            self.open_paren("#elseif")?;
                            current = self.expr()?;
                            self.close_paren("#elseif")?;
                            if alone {
                                self.swallow_line_end();
                            }
                        }
                        End::Directive("else", _, _) => {
                            branches.push((current, body));
                            let (otherwise, end) = self.nodes(&["end"])?;
                            if !matches!(end, End::Directive("end", ..)) {
                                return Err(self.error_at(start, "`#if` without `#end`"));
                            }
                            return Ok(Node::If(branches, otherwise));
                        }
                        End::Directive("end", ..) => {
                            branches.push((current, body));
                            return Ok(Node::If(branches, Vec::new()));
                        }
                        _ => return Err(self.error_at(start, "`#if` without `#end`")),
                    }
                }
            }
            "foreach" => {
                self.open_paren("#foreach")?;
                self.skip_space();
                if !self.eat("$") {
                    return Err(
                        self.error("`#foreach` needs a loop variable: `#foreach($item in $list)`")
                    );
                }
                let name = self
                    .identifier()
                    .ok_or_else(|| self.error("`#foreach` needs a loop variable name"))?;
                self.skip_space();
                if !self.eat_word("in") {
                    return Err(self.error("`#foreach` needs `in`: `#foreach($item in $list)`"));
                }
                let items = self.expr()?;
                self.close_paren("#foreach")?;
                if alone && self.swallow_line_end() {
                    trim_before(nodes);
                }
                let (body, end) = self.nodes(&["end"])?;
                if !matches!(end, End::Directive("end", ..)) {
                    return Err(self.error_at(start, "`#foreach` without `#end`"));
                }
                return Ok(Node::Foreach(name, items, body));
            }
            "break" => Node::Break,
            "stop" => Node::Stop,
            _ => return Err(self.error_at(start, format!("unknown directive `#{name}`"))),
        };
        if alone && self.swallow_line_end() {
            trim_before(nodes);
        }
        Ok(node)
    }

    fn open_paren(&mut self, directive: &str) -> Result<(), SyntaxError> {
        self.skip_space();
        if self.eat("(") {
            Ok(())
        } else {
            Err(self.error(format!("`{directive}` needs `(`")))
        }
    }

    fn close_paren(&mut self, directive: &str) -> Result<(), SyntaxError> {
        self.skip_space();
        if self.eat(")") {
            Ok(())
        } else {
            Err(self.error(format!("`{directive}(` without a closing `)`")))
        }
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// A keyword followed by something that cannot continue a name.
    fn eat_word(&mut self, word: &str) -> bool {
        let rest = self.rest();
        if rest.starts_with(word)
            && !rest[word.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn identifier(&mut self) -> Option<String> {
        let rest = self.rest();
        let first = rest.chars().next()?;
        if !(first.is_ascii_alphabetic() || first == '_') {
            return None;
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        // A trailing `-` belongs to the text, not the name (`$a-` …).
        let len = rest[..len].trim_end_matches('-').len();
        self.pos += len;
        Some(rest[..len].to_owned())
    }

    /// A reference in text: `None` when the `$` starts none (it is text).
    fn reference_in_text(&mut self) -> Result<Option<Reference>, SyntaxError> {
        let rest = self.rest();
        let after = rest.strip_prefix('$').unwrap_or(rest);
        let after = after.strip_prefix('!').unwrap_or(after);
        let after = after.strip_prefix('{').unwrap_or(after);
        if !after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Ok(None);
        }
        self.reference().map(Some)
    }

    /// A reference; the cursor is on `$`.
    fn reference(&mut self) -> Result<Reference, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let quiet = self.eat("!");
        let braced = self.eat("{");
        let root = self
            .identifier()
            .ok_or_else(|| self.error("a reference needs a name after `$`"))?;
        let mut parts = Vec::new();
        loop {
            let rest = self.rest();
            if let Some(after) = rest.strip_prefix('.') {
                if !after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    break;
                }
                self.pos += 1;
                let name = self.identifier().unwrap_or_default();
                if self.rest().starts_with('(') {
                    self.pos += 1;
                    let args = self.arguments(')')?;
                    parts.push(Part::Method(name, args));
                } else {
                    parts.push(Part::Property(name));
                }
            } else if rest.starts_with('[') {
                self.pos += 1;
                let index = self.expr()?;
                self.skip_space();
                if !self.eat("]") {
                    return Err(self.error("`[` without a closing `]`"));
                }
                parts.push(Part::Index(index));
            } else {
                break;
            }
        }
        if braced && !self.eat("}") {
            return Err(self.error("`${` without a closing `}`"));
        }
        Ok(Reference {
            quiet,
            root,
            parts,
            source: self.text[start..self.pos].to_owned(),
        })
    }

    /// Comma-separated expressions up to `close`.
    fn arguments(&mut self, close: char) -> Result<Vec<Expr>, SyntaxError> {
        let mut args = Vec::new();
        self.skip_space();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            self.skip_space();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => return Err(self.error(format!("expected `,` or `{close}`"))),
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("expression nested too deeply"));
        }
        let expr = self.binary(0);
        self.depth -= 1;
        expr
    }

    /// Precedence climbing over the binary operators.
    fn binary(&mut self, level: usize) -> Result<Expr, SyntaxError> {
        const LEVELS: &[&[(&str, Op)]] = &[
            &[("||", Op::Or), ("or", Op::Or)],
            &[("&&", Op::And), ("and", Op::And)],
            &[
                ("==", Op::Eq),
                ("!=", Op::Ne),
                ("eq", Op::Eq),
                ("ne", Op::Ne),
            ],
            &[
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("<", Op::Lt),
                (">", Op::Gt),
                ("le", Op::Le),
                ("ge", Op::Ge),
                ("lt", Op::Lt),
                ("gt", Op::Gt),
            ],
            &[("+", Op::Add), ("-", Op::Sub)],
            &[("*", Op::Mul), ("/", Op::Div), ("%", Op::Rem)],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        'next: loop {
            self.skip_space();
            for (token, op) in LEVELS[level] {
                let matched = if token.chars().all(|c| c.is_ascii_alphabetic()) {
                    self.eat_word(token)
                } else {
                    // Two-character operators come first in their level,
                    // so `<=` is never read as `<` then `=`.
                    self.eat(token)
                };
                if matched {
                    let right = self.binary(level + 1)?;
                    left = Expr::Binary(*op, Box::new(left), Box::new(right));
                    continue 'next;
                }
            }
            return Ok(left);
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        self.skip_space();
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat_word("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.rest().starts_with('-')
            && !self.rest()[1..].starts_with(|c: char| c.is_ascii_digit())
        {
            self.pos += 1;
            return Ok(Expr::Negate(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        self.skip_space();
        let Some(c) = self.peek() else {
            return Err(self.error("expected a value, found the end of the template"));
        };
        match c {
            '(' => {
                self.pos += 1;
                let inner = self.expr()?;
                self.skip_space();
                if !self.eat(")") {
                    return Err(self.error("`(` without a closing `)`"));
                }
                Ok(inner)
            }
            '$' => Ok(Expr::Ref(self.reference()?)),
            '\'' => {
                let start = self.pos;
                self.pos += 1;
                let Some((inner, len)) = quoted(self.rest(), '\'') else {
                    return Err(self.error_at(start, "a `'` string without its closing `'`"));
                };
                self.pos += len;
                Ok(Expr::Literal(Literal::Str(inner)))
            }
            '"' => {
                let start = self.pos;
                self.pos += 1;
                let Some((inner, len)) = quoted(self.rest(), '"') else {
                    return Err(self.error_at(start, "a `\"` string without its closing `\"`"));
                };
                let inner = inner.as_str();
                let nodes = if inner.contains(['$', '#']) {
                    let mut sub = Parser {
                        text: inner,
                        pos: 0,
                        line_has_content: true,
                        depth: self.depth,
                    };
                    let (nodes, _) = sub.nodes(&[]).map_err(|mut e| {
                        let here = self.error_at(start + 1, "");
                        if e.line == 1 {
                            e.column += here.column - 1;
                        }
                        e.line += here.line - 1;
                        e
                    })?;
                    nodes
                } else {
                    vec![Node::Text(inner.to_owned())]
                };
                self.pos += len;
                Ok(Expr::Interpolated(nodes))
            }
            '[' => {
                self.pos += 1;
                self.skip_space();
                if self.eat("]") {
                    return Ok(Expr::List(Vec::new()));
                }
                let first = self.expr()?;
                self.skip_space();
                if self.eat("..") {
                    let last = self.expr()?;
                    self.skip_space();
                    if !self.eat("]") {
                        return Err(self.error("a range needs its closing `]`"));
                    }
                    return Ok(Expr::Range(Box::new(first), Box::new(last)));
                }
                let mut items = vec![first];
                loop {
                    self.skip_space();
                    if self.eat("]") {
                        return Ok(Expr::List(items));
                    }
                    if !self.eat(",") {
                        return Err(self.error("expected `,` or `]` in a list"));
                    }
                    items.push(self.expr()?);
                }
            }
            '{' => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.skip_space();
                if self.eat("}") {
                    return Ok(Expr::Map(entries));
                }
                loop {
                    let key = self.expr()?;
                    self.skip_space();
                    if !self.eat(":") {
                        return Err(self.error("expected `:` in a map"));
                    }
                    let value = self.expr()?;
                    entries.push((key, value));
                    self.skip_space();
                    if self.eat("}") {
                        return Ok(Expr::Map(entries));
                    }
                    if !self.eat(",") {
                        return Err(self.error("expected `,` or `}` in a map"));
                    }
                }
            }
            c if c.is_ascii_digit() || c == '-' => {
                let rest = self.rest();
                let len = rest
                    .char_indices()
                    .skip(1)
                    .find(|(i, c)| {
                        !(c.is_ascii_digit() || (*c == '.' && !rest[*i..].starts_with("..")))
                    })
                    .map_or(rest.len(), |(i, _)| i);
                let number = &rest[..len];
                self.pos += len;
                if number.contains('.') {
                    number
                        .parse::<f64>()
                        .map(|f| Expr::Literal(Literal::Float(f)))
                        .map_err(|_| self.error(format!("`{number}` is not a number")))
                } else {
                    number
                        .parse::<i64>()
                        .map(|i| Expr::Literal(Literal::Int(i)))
                        .map_err(|_| self.error(format!("`{number}` is not a number")))
                }
            }
            _ => {
                for (word, literal) in [
                    ("true", Literal::Bool(true)),
                    ("false", Literal::Bool(false)),
                    ("null", Literal::Null),
                ] {
                    if self.eat_word(word) {
                        return Ok(Expr::Literal(literal));
                    }
                }
                let found: String = self.rest().chars().take(12).collect();
                Err(self.error(format!("expected a value, found `{found}`")))
            }
        }
    }
}

/// A string literal's text up to its closing `quote` (a doubled quote
/// stands for one, as in Velocity 1.7), and the bytes it took with the
/// closing quote.
fn quoted(rest: &str, quote: char) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            if chars.peek().is_some_and(|(_, n)| *n == quote) {
                chars.next();
                out.push(quote);
                continue;
            }
            return Some((out, i + 1));
        }
        out.push(c);
    }
    None
}

/// The directive `rest` starts with (`#set(`, `#{else}`, `#end` ...).
fn directive_name(rest: &str) -> Option<&'static str> {
    let body = rest.strip_prefix('#')?;
    let (body, braced) = match body.strip_prefix('{') {
        Some(b) => (b, true),
        None => (body, false),
    };
    for name in [
        "elseif", "else", "end", "set", "if", "foreach", "break", "stop",
    ] {
        if let Some(after) = body.strip_prefix(name) {
            if braced {
                if after.starts_with('}') {
                    return Some(name);
                }
                continue;
            }
            let next = after.chars().next();
            let takes_args = matches!(name, "set" | "if" | "elseif" | "foreach");
            let ok = match next {
                None => !takes_args,
                Some(c) if c.is_ascii_alphanumeric() || c == '_' => false,
                Some(_) if takes_args => after.trim_start_matches([' ', '\t']).starts_with('('),
                Some(_) => true,
            };
            if ok {
                return Some(name);
            }
        }
    }
    None
}

/// Length of `#name` or `#{name}` at the start of `rest`.
fn directive_len(rest: &str, name: &str) -> usize {
    if rest.starts_with("#{") {
        name.len() + 3
    } else {
        name.len() + 1
    }
}

/// Removes spaces and tabs at the end of the last line of `text`.
fn trim_line_end(text: &mut String) {
    let trimmed = text.trim_end_matches([' ', '\t']).len();
    text.truncate(trimmed);
}

fn flush(text: &mut String, nodes: &mut Vec<Node>) {
    if !text.is_empty() {
        nodes.push(Node::Text(std::mem::take(text)));
    }
}
