//! Intercom's JSON as it arrives, parsed leniently: every field optional, ids accepted as
//! strings or numbers, nulls anywhere, and a nested object of the wrong shape read as absent
//! rather than failing the whole payload (docs/intercom-facts.md §5.6).

use crate::domain::{AdminId, AuthorKind, Conversation, ConversationId, Message, PartKind, TeamId};
use crate::text::html_to_text;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An id or short string that Intercom sends as a string, a number, or null.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// An item's `type` as the lenient parse of a notification reads it: a string, as it is.
pub(crate) fn item_type<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// A timestamp or count sent as a number, a numeric string, or null.
pub(crate) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A flag sent as a bool, a string, or null.
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

/// A nested object: absent when null or of the wrong shape.
pub(crate) fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// A list of ids sent as numbers or strings (others skipped).
pub(crate) fn lenient_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) if !s.trim().is_empty() => Some(s),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// A list whose elements are kept when they parse and skipped when they do not.
pub(crate) fn lenient_vec<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// The webhook envelope ("notification object"), its `data` read as `D`: of any shape by the
/// lenient parse ([`LenientData`]), a conversation's by the direct one
/// ([`ConversationNotificationWire`]).
#[derive(Debug, Deserialize)]
pub(crate) struct NotificationWire<D = LenientData> {
    #[serde(default, rename = "type", deserialize_with = "lenient_string")]
    pub(crate) kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) topic: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) app_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub(crate) created_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub(crate) delivery_attempts: Option<i64>,
    #[serde(default)]
    pub(crate) data: D,
}

/// An envelope's `data` of any shape: absent when it is not an object with an item.
#[derive(Debug, Default)]
pub(crate) struct LenientData(pub(crate) Option<NotificationDataWire>);

impl<'de> Deserialize<'de> for LenientData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient(d).map(LenientData)
    }
}

/// A conversation's notification, read straight from the bytes (`notification::parse`): the
/// envelope's fields as the lenient parse reads them, and a `data.item` that must be an
/// object, read as a [`ConversationWire`]. Strict: anything else fails (or leaves `data`
/// out), and the caller falls back to the lenient parse.
pub(crate) type ConversationNotificationWire = NotificationWire<Option<ConversationDataWire>>;

/// [`ConversationNotificationWire`]'s `data`.
#[derive(Debug, Deserialize)]
pub(crate) struct ConversationDataWire {
    pub(crate) item: ConversationWire,
}

/// Only what the webhook needs to store a notification: read straight from the bytes, the
/// rest of the document skipped without being built. Strict: a duplicate field or an item
/// that is not an object fails, and the caller falls back to the full parse.
#[derive(Debug, Deserialize)]
pub(crate) struct EnvelopeWire {
    #[serde(default, rename = "type", deserialize_with = "lenient_string")]
    pub(crate) kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) topic: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) app_id: Option<String>,
    #[serde(default)]
    pub(crate) data: Option<EnvelopeDataWire>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct EnvelopeDataWire {
    #[serde(default)]
    pub(crate) item: Option<EnvelopeItemWire>,
}

/// The item's type and id. Only an object is one (as in the full parse, which requires an
/// object), and a repeated key keeps its last value (as `serde_json::Value` does).
#[derive(Debug)]
pub(crate) struct EnvelopeItemWire {
    pub(crate) kind: Option<String>,
    pub(crate) id: Option<String>,
}

impl<'de> Deserialize<'de> for EnvelopeItemWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EnvelopeItemWire;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut item = EnvelopeItemWire { kind: None, id: None };
                let scalar = |v: Value| match v {
                    Value::String(s) if !s.trim().is_empty() => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                };
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "type" => item.kind = scalar(map.next_value()?),
                        "id" => item.id = scalar(map.next_value()?),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(item)
            }
        }
        d.deserialize_map(Visitor)
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NotificationDataWire {
    #[serde(default)]
    pub(crate) item: Option<Value>,
}

/// A conversation as `GET /conversations/{id}` and conversation webhooks carry it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ConversationWire {
    /// `conversation`; read by the direct parse of a notification, whose item it must be.
    #[serde(default, rename = "type", deserialize_with = "item_type")]
    pub(crate) kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(crate) open: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) state: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) source: Option<SourceWire>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) conversation_parts: Option<PartsWire>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) tags: Option<TagListWire>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub(crate) created_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) custom_attributes: Option<serde_json::Map<String, Value>>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) conversation_rating: Option<RatingWire>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) admin_assignee_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) team_assignee_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) contacts: Option<ContactListWire>,
}

/// `contacts` of a conversation: references only (docs/intercom-facts.md §5.3).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ContactListWire {
    #[serde(default, deserialize_with = "lenient_vec")]
    pub(crate) contacts: Vec<ContactWire>,
}

/// A contact, as `GET /contacts/{id}` returns it (a conversation's reference has the id
/// and the external id only).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ContactWire {
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) email: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) external_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) role: Option<String>,
}

