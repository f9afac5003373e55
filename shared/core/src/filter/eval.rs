//! The in-memory evaluator: a [`Filter`] compiled against a resource type into a
//! [`CompiledFilter`] whose paths are resolved to canonical JSON keys and whose values are
//! pre-typed, then tested against canonical resource documents.
//!
//! Semantics (RFC 7644 §3.4.2.2, RFC 7643 §2.5):
//! - A multi-valued attribute matches if any of its values matches; a complex attribute
//!   compared without a sub-attribute (`emails eq "x"`, `manager eq "id"`) compares its
//!   `value` sub-attribute.
//! - Strings honour the registry's `caseExact` (references and binaries are case-exact);
//!   `gt`/`ge`/`lt`/`le` on strings are lexicographic (by code point, after case folding when
//!   case-insensitive), on numbers numeric, on dateTimes chronological (RFC 3339).
//! - Unknown attributes, like unassigned ones, make every comparison false (`ne` too: a
//!   comparison needs a value) and `pr` false; the complement is `not (...)`.
//! - `pr` means a value that is not null, not `""`, not `[]` and, for a complex value, has a
//!   present sub-attribute. `eq null` is `not pr`, `ne null` is `pr` (null, unassigned and
//!   empty are the same state, RFC 7643 §2.5).
//! - A value path (`emails[type eq "work"]`) matches if one element satisfies the whole
//!   inner filter; the inner paths name sub-attributes of that element.
//! - `schemas` (not a registry attribute) is the document's `schemas` array if it has one,
//!   otherwise the core schema plus every extension whose key is present.
//!
//! Compilation fails (`invalidFilter`) only where the RFC asks for it or the filter cannot
//! mean anything: ordering or substring operators on booleans, ordering on binaries,
//! ordering or substring comparisons with `null` or a boolean, substring operators on
//! numbers, and a dateTime compared with a string that is not RFC 3339. Other type
//! mismatches (`userName eq 5`) simply never match.

use super::{CompValue, CompareOp, Filter};
use crate::error::{ScimError, ScimResult};
use crate::path::{truncate, AttrPath, ResolvedPath};
use crate::schema::{AttrDef, AttrType, ResourceTypeDef};
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

type Doc = Map<String, Value>;

/// A filter resolved against one resource type, ready to test documents of that type.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    root: Node,
}

/// Resolves and types every path and value of `filter` for resource type `rt`.
pub fn compile(filter: &Filter, rt: &'static ResourceTypeDef) -> ScimResult<CompiledFilter> {
    Ok(CompiledFilter {
        root: Compiler { rt }.node(filter, None)?,
    })
}

impl CompiledFilter {
    /// Whether a canonical resource document (keys as in the registry, extension attributes
    /// under their schema URN) matches the filter.
    pub fn matches(&self, doc: &Map<String, Value>) -> bool {
        self.root.eval(doc)
    }
}

impl Filter {
    /// Compiles and evaluates in one go; a filter that does not compile matches nothing.
    /// Compile once with [`compile`] to test many documents.
    pub fn matches(&self, rt: &'static ResourceTypeDef, doc: &Map<String, Value>) -> bool {
        compile(self, rt).is_ok_and(|c| c.matches(doc))
    }
}

