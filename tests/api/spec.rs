//! Validates JSON bodies against the request schemas of Intercom's OpenAPI 2.16 description
//! (`tests/spec/intercom-2.16.json`). Supported: `$ref`, `oneOf`/`anyOf` (valid when any
//! branch is), `allOf`, `type`, `nullable`, `enum`, `required`, `properties`, `items`,
//! `maxItems`. Stricter than Intercom in one way on purpose: a property the schema does not
//! declare is an error, so a misspelt field in what we send cannot pass.

use serde_json::Value;
use std::sync::OnceLock;

pub struct Spec {
    root: Value,
}

pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/spec/intercom-2.16.json");
        let text = std::fs::read_to_string(path).expect("spec file");
        Spec {
            root: serde_json::from_str(&text).expect("spec is JSON"),
        }
    })
}

impl Spec {
    /// The operation for a concrete method and path (query string ignored).
    fn operation(&self, method: &str, path: &str) -> Option<&Value> {
        let path = path.split('?').next().unwrap_or(path);
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let paths = self.root.get("paths")?.as_object()?;
        let mut best: Option<(&Value, usize)> = None;
        for (template, item) in paths {
            let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
            if parts.len() != segments.len() {
                continue;
            }
            let mut literal = 0;
            let matches = parts.iter().zip(&segments).all(|(t, s)| {
                if t.starts_with('{') {
                    true
                } else {
                    literal += 1;
                    t == s
                }
            });
            if matches
                && best.is_none_or(|(_, l)| literal > l)
                && let Some(op) = item.get(method.to_lowercase())
            {
                best = Some((op, literal));
            }
        }
        best.map(|(op, _)| op)
    }

    /// Errors of `body` against the operation's request schema; an unknown operation, or a
    /// body where none is defined, is an error too.
    pub fn check_request(&self, method: &str, path: &str, body: Option<&Value>) -> Vec<String> {
        let Some(operation) = self.operation(method, path) else {
            return vec![format!("{method} {path} is not an operation of the spec")];
        };
        let schema = operation
            .get("requestBody")
            .and_then(|b| b.get("content"))
            .and_then(|c| c.get("application/json"))
            .and_then(|j| j.get("schema"));
        let mut errors = Vec::new();
        match (schema, body) {
            (Some(schema), Some(body)) => self.validate(schema, body, "body", &mut errors),
            (Some(_), None) => {
                let required =
                    operation.get("requestBody").and_then(|b| b.get("required")) == Some(&Value::Bool(true));
                if required {
                    errors.push(format!("{method} {path} requires a body"));
                }
            }
            (None, Some(body)) if !body.is_null() => errors.push(format!("{method} {path} takes no body")),
            (None, _) => {}
        }
        errors
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut schema = schema;
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let pointer = reference.trim_start_matches('#');
            schema = self
                .root
                .pointer(pointer)
                .unwrap_or_else(|| panic!("unresolved {reference}"));
        }
        schema
    }

    pub fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if value.is_null() {
            if schema.get("nullable") != Some(&Value::Bool(true)) {
                errors.push(format!("{at}: null where the schema is not nullable"));
            }
            return;
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = schema.get(key).and_then(Value::as_array) {
                let mut best: Option<Vec<String>> = None;
                for branch in branches {
                    let mut branch_errors = Vec::new();
                    self.validate(branch, value, at, &mut branch_errors);
                    if branch_errors.is_empty() {
                        return;
                    }
                    if best.as_ref().is_none_or(|b| branch_errors.len() < b.len()) {
                        best = Some(branch_errors);
                    }
                }
                errors.push(format!("{at}: matches no branch of {key}"));
                errors.extend(best.unwrap_or_default());
                return;
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.validate(part, value, at, errors);
            }
            return;
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of {options:?}"));
        }
        let type_ok = match schema.get("type").and_then(Value::as_str) {
            None => true,
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some("array") => value.is_array(),
            Some("object") => value.is_object(),
            Some(other) => panic!("unknown type {other}"),
        };
        if !type_ok {
            errors.push(format!("{at}: {value} is not of type {}", schema["type"]));
            return;
        }
        if let Some(object) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for key in required.iter().filter_map(Value::as_str) {
                    if !object.contains_key(key) {
                        errors.push(format!("{at}: required property {key} is missing"));
                    }
                }
            }
            let open = schema
                .get("additionalProperties")
                .is_some_and(|a| a != &Value::Bool(false));
            for (key, field) in object {
                match properties.and_then(|p| p.get(key)) {
                    Some(property) => self.validate(property, field, &format!("{at}.{key}"), errors),
                    None if properties.is_some() && !open => {
                        errors.push(format!("{at}: property {key} is not in the schema"))
                    }
                    None => {}
                }
            }
        }
        if let Some(items) = value.as_array() {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                errors.push(format!("{at}: more than {max} items"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    self.validate(item_schema, item, &format!("{at}[{i}]"), errors);
                }
            }
        }
    }
}

#[test]
fn the_validator_rejects_what_intercom_would() {
    let spec = spec();
    let ok =
        serde_json::json!({"message_type": "comment", "type": "admin", "admin_id": "1", "body": "<p>hi</p>"});
    assert!(
        spec.check_request("POST", "/conversations/5/reply", Some(&ok))
            .is_empty()
    );
    // The spec's own example sends admin_id as an integer; the schema says string.
    let int_admin =
        serde_json::json!({"message_type": "note", "type": "admin", "admin_id": 991267696, "body": "x"});
    assert!(
        !spec
            .check_request("POST", "/conversations/5/reply", Some(&int_admin))
            .is_empty()
    );
    let typo =
        serde_json::json!({"message_type": "assignment", "type": "team", "admin_id": "1", "assigne_id": "2"});
    let errors = spec.check_request("POST", "/conversations/5/parts", Some(&typo));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("assigne_id") || e.contains("assignee_id")),
        "{errors:?}"
    );
    let bad_enum =
        serde_json::json!({"message_type": "shout", "type": "admin", "admin_id": "1", "body": "x"});
    assert!(
        !spec
            .check_request("POST", "/conversations/5/reply", Some(&bad_enum))
            .is_empty()
    );
    assert!(
        !spec
            .check_request(
                "POST",
                "/conversations/5/tags",
                Some(&serde_json::json!({"id": "1"}))
            )
            .is_empty()
    );
    assert!(!spec.check_request("GET", "/no/such/path", None).is_empty());
}
