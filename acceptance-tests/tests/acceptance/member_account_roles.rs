//! `vantage_aws_member_account_roles` against an organisation on moto: the role really appears in
//! each member account's IAM (checked there, through AssumeRole into the member), Vantage holds
//! one registration per member, and the organisation's changes (accounts moving between OUs, a
//! role deleted out of band, Vantage publishing a new policy) show in the next plan.
//!
//! Each test runs a devstack (and moto) of its own: the default account is the management
//! account of an organisation made for the test.

use std::collections::BTreeSet;

use acceptance_tests::aws::Aws;
use acceptance_tests::organization::Org;
use acceptance_tests::{Devstack, Workspace, workspace_root};
use serde_json::json;

const NOT_ON_LOCALSTACK: &str = "LocalStack community does not serve Organizations (CreateOrganization, CreateAccount)";
const ROLE: &str = "vantage_cross_account_connection";
const MODULE_NAMES: [&str; 3] = [
    "root",
    "VantageCloudWatchMetricsReadOnly",
    "VantageAdditionalResourceReadOnly",
];

/// Accounts Vantage has an AWS integration for.
fn registered_accounts(ds: &Devstack) -> BTreeSet<String> {
    ds.vantage_get("/v2/integrations?provider=aws&limit=1000")["integrations"]
        .as_array()
        .expect("integrations")
        .iter()
        .filter_map(|i| i["account_identifier"].as_str().map(str::to_string))
        .collect()
}

fn assert_member_role(org: &Org, account: &str, external_id: &str) {
    let role = org
        .iam_in(account)
        .role(ROLE)
        .unwrap_or_else(|| panic!("no {ROLE} in member account {account}"));
    let trust = role.trust_policy.to_string();
    assert!(
        trust.contains("630399649041"),
        "trust names Vantage's principal: {trust}"
    );
    assert!(trust.contains(external_id), "trust requires the external id");
    let names: BTreeSet<&str> = role.inline_policy_names.iter().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(MODULE_NAMES), "inline policies in {account}");
    assert!(
        role.managed_policy_arns
            .iter()
            .any(|a| a.ends_with("job-function/ViewOnlyAccess")),
        "{:?}",
        role.managed_policy_arns
    );
}

/// The documented shape: the management account's role and registration made directly,
/// members through the StackSet.
fn config(ous: &[&str]) -> String {
    let ous = ous.iter().map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(", ");
    format!(
        r#"
resource "vantage_aws_cross_account_role" "management" {{}}

resource "vantage_aws_role_policy" "management_root" {{
  role   = vantage_aws_cross_account_role.management.name
  name   = "root"
  preset = "root"
}}

resource "vantage_aws_integration" "management" {{
  cross_account_role_arn = vantage_aws_cross_account_role.management.arn
}}

resource "vantage_aws_member_account_roles" "members" {{
  organizational_unit_ids = [{ous}]
}}

output "accounts" {{
  value = vantage_aws_member_account_roles.members.accounts
}}
"#
    )
}

