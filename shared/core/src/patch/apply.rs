//! Applying operations to a canonical document (RFC 7644 §3.5.2.1–3.5.2.3).
//!
//! Semantics, where the RFC leaves room:
//! - `add` on a single-valued attribute sets it; on a complex one merges the given
//!   sub-attributes (a bare string such as Entra's `manager` id replaces it whole); on a
//!   multi-valued one appends, skipping values already present. `replace` is the same
//!   except that a multi-valued attribute without a filter gets exactly the new values.
//! - `null` (or `""` for `manager`, or `[]` for a single-valued attribute) as the value of
//!   an `add`/`replace` unassigns the target; an `add` of `null` or `[]` to a multi-valued
//!   attribute adds nothing.
//! - A value filter (`emails[type eq "work"].value`) acts on every matching element. When
//!   nothing matches, `add` and `replace` create the element from the filter's `eq`
//!   clauses plus the value, as Entra ID expects; a filter that does not describe an
//!   element that way (`or`, `ne`, `co`...) is `noTarget` instead.
//! - `remove` of something that is not there succeeds and changes nothing. A `remove` of a
//!   multi-valued attribute that carries a `value` removes only the listed values.
//! - A value set `primary` makes it the only primary value of its attribute.
//! - Read-only targets are `mutability`, unknown ones `invalidPath`; leaving a required
//!   attribute unassigned is `mutability` (RFC 7644 §3.5.2.3).

use super::members::{self, Accumulator};
use super::parse::split_pathless;
use super::{OpKind, PatchOperation, PatchOutcome, PatchPath, MAX_PATCH_OPERATIONS};
use crate::error::{ScimError, ScimResult};
use crate::filter::{self, CompValue, CompareOp, CompiledFilter, Filter};
use crate::path::{truncate, AttrPath, ResolvedPath};
use crate::resource::{
    check_required, coerce, coerce_single, container_mut, prune_extension, Doc, MAX_MULTI_VALUES,
};
use crate::schema::{AttrDef, AttrType, Mutability, ResourceKind, ResourceTypeDef, SchemaDef};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Applies operations to `doc`, the canonical stored document, and returns the new one.
/// Nothing is applied unless every operation succeeds.
pub fn apply_patch(
    kind: ResourceKind,
    doc: &Doc,
    ops: &[PatchOperation],
) -> ScimResult<PatchOutcome> {
    let ops = with_paths(ops)?;
    members::check_budget(&ops)?;
    let rt = kind.def();
    let mut after = doc.clone();
    let mut acc = Accumulator::default();
    let mut touched = Vec::new();
    for op in ops.iter() {
        let Some(path) = &op.path else {
            return Err(ScimError::no_target("an operation has no 'path'."));
        };
        // `remove` of a whole extension (`"path": "urn:...:enterprise:2.0:User"`): every
        // attribute of that extension is unassigned.
        if let Some(ext) = whole_extension(rt, op.op, path) {
            after.remove(ext.id);
            touched.extend(ext.attributes.iter().map(|a| (Some(ext), a)));
            continue;
        }
        let step = Step {
            kind,
            rt,
            op: op.op,
            path,
            value: op.value.as_ref(),
        };
        step.apply(&mut after, &mut acc, &mut touched)?;
    }
    let members = acc.finish();
    if kind == ResourceKind::Group {
        after.remove("members");
    }
    // RFC 7644 §3.5.2.3: unassigning a required attribute is a `mutability` error.
    check_required(kind, &after).map_err(|e| ScimError::mutability(e.detail))?;
    crate::limits::check_document(kind, Some(doc), &after)?;
    let mut changed = changed_attributes(doc, &after, &touched);
    if !members.is_empty() {
        changed.insert("members".to_string());
    }
    Ok(PatchOutcome {
        doc: after,
        changed,
        members,
    })
}

/// The extension a `remove` path names as a whole, if it does.
fn whole_extension(
    rt: &'static ResourceTypeDef,
    op: OpKind,
    path: &PatchPath,
) -> Option<&'static SchemaDef> {
    if op != OpKind::Remove
        || path.filter.is_some()
        || path.sub.is_some()
        || path.attr.sub.is_some()
    {
        return None;
    }
    let urn = path.attr.urn.as_deref()?;
    rt.extension(&format!("{urn}:{}", path.attr.name))
}

