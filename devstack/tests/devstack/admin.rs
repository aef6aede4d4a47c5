//! Rate limiting and the admin API: faults, propagation delay, reset, request counts.

use crate::common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{BUCKET, Devstack, ROLE, errors, header};
use reqwest::Method;
use serde_json::{Value, json};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[tokio::test]
async fn every_answer_carries_rate_limit_headers() {
    let stack = Devstack::start_offline(&["--token", "tkn"]);
    let ok = stack.get("/v1/ping").await;
    let not_found = stack.get("/v1/missing").await;
    let unauthorized = stack
        .api_as("wrong", Method::GET, "/v1/ping")
        .send()
        .await
        .expect("send");
    for res in [&ok, &not_found, &unauthorized] {
        assert_eq!(header(res, "x-rate-limit-limit"), "1000");
        let remaining: u32 = header(res, "x-rate-limit-remaining").parse().expect("number");
        assert!(remaining < 1000);
        let reset: u64 = header(res, "x-rate-limit-reset").parse().expect("epoch seconds");
        assert!(reset > now() && reset <= now() + 3600, "{reset}");
    }
    assert_eq!(header(&ok, "x-rate-limit-remaining"), "999");
    assert_eq!(header(&not_found, "x-rate-limit-remaining"), "998");
}

#[tokio::test]
async fn budget_exhausted_answers_429_per_token() {
    let stack = Devstack::start_offline(&["--rate-limit", "5", "--token", "a", "--token", "b"]);
    for expected_remaining in (0..5).rev() {
        let res = stack.get("/v1/ping").await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "x-rate-limit-remaining"), expected_remaining.to_string());
    }
    let res = stack.get("/v1/ping").await;
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, "x-rate-limit-limit"), "5");
    assert_eq!(header(&res, "x-rate-limit-remaining"), "0");
    assert!(header(&res, "x-rate-limit-reset").parse::<u64>().expect("epoch") > now());
    assert_eq!(errors(res).await, ["rate limit exceeded"]);

    // Another token has its own budget; the admin API has none.
    let other = stack.api_as("b", Method::GET, "/v1/ping").send().await.expect("send");
    assert_eq!(other.status(), 200);
    for _ in 0..10 {
        assert_eq!(stack.admin(Method::GET, "/requests", None).await.status(), 200);
    }
    // Reset refills budgets.
    stack.admin(Method::POST, "/reset", None).await;
    assert_eq!(stack.get("/v1/ping").await.status(), 200);
}

#[tokio::test]
async fn status_fault_fires_for_the_next_n_matching_calls() {
    let stack = Devstack::start_offline(&[]);
    stack
        .fault(json!({
            "service": "vantage",
            "match": "GET /v1/integrations/aws/info",
            "count": 2,
            "status": 503,
            "body": "{\"errors\":[\"maintenance\"]}"
        }))
        .await;
    // Other operations are untouched.
    assert_eq!(stack.get("/v1/ping").await.status(), 200);
    for _ in 0..2 {
        let res = stack.get("/v1/integrations/aws/info").await;
        assert_eq!(res.status(), 503);
        assert!(res.headers().contains_key("x-rate-limit-remaining"));
        assert_eq!(errors(res).await, ["maintenance"]);
    }
    assert_eq!(stack.get("/v1/integrations/aws/info").await.status(), 200);
    let armed: Value = stack
        .admin(Method::GET, "/faults", None)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(armed["faults"], json!([]));
}

#[tokio::test]
async fn delay_fault_slows_the_call_then_answers_normally() {
    let stack = Devstack::start_offline(&[]);
    stack
        .fault(json!({"service": "vantage", "match": "/v1/", "delay_ms": 400}))
        .await;
    let started = Instant::now();
    let res = stack.get("/v1/ping").await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(res.status(), 200);
    let started = Instant::now();
    assert_eq!(stack.get("/v1/ping").await.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn throttle_fault_answers_429_with_an_empty_budget() {
    let stack = Devstack::start_offline(&[]);
    stack
        .fault(json!({"service": "vantage", "match": "*", "throttle": true}))
        .await;
    let res = stack.get("/v2/integrations").await;
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, "x-rate-limit-remaining"), "0");
    assert_eq!(stack.get("/v2/integrations").await.status(), 200);
}

