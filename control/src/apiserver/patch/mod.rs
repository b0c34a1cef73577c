//! PATCH bodies applied to stored objects as kube-apiserver applies them:
//! JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge
//! patch. Pure: the caller loads the object, validates and stores the result.

mod meta;
mod strategic;
#[cfg(test)]
mod tests;

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
}

impl PatchType {
    /// From a request's Content-Type. Server-side apply
    /// (`application/apply-patch+yaml`) is not served: None.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media.to_ascii_lowercase().as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The body is not a patch of its type: 400 BadRequest.
    #[error("{0}")]
    Malformed(String),
    /// The patch does not apply to the object: 422 Invalid.
    #[error("{0}")]
    Invalid(String),
}

impl PatchError {
    /// The HTTP status upstream answers with.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::Malformed(_) => 400,
            PatchError::Invalid(_) => 422,
        }
    }
}

/// Applies `patch` to `current`, an object of `kind` ("Deployment", ...),
/// and returns the patched object.
pub fn apply(
    kind: &str,
    patch_type: PatchType,
    current: &Value,
    patch: &[u8],
) -> Result<Value, PatchError> {
    let body: Value = serde_json::from_slice(patch)
        .map_err(|_| PatchError::Malformed("invalid JSON patch".into()))?;
    let patched = match patch_type {
        PatchType::Json => json_patch(current, body)?,
        PatchType::Merge => merge_patch(current, body)?,
        PatchType::Strategic => strategic::apply(kind, current, body)?,
    };
    if !patched.is_object() {
        return Err(PatchError::Invalid(format!(
            "the patched object is not a JSON object: {patched}"
        )));
    }
    Ok(patched)
}

fn json_patch(current: &Value, body: Value) -> Result<Value, PatchError> {
    let ops: json_patch::Patch = serde_json::from_value(body)
        .map_err(|e| PatchError::Malformed(format!("error decoding patch: {e}")))?;
    let mut doc = current.clone();
    json_patch::patch(&mut doc, &ops).map_err(|e| {
        PatchError::Invalid(match e.kind {
            json_patch::PatchErrorKind::TestFailed => {
                format!("testing value {} failed: test failed", e.path)
            }
            _ => e.to_string(),
        })
    })?;
    Ok(doc)
}

fn merge_patch(current: &Value, body: Value) -> Result<Value, PatchError> {
    // An array replaces the document (and then is no object); anything else
    // but an object is refused with upstream's words.
    if !body.is_object() && !body.is_array() {
        return Err(PatchError::Malformed("Invalid JSON Patch".into()));
    }
    let mut doc = current.clone();
    json_patch::merge(&mut doc, &body);
    Ok(doc)
}