#[test]
fn members_of_the_targeted_ous_get_the_role_and_follow_the_organisation() {
    acceptance_tests::require_moto!(NOT_ON_LOCALSTACK);
    let ds = Devstack::start(&[]);
    let org = Org::create(&ds);
    org.trusted_access(true);
    let (finance, research, sandbox) = (org.ou("finance"), org.ou("research"), org.ou("sandbox"));
    let f1 = org.account("finance1", &finance);
    let f2 = org.account("finance2", &finance);
    let r1 = org.account("research1", &research);
    let s1 = org.account("sandbox1", &sandbox);
    let external_id = ds.vantage_get("/v1/integrations/aws/info")["external_id"]
        .as_str()
        .expect("external id")
        .to_string();
    let management = acceptance_tests::aws::account_id().to_string();

    let ws = Workspace::on(&ds, "member-roles");
    ws.config(&config(&[&finance, &research]));
    ws.apply().expect_ok();
    for member in [&f1, &f2, &r1] {
        assert_member_role(&org, member, &external_id);
    }
    assert!(
        org.iam_in(&s1).role(ROLE).is_none(),
        "the untargeted OU's account has no role"
    );
    assert_eq!(
        registered_accounts(&ds),
        BTreeSet::from([management.clone(), f1.clone(), f2.clone(), r1.clone()]),
        "one registration per member plus the management account's"
    );
    let accounts = ws.outputs()["accounts"].clone();
    assert_eq!(accounts.as_object().map(|a| a.len()), Some(3), "{accounts}");
    assert_eq!(accounts[&f1]["stack_instance_status"], "CURRENT");
    assert_eq!(accounts[&f1]["organizational_unit_id"], finance.as_str());
    assert_eq!(accounts[&f1]["role_arn"], format!("arn:aws:iam::{f1}:role/{ROLE}"));
    assert!(accounts[&f1]["integration_id"].is_number(), "{accounts}");
    ws.plan().expect_empty_plan();

    // An account joins a targeted OU (CloudFormation deploys it): the plan registers it.
    org.move_account(&s1, &sandbox, &finance);
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.normalized_output()
            .contains(&format!("{s1} is not registered with Vantage")),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    assert_member_role(&org, &s1, &external_id);
    assert!(registered_accounts(&ds).contains(&s1));

    // An account leaves: deregistered, and its role removed (stacks are not retained by default).
    org.move_account(&f2, &finance, &sandbox);
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.normalized_output()
            .contains(&format!("{f2} left the targeted OUs")),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    assert!(!registered_accounts(&ds).contains(&f2));
    assert!(
        org.iam_in(&f2).role(ROLE).is_none(),
        "the departed account's role is deleted"
    );
    ws.plan().expect_empty_plan();

    // A member's role deleted out of band: Vantage loses access, the plan repairs it.
    org.iam_in(&r1).delete_role(ROLE);
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.normalized_output()
            .contains(&format!("Vantage cannot assume the role in {r1}")),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    assert_member_role(&org, &r1, &external_id);
    ws.plan().expect_empty_plan();

    // A registration deleted on Vantage's side: registered again.
    let id = ws.outputs()["accounts"][&s1]["integration_id"]
        .as_i64()
        .expect("integration id");
    let (status, _) =
        acceptance_tests::vantage_checks::vantage_call(&ds, "DELETE", &format!("/v1/integrations/aws/{id}"), None);
    assert_eq!(status, 204);
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.normalized_output()
            .contains(&format!("{s1} is not registered with Vantage")),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    assert!(registered_accounts(&ds).contains(&s1));
    ws.plan().expect_empty_plan();

    // Vantage publishes a new `root` document: rolled out to every member.
    let new_root = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "VantageRootV2", "Effect": "Allow", "Action": ["ce:Describe*", "ce:Get*", "tag:GetResources"], "Resource": "*"}
    ]});
    ds.admin_post("policies", json!({"root": new_root.to_string()}));
    let plan = ws.plan();
    plan.expect_changes();
    let text = plan.normalized_output();
    assert!(text.contains("UpdateStackSet"), "{text}");
    assert!(
        text.contains("vantage_aws_role_policy.management_root will be updated in-place"),
        "the management account's preset changes in the same plan: {text}"
    );
    ws.apply().expect_ok();
    let management_root = Aws::new(&ds.info.aws_url)
        .role_policy(ROLE, "root")
        .expect("management root policy");
    assert!(
        acceptance_tests::aws::same_statements(&management_root, &new_root),
        "{management_root}"
    );
    for member in [&f1, &r1, &s1] {
        let doc = org.iam_in(member).role_policy(ROLE, "root").expect("root policy");
        assert!(
            acceptance_tests::aws::same_statements(&doc, &new_root),
            "{member}: {doc}"
        );
    }
    ws.plan().expect_empty_plan();

    // Import by the StackSet's name gives the same state: an empty plan.
    ws.run(&["state", "rm", "vantage_aws_member_account_roles.members"])
        .expect_ok();
    ws.run(&[
        "import",
        "-no-color",
        "vantage_aws_member_account_roles.members",
        "VantageMemberAccountRoles",
    ])
    .expect_ok();
    ws.plan().expect_empty_plan();

    assert!(org.stack_set_exists("VantageMemberAccountRoles"));
    ws.destroy().expect_ok();
    assert!(
        !org.stack_set_exists("VantageMemberAccountRoles"),
        "destroy deletes the StackSet"
    );
    for member in [&f1, &r1, &s1] {
        assert!(org.iam_in(member).role(ROLE).is_none(), "{member}'s role is deleted");
    }
    assert!(registered_accounts(&ds).is_empty(), "{:?}", registered_accounts(&ds));
}

