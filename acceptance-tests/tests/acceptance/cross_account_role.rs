//! `vantage_aws_cross_account_role` against the devstack and moto, checked
//! through IAM.

use acceptance_tests::aws::Aws;
use acceptance_tests::{Devstack, Workspace};

fn vantage_info() -> serde_json::Value {
    Devstack::shared().vantage_get("/v1/integrations/aws/info")
}

fn role_config(name: &str, extra: &str) -> String {
    format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name = "{name}"
{extra}
}}

output "arn" {{ value = vantage_aws_cross_account_role.this.arn }}
output "inline_policy_names" {{ value = vantage_aws_cross_account_role.this.inline_policy_names }}
"#
    )
}

#[test]
fn role_trusts_vantage_with_the_external_id_and_is_read_only() {
    let name = "acc-role-basic";
    let ws = Workspace::new(name);
    ws.config(&role_config(name, r#"  description = "Vantage cost visibility""#));
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();

    let info = vantage_info();
    let role = Aws::shared().role(name).expect("the role exists in IAM");
    let statement = &role.trust_policy["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], "sts:AssumeRole");
    assert_eq!(statement["Principal"]["AWS"], info["iam_role_arn"]);
    assert_eq!(
        statement["Condition"]["StringEquals"]["sts:ExternalId"],
        info["external_id"]
    );
    assert_eq!(
        role.managed_policy_arns.iter().collect::<Vec<_>>(),
        vec!["arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"]
    );
    assert_eq!(role.path, "/");
    assert_eq!(role.description.as_deref(), Some("Vantage cost visibility"));
    assert_eq!(ws.outputs()["arn"], role.arn);

    ws.destroy().expect_ok();
    assert!(Aws::shared().role(name).is_none(), "destroy removes the role");
}

#[test]
fn updates_happen_in_place_and_a_new_name_replaces() {
    let name = "acc-role-update";
    let ws = Workspace::new(name);
    ws.config(&role_config(name, ""));
    ws.apply().expect_ok();
    let arn_before = ws.outputs()["arn"].clone();

    ws.config(&role_config(
        name,
        r#"  description          = "changed"
  max_session_duration = 7200
  tags                 = { Team = "finops" }
  managed_policy_arns  = ["arn:aws:iam::aws:policy/job-function/ViewOnlyAccess", "arn:aws:iam::aws:policy/AWSBillingReadOnlyAccess"]"#,
    ));
    let plan = ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let role = Aws::shared().role(name).expect("role");
    assert_eq!(role.description.as_deref(), Some("changed"));
    assert_eq!(role.max_session_duration, Some(7200));
    assert_eq!(role.tags.get("Team").map(String::as_str), Some("finops"));
    assert_eq!(role.managed_policy_arns.len(), 2);
    assert_eq!(
        ws.outputs()["arn"],
        arn_before,
        "the ARN stays through in-place updates"
    );

    let renamed = format!("{name}-2");
    ws.config(&role_config(&renamed, ""));
    let plan = ws.plan();
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    ws.apply().expect_ok();
    assert!(Aws::shared().role(name).is_none());
    assert!(Aws::shared().role(&renamed).is_some());
    ws.destroy().expect_ok();
}

#[test]
fn import_by_name_matches_the_created_state() {
    let name = "acc-role-import";
    let ws = Workspace::new(name);
    ws.config(&role_config(name, r#"  tags = { Owner = "me" }"#));
    ws.apply().expect_ok();
    let created = ws.state();
    ws.run(&["state", "rm", "vantage_aws_cross_account_role.this"])
        .expect_ok();
    ws.run(&["import", "-no-color", "vantage_aws_cross_account_role.this", name])
        .expect_ok();
    ws.plan().expect_empty_plan();
    let imported = ws.state();
    let values = |s: &serde_json::Value| s["values"]["root_module"]["resources"][0]["values"].clone();
    let (a, b) = (values(&created), values(&imported));
    for key in [
        "name",
        "path",
        "arn",
        "unique_id",
        "vantage_principal_arn",
        "external_id",
        "managed_policy_arns",
        "tags",
        "tags_all",
        "max_session_duration",
        "assume_role_policy",
    ] {
        assert_eq!(a[key], b[key], "{key} differs after import");
    }
    ws.destroy().expect_ok();
}

#[test]
fn trust_policy_edited_out_of_band_is_repaired() {
    let name = "acc-role-trust-drift";
    let ws = Workspace::new(name);
    ws.config(&role_config(name, ""));
    ws.apply().expect_ok();
    // Someone drops the external id condition: the confused-deputy guard is gone.
    Aws::shared().update_trust(
        name,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::630399649041:root"},"Action":"sts:AssumeRole"}]}"#,
    );
    let plan = ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("assume_role_policy"), "{}", plan.stdout);
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let info = vantage_info();
    let role = Aws::shared().role(name).expect("role");
    assert_eq!(
        role.trust_policy["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        info["external_id"]
    );
    ws.destroy().expect_ok();
}

#[test]
fn a_trust_principal_shown_as_a_unique_id_warns_and_is_repaired() {
    let name = "acc-role-aroa";
    let ws = Workspace::new(name);
    ws.config(&role_config(name, ""));
    ws.apply().expect_ok();
    let info = vantage_info();
    let external_id = info["external_id"].as_str().unwrap_or_default();
    Aws::shared().update_trust(
        name,
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"AROAZFRV7IUIYSTS4G3VK"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"{external_id}"}}}}}}]}}"#
        ),
    );
    let plan = ws.plan();
    plan.expect_changes();
    let text = plan.normalized_output();
    assert!(
        text.contains("names a deleted principal") && text.contains("AROAZFRV7IUIYSTS4G3VK"),
        "{text}"
    );
    ws.apply().expect_ok();
    let role = Aws::shared().role(name).expect("role");
    assert_eq!(
        role.trust_policy["Statement"][0]["Principal"]["AWS"],
        info["iam_role_arn"]
    );
    ws.destroy().expect_ok();
}

