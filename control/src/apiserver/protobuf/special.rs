//! The apimachinery types whose JSON form is not their message's fields.

use base64::Engine as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::error::Error;
use super::wire::{Reader, Wire};

/// The fields of a small fixed message, by number; any other field is an
/// error naming `message`.
fn read<'a>(buf: &'a [u8], message: &str, known: &[u32]) -> Result<Vec<(u32, Wire<'a>)>, Error> {
    let mut r = Reader::new(buf);
    let mut out = vec![];
    while let Some((num, wire)) = r.field().map_err(Error::malformed)? {
        if !known.contains(&num) {
            return Err(Error::unknown_field(num, message));
        }
        out.push((num, wire));
    }
    Ok(out)
}

fn varint(wire: &Wire, message: &str) -> Result<u64, Error> {
    match wire {
        Wire::Varint(v) => Ok(*v),
        w => Err(Error::malformed(format!(
            "{message}: a {} value where a varint was expected",
            w.name()
        ))),
    }
}

pub fn string(wire: &Wire) -> Result<String, Error> {
    match wire {
        Wire::Bytes(b) => String::from_utf8(b.to_vec())
            .map_err(|_| Error::malformed("a string that is not valid UTF-8")),
        w => Err(Error::malformed(format!(
            "a {} value where a string was expected",
            w.name()
        ))),
    }
}

pub fn bytes<'a>(wire: &Wire<'a>) -> Result<&'a [u8], Error> {
    match wire {
        Wire::Bytes(b) => Ok(b),
        w => Err(Error::malformed(format!(
            "a {} value where a message was expected",
            w.name()
        ))),
    }
}

pub fn base64(bytes: &[u8]) -> Value {
    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// metav1.Time and MicroTime: seconds = 1, nanos = 2. Go writes the zero
/// time as an empty message, which JSON writes as null.
pub fn time(buf: &[u8], micro: bool) -> Result<Value, Error> {
    let message = if micro {
        "meta.v1.MicroTime"
    } else {
        "meta.v1.Time"
    };
    if buf.is_empty() {
        return Ok(Value::Null);
    }
    let (mut secs, mut nanos) = (0i64, 0i32);
    for (num, wire) in read(buf, message, &[1, 2])? {
        let v = varint(&wire, message)?;
        match num {
            1 => secs = v as i64,
            _ => nanos = v as i64 as i32,
        }
    }
    let ts =
        Timestamp::new(secs, nanos).map_err(|e| Error::malformed(format!("{message}: {e}")))?;
    let v = if micro {
        serde_json::to_value(MicroTime(ts))
    } else {
        serde_json::to_value(Time(ts))
    };
    v.map_err(|e| Error::malformed(format!("{message}: {e}")))
}

/// intstr.IntOrString: type = 1 (0 int, 1 string), intVal = 2, strVal = 3.
pub fn int_or_string(buf: &[u8]) -> Result<Value, Error> {
    const M: &str = "intstr.IntOrString";
    let (mut ty, mut int, mut s) = (0, 0i64, String::new());
    for (num, wire) in read(buf, M, &[1, 2, 3])? {
        match num {
            1 => ty = varint(&wire, M)?,
            2 => int = varint(&wire, M)? as i64 as i32 as i64,
            _ => s = string(&wire)?,
        }
    }
    match ty {
        0 => Ok(json!(int)),
        1 => Ok(json!(s)),
        t => Err(Error::malformed(format!("{M}: unknown type {t}"))),
    }
}

/// resource.Quantity: its string = 1.
pub fn quantity(buf: &[u8]) -> Result<Value, Error> {
    let mut s = String::new();
    for (_, wire) in read(buf, "resource.Quantity", &[1])? {
        s = string(&wire)?;
    }
    Ok(json!(s))
}

/// metav1.FieldsV1: Raw = 1 holds the JSON itself.
pub fn fields_v1(buf: &[u8]) -> Result<Value, Error> {
    let mut raw: &[u8] = b"null";
    for (_, wire) in read(buf, "meta.v1.FieldsV1", &[1])? {
        match wire {
            Wire::Bytes(b) => raw = b,
            w => {
                return Err(Error::malformed(format!(
                    "meta.v1.FieldsV1: a {} value where bytes were expected",
                    w.name()
                )));
            }
        }
    }
    serde_json::from_slice(raw).map_err(|e| Error::malformed(format!("meta.v1.FieldsV1: {e}")))
}
