//! `vantage_aws_integration` and the drop-in `vantage_aws_provider` against
//! the devstack: registration, retries, faults, drift, import, the member
//! account caution and the refresh cost, checked through devstack's Vantage
//! and admin APIs and the AWS SDK.
//!
//! Tests that arm faults, change the propagation delay or count requests run
//! on a devstack of their own, so that they never disturb each other.

use std::time::{Duration, Instant};

use acceptance_tests::aws::{Aws, account_id};
use acceptance_tests::vantage_checks::{
    AwsSide, all_integrations, clear_faults, delta, fault, register, v1_integration, v2_integration, vantage_call,
    vantage_requests,
};
use acceptance_tests::{Devstack, Workspace, wait_until};
use serde_json::{Value, json};

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{}:role/{name}", account_id())
}

/// A role and its registration, with `extra` inside the integration block.
fn config(name: &str, extra: &str) -> String {
    format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name = "{name}"
}}

resource "vantage_aws_integration" "this" {{
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
{extra}
}}

output "id" {{ value = vantage_aws_integration.this.id }}
output "token" {{ value = vantage_aws_integration.this.token }}
output "status" {{ value = vantage_aws_integration.this.status }}
output "account_id" {{ value = vantage_aws_integration.this.account_id }}
output "role_arn" {{ value = vantage_aws_cross_account_role.this.arn }}
"#
    )
}

/// A role that may read two CUR buckets through two `cur_retrieval` policies.
fn role_reading_two_buckets(name: &str, buckets: [&str; 2]) -> String {
    let [a, b] = buckets;
    format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name            = "{name}"
  inline_policies = ["cur-a", "cur-b"]
}}

resource "vantage_aws_role_policy" "cur_a" {{
  role       = vantage_aws_cross_account_role.this.name
  name       = "cur-a"
  preset     = "cur_retrieval"
  cur_bucket = "{a}"
}}

resource "vantage_aws_role_policy" "cur_b" {{
  role       = vantage_aws_cross_account_role.this.name
  name       = "cur-b"
  preset     = "cur_retrieval"
  cur_bucket = "{b}"
}}
"#
    )
}

/// The role of [`role_reading_two_buckets`], registered with `bucket` (or none).
fn bucket_config(name: &str, buckets: [&str; 2], bucket: Option<&str>) -> String {
    let bucket_line = bucket.map_or(String::new(), |b| format!("  bucket_arn = \"arn:aws:s3:::{b}\"\n"));
    format!(
        r#"{role}
resource "vantage_aws_integration" "this" {{
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
{bucket_line}
  depends_on = [vantage_aws_role_policy.cur_a, vantage_aws_role_policy.cur_b]
}}

output "id" {{ value = vantage_aws_integration.this.id }}
output "status" {{ value = vantage_aws_integration.this.status }}
"#,
        role = role_reading_two_buckets(name, buckets)
    )
}

fn output(ws: &Workspace, name: &str) -> String {
    let out = ws.outputs();
    match &out[name] {
        Value::String(s) => s.clone(),
        Value::Null => panic!("output {name} is null: {out}"),
        other => other.to_string(),
    }
}

#[test]
fn registration_retries_until_the_new_role_is_assumable() {
    let ds = Devstack::start(&["--propagation-delay", "5"]);
    let name = "acc-int-propagation";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, ""));
    let started = Instant::now();
    ws.apply().expect_ok();
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "the role cannot have been assumable before the propagation delay"
    );
    let posts = ds.request_count("vantage", "POST /v1/integrations/aws");
    assert!(posts > 1, "the registration was retried ({posts} POSTs)");

    let id = output(&ws, "id");
    let token = output(&ws, "token");
    let registered = v1_integration(&ds, &id).expect("Vantage holds the integration");
    assert_eq!(registered["cross_account_arn"], role_arn(name));
    assert!(registered["bucket_arn"].is_null());
    let v2 = v2_integration(&ds, &token).expect("the token names the same integration in v2");
    assert_eq!(v2["account_identifier"], account_id());
    assert_eq!(output(&ws, "account_id"), account_id());
    assert_eq!(
        output(&ws, "status"),
        "connected",
        "a role without a bucket is connected once verified"
    );
    ws.plan().expect_empty_plan();

    ws.destroy().expect_ok();
    assert!(v1_integration(&ds, &id).is_none(), "destroy removes the integration");
    assert!(all_integrations(&ds).is_empty(), "nothing is left in Vantage");
    assert!(Aws::new(&ds.info.aws_url).role(name).is_none());
}

