//! Strategic merge patch with upstream's semantics (apimachinery's
//! `strategicpatch`): a JSON merge patch whose lists merge element-wise where
//! the type's tags say so, plus the `$patch`, `$retainKeys`,
//! `$setElementOrder/` and `$deleteFromPrimitiveList/` directives that kubectl
//! sends.

use std::mem::discriminant;

use serde_json::{Map, Value};

use super::PatchError;
use super::meta::{self, FieldMeta, Ty};

type Object = Map<String, Value>;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder";
const DELETE_FROM: &str = "$deleteFromPrimitiveList";

// Upstream's messages for malformed directives.
const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const BAD_SET_ORDER: &str = "invalid patch format of setElementOrder list";
const BAD_DELETE_FROM: &str = "invalid patch format of primitive list";

pub(super) fn apply(kind: &str, current: &Value, patch: Value) -> Result<Value, PatchError> {
    let patch = match patch {
        Value::Object(patch) => patch,
        // Upstream decodes `null` into an empty map: nothing to do.
        Value::Null => Object::new(),
        _ => return Err(malformed("the patch is not a JSON object".into())),
    };
    let original = current.as_object().cloned().unwrap_or_default();
    let mut merged = Value::Object(merge_map(original, patch, meta::root(kind))?);
    tidy(&mut merged);
    Ok(merged)
}

fn merge_map(mut original: Object, mut patch: Object, ty: Ty) -> Result<Object, PatchError> {
    if let Some(directive) = patch.get(PATCH) {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(PATCH);
                Ok(patch)
            }
            // Upstream leaves an empty map, not a missing field.
            Some("delete") => Ok(Object::new()),
            _ => Err(unknown_directive(directive, &patch)),
        };
    }
    retain_keys(&mut original, &mut patch)?;
    set_element_orders(&mut original, &mut patch, ty)?;
    for (key, value) in patch {
        merge_field(&mut original, key, value, ty)?;
    }
    Ok(original)
}

fn merge_field(original: &mut Object, key: String, value: Value, ty: Ty) -> Result<(), PatchError> {
    let (name, deleting) = if key.starts_with(DELETE_FROM) {
        let name =
            directive_target(&key, DELETE_FROM).ok_or_else(|| malformed(BAD_DELETE_FROM.into()))?;
        (name.to_string(), true)
    } else {
        (key, false)
    };
    // Taken in place so that, with serde_json's preserve_order, a changed
    // field keeps its position.
    let current = original.get_mut(&name).map(Value::take);
    if value.is_null() {
        original.remove(&name);
        return Ok(());
    }
    let field = meta::field(ty, &name);
    let merged = match (current, value) {
        // A deletion list never adds what is not there.
        (None, _) if deleting => None,
        (Some(current), value) if discriminant(&current) != discriminant(&value) => {
            if deleting {
                Some(current)
            } else {
                fresh(value)
            }
        }
        (None, value) => fresh(value),
        (Some(Value::Object(current)), Value::Object(patch)) => {
            Some(Value::Object(merge_map(current, patch, field.ty)?))
        }
        (Some(Value::Array(current)), Value::Array(patch)) if field.merge || deleting => {
            Some(Value::Array(merge_list(current, patch, field, deleting)?))
        }
        (Some(Value::Array(_)), patch @ Value::Array(_)) => Some(patch),
        (Some(_), value) => remove_directives(value),
    };
    match merged {
        Some(merged) => original.insert(name, merged),
        None => original.remove(&name),
    };
    Ok(())
}

/// A patch value for a field the original lacks (or has with another type).
fn fresh(mut value: Value) -> Option<Value> {
    discard_nulls(&mut value);
    remove_directives(value)
}

/// `$retainKeys`: the original keeps only the listed fields, and the patch
/// may set no others.
fn retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
    let Some(keys) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(keys) = keys else {
        return Err(malformed(BAD_RETAIN_KEYS.into()));
    };
    let kept = |k: &str| keys.iter().any(|v| v.as_str() == Some(k));
    let sets_others = patch
        .iter()
        .filter(|(k, v)| !v.is_null() && !k.starts_with(DELETE_FROM) && !k.starts_with(SET_ORDER))
        .any(|(k, _)| !kept(k));
    if sets_others {
        return Err(malformed(BAD_RETAIN_KEYS.into()));
    }
    original.retain(|k, _| kept(k));
    Ok(())
}

