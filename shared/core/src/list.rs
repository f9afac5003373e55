//! Query parameters of a list or search request (RFC 7644 §3.4.2, RFC 9865 cursors) and the
//! `ListResponse` message.

use crate::error::{ScimError, ScimResult};
use crate::filter::{self, Filter};
use crate::path::truncate;
use crate::projection::Projection;
use crate::schema::{ResourceKind, LIST_RESPONSE_URN};
use crate::sort::Sort;
use serde_json::{json, Map, Value};

/// The most resources one page may hold; advertised as `filter.maxResults`.
pub const MAX_PAGE_SIZE: u64 = 200;
/// The page size when a client gives no `count`.
pub const DEFAULT_PAGE_SIZE: u64 = 100;

/// How the client pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// `startIndex` (1-based) paging, what Entra ID and Okta use.
    Index { start_index: u64 },
    /// RFC 9865 cursor paging; `None` asks for the first page.
    Cursor(Option<String>),
}

/// A parsed list request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub paging: Paging,
    /// The page size after clamping to `0..=MAX_PAGE_SIZE`.
    pub count: u64,
    pub projection: Projection,
    /// `sortBy`/`sortOrder` ([`crate::sort`]).
    pub sort: Option<Sort>,
}

impl ListQuery {
    /// Parses query parameters (names case-insensitive). `count` above the maximum is
    /// clamped, negative `count` is 0, `startIndex` below 1 is 1 (RFC 7644 §3.4.2.4).
    pub fn from_params<'a>(
        kind: ResourceKind,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> ScimResult<ListQuery> {
        let mut filter_text = None;
        let mut start_index = None;
        let mut count = None;
        let mut cursor = None;
        let mut attributes = None;
        let mut excluded = None;
        let mut sort_by = None;
        let mut sort_order = None;
        for (k, v) in params {
            match k.to_ascii_lowercase().as_str() {
                "filter" => filter_text = Some(v),
                "startindex" => start_index = Some(v),
                "count" => count = Some(v),
                "cursor" => cursor = Some(v),
                "attributes" => attributes = Some(v),
                "excludedattributes" => excluded = Some(v),
                "sortby" => sort_by = Some(v),
                "sortorder" => sort_order = Some(v),
                _ => {}
            }
        }
        let mut query = Self::build(
            kind,
            filter_text,
            start_index,
            count,
            cursor,
            attributes,
            excluded,
        )?;
        query.sort = Self::sort(kind, sort_by, sort_order)?;
        Ok(query)
    }

    /// `sortBy` (absent or empty: no sort) and `sortOrder` (without `sortBy`: ignored, as
    /// RFC 7644 §3.4.2.3 lets a server).
    fn sort(
        kind: ResourceKind,
        sort_by: Option<&str>,
        sort_order: Option<&str>,
    ) -> ScimResult<Option<Sort>> {
        match sort_by {
            Some(by) if !by.trim().is_empty() => Sort::parse(kind, by, sort_order).map(Some),
            _ => Ok(None),
        }
    }

    /// Parses a `POST /.search` body (RFC 7644 §3.4.3).
    pub fn from_search_body(kind: ResourceKind, body: &Value) -> ScimResult<ListQuery> {
        let Some(obj) = body.as_object() else {
            return Err(ScimError::invalid_syntax(
                "The search request must be a JSON object.",
            ));
        };
        let get = |name: &str| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let text = |name: &str| -> ScimResult<Option<String>> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Array(a)) => Ok(Some(
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                )),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "'{name}' has the wrong type."
                ))),
            }
        };
        let (f, s, c, cur, a, e) = (
            text("filter")?,
            text("startIndex")?,
            text("count")?,
            text("cursor")?,
            text("attributes")?,
            text("excludedAttributes")?,
        );
        let mut query = Self::build(
            kind,
            f.as_deref(),
            s.as_deref(),
            c.as_deref(),
            cur.as_deref(),
            a.as_deref(),
            e.as_deref(),
        )?;
        let (by, order) = (text("sortBy")?, text("sortOrder")?);
        query.sort = Self::sort(kind, by.as_deref(), order.as_deref())?;
        Ok(query)
    }

    fn build(
        kind: ResourceKind,
        filter_text: Option<&str>,
        start_index: Option<&str>,
        count: Option<&str>,
        cursor: Option<&str>,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> ScimResult<ListQuery> {
        let filter = match filter_text {
            Some(t) if !t.trim().is_empty() => {
                let f = filter::parse(t)?;
                // Type errors (`active gt true`) are the client's: find them here, as 400.
                filter::compile(&f, kind.def())?;
                // Ids become whole keys: an over-long one is refused before the store.
                crate::limits::check_filter(kind, &f)?;
                Some(f)
            }
            _ => None,
        };
        let count = match count {
            None => DEFAULT_PAGE_SIZE,
            Some(c) => parse_int(c, "count")?.clamp(0, MAX_PAGE_SIZE as i64) as u64,
        };
        let paging = match (cursor, start_index) {
            (Some(_), Some(_)) => {
                return Err(ScimError::invalid_value(
                    "Use either 'cursor' or 'startIndex' paging, not both.",
                ))
            }
            (Some(c), None) => Paging::Cursor(if c.is_empty() {
                None
            } else {
                Some(c.to_string())
            }),
            (None, Some(s)) => Paging::Index {
                start_index: parse_int(s, "startIndex")?.max(1) as u64,
            },
            (None, None) => Paging::Index { start_index: 1 },
        };
        let projection = Projection::parse(kind, attributes, excluded)?;
        Ok(ListQuery {
            filter,
            paging,
            count,
            projection,
            sort: None,
        })
    }
}