#[test]
fn registration_gives_up_at_the_create_timeout_with_the_trust_policy_hint() {
    let ds = Devstack::start(&["--propagation-delay", "600"]);
    let name = "acc-int-timeout";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, "  timeouts {\n    create = \"4s\"\n  }"));
    let started = Instant::now();
    let run = ws.apply();
    run.expect_error("Vantage could not assume the role in time")
        .expect_error("not assumable yet")
        .expect_error(&format!("trust policy of {}", role_arn("acc-int-timeout")))
        .expect_error("sts:ExternalId")
        .expect_error("timeouts");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the create timeout bounds the retries"
    );
    assert!(
        ds.request_count("vantage", "POST /v1/integrations/aws") > 1,
        "it retried before giving up"
    );
    assert!(all_integrations(&ds).is_empty(), "nothing was registered");
    ws.destroy().expect_ok();
    assert!(Aws::new(&ds.info.aws_url).role(name).is_none());
}

#[test]
fn a_wrong_external_id_fails_at_once_with_vantages_words() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-wrong-external-id";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, "").replacen(
        &format!("  name = \"{name}\"\n"),
        &format!("  name        = \"{name}\"\n  external_id = \"not-the-vantage-external-id\"\n"),
        1,
    ));
    ws.apply()
        .expect_error("Vantage refused the AWS integration")
        .expect_error("Vantage answered 400")
        .expect_error("does not allow sts:AssumeRole with this account's external id")
        .expect_error("fix its trust policy");
    assert_eq!(
        ds.request_count("vantage", "POST /v1/integrations/aws"),
        1,
        "a refusal other than propagation is not retried"
    );
    assert!(all_integrations(&ds).is_empty());
    ws.destroy().expect_ok();
}

#[test]
fn a_wrong_principal_in_the_trust_policy_fails_with_vantages_words() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-wrong-principal";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, "").replacen(
        &format!("  name = \"{name}\"\n"),
        &format!(
            "  name                  = \"{name}\"\n  vantage_principal_arn = \"arn:aws:iam::111122223333:root\"\n"
        ),
        1,
    ));
    ws.apply()
        .expect_error("Vantage refused the AWS integration")
        .expect_error(&format!(
            "Vantage cannot assume {}: the trust policy of .* does not allow arn:aws:iam::630399649041:role/",
            role_arn(name)
        ));
    assert_eq!(ds.request_count("vantage", "POST /v1/integrations/aws"), 1);
    assert!(all_integrations(&ds).is_empty(), "nothing was registered");
    ws.destroy().expect_ok();
}

#[test]
fn a_429_storm_fails_fast_with_the_reset_time_and_registers_nothing() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-429";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, ""));
    fault(
        &ds,
        json!({"match": "POST /v1/integrations/aws", "count": 50, "throttle": true}),
    );
    let started = Instant::now();
    ws.apply()
        .expect_error("rate limit was exhausted at POST http://127.0.0.1:\\d+/v1/integrations/aws")
        .expect_error("resets in \\d+ s");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a reset an hour away is not waited for"
    );
    assert_eq!(
        ds.request_count("vantage", "POST /v1/integrations/aws"),
        1,
        "no hammering while throttled"
    );
    assert!(all_integrations(&ds).is_empty(), "nothing was registered");

    // The storm passes: the same apply goes through.
    clear_faults(&ds);
    ws.apply().expect_ok();
    assert_eq!(all_integrations(&ds).len(), 1);
    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
}

#[test]
fn a_5xx_burst_and_dropped_connections_are_retried_without_registering_twice() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-5xx";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, ""));
    fault(
        &ds,
        json!({"match": "POST /v1/integrations/aws", "count": 2, "status": 503}),
    );
    fault(
        &ds,
        json!({"match": "POST /v1/integrations/aws", "count": 1, "status": 500}),
    );
    fault(
        &ds,
        json!({"match": "POST /v1/integrations/aws", "count": 1, "drop_connection": true}),
    );
    ws.apply().expect_ok();
    assert_eq!(ds.request_count("vantage", "POST /v1/integrations/aws"), 5);
    assert_eq!(all_integrations(&ds).len(), 1, "registered exactly once");

    // Reads retry server errors too.
    fault(
        &ds,
        json!({"match": "GET /v1/integrations/aws/{id}", "count": 2, "status": 502}),
    );
    fault(&ds, json!({"match": "GET /v2/integrations", "count": 1, "status": 503}));
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
}

/// Attempts of one Vantage call before it fails: ARCHITECTURE.md, "Retries".
const VANTAGE_ATTEMPTS: u64 = 5;

