//! Route matching, built once per deployment and pure afterwards.
//!
//! Precedence follows Amazon API Gateway: the most specific path wins, compared
//! segment by segment from the left (a literal beats `{param}`, which beats
//! `{greedy+}`); at one path an exact method beats `ANY`; `$default` catches
//! whatever matches nothing else. A path that matches while its method does not
//! is reported separately so that the caller can answer 405.

mod key;

pub use key::{MethodMatch, PathPattern, RouteKey, Segment};

use http::Method;
use smallvec::SmallVec;

/// Index of a route within the list the router was built from.
pub type RouteId = usize;

/// Path parameter values of a match, in the order the route's pattern names them.
pub type ParamValues<'p> = SmallVec<[&'p str; 4]>;

/// The result of matching one request.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch<'p> {
    /// A route answers the request.
    Found {
        /// Which route.
        route: RouteId,
        /// Raw (still percent-encoded) values of the path parameters.
        params: ParamValues<'p>,
    },
    /// The path matches a route but no route at that path takes the method.
    MethodNotAllowed {
        /// Value for the `Allow` header, e.g. `GET, POST`.
        allow: &'p str,
    },
    /// Nothing matches.
    NotFound,
}

/// Two route keys that cannot live in one API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConflict {
    /// The route that was added last.
    pub route: RouteId,
    /// The route it clashes with.
    pub existing: RouteId,
    /// Why.
    pub reason: String,
}

#[derive(Debug, Default)]
struct MethodTable {
    exact: SmallVec<[(Method, RouteId); 2]>,
    any: Option<RouteId>,
    allow: String,
}

