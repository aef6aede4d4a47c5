//! `vantage_aws_role_policy` against the devstack and moto, checked through IAM.

use acceptance_tests::aws::{Aws, document, same_statements};
use acceptance_tests::{Devstack, Workspace};

fn config(role: &str, policies: &str) -> String {
    format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name            = "{role}"
  inline_policies = ["root", "custom", "custom2", "autopilot", "cur"]
}}
{policies}"#
    )
}

#[test]
fn presets_apply_vantages_documents_with_no_diff_afterwards() {
    let role = "acc-pol-preset";
    let ws = Workspace::new(role);
    ws.config(&config(
        role,
        r#"resource "vantage_aws_role_policy" "root" {
  role   = vantage_aws_cross_account_role.this.name
  name   = "root"
  preset = "root"
}
resource "vantage_aws_role_policy" "cur" {
  role       = vantage_aws_cross_account_role.this.name
  name       = "cur"
  preset     = "cur_retrieval"
  cur_bucket = "my-cur-bucket"
}"#,
    ));
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let info = Devstack::shared().vantage_get("/v1/integrations/aws/info");
    let expected = document(info["policies"]["root"].as_str().unwrap_or_default());
    let actual = Aws::shared().role_policy(role, "root").expect("root policy");
    assert!(same_statements(&expected, &actual), "{actual}");
    let cur = Aws::shared().role_policy(role, "cur").expect("cur policy");
    assert_eq!(cur["Statement"][0]["Resource"], "arn:aws:s3:::my-cur-bucket/*");
    ws.destroy().expect_ok();
    assert!(Aws::shared().role(role).is_none());
}

#[test]
fn reordered_jsonencode_shows_no_diff_and_real_changes_update_in_place() {
    let role = "acc-pol-json";
    let ws = Workspace::new(role);
    let policy = |body: &str| {
        config(
            role,
            &format!(
                r#"resource "vantage_aws_role_policy" "custom" {{
  role   = vantage_aws_cross_account_role.this.name
  name   = "custom"
  policy = {body}
}}"#
            ),
        )
    };
    ws.config(&policy(
        r#"jsonencode({
    Version = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = ["ec2:DescribeInstances", "s3:ListAllMyBuckets"], Resource = "*" }]
  })"#,
    ));
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();

    // Same meaning: other key order, other action order, "*" as a list, pretty-printed.
    ws.config(&policy(
        r#"<<EOT
{
  "Statement": [
    { "Resource": ["*"], "Action": ["s3:ListAllMyBuckets", "ec2:DescribeInstances"], "Effect": "allow" }
  ],
  "Version": "2012-10-17"
}
EOT"#,
    ));
    ws.plan().expect_empty_plan();

    // A real change.
    ws.config(&policy(
        r#"jsonencode({
    Version = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = ["ec2:DescribeInstances"], Resource = "*" }]
  })"#,
    ));
    let plan = ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
    ws.apply().expect_ok();
    let actual = Aws::shared().role_policy(role, "custom").expect("policy");
    assert_eq!(
        actual["Statement"][0]["Action"],
        serde_json::json!(["ec2:DescribeInstances"])
    );

    // A new name replaces.
    ws.config(&policy(r#"jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "ec2:DescribeInstances", Resource = "*" }] })"#).replace(r#"name   = "custom""#, r#"name   = "custom2""#));
    let plan = ws.plan();
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    ws.apply().expect_ok();
    assert!(Aws::shared().role_policy(role, "custom").is_none());
    assert!(Aws::shared().role_policy(role, "custom2").is_some());
    ws.destroy().expect_ok();
}

#[test]
fn a_policy_edited_out_of_band_is_repaired_and_import_matches() {
    let role = "acc-pol-drift";
    let ws = Workspace::new(role);
    ws.config(&config(
        role,
        r#"resource "vantage_aws_role_policy" "custom" {
  role   = vantage_aws_cross_account_role.this.name
  name   = "custom"
  policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "ce:Get*", Resource = "*" }] })
}"#,
    ));
    ws.apply().expect_ok();
    Aws::shared().put_role_policy(
        role,
        "custom",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ce:*","Resource":"*"}]}"#,
    );
    let plan = ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("ce:*"), "the drift is visible:\n{}", plan.stdout);
    ws.apply().expect_ok();
    let actual = Aws::shared().role_policy(role, "custom").expect("policy");
    assert_eq!(actual["Statement"][0]["Action"], "ce:Get*");

    let before = ws.state();
    ws.run(&["state", "rm", "vantage_aws_role_policy.custom"]).expect_ok();
    ws.run(&[
        "import",
        "-no-color",
        "vantage_aws_role_policy.custom",
        &format!("{role}:custom"),
    ])
    .expect_ok();
    ws.plan().expect_empty_plan();
    let after = ws.state();
    let find = |s: &serde_json::Value| {
        s["values"]["root_module"]["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["type"] == "vantage_aws_role_policy").cloned())
            .map(|r| r["values"].clone())
            .unwrap_or_default()
    };
    let (a, b) = (find(&before), find(&after));
    for key in ["id", "role", "name", "policy"] {
        assert_eq!(a[key], b[key], "{key} differs after import");
    }
    ws.destroy().expect_ok();
}