#[test]
fn a_role_deleted_out_of_band_is_recreated() {
    let name = "acc-role-deleted";
    let ws = Workspace::new(name);
    ws.config(&role_config(name, ""));
    ws.apply().expect_ok();
    Aws::shared().delete_role(name);
    let plan = ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("will be created"), "{}", plan.stdout);
    ws.apply().expect_ok();
    assert!(Aws::shared().role(name).is_some());
    ws.destroy().expect_ok();
}

#[test]
fn unmanaged_inline_policies_show_as_drift_and_are_removed() {
    let name = "acc-role-unmanaged";
    let ws = Workspace::new(name);
    ws.config(&role_config(name, r#"  inline_policies = ["kept"]"#));
    ws.apply().expect_ok();
    let read_only =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}"#;
    Aws::shared().put_role_policy(name, "kept", read_only);
    Aws::shared().put_role_policy(name, "sneaky", read_only);
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.stdout.contains("sneaky"),
        "the unmanaged policy appears in the plan:\n{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    let role = Aws::shared().role(name).expect("role");
    assert_eq!(role.inline_policy_names.iter().collect::<Vec<_>>(), vec!["kept"]);
    ws.plan().expect_empty_plan();

    // Opting out leaves them alone.
    ws.config(&role_config(
        name,
        "  inline_policies = [\"kept\"]\n  exclusive_inline_policies = false",
    ));
    ws.apply().expect_ok();
    Aws::shared().put_role_policy(name, "sneaky", read_only);
    ws.apply().expect_ok();
    assert!(
        Aws::shared()
            .role(name)
            .expect("role")
            .inline_policy_names
            .contains("sneaky")
    );
    ws.destroy().expect_ok();
    assert!(
        Aws::shared().role(name).is_none(),
        "delete removes inline policies first (no DeleteConflict)"
    );
}

#[test]
fn an_existing_role_gets_an_import_suggestion() {
    let name = "acc-role-exists";
    Aws::shared().create_role(
        name,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::630399649041:root"},"Action":"sts:AssumeRole"}]}"#,
    );
    let ws = Workspace::new(name);
    ws.config(&role_config(name, ""));
    ws.apply()
        .expect_error("already exists")
        .expect_error(r#"import \{ to = vantage_aws_cross_account_role"#)
        .expect_error(&format!(r#"id = "{name}""#));
    Aws::shared().delete_role(name);
}

#[test]
fn bad_input_is_refused_at_plan_time_with_the_attribute() {
    let ws = Workspace::new("acc-role-bad");
    ws.config(
        r#"resource "vantage_aws_cross_account_role" "this" {
  name                 = "has spaces"
  path                 = "no-slashes"
  max_session_duration = 60
  permissions_boundary = "boundary"
  tags                 = { "aws:reserved" = "x" }
  description          = "Vantage ✓"
}"#,
    );
    let run = ws.plan();
    run.expect_error("The description contains '✓' \\(U\\+2713\\), which IAM does not accept")
        .expect_error(r#""has spaces" is not a valid role name"#)
        .expect_error(r#""no-slashes" is not a valid IAM path"#)
        .expect_error("60 is out of range")
        .expect_error(r#""boundary" is not an IAM policy ARN"#)
        .expect_error("reserved `aws:` prefix");
    assert!(
        run.normalized_output().contains("on main.tf line"),
        "diagnostics point at the configuration"
    );
}

#[test]
fn the_external_id_stays_out_of_plans_and_trace_logs() {
    let name = "acc-role-secret";
    let external_id = vantage_info()["external_id"].as_str().unwrap_or_default().to_string();
    let mut ws = Workspace::new(name);
    let log = ws.path().join("trace.log");
    ws.env("TF_LOG", "trace");
    ws.env("TF_LOG_PATH", &log.display().to_string());
    ws.config(&role_config(name, ""));
    let apply = ws.apply();
    apply.expect_ok();
    let plan = ws.run(&["plan", "-no-color"]);
    let show = ws.run(&["show", "-no-color"]);
    let text = std::fs::read_to_string(&log).expect("log");
    for (what, out) in [
        ("apply", &apply.stdout),
        ("plan", &plan.stdout),
        ("show", &show.stdout),
        ("trace log", &text),
    ] {
        assert!(!out.contains(&external_id), "the external id appears in the {what}");
    }
    ws.remove_env("TF_LOG");
    ws.destroy().expect_ok();
}

#[test]
fn managed_policies_attached_by_another_tool_are_left_alone_unless_listed() {
    let name = "acc-role-managed-others";
    let billing = "arn:aws:iam::aws:policy/AWSBillingReadOnlyAccess";
    let view_only = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess";
    let ws = Workspace::new(name);
    ws.config(&role_config(name, ""));
    ws.apply().expect_ok();
    Aws::shared().attach_role_policy(name, billing);
    ws.plan().expect_empty_plan();
    ws.apply().expect_ok();
    let attached = Aws::shared().role(name).expect("role").managed_policy_arns;
    assert!(
        attached.contains(billing) && attached.contains(view_only),
        "{attached:?}"
    );

    // Listing the set makes it exact.
    ws.config(&role_config(
        name,
        &format!(r#"  managed_policy_arns = ["{view_only}"]"#),
    ));
    ws.plan().expect_changes();
    ws.apply().expect_ok();
    let attached = Aws::shared().role(name).expect("role").managed_policy_arns;
    assert_eq!(attached.iter().collect::<Vec<_>>(), vec![view_only]);
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
}

/// `timeouts.update` bounds the whole update however long IAM stalls, and
/// Ctrl-C ends a stalled update at once; either way the role keeps its state.
#[test]
fn a_stalled_update_ends_at_its_timeout_or_at_ctrl_c() {
    use std::time::{Duration, Instant};

    let ds = Devstack::start(&[]);
    let name = "acc-role-stalled-update";
    let ws = Workspace::on(&ds, name);
    ws.config(&role_config(name, "  timeouts {\n    update = \"10s\"\n  }"));
    ws.apply().expect_ok();
    let stall = || {
        ds.admin_post(
            "faults",
            serde_json::json!({"service": "aws", "match": "iam:UpdateRole", "count": 10, "delay_ms": 600000}),
        );
    };

    stall();
    ws.config(&role_config(
        name,
        "  description = \"changed\"\n  timeouts {\n    update = \"10s\"\n  }",
    ));
    let started = Instant::now();
    let failed = ws.apply();
    let took = started.elapsed();
    failed
        .expect_error("Updating the IAM role failed")
        .expect_error(r"`timeouts.update` \(10s\) ran out while updating the role")
        .expect_error("did not finish within 10s");
    assert!(took < Duration::from_secs(15), "{took:?}");
    acceptance_tests::vantage_checks::clear_faults(&ds);

    stall();
    ws.config(&role_config(
        name,
        "  description = \"changed again\"\n  timeouts {\n    update = \"10m\"\n  }",
    ));
    let before = ds.request_count("aws", "iam:UpdateRole");
    let child = ws.spawn_apply();
    let reached = acceptance_tests::wait_until(Duration::from_secs(60), || {
        ds.request_count("aws", "iam:UpdateRole") > before
    });
    assert!(reached, "the provider reached UpdateRole");
    let stopped = acceptance_tests::interrupt(child, Duration::from_secs(60));
    let text = &stopped.text;
    assert!(stopped.finished, "terraform did not stop after Ctrl-C:\n{text}");
    assert!(
        stopped.elapsed < Duration::from_secs(3),
        "Ctrl-C waited for the stalled call ({:?}):\n{text}",
        stopped.elapsed
    );
    assert!(text.contains("Updating the IAM role failed: cancelled"), "{text}");
    acceptance_tests::vantage_checks::clear_faults(&ds);
    ws.config(&role_config(name, ""));
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
}

/// `timeouts.create` bounds the whole create: a slow CreateRole leaves the wait for the new role
/// only what is left, not the bound again; the role stays in state for the next apply.
#[test]
fn a_slow_create_leaves_the_wait_for_the_role_only_what_is_left_of_its_timeout() {
    let ds = Devstack::start(&[]);
    let name = "acc-role-create-budget";
    let ws = Workspace::on(&ds, name);
    ws.config(&role_config(name, "  timeouts {\n    create = \"5s\"\n  }"));
    // A fresh moto builds the account's IAM (~1,000 managed policies) at its first IAM call,
    // seconds on a loaded machine: done here, not inside the 5 s being measured.
    assert!(Aws::new(&ds.info.aws_url).role(name).is_none());
    ds.admin_post(
        "faults",
        serde_json::json!({"service": "aws", "match": "iam:CreateRole", "delay_ms": 4000}),
    );
    ds.admin_post(
        "faults",
        serde_json::json!({"service": "aws", "match": "iam:GetRole", "count": 1000, "status": 404,
            "body": "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>not yet</Message></Error></ErrorResponse>"}),
    );
    ws.apply()
        .expect_error("Could not read the IAM role")
        .expect_error(&format!(r"IAM did not show {name} within [01]s of creating it"));
    acceptance_tests::vantage_checks::clear_faults(&ds);
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    assert!(Aws::new(&ds.info.aws_url).role(name).is_some());
    ws.destroy().expect_ok();
}