/// The operations with every path-less `add`/`replace` split into path operations (what
/// [`super::parse_patch`] already did for parsed bodies).
fn with_paths(ops: &[PatchOperation]) -> ScimResult<Cow<'_, [PatchOperation]>> {
    let too_many = || {
        ScimError::too_many(format!(
            "A PATCH request may hold at most {MAX_PATCH_OPERATIONS} operations."
        ))
    };
    if ops.len() > MAX_PATCH_OPERATIONS {
        return Err(too_many());
    }
    if ops.iter().all(|op| op.path.is_some()) {
        return Ok(Cow::Borrowed(ops));
    }
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        match (&op.path, op.op, &op.value) {
            (Some(_), _, _) => out.push(op.clone()),
            (None, OpKind::Remove, _) => {
                return Err(ScimError::no_target(
                    "a remove operation needs a 'path' (RFC 7644 §3.5.2.2).",
                ))
            }
            (None, _, None) => return Err(missing_value(op.op)),
            (None, _, Some(value)) => split_pathless(op.op, value, &mut out)?,
        }
        if out.len() > MAX_PATCH_OPERATIONS {
            return Err(too_many());
        }
    }
    Ok(Cow::Owned(out))
}

fn missing_value(op: OpKind) -> ScimError {
    ScimError::invalid_value(format!("an {} operation needs a 'value'.", op.as_str()))
}

/// An attribute an operation may have changed: its extension (if any) and definition.
type Touched = (Option<&'static SchemaDef>, &'static AttrDef);

/// Which elements of a multi-valued attribute an operation acts on.
enum Select<'a> {
    /// `emails.value`: every element.
    All,
    /// `emails[type eq "work"]`: the filter as written, and compiled as a value path.
    Filter(&'a Filter, CompiledFilter),
}

/// One operation with its context.
struct Step<'a> {
    kind: ResourceKind,
    rt: &'static ResourceTypeDef,
    op: OpKind,
    path: &'a PatchPath,
    value: Option<&'a Value>,
}

static NULL: Value = Value::Null;