#[test]
fn without_trusted_access_the_plan_says_how_to_turn_it_on() {
    acceptance_tests::require_moto!(NOT_ON_LOCALSTACK);
    let ds = Devstack::start(&[]);
    let org = Org::create(&ds);
    let ou = org.ou("members");
    let member = org.account("member1", &ou);
    let ws = Workspace::on(&ds, "member-roles-access");
    ws.config(&format!(
        "resource \"vantage_aws_member_account_roles\" \"members\" {{\n  organizational_unit_ids = [\"{ou}\"]\n}}\n"
    ));
    ws.plan()
        .expect_error("Trusted access for CloudFormation StackSets is not enabled")
        .expect_error("activate-organizations-access")
        .expect_error("activate_organizations_access = true");

    // The fix the message offers: the provider turns trusted access on itself.
    ws.config(&format!(
        "resource \"vantage_aws_member_account_roles\" \"members\" {{\n  organizational_unit_ids = [\"{ou}\"]\n  \
         activate_organizations_access = true\n}}\n"
    ));
    ws.apply().expect_ok();
    assert!(org.iam_in(&member).role(ROLE).is_some());
    ws.destroy().expect_ok();

    // From a member account's credentials: the management-account error.
    let from_member = Workspace::on(&ds, "member-roles-from-member");
    from_member.config(&format!(
        "provider \"vantage\" {{\n  assume_role {{\n    role_arn = \"arn:aws:iam::{member}:role/OrganizationAccountAccessRole\"\n  }}\n}}\n\
         resource \"vantage_aws_member_account_roles\" \"members\" {{\n  organizational_unit_ids = [\"{ou}\"]\n}}\n"
    ));
    from_member
        .plan()
        .expect_error("StackSets must be run from the management account")
        .expect_error("DELEGATED_ADMIN");
}

#[test]
fn one_failing_member_is_named_and_the_others_are_deployed_and_kept() {
    acceptance_tests::require_moto!(NOT_ON_LOCALSTACK);
    let ds = Devstack::start(&[]);
    let org = Org::create(&ds);
    org.trusted_access(true);
    let ou = org.ou("members");
    let good = org.account("good1", &ou);
    let bad = org.account("bad1", &ou);
    ds.admin_post(
        &format!("stacksets/failing-accounts/{bad}"),
        json!({"reason": "Account is suspended by a service control policy"}),
    );
    let ws = Workspace::on(&ds, "member-roles-failure");
    ws.config(&config(&[&ou]));
    // A warning, not an error, on create: an error would taint the StackSet and the next apply
    // would replace it, deleting every member's role.
    let apply = ws.apply();
    apply.expect_ok();
    let text = apply.normalized_output();
    assert!(text.contains("could not be deployed in every member account"), "{text}");
    assert!(
        text.contains(&format!("{bad} (us-east-1): Account is suspended")),
        "{text}"
    );
    assert!(org.iam_in(&good).role(ROLE).is_some());
    assert!(
        registered_accounts(&ds).contains(&good),
        "the deployed member is registered"
    );
    assert!(!registered_accounts(&ds).contains(&bad));
    let state = ws.state();
    let recorded = state.to_string();
    assert!(
        recorded.contains(&good) && recorded.contains("OUTDATED"),
        "state records both members"
    );

    // The cause cleared, the next apply finishes the job.
    let healed = reqwest::blocking::Client::new()
        .delete(format!("{}/stacksets/failing-accounts/{bad}", ds.info.admin_url))
        .send()
        .expect("admin request");
    assert!(healed.status().is_success());
    let plan = ws.plan();
    plan.expect_changes();
    assert!(plan.normalized_output().contains("OUTDATED"), "{}", plan.stdout);
    ws.apply().expect_ok();
    assert!(org.iam_in(&bad).role(ROLE).is_some());
    assert!(registered_accounts(&ds).contains(&bad));
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
}

#[test]
fn the_organization_example_connects_the_management_account_and_its_members() {
    acceptance_tests::require_moto!(NOT_ON_LOCALSTACK);
    let ds = Devstack::start(&[]);
    let org = Org::create(&ds);
    org.trusted_access(true);
    let ou = org.ou("workloads");
    let member = org.account("workload1", &ou);
    let mut ws = Workspace::on(&ds, "organization-example");
    let module = workspace_root().join("examples/modules/vantage-aws-connection");
    let example = std::fs::read_to_string(workspace_root().join("examples/organization/main.tf")).expect("example");
    assert!(
        example.contains("\"../modules/vantage-aws-connection\""),
        "the example uses the module"
    );
    std::fs::write(
        ws.path().join("main.tf"),
        example.replace("../modules/vantage-aws-connection", &module.display().to_string()),
    )
    .expect("writing the example");
    ws.env("TF_VAR_member_organizational_unit_ids", &format!("[\"{ou}\"]"));
    ws.run(&["get", "-no-color"]).expect_ok();
    ws.apply().expect_ok();
    let out = ws.outputs();
    assert!(
        out["management_integration_id"].is_string() || out["management_integration_id"].is_number(),
        "{out}"
    );
    assert_eq!(out["member_accounts"][&member]["status"], "CURRENT", "{out}");
    assert_member_role(
        &org,
        &member,
        ds.vantage_get("/v1/integrations/aws/info")["external_id"]
            .as_str()
            .unwrap_or_default(),
    );
    assert_eq!(
        registered_accounts(&ds),
        BTreeSet::from([acceptance_tests::aws::account_id().to_string(), member.clone()])
    );
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(registered_accounts(&ds).is_empty());
    assert!(org.iam_in(&member).role(ROLE).is_none());
}

