//! `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) with the registry's
//! `returned` rules: `never` is never returned (password), `always` always is (id),
//! `request` only when asked for, `default` unless excluded or another list was asked for.

use crate::error::ScimResult;
use crate::path::{AttrPath, ResolvedPath};
use crate::resource::{Doc, KNOWN_URNS};
#[cfg(test)]
use crate::schema::ResourceKind;
use crate::schema::{AttrDef, Described, Returned};
use serde_json::Value;

/// A parsed projection for one resource type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    /// `Some` when `attributes` was given: only these (plus `always`) are returned.
    include: Option<Vec<Target>>,
    exclude: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// A whole extension schema (`attributes=urn:...:enterprise:2.0:User`).
    Extension(&'static str),
    Path(ResolvedPath),
}

impl Projection {
    /// Parses the comma-separated lists. Unknown names are ignored (RFC 7644 §3.4.2.5 asks
    /// for no error), so a client asking for an attribute we do not keep gets a valid answer.
    pub fn parse(
        kind: impl Described,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> ScimResult<Projection> {
        let include = match attributes {
            Some(a) if !a.trim().is_empty() => Some(targets(kind, a)),
            _ => None,
        };
        let exclude = excluded.map(|e| targets(kind, e)).unwrap_or_default();
        Ok(Projection { include, exclude })
    }

    /// True when the top-level attribute `name` (canonical) could appear in the output.
    /// Stores use it to skip reading members or groups a response would drop.
    pub fn includes(&self, kind: impl Described, name: &str) -> bool {
        let Some(def) = kind.def().core_attr(name) else {
            return false;
        };
        if def.returned == Returned::Never {
            return false;
        }
        if def.returned == Returned::Always {
            return true;
        }
        let whole_excluded = self.exclude.iter().any(|t| match t {
            Target::Path(p) => p.extension.is_none() && p.sub.is_none() && p.attr.name == name,
            Target::Extension(_) => false,
        });
        if whole_excluded {
            return false;
        }
        match &self.include {
            None => def.returned != Returned::Request,
            Some(list) => list.iter().any(|t| match t {
                Target::Path(p) => p.extension.is_none() && p.attr.name == name,
                Target::Extension(_) => false,
            }),
        }
    }

    /// True when `attributes` names the top-level attribute `name` (or one of its
    /// sub-attributes) explicitly.
    pub fn names_explicitly(&self, name: &str) -> bool {
        self.include.as_ref().is_some_and(|list| {
            list.iter().any(|t| {
                matches!(t, Target::Path(p) if p.extension.is_none() && p.attr.name.eq_ignore_ascii_case(name))
            })
        })
    }

    /// Applies the projection to a full representation (as built by `resource::render`).
    pub fn apply(&self, kind: impl Described, full: &mut Doc) {
        let rt = kind.def();
        // `returned: never` first, whatever was asked.
        for attr in rt
            .schema
            .attributes
            .iter()
            .filter(|a| a.returned == Returned::Never)
        {
            full.remove(attr.name);
        }
        for (ext, _) in rt.extensions {
            if let Some(Value::Object(m)) = full.get_mut(ext.id) {
                for attr in ext
                    .attributes
                    .iter()
                    .filter(|a| a.returned == Returned::Never)
                {
                    m.remove(attr.name);
                }
            }
        }
        if let Some(include) = &self.include {
            let keys: Vec<String> = full.keys().cloned().collect();
            for key in keys {
                if key == "schemas" || key == "id" {
                    continue;
                }
                if let Some(ext) = rt.extension(&key) {
                    if include
                        .iter()
                        .any(|t| matches!(t, Target::Extension(e) if *e == ext.id))
                    {
                        continue;
                    }
                    let wanted: Vec<&ResolvedPath> = include
                        .iter()
                        .filter_map(|t| match t {
                            Target::Path(p) if p.extension.is_some_and(|e| e.id == ext.id) => {
                                Some(p)
                            }
                            _ => None,
                        })
                        .collect();
                    if let Some(Value::Object(m)) = full.get_mut(&key) {
                        keep_only(m, ext.attributes, &wanted);
                        if m.is_empty() {
                            full.remove(&key);
                        }
                    }
                    continue;
                }
                let wanted: Vec<&ResolvedPath> = include
                    .iter()
                    .filter_map(|t| match t {
                        Target::Path(p) if p.extension.is_none() && p.attr.name == key => Some(p),
                        _ => None,
                    })
                    .collect();
                let Some(def) = rt.core_attr(&key) else {
                    full.remove(&key);
                    continue;
                };
                if def.returned == Returned::Always {
                    continue;
                }
                if wanted.is_empty() {
                    full.remove(&key);
                } else if wanted.iter().all(|p| p.sub.is_some()) {
                    if let Some(v) = full.get_mut(&key) {
                        keep_subs(v, def, &wanted);
                    }
                }
            }
        } else {
            // Without `attributes`, `returned: request` attributes are left out.
            for attr in rt
                .schema
                .attributes
                .iter()
                .filter(|a| a.returned == Returned::Request)
            {
                full.remove(attr.name);
            }
        }
        for t in &self.exclude {
            match t {
                Target::Extension(id) => {
                    full.remove(*id);
                }
                Target::Path(p) => exclude_path(full, p),
            }
        }
        // Keep `schemas` truthful: list only extensions still present.
        if let Some(Value::Array(schemas)) = full.get("schemas").cloned() {
            let kept: Vec<Value> = schemas
                .into_iter()
                .filter(|s| {
                    let urn = s.as_str().unwrap_or_default();
                    rt.extension(urn).is_none() || full.contains_key(urn)
                })
                .collect();
            full.insert("schemas".into(), Value::Array(kept));
        }
    }
}

fn targets(kind: impl Described, list: &str) -> Vec<Target> {
    let rt = kind.def();
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|name| {
            if let Some(ext) = rt.extension(name) {
                return Some(Target::Extension(ext.id));
            }
            AttrPath::parse(name, KNOWN_URNS)
                .ok()
                .and_then(|p| p.resolve(rt).ok().flatten())
                .map(Target::Path)
        })
        .collect()
}

