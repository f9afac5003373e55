//! The canonical text form of a filter: lower-case keywords, single spaces, strings
//! re-escaped, and parentheses only where precedence (`not` > `and` > `or`, both
//! left-associative) needs them, so that `parse(&f.to_string()) == Ok(f)`.

use super::{CompValue, Filter};
use std::fmt::{self, Write};

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(..) => chain(f, self, true),
            Filter::Or(..) => chain(f, self, false),
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

/// Prints a left-leaning chain of `and` (or `or`) with a loop rather than one recursion per
/// link, so the longest filter prints on a small stack.
fn chain(f: &mut fmt::Formatter<'_>, filter: &Filter, and: bool) -> fmt::Result {
    let mut rights = Vec::new();
    let mut left = filter;
    while let (Filter::And(l, r), true) | (Filter::Or(l, r), false) = (left, and) {
        rights.push(&**r);
        left = l;
    }
    // A left operand needs parentheses only if it binds more loosely: `or` inside `and`.
    operand(f, left, and && matches!(left, Filter::Or(..)))?;
    let sep = if and { " and " } else { " or " };
    for right in rights.into_iter().rev() {
        f.write_str(sep)?;
        // Right operands of the same operator need parentheses to keep their grouping.
        let parens = match right {
            Filter::Or(..) => true,
            Filter::And(..) => and,
            _ => false,
        };
        operand(f, right, parens)?;
    }
    Ok(())
}

fn operand(f: &mut fmt::Formatter<'_>, filter: &Filter, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({filter})")
    } else {
        write!(f, "{filter}")
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::String(s) => write_json_string(f, s),
        }
    }
}

/// Writes `s` as a JSON string literal; non-ASCII characters stay as they are.
fn write_json_string(f: &mut impl Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    let mut rest = s;
    while let Some(i) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ') {
        let (plain, tail) = rest.split_at(i);
        f.write_str(plain)?;
        let mut chars = tail.chars();
        match chars.next() {
            Some('"') => f.write_str("\\\"")?,
            Some('\\') => f.write_str("\\\\")?,
            Some('\n') => f.write_str("\\n")?,
            Some('\r') => f.write_str("\\r")?,
            Some('\t') => f.write_str("\\t")?,
            Some('\u{8}') => f.write_str("\\b")?,
            Some('\u{c}') => f.write_str("\\f")?,
            Some(c) => write!(f, "\\u{:04x}", u32::from(c))?,
            None => break,
        }
        rest = chars.as_str();
    }
    f.write_str(rest)?;
    f.write_char('"')
}