#[test]
fn write_actions_are_refused_unless_allowed() {
    let role = "acc-pol-write";
    let ws = Workspace::new(role);
    let body = |allow: &str| {
        config(
            role,
            &format!(
                r#"resource "vantage_aws_role_policy" "custom" {{
  role   = vantage_aws_cross_account_role.this.name
  name   = "custom"
  policy = jsonencode({{ Version = "2012-10-17", Statement = [{{ Effect = "Allow", Action = ["ec2:Describe*", "ec2:RunInstances", "ec2:CreateTags"], Resource = "*" }}] }})
  {allow}
}}"#
            ),
        )
    };
    ws.config(&body(""));
    ws.plan()
        .expect_error("Write actions in a read-only policy")
        .expect_error("ec2:RunInstances")
        .expect_error("allow_write_actions");
    ws.config(&body("allow_write_actions = true"));
    ws.apply().expect_ok();
    ws.destroy().expect_ok();
}

#[test]
fn autopilot_needs_an_explicit_opt_in() {
    let role = "acc-pol-autopilot";
    let ws = Workspace::new(role);
    let body = |allow: &str| {
        config(
            role,
            &format!(
                r#"resource "vantage_aws_role_policy" "autopilot" {{
  role   = vantage_aws_cross_account_role.this.name
  name   = "autopilot"
  preset = "autopilot"
  {allow}
}}"#
            ),
        )
    };
    ws.config(&body(""));
    ws.plan().expect_error("Autopilot needs allow_write_actions");
    ws.config(&body("allow_write_actions = true"));
    ws.apply().expect_ok();
    assert!(Aws::shared().role_policy(role, "autopilot").is_some());
    ws.destroy().expect_ok();
}

#[test]
fn data_reads_are_refused_unless_allowed() {
    let ws = Workspace::new("acc-pol-data");
    ws.config(&config(
        "acc-pol-data",
        r#"resource "vantage_aws_role_policy" "custom" {
  role   = vantage_aws_cross_account_role.this.name
  name   = "custom"
  policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["s3:GetObject", "secretsmanager:GetSecretValue"], Resource = "*" }] })
}"#,
    ));
    ws.plan()
        .expect_error("Data reads in a metadata-only policy")
        .expect_error("secretsmanager:GetSecretValue")
        .expect_error("allow_data_reads");
}

#[test]
fn bad_policies_and_names_are_refused_with_the_attribute() {
    let ws = Workspace::new("acc-pol-bad");
    ws.config(
        r#"resource "vantage_aws_role_policy" "a" {
  role   = "r"
  name   = "bad name!"
  policy = "{not json"
}
resource "vantage_aws_role_policy" "b" {
  role   = "r"
  name   = "b"
  policy = jsonencode({ Version = "2012-10-17", Statement = [] })
  preset = "root"
}
resource "vantage_aws_role_policy" "c" {
  role   = "r"
  name   = "c"
  preset = "cur_retrieval"
}
resource "vantage_aws_role_policy" "d" {
  role   = "r"
  name   = "d"
  preset = "everything"
}"#,
    );
    ws.plan()
        .expect_error("Invalid policy document")
        .expect_error(r#""bad name!""#)
        .expect_error("Set `policy` or `preset`, not both")
        .expect_error("needs `cur_bucket`")
        .expect_error(r#""everything" is not allowed here"#);
}

/// The inline policy names IAM holds for `role`.
fn inline_names(role: &str) -> Vec<String> {
    Aws::shared()
        .role(role)
        .map(|r| r.inline_policy_names.into_iter().collect())
        .unwrap_or_default()
}

fn presets_on_role(role_block: &str) -> String {
    format!(
        r#"{role_block}

resource "vantage_aws_role_policy" "presets" {{
  for_each = toset(["root", "cloudwatch", "resources"])
  role     = vantage_aws_cross_account_role.this.name
  name     = each.key
  preset   = each.key
}}"#
    )
}

/// A role named `role` with `extra` lines, for [`presets_on_role`].
fn named_role(role: &str, extra: &str) -> String {
    format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name = "{role}"
{extra}
}}"#
    )
}