#[tokio::test]
async fn dropped_connection_gives_no_response() {
    let stack = Devstack::start_offline(&[]);
    stack
        .fault(json!({"service": "vantage", "match": "POST /v1/integrations/aws", "drop_connection": true}))
        .await;
    let attempt = stack
        .api(Method::POST, "/v1/integrations/aws")
        .json(&json!({ "cross_account_arn": ROLE }))
        .send()
        .await;
    assert!(attempt.is_err(), "expected a transport error, got {attempt:?}");
    // The call still happened (it was counted) and the next one works.
    stack.register(ROLE, None).await;
}

/// `after`: the call is handled first, then its answer is delayed, lost or replaced.
#[tokio::test]
async fn after_faults_fire_once_the_call_has_taken_effect() {
    let stack = Devstack::start_offline(&[]);
    let registrations = |body: Value| body["integrations"].as_array().map_or(0, Vec::len);
    let listed = || async { registrations(stack.get("/v2/integrations").await.json().await.expect("JSON")) };
    let post = |role: &'static str| {
        stack
            .api(Method::POST, "/v1/integrations/aws")
            .json(&json!({ "cross_account_arn": role }))
            .send()
    };
    assert_eq!(listed().await, 0);

    // The connection is cut after the registration was made: no answer, but it exists.
    stack
        .fault(
            json!({"service": "vantage", "match": "POST /v1/integrations/aws", "after": true,
            "drop_connection": true}),
        )
        .await;
    let attempt = post("arn:aws:iam::123456789012:role/after-drop").await;
    assert!(attempt.is_err(), "expected a transport error, got {attempt:?}");
    assert_eq!(listed().await, 1);

    // An error answer after the handler ran: 500, and the registration exists.
    stack
        .fault(
            json!({"service": "vantage", "match": "POST /v1/integrations/aws", "after": true,
            "status": 500}),
        )
        .await;
    let res = post("arn:aws:iam::123456789012:role/after-500")
        .await
        .expect("answered");
    assert_eq!(res.status(), 500);
    assert_eq!(listed().await, 2);

    // A delay after the handler: the registration is visible while the answer is still held.
    stack
        .fault(
            json!({"service": "vantage", "match": "POST /v1/integrations/aws", "after": true,
            "delay_ms": 1500}),
        )
        .await;
    let started = Instant::now();
    let held = tokio::spawn(post("arn:aws:iam::123456789012:role/after-delay"));
    let mut seen_while_held = false;
    while started.elapsed() < Duration::from_millis(1200) {
        if listed().await == 3 {
            seen_while_held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen_while_held, "the registration exists before the answer arrives");
    let res = held.await.expect("task").expect("answered");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(res.status(), 201);

    // Throttled after handling: 429 with an empty budget, yet the call took effect.
    stack
        .fault(
            json!({"service": "vantage", "match": "POST /v1/integrations/aws", "after": true,
            "throttle": true}),
        )
        .await;
    let res = post("arn:aws:iam::123456789012:role/after-429")
        .await
        .expect("answered");
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, "x-rate-limit-remaining"), "0");
    assert_eq!(listed().await, 4);

    // A fault before the handler (the default) leaves nothing behind.
    stack
        .fault(json!({"service": "vantage", "match": "POST /v1/integrations/aws", "status": 500}))
        .await;
    let res = post("arn:aws:iam::123456789012:role/before-500")
        .await
        .expect("answered");
    assert_eq!(res.status(), 500);
    assert_eq!(listed().await, 4);
}

#[tokio::test]
async fn faults_are_validated() {
    let stack = Devstack::start_offline(&[]);
    for (fault, reason) in [
        (
            json!({"service": "vantage", "match": "GET /v1/pong", "status": 500}),
            "unknown operation",
        ),
        (json!({"service": "vantage", "match": "*"}), "at least one of"),
        (
            json!({"service": "vantage", "match": "*", "status": 42}),
            "not an HTTP status",
        ),
        (
            json!({"service": "vantage", "match": "*", "status": 500, "count": 0}),
            "count",
        ),
        (
            json!({"service": "aws", "match": "PutReportDefinition", "status": 500}),
            "service:Operation",
        ),
        (
            json!({"service": "gcp", "match": "*", "status": 500}),
            "unknown service",
        ),
        (json!({"match": "*", "status": 500}), "invalid JSON body"),
    ] {
        let res = stack.admin(Method::POST, "/faults", Some(fault.clone())).await;
        assert_eq!(res.status(), 400, "{fault}");
        let reasons = errors(res).await;
        assert!(reasons[0].contains(reason), "{fault}: {reasons:?}");
    }
    stack
        .fault(json!({"service": "vantage", "match": "*", "status": 500, "count": 5}))
        .await;
    assert_eq!(stack.admin(Method::DELETE, "/faults", None).await.status(), 204);
    assert_eq!(stack.get("/v1/ping").await.status(), 200);
}