#[test]
fn retained_stacks_keep_the_role_of_an_account_that_leaves() {
    acceptance_tests::require_moto!(NOT_ON_LOCALSTACK);
    let ds = Devstack::start(&[]);
    let org = Org::create(&ds);
    org.trusted_access(true);
    let (members, parked) = (org.ou("members"), org.ou("parked"));
    let stays = org.account("stays1", &members);
    let leaves = org.account("leaves1", &members);
    let ws = Workspace::on(&ds, "member-roles-retain");
    ws.config(&format!(
        r#"resource "vantage_aws_member_account_roles" "members" {{
  organizational_unit_ids = ["{members}"]
  auto_deployment {{
    retain_stacks_on_account_removal = true
  }}
}}
"#
    ));
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    org.move_account(&leaves, &members, &parked);
    ws.plan().expect_changes();
    ws.apply().expect_ok();
    assert!(!registered_accounts(&ds).contains(&leaves), "deregistered");
    assert!(registered_accounts(&ds).contains(&stays));
    assert!(
        org.iam_in(&leaves).role(ROLE).is_some(),
        "the retained stack keeps the role"
    );
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(org.iam_in(&stays).role(ROLE).is_none());
}

#[test]
fn a_delegated_administrator_runs_it_with_call_as() {
    acceptance_tests::require_moto!(NOT_ON_LOCALSTACK);
    let ds = Devstack::start(&[]);
    let org = Org::create(&ds);
    org.trusted_access(true);
    let (tools, members) = (org.ou("tools"), org.ou("members"));
    let admin = org.account("tooling", &tools);
    let member = org.account("member1", &members);
    // Organizations' RegisterDelegatedAdministrator for StackSets, which moto refuses.
    ds.admin_post(&format!("stacksets/delegated-admins/{admin}"), json!({}));
    let ws = Workspace::on(&ds, "member-roles-delegated");
    let body = |call_as: &str| {
        format!(
            "provider \"vantage\" {{\n  assume_role {{\n    role_arn = \"arn:aws:iam::{admin}:role/OrganizationAccountAccessRole\"\n  }}\n}}\n\
             resource \"vantage_aws_member_account_roles\" \"members\" {{\n  organizational_unit_ids = [\"{members}\"]\n{call_as}}}\n"
        )
    };
    ws.config(&body(""));
    ws.plan()
        .expect_error("StackSets must be run from the management account");
    ws.config(&body("  call_as = \"DELEGATED_ADMIN\"\n"));
    ws.apply().expect_ok();
    assert!(org.iam_in(&member).role(ROLE).is_some());
    assert!(registered_accounts(&ds).contains(&member));
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
    assert!(org.iam_in(&member).role(ROLE).is_none());
}

/// A devstack of its own with an organisation (trusted access on) whose OU "members" holds one
/// member account, and a workspace with the documented configuration over that OU: the
/// StackSet fault cases.
struct OneMember {
    ds: Devstack,
    org: Org,
    member: String,
    ws: Workspace,
}

impl OneMember {
    fn new(name: &str, timeouts: &str) -> OneMember {
        let ds = Devstack::start(&[]);
        let org = Org::create(&ds);
        org.trusted_access(true);
        let ou = org.ou("members");
        let member = org.account("member1", &ou);
        let ws = Workspace::on(&ds, name);
        let organizational_unit_ids = format!("{timeouts}  organizational_unit_ids");
        ws.config(&config(&[&ou]).replace("  organizational_unit_ids", &organizational_unit_ids));
        OneMember { ds, org, member, ws }
    }

