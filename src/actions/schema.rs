//! What an input's value must be: a small, strict subset of JSON Schema (`type`, `pattern`,
//! `enum`, `minLength`, `maxLength`, `minimum`, `maximum`), checked on every value whoever
//! found it (a pattern or a model), and given whole to a model as its tool's parameters.

use serde::Deserialize;

/// An input's type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Text.
    #[default]
    String,
    /// A whole number.
    Integer,
    /// A number.
    Number,
    /// true or false.
    Boolean,
}

/// An input's schema.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// The type.
    #[serde(rename = "type", default)]
    pub kind: Kind,
    /// A regular expression the whole value must match (strings).
    pub pattern: Option<String>,
    /// The values allowed.
    #[serde(rename = "enum")]
    pub one_of: Option<Vec<String>>,
    /// Shortest string.
    #[serde(rename = "minLength")]
    pub min_length: Option<usize>,
    /// Longest string (default 256).
    #[serde(rename = "maxLength")]
    pub max_length: Option<usize>,
    /// Smallest number.
    pub minimum: Option<f64>,
    /// Largest number.
    pub maximum: Option<f64>,
    /// `pattern` anchored to the whole value, compiled once at its first use.
    #[serde(skip)]
    whole: Anchored,
}

/// A compiled regular expression kept with the schema (equal whatever it holds: it follows
/// from `pattern`).
#[derive(Debug, Clone, Default)]
struct Anchored(std::sync::OnceLock<Option<regex::Regex>>);

impl PartialEq for Anchored {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The longest string an input takes unless its schema says otherwise.
const DEFAULT_MAX_LENGTH: usize = 256;

impl Schema {
    /// Whether the schema itself holds together.
    pub fn check(&self) -> Result<(), String> {
        if let Some(pattern) = &self.pattern {
            regex::Regex::new(pattern)
                .map_err(|e| format!("pattern: {}", e.to_string().replace('\n', " ")))?;
        }
        if self.kind != Kind::String
            && (self.pattern.is_some() || self.min_length.is_some() || self.max_length.is_some())
        {
            return Err("pattern, minLength and maxLength are for strings".into());
        }
        if !self.is_numeric() && (self.minimum.is_some() || self.maximum.is_some()) {
            return Err("minimum and maximum are for numbers".into());
        }
        Ok(())
    }

    /// Whether values are numbers.
    pub fn is_numeric(&self) -> bool {
        matches!(self.kind, Kind::Integer | Kind::Number)
    }

    /// The value `text` as the schema reads it, or why it is not one.
    pub fn value_of(&self, text: &str) -> Result<serde_json::Value, String> {
        let text = text.trim();
        if let Some(allowed) = &self.one_of
            && !allowed.iter().any(|a| a == text)
        {
            return Err(format!("is not one of {allowed:?}"));
        }
        match self.kind {
            Kind::String => {
                let chars = text.chars().count();
                if chars < self.min_length.unwrap_or(1) {
                    return Err("is empty or too short".into());
                }
                if chars > self.max_length.unwrap_or(DEFAULT_MAX_LENGTH) {
                    return Err("is too long".into());
                }
                if text.chars().any(char::is_control) {
                    return Err("holds a control character".into());
                }
                if let Some(pattern) = &self.pattern {
                    let whole = self
                        .whole
                        .0
                        .get_or_init(|| regex::Regex::new(&format!("^(?:{pattern})$")).ok());
                    let matches = whole.as_ref().is_some_and(|re| re.is_match(text));
                    if !matches {
                        return Err(format!("does not match {pattern}"));
                    }
                }
                Ok(serde_json::Value::String(text.to_owned()))
            }
            Kind::Integer | Kind::Number => {
                let number: f64 = text
                    .trim_start_matches(['$', '€', '£'])
                    .replace(',', "")
                    .parse()
                    .map_err(|_| "is not a number".to_owned())?;
                if !number.is_finite() || (self.kind == Kind::Integer && number.fract() != 0.0) {
                    return Err(format!(
                        "is not {}",
                        if self.kind == Kind::Integer {
                            "a whole number"
                        } else {
                            "a number"
                        }
                    ));
                }
                if self.minimum.is_some_and(|m| number < m) || self.maximum.is_some_and(|m| number > m) {
                    return Err("is out of range".into());
                }
                Ok(if self.kind == Kind::Integer {
                    serde_json::Value::from(number as i64)
                } else {
                    serde_json::Value::from(number)
                })
            }
            Kind::Boolean => match text.to_ascii_lowercase().as_str() {
                "true" | "yes" => Ok(serde_json::Value::Bool(true)),
                "false" | "no" => Ok(serde_json::Value::Bool(false)),
                _ => Err("is not true or false".into()),
            },
        }
    }

    /// The schema as JSON Schema, for a model's tool.
    pub fn to_json(&self) -> serde_json::Value {
        let mut schema = serde_json::json!({ "type": match self.kind {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
        }});
        let object = schema.as_object_mut().expect("an object");
        if let Some(pattern) = &self.pattern {
            object.insert("pattern".into(), pattern.clone().into());
        }
        if let Some(one_of) = &self.one_of {
            object.insert("enum".into(), one_of.clone().into());
        }
        if self.kind == Kind::String {
            object.insert(
                "maxLength".into(),
                self.max_length.unwrap_or(DEFAULT_MAX_LENGTH).into(),
            );
        }
        for (key, value) in [("minimum", self.minimum), ("maximum", self.maximum)] {
            if let Some(value) = value {
                object.insert(key.into(), value.into());
            }
        }
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(toml: &str) -> Schema {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn values_are_read_as_their_type_or_refused_with_why() {
        let id = schema("type = \"string\"\npattern = '\\d{4,10}'");
        assert_eq!(id.value_of("12345").unwrap(), "12345");
        assert!(
            id.value_of("12345/../admin")
                .unwrap_err()
                .contains("does not match")
        );
        assert!(id.value_of("").is_err());
        let amount = schema("type = \"number\"\nminimum = 0");
        assert_eq!(amount.value_of("$1,250.50").unwrap(), 1250.5);
        assert!(amount.value_of("-3").unwrap_err().contains("range"));
        assert!(amount.value_of("lots").is_err());
        let count = schema("type = \"integer\"");
        assert!(count.value_of("2.5").is_err());
        let reason = schema("enum = [\"damaged\", \"late\"]");
        assert!(reason.value_of("other").is_err());
        assert!(
            Schema::default().value_of("a\u{7}b").is_err(),
            "control characters"
        );
        assert!(schema("type = \"integer\"\npattern = 'x'").check().is_err());
    }

    #[test]
    fn a_schema_is_given_to_a_model_as_json_schema() {
        let id = schema("type = \"string\"\npattern = '\\d+'");
        assert_eq!(
            id.to_json(),
            serde_json::json!({"type": "string", "pattern": "\\d+", "maxLength": 256})
        );
    }
}