impl MethodTable {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.any.is_none()
    }

    fn find(&self, method: &Method) -> Option<RouteId> {
        self.exact
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, r)| *r)
            .or(self.any)
    }

    fn insert(&mut self, method: &MethodMatch, route: RouteId) -> Result<(), RouteId> {
        match method {
            MethodMatch::Any => match self.any {
                Some(existing) => return Err(existing),
                None => self.any = Some(route),
            },
            MethodMatch::Exact(m) => {
                if let Some((_, existing)) = self.exact.iter().find(|(e, _)| e == m) {
                    return Err(*existing);
                }
                self.exact.push((m.clone(), route));
                if !self.allow.is_empty() {
                    self.allow.push_str(", ");
                }
                self.allow.push_str(m.as_str());
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Node {
    literals: Vec<(Box<str>, Node)>,
    /// The `{param}` child, with the parameter's name and the route that named it first.
    param: Option<(Box<str>, RouteId, Box<Node>)>,
    /// `{greedy+}` routes ending here, with the parameter's name and first route.
    greedy: Option<(Box<str>, RouteId, MethodTable)>,
    methods: MethodTable,
}

/// Matches request paths and methods to routes.
#[derive(Debug, Default)]
pub struct Router {
    root: Node,
    default_route: Option<RouteId>,
    /// A WebSocket API's routes by key.
    messages: std::collections::HashMap<String, RouteId>,
}

impl Router {
    /// Builds a router from route keys; a key's index is its [`RouteId`].
    /// Every conflict is reported, not only the first.
    pub fn build<'k>(
        keys: impl IntoIterator<Item = &'k RouteKey>,
    ) -> Result<Router, Vec<RouteConflict>> {
        let mut router = Router::default();
        let mut conflicts = Vec::new();
        for (id, key) in keys.into_iter().enumerate() {
            if let Err(c) = router.insert(id, key) {
                conflicts.push(c);
            }
        }
        if conflicts.is_empty() {
            Ok(router)
        } else {
            Err(conflicts)
        }
    }

    fn insert(&mut self, id: RouteId, key: &RouteKey) -> Result<(), RouteConflict> {
        let duplicate = |existing| RouteConflict {
            route: id,
            existing,
            reason: "the same route key is defined twice".into(),
        };
        let (method, path) = match key {
            RouteKey::Default => {
                return match self.default_route {
                    Some(existing) => Err(duplicate(existing)),
                    None => {
                        self.default_route = Some(id);
                        Ok(())
                    }
                };
            }
            RouteKey::Route { method, path } => (method, path),
            RouteKey::Message(key) => {
                return match self.messages.insert(key.clone(), id) {
                    Some(existing) => Err(duplicate(existing)),
                    None => Ok(()),
                };
            }
        };
        let mut node = &mut self.root;
        for segment in path.segments() {
            node = match segment {
                Segment::Literal(text) => {
                    let at = match node.literals.iter().position(|(l, _)| **l == **text) {
                        Some(at) => at,
                        None => {
                            node.literals.push((text.as_str().into(), Node::default()));
                            node.literals.len() - 1
                        }
                    };
                    &mut node.literals[at].1
                }
                Segment::Param(name) => {
                    let (existing_name, owner, child) = node
                        .param
                        .get_or_insert_with(|| (name.as_str().into(), id, Box::default()));
                    if **existing_name != **name {
                        return Err(RouteConflict {
                            route: id,
                            existing: *owner,
                            reason: format!(
                                "path parameter `{{{name}}}` stands where another route has `{{{existing_name}}}`; one position takes one name"
                            ),
                        });
                    }
                    child
                }
                Segment::Greedy(name) => {
                    let (existing_name, owner, table) = node
                        .greedy
                        .get_or_insert_with(|| (name.as_str().into(), id, MethodTable::default()));
                    if **existing_name != **name {
                        return Err(RouteConflict {
                            route: id,
                            existing: *owner,
                            reason: format!(
                                "greedy parameter `{{{name}+}}` stands where another route has `{{{existing_name}+}}`; one position takes one name"
                            ),
                        });
                    }
                    return table.insert(method, id).map_err(duplicate);
                }
            };
        }
        node.methods.insert(method, id).map_err(duplicate)
    }

    /// A WebSocket API's route for `key` exactly (`$connect`, a selected
    /// value), without falling back to `$default`.
    pub fn message(&self, key: &str) -> Option<RouteId> {
        self.messages.get(key).copied()
    }

    /// The `$default` route.
    pub fn default_route(&self) -> Option<RouteId> {
        self.default_route
    }

    /// Matches a request path (without query, stage prefix already removed) and method.
    pub fn find<'s, 'p>(&'s self, method: &Method, path: &'p str) -> RouteMatch<'p>
    where
        's: 'p,
    {
        let mut params = ParamValues::new();
        let mut path_matched: Option<&'s MethodTable> = None;
        let rest = path.strip_prefix('/').unwrap_or(path);
        if let Some(route) = walk(&self.root, rest, method, &mut params, &mut path_matched) {
            return RouteMatch::Found { route, params };
        }
        if let Some(route) = self.default_route {
            params.clear();
            return RouteMatch::Found { route, params };
        }
        match path_matched {
            Some(table) => RouteMatch::MethodNotAllowed {
                allow: &table.allow,
            },
            None => RouteMatch::NotFound,
        }
    }
}

/// Depth-first search in precedence order (literal, then parameter, then
/// greedy), so the first route found is the most specific one.
fn walk<'s, 'p>(
    node: &'s Node,
    rest: &'p str,
    method: &Method,
    params: &mut ParamValues<'p>,
    path_matched: &mut Option<&'s MethodTable>,
) -> Option<RouteId> {
    if rest.is_empty() {
        return check(&node.methods, method, path_matched);
    }
    let (segment, after) = match rest.split_once('/') {
        Some((segment, after)) => (segment, after),
        None => (rest, ""),
    };
    if let Some((_, child)) = node.literals.iter().find(|(l, _)| **l == *segment)
        && let Some(found) = walk(child, after, method, params, path_matched)
    {
        return Some(found);
    }
    if !segment.is_empty()
        && let Some((_, _, child)) = &node.param
    {
        params.push(segment);
        if let Some(found) = walk(child, after, method, params, path_matched) {
            return Some(found);
        }
        params.pop();
    }
    if let Some((_, _, table)) = &node.greedy {
        params.push(rest);
        if let Some(found) = check(table, method, path_matched) {
            return Some(found);
        }
        params.pop();
    }
    None
}

fn check<'s>(
    table: &'s MethodTable,
    method: &Method,
    path_matched: &mut Option<&'s MethodTable>,
) -> Option<RouteId> {
    if table.is_empty() {
        return None;
    }
    if path_matched.is_none() {
        *path_matched = Some(table);
    }
    table.find(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(keys: &[&str]) -> Router {
        let keys: Vec<RouteKey> = keys
            .iter()
            .map(|k| RouteKey::parse(k).expect("valid key"))
            .collect();
        Router::build(&keys).expect("no conflicts")
    }

    fn found(r: &Router, method: Method, path: &str) -> Option<(RouteId, Vec<String>)> {
        match r.find(&method, path) {
            RouteMatch::Found { route, params } => {
                Some((route, params.iter().map(|p| p.to_string()).collect()))
            }
            _ => None,
        }
    }

    #[test]
    fn most_specific_route_wins() {
        let r = router(&[
            "GET /pets/{id}",         // 0
            "GET /pets/dog",          // 1
            "ANY /{proxy+}",          // 2
            "ANY /pets/{id}",         // 3
            "GET /pets/{id}/{rest+}", // 4
            "GET /",                  // 5
            "POST /pets",             // 6
        ]);
        type Case<'a> = (Method, &'a str, Option<(RouteId, &'a [&'a str])>);
        let cases: &[Case] = &[
            (Method::GET, "/pets/dog", Some((1, &[]))),
            (Method::GET, "/pets/cat", Some((0, &["cat"]))),
            (Method::PUT, "/pets/cat", Some((3, &["cat"]))),
            (Method::PUT, "/pets/dog", Some((3, &["dog"]))),
            (Method::GET, "/pets/cat/a/b", Some((4, &["cat", "a/b"]))),
            (Method::GET, "/other/x", Some((2, &["other/x"]))),
            (Method::GET, "/", Some((5, &[]))),
            (Method::POST, "/pets", Some((6, &[]))),
            (Method::POST, "/pets/", Some((6, &[]))),
            (Method::GET, "/pets/dog/", Some((1, &[]))),
            (Method::GET, "/pets", Some((2, &["pets"]))),
        ];
        for (method, path, want) in cases {
            let want = want.map(|(id, ps)| (id, ps.iter().map(|s| s.to_string()).collect()));
            assert_eq!(found(&r, method.clone(), path), want, "{method} {path}");
        }
    }

    #[test]
    fn backtracks_from_a_literal_dead_end() {
        let r = router(&["GET /a/b/c", "GET /a/{x}/d"]);
        assert_eq!(
            found(&r, Method::GET, "/a/b/d"),
            Some((1, vec!["b".into()]))
        );
    }

    #[test]
    fn greedy_needs_one_segment_and_root_is_separate() {
        let r = router(&["ANY /{proxy+}"]);
        assert_eq!(r.find(&Method::GET, "/"), RouteMatch::NotFound);
        assert_eq!(found(&r, Method::GET, "/x/"), Some((0, vec!["x/".into()])));
    }

    #[test]
    fn method_mismatch_is_405_unless_default_exists() {
        let r = router(&["GET /pets", "POST /pets", "GET /pets/{id}"]);
        assert_eq!(
            r.find(&Method::DELETE, "/pets"),
            RouteMatch::MethodNotAllowed { allow: "GET, POST" }
        );
        assert_eq!(
            r.find(&Method::HEAD, "/pets/1"),
            RouteMatch::MethodNotAllowed { allow: "GET" }
        );
        assert_eq!(r.find(&Method::GET, "/cats"), RouteMatch::NotFound);
        let r = router(&["GET /pets", "$default"]);
        assert_eq!(found(&r, Method::DELETE, "/pets"), Some((1, vec![])));
        assert_eq!(found(&r, Method::GET, "/anything/else"), Some((1, vec![])));
    }

    #[test]
    fn conflicts_are_all_reported() {
        let keys: Vec<RouteKey> = [
            "GET /pets",
            "GET /pets",
            "GET /pets/{id}",
            "PUT /pets/{petId}",
            "$default",
            "$default",
            "ANY /{a+}",
            "GET /{b+}",
        ]
        .iter()
        .map(|k| RouteKey::parse(k).expect("valid"))
        .collect();
        let conflicts = Router::build(&keys).expect_err("conflicts");
        let pairs: Vec<(RouteId, RouteId)> =
            conflicts.iter().map(|c| (c.route, c.existing)).collect();
        assert_eq!(pairs, vec![(1, 0), (3, 2), (5, 4), (7, 6)]);
        assert!(
            conflicts[1]
                .reason
                .contains("`{petId}` stands where another route has `{id}`")
        );
    }
}