impl Step<'_> {
    fn text(&self) -> String {
        truncate(&self.path.to_string(), 100)
    }

    /// Puts the path in front of an error's detail.
    fn at(&self, mut e: ScimError) -> ScimError {
        e.detail = format!("'{}': {}", self.text(), e.detail);
        e
    }

    fn unknown(&self) -> ScimError {
        ScimError::invalid_path(format!(
            "'{}' is not an attribute of a {}.",
            self.text(),
            self.rt.name
        ))
    }

    /// The value of an `add`/`replace` (checked present); `null` for a `remove`.
    fn value(&self) -> ScimResult<&Value> {
        match (self.op, self.value) {
            (OpKind::Remove, v) => Ok(v.unwrap_or(&NULL)),
            (_, Some(v)) => Ok(v),
            (op, None) => Err(missing_value(op)),
        }
    }

    /// Applies the operation; records the attribute it may change in `touched`.
    fn apply(
        &self,
        doc: &mut Doc,
        acc: &mut Accumulator,
        touched: &mut Vec<Touched>,
    ) -> ScimResult<()> {
        if self.op != OpKind::Remove && self.value.is_none() {
            return Err(missing_value(self.op));
        }
        if self.kind == ResourceKind::Group && members::is_members_path(self.path) {
            return self.members(acc);
        }
        let rp = self
            .path
            .attr
            .resolve(self.rt)?
            .ok_or_else(|| self.unknown())?;
        let sub = match (&self.path.sub, rp.sub) {
            (None, sub) => sub,
            (Some(name), None) => Some(rp.attr.sub(name).ok_or_else(|| self.unknown())?),
            (Some(_), Some(_)) => return Err(self.unknown()),
        };
        if self.path.filter.is_some() && !(rp.attr.multi_valued && rp.attr.is_complex()) {
            return Err(ScimError::invalid_path(format!(
                "'{}': a value filter can only select values of a multi-valued complex \
                 attribute such as emails.",
                self.text()
            )));
        }
        if [Some(rp.attr), sub]
            .into_iter()
            .flatten()
            .any(|d| d.mutability == Mutability::ReadOnly)
        {
            return Err(ScimError::mutability(format!(
                "'{}' is read-only.",
                self.text()
            )));
        }
        let whole = ResolvedPath { sub: None, ..rp };
        let attr_of = (whole.extension, whole.attr);
        if !touched
            .iter()
            .any(|t| t.0.map(|e| e.id) == attr_of.0.map(|e| e.id) && std::ptr::eq(t.1, attr_of.1))
        {
            touched.push(attr_of);
        }
        let container = container_mut(doc, &whole);
        match (&self.path.filter, sub) {
            (Some(f), _) => {
                let compiled = compile_value_path(self.rt, &whole, f)?;
                self.elements(container, rp.attr, Select::Filter(f, compiled), &whole, sub)?;
            }
            (None, Some(sub)) if rp.attr.multi_valued => {
                self.elements(container, rp.attr, Select::All, &whole, Some(sub))?;
            }
            (None, Some(sub)) => self.sub_attribute(container, rp.attr, sub)?,
            (None, None) if rp.attr.multi_valued => self.multi_valued(container, rp.attr)?,
            (None, None) => self.single_valued(container, rp.attr)?,
        }
        prune_extension(doc, &whole);
        Ok(())
    }

    /// `name`, `active`, `urn:...:manager`: set, merge or unassign.
    fn single_valued(&self, container: &mut Doc, attr: &'static AttrDef) -> ScimResult<()> {
        if self.op == OpKind::Remove {
            container.remove(attr.name);
            return Ok(());
        }
        let value = single(self.value()?, attr.name)?;
        match value {
            Value::Object(obj) if attr.is_complex() => {
                let target = object_entry(container, attr.name);
                merge_sub_attributes(target, attr, obj).map_err(|e| self.at(e))?;
                if target.is_empty() {
                    container.remove(attr.name);
                }
            }
            _ => set(container, attr.name, coerce_single(attr, value, attr.name)?),
        }
        Ok(())
    }

    /// `name.givenName`, `urn:...:manager.value`.
    fn sub_attribute(
        &self,
        container: &mut Doc,
        attr: &'static AttrDef,
        sub: &'static AttrDef,
    ) -> ScimResult<()> {
        let new = match self.op {
            OpKind::Remove => None,
            _ => coerce(sub, self.value()?, sub.name).map_err(|e| self.at(e))?,
        };
        let parent = object_entry(container, attr.name);
        set(parent, sub.name, new);
        if parent.is_empty() {
            container.remove(attr.name);
        }
        Ok(())
    }

    /// `emails`, `addresses` without a filter.
    fn multi_valued(&self, container: &mut Doc, attr: &'static AttrDef) -> ScimResult<()> {
        let value = self.value()?;
        match self.op {
            OpKind::Remove if value.is_null() => {
                container.remove(attr.name);
            }
            OpKind::Remove => remove_listed(container, attr, value)?,
            OpKind::Replace => set(container, attr.name, coerce(attr, value, attr.name)?),
            OpKind::Add => {
                let Some(Value::Array(new)) = coerce(attr, value, attr.name)? else {
                    return Ok(());
                };
                let list = array_entry(container, attr.name);
                let mut primary = None;
                for v in new {
                    if list.contains(&v) {
                        continue;
                    }
                    if primary.is_none() && is_primary(&v) {
                        primary = Some(list.len());
                    }
                    list.push(v);
                }
                if let Some(winner) = primary {
                    keep_primary(list, winner);
                }
                check_count(list, attr)?;
                if list.is_empty() {
                    container.remove(attr.name);
                }
            }
        }
        Ok(())
    }

    /// Operations on selected elements of a multi-valued complex attribute, or on one
    /// sub-attribute of each (`emails[type eq "work"].value`, `emails.value`).
    fn elements(
        &self,
        container: &mut Doc,
        attr: &'static AttrDef,
        select: Select<'_>,
        whole: &ResolvedPath,
        sub: Option<&'static AttrDef>,
    ) -> ScimResult<()> {
        let mut list = match container.get_mut(attr.name) {
            Some(Value::Array(list)) => std::mem::take(list),
            _ => Vec::new(),
        };
        let hits = select.hits(whole, &mut list);
        let any_hit = hits.contains(&true);
        let value = self.value()?;
        // Indices of elements this operation gave a value, in order.
        let mut touched = Vec::new();
        match (self.op, sub) {
            (OpKind::Remove, None) => retain_unselected(&mut list, &hits),
            (_, None) if single(value, attr.name)?.is_null() => {
                retain_unselected(&mut list, &hits);
            }
            (OpKind::Remove, Some(sub)) => {
                for (e, _) in list.iter_mut().zip(&hits).filter(|(_, hit)| **hit) {
                    if let Value::Object(o) = e {
                        o.remove(sub.name);
                    }
                }
            }
            (_, Some(sub)) => {
                let new = coerce(sub, value, sub.name).map_err(|e| self.at(e))?;
                if any_hit {
                    for (i, (e, _)) in list.iter_mut().zip(&hits).enumerate() {
                        if !hits[i] {
                            continue;
                        }
                        let obj = object_of(e);
                        set(obj, sub.name, new.clone());
                        if new.is_some() {
                            touched.push(i);
                        }
                    }
                } else if let Some(v) = new {
                    let mut elem = self.derive_element(&select, attr)?;
                    elem.insert(sub.name.to_string(), v);
                    touched.push(list.len());
                    list.push(Value::Object(elem));
                }
            }
            (op, None) => {
                let value = single(value, attr.name)?;
                if any_hit && op == OpKind::Add {
                    // Merge into each match: an object as given (its nulls unassign), a
                    // bare value as the registry reads it (`"x@y"` is `{"value": "x@y"}`).
                    let coerced = match value {
                        Value::Object(_) => None,
                        other => coerce_single(attr, other, attr.name).map_err(|e| self.at(e))?,
                    };
                    let given = match (value, &coerced) {
                        (Value::Object(given), _) | (_, Some(Value::Object(given))) => given,
                        _ => {
                            retain_unselected(&mut list, &hits);
                            return self.store(container, attr, list, &[]);
                        }
                    };
                    for (i, e) in list.iter_mut().enumerate() {
                        if hits[i] {
                            merge_sub_attributes(object_of(e), attr, given)
                                .map_err(|e| self.at(e))?;
                            touched.push(i);
                        }
                    }
                } else {
                    match coerce_single(attr, value, attr.name)? {
                        Some(Value::Object(new)) if any_hit => {
                            for (i, e) in list.iter_mut().enumerate() {
                                if hits[i] {
                                    *e = Value::Object(new.clone());
                                    touched.push(i);
                                }
                            }
                        }
                        Some(Value::Object(new)) => {
                            let mut elem = self.derive_element(&select, attr)?;
                            elem.extend(new);
                            touched.push(list.len());
                            list.push(Value::Object(elem));
                        }
                        _ => retain_unselected(&mut list, &hits),
                    }
                }
            }
        }
        self.store(container, attr, list, &touched)
    }

    /// Puts a multi-valued attribute back after [`Step::elements`]: the first touched
    /// primary value stays the only primary one, emptied values go, `[]` unassigns.
    fn store(
        &self,
        container: &mut Doc,
        attr: &'static AttrDef,
        mut list: Vec<Value>,
        touched: &[usize],
    ) -> ScimResult<()> {
        if let Some(&winner) = touched.iter().find(|&&i| is_primary(&list[i])) {
            keep_primary(&mut list, winner);
        }
        list.retain(|e| !matches!(e, Value::Object(o) if o.is_empty()));
        check_count(&list, attr)?;
        if list.is_empty() {
            container.remove(attr.name);
        } else {
            container.insert(attr.name.to_string(), Value::Array(list));
        }
        Ok(())
    }

    /// The element an `add`/`replace` creates when its filter matches nothing: the
    /// sub-attributes the filter's `eq` clauses fix (`type eq "work"` gives
    /// `{"type": "work"}`). A filter that does not pin an element down that way is
    /// `noTarget` (RFC 7644 §3.5.2.3).
    fn derive_element(&self, select: &Select<'_>, attr: &'static AttrDef) -> ScimResult<Doc> {
        let Select::Filter(filter, _) = select else {
            return Ok(Doc::new());
        };
        derive_from_filter(filter, attr).ok_or_else(|| {
            ScimError::no_target(format!(
                "'{}' matches no value, and its filter does not describe one to create \
                 (only 'eq' comparisons joined by 'and' do).",
                self.text()
            ))
        })
    }

    /// A Group's `members`, turned into membership changes.
    fn members(&self, acc: &mut Accumulator) -> ScimResult<()> {
        let ids = self
            .path
            .filter
            .as_ref()
            .map(members::filter_ids)
            .transpose()?;
        if self.path.sub.is_some() || self.path.attr.sub.is_some() {
            // Sub-attributes of a membership (`members[value eq "x"].display`) are not
            // stored per group; accept and change nothing.
            return Ok(());
        }
        match (self.op, ids) {
            (OpKind::Remove, Some(ids)) => ids.into_iter().for_each(|id| acc.remove(id)),
            (OpKind::Remove, None) => match self.value {
                None | Some(Value::Null) => acc.remove_all(),
                Some(v) => {
                    for m in members::parse_members(Some(v))? {
                        acc.remove(m.value);
                    }
                }
            },
            (OpKind::Add, None) => {
                for m in members::parse_members(self.value)? {
                    acc.add(m);
                }
            }
            (OpKind::Replace, None) => {
                let new = members::parse_members(self.value)?;
                acc.remove_all();
                new.into_iter().for_each(|m| acc.add(m));
            }
            (_, Some(_)) => {
                return Err(ScimError::invalid_path(format!(
                    "'{}': a filter on members selects members to remove; add members with \
                     the path 'members' and a value array.",
                    self.text()
                )))
            }
        }
        Ok(())
    }
}