/// Applies while every call of `operation` answers 500: the apply fails saying it got no clear
/// answer (`doing` is the summary's verb) after exactly the documented attempts, well within a
/// minute.
fn apply_under_a_persistent_500(ds: &Devstack, ws: &Workspace, operation: &str, doing: &str) {
    fault(ds, json!({"match": operation, "count": 100, "status": 500}));
    let (method, path) = operation.split_once(' ').expect("METHOD /path");
    let started = Instant::now();
    ws.apply()
        .expect_error(&format!("{doing} the AWS integration with Vantage failed"))
        .expect_error(&format!(
            "Vantage answered 500 at {method} http://127.0.0.1:\\d+{}",
            path.replace("{id}", "\\d+")
        ))
        .expect_error(&format!("No clear answer after {VANTAGE_ATTEMPTS} attempts"));
    let elapsed = started.elapsed();
    assert_eq!(
        ds.request_count("vantage", operation),
        VANTAGE_ATTEMPTS,
        "one retry layer: the client's attempts, not the client's times the resource's"
    );
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    clear_faults(ds);
}

#[test]
fn a_persistent_500_on_registration_costs_exactly_the_documented_attempts() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-persistent-500";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, ""));
    apply_under_a_persistent_500(&ds, &ws, "POST /v1/integrations/aws", "Registering");
    assert!(all_integrations(&ds).is_empty(), "nothing was registered");
    ws.destroy().expect_ok();
}

#[test]
fn a_persistent_500_on_update_costs_exactly_the_documented_attempts() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-persistent-500-put";
    let two_roles = |registered: &str| {
        format!(
            r#"resource "vantage_aws_cross_account_role" "a" {{
  name = "{name}-a"
}}

resource "vantage_aws_cross_account_role" "b" {{
  name = "{name}-b"
}}

resource "vantage_aws_integration" "this" {{
  cross_account_role_arn = vantage_aws_cross_account_role.{registered}.arn
}}

output "id" {{ value = vantage_aws_integration.this.id }}
"#
        )
    };
    let ws = Workspace::on(&ds, name);
    ws.config(&two_roles("a"));
    ws.apply().expect_ok();
    let id = output(&ws, "id");

    ws.config(&two_roles("b"));
    apply_under_a_persistent_500(&ds, &ws, "PUT /v1/integrations/aws/{id}", "Updating");
    assert_eq!(
        v1_integration(&ds, &id).expect("still registered")["cross_account_arn"],
        role_arn(&format!("{name}-a")),
        "the failed update changed nothing"
    );
    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
}

#[test]
fn a_registration_that_timed_out_is_retried_without_registering_twice() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-timed-out";
    let ws = Workspace::on(&ds, name);
    // Vantage answers only after the client gave up, twice. The bound leaves the third, prompt
    // answer room on a loaded machine (at 1 s it once ran out too, and a fourth POST was made).
    ws.config(&format!(
        "provider \"vantage\" {{\n  timeout = \"3s\"\n}}\n\n{}",
        config(name, "")
    ));
    fault(
        &ds,
        json!({"match": "POST /v1/integrations/aws", "count": 2, "delay_ms": 4500}),
    );
    ws.apply().expect_ok();
    assert_eq!(ds.request_count("vantage", "POST /v1/integrations/aws"), 3);
    let found = all_integrations(&ds);
    assert_eq!(found.len(), 1, "exactly one registration: {found:?}");
    let id = output(&ws, "id");
    assert_eq!(
        v1_integration(&ds, &id).expect("the state's id is the registration")["cross_account_arn"],
        role_arn(name)
    );
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
}

#[test]
fn a_registration_whose_answer_was_lost_is_adopted_not_duplicated() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-lost-answer";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, ""));
    // The registration goes through on Vantage's side, but its answer is a 500.
    fault(
        &ds,
        json!({"match": "POST /v1/integrations/aws", "count": 1, "delay_ms": 3000, "status": 500}),
    );
    let (run, registered) = std::thread::scope(|scope| {
        let apply = scope.spawn(|| ws.apply());
        let arrived = wait_until(Duration::from_secs(120), || {
            ds.request_count("vantage", "POST /v1/integrations/aws") > 0
        });
        assert!(arrived, "the provider registers");
        let registered = register(&ds, &role_arn(name), None);
        (apply.join().expect("terraform apply"), registered)
    });
    run.expect_ok();
    let text = run.normalized_output();
    assert!(
        text.contains("Warning: Adopted the AWS integration an interrupted attempt registered")
            && text.contains(&format!("AWS integration {registered}")),
        "{text}"
    );
    assert_eq!(
        output(&ws, "id"),
        registered.to_string(),
        "the state tracks that registration"
    );
    assert_eq!(all_integrations(&ds).len(), 1, "no second registration");
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
}

#[test]
fn an_integration_deleted_in_vantage_is_registered_again() {
    let ds = Devstack::shared();
    let name = "acc-int-deleted";
    let ws = Workspace::new(name);
    ws.config(&config(name, ""));
    ws.apply().expect_ok();
    let id = output(&ws, "id");
    let (status, _) = vantage_call(ds, "DELETE", &format!("/v1/integrations/aws/{id}"), None);
    assert_eq!(status, 204);

    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.stdout.contains("vantage_aws_integration.this will be created"),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    let new_id = output(&ws, "id");
    assert_ne!(new_id, id);
    assert_eq!(
        v1_integration(ds, &new_id).expect("registered again")["cross_account_arn"],
        role_arn(name)
    );
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(v1_integration(ds, &new_id).is_none());
}