const PRESET_NAMES: [&str; 3] = ["cloudwatch", "resources", "root"];
const READ_ONLY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}"#;

/// Issue 12: the smallest configuration the docs suggest, role with defaults
/// and presets attached by `vantage_aws_role_policy`, stays put apply after apply.
#[test]
fn policies_attached_without_inline_policies_survive_every_apply() {
    let role = "vantage_cross_account_connection";
    let ws = Workspace::new("acc-pol-smallest");
    ws.config(&presets_on_role(
        r#"resource "vantage_aws_cross_account_role" "this" {}"#,
    ));
    for round in 0..2 {
        ws.apply().expect_ok();
        assert_eq!(inline_names(role), PRESET_NAMES, "after apply {round}");
        let plan = ws.plan();
        plan.expect_empty_plan();
        assert!(
            !plan.normalized_output().contains("Inline policies left in place"),
            "presets are not reported as unexpected:\n{}",
            plan.stdout
        );
        assert_eq!(inline_names(role), PRESET_NAMES, "after plan {round}");
    }

    // One added out of band is reported, not removed.
    Aws::shared().put_role_policy(role, "added-by-hand", READ_ONLY);
    let plan = ws.plan();
    plan.expect_empty_plan();
    let text = plan.normalized_output();
    assert!(
        text.contains("Inline policies left in place")
            && text.contains(r#"does not name: "added-by-hand". They are left alone"#),
        "only the stray policy is named, not the presets: {text}"
    );
    ws.apply().expect_ok();
    assert!(inline_names(role).contains(&"added-by-hand".to_string()));

    // Naming the managed set makes the role exclusive: the stray one goes, the presets stay.
    ws.config(&presets_on_role(
        r#"resource "vantage_aws_cross_account_role" "this" {
  inline_policies = ["root", "cloudwatch", "resources"]
}"#,
    ));
    let plan = ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("added-by-hand"), "{}", plan.stdout);
    ws.apply().expect_ok();
    assert_eq!(inline_names(role), PRESET_NAMES);
    for round in 0..2 {
        ws.plan().expect_empty_plan();
        ws.apply().expect_ok();
        assert_eq!(inline_names(role), PRESET_NAMES, "exclusive, apply {round}");
    }
    ws.destroy().expect_ok();
    assert!(Aws::shared().role(role).is_none());
}