#[derive(Debug, Clone)]
enum Node {
    Const(bool),
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    /// Some value at the location passes the test.
    Test(Loc, Test),
    /// Some value at the location is present.
    Present(Loc),
    /// Some element of the complex attribute at the location satisfies the inner node.
    Elements(Loc, Box<Node>),
    /// Some schema URN of the resource passes the test (`None`: there is one).
    Schemas(&'static ResourceTypeDef, Option<Test>),
}

/// Where values live: `doc[ext]?[attr]` then, per element, `[sub]`.
#[derive(Debug, Clone, Copy)]
struct Loc {
    ext: Option<&'static str>,
    attr: &'static str,
    sub: Option<&'static str>,
}

#[derive(Debug, Clone)]
enum Test {
    /// `needle` is already case-folded when `fold`; `ascii` says it is ASCII.
    Str {
        op: CompareOp,
        needle: String,
        fold: bool,
        ascii: bool,
    },
    Num(CompareOp, Num),
    /// `eq` (true) or `ne` (false) against a boolean.
    Bool(bool, bool),
    /// With the needle's text when it is in the plain `YYYY-MM-DDTHH:MM:SSZ` form.
    Time(CompareOp, OffsetDateTime, Option<String>),
}

#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

// ---- compilation -----------------------------------------------------------------------

struct Compiler {
    rt: &'static ResourceTypeDef,
}

/// Inside a value path: the complex attribute whose elements the inner filter tests.
type Scope = Option<&'static AttrDef>;

fn is_ordering(op: CompareOp) -> bool {
    matches!(
        op,
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
    )
}

fn is_substring(op: CompareOp) -> bool {
    matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
}

fn bad_op(op: CompareOp, what: &str, path: &AttrPath) -> ScimError {
    ScimError::invalid_filter(format!(
        "operator '{}' is not defined for {what} ('{}')",
        op.as_str(),
        truncate(&path.to_string(), 60)
    ))
}

impl Compiler {
    fn node(&self, f: &Filter, scope: Scope) -> ScimResult<Node> {
        match f {
            Filter::And(..) => {
                let mut nodes = Vec::new();
                self.flatten(f, scope, true, &mut nodes)?;
                Ok(all(nodes))
            }
            Filter::Or(..) => {
                let mut nodes = Vec::new();
                self.flatten(f, scope, false, &mut nodes)?;
                Ok(any(nodes))
            }
            Filter::Not(inner) => Ok(not(self.node(inner, scope)?)),
            Filter::Present(path) => Ok(match self.locate(path, scope) {
                Located::Attr(loc, _) => Node::Present(loc),
                Located::Schemas => Node::Schemas(self.rt, None),
                Located::Unknown => Node::Const(false),
            }),
            Filter::Compare { path, op, value } => self.compare(path, *op, value, scope),
            Filter::ValuePath { path, filter } => {
                if scope.is_some() {
                    return Ok(Node::Const(false));
                }
                match self.locate(path, None) {
                    Located::Attr(loc, def) if def.is_complex() && loc.sub.is_none() => {
                        let inner = self.node(filter, Some(def))?;
                        Ok(match inner {
                            Node::Const(false) => Node::Const(false),
                            inner => Node::Elements(loc, Box::new(inner)),
                        })
                    }
                    _ => Ok(Node::Const(false)),
                }
            }
        }
    }

    /// Collects the operands of a chain of `and` (or of `or`) without recursing per link.
    fn flatten(&self, f: &Filter, scope: Scope, and: bool, out: &mut Vec<Node>) -> ScimResult<()> {
        let mut stack = vec![f];
        while let Some(f) = stack.pop() {
            match (f, and) {
                (Filter::And(l, r), true) | (Filter::Or(l, r), false) => {
                    stack.push(r);
                    stack.push(l);
                }
                _ => out.push(self.node(f, scope)?),
            }
        }
        Ok(())
    }

    fn locate(&self, path: &AttrPath, scope: Scope) -> Located {
        if let Some(parent) = scope {
            if path.urn.is_some() || path.sub.is_some() {
                return Located::Unknown;
            }
            return match parent.sub(&path.name) {
                Some(def) => Located::Attr(
                    Loc {
                        ext: None,
                        attr: def.name,
                        sub: None,
                    },
                    def,
                ),
                None => Located::Unknown,
            };
        }
        match path.resolve(self.rt) {
            Ok(Some(rp)) => Located::Attr(loc_of(&rp), rp.leaf()),
            _ if path.urn.is_none()
                && path.sub.is_none()
                && path.name.eq_ignore_ascii_case("schemas") =>
            {
                Located::Schemas
            }
            _ => Located::Unknown,
        }
    }

