//! The Vantage API stand-in as the provider sees it: auth, provider info, v1 CRUD, v2 listing
//! and status, and the id <-> token mapping.

use crate::common;

use common::{BUCKET, Devstack, ROLE, errors, token_for};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn ping_answers_any_valid_token_and_refuses_others() {
    let stack = Devstack::start_offline(&["--token", "rw", "--token", "ro:read"]);
    for path in ["/v1/ping", "/v2/ping"] {
        let res = stack.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.json::<Value>().await.expect("JSON"), json!({"ping": "pong"}));
        let read_only = stack.api_as("ro", Method::GET, path).send().await.expect("send");
        assert_eq!(read_only.status(), 200, "{path}");
        let anonymous = stack
            .client
            .get(format!("{}{path}", stack.vantage_url))
            .send()
            .await
            .expect("send");
        assert_eq!(anonymous.status(), 401, "{path}");
    }
}

#[tokio::test]
async fn missing_or_wrong_token_is_401_with_an_explanation() {
    let stack = Devstack::start_offline(&["--token", "right"]);
    let missing = stack
        .client
        .get(format!("{}/v1/integrations/aws/info", stack.vantage_url))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), 401);
    assert_eq!(errors(missing).await, ["Unauthorized: invalid or missing bearer token"]);
    let wrong = stack
        .api_as("wrong", Method::GET, "/v1/integrations/aws/info")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), 401);
    assert_eq!(errors(wrong).await, ["Unauthorized: invalid or missing bearer token"]);
}

#[tokio::test]
async fn read_only_token_reads_info_but_cannot_register() {
    let stack = Devstack::start_offline(&["--token", "ro:read"]);
    assert_eq!(stack.get("/v1/integrations/aws/info").await.status(), 200);
    let res = stack
        .send_json(
            Method::POST,
            "/v1/integrations/aws",
            json!({ "cross_account_arn": ROLE }),
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(errors(res).await, ["token lacks the 'write' scope"]);
    assert_eq!(stack.get("/v2/integrations").await.status(), 200);
}

#[tokio::test]
async fn provider_info_has_vantage_shapes() {
    let stack = Devstack::start_offline(&[]);
    let res = stack.get("/v1/integrations/aws/info").await;
    assert_eq!(res.status(), 200);
    let info: Value = res.json().await.expect("JSON");
    let principal = info["iam_role_arn"].as_str().expect("iam_role_arn");
    let uuid = principal
        .strip_prefix("arn:aws:iam::630399649041:role/vantage-account-sync-")
        .expect("principal in Vantage's account");
    assert_eq!(uuid.len(), 36);
    assert!(
        uuid.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase() || b == b'-')
    );
    let external_id = info["external_id"].as_str().expect("external_id");
    assert_eq!(external_id.len(), 22);
    assert!(
        external_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let role_id = info["iam_role_id"].as_str().expect("iam_role_id");
    assert!(role_id.starts_with("AROA") && role_id.len() == 21, "{role_id}");
    assert_eq!(info["vantage_id"].as_str().map(str::len), Some(36));
    let policies = info["policies"].as_object().expect("policies object");
    let names: Vec<&str> = policies.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["root", "autopilot", "cloudwatch", "resources", "s3_request_metrics"]
    );
    for (name, policy) in policies {
        let text = policy.as_str().unwrap_or_else(|| panic!("{name} is a string"));
        let document: Value = serde_json::from_str(text).expect("policy string parses");
        assert_eq!(document["Version"], "2012-10-17", "{name}");
        assert!(document["Statement"].is_array(), "{name}");
    }
    // Stable for the life of the account.
    let again: Value = stack.get("/v1/integrations/aws/info").await.json().await.expect("JSON");
    assert_eq!(again, info);
}