impl Select<'_> {
    /// Which elements of `list` the selection takes. A filter is compiled as the value
    /// path `attr[filter]`, so each element is tested in a small document holding only it;
    /// elements are swapped in and out of that document rather than copied.
    fn hits(&self, whole: &ResolvedPath, list: &mut [Value]) -> Vec<bool> {
        let Select::Filter(_, compiled) = self else {
            return vec![true; list.len()];
        };
        let mut doc = Doc::new();
        doc.insert(whole.attr.name.to_string(), Value::Array(vec![Value::Null]));
        if let Some(ext) = whole.extension {
            let mut outer = Doc::new();
            outer.insert(ext.id.to_string(), Value::Object(doc));
            doc = outer;
        }
        let mut hits = Vec::with_capacity(list.len());
        for element in list.iter_mut() {
            swap_into(&mut doc, whole, element);
            hits.push(compiled.matches(&doc));
            swap_into(&mut doc, whole, element);
        }
        hits
    }
}

/// Swaps `element` with the single element held by a document built in [`Select::hits`].
fn swap_into(doc: &mut Doc, whole: &ResolvedPath, element: &mut Value) {
    let holder = match whole.extension {
        None => Some(&mut *doc),
        Some(ext) => doc.get_mut(ext.id).and_then(Value::as_object_mut),
    };
    if let Some(Value::Array(one)) = holder.and_then(|h| h.get_mut(whole.attr.name)) {
        if let Some(slot) = one.first_mut() {
            std::mem::swap(slot, element);
        }
    }
}