/// `$setElementOrder/<field>`: merges the field's list (if the patch has one)
/// and then orders it: the listed elements as listed, the others where they
/// were relative to them.
fn set_element_orders(original: &mut Object, patch: &mut Object, ty: Ty) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let order = patch.remove(&key).unwrap_or_default();
        let name =
            directive_target(&key, SET_ORDER).ok_or_else(|| malformed(BAD_SET_ORDER.into()))?;
        let Value::Array(order) = order else {
            return Err(malformed(BAD_SET_ORDER.into()));
        };
        let current = match original.get_mut(name).map(Value::take) {
            Some(Value::Array(list)) => Some(list),
            None | Some(Value::Null) => None,
            Some(other) => return Err(bad_type("list", name, &other)),
        };
        let patched = match patch.remove(name) {
            Some(Value::Array(list)) => Some(list),
            None => None,
            Some(other) => return Err(bad_type("list", name, &other)),
        };
        let field = meta::field(ty, name);
        check_order(
            patched.as_deref().unwrap_or_default(),
            &order,
            field.merge_key,
        )?;
        let server_order = match &current {
            Some(list) => identities(list, field.merge_key)?,
            None => Vec::new(),
        };
        let merged = match (current, patched) {
            (Some(current), None) => current,
            (None, Some(patched)) => patched.into_iter().filter_map(remove_directives).collect(),
            (Some(current), Some(patched)) if field.merge => {
                merge_list(current, patched, field, false)?
            }
            (Some(_), Some(patched)) => patched,
            (None, None) => continue,
        };
        let wanted = identities(&order, field.merge_key)?;
        let ordered = interleave(merged, &wanted, &server_order, field.merge_key)?;
        original.insert(name.to_string(), Value::Array(ordered));
    }
    Ok(())
}

/// The non-deleting elements of the patch list must appear in the
/// `$setElementOrder` list, in the same order.
fn check_order(patched: &[Value], order: &[Value], key: Option<&str>) -> Result<(), PatchError> {
    let listed: Vec<&Value> = match key {
        Some(_) => patched
            .iter()
            .filter(|v| v.get(PATCH).and_then(Value::as_str) != Some("delete"))
            .collect(),
        None => patched.iter().collect(),
    };
    let (mut p, mut o) = (0, 0);
    while p < listed.len() && o < order.len() {
        if listed[p].get(PATCH).is_some() {
            p += 1;
            continue;
        }
        if identity(listed[p], key)? == identity(&order[o], key)? {
            p += 1;
        }
        o += 1;
    }
    if p < listed.len() {
        return Err(invalid(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ORDER} list:\n{}\n",
            Value::Array(patched.to_vec()),
            Value::Array(order.to_vec()),
        )));
    }
    Ok(())
}

/// Merges a list whose field has strategy "merge" (or a deletion list).
fn merge_list(
    current: Vec<Value>,
    patch: Vec<Value>,
    field: FieldMeta,
    deleting: bool,
) -> Result<Vec<Value>, PatchError> {
    if current.is_empty() && patch.is_empty() {
        return Ok(current);
    }
    if !elements_are_maps(&current, &patch)? {
        if deleting {
            return Ok(current.into_iter().filter(|v| !patch.contains(v)).collect());
        }
        let server_order = current.clone();
        let mut merged: Vec<Value> = Vec::with_capacity(current.len() + patch.len());
        for v in current.into_iter().chain(patch.iter().cloned()) {
            if !merged.contains(&v) {
                merged.push(v);
            }
        }
        return interleave(merged, &patch, &server_order, None);
    }
    let Some(key) = field.merge_key else {
        let ty = field.ty.unwrap_or("this list");
        return Err(invalid(format!(
            "cannot merge lists without merge key for {ty}"
        )));
    };
    let (current, patch) = list_directives(current, patch, key)?;
    let server_order = identities(&current, Some(key))?;
    let patch_order = identities(&patch, Some(key))?;
    let mut merged = current;
    for item in patch {
        let id = identity(&item, Some(key))?.clone();
        match merged.iter().position(|m| m.get(key) == Some(&id)) {
            Some(i) => {
                let Value::Object(current) = merged[i].take() else {
                    unreachable!("checked to be maps")
                };
                let Value::Object(item) = item else {
                    unreachable!("checked to be maps")
                };
                merged[i] = Value::Object(merge_map(current, item, field.ty)?);
            }
            None => merged.push(item),
        }
    }
    interleave(merged, &patch_order, &server_order, Some(key))
}

/// Applies the `{"$patch": "delete" | "replace"}` elements of a patch list
/// and returns the list and the patch without them.
fn list_directives(
    mut current: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        match item.get(PATCH) {
            None => plain.push(item),
            Some(d) if d == "delete" => {
                let id = item.get(key).ok_or_else(|| no_merge_key(&item, key))?;
                current.retain(|v| v.get(key) != Some(id));
            }
            Some(d) if d == "replace" => replace = true,
            Some(d) if d == "merge" => {
                return Err(invalid(
                    "merging lists cannot yet be specified in the patch".into(),
                ));
            }
            Some(d) => {
                return Err(unknown_directive(
                    d,
                    item.as_object().unwrap_or(&Object::new()),
                ));
            }
        }
    }
    Ok(if replace {
        (plain, Vec::new())
    } else {
        (current, plain)
    })
}