impl ContactWire {
    /// The domain view; `None` without an id.
    pub(crate) fn into_domain(self) -> Option<crate::domain::Contact> {
        Some(crate::domain::Contact {
            id: self.id?,
            email: self.email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()),
            external_id: self.external_id,
            role: self.role,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RatingWire {
    #[serde(default, deserialize_with = "lenient_i64")]
    pub(crate) rating: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SourceWire {
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) body: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) subject: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) author: Option<AuthorWire>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PartsWire {
    #[serde(default, deserialize_with = "lenient_vec")]
    pub(crate) conversation_parts: Vec<PartWire>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PartWire {
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) part_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) body: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub(crate) created_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) author: Option<AuthorWire>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) app_package_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuthorWire {
    #[serde(default, rename = "type", deserialize_with = "lenient_string")]
    pub(crate) kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(crate) from_ai_agent: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(crate) is_ai_answer: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TagListWire {
    #[serde(default, deserialize_with = "lenient_vec")]
    pub(crate) tags: Vec<TagWire>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TagWire {
    #[serde(default, deserialize_with = "lenient_string")]
    pub(crate) name: Option<String>,
}

impl AuthorWire {
    fn author_kind(&self) -> AuthorKind {
        if self.from_ai_agent == Some(true) || self.is_ai_answer == Some(true) {
            return AuthorKind::Bot;
        }
        match self.kind.as_deref() {
            Some("user" | "lead" | "contact" | "visitor") => AuthorKind::Customer,
            Some("admin" | "team") => AuthorKind::Admin,
            Some("bot" | "operator") => AuthorKind::Bot,
            _ => AuthorKind::Other,
        }
    }
}

impl ConversationWire {
    /// The domain view: the opening message and each part, bodies as plain text.
    pub(crate) fn into_domain(self) -> Conversation {
        let mut messages = Vec::new();
        if let Some(source) = self.source {
            let author = source.author.unwrap_or_default();
            let body = html_to_text(source.body.as_deref().unwrap_or(""));
            let subject = html_to_text(source.subject.as_deref().unwrap_or(""));
            let text = match (subject.is_empty(), body.is_empty()) {
                (false, false) if !body.contains(&subject) => format!("{subject}\n{body}"),
                (false, true) => subject,
                _ => body,
            };
            messages.push(Message {
                id: format!("source:{}", source.id.as_deref().unwrap_or("")),
                author: author.author_kind(),
                author_id: author.id.clone(),
                text,
                created_at: self.created_at.unwrap_or(0),
                kind: PartKind::Source,
                via_api_or_ai: author.from_ai_agent == Some(true) || author.is_ai_answer == Some(true),
                links: crate::text::links(source.body.as_deref().unwrap_or("")),
            });
        }
        for part in self
            .conversation_parts
            .map(|p| p.conversation_parts)
            .unwrap_or_default()
        {
            let author = part.author.unwrap_or_default();
            messages.push(Message {
                id: part.id.unwrap_or_default(),
                author: author.author_kind(),
                author_id: author.id.clone(),
                text: html_to_text(part.body.as_deref().unwrap_or("")),
                created_at: part.created_at.unwrap_or(0),
                kind: part.part_type.map_or(PartKind::Comment, PartKind::from),
                via_api_or_ai: part.app_package_code.is_some()
                    || author.from_ai_agent == Some(true)
                    || author.is_ai_answer == Some(true),
                links: crate::text::links(part.body.as_deref().unwrap_or("")),
            });
        }
        messages.sort_by_key(|m| m.created_at);
        let rating = self
            .conversation_rating
            .and_then(|r| r.rating)
            .and_then(|r| u8::try_from(r).ok())
            .filter(|r| (1..=5).contains(r));
        let contact_id = self
            .contacts
            .and_then(|c| c.contacts.into_iter().find_map(|c| c.id));
        Conversation {
            rating,
            contact_id,
            contact: None,
            // 2.16 sends 0 for "unassigned" (docs/intercom-facts.md §5.6).
            admin_assignee_id: self.admin_assignee_id.filter(|id| id != "0").map(AdminId::new),
            team_assignee_id: self.team_assignee_id.filter(|id| id != "0").map(TeamId::new),
            id: self.id.map(ConversationId::new),
            messages,
            tags: self
                .tags
                .map(|t| t.tags.into_iter().filter_map(|t| t.name).collect())
                .unwrap_or_default(),
            open: self
                .open
                .unwrap_or_else(|| self.state.as_deref() != Some("closed")),
            attributes: self
                .custom_attributes
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(key, value)| match value {
                    Value::String(s) => Some((key, s)),
                    Value::Number(n) => Some((key, n.to_string())),
                    Value::Bool(b) => Some((key, b.to_string())),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// `{"type":"error.list","errors":[{"code","message"}]}`: the messages joined for the log.
pub(crate) fn error_list_message(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let errors = value.get("errors")?.as_array()?;
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let code = e.get("code").and_then(Value::as_str).unwrap_or("error");
            match e.get("message").and_then(Value::as_str) {
                Some(message) => format!("{code}: {message}"),
                None => code.to_owned(),
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}
impl From<String> for PartKind {
    fn from(part_type: String) -> Self {
        match part_type.as_str() {
            "source" => Self::Source,
            "comment" => Self::Comment,
            "note" => Self::Note,
            _ => Self::Other(part_type),
        }
    }
}

impl From<&str> for PartKind {
    fn from(part_type: &str) -> Self {
        Self::from(part_type.to_owned())
    }
}

impl From<PartKind> for String {
    fn from(kind: PartKind) -> Self {
        match kind {
            PartKind::Source => "source".into(),
            PartKind::Comment => "comment".into(),
            PartKind::Note => "note".into(),
            PartKind::Other(name) => name,
        }
    }
}
