//! The syntax tree of a template, and a walk over its references.

/// A node of a template body.
#[derive(Debug, Clone)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// A reference rendered into the output.
    Ref(Reference),
    /// `#set($target = value)`.
    Set(Reference, Expr),
    /// `#if` with its `#elseif`s, then the `#else` body.
    If(Vec<(Expr, Vec<Node>)>, Vec<Node>),
    /// `#foreach($name in items)`.
    Foreach(String, Expr, Vec<Node>),
    /// `#break`: leaves the innermost `#foreach`.
    Break,
    /// `#stop`: ends rendering.
    Stop,
}

/// `$name.part.part...`.
#[derive(Debug, Clone)]
pub struct Reference {
    /// `$!`: renders nothing when null.
    pub quiet: bool,
    /// The variable.
    pub root: String,
    /// Properties, method calls and indexes, in order.
    pub parts: Vec<Part>,
    /// The reference as written, rendered when it has no value.
    pub source: String,
}

/// One step of a reference.
#[derive(Debug, Clone)]
pub enum Part {
    /// `.name`.
    Property(String),
    /// `.name(args)`.
    Method(String, Vec<Expr>),
    /// `[index]`.
    Index(Expr),
}

/// An expression in a directive or a method argument.
#[derive(Debug, Clone)]
pub enum Expr {
    /// `null`, `true`, a number, a `'single-quoted'` string.
    Literal(Literal),
    /// A `"double-quoted"` string, with references rendered into it.
    Interpolated(Vec<Node>),
    /// A reference.
    Ref(Reference),
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `[a..b]`.
    Range(Box<Expr>, Box<Expr>),
    /// `{k: v}`.
    Map(Vec<(Expr, Expr)>),
    /// `!x`, `-x`.
    Not(Box<Expr>),
    /// `-x`.
    Negate(Box<Expr>),
    /// `a OP b`.
    Binary(Op, Box<Expr>, Box<Expr>),
}

/// A literal value.
#[derive(Debug, Clone)]
pub enum Literal {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A decimal number.
    Float(f64),
    /// A string.
    Str(String),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `||`, `or`.
    Or,
    /// `&&`, `and`.
    And,
    /// `==`, `eq`.
    Eq,
    /// `!=`, `ne`.
    Ne,
    /// `<`, `lt`.
    Lt,
    /// `<=`, `le`.
    Le,
    /// `>`, `gt`.
    Gt,
    /// `>=`, `ge`.
    Ge,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Rem,
}

/// Calls `visit` with every reference in `nodes`, in directives and
/// expressions too.
pub fn visit_references(nodes: &[Node], visit: &mut impl FnMut(&Reference)) {
    fn expr(e: &Expr, visit: &mut impl FnMut(&Reference)) {
        match e {
            Expr::Ref(r) => reference(r, visit),
            Expr::Interpolated(nodes) => visit_references(nodes, visit),
            Expr::List(items) => items.iter().for_each(|i| expr(i, visit)),
            Expr::Range(a, b) | Expr::Binary(_, a, b) => {
                expr(a, visit);
                expr(b, visit);
            }
            Expr::Map(entries) => entries.iter().for_each(|(k, v)| {
                expr(k, visit);
                expr(v, visit);
            }),
            Expr::Not(inner) | Expr::Negate(inner) => expr(inner, visit),
            Expr::Literal(_) => {}
        }
    }
    fn reference(r: &Reference, visit: &mut impl FnMut(&Reference)) {
        visit(r);
        for part in &r.parts {
            match part {
                Part::Method(_, args) => args.iter().for_each(|a| expr(a, visit)),
                Part::Index(i) => expr(i, visit),
                Part::Property(_) => {}
            }
        }
    }
    for node in nodes {
        match node {
            Node::Ref(r) => reference(r, visit),
            Node::Set(target, value) => {
                reference(target, visit);
                expr(value, visit);
            }
            Node::If(branches, otherwise) => {
                for (condition, body) in branches {
                    expr(condition, visit);
                    visit_references(body, visit);
                }
                visit_references(otherwise, visit);
            }
            Node::Foreach(_, items, body) => {
                expr(items, visit);
                visit_references(body, visit);
            }
            Node::Text(_) | Node::Break | Node::Stop => {}
        }
    }
}