#[test]
fn a_bucket_changed_in_vantage_shows_as_drift_and_is_repaired() {
    let ds = Devstack::shared();
    let aws = AwsSide::new(&ds.info.aws_url);
    let name = "acc-int-bucket-drift";
    let buckets = ["acc-int-drift-a", "acc-int-drift-b"];
    buckets.iter().for_each(|b| aws.create_bucket(b));
    let ws = Workspace::new(name);
    ws.config(&bucket_config(name, buckets, Some(buckets[0])));
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let id = output(&ws, "id");
    assert_eq!(
        v1_integration(ds, &id).expect("registered")["bucket_arn"],
        "arn:aws:s3:::acc-int-drift-a"
    );
    assert_eq!(output(&ws, "status"), "pending", "waiting for a CUR in the bucket");

    // Someone points the integration at the other bucket in Vantage.
    let (status, body) = vantage_call(
        ds,
        "PUT",
        &format!("/v1/integrations/aws/{id}"),
        Some(json!({"cross_account_arn": role_arn(name), "bucket_arn": "arn:aws:s3:::acc-int-drift-b"})),
    );
    assert_eq!(status, 200, "{body}");
    let plan = ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains(r#""arn:aws:s3:::acc-int-drift-b" -> "arn:aws:s3:::acc-int-drift-a""#),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    assert_eq!(
        v1_integration(ds, &id).expect("still registered")["bucket_arn"],
        "arn:aws:s3:::acc-int-drift-a"
    );
    assert_eq!(output(&ws, "id"), id, "repaired in place");
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(v1_integration(ds, &id).is_none());
    buckets.iter().for_each(|b| aws.delete_bucket(b));
}