#[tokio::test]
async fn new_roles_are_not_assumable_until_the_propagation_delay_passes() {
    let stack = Devstack::start_offline(&["--propagation-delay", "1"]);
    let body = json!({ "cross_account_arn": ROLE, "bucket_arn": BUCKET });
    let res = stack
        .send_json(Method::POST, "/v1/integrations/aws", body.clone())
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        errors(res).await,
        [format!(
            "Vantage cannot assume {ROLE}: the role is not assumable yet (IAM propagation); retry in a few seconds"
        )]
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = stack.send_json(Method::POST, "/v1/integrations/aws", body).await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn propagation_delay_is_adjustable_and_reset_restores_it() {
    let stack = Devstack::start_offline(&[]);
    let res = stack
        .admin(Method::POST, "/propagation-delay", Some(json!({"seconds": 30})))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("JSON")["seconds"], json!(30.0));
    let res = stack
        .send_json(
            Method::POST,
            "/v1/integrations/aws",
            json!({ "cross_account_arn": ROLE }),
        )
        .await;
    assert_eq!(res.status(), 400);
    let bad = stack
        .admin(Method::POST, "/propagation-delay", Some(json!({"seconds": -1})))
        .await;
    assert_eq!(bad.status(), 400);

    stack.admin(Method::POST, "/reset", None).await;
    let delay: Value = stack
        .admin(Method::GET, "/propagation-delay", None)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(delay["seconds"], json!(0.0));
    stack.register(ROLE, None).await;
}

#[tokio::test]
async fn reset_forgets_integrations_counts_and_faults_but_keeps_the_account() {
    let stack = Devstack::start_offline(&["--token", "tkn"]);
    let info: Value = stack.get("/v1/integrations/aws/info").await.json().await.expect("JSON");
    let created = stack.register(ROLE, None).await;
    stack
        .fault(json!({"service": "vantage", "match": "*", "status": 500, "count": 100}))
        .await;

    assert_eq!(stack.admin(Method::POST, "/reset", None).await.status(), 204);
    let counts: Value = stack
        .admin(Method::GET, "/requests", None)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(counts, json!({"vantage": {}, "aws": {}}));
    let after: Value = stack.get("/v1/integrations/aws/info").await.json().await.expect("JSON");
    assert_eq!(after, info, "same account, same token, no faults");
    let list: Value = stack.get("/v2/integrations").await.json().await.expect("JSON");
    assert_eq!(list["integrations"], json!([]));
    assert_eq!(
        stack
            .get(&format!("/v1/integrations/aws/{}", created["id"]))
            .await
            .status(),
        404
    );
    // The role can be registered again, under a new id.
    let again = stack.register(ROLE, None).await;
    assert_ne!(again["id"], created["id"]);
}

#[tokio::test]
async fn request_counts_are_per_operation_template() {
    let stack = Devstack::start_offline(&[]);
    stack.get("/v1/integrations/aws/info").await;
    stack.get("/v1/integrations/aws/info").await;
    let created = stack.register(ROLE, None).await;
    stack.get(&format!("/v1/integrations/aws/{}", created["id"])).await;
    stack.get("/v1/integrations/aws/999").await;
    stack.get("/v1/nowhere").await;
    stack
        .client
        .get(format!("{}/v1/ping", stack.vantage_url))
        .send()
        .await
        .expect("send");
    stack.admin(Method::GET, "/faults", None).await;

    let counts: Value = stack
        .admin(Method::GET, "/requests", None)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        counts,
        json!({
            "vantage": {
                "GET (unmatched)": 1,
                "GET /v1/integrations/aws/info": 2,
                "GET /v1/integrations/aws/{id}": 2,
                "GET /v1/ping": 1,
                "POST /v1/integrations/aws": 1
            },
            "aws": {}
        })
    );
}

#[tokio::test]
async fn admin_extras_answer_json() {
    let stack = Devstack::start_offline(&[]);
    let res = stack.admin(Method::POST, "/deliver-cur", Some(json!({}))).await;
    assert_eq!(res.status(), 400);
    assert_eq!(errors(res).await, ["give exactly one of report_name and export_name"]);
    let res = stack
        .admin(Method::POST, "/deliver-cur", Some(json!({"report_name": "none"})))
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(errors(res).await, ["no CUR report named \"none\""]);
    let res = stack.admin(Method::GET, "/nothing", None).await;
    assert_eq!(res.status(), 404);
    assert_eq!(errors(res).await, ["not found"]);
}
