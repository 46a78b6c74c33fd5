//! Parsing of webhook notifications: the envelope strictly enough to dedupe and route
//! (`id`, `topic` and `data.item` are required, docs/intercom-facts.md §1.1), everything else leniently.

use super::wire::{ConversationNotificationWire, ConversationWire, NotificationWire};
use crate::domain::{AppId, Conversation, NotificationId, Topic};

/// Why a body is not a notification; the webhook answers 400 with this text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON at all, or not an object.
    #[error("body is not a JSON object: {0}")]
    NotJson(String),
    /// A field every notification has is missing.
    #[error("no {0} in the JSON")]
    Missing(&'static str),
}

/// A parsed webhook notification.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The workspace; empty when the payload does not say (old ping payloads).
    pub app_id: AppId,
    /// The dedupe key, with `app_id`.
    pub id: NotificationId,
    /// The raw topic string.
    pub topic_raw: String,
    /// The topic as frontdesk classifies it.
    pub topic: Topic,
    /// Unix seconds when Intercom created the notification.
    pub created_at: Option<i64>,
    /// How many deliveries Intercom has attempted.
    pub delivery_attempts: Option<i64>,
    /// The conversation, when the item is one.
    pub conversation: Option<Conversation>,
    /// The Help Center article, when the item is one.
    pub article: Option<super::Article>,
}

/// What the webhook stores of a notification: its keys, topic and conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The workspace; empty when the payload does not say.
    pub app_id: AppId,
    /// The dedupe key, with `app_id`.
    pub id: NotificationId,
    /// The raw topic string (trimmed, lower case).
    pub topic_raw: String,
    /// The topic as frontdesk classifies it.
    pub topic: Topic,
    /// The conversation's id, when the item is a conversation.
    pub conversation_id: Option<String>,
}

impl From<&Notification> for Envelope {
    fn from(n: &Notification) -> Self {
        Self {
            app_id: n.app_id.clone(),
            id: n.id.clone(),
            topic_raw: n.topic_raw.clone(),
            topic: n.topic.clone(),
            conversation_id: n
                .conversation
                .as_ref()
                .and_then(|c| c.id.as_ref())
                .map(ToString::to_string),
        }
    }
}

/// Parses what the webhook stores, reading only the envelope's fields from the bytes (the
/// acknowledgement path). A body this fast path does not take (duplicate fields, an item
/// that is not an object, a missing field) goes through [`parse`], so the result and the
/// errors are the same as its.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, ParseError> {
    // The full parse requires an object at the top: so does this path.
    if starts_as_object(body)
        && let Ok(wire) = serde_json::from_slice::<super::wire::EnvelopeWire>(body)
        && wire.kind.as_deref().is_none_or(|k| k == "notification_event")
        && let (Some(id), Some(topic), Some(item)) = (wire.id, wire.topic, wire.data.and_then(|d| d.item))
    {
        let topic_raw = normalised_topic(&topic);
        let conversation_id = (item.kind.as_deref() == Some("conversation"))
            .then_some(item.id)
            .flatten()
            .map(|id| id.trim().to_owned());
        return Ok(Envelope {
            app_id: AppId::new(wire.app_id.unwrap_or_default()),
            id: NotificationId::new(id),
            topic: self::topic(&topic_raw),
            topic_raw,
            conversation_id,
        });
    }
    parse(body).map(|n| Envelope::from(&n))
}

/// One line of a history export: a conversation as `GET /conversations/{id}` returns it.
/// Everything but the id is read leniently.
pub fn parse_conversation_line(line: &str) -> Result<Conversation, ParseError> {
    // Straight into the wire shape when the line has it (one pass, no tree); anything else
    // goes the lenient way below, for its error.
    if line.trim_start().starts_with('{')
        && let Ok(wire) = serde_json::from_str::<ConversationWire>(line)
    {
        let conversation = wire.into_domain();
        if conversation.id.is_some() {
            return Ok(conversation);
        }
    }
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| ParseError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ParseError::NotJson("the line is not a JSON object".into()));
    }
    let conversation = serde_json::from_value::<ConversationWire>(value)
        .unwrap_or_default()
        .into_domain();
    if conversation.id.is_none() {
        return Err(ParseError::Missing("id"));
    }
    Ok(conversation)
}