fn keep_only(m: &mut Doc, defs: &'static [AttrDef], wanted: &[&ResolvedPath]) {
    let keys: Vec<String> = m.keys().cloned().collect();
    for key in keys {
        let here: Vec<&ResolvedPath> = wanted
            .iter()
            .copied()
            .filter(|p| p.attr.name == key)
            .collect();
        let always = defs
            .iter()
            .any(|d| d.name == key && d.returned == Returned::Always);
        if always {
            continue;
        }
        if here.is_empty() {
            m.remove(&key);
        } else if here.iter().all(|p| p.sub.is_some()) {
            if let (Some(v), Some(def)) = (m.get_mut(&key), here.first().map(|p| p.attr)) {
                keep_subs(v, def, &here);
            }
        }
    }
}

/// Keeps only the requested sub-attributes of a complex (or multi-valued complex) value.
fn keep_subs(value: &mut Value, _def: &AttrDef, wanted: &[&ResolvedPath]) {
    let keep = |obj: &mut Doc| {
        obj.retain(|k, _| {
            wanted
                .iter()
                .any(|p| p.sub.is_some_and(|s| s.name == k) || p.sub.is_none())
        });
    };
    match value {
        Value::Object(obj) => keep(obj),
        Value::Array(items) => {
            for item in items.iter_mut() {
                if let Value::Object(obj) = item {
                    keep(obj);
                }
            }
            items.retain(|i| !matches!(i, Value::Object(o) if o.is_empty()));
        }
        _ => {}
    }
}

fn exclude_path(full: &mut Doc, p: &ResolvedPath) {
    if p.attr.returned == Returned::Always || p.sub.is_some_and(|s| s.returned == Returned::Always)
    {
        return;
    }
    let container = match p.extension {
        None => Some(&mut *full),
        Some(ext) => full.get_mut(ext.id).and_then(Value::as_object_mut),
    };
    let Some(container) = container else { return };
    match p.sub {
        None => {
            container.remove(p.attr.name);
        }
        Some(sub) => match container.get_mut(p.attr.name) {
            Some(Value::Object(obj)) => {
                obj.remove(sub.name);
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut() {
                    if let Value::Object(obj) = item {
                        obj.remove(sub.name);
                    }
                }
            }
            _ => {}
        },
    }
    if let Some(ext) = p.extension {
        if full
            .get(ext.id)
            .and_then(Value::as_object)
            .is_some_and(|m| m.is_empty())
        {
            full.remove(ext.id);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::schema::ENTERPRISE_USER_URN;
    use serde_json::json;

    fn full_user() -> Doc {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_URN],
            "id": "u1",
            "userName": "ann",
            "password": "secret",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "a@x", "type": "work", "primary": true}],
            "active": true,
            ENTERPRISE_USER_URN: {"department": "Sales", "manager": {"value": "m1"}},
            "meta": {"resourceType": "User"}
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn project(attrs: Option<&str>, excluded: Option<&str>) -> Value {
        let p = Projection::parse(ResourceKind::User, attrs, excluded).unwrap();
        let mut doc = full_user();
        p.apply(ResourceKind::User, &mut doc);
        Value::Object(doc)
    }

    #[test]
    fn password_is_never_returned() {
        assert!(project(None, None).get("password").is_none());
        assert!(project(Some("password"), None).get("password").is_none());
    }

    #[test]
    fn attributes_keeps_only_those_plus_id_and_schemas() {
        let out = project(Some("userName,EMAILS.value"), None);
        assert_eq!(
            out,
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u1", "userName": "ann", "emails": [{"value": "a@x"}]})
        );
    }

    #[test]
    fn extension_attributes_can_be_requested_qualified() {
        let out = project(Some(&format!("{ENTERPRISE_USER_URN}:department")), None);
        assert_eq!(out[ENTERPRISE_USER_URN], json!({"department": "Sales"}));
        assert_eq!(
            out["schemas"],
            json!([
                "urn:ietf:params:scim:schemas:core:2.0:User",
                ENTERPRISE_USER_URN
            ])
        );
    }

    #[test]
    fn excluded_attributes_drop_but_never_id() {
        let out = project(None, Some("emails,id,name.familyName"));
        assert!(out.get("emails").is_none());
        assert_eq!(out["id"], "u1");
        assert_eq!(out["name"], json!({"givenName": "Ann"}));
    }

    #[test]
    fn includes_tells_stores_whether_members_are_needed() {
        let p = Projection::parse(ResourceKind::Group, None, Some("members")).unwrap();
        assert!(!p.includes(ResourceKind::Group, "members"));
        let p = Projection::parse(ResourceKind::Group, Some("displayName"), None).unwrap();
        assert!(!p.includes(ResourceKind::Group, "members"));
        let p = Projection::parse(ResourceKind::Group, None, None).unwrap();
        assert!(p.includes(ResourceKind::Group, "members"));
        let p = Projection::parse(ResourceKind::User, Some("groups.value"), None).unwrap();
        assert!(p.includes(ResourceKind::User, "groups"));
    }
}