fn parse_int(text: &str, name: &str) -> ScimResult<i64> {
    let t = text.trim();
    t.parse::<i64>()
        .or_else(|_| {
            // Be lenient with huge numbers: anything too large is simply the maximum.
            if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                Ok(i64::MAX)
            } else {
                Err(())
            }
        })
        .map_err(|_| {
            ScimError::invalid_value(format!(
                "'{name}' must be an integer, not '{}'.",
                truncate(text, 32)
            ))
        })
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub resources: Vec<Map<String, Value>>,
    pub total_results: u64,
    pub start_index: Option<u64>,
    pub next_cursor: Option<String>,
    pub previous_cursor: Option<String>,
}

impl Page {
    /// The `ListResponse` message (RFC 7644 §3.4.2, RFC 9865 §2).
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "schemas": [LIST_RESPONSE_URN],
            "totalResults": self.total_results,
            "itemsPerPage": self.resources.len(),
        });
        if let Some(obj) = out.as_object_mut() {
            if let Some(s) = self.start_index {
                obj.insert("startIndex".into(), json!(s));
            }
            if let Some(c) = &self.next_cursor {
                obj.insert("nextCursor".into(), json!(c));
            }
            if let Some(c) = &self.previous_cursor {
                obj.insert("previousCursor".into(), json!(c));
            }
            obj.insert(
                "Resources".into(),
                Value::Array(self.resources.iter().cloned().map(Value::Object).collect()),
            );
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn q(params: &[(&str, &str)]) -> ScimResult<ListQuery> {
        ListQuery::from_params(ResourceKind::User, params.iter().copied())
    }

    #[test]
    fn count_above_the_maximum_is_clamped_and_negative_is_zero() {
        assert_eq!(q(&[("count", "100000")]).unwrap().count, MAX_PAGE_SIZE);
        assert_eq!(
            q(&[("count", "99999999999999999999999")]).unwrap().count,
            MAX_PAGE_SIZE
        );
        assert_eq!(q(&[("count", "-5")]).unwrap().count, 0);
        assert_eq!(q(&[]).unwrap().count, DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn start_index_below_one_reads_as_one() {
        assert_eq!(
            q(&[("startIndex", "0")]).unwrap().paging,
            Paging::Index { start_index: 1 }
        );
        assert_eq!(
            q(&[("startIndex", "-3")]).unwrap().paging,
            Paging::Index { start_index: 1 }
        );
        assert_eq!(
            q(&[("STARTINDEX", "7")]).unwrap().paging,
            Paging::Index { start_index: 7 }
        );
    }

    #[test]
    fn non_numeric_paging_is_invalid_value() {
        let e = q(&[("count", "ten")]).unwrap_err();
        assert_eq!(e.scim_type.map(|t| t.as_str()), Some("invalidValue"));
    }

    #[test]
    fn a_filter_that_parses_but_cannot_apply_is_invalid_filter() {
        let e = q(&[("filter", "active gt true")]).unwrap_err();
        assert_eq!(
            (e.status, e.scim_type.map(|t| t.as_str())),
            (400, Some("invalidFilter"))
        );
    }

    #[test]
    fn empty_cursor_starts_cursor_paging() {
        assert_eq!(q(&[("cursor", "")]).unwrap().paging, Paging::Cursor(None));
        assert!(q(&[("cursor", "x"), ("startIndex", "1")]).is_err());
    }

    #[test]
    fn empty_list_response_has_zero_totals() {
        let page = Page {
            resources: vec![],
            total_results: 0,
            start_index: Some(1),
            next_cursor: None,
            previous_cursor: None,
        };
        let v = page.to_json();
        assert_eq!(v["totalResults"], 0);
        assert_eq!(v["itemsPerPage"], 0);
        assert_eq!(v["startIndex"], 1);
        assert_eq!(v["Resources"], json!([]));
    }
}