/// The drop-in's state follows Vantage too: a bucket changed there shows in the plan as an
/// update of `bucket_arn`, and the apply points the same integration back at the configured one.
#[test]
fn a_drop_in_registration_whose_bucket_changed_in_vantage_shows_as_drift_and_is_repaired() {
    let ds = Devstack::shared();
    let aws = AwsSide::new(&ds.info.aws_url);
    let name = "acc-int-dropin-drift";
    let buckets = ["acc-int-dropin-drift-a", "acc-int-dropin-drift-b"];
    buckets.iter().for_each(|b| aws.create_bucket(b));
    let ws = Workspace::new(name);
    // The role of `bucket_config`, registered with the official provider's resource.
    let [a, _] = buckets;
    ws.config(&format!(
        r#"{role}
resource "vantage_aws_provider" "this" {{
  cross_account_arn = vantage_aws_cross_account_role.this.arn
  bucket_arn        = "arn:aws:s3:::{a}"
  depends_on        = [vantage_aws_role_policy.cur_a, vantage_aws_role_policy.cur_b]
}}

output "id" {{ value = vantage_aws_provider.this.id }}
"#,
        role = role_reading_two_buckets(name, buckets)
    ));
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let id = output(&ws, "id");
    let wanted = "arn:aws:s3:::acc-int-dropin-drift-a";
    assert_eq!(v1_integration(ds, &id).expect("registered")["bucket_arn"], wanted);

    // Someone points the integration at the other bucket in Vantage.
    let (status, body) = vantage_call(
        ds,
        "PUT",
        &format!("/v1/integrations/aws/{id}"),
        Some(json!({"cross_account_arn": role_arn(name), "bucket_arn": "arn:aws:s3:::acc-int-dropin-drift-b"})),
    );
    assert_eq!(status, 200, "{body}");
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.stdout
            .contains("vantage_aws_provider.this will be updated in-place"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains(&format!(r#""arn:aws:s3:::acc-int-dropin-drift-b" -> "{wanted}""#)),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    assert_eq!(v1_integration(ds, &id).expect("still registered")["bucket_arn"], wanted);
    assert_eq!(output(&ws, "id"), id, "repaired in place");
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(v1_integration(ds, &id).is_none());
    buckets.iter().for_each(|b| aws.delete_bucket(b));
}

#[test]
fn removing_bucket_arn_clears_it_in_vantage() {
    let ds = Devstack::shared();
    let aws = AwsSide::new(&ds.info.aws_url);
    let name = "acc-int-bucket-clear";
    let buckets = ["acc-int-clear-a", "acc-int-clear-b"];
    buckets.iter().for_each(|b| aws.create_bucket(b));
    let ws = Workspace::new(name);
    ws.config(&bucket_config(name, buckets, Some(buckets[0])));
    ws.apply().expect_ok();
    let id = output(&ws, "id");

    ws.config(&bucket_config(name, buckets, Some(buckets[1])));
    ws.apply().expect_ok();
    assert_eq!(
        v1_integration(ds, &id).expect("registered")["bucket_arn"],
        "arn:aws:s3:::acc-int-clear-b"
    );

    ws.config(&bucket_config(name, buckets, None));
    let plan = ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
    ws.apply().expect_ok();
    assert!(
        v1_integration(ds, &id).expect("registered")["bucket_arn"].is_null(),
        "Vantage holds no bucket any more"
    );
    assert_eq!(output(&ws, "id"), id, "same integration");
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    buckets.iter().for_each(|b| aws.delete_bucket(b));
}

#[test]
fn import_by_id_matches_the_created_state() {
    let name = "acc-int-import";
    let ws = Workspace::new(name);
    ws.config(&config(name, ""));
    ws.apply().expect_ok();
    let created = ws.state();
    let id = output(&ws, "id");
    ws.run(&["state", "rm", "vantage_aws_integration.this"]).expect_ok();
    ws.run(&["import", "-no-color", "vantage_aws_integration.this", &id])
        .expect_ok();
    ws.plan().expect_empty_plan();
    let imported = ws.state();
    let values = |s: &Value| {
        s["values"]["root_module"]["resources"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["address"] == "vantage_aws_integration.this"))
            .map(|r| r["values"].clone())
            .unwrap_or_default()
    };
    let (a, b) = (values(&created), values(&imported));
    for key in [
        "id",
        "cross_account_role_arn",
        "bucket_arn",
        "account_id",
        "token",
        "status",
    ] {
        assert_eq!(a[key], b[key], "{key} differs after import");
    }

    ws.destroy().expect_ok();
    assert!(v1_integration(Devstack::shared(), &id).is_none());
}

#[test]
fn importing_an_unknown_id_says_so() {
    let ws = Workspace::new("acc-int-import-missing");
    ws.config(
        r#"import {
  to = vantage_aws_integration.this
  id = "999999"
}

resource "vantage_aws_integration" "this" {
  cross_account_role_arn = "arn:aws:iam::123456789012:role/acc-int-import-missing"
}"#,
    );
    ws.plan()
        .expect_error("Cannot import a missing AWS integration")
        .expect_error("no AWS integration with id 999999");
    ws.config(
        r#"import {
  to = vantage_aws_integration.this
  id = "accss_crdntl_1"
}

resource "vantage_aws_integration" "this" {
  cross_account_role_arn = "arn:aws:iam::123456789012:role/acc-int-import-missing"
}"#,
    );
    ws.plan().expect_error("Invalid import id");
}

#[test]
fn registering_an_already_registered_role_suggests_the_import_block() {
    let ds = Devstack::shared();
    let name = "acc-int-already";
    let ws = Workspace::new(name);
    // The role first, registered outside Terraform (an earlier onboarding).
    ws.config(&format!(
        "resource \"vantage_aws_cross_account_role\" \"this\" {{\n  name = \"{name}\"\n}}\n"
    ));
    ws.apply().expect_ok();
    let existing = register(ds, &role_arn(name), None);

    ws.config(&config(name, ""));
    ws.apply()
        .expect_error("AWS role already registered with Vantage")
        .expect_error(&format!("registered with Vantage as AWS integration {existing}"))
        .expect_error(&format!(
            r#"import \{{ to = vantage_aws_integration.<name> id = "{existing}" \}}"#
        ));

    // Writing the suggested block adopts it.
    ws.config(&format!(
        "import {{\n  to = vantage_aws_integration.this\n  id = \"{existing}\"\n}}\n\n{}",
        config(name, "")
    ));
    ws.apply().expect_ok();
    assert_eq!(output(&ws, "id"), existing.to_string());
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(v1_integration(ds, &existing.to_string()).is_none());
}

/// The same, when Vantage answers a duplicate in other words than the devstack's (a 422 in
/// Rails' words, naming no id): the provider finds the integration by the role's account and
/// ARN, not in the message.
#[test]
fn a_duplicate_answer_naming_no_id_still_names_the_integration_to_import() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-already-422";
    let ws = Workspace::on(&ds, name);
    ws.config(&format!(
        "resource \"vantage_aws_cross_account_role\" \"this\" {{\n  name = \"{name}\"\n}}\n"
    ));
    ws.apply().expect_ok();
    let existing = register(&ds, &role_arn(name), None);
    fault(
        &ds,
        json!({"match": "POST /v1/integrations/aws", "count": 5, "status": 422,
               "body": {"errors": ["Cross account arn has already been taken"]}}),
    );

    ws.config(&config(name, ""));
    ws.apply()
        .expect_error("AWS role already registered with Vantage")
        .expect_error("Vantage answered: Cross account arn has already been taken")
        .expect_error(&format!("registered with Vantage as AWS integration {existing}"))
        .expect_error(&format!(
            r#"import \{{ to = vantage_aws_integration.<name> id = "{existing}" \}}"#
        ));
    assert_eq!(
        ds.request_count("vantage", "POST /v1/integrations/aws"),
        2,
        "the test's registration, then one by the provider: a duplicate is not sent again"
    );
    assert_eq!(all_integrations(&ds).len(), 1, "nothing registered twice");
}

