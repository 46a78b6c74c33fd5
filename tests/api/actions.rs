//! Declared actions, called as an operator and the bot would call them: the shipped actions
//! file against the demo shop, every way the team's API can fail answered clearly, an input
//! that never chooses where a call goes, a write made once however often its key is sent,
//! and `frontdesk actions` from the command line.

use crate::cli::frontdesk;
use frontdesk::actions::{
    ActionApi, Actions, CallError, HttpApi, checked_values, idempotency_key, output, render, request,
};
use frontdesk::bench::shop::{DemoShop, Mode};
use std::collections::BTreeMap;
use std::time::Duration;

/// The shipped actions, pointed at `shop`, each call timed out after `timeout_seconds`.
fn shipped_with(shop: &DemoShop, timeout_seconds: u64) -> Actions {
    let url = shop.url();
    let token = shop.token().to_owned();
    let text = std::fs::read_to_string(crate::helpers::repo_path("config/actions.toml"))
        .unwrap()
        .replace(
            "[[action]]\n",
            &format!("[[action]]\ntimeout_seconds = {timeout_seconds}\n"),
        );
    Actions::parse(&text, &move |name| match name {
        "SHOP_API_URL" => Some(url.clone()),
        "SHOP_API_TOKEN" => Some(token.clone()),
        _ => None,
    })
    .unwrap()
}

/// The shipped actions, pointed at `shop`.
fn shipped(shop: &DemoShop) -> Actions {
    shipped_with(shop, 10)
}

fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Calls `action` of the shipped file on `shop` with `pairs`, under key `key`.
async fn call(
    shop: &DemoShop,
    action: &str,
    pairs: &[(&str, &str)],
    key: &str,
) -> Result<frontdesk::actions::Response, CallError> {
    frontdesk::install_crypto_provider();
    let actions = shipped_with(shop, 1);
    let spec = actions.get(action).unwrap();
    let values = checked_values(spec, &given(pairs))?;
    let made = request(spec, &values, key.to_owned())?;
    HttpApi::new()?.call(&made).await
}

const ANN: (&str, &str) = ("email", "ann@example.com");

/// A read is answered with the API's own value, and its reply says it.
#[tokio::test]
async fn a_read_is_answered_with_the_apis_value() {
    let shop = DemoShop::start("127.0.0.1:0", "t0ken").await.unwrap();
    let actions = shipped(&shop);
    let spec = actions.get("order_status").unwrap();
    let values = checked_values(spec, &given(&[("order_id", "23456"), ANN])).unwrap();
    let made = request(spec, &values, idempotency_key("app", "c1", "1", "order_status")).unwrap();
    frontdesk::install_crypto_provider();
    let answer = HttpApi::new().unwrap().call(&made).await.unwrap();
    let out = output(spec, &answer.body).unwrap();
    assert_eq!(
        render(spec.reply.as_deref().unwrap(), &values, &out).unwrap(),
        "Order 23456 is shipped; expected 2026-12-09."
    );
    let seen = shop.seen();
    assert_eq!(seen[0].call, "GET /orders/23456");
    assert_eq!(seen[0].key.as_deref(), Some(made.idempotency_key.as_str()));
    // Another customer's order is not this customer's.
    let error = call(&shop, "order_status", &[("order_id", "34567"), ANN], "k")
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::Status { status: 404, .. }), "{error}");
}

/// A write sent twice with one `Idempotency-Key` (a resend after a crash, a redelivered
/// "yes") is applied once; another key is another write.
#[tokio::test]
async fn a_write_is_applied_once_per_key() {
    let shop = DemoShop::start("127.0.0.1:0", "t0ken").await.unwrap();
    let key = idempotency_key("app", "c1", "7", "refund");
    for _ in 0..3 {
        let answer = call(
            &shop,
            "refund",
            &[("order_id", "12345"), ANN, ("amount", "$25")],
            &key,
        )
        .await
        .unwrap();
        assert_eq!(answer.body["refund_id"], "R-1001");
    }
    assert_eq!(shop.effects(), ["refund 12345 25"]);
    call(
        &shop,
        "refund",
        &[("order_id", "12345"), ANN, ("amount", "$25")],
        "another",
    )
    .await
    .unwrap();
    assert_eq!(shop.effects().len(), 2);
}

