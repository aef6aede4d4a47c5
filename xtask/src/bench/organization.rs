//! An organisation's member accounts through `vantage_aws_member_account_roles`: a management
//! account with N members in one OU on the devstack's moto, then apply and no-op refresh plans
//! of the StackSet, with the API calls per member (CloudFormation and Vantage), the provider's
//! CPU and its peak RSS.

use serde_json::{Value, json};

use super::peers::{account, role_in};
use super::report;
use super::workspace::{Measured, Providers, Tf, World};

/// Which bench account is the management account (apart from every other part's accounts).
const MANAGEMENT: usize = 9_000;
const ORGANIZATIONS_TARGET: &str = "AWSOrganizationsV20161128";

/// One Organizations call (awsJson 1.1) as `management`, through the devstack's front door.
fn organizations(aws_url: &str, management: &str, operation: &str, body: Value) -> anyhow::Result<Value> {
    let response = reqwest::blocking::Client::new()
        .post(aws_url)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("{ORGANIZATIONS_TARGET}.{operation}"))
        .header("x-moto-account-id", management)
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={management}/20240101/us-east-1/organizations/aws4_request, \
                 SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000"
            ),
        )
        .body(body.to_string())
        .send()?;
    let status = response.status();
    let answer: Value = response.json().unwrap_or(Value::Null);
    if !status.is_success() {
        anyhow::bail!("Organizations {operation} answered {status}: {answer}");
    }
    Ok(answer)
}

/// An organisation managed by `management` with `members` accounts in one OU, trusted access on;
/// the OU's id.
fn organisation(aws_url: &str, management: &str, members: usize) -> anyhow::Result<String> {
    organizations(aws_url, management, "CreateOrganization", json!({"FeatureSet": "ALL"}))?;
    let roots = organizations(aws_url, management, "ListRoots", json!({}))?;
    let root = roots["Roots"][0]["Id"].as_str().unwrap_or_default().to_string();
    let ou = organizations(
        aws_url,
        management,
        "CreateOrganizationalUnit",
        json!({"ParentId": root, "Name": "members"}),
    )?;
    let ou = ou["OrganizationalUnit"]["Id"].as_str().unwrap_or_default().to_string();
    for i in 0..members {
        let created = organizations(
            aws_url,
            management,
            "CreateAccount",
            json!({"AccountName": format!("member{i}"), "Email": format!("member{i}@example.com")}),
        )?;
        let id = created["CreateAccountStatus"]["AccountId"].as_str().unwrap_or_default();
        organizations(
            aws_url,
            management,
            "MoveAccount",
            json!({"AccountId": id, "SourceParentId": root, "DestinationParentId": ou}),
        )?;
    }
    organizations(
        aws_url,
        management,
        "EnableAWSServiceAccess",
        json!({"ServicePrincipal": "member.org.stacksets.cloudformation.amazonaws.com"}),
    )?;
    Ok(ou)
}

/// Requests of one run, per member account, for one service (`aws` counts every AWS call of
/// the provider and Terraform's own, `vantage` Vantage's).
fn per_member(runs: &[Measured], members: usize) -> f64 {
    let total: u64 = runs.iter().map(|r| r.requests).sum();
    total as f64 / (runs.len().max(1) * members.max(1)) as f64
}

pub fn run(world: &World, members: usize, plans: usize) -> anyhow::Result<Value> {
    let management = account(MANAGEMENT);
    crate::util::step(&format!(
        "an organisation of {members} member accounts through one StackSet"
    ));
    let ou = organisation(&world.devstack.ready.aws_url, &management, members)?;
    let tf = Tf::new(world, Providers::Ours)?;
    tf.config(&format!(
        "provider \"vantage\" {{\n  assume_role {{\n    role_arn = \"{}\"\n  }}\n}}\n\n\
         resource \"vantage_aws_member_account_roles\" \"members\" {{\n  organizational_unit_ids = [\"{ou}\"]\n  managed_policy_arns     = []\n}}\n",
        role_in(&management)
    ))?;
    let counts_before = super::workspace::requests(&world.devstack.ready.admin_url)?;
    let apply = tf.measure(world, &["apply", "-auto-approve", "-input=false"])?;
    let counts_after = super::workspace::requests(&world.devstack.ready.admin_url)?;
    let mut plan_runs = Vec::new();
    for _ in 0..plans {
        plan_runs.push(tf.measure(world, &["plan", "-input=false", "-detailed-exitcode"])?);
    }
    let plan_before = super::workspace::requests(&world.devstack.ready.admin_url)?;
    tf.measure(world, &["plan", "-input=false", "-detailed-exitcode"])?;
    let plan_after = super::workspace::requests(&world.devstack.ready.admin_url)?;
    tf.run(&["destroy", "-auto-approve", "-input=false"])?;

    let delta = |before: &Value, after: &Value, service: &str, prefix: &str| -> u64 {
        after[service]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| {
                        v.as_u64()
                            .unwrap_or(0)
                            .saturating_sub(before[service][k].as_u64().unwrap_or(0))
                    })
                    .sum()
            })
            .unwrap_or(0)
    };
    let per = |n: u64| (n as f64 / members.max(1) as f64 * 100.0).round() / 100.0;
    let result = json!({
        "members": members,
        "apply": report::runs_json(std::slice::from_ref(&apply)),
        "plan_refresh": report::runs_json(&plan_runs),
        "apply_calls_per_member": {
            "cloudformation": per(delta(&counts_before, &counts_after, "aws", "cloudformation:")),
            "vantage": per(delta(&counts_before, &counts_after, "vantage", "")),
        },
        "plan_calls_per_member": {
            "cloudformation": per(delta(&plan_before, &plan_after, "aws", "cloudformation:")),
            "vantage": per(delta(&plan_before, &plan_after, "vantage", "")),
        },
        "requests_per_member_per_plan": (per_member(&plan_runs, members) * 100.0).round() / 100.0,
        "provider_cpu_seconds_apply": (apply.providers.cpu_seconds() * 1000.0).round() / 1000.0,
        "provider_peak_rss_mb": (apply.providers.max_peak_kb() as f64 / 1024.0 * 10.0).round() / 10.0,
    });
    eprintln!(
        "    {members} members: apply {:.1} s, refresh plan {:.2} s; per member and plan {} CloudFormation + {} Vantage calls",
        apply.wall,
        report::wall(&plan_runs).map_or(0.0, |s| s.median),
        result["plan_calls_per_member"]["cloudformation"],
        result["plan_calls_per_member"]["vantage"],
    );
    Ok(result)
}