/// The `id` of a conversation JSON line (of the history export), when it has one.
pub fn conversation_id_of(line: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        #[serde(default, deserialize_with = "super::wire::lenient_string")]
        id: Option<String>,
    }
    serde_json::from_str::<IdOnly>(line).ok()?.id
}

/// Parses raw webhook bytes.
pub fn parse(body: &[u8]) -> Result<Notification, ParseError> {
    match parse_conversation(body) {
        Some(notification) => Ok(notification),
        None => parse_lenient(body),
    }
}

/// Whether `body` opens with an object, as a notification must (a derived struct would also
/// read an array, field by field).
fn starts_as_object(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// A topic as it is kept: topics are lowercase, and one sent in another case is the same
/// topic, not one to ignore.
fn normalised_topic(topic: &str) -> String {
    topic.trim().to_ascii_lowercase()
}

/// A conversation's notification (the usual one) read straight into its wire shape, in one
/// pass without a tree of the whole document. Strict where [`parse_lenient`] is lenient (a
/// repeated key, a `data` or `item` of another shape, a field missing): `None`, and the
/// caller takes the lenient parse, which answers the same for every body this accepts.
fn parse_conversation(body: &[u8]) -> Option<Notification> {
    if !starts_as_object(body) {
        return None;
    }
    let wire: ConversationNotificationWire = serde_json::from_slice(body).ok()?;
    let item = wire.data?.item;
    if item.kind.as_deref() != Some("conversation")
        || wire.kind.as_deref().is_some_and(|k| k != "notification_event")
    {
        return None;
    }
    let topic_raw = normalised_topic(&wire.topic?);
    Some(Notification {
        app_id: AppId::new(wire.app_id.unwrap_or_default()),
        id: NotificationId::new(wire.id?),
        topic: self::topic(&topic_raw),
        topic_raw,
        created_at: wire.created_at,
        delivery_attempts: wire.delivery_attempts,
        conversation: Some(item.into_domain()),
        article: None,
    })
}

/// Raw webhook bytes of any shape Intercom sends, through a tree of the document, each
/// field taken when it has a usable shape.
fn parse_lenient(body: &[u8]) -> Result<Notification, ParseError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ParseError::NotJson("top level is not an object".into()));
    }
    let wire: NotificationWire =
        serde_json::from_value(value).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let id = wire.id.ok_or(ParseError::Missing("id"))?;
    let topic_raw = normalised_topic(&wire.topic.ok_or(ParseError::Missing("topic"))?);
    let item = wire
        .data
        .0
        .and_then(|d| d.item)
        .filter(serde_json::Value::is_object)
        .ok_or(ParseError::Missing("data.item"))?;
    if wire.kind.as_deref().is_some_and(|k| k != "notification_event") {
        return Err(ParseError::Missing("type notification_event"));
    }
    let item_type = item
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_owned();
    let article = (item_type == "article")
        .then(|| serde_json::from_value(item.clone()).ok())
        .flatten();
    let conversation = (item_type == "conversation")
        .then(|| serde_json::from_value::<ConversationWire>(item).unwrap_or_default())
        .map(ConversationWire::into_domain);
    Ok(Notification {
        app_id: AppId::new(wire.app_id.unwrap_or_default()),
        id: NotificationId::new(id),
        topic: self::topic(&topic_raw),
        topic_raw,
        created_at: wire.created_at,
        delivery_attempts: wire.delivery_attempts,
        conversation,
        article,
    })
}