    fn compare(
        &self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
        scope: Scope,
    ) -> ScimResult<Node> {
        match value {
            CompValue::Null if !matches!(op, CompareOp::Eq | CompareOp::Ne) => {
                return Err(bad_op(op, "null", path));
            }
            CompValue::Bool(_) if !matches!(op, CompareOp::Eq | CompareOp::Ne) => {
                return Err(bad_op(op, "a boolean value", path));
            }
            _ => {}
        }
        let (mut loc, mut def) = match self.locate(path, scope) {
            Located::Attr(loc, def) => (loc, def),
            Located::Unknown => {
                // Unassigned: only `eq null` holds.
                return Ok(Node::Const(
                    matches!(value, CompValue::Null) && op == CompareOp::Eq,
                ));
            }
            Located::Schemas => {
                return Ok(match value {
                    CompValue::Null if op == CompareOp::Eq => not(Node::Schemas(self.rt, None)),
                    CompValue::Null => Node::Schemas(self.rt, None),
                    CompValue::String(s) => Node::Schemas(self.rt, Some(str_test(op, s, true))),
                    _ => Node::Const(false),
                });
            }
        };
        if let CompValue::Null = value {
            return Ok(match op {
                CompareOp::Eq => not(Node::Present(loc)),
                _ => Node::Present(loc),
            });
        }
        if def.is_complex() {
            // `emails eq "x"` compares `emails.value`.
            match def.sub("value") {
                Some(value_def) if loc.sub.is_none() => {
                    loc.sub = Some(value_def.name);
                    def = value_def;
                }
                _ => return Ok(Node::Const(false)),
            }
        }
        let test = match def.ty {
            AttrType::String | AttrType::Reference | AttrType::Binary => {
                if def.ty == AttrType::Binary && is_ordering(op) {
                    return Err(bad_op(op, "binary attributes", path));
                }
                let CompValue::String(s) = value else {
                    return Ok(Node::Const(false));
                };
                let case_exact = def.case_exact || def.ty != AttrType::String;
                str_test(op, s, !case_exact)
            }
            AttrType::Boolean => {
                if is_ordering(op) || is_substring(op) {
                    return Err(bad_op(op, "boolean attributes", path));
                }
                let b = match value {
                    CompValue::Bool(b) => *b,
                    CompValue::String(s) if s.eq_ignore_ascii_case("true") => true,
                    CompValue::String(s) if s.eq_ignore_ascii_case("false") => false,
                    _ => return Ok(Node::Const(false)),
                };
                Test::Bool(op == CompareOp::Eq, b)
            }
            AttrType::Integer | AttrType::Decimal => {
                if is_substring(op) {
                    return Err(bad_op(op, "numbers", path));
                }
                match value {
                    CompValue::Number(n) => match num_of(n) {
                        Some(n) => Test::Num(op, n),
                        None => return Ok(Node::Const(false)),
                    },
                    _ => return Ok(Node::Const(false)),
                }
            }
            AttrType::DateTime => {
                let CompValue::String(s) = value else {
                    return Ok(Node::Const(false));
                };
                if is_substring(op) {
                    str_test(op, s, false)
                } else {
                    let at = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
                        ScimError::invalid_filter(format!(
                            "'{}' is not an RFC 3339 dateTime (such as \"2024-01-01T00:00:00Z\")",
                            truncate(s, 40)
                        ))
                    })?;
                    let plain = is_plain_utc(s).then(|| s.clone());
                    Test::Time(op, at, plain)
                }
            }
            AttrType::Complex => return Ok(Node::Const(false)),
        };
        Ok(Node::Test(loc, test))
    }
}

enum Located {
    Attr(Loc, &'static AttrDef),
    Schemas,
    Unknown,
}

fn loc_of(rp: &ResolvedPath) -> Loc {
    Loc {
        ext: rp.extension.map(|s| s.id),
        attr: rp.attr.name,
        sub: rp.sub.map(|s| s.name),
    }
}

fn str_test(op: CompareOp, s: &str, fold: bool) -> Test {
    let needle = if fold { fold_case(s) } else { s.to_string() };
    Test::Str {
        op,
        ascii: needle.is_ascii(),
        needle,
        fold,
    }
}

fn all(nodes: Vec<Node>) -> Node {
    if nodes.iter().any(|n| matches!(n, Node::Const(false))) {
        return Node::Const(false);
    }
    let mut nodes: Vec<Node> = nodes
        .into_iter()
        .filter(|n| !matches!(n, Node::Const(true)))
        .collect();
    match nodes.len() {
        0 => Node::Const(true),
        1 => nodes.pop().unwrap_or(Node::Const(true)),
        _ => Node::All(nodes),
    }
}

fn any(nodes: Vec<Node>) -> Node {
    if nodes.iter().any(|n| matches!(n, Node::Const(true))) {
        return Node::Const(true);
    }
    let mut nodes: Vec<Node> = nodes
        .into_iter()
        .filter(|n| !matches!(n, Node::Const(false)))
        .collect();
    match nodes.len() {
        0 => Node::Const(false),
        1 => nodes.pop().unwrap_or(Node::Const(false)),
        _ => Node::Any(nodes),
    }
}

fn not(node: Node) -> Node {
    match node {
        Node::Const(b) => Node::Const(!b),
        Node::Not(inner) => *inner,
        node => Node::Not(Box::new(node)),
    }
}

// ---- evaluation ------------------------------------------------------------------------

impl Node {
    fn eval(&self, doc: &Doc) -> bool {
        match self {
            Node::Const(b) => *b,
            Node::All(nodes) => nodes.iter().all(|n| n.eval(doc)),
            Node::Any(nodes) => nodes.iter().any(|n| n.eval(doc)),
            Node::Not(node) => !node.eval(doc),
            Node::Test(loc, test) => loc.any_value(doc, |v| test.matches(v)),
            Node::Present(loc) => loc.any_value(doc, is_present),
            Node::Elements(loc, inner) => loc.any_element(doc, |e| inner.eval(e)),
            Node::Schemas(rt, test) => any_schema(rt, doc, |uri| match test {
                None => !uri.is_empty(),
                Some(t) => t.matches_str(uri),
            }),
        }
    }
}

impl Loc {
    fn attr_value<'a>(&self, doc: &'a Doc) -> Option<&'a Value> {
        let container = match self.ext {
            None => doc,
            Some(ext) => doc.get(ext)?.as_object()?,
        };
        container.get(self.attr)
    }

    /// Whether `f` holds for some value at this location (multi-valued attributes and
    /// arrays of sub-attribute values are looked into one level).
    fn any_value(&self, doc: &Doc, mut f: impl FnMut(&Value) -> bool) -> bool {
        let Some(v) = self.attr_value(doc) else {
            return false;
        };
        match self.sub {
            None => each(v, &mut f),
            Some(sub) => match v {
                Value::Array(items) => items.iter().any(|item| {
                    item.as_object()
                        .and_then(|o| o.get(sub))
                        .is_some_and(|x| each(x, &mut f))
                }),
                Value::Object(o) => o.get(sub).is_some_and(|x| each(x, &mut f)),
                _ => false,
            },
        }
    }

    fn any_element(&self, doc: &Doc, mut f: impl FnMut(&Doc) -> bool) -> bool {
        match self.attr_value(doc) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).any(f),
            Some(Value::Object(o)) => f(o),
            _ => false,
        }
    }
}

