//! Attribute paths (RFC 7644 §3.10 `attrPath`) and their resolution against the registry.
//!
//! A path as written (`emails.value`, `urn:...:enterprise:2.0:User:department`, Entra's
//! `urn:...:enterprise:2.0:User.manager` dot form, any casing) becomes an [`AttrPath`];
//! [`AttrPath::resolve`] turns it into a [`ResolvedPath`] of registry definitions whose
//! names are the canonical ones used as JSON keys.

use crate::error::{ScimError, ScimResult};
use crate::schema::{AttrDef, ResourceTypeDef, SchemaDef};
use std::fmt;

/// An attribute path as written: `[URN ":"] attr ["." sub]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN prefix if the path was qualified.
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn simple(name: &str) -> Self {
        AttrPath {
            urn: None,
            name: name.to_string(),
            sub: None,
        }
    }

    pub fn with_sub(name: &str, sub: &str) -> Self {
        AttrPath {
            urn: None,
            name: name.to_string(),
            sub: Some(sub.to_string()),
        }
    }

    /// Parses `[URN ":"] attr ["." sub]`. Known schema URNs of `rt` are matched first
    /// (case-insensitively, followed by `:` or Entra's `.`), so URNs containing dots such as
    /// `...:2.0:User` split correctly; an unknown URN splits at its last `:`.
    pub fn parse(text: &str, known_urns: &[&str]) -> ScimResult<AttrPath> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScimError::invalid_path("empty attribute path"));
        }
        let (urn, rest) = split_urn(text, known_urns);
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
            return Err(ScimError::invalid_path(format!(
                "'{}' is not a valid attribute path",
                truncate(text, 100)
            )));
        }
        Ok(AttrPath {
            urn: urn.map(str::to_string),
            name: name.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    /// Resolves the path against a resource type. Unknown attributes give `Ok(None)`, so a
    /// caller decides whether an unknown name is an error (PATCH) or simply unassigned (filter).
    pub fn resolve(&self, rt: &'static ResourceTypeDef) -> ScimResult<Option<ResolvedPath>> {
        let (schema, attr) = match &self.urn {
            Some(urn) => {
                let Some(schema) = rt.schema_by_urn(urn) else {
                    return Ok(None);
                };
                let attr = if std::ptr::eq(schema, rt.schema) {
                    rt.core_attr(&self.name)
                } else {
                    schema.attr(&self.name)
                };
                (schema, attr)
            }
            None => match rt.core_attr(&self.name) {
                Some(a) => (rt.schema, Some(a)),
                // An unqualified name that only an extension defines (Entra's tutorial sends
                // `"path": "manager"`): the extension's attribute, when exactly one has it.
                None => {
                    let mut found = rt
                        .extensions
                        .iter()
                        .filter_map(|(ext, _)| ext.attr(&self.name).map(|a| (*ext, a)));
                    match (found.next(), found.next()) {
                        (Some((ext, a)), None) => (ext, Some(a)),
                        _ => (rt.schema, None),
                    }
                }
            },
        };
        let Some(attr) = attr else {
            return Ok(None);
        };
        let sub = match &self.sub {
            None => None,
            Some(sub) => match attr.sub(sub) {
                Some(s) => Some(s),
                None => return Ok(None),
            },
        };
        let extension = if std::ptr::eq(schema, rt.schema) {
            None
        } else {
            Some(schema)
        };
        Ok(Some(ResolvedPath {
            extension,
            attr,
            sub,
        }))
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A path resolved to registry definitions. JSON location: `doc[ext.id]?[attr.name][sub.name]?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedPath {
    /// The extension schema holding the attribute, `None` for core and common attributes.
    pub extension: Option<&'static SchemaDef>,
    pub attr: &'static AttrDef,
    pub sub: Option<&'static AttrDef>,
}

impl ResolvedPath {
    /// The definition of the leaf (the sub-attribute if there is one).
    pub fn leaf(&self) -> &'static AttrDef {
        self.sub.unwrap_or(self.attr)
    }

    /// Looks the value up in a canonical resource document.
    pub fn container<'a>(
        &self,
        doc: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Option<&'a serde_json::Map<String, serde_json::Value>> {
        match self.extension {
            None => Some(doc),
            Some(ext) => doc.get(ext.id).and_then(|v| v.as_object()),
        }
    }

    /// Canonical dotted display form (`urn:...:department`, `emails.value`).
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        if let Some(ext) = self.extension {
            out.push_str(ext.id);
            out.push(':');
        }
        out.push_str(self.attr.name);
        if let Some(sub) = self.sub {
            out.push('.');
            out.push_str(sub.name);
        }
        out
    }
}

/// Splits a leading schema URN off `text`, returning `(urn, rest)`.
pub(crate) fn split_urn<'a>(text: &'a str, known_urns: &[&str]) -> (Option<&'a str>, &'a str) {
    if !starts_with_ignore_case(text, "urn:") {
        return (None, text);
    }
    for urn in known_urns {
        if text.len() > urn.len() + 1 && starts_with_ignore_case(text, urn) {
            let sep = text.as_bytes()[urn.len()];
            if sep == b':' || sep == b'.' {
                return (Some(&text[..urn.len()]), &text[urn.len() + 1..]);
            }
        }
    }
    match text.rfind(':') {
        Some(i) if i + 1 < text.len() => (Some(&text[..i]), &text[i + 1..]),
        _ => (None, text),
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// RFC 7643 §2.1 `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA`,
/// plus `$ref`.
pub fn is_attr_name(name: &str) -> bool {
    if name == "$ref" {
        return true;
    }
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Shortens user input quoted back in an error detail.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ResourceKind, ENTERPRISE_USER_URN, USER_SCHEMA_URN};

    const URNS: &[&str] = &[USER_SCHEMA_URN, ENTERPRISE_USER_URN];

    fn resolve(text: &str) -> Option<String> {
        let p = AttrPath::parse(text, URNS).ok()?;
        p.resolve(ResourceKind::User.def())
            .ok()?
            .map(|r| r.canonical())
    }

    #[test]
    fn simple_and_sub_attribute_paths_resolve_to_canonical_case() {
        assert_eq!(resolve("USERNAME").as_deref(), Some("userName"));
        assert_eq!(resolve("name.GIVENNAME").as_deref(), Some("name.givenName"));
        assert_eq!(resolve("emails.value").as_deref(), Some("emails.value"));
    }

    #[test]
    fn schema_qualified_paths_resolve_in_colon_and_entra_dot_form() {
        let dept = format!("{ENTERPRISE_USER_URN}:department");
        assert_eq!(
            resolve(&format!("{ENTERPRISE_USER_URN}:Department")),
            Some(dept)
        );
        let mgr = format!("{ENTERPRISE_USER_URN}:manager");
        assert_eq!(
            resolve(&format!("{ENTERPRISE_USER_URN}.manager")),
            Some(mgr.clone())
        );
        assert_eq!(
            resolve(&format!("{}:manager", ENTERPRISE_USER_URN.to_uppercase())),
            Some(mgr)
        );
        assert_eq!(
            resolve(&format!("{USER_SCHEMA_URN}:userName")).as_deref(),
            Some("userName")
        );
        assert_eq!(
            resolve(&format!("{ENTERPRISE_USER_URN}:manager.value")),
            Some(format!("{ENTERPRISE_USER_URN}:manager.value"))
        );
    }

    #[test]
    fn an_unqualified_extension_attribute_resolves_to_its_extension() {
        assert_eq!(
            resolve("manager"),
            Some(format!("{ENTERPRISE_USER_URN}:manager"))
        );
        assert_eq!(
            resolve("Department"),
            Some(format!("{ENTERPRISE_USER_URN}:department"))
        );
    }

    #[test]
    fn unknown_attributes_resolve_to_none_and_bad_names_fail() {
        assert_eq!(resolve("noSuchThing"), None);
        assert!(AttrPath::parse("", URNS).is_err());
        assert!(AttrPath::parse("9lives", URNS).is_err());
        assert!(AttrPath::parse("a b", URNS).is_err());
    }
}
