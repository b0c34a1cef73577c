//! One message into a JSON object, field by field as the schema says. A
//! field the schema does not list is an error, never skipped: the object
//! would otherwise be stored without it.

use serde_json::{Map, Value, json};

use super::error::Error;
use super::schema::{self, Kind};
use super::special::{self, bytes};
use super::wire::{Reader, Wire};

pub fn object(buf: &[u8], message: &str) -> Result<Map<String, Value>, Error> {
    let fields = schema::fields(message)
        .ok_or_else(|| Error::unsupported(format!("message {message} is not supported")))?;
    let mut out = Map::new();
    let mut r = Reader::new(buf);
    while let Some((num, wire)) = r
        .field()
        .map_err(|e| Error::malformed(format!("{message}: {e}")))?
    {
        let Some(&(_, name, kind)) = fields.iter().find(|f| f.0 == num) else {
            return Err(Error::unknown_field(num, message));
        };
        field(&mut out, name, kind, wire).map_err(|e| e.at(name))?;
    }
    Ok(out)
}

fn field(out: &mut Map<String, Value>, name: &str, kind: Kind, wire: Wire) -> Result<(), Error> {
    match kind {
        Kind::Inline(m) => out.extend(object(bytes(&wire)?, m)?),
        Kind::List(elem) => {
            let list = out.entry(name).or_insert_with(|| json!([]));
            let list = list.as_array_mut().ok_or_else(|| clash(name))?;
            match wire {
                // Packed repeated scalars: one run of varints.
                Wire::Bytes(packed) if varint_kind(*elem) => {
                    let mut r = Reader::new(packed);
                    while !r.is_empty() {
                        let v = r.varint().map_err(Error::malformed)?;
                        list.push(value(*elem, Wire::Varint(v))?);
                    }
                }
                wire => {
                    let at = format!("[{}]", list.len());
                    list.push(value(*elem, wire).map_err(|e| e.at(&at))?);
                }
            }
        }
        Kind::Map(v) => {
            let (key, val) = entry(bytes(&wire)?, *v)?;
            let map = out.entry(name).or_insert_with(|| json!({}));
            map.as_object_mut()
                .ok_or_else(|| clash(name))?
                .insert(key, val);
        }
        kind => {
            let v = value(kind, wire)?;
            if omits_zero(kind) && is_zero(&v) {
                out.remove(name);
            } else {
                out.insert(name.to_owned(), v);
            }
        }
    }
    Ok(())
}

fn value(kind: Kind, wire: Wire) -> Result<Value, Error> {
    Ok(match (kind, &wire) {
        (Kind::Str | Kind::KeepStr, _) => json!(special::string(&wire)?),
        (Kind::Int | Kind::KeepInt, Wire::Varint(v)) => json!(*v as i64),
        (Kind::Bool | Kind::KeepBool, Wire::Varint(v)) => json!(*v != 0),
        (Kind::Bytes, Wire::Bytes(b)) => special::base64(b),
        (Kind::Msg(m), Wire::Bytes(b)) => Value::Object(object(b, m)?),
        (Kind::Time, Wire::Bytes(b)) => special::time(b, false)?,
        (Kind::MicroTime, Wire::Bytes(b)) => special::time(b, true)?,
        (Kind::IntOrStr, Wire::Bytes(b)) => special::int_or_string(b)?,
        (Kind::Qty, Wire::Bytes(b)) => special::quantity(b)?,
        (Kind::FieldsV1, Wire::Bytes(b)) => special::fields_v1(b)?,
        (kind, wire) => {
            return Err(Error::malformed(format!(
                "a {} value where {kind:?} was expected",
                wire.name()
            )));
        }
    })
}

/// A map entry: key = 1, value = 2; Go writes both, but an absent value
/// is the zero value as in any message.
fn entry(buf: &[u8], kind: Kind) -> Result<(String, Value), Error> {
    let (mut key, mut val) = (String::new(), None);
    let mut r = Reader::new(buf);
    while let Some((num, wire)) = r.field().map_err(Error::malformed)? {
        match num {
            1 => key = special::string(&wire)?,
            2 => val = Some(value(kind, wire)?),
            n => {
                return Err(Error::unknown_field(n, "a map entry"));
            }
        }
    }
    let val = match (val, kind) {
        (Some(v), _) => v,
        (None, Kind::Qty) => json!("0"),
        (None, Kind::Int | Kind::KeepInt) => json!(0),
        (None, Kind::Bool | Kind::KeepBool) => json!(false),
        (None, Kind::Msg(_)) => json!({}),
        (None, _) => json!(""),
    };
    Ok((key, val))
}

/// Two fields of one JSON object with the same name (through an inlined
/// message): the schema would be wrong, the body is refused.
fn clash(name: &str) -> Error {
    Error::unsupported(format!("{name} is written twice"))
}

fn varint_kind(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Int | Kind::KeepInt | Kind::Bool | Kind::KeepBool
    )
}

fn omits_zero(kind: Kind) -> bool {
    matches!(kind, Kind::Str | Kind::Int | Kind::Bool)
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
        _ => false,
    }
}