#[test]
fn an_exclusive_role_keeps_the_policies_it_names_and_refuses_one_it_does_not() {
    let role = "acc-pol-exclusive";
    let ws = Workspace::new(role);
    ws.config(&presets_on_role(&named_role(
        role,
        r#"  inline_policies = ["root", "cloudwatch", "resources"]"#,
    )));
    for round in 0..2 {
        ws.apply().expect_ok();
        ws.plan().expect_empty_plan();
        assert_eq!(inline_names(role), PRESET_NAMES, "round {round}");
    }
    Aws::shared().put_role_policy(role, "added-by-hand", READ_ONLY);
    let plan = ws.plan();
    plan.expect_changes();
    ws.apply().expect_ok();
    assert_eq!(inline_names(role), PRESET_NAMES, "the unnamed policy is removed");

    // A role policy the role does not name would be deleted by the role's next apply.
    ws.config(&presets_on_role(&named_role(
        role,
        r#"  inline_policies = ["root", "cloudwatch"]"#,
    )));
    ws.plan()
        .expect_error("Inline policy not named on its role")
        .expect_error(r#"Add "resources" to the role's `inline_policies`"#);
    assert_eq!(inline_names(role), PRESET_NAMES, "a refused plan changes nothing");
    ws.config(&presets_on_role(&named_role(role, "")));
    ws.destroy().expect_ok();
}

#[test]
fn a_role_opted_out_of_exclusivity_leaves_every_policy_alone() {
    let role = "acc-pol-nonexclusive";
    let ws = Workspace::new(role);
    ws.config(&presets_on_role(&named_role(
        role,
        r#"  exclusive_inline_policies = false"#,
    )));
    for round in 0..2 {
        ws.apply().expect_ok();
        ws.plan().expect_empty_plan();
        assert_eq!(inline_names(role), PRESET_NAMES, "round {round}");
    }
    Aws::shared().put_role_policy(role, "added-by-hand", READ_ONLY);
    let plan = ws.plan();
    plan.expect_empty_plan();
    assert!(
        !plan.normalized_output().contains("Inline policies left in place"),
        "an explicit opt-out is not warned about:\n{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    assert!(inline_names(role).contains(&"added-by-hand".to_string()));

    // Exclusive without a list would remove the role policies' own work: refused.
    ws.config(&presets_on_role(&named_role(
        role,
        r#"  exclusive_inline_policies = true"#,
    )));
    ws.plan()
        .expect_error("exclusive_inline_policies needs inline_policies")
        .expect_error("inline_policies = \\[\\]");
    ws.config(&presets_on_role(&named_role(role, "")));
    ws.destroy().expect_ok();
    assert!(Aws::shared().role(role).is_none());
}

/// A `timeouts` block used to make the state unencodable (the model carried
/// a `delete` the block does not have): the apply failed after PutRolePolicy.
#[test]
fn a_timeouts_block_is_kept_in_state() {
    let role = "acc-pol-timeouts";
    let ws = Workspace::new(role);
    ws.config(&config(
        role,
        r#"resource "vantage_aws_role_policy" "root" {
  role   = vantage_aws_cross_account_role.this.name
  name   = "root"
  preset = "root"
  timeouts {
    create = "3m"
  }
}"#,
    ));
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    assert_eq!(
        ws.state()["values"]["root_module"]["resources"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["type"] == "vantage_aws_role_policy"))
            .map(|r| r["values"]["timeouts"]["create"].clone()),
        Some(serde_json::json!("3m"))
    );
    ws.destroy().expect_ok();
}

#[test]
fn a_kms_encrypted_cur_bucket_adds_decrypt_on_its_key_only() {
    let role = "acc-pol-cur-kms";
    let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let ws = Workspace::new(role);
    ws.config(&config(
        role,
        &format!(
            r#"resource "vantage_aws_role_policy" "cur" {{
  role        = vantage_aws_cross_account_role.this.name
  name        = "cur"
  preset      = "cur_retrieval"
  cur_bucket  = "my-kms-cur-bucket"
  kms_key_arn = "{key}"
}}"#
        ),
    ));
    let apply = ws.apply();
    apply.expect_ok();
    assert!(!apply.stdout.contains("holds write actions"), "{}", apply.stdout);
    ws.plan().expect_empty_plan();
    let doc = Aws::shared().role_policy(role, "cur").expect("cur policy");
    let decrypt: Vec<&serde_json::Value> = doc["Statement"]
        .as_array()
        .map(|s| s.iter().filter(|s| s["Action"] == "kms:Decrypt").collect())
        .unwrap_or_default();
    assert_eq!(decrypt.len(), 1, "{doc}");
    assert_eq!(decrypt[0]["Resource"], key);
    ws.destroy().expect_ok();

    ws.config(&config(
        role,
        &format!(
            r#"resource "vantage_aws_role_policy" "root" {{
  role        = vantage_aws_cross_account_role.this.name
  name        = "root"
  preset      = "root"
  kms_key_arn = "{key}"
}}"#
        ),
    ));
    ws.plan()
        .expect_error("kms_key_arn.*only applies to `preset = \"cur_retrieval\"`");
    ws.config(&config(
        role,
        r#"resource "vantage_aws_role_policy" "cur" {
  role        = vantage_aws_cross_account_role.this.name
  name        = "cur"
  preset      = "cur_retrieval"
  cur_bucket  = "my-kms-cur-bucket"
  kms_key_arn = "alias/cur"
}"#,
    ));
    ws.plan().expect_error("not a KMS key ARN");
}