    /// The StackSet is in state (whatever the apply that made it said).
    fn stack_set_in_state(&self, said: &str) {
        let listed = self.ws.run(&["state", "list"]);
        assert!(
            listed.stdout.contains("vantage_aws_member_account_roles.members"),
            "the StackSet is in state:\n{}\n{said}",
            listed.stdout
        );
    }

    /// The member has its role and registration after `apply`, and nothing is left to do;
    /// destroy removes the role.
    fn converges_after(&self, apply: impl FnOnce(&Workspace)) {
        apply(&self.ws);
        assert!(self.org.iam_in(&self.member).role(ROLE).is_some());
        assert!(registered_accounts(&self.ds).contains(&self.member));
        self.ws
            .run(&["plan", "-refresh=false", "-detailed-exitcode", "-no-color"])
            .expect_empty_plan();
        self.ws.plan().expect_empty_plan();
        self.ws.destroy().expect_ok();
        assert!(self.org.iam_in(&self.member).role(ROLE).is_none());
    }
}

#[test]
fn ctrl_c_while_instances_deploy_keeps_the_stackset_in_state() {
    use std::time::Duration;

    acceptance_tests::require_moto!(NOT_ON_LOCALSTACK);
    let case = OneMember::new("member-roles-ctrl-c", "");
    // CreateStackSet goes through; CreateStackInstances stalls until the user gives up.
    case.ds.admin_post(
        "faults",
        json!({"service": "aws", "match": "cloudformation:CreateStackInstances", "count": 1, "delay_ms": 600000}),
    );
    let child = case.ws.spawn_apply();
    let reached = acceptance_tests::wait_until(Duration::from_secs(90), || {
        case.ds.request_count("aws", "cloudformation:CreateStackInstances") > 0
    });
    assert!(reached, "the provider reached CreateStackInstances");
    let stopped = acceptance_tests::interrupt(child, Duration::from_secs(60));
    assert!(
        stopped.finished,
        "terraform did not stop after Ctrl-C:\n{}",
        stopped.text
    );
    assert!(
        stopped.elapsed < Duration::from_secs(15),
        "{:?}\n{}",
        stopped.elapsed,
        stopped.text
    );
    case.stack_set_in_state(&stopped.text);
    acceptance_tests::vantage_checks::clear_faults(&case.ds);
    // The next apply finishes the job without an import (the tainted StackSet is replaced).
    case.converges_after(|ws| {
        ws.apply().expect_ok();
    });
}

/// CreateStackSet acts and its answer is held past `timeouts.create`: the apply ends at the
/// bound with the StackSet in state, and the next apply finishes the job without an import.
#[test]
fn a_stackset_whose_create_outlasts_the_timeouts_bound_stays_in_state() {
    acceptance_tests::require_moto!(NOT_ON_LOCALSTACK);
    let case = OneMember::new("member-roles-deadline", "  timeouts {\n    create = \"8s\"\n  }\n");
    case.ds.admin_post(
        "faults",
        json!({"service": "aws", "match": "cloudformation:CreateStackSet", "after": true, "delay_ms": 120000}),
    );
    let started = std::time::Instant::now();
    let applied = case.ws.apply();
    let took = started.elapsed();
    acceptance_tests::vantage_checks::clear_faults(&case.ds);
    applied.expect_error("`timeouts.create` \\(8s\\) ran out while waiting for CloudFormation CreateStackSet");
    assert!(
        took < std::time::Duration::from_secs(45),
        "the apply waited for the held answer ({took:?})"
    );
    case.stack_set_in_state(&applied.normalized_output());
    case.converges_after(|ws| {
        ws.apply().expect_ok();
    });
}

/// CreateStackSet acts, its answer is lost, and the SDK's retry is told the name exists: the
/// StackSet is this apply's own (same template, nothing deployed yet) and is adopted.
#[test]
fn a_stackset_whose_create_answer_was_lost_is_adopted() {
    acceptance_tests::require_moto!(NOT_ON_LOCALSTACK);
    let case = OneMember::new("member-roles-lost-create", "");
    case.ds.admin_post(
        "faults",
        json!({"service": "aws", "match": "cloudformation:CreateStackSet", "after": true, "drop_connection": true}),
    );
    case.converges_after(|ws| {
        let applied = ws.apply();
        applied.expect_ok();
        let text = applied.normalized_output();
        assert!(
            text.contains("Adopted the StackSet an interrupted attempt created"),
            "{text}"
        );
    });
    assert_eq!(
        case.ds.request_count("aws", "cloudformation:CreateStackSet"),
        2,
        "CreateStackSet was retried once"
    );
}
