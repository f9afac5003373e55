//! The PATCH `path` (RFC 7644 §3.5.2 Figure 7): `attrPath / valuePath ["." subAttr]`.

use crate::error::{ScimError, ScimResult};
use crate::filter::{self, Filter};
use crate::path::{is_attr_name, truncate, AttrPath};
use crate::resource::KNOWN_URNS;
use std::fmt;

/// A PATCH path: `name.givenName`, `urn:...:enterprise:2.0:User:manager` (or Entra's
/// `...:User.manager`), `emails[type eq "work"]`, `emails[type eq "work"].value`.
///
/// With a filter, `attr` names the multi-valued attribute (its own `sub` is `None`) and
/// `sub` the sub-attribute after the brackets; without one, `sub` is `None` and a dotted
/// sub-attribute is in `attr.sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

impl PatchPath {
    /// Parses a path. A malformed path is `invalidPath`; a malformed filter inside the
    /// brackets is `invalidFilter`. Whether the attribute exists is decided when applying.
    pub fn parse(text: &str) -> ScimResult<PatchPath> {
        let text = text.trim();
        let bad = || {
            ScimError::invalid_path(format!(
                "'{}' is not a valid PATCH path; expected attr, attr.sub, or attr[filter].sub",
                truncate(text, 100)
            ))
        };
        let Some(open) = text.find('[') else {
            if text.contains(']') {
                return Err(bad());
            }
            return Ok(PatchPath {
                attr: AttrPath::parse(text, KNOWN_URNS)?,
                filter: None,
                sub: None,
            });
        };
        let close = closing_bracket(text.as_bytes(), open + 1).ok_or_else(bad)?;
        let attr = AttrPath::parse(&text[..open], KNOWN_URNS)?;
        if attr.sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "'{}': a value filter must follow a multi-valued attribute, not a sub-attribute",
                truncate(text, 100)
            )));
        }
        let filter = filter::parse(&text[open + 1..close])?;
        let sub = match &text[close + 1..] {
            "" => None,
            tail => match tail.strip_prefix('.') {
                Some(s) if is_attr_name(s) => Some(s.to_string()),
                _ => return Err(bad()),
            },
        };
        Ok(PatchPath {
            attr,
            filter: Some(filter),
            sub,
        })
    }
}

/// The index of the `]` closing a value filter that starts at `from`, skipping quoted
/// strings and their backslash escapes. All delimiters are ASCII, so scanning bytes is
/// UTF-8 safe.
fn closing_bracket(bytes: &[u8], from: usize) -> Option<usize> {
    let mut in_string = false;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b']' if !in_string => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The canonical text form, which [`PatchPath::parse`] reads back to an equal value.
impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::ENTERPRISE_USER_URN;

    fn scim_type(text: &str) -> Option<ScimType> {
        PatchPath::parse(text).err().and_then(|e| e.scim_type)
    }

    #[test]
    fn plain_dotted_and_qualified_paths_parse_without_a_filter() {
        let p = PatchPath::parse("name.givenName").unwrap();
        assert_eq!(p.attr, AttrPath::with_sub("name", "givenName"));
        assert!(p.filter.is_none() && p.sub.is_none());
        for text in [
            format!("{ENTERPRISE_USER_URN}:manager"),
            format!("{ENTERPRISE_USER_URN}.manager"),
        ] {
            let p = PatchPath::parse(&text).unwrap();
            assert_eq!(p.attr.urn.as_deref(), Some(ENTERPRISE_USER_URN));
            assert_eq!(p.attr.name, "manager");
        }
    }

    #[test]
    fn value_paths_split_at_the_bracket_that_closes_outside_quotes() {
        let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr, AttrPath::simple("emails"));
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert_eq!(p.filter.unwrap().to_string(), r#"type eq "work""#);

        let p = PatchPath::parse(r#"members[value eq "a]b\"c[d"]"#).unwrap();
        assert_eq!(p.attr, AttrPath::simple("members"));
        assert_eq!(p.filter.unwrap().to_string(), r#"value eq "a]b\"c[d""#);
    }

    #[test]
    fn paths_print_back_to_text_that_parses_equal() {
        for text in [
            "userName",
            "name.familyName",
            r#"addresses[type eq "work"].formatted"#,
            r#"members[value eq "1" or value eq "2"]"#,
            r#"emails[type eq "work" and value ew "example.com"]"#,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager",
        ] {
            let p = PatchPath::parse(text).unwrap();
            assert_eq!(PatchPath::parse(&p.to_string()).unwrap(), p, "{text}");
        }
    }

    #[test]
    fn malformed_paths_are_invalid_path_and_bad_filters_invalid_filter() {
        for text in [
            "",
            "  ",
            "9lives",
            "emails[type eq \"work\"",
            "emails]",
            "name.givenName[type eq \"x\"]",
            "emails[type eq \"work\"]value",
            "emails[type eq \"work\"].",
            "emails[type eq \"work\"].value.x",
            "[type eq \"work\"]",
        ] {
            assert_eq!(scim_type(text), Some(ScimType::InvalidPath), "{text:?}");
        }
        for text in ["emails[type eq]", "emails[]", "emails[type eq \"a\"]]"] {
            assert!(scim_type(text).is_some(), "{text:?}");
        }
        assert_eq!(
            scim_type("emails[type zz \"x\"]"),
            Some(ScimType::InvalidFilter)
        );
    }
}