fn each(v: &Value, f: &mut impl FnMut(&Value) -> bool) -> bool {
    match v {
        Value::Array(items) => items.iter().any(f),
        v => f(v),
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn any_schema(rt: &ResourceTypeDef, doc: &Doc, mut f: impl FnMut(&str) -> bool) -> bool {
    match doc.get("schemas") {
        Some(Value::Array(uris)) => uris.iter().filter_map(Value::as_str).any(f),
        Some(Value::String(uri)) => f(uri),
        Some(_) => false,
        None => {
            f(rt.schema.id)
                || rt
                    .extensions
                    .iter()
                    .any(|(s, _)| doc.contains_key(s.id) && f(s.id))
        }
    }
}

impl Test {
    fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (Test::Str { .. }, Value::String(s)) => self.matches_str(s),
            (Test::Num(op, n), Value::Number(x)) => num_of(x)
                .and_then(|x| cmp_num(x, *n))
                .is_some_and(|o| holds(*op, o)),
            (Test::Bool(eq, b), Value::Bool(x)) => (x == b) == *eq,
            (Test::Time(op, _, Some(plain)), Value::String(s)) if is_plain_utc(s) => {
                holds(*op, s.as_str().cmp(plain.as_str()))
            }
            (Test::Time(op, at, _), Value::String(s)) => {
                OffsetDateTime::parse(s, &Rfc3339).is_ok_and(|t| holds(*op, t.cmp(at)))
            }
            _ => false,
        }
    }

    fn matches_str(&self, hay: &str) -> bool {
        let Test::Str {
            op,
            needle,
            fold,
            ascii,
        } = self
        else {
            return false;
        };
        if !fold {
            str_op(*op, hay, needle)
        } else if *ascii && hay.is_ascii() {
            ascii_ci_op(*op, hay.as_bytes(), needle.as_bytes())
        } else {
            str_op(*op, &fold_case(hay), needle)
        }
    }
}

/// Whether an ordering satisfies an operator (`co`/`sw`/`ew` never get here).
fn holds(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn str_op(op: CompareOp, hay: &str, needle: &str) -> bool {
    match op {
        CompareOp::Co => hay.contains(needle),
        CompareOp::Sw => hay.starts_with(needle),
        CompareOp::Ew => hay.ends_with(needle),
        op => holds(op, hay.cmp(needle)),
    }
}

/// Case-insensitive operators on ASCII; `needle` is already lower case.
fn ascii_ci_op(op: CompareOp, hay: &[u8], needle: &[u8]) -> bool {
    let n = needle.len();
    match op {
        CompareOp::Eq => hay.eq_ignore_ascii_case(needle),
        CompareOp::Ne => !hay.eq_ignore_ascii_case(needle),
        CompareOp::Sw => hay.get(..n).is_some_and(|h| h.eq_ignore_ascii_case(needle)),
        CompareOp::Ew => hay
            .len()
            .checked_sub(n)
            .and_then(|start| hay.get(start..))
            .is_some_and(|h| h.eq_ignore_ascii_case(needle)),
        CompareOp::Co => n == 0 || hay.windows(n).any(|w| w.eq_ignore_ascii_case(needle)),
        op => holds(
            op,
            hay.iter()
                .map(u8::to_ascii_lowercase)
                .cmp(needle.iter().copied()),
        ),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form the service writes: for it, text order is time order,
/// which spares parsing the document's value.
fn is_plain_utc(s: &str) -> bool {
    s.len() == 20
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

/// Simple per-character lower-casing, the same for needles and haystacks.
fn fold_case(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn num_of(n: &Number) -> Option<Num> {
    n.as_i64()
        .map(|i| Num::Int(i.into()))
        .or_else(|| n.as_u64().map(|u| Num::Int(u.into())))
        .or_else(|| n.as_f64().map(Num::Float))
}

fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    let float = |n: Num| match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    };
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        _ => float(a).partial_cmp(&float(b)),
    }
}