fn compile_value_path(
    rt: &'static ResourceTypeDef,
    whole: &ResolvedPath,
    filter: &Filter,
) -> ScimResult<CompiledFilter> {
    let value_path = Filter::ValuePath {
        path: AttrPath {
            urn: whole.extension.map(|e| e.id.to_string()),
            name: whole.attr.name.to_string(),
            sub: None,
        },
        filter: Box::new(filter.clone()),
    };
    filter::compile(&value_path, rt)
}

/// The sub-attributes fixed by a filter made only of `sub eq value` joined by `and`.
fn derive_from_filter(filter: &Filter, attr: &'static AttrDef) -> Option<Doc> {
    let mut out = Doc::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(l, r) => {
                stack.push(r);
                stack.push(l);
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.urn.is_none() && path.sub.is_none() => {
                let sub = attr.sub(&path.name)?;
                if sub.mutability == Mutability::ReadOnly {
                    return None;
                }
                let json = match value {
                    CompValue::Null => return None,
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::String(s) => Value::String(s.clone()),
                };
                let v = coerce_single(sub, &json, sub.name).ok()??;
                out.insert(sub.name.to_string(), v);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Unwraps the one-element array clients send for a single value; `[]` is `null`.
fn single<'v>(value: &'v Value, label: &str) -> ScimResult<&'v Value> {
    match value {
        Value::Array(items) => match items.as_slice() {
            [] => Ok(&NULL),
            [one] => Ok(one),
            _ => Err(ScimError::invalid_value(format!(
                "'{label}' takes a single value but an array was given."
            ))),
        },
        v => Ok(v),
    }
}

/// Sets or (for `None`) removes a key.
fn set(obj: &mut Doc, key: &str, value: Option<Value>) {
    match (value, obj.get_mut(key)) {
        (Some(v), Some(slot)) => *slot = v,
        (Some(v), None) => {
            obj.insert(key.to_string(), v);
        }
        (None, _) => {
            obj.remove(key);
        }
    }
}

/// `obj[key]` as an object, created (or made one) on the way.
fn object_entry<'a>(obj: &'a mut Doc, key: &str) -> &'a mut Doc {
    if !obj.contains_key(key) {
        obj.insert(key.to_string(), Value::Object(Map::new()));
    }
    match obj.get_mut(key) {
        Some(v) => object_of(v),
        None => unreachable!("inserted just above"),
    }
}