#[tokio::test]
async fn aws_integration_lifecycle_with_bucket_cleared_by_put() {
    let stack = Devstack::start_offline(&[]);
    let created = stack.register(ROLE, Some(BUCKET)).await;
    let id = created["id"].as_i64().expect("integer id");
    assert_eq!(
        created,
        json!({"id": id, "cross_account_arn": ROLE, "bucket_arn": BUCKET})
    );
    let path = format!("/v1/integrations/aws/{id}");

    let read = stack.get(&path).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.expect("JSON"), created);

    // PUT without bucket_arn clears the bucket.
    let res = stack
        .send_json(Method::PUT, &path, json!({ "cross_account_arn": ROLE }))
        .await;
    assert_eq!(res.status(), 200);
    let cleared = json!({"id": id, "cross_account_arn": ROLE, "bucket_arn": null});
    assert_eq!(res.json::<Value>().await.expect("JSON"), cleared);
    assert_eq!(stack.get(&path).await.json::<Value>().await.expect("JSON"), cleared);

    // And an explicit null clears it too.
    stack
        .send_json(
            Method::PUT,
            &path,
            json!({ "cross_account_arn": ROLE, "bucket_arn": BUCKET }),
        )
        .await;
    let res = stack
        .send_json(
            Method::PUT,
            &path,
            json!({ "cross_account_arn": ROLE, "bucket_arn": null }),
        )
        .await;
    assert_eq!(res.json::<Value>().await.expect("JSON"), cleared);

    let deleted = stack.api(Method::DELETE, &path).send().await.expect("send");
    assert_eq!(deleted.status(), 204);
    assert!(deleted.bytes().await.expect("body").is_empty());
    assert_eq!(stack.get(&path).await.status(), 404);
    let again = stack.api(Method::DELETE, &path).send().await.expect("send");
    assert_eq!(again.status(), 404);
    assert_eq!(errors(again).await, ["not found"]);
    let put = stack
        .send_json(Method::PUT, &path, json!({ "cross_account_arn": ROLE }))
        .await;
    assert_eq!(put.status(), 404);
    assert_eq!(stack.get("/v1/integrations/aws/not-a-number").await.status(), 404);
}

#[tokio::test]
async fn registering_a_role_twice_conflicts() {
    let stack = Devstack::start_offline(&[]);
    let first = stack.register(ROLE, None).await;
    let res = stack
        .send_json(
            Method::POST,
            "/v1/integrations/aws",
            json!({ "cross_account_arn": ROLE, "bucket_arn": BUCKET }),
        )
        .await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        errors(res).await,
        [format!(
            "an AWS integration for {ROLE} already exists with id {}",
            first["id"]
        )]
    );
    // Moving another integration onto the same role conflicts as well.
    let other = stack.register("arn:aws:iam::123456789012:role/other", None).await;
    let res = stack
        .send_json(
            Method::PUT,
            &format!("/v1/integrations/aws/{}", other["id"]),
            json!({ "cross_account_arn": ROLE }),
        )
        .await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn bad_registrations_are_400_with_every_reason() {
    let stack = Devstack::start_offline(&[]);
    let res = stack
        .send_json(
            Method::POST,
            "/v1/integrations/aws",
            json!({ "cross_account_arn": "arn:aws:iam::123:user/x", "bucket_arn": "my-bucket" }),
        )
        .await;
    assert_eq!(res.status(), 400);
    let reasons = errors(res).await;
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].starts_with("cross_account_arn is not an IAM role ARN: "));
    assert!(reasons[1].starts_with("bucket_arn is not an S3 bucket ARN: "));

    let res = stack.send_json(Method::POST, "/v1/integrations/aws", json!({})).await;
    assert_eq!(res.status(), 400);
    assert_eq!(errors(res).await, ["cross_account_arn is required"]);

    let res = stack
        .api(Method::POST, "/v1/integrations/aws")
        .header("content-type", "application/json")
        .body("{\"cross_account_arn\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 400);
    let reasons = errors(res).await;
    assert!(reasons[0].starts_with("invalid JSON body"), "{reasons:?}");
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let stack = Devstack::start_offline(&[]);
    let res = stack.get("/v1/nothing-here").await;
    assert_eq!(res.status(), 404);
    assert_eq!(errors(res).await, ["not found"]);
    let res = stack
        .api(Method::PATCH, "/v1/integrations/aws/1")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 405);
    assert_eq!(errors(res).await, ["method not allowed"]);
}