/// Classifies a raw topic string (already trimmed and lower case).
pub fn topic(raw: &str) -> Topic {
    match raw {
        "conversation.user.created" => Topic::UserCreated,
        "conversation.user.replied" => Topic::UserReplied,
        "conversation.admin.replied" => Topic::AdminReplied,
        "conversation.admin.assigned" | "conversation.admin.open.assigned" => Topic::AdminAssigned,
        "conversation.admin.closed" => Topic::AdminClosed,
        "conversation.admin.opened" => Topic::AdminOpened,
        "conversation.rating.added" => Topic::RatingAdded,
        "ping" => Topic::Ping,
        t if t.starts_with("article.") => Topic::Article(t.to_owned()),
        t if t.starts_with("conversation.") => Topic::ConversationOther(t.to_owned()),
        t => Topic::Unhandled(t.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AuthorKind;

    #[test]
    fn ids_may_be_numbers_and_fields_null() {
        let body = br#"{"type":"notification_event","id":12345,"topic":"conversation.user.created","app_id":null,
            "created_at":"1785400001","data":{"item":{"type":"conversation","id":215474343849634,
            "source":{"id":403918400,"body":"<p>Where is my order?</p>","author":{"type":"user","id":"u1"}},
            "conversation_parts":{"conversation_parts":[null, {"id":7,"part_type":"comment","body":null,"author":null}]},
            "tags":null,"ai_agent":null}}}"#;
        let n = parse(body).expect("parses");
        assert_eq!(n.id.as_str(), "12345");
        assert_eq!(n.created_at, Some(1785400001));
        assert_eq!(n.topic, Topic::UserCreated);
        let conversation = n.conversation.expect("conversation");
        assert_eq!(conversation.id.expect("id").as_str(), "215474343849634");
        let first = &conversation.messages[0];
        assert_eq!(first.text, "Where is my order?");
        assert_eq!(first.author, AuthorKind::Customer);
    }

    #[test]
    fn missing_required_fields_are_named() {
        assert_eq!(
            parse(br#"{"topic":"ping","data":{"item":{"type":"ping"}}}"#).unwrap_err(),
            ParseError::Missing("id")
        );
        assert_eq!(
            parse(br#"{"id":"n","topic":"ping"}"#).unwrap_err(),
            ParseError::Missing("data.item")
        );
        assert!(matches!(parse(b"{not json"), Err(ParseError::NotJson(_))));
        assert!(matches!(parse(b"[1,2]"), Err(ParseError::NotJson(_))));
    }

    #[test]
    fn ai_agent_parts_count_as_bot() {
        let body = br#"{"id":"n1","topic":"conversation.admin.replied","data":{"item":{"type":"conversation","id":"1",
            "conversation_parts":{"conversation_parts":[{"id":"9","part_type":"comment","body":"hi",
            "author":{"type":"admin","id":"5","from_ai_agent":true}}]}}}}"#;
        let n = parse(body).expect("parses");
        let conversation = n.conversation.expect("conversation");
        assert_eq!(conversation.messages[0].author, AuthorKind::Bot);
    }

    /// Replaces values at random places with other JSON types, and corrupts bytes: the parser
    /// must answer Ok or Err, never panic, whatever Intercom (or an attacker with the secret)
    /// sends.
    #[test]
    fn mutated_notifications_never_panic() {
        let samples: Vec<serde_json::Value> = [
            "01_return_window.json",
            "11_reply_after_bot.json",
            "09_admin_replied.json",
        ]
        .iter()
        .map(|name| {
            let path = format!("{}/knowledge/samples/{name}", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
        })
        .collect();
        let replacements = [
            serde_json::Value::Null,
            serde_json::json!(0),
            serde_json::json!(-1.5),
            serde_json::json!("x"),
            serde_json::json!(true),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!([null, 1, {"a": "b"}]),
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..3000 {
            let mut value = samples[round % samples.len()].clone();
            for _ in 0..rng.usize(1..4) {
                mutate(&mut value, &mut rng, &replacements);
            }
            let whole = serde_json::to_vec(&value).unwrap();
            assert_same_parse(&whole);
            let mut bytes = whole.clone();
            for _ in 0..rng.usize(0..3) {
                let i = rng.usize(..bytes.len());
                bytes[i] = rng.u8(..);
            }
            bytes.truncate(rng.usize(..=bytes.len()));
            assert_same_parse(&bytes);
        }
    }

    /// The direct parse of a conversation's notification and the lenient one answer alike.
    fn assert_same_parse(body: &[u8]) {
        assert_eq!(
            format!("{:?}", parse(body)),
            format!("{:?}", parse_lenient(body)),
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    #[test]
    fn the_samples_take_the_direct_parse() {
        let dir = format!("{}/knowledge/samples", env!("CARGO_MANIFEST_DIR"));
        let mut direct = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let body = std::fs::read(entry.unwrap().path()).unwrap();
            assert_same_parse(&body);
            direct += usize::from(parse_conversation(&body).is_some());
        }
        assert!(direct >= 10, "only {direct} samples took the direct parse");
    }

    fn mutate(value: &mut serde_json::Value, rng: &mut fastrand::Rng, replacements: &[serde_json::Value]) {
        let children = match value {
            serde_json::Value::Object(map) => map.len(),
            serde_json::Value::Array(items) => items.len(),
            _ => 0,
        };
        if children == 0 || rng.u8(..10) == 0 {
            *value = replacements[rng.usize(..replacements.len())].clone();
            return;
        }
        let pick = rng.usize(..children);
        match value {
            serde_json::Value::Object(map) => {
                let key = map.keys().nth(pick).cloned().unwrap();
                mutate(map.get_mut(&key).unwrap(), rng, replacements);
            }
            serde_json::Value::Array(items) => mutate(&mut items[pick], rng, replacements),
            _ => {}
        }
    }

    mod envelope {
        use super::super::*;
        use proptest::prelude::*;

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("\"a1\"".to_owned()),
                Just("42".to_owned()),
                Just("\" \"".to_owned()),
                Just("null".to_owned()),
                Just("true".to_owned()),
                Just("[1]".to_owned()),
                Just("{}".to_owned()),
            ]
        }

        fn item() -> impl Strategy<Value = String> {
            (
                prop_oneof![Just("conversation"), Just("article"), Just("ping"), Just("")],
                proptest::collection::vec(value(), 0..3),
                any::<bool>(),
                0usize..4,
            )
                .prop_map(|(kind, ids, open, shape)| {
                    let mut fields = vec![format!("\"type\":\"{kind}\"")];
                    fields.extend(ids.iter().map(|v| format!("\"id\":{v}")));
                    fields.push(format!("\"open\":{open}"));
                    fields.push("\"source\":{\"body\":\"<p>hi</p>\",\"author\":{\"type\":\"user\"}}".into());
                    match shape {
                        0 => format!("[{}]", ids.join(",")),
                        1 => "\"text\"".into(),
                        _ => format!("{{{}}}", fields.join(",")),
                    }
                })
        }

        fn body() -> impl Strategy<Value = String> {
            (
                proptest::collection::vec(value(), 0..3),
                prop_oneof![Just("\"conversation.user.created\""), Just("\" Conversation.Admin.Closed \""), Just("7"), Just("null")],
                proptest::collection::vec(value(), 0..3),
                prop_oneof![Just(None), Just(Some("notification_event")), Just(Some("other"))],
                proptest::option::of(item()),
                0usize..5,
            )
                .prop_map(|(ids, topic, apps, kind, item, shape)| {
                    let mut fields: Vec<String> = ids.iter().map(|v| format!("\"id\":{v}")).collect();
                    fields.push(format!("\"topic\":{topic}"));
                    fields.extend(apps.iter().map(|v| format!("\"app_id\":{v}")));
                    if let Some(kind) = kind {
                        fields.push(format!("\"type\":\"{kind}\""));
                    }
                    if let Some(item) = item {
                        fields.push(format!("\"data\":{{\"item\":{item}}}"));
                    }
                    match shape {
                        // The fields by position, which a derived struct would also accept.
                        0 => format!(
                            "[\"notification_event\", \"n1\", {topic}, \"app\", {{\"item\": {{\"type\": \"conversation\", \"id\": 5}}}}]"
                        ),
                        _ => format!(" {{{}}}", fields.join(",")),
                    }
                })
        }

        proptest! {
            /// The fast envelope and the full parse agree on every body: the same keys,
            /// topic and conversation, or the same error.
            #[test]
            fn the_envelope_agrees_with_the_full_parse(body in body()) {
                let fast = parse_envelope(body.as_bytes());
                let full = parse(body.as_bytes()).map(|n| Envelope::from(&n));
                prop_assert_eq!(fast, full, "{}", body);
            }

            /// The direct parse of a conversation's notification agrees with the lenient one.
            #[test]
            fn the_direct_parse_agrees_with_the_lenient_one(body in body()) {
                prop_assert_eq!(
                    format!("{:?}", parse(body.as_bytes())),
                    format!("{:?}", parse_lenient(body.as_bytes())),
                    "{}",
                    body
                );
            }
        }
    }
}