/// Orders a merged list as upstream does: the elements the patch names in the
/// patch's order, the rest in the original's order, the two interleaved so
/// that a rest element goes before a named one that followed it in the
/// original. A named element new to the original goes before all pending rest
/// elements: `kubectl patch` adding a container puts it first.
fn interleave(
    merged: Vec<Value>,
    wanted: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    let position =
        |order: &[Value], v: &Value| identity(v, key).map(|id| order.iter().position(|o| o == id));
    let mut named = Vec::new();
    let mut rest = Vec::new();
    for v in merged {
        match position(wanted, &v)? {
            Some(i) => named.push((i, v)),
            None => {
                let i = position(server_order, &v)?;
                rest.push((i, v));
            }
        }
    }
    named.sort_by_key(|(i, _)| *i);
    rest.sort_by_key(|(i, _)| i.unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(named.len() + rest.len());
    let mut named = named.into_iter().map(|(_, v)| v).peekable();
    let mut rest = rest.into_iter().peekable();
    loop {
        let rest_first = match (rest.peek(), named.peek()) {
            (Some((Some(r), _)), Some(n)) => position(server_order, n)?.is_some_and(|n| *r < n),
            (Some(_), Some(_)) => false,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if rest_first {
            out.extend(rest.next().map(|(_, v)| v));
        } else {
            out.extend(named.next());
        }
    }
    Ok(out)
}

/// What identifies a list element: its merge key's value, or itself.
fn identity<'a>(v: &'a Value, key: Option<&str>) -> Result<&'a Value, PatchError> {
    let Some(key) = key else {
        return Ok(v);
    };
    if !v.is_object() {
        return Err(invalid(format!("expected a map, but received {v}")));
    }
    v.get(key).ok_or_else(|| no_merge_key(v, key))
}

fn identities(list: &[Value], key: Option<&str>) -> Result<Vec<Value>, PatchError> {
    list.iter().map(|v| identity(v, key).cloned()).collect()
}

/// Whether the elements of both lists are maps; they must all be of one type.
fn elements_are_maps(a: &[Value], b: &[Value]) -> Result<bool, PatchError> {
    let mut all = a.iter().chain(b);
    let Some(first) = all.next() else {
        return Ok(false);
    };
    if first.is_array() {
        return Err(invalid("lists of lists are not supported".into()));
    }
    if all.any(|v| discriminant(v) != discriminant(first)) {
        return Err(invalid(format!(
            "list element types are not identical: {} {}",
            Value::Array(a.to_vec()),
            Value::Array(b.to_vec())
        )));
    }
    Ok(first.is_object())
}

/// The field a `<prefix>/<field>` directive key names.
fn directive_target<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    key.split_once('/')
        .filter(|(p, _)| *p == prefix)
        .map(|(_, field)| field)
}

/// Drops maps that carry `$patch` (they only make sense against an original).
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) if m.contains_key(PATCH) => None,
        Value::Object(m) => Some(Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                .collect(),
        )),
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(remove_directives).collect(),
        )),
        v => Some(v),
    }
}

fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Upstream decodes the result into the Go type, which drops directive keys
/// left in new elements and null fields; a stored JSON object must do so here.
fn tidy(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, v| !v.is_null() && !is_directive(k));
            m.values_mut().for_each(tidy);
        }
        Value::Array(a) => a.iter_mut().for_each(tidy),
        _ => {}
    }
}

fn is_directive(key: &str) -> bool {
    key == PATCH
        || key == RETAIN_KEYS
        || directive_target(key, SET_ORDER).is_some()
        || directive_target(key, DELETE_FROM).is_some()
}

fn malformed(message: String) -> PatchError {
    PatchError::Malformed(message)
}

fn invalid(message: String) -> PatchError {
    PatchError::Invalid(message)
}

fn no_merge_key(v: &Value, key: &str) -> PatchError {
    invalid(format!(
        "map: {v} does not contain declared merge key: {key}"
    ))
}

fn unknown_directive(directive: &Value, map: &Object) -> PatchError {
    invalid(format!(
        "unknown patch type: {directive} in map: {}",
        Value::Object(map.clone())
    ))
}

fn bad_type(expected: &str, field: &str, got: &Value) -> PatchError {
    invalid(format!(
        "expected a {expected} for {field}, but received {got}"
    ))
}
