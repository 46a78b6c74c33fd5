//! `X-Hub-Signature: sha1=<hex>`: HMAC-SHA1 of the raw body keyed with the app's client
//! secret, compared in constant time. An empty secret verifies nothing (fail closed).

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Whether `header` is a valid signature of `body` under `secret`.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    if secret.is_empty() {
        return false;
    }
    let Some(signature) = header
        .map(str::trim)
        .and_then(|h| h.strip_prefix("sha1="))
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// The header value Intercom would send for `body` (tests, benchmarks, replay tooling).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector computed in docs/intercom-facts.md §6.5.
    const BODY: &str = r#"{"type":"notification_event","app_id":"a86dr8yl","topic":"ping","id":"notif_00000000-0000-0000-0000-000000000000","data":{"type":"notification_event_data","item":{"type":"ping","message":"hello"}}}"#;

    #[test]
    fn the_documented_vector_verifies() {
        assert_eq!(BODY.len(), 197);
        let expected = "sha1=88ad83efa23022778ee0930f975497ed216deee4";
        assert_eq!(sign(b"my_client_secret", BODY.as_bytes()), expected);
        assert!(verify(b"my_client_secret", BODY.as_bytes(), Some(expected)));
        assert!(verify(
            b"my_client_secret",
            BODY.as_bytes(),
            Some(&expected.to_uppercase().replace("SHA1=", "sha1="))
        ));
    }

    #[test]
    fn anything_else_fails() {
        let good = sign(b"s", b"body");
        assert!(!verify(b"s", b"body ", Some(&good)));
        assert!(!verify(b"t", b"body", Some(&good)));
        assert!(!verify(b"s", b"body", None));
        assert!(!verify(b"s", b"body", Some(good.trim_start_matches("sha1="))));
        assert!(!verify(b"s", b"body", Some("sha1=zz")));
        assert!(!verify(b"", b"body", Some(&sign(b"", b"body"))));
        // re-serialised JSON is a different body (docs/intercom-facts.md §6.5)
        assert!(!verify(
            b"my_client_secret",
            br#"{"type": "notification_event"}"#,
            Some("sha1=999cf92e83d66e9584414d3d699827a7ba596887")
        ));
    }

    #[test]
    fn random_bodies_and_keys_round_trip() {
        for n in 0..200 {
            let body: Vec<u8> = (0..n * 7).map(|_| fastrand::u8(..)).collect();
            let key: Vec<u8> = (0..1 + n % 70).map(|_| fastrand::u8(..)).collect();
            let signature = sign(&key, &body);
            assert!(verify(&key, &body, Some(&signature)));
            let mut tampered = body.clone();
            tampered.push(0);
            assert!(!verify(&key, &tampered, Some(&signature)));
        }
    }
}
