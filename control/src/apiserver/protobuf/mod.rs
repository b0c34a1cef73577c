//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`),
//! which client-go's typed clients send (kubectl's `create` generators among
//! them), decoded into the JSON value the rest of the server handles.
//!
//! A body is `k8s\0` and a runtime.Unknown: typeMeta = 1 (apiVersion = 1,
//! kind = 2), raw = 2 (the object's own message), contentEncoding = 3,
//! contentType = 4. Only the messages in `schema` are known; anything else
//! is refused rather than dropped, and the client can send JSON instead.

mod error;
mod message;
mod schema;
mod special;
mod wire;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

pub use error::Error;
use special::bytes;
use wire::{Reader, Wire};

pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// The object in a protobuf body. `expected` is the kind to read when the
/// body does not name one (upstream falls back the same way).
pub fn decode(body: &[u8], expected: &str) -> Result<Value, Error> {
    let rest = body.strip_prefix(MAGIC).ok_or_else(|| {
        Error::malformed("the body does not start with the Kubernetes protobuf prefix \"k8s\\0\"")
    })?;
    let mut type_meta = [String::new(), String::new()];
    let mut raw: &[u8] = &[];
    let mut r = Reader::new(rest);
    while let Some((num, wire)) = next(&mut r, "runtime.Unknown")? {
        match num {
            1 => type_meta = strings(bytes(&wire)?, "runtime.TypeMeta")?,
            2 => raw = bytes(&wire)?,
            3 | 4 => {
                let v = special::string(&wire)?;
                // Both are empty in what client-go writes: raw is the
                // plain, uncompressed message.
                if !v.is_empty() && v != MEDIA_TYPE {
                    return Err(Error::unsupported(format!(
                        "raw content {} {v:?} is not supported",
                        if num == 3 { "encoding" } else { "type" }
                    )));
                }
            }
            n => return Err(Error::unknown_field(n, "runtime.Unknown")),
        }
    }
    let [api_version, kind] = type_meta;
    let kind = if kind.is_empty() {
        expected.to_owned()
    } else {
        kind
    };
    let Some(message) = schema::message_of(&kind) else {
        return Err(Error::unsupported(format!(
            "protobuf bodies of kind {kind} are not supported (supported: {})",
            schema::kinds().collect::<Vec<_>>().join(", ")
        )));
    };
    let mut obj = Map::new();
    if !api_version.is_empty() {
        obj.insert("apiVersion".into(), json!(api_version));
    }
    obj.insert("kind".into(), json!(kind));
    obj.extend(message::object(raw, message)?);
    Ok(Value::Object(obj))
}

fn next<'a>(r: &mut Reader<'a>, message: &str) -> Result<Option<(u32, Wire<'a>)>, Error> {
    r.field()
        .map_err(|e| Error::malformed(format!("{message}: {e}")))
}

/// A message of string fields 1..=N.
fn strings<const N: usize>(buf: &[u8], message: &str) -> Result<[String; N], Error> {
    let mut out = std::array::from_fn(|_| String::new());
    let mut r = Reader::new(buf);
    while let Some((num, wire)) = next(&mut r, message)? {
        let slot = (num as usize)
            .checked_sub(1)
            .and_then(|i| out.get_mut(i))
            .ok_or_else(|| Error::unknown_field(num, message))?;
        *slot = special::string(&wire)?;
    }
    Ok(out)
}
