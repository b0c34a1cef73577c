//! ControllerRevisions: snapshots of a DaemonSet's template; the data of a
//! revision never changes once written (upstream's
//! ValidateControllerRevision and its update rule).

use serde_json::Value;

use super::FieldError;

pub fn validate(obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    let revision = &obj["revision"];
    if !revision.is_null() && revision.as_i64().is_none_or(|r| r < 0) {
        errors.push(FieldError::invalid(
            "revision",
            revision.clone(),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(old) = old
        && old["data"] != obj["data"]
    {
        errors.push(FieldError::invalid(
            "data",
            obj["data"].clone(),
            "field is immutable",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(obj: Value, old: Option<Value>) -> Vec<String> {
        let mut errors = Vec::new();
        validate(&obj, old.as_ref(), &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn revisions_are_nonnegative_and_their_data_fixed() {
        assert!(errors(json!({"revision": 2, "data": {"a": 1}}), None).is_empty());
        assert_eq!(
            errors(json!({"revision": -1}), None),
            ["revision: Invalid value: -1: must be greater than or equal to 0"]
        );
        let old = json!({"revision": 1, "data": {"a": 1}});
        assert!(errors(json!({"revision": 3, "data": {"a": 1}}), Some(old.clone())).is_empty());
        assert_eq!(
            errors(json!({"revision": 1, "data": {"a": 2}}), Some(old)),
            ["data: Invalid value: {\"a\":2}: field is immutable"]
        );
    }
}
