//! The filter parser: a hand-written recursive descent over RFC 7644 §3.4.2.2 Figure 1.
//!
//! ```text
//! filter   = or
//! or       = and *(SP "or" SP and)
//! and      = unary *(SP "and" SP unary)
//! unary    = "not" [SP] "(" or ")" / "not" SP unary / primary
//! primary  = "(" or ")"
//!          / attrPath SP "pr"
//!          / attrPath SP compareOp SP compValue
//!          / attrPath "[" or "]" ["." subAttr SP (compareOp SP compValue / "pr")]
//! ```
//!
//! Keywords and operators are case-insensitive. Two extensions to the ABNF, both sent by
//! real clients: `not` directly before an expression without parentheses, and a value
//! path followed by `.subAttr op value` (`emails[type eq "work"].value eq "x"`), which is
//! read as `emails[type eq "work" and value eq "x"]`. A value filter may not contain another
//! value path (RFC 7644 errata 4690/7322).
//!
//! Invariant: recursion happens only when entering `(`, `[` or `not`, and each of those
//! counts against [`MAX_FILTER_DEPTH`]; `and`/`or` chains are loops. So no input can
//! overflow the stack, and [`MAX_FILTER_LEN`] bounds the work.

use super::{CompValue, CompareOp, Filter};
use crate::error::{ScimError, ScimResult};
use crate::path::{is_attr_name, truncate, AttrPath};
use crate::schema::{CONTACT_USER_URN, ENTERPRISE_USER_URN, GROUP_SCHEMA_URN, USER_SCHEMA_URN};

/// The longest filter accepted, in bytes of UTF-8.
pub const MAX_FILTER_LEN: usize = 4096;

/// The deepest nesting of `(...)`, `not` and `[...]` accepted.
pub const MAX_FILTER_DEPTH: usize = 32;

/// Schema URNs recognised as attribute path prefixes (they contain dots and colons).
pub const KNOWN_URNS: &[&str] = &[
    USER_SCHEMA_URN,
    GROUP_SCHEMA_URN,
    ENTERPRISE_USER_URN,
    CONTACT_USER_URN,
];

/// How much of the input an error detail quotes at most, per quoted piece.
const QUOTE_MAX: usize = 40;

/// Parses a filter (RFC 7644 §3.4.2.2). Every failure is `400 invalidFilter` with a detail
/// naming what was expected and the (1-based) character position.
pub fn parse(text: &str) -> ScimResult<Filter> {
    if text.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "filter is {} bytes long; the limit is {MAX_FILTER_LEN}",
            text.len()
        )));
    }
    let mut p = Parser {
        src: text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(ScimError::invalid_filter("empty filter"));
    }
    let filter = p.or(false)?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.unexpected());
    }
    Ok(filter)
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

fn is_delim(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'(' | b')' | b'[' | b']' | b'"')
}

fn compare_op(word: &str) -> Option<CompareOp> {
    const OPS: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];
    OPS.into_iter()
        .find(|op| op.as_str().eq_ignore_ascii_case(word))
}

fn is_operator_word(word: &str) -> bool {
    compare_op(word).is_some() || word.eq_ignore_ascii_case("pr")
}