/// A registration whose answer was lost, then a 409 that names no id: the integration the
/// first attempt made is found by its role and kept in state, not orphaned.
#[test]
fn a_lost_answer_then_a_409_without_an_id_keeps_the_integration_in_state() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-409-no-id";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, ""));
    fault(
        &ds,
        json!({"match": "POST /v1/integrations/aws", "count": 1, "drop_connection": true, "after": true}),
    );
    fault(
        &ds,
        json!({"match": "POST /v1/integrations/aws", "count": 1, "status": 409,
               "body": {"errors": ["Conflict"]}}),
    );
    let run = ws.apply();
    run.expect_ok();
    assert!(
        run.normalized_output()
            .contains("Adopted the AWS integration an interrupted attempt registered"),
        "{}",
        run.normalized_output()
    );
    let all = all_integrations(&ds);
    assert_eq!(all.len(), 1, "registered once: {all:?}");
    let id = output(&ws, "id");
    let v1 = v1_integration(&ds, &id).expect("the state holds the integration Vantage has");
    assert_eq!(v1["cross_account_arn"], role_arn(name));
    assert_eq!(output(&ws, "token"), all[0]["token"].as_str().unwrap_or_default());
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
}

/// A 400 in words the provider does not know is final: sent once, shown as Vantage wrote it.
#[test]
fn an_unfamiliar_400_fails_at_once_with_vantages_message() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-unfamiliar-400";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, ""));
    fault(
        &ds,
        json!({"match": "POST /v1/integrations/aws", "count": 5, "status": 400,
               "body": {"errors": ["Account suspended: contact billing (code 7731)"]}}),
    );
    ws.apply()
        .expect_error("Vantage refused the AWS integration")
        .expect_error("Vantage answered 400")
        .expect_error(r"Account suspended: contact billing \(code 7731\)");
    assert_eq!(ds.request_count("vantage", "POST /v1/integrations/aws"), 1);
    assert!(all_integrations(&ds).is_empty());
    ws.destroy().expect_ok();
}