/// Every way the team's API fails is a clear error, and a write's is said to be uncertain
/// when the request may have been applied (so it is checked, never sent blind again).
#[tokio::test]
async fn every_failure_of_the_api_is_a_clear_error() {
    let shop = DemoShop::start("127.0.0.1:0", "t0ken").await.unwrap();
    let read =
        |shop: DemoShop| async move { call(&shop, "order_status", &[("order_id", "12345"), ANN], "k").await };
    let cases: Vec<(Mode, &str, bool)> = vec![
        (Mode::Status(404), "client_error", false),
        (Mode::Status(503), "server_error", true),
        (Mode::NotJson, "not_json", true),
        (Mode::Huge(400 * 1024), "too_large", true),
        (
            Mode::Redirect("http://elsewhere.example/steal".into()),
            "redirect_refused",
            false,
        ),
        (Mode::Slow(Duration::from_secs(3)), "timeout", true),
    ];
    for (mode, code, uncertain) in cases {
        shop.set_mode(mode.clone());
        let started = std::time::Instant::now();
        let error = read(shop.clone()).await.unwrap_err();
        assert_eq!(error.code(), code, "{mode:?}: {error}");
        assert_eq!(error.uncertain(), uncertain, "{mode:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{mode:?} took {:?}",
            started.elapsed()
        );
        assert!(!error.to_string().contains("t0ken"), "{error}");
    }
    shop.set_mode(Mode::Normal);
    let redirect_home = format!("{}/orders/23456?email=ann%40example.com", shop.url());
    shop.set_mode(Mode::Redirect(redirect_home));
    // A redirect on the same host is followed (here, to itself, until it is a loop).
    let error = read(shop.clone()).await.unwrap_err();
    assert_eq!(error.code(), "too_many_redirects", "{error}");
    assert_eq!(
        shop.seen()
            .iter()
            .filter(|s| s.call == "GET /orders/23456")
            .count(),
        3
    );
    shop.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let error = read(shop.clone()).await.unwrap_err();
    assert_eq!(error.code(), "unreachable", "{error}");
    assert!(!error.uncertain(), "nothing reached the API");
}

/// An input holding `../`, `?`, `#` or `@` reaches the shop inside its own path segment:
/// the path and the host are the template's.
#[tokio::test]
async fn an_input_never_chooses_where_a_call_goes() {
    let shop = DemoShop::start("127.0.0.1:0", "t0ken").await.unwrap();
    let actions = shipped(&shop);
    let spec = actions.get("order_status").unwrap();
    for hostile in [
        "12345/../../admin",
        "12345?email=bob@example.com",
        "12345#x",
        "evil@other.example",
    ] {
        let error = checked_values(spec, &given(&[("order_id", hostile), ANN])).unwrap_err();
        assert!(matches!(error, CallError::Input { .. }), "{hostile}: {error}");
    }
    assert!(shop.seen().is_empty(), "nothing was called");
}

/// `frontdesk actions list` and `check-config` list the shipped actions with their secrets
/// masked; `actions test --dry-run` shows the request and calls nothing; `actions test`
/// calls the shop and prints the reply; a mistake in the file is one line naming the action
/// and the key, and stops `check-config` with exit 1.
#[tokio::test]
async fn the_actions_command_lists_tests_and_refuses_a_bad_file() {
    let shop = DemoShop::start("127.0.0.1:0", "s3cret-shop-token").await.unwrap();
    let env = [
        ("SHOP_API_URL", shop.url()),
        ("SHOP_API_TOKEN", shop.token().to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let text = |output: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let listed = tokio::task::spawn_blocking({
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>();
        move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            (
                frontdesk(&["actions", "list"], &env),
                frontdesk(
                    &[
                        "actions",
                        "test",
                        "order_status",
                        "--input",
                        "order_id=23456",
                        "--input",
                        "email=ann@example.com",
                        "--dry-run",
                    ],
                    &env,
                ),
                frontdesk(
                    &[
                        "actions",
                        "test",
                        "order_status",
                        "--input",
                        "order_id=23456",
                        "--input",
                        "email=ann@example.com",
                    ],
                    &env,
                ),
                frontdesk(&["check-config"], &env),
            )
        }
    })
    .await
    .unwrap();
    let (list, dry, real, check) = listed;
    for output in [&list, &dry, &real, &check] {
        assert!(!text(output).contains("s3cret-shop-token"), "{}", text(output));
    }
    assert!(list.status.success(), "{}", text(&list));
    assert!(
        text(&list).contains("order_status [read] GET ***/orders/{order_id}"),
        "{}",
        text(&list)
    );
    assert!(
        text(&list).contains("refund [write, confirmed]"),
        "{}",
        text(&list)
    );
    assert!(
        text(&check).contains("3 action(s) from config/actions.toml"),
        "{}",
        text(&check)
    );
    assert!(
        text(&dry).contains("(dry run: nothing was called)"),
        "{}",
        text(&dry)
    );
    assert!(
        text(&real).contains("reply: Order 23456 is shipped; expected 2026-12-09."),
        "{}",
        text(&real)
    );
    assert_eq!(shop.seen().len(), 1, "the dry run called nothing");

    let broken = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    let shipped_text = std::fs::read_to_string(crate::helpers::repo_path("config/actions.toml")).unwrap();
    std::fs::write(
        broken.path(),
        shipped_text.replace("{output.refund_id}", "{output.refund_number}"),
    )
    .unwrap();
    let mut env_broken = env.clone();
    let file = broken.path().to_str().unwrap().to_owned();
    env_broken.push(("FRONTDESK__ACTIONS__FILE", &file));
    let check = frontdesk(&["check-config"], &env_broken);
    assert!(!check.status.success());
    let said = text(&check);
    let line = said
        .lines()
        .find(|l| l.contains("action refund: key reply"))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        line.contains("{output.refund_number} names no input and no output field"),
        "{line}"
    );
}