impl<'a> Parser<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// The run of non-delimiter bytes at `pos`. Delimiters are ASCII, so both ends are
    /// character boundaries.
    fn word_at(&self, pos: usize) -> &'a str {
        let rest = self.bytes.get(pos..).unwrap_or_default();
        let len = rest.iter().position(|&b| is_delim(b)).unwrap_or(rest.len());
        self.src.get(pos..pos + len).unwrap_or_default()
    }

    fn read_word(&mut self) -> &'a str {
        let word = self.word_at(self.pos);
        self.pos += word.len();
        word
    }

    /// Consumes `kw` (after optional whitespace) if it stands alone: followed by whitespace,
    /// `(` or the end.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let save = self.pos;
        self.skip_ws();
        let end = self.pos + kw.len();
        let matches = self
            .bytes
            .get(self.pos..end)
            .is_some_and(|s| s.eq_ignore_ascii_case(kw.as_bytes()))
            && self
                .bytes
                .get(end)
                .is_none_or(|&b| b.is_ascii_whitespace() || b == b'(');
        if matches {
            self.pos = end;
        } else {
            self.pos = save;
        }
        matches
    }

    fn enter(&mut self) -> ScimResult<()> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(self.error(&format!(
                "filter nests deeper than {MAX_FILTER_DEPTH} levels of '(', '[' or 'not'"
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- grammar ------------------------------------------------------------------------

    fn or(&mut self, in_value: bool) -> ScimResult<Filter> {
        let mut lhs = self.and(in_value)?;
        while self.eat_keyword("or") {
            let rhs = self.and(in_value)?;
            lhs = Filter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn and(&mut self, in_value: bool) -> ScimResult<Filter> {
        let mut lhs = self.unary(in_value)?;
        while self.eat_keyword("and") {
            let rhs = self.unary(in_value)?;
            lhs = Filter::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self, in_value: bool) -> ScimResult<Filter> {
        self.skip_ws();
        let word = self.word_at(self.pos);
        if word.eq_ignore_ascii_case("not") {
            let after = self.pos + word.len();
            let mut look = after;
            while self
                .bytes
                .get(look)
                .is_some_and(|b| b.is_ascii_whitespace())
            {
                look += 1;
            }
            let next = self.bytes.get(look).copied();
            // `not (` is the RFC form; `not expr` (with a space, before something that is not
            // an operator, so `not pr` stays the attribute "not") is accepted too.
            let spaced_expr = look > after
                && next.is_some_and(|b| !is_delim(b))
                && !is_operator_word(self.word_at(look));
            if next == Some(b'(') {
                self.pos = look;
                let inner = self.primary(in_value)?;
                return Ok(Filter::Not(Box::new(inner)));
            }
            if spaced_expr {
                self.pos = look;
                self.enter()?;
                let inner = self.unary(in_value)?;
                self.leave();
                return Ok(Filter::Not(Box::new(inner)));
            }
        }
        self.primary(in_value)
    }

    fn primary(&mut self, in_value: bool) -> ScimResult<Filter> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("expected an expression but the filter ends")),
            Some(b'(') => {
                let open = self.pos;
                self.pos += 1;
                self.enter()?;
                let inner = self.or(in_value)?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return Err(if self.at_end() {
                        self.error_at(open, "'(' is never closed")
                    } else {
                        self.unexpected_in("expected 'and', 'or' or ')'")
                    });
                }
                self.pos += 1;
                self.leave();
                Ok(inner)
            }
            Some(b) if is_delim(b) => Err(self.unexpected_in("expected an attribute or '('")),
            Some(_) => self.attr_expr(in_value),
        }
    }

    fn attr_expr(&mut self, in_value: bool) -> ScimResult<Filter> {
        let start = self.pos;
        let word = self.read_word();
        let path = AttrPath::parse(word, KNOWN_URNS).map_err(|_| {
            self.error_at(
                start,
                &format!(
                    "'{}' is not a valid attribute path",
                    truncate(word, QUOTE_MAX)
                ),
            )
        })?;
        if self.peek() == Some(b'[') {
            return self.value_path(path, start, in_value);
        }
        self.attr_test(path, word)
    }

    /// `op value` or `pr` after a path.
    fn attr_test(&mut self, path: AttrPath, shown: &str) -> ScimResult<Filter> {
        self.skip_ws();
        let op_at = self.pos;
        let word = self.read_word();
        if word.is_empty() {
            self.pos = op_at;
            return Err(if self.at_end() {
                self.error(&format!(
                    "missing operator after '{}'",
                    truncate(shown, QUOTE_MAX)
                ))
            } else {
                self.unexpected_in("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")
            });
        }
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = compare_op(word) else {
            return Err(self.error_at(
                op_at,
                &format!(
                    "unknown operator '{}'; expected eq, ne, co, sw, ew, gt, ge, lt, le or pr",
                    truncate(word, QUOTE_MAX)
                ),
            ));
        };
        self.skip_ws();
        let value = self.comp_value(op)?;
        Ok(Filter::Compare { path, op, value })
    }

    fn value_path(&mut self, path: AttrPath, start: usize, in_value: bool) -> ScimResult<Filter> {
        if in_value {
            return Err(self.error("a value filter cannot contain another '[...]'"));
        }
        if path.sub.is_some() {
            return Err(self.error_at(
                start,
                "'[...]' must follow a multi-valued or complex attribute, not a sub-attribute",
            ));
        }
        let open = self.pos;
        self.pos += 1;
        self.enter()?;
        let inner = self.or(true)?;
        self.skip_ws();
        if self.peek() != Some(b']') {
            return Err(if self.at_end() {
                self.error_at(open, "'[' is never closed")
            } else {
                self.unexpected_in("expected 'and', 'or' or ']'")
            });
        }
        self.pos += 1;
        self.leave();
        if self.peek() != Some(b'.') {
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        // `emails[type eq "work"].value eq "x"` = `emails[type eq "work" and value eq "x"]`.
        self.pos += 1;
        let sub_at = self.pos;
        let sub = self.read_word();
        if !is_attr_name(sub) {
            return Err(self.error_at(sub_at, "expected a sub-attribute name after '].'"));
        }
        let test = self.attr_test(AttrPath::simple(sub), sub)?;
        Ok(Filter::ValuePath {
            path,
            filter: Box::new(Filter::And(Box::new(inner), Box::new(test))),
        })
    }

    fn comp_value(&mut self, op: CompareOp) -> ScimResult<CompValue> {
        match self.peek() {
            None | Some(b')') | Some(b']') => {
                Err(self.error(&format!("missing value after '{}'", op.as_str())))
            }
            Some(b'"') => self.string().map(CompValue::String),
            Some(b) if b == b'-' || b.is_ascii_digit() => self.number(),
            Some(_) => {
                let at = self.pos;
                let word = self.read_word();
                if word.eq_ignore_ascii_case("true") {
                    Ok(CompValue::Bool(true))
                } else if word.eq_ignore_ascii_case("false") {
                    Ok(CompValue::Bool(false))
                } else if word.eq_ignore_ascii_case("null") {
                    Ok(CompValue::Null)
                } else {
                    Err(self.error_at(
                        at,
                        &format!(
                            "'{}' is not a value; strings must be in double quotes, \
                             otherwise use a number, true, false or null",
                            truncate(word, QUOTE_MAX)
                        ),
                    ))
                }
            }
        }
    }

    /// A JSON string (RFC 8259 §7) starting at the opening quote.
    fn string(&mut self) -> ScimResult<String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = self.bytes.get(self.pos..).unwrap_or_default();
            let Some(i) = rest.iter().position(|&b| b == b'"' || b == b'\\') else {
                return Err(self.error_at(open, "string is never closed (missing '\"')"));
            };
            // `pos` follows an ASCII quote or escape and `pos + i` is ASCII: both boundaries.
            out.push_str(self.src.get(self.pos..self.pos + i).unwrap_or_default());
            self.pos += i;
            if self.peek() == Some(b'"') {
                self.pos += 1;
                return Ok(out);
            }
            let esc_at = self.pos;
            let c = match self.bytes.get(self.pos + 1) {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'/') => '/',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(b'u') => {
                    self.pos += 2;
                    out.push(self.unicode_escape(esc_at)?);
                    continue;
                }
                None => return Err(self.error_at(open, "string is never closed (missing '\"')")),
                Some(_) => return Err(self.error_at(
                    esc_at,
                    "invalid escape in string; use \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX",
                )),
            };
            out.push(c);
            self.pos += 2;
        }
    }

    /// The `XXXX` of `\uXXXX` at `pos` (and a following low surrogate if needed).
    fn unicode_escape(&mut self, esc_at: usize) -> ScimResult<char> {
        let hi = self.hex4(esc_at)?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            let is_pair = self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u".as_slice());
            if !is_pair {
                return Err(self.error_at(esc_at, "\\u escape is an unpaired surrogate"));
            }
            self.pos += 2;
            let lo = self.hex4(esc_at)?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.error_at(esc_at, "\\u escape is an unpaired surrogate"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code)
            .ok_or_else(|| self.error_at(esc_at, "\\u escape is an unpaired surrogate"))
    }

    fn hex4(&mut self, esc_at: usize) -> ScimResult<u32> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok());
        let Some(value) = digits else {
            return Err(self.error_at(esc_at, "\\u must be followed by four hex digits"));
        };
        self.pos += 4;
        Ok(value)
    }

    /// A JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> ScimResult<CompValue> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos > from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_at = self.pos;
        let mut ok = digits(self);
        if ok && self.bytes.get(int_at) == Some(&b'0') && self.pos > int_at + 1 {
            ok = false; // leading zero
        }
        let mut integral = true;
        if ok && self.peek() == Some(b'.') {
            self.pos += 1;
            integral = false;
            ok = digits(self);
        }
        if ok && matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            integral = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            ok = digits(self);
        }
        if !ok || self.peek().is_some_and(|b| !is_delim(b)) {
            let word = self.word_at(start);
            return Err(self.error_at(
                start,
                &format!("'{}' is not a valid number", truncate(word, QUOTE_MAX)),
            ));
        }
        let text = self.src.get(start..self.pos).unwrap_or_default();
        let number = if integral {
            text.parse::<u64>()
                .map(serde_json::Number::from)
                .or_else(|_| text.parse::<i64>().map(serde_json::Number::from))
                .ok()
        } else {
            None
        };
        let number = match number {
            Some(n) => Some(n),
            None => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64),
        };
        number.map(CompValue::Number).ok_or_else(|| {
            self.error_at(
                start,
                &format!("number '{}' is out of range", truncate(text, QUOTE_MAX)),
            )
        })
    }

    // ---- errors -------------------------------------------------------------------------

    /// The 1-based character position of byte offset `at`.
    fn char_pos(&self, at: usize) -> usize {
        let mut at = at.min(self.src.len());
        while !self.src.is_char_boundary(at) {
            at -= 1;
        }
        self.src.get(..at).map_or(0, |s| s.chars().count()) + 1
    }

    fn error_at(&self, at: usize, what: &str) -> ScimError {
        ScimError::invalid_filter(format!("{what} (at character {})", self.char_pos(at)))
    }

    fn error(&self, what: &str) -> ScimError {
        self.error_at(self.pos, what)
    }

    /// What stands at `pos`, quoted for an error detail.
    fn found(&self) -> String {
        let word = self.word_at(self.pos);
        if !word.is_empty() {
            return format!("'{}'", truncate(word, QUOTE_MAX));
        }
        match self.src.get(self.pos..).and_then(|s| s.chars().next()) {
            Some(c) => format!("'{c}'"),
            None => "the end of the filter".to_string(),
        }
    }

    fn unexpected_in(&self, expected: &str) -> ScimError {
        self.error(&format!("{expected}, found {}", self.found()))
    }

    /// After a complete expression: something other than `and`, `or` or the end.
    fn unexpected(&self) -> ScimError {
        match self.peek() {
            Some(b')') => self.error("')' has no matching '('"),
            Some(b']') => self.error("']' has no matching '['"),
            _ => self.unexpected_in("expected 'and', 'or' or the end of the filter"),
        }
    }
}