#[test]
fn status_error_warns_with_the_reason() {
    let name = "acc-int-status-error";
    let ws = Workspace::new(name);
    ws.config(&config(name, ""));
    ws.apply().expect_ok();
    assert_eq!(output(&ws, "status"), "connected");

    // The external id condition disappears from the trust policy: Vantage loses access.
    Aws::shared().update_trust(
        name,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::630399649041:root"},"Action":"sts:AssumeRole"}]}"#,
    );
    let refresh = ws.run(&["apply", "-refresh-only", "-auto-approve", "-no-color"]);
    refresh.expect_ok();
    let text = refresh.normalized_output();
    assert!(
        text.contains("Warning: Vantage cannot access this AWS account"),
        "{text}"
    );
    assert!(
        text.contains("does not require your Vantage external id"),
        "the warning says why: {text}"
    );
    assert_eq!(output(&ws, "status"), "error");

    // Applying the role repairs the trust policy; Vantage reconnects on its next check.
    ws.apply().expect_ok();
    ws.run(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
        .expect_ok();
    assert_eq!(output(&ws, "status"), "connected");
    let id = output(&ws, "id");
    ws.destroy().expect_ok();
    assert!(v1_integration(Devstack::shared(), &id).is_none());
    assert!(Aws::shared().role(name).is_none());
}

#[test]
fn a_pinned_error_status_warns_even_when_the_role_looks_fine() {
    let ds = Devstack::shared();
    let name = "acc-int-status-pinned";
    let ws = Workspace::new(name);
    ws.config(&config(name, ""));
    ws.apply().expect_ok();
    let id = output(&ws, "id");
    ds.admin_post(&format!("integrations/{id}/status"), json!({"status": "error"}));
    let plan = ws.plan();
    let text = plan.normalized_output();
    assert!(
        text.contains("Warning: Vantage cannot access this AWS account") && text.contains("still exists"),
        "{text}"
    );
    assert!(
        !text.contains("will be updated") && !text.contains("will be created"),
        "a status change is not a change to make: {text}"
    );
    ws.run(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
        .expect_ok();
    assert_eq!(output(&ws, "status"), "error");
    ws.destroy().expect_ok();
    assert!(v1_integration(ds, &id).is_none());
}

#[test]
fn the_official_providers_configuration_works_unchanged() {
    let ds = Devstack::shared();
    let aws = AwsSide::new(&ds.info.aws_url);
    let name = "acc-int-dropin";
    let bucket = "acc-int-dropin-cur";
    aws.create_bucket(bucket);
    let role = format!(
        r#"resource "vantage_aws_cross_account_role" "vantage_cross_account_connection" {{
  name            = "{name}"
  inline_policies = ["cur"]
}}

resource "vantage_aws_role_policy" "cur" {{
  role       = vantage_aws_cross_account_role.vantage_cross_account_connection.name
  name       = "cur"
  preset     = "cur_retrieval"
  cur_bucket = "{bucket}"
}}
"#
    );
    // The resource block exactly as Vantage's module writes it for the official provider.
    let official = |bucket_line: &str| {
        format!(
            r#"{role}
resource "vantage_aws_provider" "vantage_aws_provider" {{
  cross_account_arn = vantage_aws_cross_account_role.vantage_cross_account_connection.arn
{bucket_line}
  depends_on = [vantage_aws_role_policy.cur]
}}

output "id" {{ value = vantage_aws_provider.vantage_aws_provider.id }}
"#
        )
    };
    let ws = Workspace::new(name);
    ws.config(&official(&format!("  bucket_arn        = \"arn:aws:s3:::{bucket}\"")));
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let outputs = ws.outputs();
    assert!(
        outputs["id"].is_number(),
        "id is a number, as in the official schema: {outputs}"
    );
    let id = outputs["id"].to_string();
    let registered = v1_integration(ds, &id).expect("registered");
    assert_eq!(registered["cross_account_arn"], role_arn(name));
    assert_eq!(registered["bucket_arn"], format!("arn:aws:s3:::{bucket}"));

    // Removing the bucket: the id stays known in the plan, and Vantage really forgets the bucket.
    ws.config(&official(""));
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        !plan.stdout.contains("known after apply"),
        "the id stays stable: {}",
        plan.stdout
    );
    ws.apply().expect_ok();
    assert!(v1_integration(ds, &id).expect("registered")["bucket_arn"].is_null());
    assert_eq!(ws.outputs()["id"].to_string(), id);
    ws.plan().expect_empty_plan();

    // Import works for the drop-in too.
    ws.run(&["state", "rm", "vantage_aws_provider.vantage_aws_provider"])
        .expect_ok();
    ws.run(&["import", "-no-color", "vantage_aws_provider.vantage_aws_provider", &id])
        .expect_ok();
    ws.plan().expect_empty_plan();

    // And a moved block carries it over to vantage_aws_integration without re-registering.
    ws.config(&format!(
        r#"{role}
resource "vantage_aws_integration" "this" {{
  cross_account_role_arn = vantage_aws_cross_account_role.vantage_cross_account_connection.arn
  depends_on             = [vantage_aws_role_policy.cur]
}}

moved {{
  from = vantage_aws_provider.vantage_aws_provider
  to   = vantage_aws_integration.this
}}

output "id" {{ value = vantage_aws_integration.this.id }}
"#
    ));
    let plan = ws.plan();
    assert!(
        plan.stdout.contains("has moved to vantage_aws_integration.this"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("will be created"), "{}", plan.stdout);
    ws.apply().expect_ok();
    assert_eq!(output(&ws, "id"), id);
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(v1_integration(ds, &id).is_none());
    aws.delete_bucket(bucket);
}

#[test]
fn a_member_account_is_registered_with_a_warning_until_the_management_account_is_connected() {
    acceptance_tests::require_moto!(
        "LocalStack community does not serve Organizations (CreateOrganization, CreateAccount)"
    );
    let ds = Devstack::start(&[]);
    let aws = AwsSide::new(&ds.info.aws_url);
    aws.create_organization();
    let member = aws.create_member_account("finance", "finance@example.com");
    let name = "acc-int-member";
    let member_config = format!(
        r#"provider "vantage" {{
  assume_role {{
    role_arn = "arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
  }}
}}

