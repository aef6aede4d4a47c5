//! Load: one provider process registers 200 integrations with `-parallelism=50` against a
//! Vantage rate limit of 100 requests per window, and waits for `x-rate-limit-reset` instead
//! of failing. Checked through the devstack's Vantage API (with a token of its own, so the
//! checks spend no budget of the provider's) and its admin API.
//!
//! The devstack accepts every role (`--accept-any-role`): what is under test is the Vantage
//! side, and 200 IAM roles would spend the time in moto instead.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use acceptance_tests::{Devstack, Workspace};
use serde_json::Value;

const COUNT: usize = 200;
const LIMIT: &str = "100";
const WINDOW_SECS: &str = "3";
/// The provider's token comes first (the ready line's); the checks use the second.
const PROVIDER_TOKEN: &str = "vntg_tkn_load_provider";
const CHECK_TOKEN: &str = "vntg_tkn_load_checks";

/// One role per member account, as an organisation-wide setup registers them.
fn role_arn(index: usize) -> String {
    format!("arn:aws:iam::{}:role/vantage-load", 200_000_000_000 + index)
}

fn config() -> String {
    format!(
        r#"resource "vantage_aws_integration" "member" {{
  count                  = {COUNT}
  cross_account_role_arn = "arn:aws:iam::${{200000000000 + count.index}}:role/vantage-load"
}}

output "ids" {{ value = vantage_aws_integration.member[*].id }}
"#
    )
}

/// A GET with the checks' token, waiting out the checks' own rate limit.
fn get(ds: &Devstack, path: &str) -> (u16, Value) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    loop {
        let response = http
            .get(format!("{}{path}", ds.info.vantage_url))
            .bearer_auth(CHECK_TOKEN)
            .send()
            .expect("devstack request");
        let status = response.status().as_u16();
        if status == 429 {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        let text = response.text().unwrap_or_default();
        return (status, serde_json::from_str(&text).unwrap_or(Value::Null));
    }
}

/// The account of every AWS integration Vantage lists (v2, all pages).
fn listed_accounts(ds: &Devstack) -> Vec<String> {
    let mut out = Vec::new();
    for page in 1.. {
        let (status, body) = get(ds, &format!("/v2/integrations?provider=aws&limit=1000&page={page}"));
        assert_eq!(status, 200, "listing integrations: {body}");
        for i in body["integrations"].as_array().cloned().unwrap_or_default() {
            out.push(i["account_identifier"].as_str().unwrap_or_default().to_string());
        }
        if body["links"]["next"].is_null() {
            break;
        }
    }
    out
}

#[test]
fn two_hundred_registrations_under_a_rate_limit_all_land_once() {
    let ds = Devstack::start(&[
        "--accept-any-role",
        "--rate-limit",
        LIMIT,
        "--rate-limit-window",
        WINDOW_SECS,
        "--token",
        PROVIDER_TOKEN,
        "--token",
        CHECK_TOKEN,
    ]);
    assert_eq!(ds.info.token, PROVIDER_TOKEN);
    let ws = Workspace::on(&ds, "acc-load");
    ws.config(&config());

    let started = Instant::now();
    ws.run(&["apply", "-auto-approve", "-no-color", "-parallelism=50"])
        .expect_ok();
    let apply_time = started.elapsed();
    let throttled = ds.admin_get("rate-limit")["throttled"].as_u64().unwrap_or(0);
    let requests = ds.admin_get("requests")["vantage"].clone();
    let total: u64 = requests
        .as_object()
        .map(|ops| ops.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    eprintln!(
        "load: apply of {COUNT} took {apply_time:?}, {total} Vantage requests, {throttled} answered 429: {requests}"
    );
    assert!(
        throttled > 0,
        "the rate limit never bit ({total} requests), so the test proves nothing"
    );

    // Every registration landed, each role once.
    let accounts = listed_accounts(&ds);
    let expected: BTreeSet<String> = (0..COUNT).map(|i| (200_000_000_000 + i).to_string()).collect();
    assert_eq!(accounts.len(), COUNT, "exactly {COUNT} integrations in Vantage");
    assert_eq!(
        accounts.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "one integration per member account"
    );
    let ids = ws.outputs()["ids"].as_array().cloned().unwrap_or_default();
    assert_eq!(ids.len(), COUNT);
    let mut roles = BTreeSet::new();
    for id in &ids {
        let id = id.as_str().map_or_else(|| id.to_string(), str::to_string);
        let (status, v1) = get(&ds, &format!("/v1/integrations/aws/{id}"));
        assert_eq!(status, 200, "integration {id} in state is in Vantage: {v1}");
        roles.insert(v1["cross_account_arn"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(
        roles,
        (0..COUNT).map(role_arn).collect::<BTreeSet<_>>(),
        "the state's ids name every role once"
    );

    // The refresh of 200 integrations is throttled too, and finds nothing to change.
    let started = Instant::now();
    ws.run(&["plan", "-detailed-exitcode", "-no-color", "-parallelism=50"])
        .expect_empty_plan();
    eprintln!("load: plan took {:?}", started.elapsed());

    let started = Instant::now();
    ws.run(&["destroy", "-auto-approve", "-no-color", "-parallelism=50"])
        .expect_ok();
    eprintln!("load: destroy took {:?}", started.elapsed());
    assert!(listed_accounts(&ds).is_empty(), "destroy leaves no integration behind");
}