/// `obj[key]` as an array, created (or made one) on the way.
fn array_entry<'a>(obj: &'a mut Doc, key: &str) -> &'a mut Vec<Value> {
    let v = obj
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !v.is_array() {
        *v = Value::Array(Vec::new());
    }
    match v {
        Value::Array(a) => a,
        _ => unreachable!("made an array just above"),
    }
}

/// The value as an object, replacing it with an empty one if it is not.
fn object_of(v: &mut Value) -> &mut Doc {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(o) => o,
        _ => unreachable!("made an object just above"),
    }
}

/// Merges the sub-attributes of `given` into `target`: each one given is set (or, if
/// `null`, removed); unknown and read-only ones are ignored; others are left as they are.
fn merge_sub_attributes(target: &mut Doc, attr: &'static AttrDef, given: &Doc) -> ScimResult<()> {
    for (k, v) in given {
        let Some(sub) = attr.sub(k) else { continue };
        if sub.mutability == Mutability::ReadOnly {
            continue;
        }
        set(target, sub.name, coerce(sub, v, sub.name)?);
    }
    Ok(())
}

fn retain_unselected(list: &mut Vec<Value>, hits: &[bool]) {
    let mut i = 0;
    list.retain(|_| {
        let keep = !hits[i];
        i += 1;
        keep
    });
}

/// `remove` with a value on a multi-valued attribute: removes the elements that match one
/// of the given values (every sub-attribute given is equal), and only those.
fn remove_listed(container: &mut Doc, attr: &'static AttrDef, value: &Value) -> ScimResult<()> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        one => std::slice::from_ref(one),
    };
    let mut patterns = Vec::with_capacity(items.len());
    for item in items {
        if let Some(p) = coerce_single(attr, item, attr.name)? {
            patterns.push(p);
        }
    }
    let Some(Value::Array(list)) = container.get_mut(attr.name) else {
        return Ok(());
    };
    list.retain(|e| !patterns.iter().any(|p| element_matches(attr, e, p)));
    if list.is_empty() {
        container.remove(attr.name);
    }
    Ok(())
}

fn element_matches(attr: &'static AttrDef, element: &Value, pattern: &Value) -> bool {
    match (element, pattern) {
        (Value::Object(e), Value::Object(p)) => p.iter().all(|(k, pv)| {
            let ev = e.get(k);
            match (attr.sub(k), ev, pv) {
                (Some(def), Some(Value::String(a)), Value::String(b))
                    if def.ty == AttrType::String && !def.case_exact =>
                {
                    a.to_lowercase() == b.to_lowercase()
                }
                _ => ev == Some(pv),
            }
        }),
        (e, p) => e == p,
    }
}

fn is_primary(v: &Value) -> bool {
    v.get("primary") == Some(&Value::Bool(true))
}

/// Makes `list[winner]` the only primary value (RFC 7644 §3.5.2: setting `primary` on one
/// value unsets it on the others).
fn keep_primary(list: &mut [Value], winner: usize) {
    for (i, v) in list.iter_mut().enumerate() {
        if i != winner {
            if let Value::Object(o) = v {
                if o.get("primary") == Some(&Value::Bool(true)) {
                    o.remove("primary");
                }
            }
        }
    }
}

fn check_count(list: &[Value], attr: &AttrDef) -> ScimResult<()> {
    if list.len() > MAX_MULTI_VALUES {
        return Err(ScimError::too_many(format!(
            "'{}' would have more than {MAX_MULTI_VALUES} values.",
            attr.name
        )));
    }
    Ok(())
}

/// Canonical names of the touched attributes whose value differs; extension attributes
/// as `urn:...:name`. Only touched attributes can differ, so only they are compared.
fn changed_attributes(before: &Doc, after: &Doc, touched: &[Touched]) -> BTreeSet<String> {
    fn get(doc: &Doc, (ext, attr): Touched) -> Option<&Value> {
        match ext {
            None => doc.get(attr.name),
            Some(ext) => doc.get(ext.id).and_then(|e| e.get(attr.name)),
        }
    }
    touched
        .iter()
        .filter(|&&t| get(before, t) != get(after, t))
        .map(|&(ext, attr)| crate::resource::change_path(ext.map(|e| e.id), attr.name))
        .collect()
}