#[tokio::test]
async fn v2_lists_in_pages_with_absolute_links_and_filters() {
    let stack = Devstack::start_offline(&[]);
    for (account, name) in [
        ("111111111111", "a"),
        ("111111111111", "b"),
        ("222222222222", "c"),
        ("111111111111", "d"),
        ("222222222222", "e"),
    ] {
        stack
            .register(&format!("arn:aws:iam::{account}:role/{name}"), None)
            .await;
    }
    let base = format!("{}/v2/integrations", stack.vantage_url);

    let page1: Value = stack
        .get("/v2/integrations?provider=aws&limit=2")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(page1["integrations"].as_array().map(Vec::len), Some(2));
    assert_eq!(page1["links"]["self"], format!("{base}?provider=aws&page=1&limit=2"));
    assert_eq!(page1["links"]["first"], format!("{base}?provider=aws&page=1&limit=2"));
    assert_eq!(page1["links"]["next"], format!("{base}?provider=aws&page=2&limit=2"));
    assert_eq!(page1["links"]["last"], format!("{base}?provider=aws&page=3&limit=2"));
    assert_eq!(page1["links"]["prev"], Value::Null);

    // Following links.next visits every integration exactly once.
    let mut seen = Vec::new();
    let mut next = page1["links"]["self"].as_str().map(str::to_owned);
    while let Some(url) = next {
        let page: Value = stack
            .client
            .get(&url)
            .bearer_auth(&stack.token)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("JSON");
        for integration in page["integrations"].as_array().expect("array") {
            seen.push(integration["token"].as_str().expect("token").to_owned());
        }
        next = page["links"]["next"].as_str().map(str::to_owned);
        if next.is_none() {
            assert_eq!(page["links"]["prev"], format!("{base}?provider=aws&page=2&limit=2"));
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen, (1..=5).map(token_for).collect::<Vec<_>>());

    let filtered: Value = stack
        .get("/v2/integrations?provider=aws&account_identifier=222222222222")
        .await
        .json()
        .await
        .expect("JSON");
    let accounts: Vec<&Value> = filtered["integrations"]
        .as_array()
        .expect("array")
        .iter()
        .map(|i| &i["account_identifier"])
        .collect();
    assert_eq!(accounts, [&json!("222222222222"), &json!("222222222222")]);
    assert_eq!(filtered["links"]["next"], Value::Null);

    let other_provider: Value = stack
        .get("/v2/integrations?provider=gcp")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(other_provider["integrations"], json!([]));

    for bad in ["limit=1001", "limit=0", "page=0", "page=x"] {
        let res = stack.get(&format!("/v2/integrations?{bad}")).await;
        assert_eq!(res.status(), 400, "{bad}");
    }
    assert_eq!(stack.get("/v2/integrations?limit=1000").await.status(), 200);
}

#[tokio::test]
async fn v1_id_and_v2_token_name_the_same_record() {
    let stack = Devstack::start_offline(&[]);
    let created = stack.register(ROLE, None).await;
    let id = created["id"].as_i64().expect("id");
    let token = token_for(id);

    let res = stack.get(&format!("/v2/integrations/{token}")).await;
    assert_eq!(res.status(), 200);
    let integration: Value = res.json().await.expect("JSON");
    assert_eq!(integration["token"], token);
    assert_eq!(integration["provider"], "aws");
    assert_eq!(integration["account_identifier"], "123456789012");
    assert_eq!(integration["managed_account_tokens"], json!([]));
    let workspaces = integration["workspace_tokens"].as_array().expect("array");
    assert_eq!(workspaces.len(), 1);
    assert!(workspaces[0].as_str().is_some_and(|w| w.starts_with("wrkspc_")));
    assert!(integration["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    // Deleting through v2 removes the v1 record.
    let deleted = stack
        .api(Method::DELETE, &format!("/v2/integrations/{token}"))
        .send()
        .await
        .expect("send");
    assert_eq!(deleted.status(), 204);
    assert_eq!(stack.get(&format!("/v1/integrations/aws/{id}")).await.status(), 404);
    assert_eq!(stack.get(&format!("/v2/integrations/{token}")).await.status(), 404);
    assert_eq!(
        stack
            .get("/v2/integrations/accss_crdntl_ac985d1d8bb8bc12")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn status_connects_on_first_read_without_bucket_and_waits_with_one() {
    let stack = Devstack::start_offline(&[]);
    let plain = stack.register(ROLE, None).await;
    let with_bucket = stack
        .register("arn:aws:iam::123456789012:role/with-bucket", Some(BUCKET))
        .await;

    let read = |id: &Value| format!("/v2/integrations/{}", token_for(id.as_i64().expect("id")));
    let plain_v2: Value = stack.get(&read(&plain["id"])).await.json().await.expect("JSON");
    assert_eq!(plain_v2["status"], "connected");
    assert!(plain_v2["last_updated"].is_string());
    let bucket_v2: Value = stack.get(&read(&with_bucket["id"])).await.json().await.expect("JSON");
    assert_eq!(bucket_v2["status"], "pending");
    assert_eq!(bucket_v2["last_updated"], Value::Null);
}

#[tokio::test]
async fn admin_status_hook_pins_until_the_registration_changes() {
    let stack = Devstack::start_offline(&[]);
    let created = stack.register(ROLE, Some(BUCKET)).await;
    let id = created["id"].as_i64().expect("id");
    let v2 = format!("/v2/integrations/{}", token_for(id));

    let res = stack
        .admin(
            Method::POST,
            &format!("/integrations/{id}/status"),
            Some(json!({"status": "error"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("JSON")["status"], "error");
    let read: Value = stack.get(&v2).await.json().await.expect("JSON");
    assert_eq!(read["status"], "error", "reads do not undo a pinned status");

    // Clearing the bucket is a new registration: pending, then connected on the next read.
    stack
        .send_json(
            Method::PUT,
            &format!("/v1/integrations/aws/{id}"),
            json!({ "cross_account_arn": ROLE }),
        )
        .await;
    let read: Value = stack.get(&v2).await.json().await.expect("JSON");
    assert_eq!(read["status"], "connected");

    let bad = stack
        .admin(
            Method::POST,
            &format!("/integrations/{id}/status"),
            Some(json!({"status": "sleeping"})),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let missing = stack
        .admin(
            Method::POST,
            "/integrations/999/status",
            Some(json!({"status": "error"})),
        )
        .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn v2_put_sets_workspaces_of_the_account_only() {
    let stack = Devstack::start_offline(&[]);
    let created = stack.register(ROLE, None).await;
    let path = format!("/v2/integrations/{}", token_for(created["id"].as_i64().expect("id")));
    let current: Value = stack.get(&path).await.json().await.expect("JSON");
    let workspace = current["workspace_tokens"][0].clone();

    let res = stack
        .send_json(
            Method::PUT,
            &path,
            json!({ "workspace_tokens": [workspace, workspace] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.expect("JSON")["workspace_tokens"],
        json!([workspace])
    );
    let unknown = stack
        .send_json(
            Method::PUT,
            &path,
            json!({ "workspace_tokens": ["wrkspc_0000000000000000"] }),
        )
        .await;
    assert_eq!(unknown.status(), 400);
    let empty = stack
        .send_json(Method::PUT, &path, json!({ "workspace_tokens": [] }))
        .await;
    assert_eq!(empty.status(), 400);
    let read_only = Devstack::start_offline(&["--token", "ro:read"]);
    let res = read_only
        .send_json(Method::PUT, &path, json!({ "workspace_tokens": [] }))
        .await;
    assert_eq!(res.status(), 403);
}
