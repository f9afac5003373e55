//! SCIM filters (RFC 7644 §3.4.2.2): the syntax tree, parser, printer, in-memory evaluator
//! and the index analysis a store uses to avoid scanning.
//!
//! - [`parse`] text into a [`Filter`] (`400 invalidFilter` on any bad input, bounded by
//!   [`MAX_FILTER_LEN`] and [`MAX_FILTER_DEPTH`]); `Display` prints the canonical form, and
//!   `parse(&f.to_string()) == Ok(f)` whenever that form fits in `MAX_FILTER_LEN`.
//! - [`compile`] against a resource type once per request, then
//!   [`CompiledFilter::matches`] per document. Compiling can fail with `invalidFilter` too
//!   (`active gt true`), so call it where the request is parsed.
//! - [`plan`] splits a filter into index lookups and a residual for the evaluator.

mod eval;
mod parser;
mod plan;
mod print;
#[cfg(test)]
mod tests;

pub use eval::{compile, CompiledFilter};
pub use parser::{parse, KNOWN_URNS, MAX_FILTER_DEPTH, MAX_FILTER_LEN};
pub use plan::{plan, IndexKey, Plan};

use crate::error::ScimError;
use crate::path::AttrPath;

/// A parsed filter. Paths are as written; evaluation resolves them against the registry.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attrPath op compValue`
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attrPath pr`
    Present(AttrPath),
    /// `attrPath "[" valFilter "]"` — the inner filter's paths are relative to the attribute.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// `compValue = false / null / true / number / string` (RFC 7644 ABNF).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

impl std::str::FromStr for Filter {
    type Err = ScimError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text)
    }
}