{}"#,
        config(name, "")
    );
    let ws = Workspace::on(&ds, name);
    ws.config(&member_config);
    let apply = ws.apply();
    apply.expect_ok();
    let text = apply.normalized_output();
    assert!(
        text.contains("Warning: Connecting a member account before the management account"),
        "{text}"
    );
    assert!(
        text.contains(&format!("management account is {}", account_id()))
            && text.contains("costs of the other member accounts")
            && text.contains("Reserved Instances"),
        "the warning lists the consequences: {text}"
    );
    let id = output(&ws, "id");
    assert_eq!(
        v1_integration(&ds, &id).expect("registered anyway")["cross_account_arn"],
        format!("arn:aws:iam::{member}:role/{name}")
    );
    assert_eq!(output(&ws, "account_id"), member);
    ws.destroy().expect_ok();

    // Once the management account is connected, member accounts are what comes next: no warning.
    let management = Workspace::on(&ds, "acc-int-management");
    management.config(&config("acc-int-management", ""));
    let apply = management.apply();
    apply.expect_ok();
    assert!(
        !apply.normalized_output().contains("member account before"),
        "{}",
        apply.stdout
    );
    let apply = ws.apply();
    apply.expect_ok();
    assert!(
        !apply.normalized_output().contains("member account before"),
        "{}",
        apply.stdout
    );
    ws.destroy().expect_ok();
    management.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
}

#[test]
fn organizations_unavailable_does_not_block_the_registration() {
    let ds = Devstack::start(&[]);
    ds.admin_post(
        "faults",
        json!({"service": "aws", "match": "organizations:*", "count": 100, "status": 500}),
    );
    let name = "acc-int-no-organizations";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, ""));
    let apply = ws.apply();
    apply.expect_ok();
    assert!(
        !apply.normalized_output().contains("member account before"),
        "no caution without an organisation to speak of: {}",
        apply.stdout
    );
    assert!(
        ds.admin_get("requests")["aws"]["organizations:DescribeOrganization"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "the member-account check asked Organizations"
    );
    assert_eq!(all_integrations(&ds).len(), 1);
    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
}

#[test]
fn refresh_costs_about_one_vantage_call_per_integration() {
    let ds = Devstack::start(&[]);
    let count = 4;
    let ws = Workspace::on(&ds, "acc-int-cost");
    ws.config(&format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  count = {count}
  name  = "acc-int-cost-${{count.index}}"
}}

resource "vantage_aws_integration" "this" {{
  count                  = {count}
  cross_account_role_arn = vantage_aws_cross_account_role.this[count.index].arn
}}
"#
    ));
    ws.apply().expect_ok();
    let before = vantage_requests(&ds);
    ws.plan().expect_empty_plan();
    let after = vantage_requests(&ds);
    let v1_reads = delta(&before, &after, "GET /v1/integrations/aws/{id}");
    let listings = delta(&before, &after, "GET /v2/integrations");
    let v2_reads = delta(&before, &after, "GET /v2/integrations/{token}");
    eprintln!("refresh of {count} integrations: {v1_reads} v1 reads, {listings} v2 listings, {v2_reads} v2 reads");
    assert_eq!(v1_reads, count, "one v1 read per integration");
    assert_eq!(listings, 1, "one shared v2 listing per provider process");
    assert_eq!(v2_reads, 0, "no per-integration v2 read");
    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
}

#[test]
fn bad_arns_are_refused_at_plan_time() {
    let ws = Workspace::new("acc-int-bad");
    ws.config(
        r#"resource "vantage_aws_integration" "this" {
  cross_account_role_arn = "arn:aws:iam::123:role/x"
  bucket_arn             = "my-bucket"
}

resource "vantage_aws_provider" "this" {
  cross_account_arn = "vantage_cross_account_connection"
  bucket_arn        = "arn:aws:s3:::my-bucket/cur"
}"#,
    );
    ws.plan()
        .expect_error("the account id must be 12 digits")
        .expect_error(r#""my-bucket" is not an S3 bucket ARN"#)
        .expect_error(r#""vantage_cross_account_connection" is not an IAM role ARN"#)
        .expect_error("not an object or prefix");
}

/// `timeouts.delete` bounds the whole deregistration, its retries included:
/// a Vantage that never answers the DELETE fails the destroy in time, and
/// the integration stays in state for the next destroy.
#[test]
fn a_stalled_deregistration_ends_at_the_delete_timeout() {
    let ds = Devstack::start(&[]);
    let name = "acc-int-delete-timeout";
    let ws = Workspace::on(&ds, name);
    ws.config(&config(name, "  timeouts {\n    delete = \"3s\"\n  }"));
    ws.apply().expect_ok();
    ds.admin_post(
        "faults",
        json!({"service": "vantage", "match": "DELETE /v1/integrations/aws/{id}", "count": 10, "delay_ms": 60000}),
    );
    let started = Instant::now();
    ws.destroy()
        .expect_error("Deregistering the AWS integration timed out")
        .expect_error(r"within 3s \(`timeouts.delete`\)");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the destroy ended at the bound, not after the stalled call: {:?}",
        started.elapsed()
    );
    assert_eq!(all_integrations(&ds).len(), 1, "nothing was deleted");
    let state = ws.run(&["state", "list"]);
    assert!(
        state.stdout.contains("vantage_aws_integration.this"),
        "{}",
        state.stdout
    );
    clear_faults(&ds);
    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
}
