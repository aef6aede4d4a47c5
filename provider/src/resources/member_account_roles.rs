//! `vantage_aws_member_account_roles`: Vantage's read-only role in every member account of
//! given OUs, through a service-managed CloudFormation StackSet run from the management account
//! (or a delegated administrator), and each member registered with Vantage.
//!
//! The template is rendered here, at plan time, from the same definitions as
//! `vantage_aws_cross_account_role` (trust with Vantage's principal and the external id) and the
//! `vantage_aws_role_policy` presets (Vantage's published documents, under the names Vantage's
//! module gives them), so a document Vantage publishes anew shows as a change of
//! `template_body` and rolls out with UpdateStackSet.
//!
//! `accounts` is reconciled on every refresh from the stack instances (one paged listing) and
//! Vantage's integrations (one listing per provider process, matched by account): a member that
//! joined a targeted OU and is not registered yet, a member that left but is still registered,
//! an instance that is not `CURRENT`, or a member whose role Vantage can no longer assume makes
//! the plan an in-place update that puts it right.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tfplugin::schema::validators::{int_between, one_of, string};
use tfplugin::timeouts::{self, Timeouts};
use tfplugin::{
    ApplyError, AttrPath, Attribute, Block, ConfigView, Ctx, Diagnostic, Diagnostics, NestedBlock, Nesting, Plan,
    Resource, Schema, Type, Val,
};

use crate::ProviderData;
use crate::arn::{check_policy_arn, validate_role_name, validate_role_path};
use crate::aws::cloudformation::{
    self as cfn, CfnError, InstanceFacts, OperationOutcome, Preferences, StackSetSpec, Start, Targets,
};
use crate::aws::organizations;
use crate::policy::presets::{
    DEFAULT_ROLE_NAME, VIEW_ONLY_ACCESS, data_message, preset_document, preset_of_policy_name, preset_policy_name,
    write_message,
};
use crate::policy::{self, PolicyDocument};
use crate::retry::Budget;
use crate::tags::{self, Tags};
use crate::vantage::AwsProviderInfo;
use crate::vantage::integrations::{Integrations, RegistrationError};

pub const DEFAULT_NAME: &str = "VantageMemberAccountRoles";
const DEFAULT_REGION: &str = "us-east-1";
const DEFAULT_PRESETS: [&str; 3] = ["root", "cloudwatch", "resources"];
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// CloudFormation's limit on an inline template.
const TEMPLATE_LIMIT: usize = 51_200;
/// How long one member's registration may wait for Vantage to be able to assume the new role.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(120);
/// An instance deleted from the StackSet whose registration is still to be removed.
const REMOVED: &str = "REMOVED";

pub struct MemberAccountRoles;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AutoDeploymentModel {
    pub enabled: Option<bool>,
    pub retain_stacks_on_account_removal: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreferencesModel {
    pub max_concurrent_percentage: Option<i64>,
    pub failure_tolerance_percentage: Option<i64>,
    pub concurrency_mode: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountFilterModel {
    #[serde(rename = "type")]
    pub filter_type: Option<String>,
    pub accounts: Option<BTreeSet<String>>,
}

/// One member account, as `accounts` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberAccount {
    pub role_arn: Option<String>,
    pub organizational_unit_id: Option<String>,
    /// `CURRENT | OUTDATED | INOPERABLE`, or `REMOVED` while a registration outlives the instance.
    pub stack_instance_status: Option<String>,
    pub detailed_status: Option<String>,
    pub status_reason: Option<String>,
    pub integration_id: Option<i64>,
    pub integration_token: Option<String>,
    pub integration_status: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemberRolesModel {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub organizational_unit_ids: Option<BTreeSet<String>>,
    pub regions: Option<BTreeSet<String>>,
    pub role_name: Option<String>,
    pub role_path: Option<String>,
    pub presets: Option<BTreeSet<String>>,
    pub allow_write_actions: Option<bool>,
    pub allow_data_reads: Option<bool>,
    pub vantage_principal_arn: Option<String>,
    pub external_id: Option<String>,
    pub permissions_boundary: Option<String>,
    pub managed_policy_arns: Option<BTreeSet<String>>,
    pub max_session_duration: Option<i64>,
    pub tags: Option<Tags>,
    pub tags_all: Option<Tags>,
    pub register_with_vantage: Option<bool>,
    pub call_as: Option<String>,
    pub activate_organizations_access: Option<bool>,
    pub stack_set_id: Option<String>,
    pub template_body: Option<String>,
    pub accounts: Option<BTreeMap<String, MemberAccount>>,
    pub account_filter: Option<AccountFilterModel>,
    pub auto_deployment: Option<AutoDeploymentModel>,
    pub operation_preferences: Option<PreferencesModel>,
    pub timeouts: Option<Timeouts>,
}

impl MemberRolesModel {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(DEFAULT_NAME)
    }
    fn role_name(&self) -> &str {
        self.role_name.as_deref().unwrap_or(DEFAULT_ROLE_NAME)
    }
    fn role_path(&self) -> &str {
        self.role_path.as_deref().unwrap_or("/")
    }
    fn call_as(&self) -> aws_sdk_cloudformation::types::CallAs {
        cfn::call_as(self.call_as.as_deref() == Some("DELEGATED_ADMIN"))
    }
    fn register(&self) -> bool {
        self.register_with_vantage.unwrap_or(true)
    }
    fn presets(&self) -> BTreeSet<String> {
        self.presets
            .clone()
            .unwrap_or_else(|| DEFAULT_PRESETS.iter().map(|p| p.to_string()).collect())
    }
    fn regions(&self) -> BTreeSet<String> {
        self.regions
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| BTreeSet::from([DEFAULT_REGION.to_string()]))
    }
    fn auto_deployment(&self) -> AutoDeploymentModel {
        let a = self.auto_deployment.clone().unwrap_or_default();
        AutoDeploymentModel {
            enabled: Some(a.enabled.unwrap_or(true)),
            retain_stacks_on_account_removal: Some(a.retain_stacks_on_account_removal.unwrap_or(false)),
        }
    }
    fn targets(&self) -> Targets {
        let filter = self.account_filter.clone().unwrap_or_default();
        Targets {
            organizational_unit_ids: self.organizational_unit_ids.clone().unwrap_or_default(),
            accounts: filter.accounts.unwrap_or_default(),
            account_filter_type: filter.filter_type,
        }
    }
    /// Read-only roles: one member failing should not hold the others back, so by default every
    /// member is attempted, all at once, and failures are reported per account.
    fn preferences(&self) -> Preferences {
        let p = self.operation_preferences.clone().unwrap_or_default();
        let percent = |v: Option<i64>, default: i32| v.and_then(|v| i32::try_from(v).ok()).unwrap_or(default);
        Preferences {
            max_concurrent_percentage: Some(percent(p.max_concurrent_percentage, 100)),
            failure_tolerance_percentage: Some(percent(p.failure_tolerance_percentage, 100)),
            concurrency_mode: Some(
                p.concurrency_mode
                    .unwrap_or_else(|| "SOFT_FAILURE_TOLERANCE".to_string()),
            ),
        }
    }
    fn spec(&self) -> StackSetSpec {
        let auto = self.auto_deployment();
        StackSetSpec {
            name: self.name().to_string(),
            template: self.template_body.clone().unwrap_or_default(),
            description: self.description.clone(),
            tags: self.tags_all.clone().unwrap_or_default(),
            auto_deployment: auto.enabled.unwrap_or(true),
            retain_stacks_on_account_removal: auto.retain_stacks_on_account_removal.unwrap_or(false),
        }
    }
    fn timeouts(&self) -> Timeouts {
        self.timeouts.clone().unwrap_or_default()
    }
    fn role_arn(&self, partition: &str, account: &str) -> String {
        format!(
            "arn:{partition}:iam::{account}:role{}{}",
            self.role_path(),
            self.role_name()
        )
    }
}

/// The StackSet's template: one `AWS::IAM::Role`, every value literal.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleTemplate {
    pub role_name: String,
    pub path: String,
    pub trust_policy: String,
    /// Inline policy name -> document (JSON text).
    pub policies: BTreeMap<String, String>,
    pub managed_policy_arns: BTreeSet<String>,
    pub permissions_boundary: Option<String>,
    pub max_session_duration: i64,
    pub tags: Tags,
}

impl RoleTemplate {
    pub fn render(&self) -> Result<String, String> {
        let parse = |what: &str, text: &str| {
            serde_json::from_str::<serde_json::Value>(text).map_err(|e| format!("{what} is not JSON: {e}"))
        };
        let mut policies = Vec::new();
        for (name, document) in &self.policies {
            policies.push(json!({ "PolicyName": name, "PolicyDocument": parse(name, document)? }));
        }
        let mut properties = json!({
            "RoleName": self.role_name,
            "Path": self.path,
            "Description": "Read-only access for Vantage (vantage_aws_member_account_roles)",
            "AssumeRolePolicyDocument": parse("the trust policy", &self.trust_policy)?,
            "MaxSessionDuration": self.max_session_duration,
            "ManagedPolicyArns": self.managed_policy_arns,
            "Policies": policies,
        });
        if let Some(boundary) = &self.permissions_boundary {
            properties["PermissionsBoundary"] = json!(boundary);
        }
        if !self.tags.is_empty() {
            properties["Tags"] = self.tags.iter().map(|(k, v)| json!({ "Key": k, "Value": v })).collect();
        }
        let template = json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": "Vantage's read-only cross-account role, rendered by terraform-provider-vantage",
            "Resources": { "VantageCrossAccountRole": { "Type": "AWS::IAM::Role", "Properties": properties } },
            "Outputs": { "RoleArn": { "Value": { "Fn::GetAtt": ["VantageCrossAccountRole", "Arn"] } } },
        });
        serde_json::to_string(&template).map_err(|e| e.to_string())
    }
}

/// The same template, however it is formatted.
fn same_template(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Renders the template for a configuration, checking the documents as the role policies do.
fn render_template(
    m: &MemberRolesModel,
    info: &AwsProviderInfo,
    principal: &str,
    external_id: &str,
    partition: &str,
) -> Result<(String, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut policies = BTreeMap::new();
    for preset in m.presets() {
        let document = match preset_document(info, &preset, None, None) {
            Ok(d) => d,
            Err(d) => {
                diags.push(d.at(AttrPath::new("presets")));
                continue;
            }
        };
        match PolicyDocument::parse(&document) {
            Ok(doc) => {
                let writes = policy::write_actions(&doc);
                // Presets are deployed as Vantage publishes them (as `vantage_aws_role_policy`
                // does): what a guard would refuse is named, not refused.
                if !writes.is_empty() && m.allow_write_actions != Some(true) {
                    diags.push(
                        Diagnostic::warning(
                            "Preset grants write actions",
                            format!("Preset {preset:?}: {}", write_message(&writes)),
                        )
                        .at(AttrPath::new("presets")),
                    );
                }
                let reads = policy::data_reads(&doc, None);
                if !reads.is_empty() && m.allow_data_reads != Some(true) {
                    diags.push(
                        Diagnostic::warning(
                            "Preset grants data reads",
                            format!("Preset {preset:?}: {}", data_message(&reads)),
                        )
                        .at(AttrPath::new("presets")),
                    );
                }
            }
            Err(e) => diags.push(Diagnostic::error(
                "Vantage's policy document is not valid",
                format!("Preset {preset:?}: {e}"),
            )),
        }
        policies.insert(preset_policy_name(&preset).unwrap_or("root").to_string(), document);
    }
    let inline: usize = policies
        .values()
        .map(|d| d.chars().filter(|c| !c.is_whitespace()).count())
        .sum();
    if inline > policy::ROLE_INLINE_POLICY_LIMIT {
        diags.push(
            Diagnostic::error(
                "The presets are larger than IAM allows on one role",
                format!(
                    "Together they are {inline} characters (whitespace excluded); IAM allows {} of inline \
                     policy per role. Choose fewer presets.",
                    policy::ROLE_INLINE_POLICY_LIMIT
                ),
            )
            .at(AttrPath::new("presets")),
        );
    }
    if diags.has_errors() {
        return Err(diags);
    }
    let template = RoleTemplate {
        role_name: m.role_name().to_string(),
        path: m.role_path().to_string(),
        trust_policy: policy::trust::trust_policy(principal, external_id),
        policies,
        managed_policy_arns: m
            .managed_policy_arns
            .clone()
            .unwrap_or_else(|| BTreeSet::from([format!("arn:{partition}:{VIEW_ONLY_ACCESS}")])),
        permissions_boundary: m.permissions_boundary.clone(),
        max_session_duration: m.max_session_duration.unwrap_or(3600),
        tags: m.tags_all.clone().unwrap_or_default(),
    };
    let text = template
        .render()
        .map_err(|e| Diagnostics::from(Diagnostic::error("Could not render the StackSet template", e)))?;
    if text.len() > TEMPLATE_LIMIT {
        return Err(Diagnostic::error(
            "The StackSet template is too large",
            format!(
                "The rendered template is {} bytes; CloudFormation accepts {TEMPLATE_LIMIT} inline. Choose fewer presets.",
                text.len()
            ),
        )
        .into());
    }
    Ok((text, diags))
}

/// What a member needs on the next apply, `None` when it is as it should be.
fn pending(register: bool, account: &str, m: &MemberAccount) -> Option<String> {
    let status = m.stack_instance_status.as_deref().unwrap_or_default();
    let registered = m.integration_id.is_some() || m.integration_token.is_some();
    if status == REMOVED {
        return registered.then(|| format!("{account} left the targeted OUs: its Vantage registration is removed"));
    }
    if status != "CURRENT" {
        return Some(format!(
            "{account}'s stack instance is {status}{}: it is deployed again",
            m.status_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
    }
    if register && !registered {
        return Some(format!("{account} is not registered with Vantage: it is registered"));
    }
    if !register && registered {
        return Some(format!(
            "{account} is registered with Vantage: the registration is removed"
        ));
    }
    if register && m.integration_status.as_deref() == Some("error") {
        return Some(format!(
            "Vantage cannot assume the role in {account} (integration status `error`; was the role deleted?): \
             its stack instance is created again"
        ));
    }
    None
}

fn cfn_diag(e: &CfnError, summary: &str) -> Diagnostic {
    let hint = match e.code() {
        Some("OperationInProgressException") => {
            "Another operation on the StackSet is running; apply again once it ends."
        }
        Some("InsufficientCapabilitiesException") => "The template needs CAPABILITY_NAMED_IAM (the provider sends it).",
        _ => "",
    };
    e.to_diagnostic(summary, hint)
}

fn failures_diagnostic(name: &str, outcome: &OperationOutcome) -> Option<Diagnostic> {
    let failed = outcome.failed_accounts();
    if failed.is_empty() && outcome.status != "FAILED" {
        return None;
    }
    let lines: Vec<String> = failed
        .iter()
        .map(|r| {
            format!(
                "  - {} ({}): {}",
                r.account,
                r.region,
                r.reason.as_deref().unwrap_or("no reason given")
            )
        })
        .collect();
    Some(Diagnostic::error(
        "The role could not be deployed in every member account",
        format!(
            "StackSet {name}: the operation ended {}{}. Failed accounts:\n{}\nEvery other member is deployed \
             and recorded in state. Fix the cause in each account named and apply again.",
            outcome.status,
            outcome.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
            if lines.is_empty() {
                "  (none listed)".to_string()
            } else {
                lines.join("\n")
            }
        ),
    ))
}

impl MemberAccountRoles {
    /// StackSets need the management account (or a delegated administrator) and the
    /// organisation's trusted access: checked before anything is created.
    async fn check_prerequisites(
        ctx: &Ctx<ProviderData>,
        m: &MemberRolesModel,
        at_apply: bool,
    ) -> Result<(), Diagnostics> {
        let aws = &ctx.provider().aws;
        let delegated = m.call_as.as_deref() == Some("DELEGATED_ADMIN");
        let caller = aws.caller().await.map_err(Diagnostics::from)?.account_id.clone();
        let org = organizations::describe_organization(aws.organizations().await)
            .await
            .map_err(|e| Diagnostics::from(e.to_diagnostic()))?;
        let Some(org) = org else {
            return Err(Diagnostic::error(
                "This account is not in an AWS Organization",
                format!(
                    "Account {caller} belongs to no organisation, so it has no member accounts for a service-managed \
                     StackSet. Connect it with `vantage_aws_cross_account_role` and `vantage_aws_integration`."
                ),
            )
            .into());
        };
        if !delegated && org.management_account_id != caller {
            return Err(Diagnostic::error(
                "StackSets must be run from the management account",
                format!(
                    "These credentials are in account {caller}, a member of organisation {} whose management account \
                     is {}. Service-managed StackSets can be created only from the management account, or from a \
                     member registered as delegated administrator for CloudFormation StackSets (then set \
                     `call_as = \"DELEGATED_ADMIN\"`). Configure this provider with the management account's \
                     credentials (for example `assume_role` into it).",
                    org.id, org.management_account_id
                ),
            )
            .at(AttrPath::new("call_as"))
            .into());
        }
        let client = aws.cloudformation().await;
        let enabled = cfn::organizations_access(client, &m.call_as()).await.map_err(|e| {
            let hint = if delegated {
                "A delegated administrator must be registered with `aws organizations register-delegated-administrator \
                 --service-principal member.org.stacksets.cloudformation.amazonaws.com`."
            } else {
                ""
            };
            Diagnostics::from(e.to_diagnostic("Could not read the organisation's trusted access for StackSets", hint))
        })?;
        if enabled {
            return Ok(());
        }
        if m.activate_organizations_access == Some(true) {
            if at_apply {
                cfn::activate_organizations_access(client)
                    .await
                    .map_err(|e| Diagnostics::from(cfn_diag(&e, "Activating trusted access for StackSets failed")))?;
            }
            return Ok(());
        }
        Err(Diagnostic::error(
            "Trusted access for CloudFormation StackSets is not enabled",
            "AWS would refuse the StackSet: \"ValidationError when calling the CreateStackSet operation: You must \
             enable organizations access to operate a service managed stack set\". Enable it once for the \
             organisation: in the CloudFormation console, StackSets, \"Activate trusted access\"; or run \
             `aws cloudformation activate-organizations-access` with the management account's credentials; or set \
             `activate_organizations_access = true` here to let the provider do it.",
        )
        .at(AttrPath::new("activate_organizations_access"))
        .into())
    }

    /// `accounts` as the StackSet's instances and Vantage's integrations now have them.
    async fn read_accounts(
        ctx: &Ctx<ProviderData>,
        m: &MemberRolesModel,
        instances: &[InstanceFacts],
        prior: &BTreeMap<String, MemberAccount>,
    ) -> BTreeMap<String, MemberAccount> {
        let data = ctx.provider();
        let partition = data.aws.settings.partition();
        let listing = if m.register()
            || prior
                .values()
                .any(|a| a.integration_id.is_some() || a.integration_token.is_some())
        {
            let integrations = Integrations::new(&data.vantage, &data.integrations, ctx.cancellation());
            match integrations.list_integrations().await {
                Ok(l) => Some(l),
                Err(why) => {
                    ctx.warn(Diagnostic::warning(
                        "Could not read Vantage's integrations",
                        format!("The member accounts' registrations are shown as they were: {why}"),
                    ));
                    None
                }
            }
        } else {
            None
        };
        let mut accounts = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for instance in instances {
            // One entry per account: IAM is global, so any region's instance makes the role.
            if !seen.insert(instance.account.clone()) {
                continue;
            }
            let previous = prior.get(&instance.account).cloned().unwrap_or_default();
            let mut entry = MemberAccount {
                role_arn: Some(m.role_arn(partition, &instance.account)),
                organizational_unit_id: instance.organizational_unit_id.clone(),
                stack_instance_status: Some(instance.status.clone()),
                detailed_status: instance.detailed_status.clone(),
                status_reason: instance.reason.clone(),
                ..previous.clone()
            };
            apply_listing(&mut entry, &instance.account, listing.as_deref());
            accounts.insert(instance.account.clone(), entry);
        }
        // Gone from the StackSet, but still registered: kept until the registration is removed.
        for (account, previous) in prior {
            if accounts.contains_key(account)
                || (previous.integration_id.is_none() && previous.integration_token.is_none())
            {
                continue;
            }
            let mut entry = MemberAccount {
                stack_instance_status: Some(REMOVED.to_string()),
                detailed_status: None,
                status_reason: None,
                ..previous.clone()
            };
            apply_listing(&mut entry, account, listing.as_deref());
            if entry.integration_id.is_some() || entry.integration_token.is_some() {
                accounts.insert(account.clone(), entry);
            }
        }
        for (account, entry) in &accounts {
            if let Some(status) = entry
                .stack_instance_status
                .as_deref()
                .filter(|s| *s != "CURRENT" && *s != REMOVED)
            {
                ctx.warn(Diagnostic::warning(
                    "A member account's stack instance is not current",
                    format!(
                        "Account {account}: {status}{}. The next apply deploys it again.",
                        entry
                            .status_reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
        accounts
    }

    /// Registers the deployed members that are not registered yet and removes the
    /// registrations of members that should have none; `accounts` is updated as it goes.
    async fn reconcile_registrations(
        ctx: &Ctx<ProviderData>,
        m: &MemberRolesModel,
        accounts: &mut BTreeMap<String, MemberAccount>,
        budget: &Budget,
    ) -> Diagnostics {
        let data = ctx.provider();
        let integrations = Integrations::new(&data.vantage, &data.integrations, ctx.cancellation());
        let mut diags = Diagnostics::new();
        let mut removed = Vec::new();
        for (account, entry) in accounts.iter_mut() {
            let status = entry.stack_instance_status.as_deref().unwrap_or_default();
            let registered = entry.integration_id.is_some() || entry.integration_token.is_some();
            let wanted = m.register() && status == "CURRENT";
            if wanted && !registered {
                if budget.spent() {
                    // Not registered yet: the next apply registers it.
                    diags.push(budget.ran_out(&format!("registering member account {account} with Vantage")));
                    continue;
                }
                let role_arn = entry.role_arn.clone().unwrap_or_default();
                // Each member gets at most REGISTER_TIMEOUT, and never more than the operation has left.
                let bound = REGISTER_TIMEOUT.min(budget.left());
                match integrations.register(&role_arn, None, bound).await {
                    Ok(done) => {
                        tracing::info!(
                            account,
                            id = done.registration.id,
                            "member account registered with Vantage"
                        );
                        entry.integration_id = Some(i64::from(done.registration.id));
                        entry.integration_token = done.registration.token;
                        entry.integration_status = done.registration.status;
                    }
                    Err(RegistrationError::AlreadyRegistered { existing: Some(id), .. }) => {
                        entry.integration_id = Some(i64::from(id));
                    }
                    Err(e) => {
                        let principal = data
                            .aws_provider_info(ctx.cancellation())
                            .await
                            .map(|i| i.iam_role_arn.clone())
                            .unwrap_or_default();
                        let mut d = e.to_diagnostic("vantage_aws_member_account_roles", &principal);
                        d.summary = format!("Registering member account {account} with Vantage failed");
                        diags.push(d);
                    }
                }
            } else if !wanted && registered {
                let outcome = match (entry.integration_id, entry.integration_token.as_deref()) {
                    (Some(id), _) => integrations.deregister(i32::try_from(id).unwrap_or_default()).await,
                    (None, Some(token)) => integrations.deregister_token(token).await,
                    (None, None) => Ok(()),
                };
                match outcome {
                    Ok(()) => {
                        tracing::info!(account, "member account's Vantage registration removed");
                        entry.integration_id = None;
                        entry.integration_token = None;
                        entry.integration_status = None;
                        if status == REMOVED {
                            removed.push(account.clone());
                        }
                    }
                    Err(e) => {
                        let mut d = e.to_diagnostic("vantage_aws_member_account_roles", "");
                        d.summary = format!("Removing member account {account}'s Vantage registration failed");
                        diags.push(d);
                    }
                }
            }
        }
        for account in removed {
            accounts.remove(&account);
        }
        diags
    }

    /// The state after an apply step: the StackSet and its instances read back.
    async fn read_back(
        ctx: &Ctx<ProviderData>,
        planned: &MemberRolesModel,
        prior_accounts: &BTreeMap<String, MemberAccount>,
    ) -> Result<MemberRolesModel, CfnError> {
        let client = ctx.provider().aws.cloudformation().await;
        let instances = cfn::list_stack_instances(client, &planned.call_as(), planned.name()).await?;
        let mut state = planned.clone();
        state.id = Some(planned.name().to_string());
        state.accounts = Some(Self::read_accounts(ctx, planned, &instances, prior_accounts).await);
        Ok(state)
    }

    async fn run(
        ctx: &Ctx<ProviderData>,
        m: &MemberRolesModel,
        start: Start<'_>,
        budget: &Budget,
        diags: &mut Diagnostics,
        hard: bool,
    ) -> Result<(), Diagnostic> {
        let step = format!("waiting for the StackSet operation {}", start.name());
        let client = ctx.provider().aws.cloudformation().await;
        let outcome = cfn::run_operation(
            client,
            ctx.cancellation(),
            &m.call_as(),
            m.name(),
            &m.preferences(),
            start,
            budget.left(),
        )
        .await
        .map_err(|e| budget.explain(cfn_diag(&e, "The StackSet operation did not complete"), &step))?;
        if let Some(d) = failures_diagnostic(m.name(), &outcome) {
            diags.push(if hard {
                d
            } else {
                Diagnostic::warning(d.summary, d.detail)
            });
        }
        Ok(())
    }

    /// Creates the instances the StackSet lacks and puts the members right, then registers.
    async fn converge(
        ctx: &Ctx<ProviderData>,
        prior: Option<&MemberRolesModel>,
        planned: &MemberRolesModel,
        budget: Budget,
    ) -> Result<MemberRolesModel, ApplyError<MemberRolesModel>> {
        // Members that fail during the create are warnings: an error would taint the StackSet, and
        // the next apply would replace it, deleting every member's role. Their instances show as
        // OUTDATED and the next plan deploys them again in place.
        let hard = prior.is_some();
        let client = ctx.provider().aws.cloudformation().await;
        let call_as = planned.call_as();
        let mut diags = Diagnostics::new();
        let prior_accounts = prior.and_then(|p| p.accounts.clone()).unwrap_or_default();
        let partial = |diags: Diagnostics, state: MemberRolesModel| ApplyError::with_partial_state(state, diags);
        let mut base = prior.cloned().unwrap_or_else(|| {
            let mut s = planned.clone();
            s.accounts = Some(BTreeMap::new());
            s
        });
        base.id = Some(planned.name().to_string());
        if base.stack_set_id.is_none() {
            base.stack_set_id = planned.stack_set_id.clone();
        }

        let new_targets = planned.targets();
        let old_targets = prior.map(MemberRolesModel::targets).unwrap_or_default();
        let new_regions = planned.regions();
        let old_regions = prior.map(MemberRolesModel::regions).unwrap_or_default();
        let spec_changed = prior.is_some_and(|p| {
            let (a, b) = (p.spec(), planned.spec());
            !same_template(&a.template, &b.template)
                || StackSetSpec {
                    template: String::new(),
                    ..a
                } != StackSetSpec {
                    template: String::new(),
                    ..b
                }
        });

        // Instances CloudFormation holds and their repair.
        let instances = cfn::list_stack_instances(client, &call_as, planned.name())
            .await
            .map_err(|e| partial(cfn_diag(&e, "Could not list the stack instances").into(), base.clone()))?;
        let not_current = instances.iter().any(|i| i.status != "CURRENT");
        let step = |r: Result<(), Diagnostic>, diags: &mut Diagnostics| -> bool {
            match r {
                Ok(()) => true,
                Err(d) => {
                    diags.push(d);
                    false
                }
            }
        };
        let mut ok = true;
        if spec_changed || (not_current && prior.is_some()) {
            let r = Self::run(
                ctx,
                planned,
                Start::UpdateStackSet { spec: &planned.spec() },
                &budget,
                &mut diags,
                hard,
            )
            .await;
            ok &= step(r, &mut diags);
        }
        // Members whose role Vantage cannot assume (deleted out of band): instance made again.
        let broken: BTreeSet<String> = prior_accounts
            .iter()
            .filter(|(_, a)| {
                a.integration_status.as_deref() == Some("error")
                    && a.stack_instance_status.as_deref() == Some("CURRENT")
            })
            .map(|(k, _)| k.clone())
            .collect();
        if ok && !broken.is_empty() {
            let targets = Targets {
                organizational_unit_ids: new_targets.organizational_unit_ids.clone(),
                accounts: broken.clone(),
                account_filter_type: Some("INTERSECTION".to_string()),
            };
            let r = Self::run(
                ctx,
                planned,
                Start::RemoveInstances {
                    targets: &targets,
                    regions: &new_regions,
                    retain_stacks: false,
                },
                &budget,
                &mut diags,
                hard,
            )
            .await;
            ok &= step(r, &mut diags);
            if ok {
                let r = Self::run(
                    ctx,
                    planned,
                    Start::Instances {
                        targets: &targets,
                        regions: &new_regions,
                    },
                    &budget,
                    &mut diags,
                    hard,
                )
                .await;
                ok &= step(r, &mut diags);
            }
        }
        // OUs and regions: removed ones first, then what is new.
        let dropped_ous: BTreeSet<String> = old_targets
            .organizational_unit_ids
            .difference(&new_targets.organizational_unit_ids)
            .cloned()
            .collect();
        let dropped_regions: BTreeSet<String> = old_regions.difference(&new_regions).cloned().collect();
        if ok && !dropped_ous.is_empty() {
            let targets = Targets {
                organizational_unit_ids: dropped_ous,
                ..Targets::default()
            };
            let r = Self::run(
                ctx,
                planned,
                Start::RemoveInstances {
                    targets: &targets,
                    regions: &old_regions,
                    retain_stacks: false,
                },
                &budget,
                &mut diags,
                hard,
            )
            .await;
            ok &= step(r, &mut diags);
        }
        if ok && !dropped_regions.is_empty() {
            let r = Self::run(
                ctx,
                planned,
                Start::RemoveInstances {
                    targets: &new_targets,
                    regions: &dropped_regions,
                    retain_stacks: false,
                },
                &budget,
                &mut diags,
                hard,
            )
            .await;
            ok &= step(r, &mut diags);
        }
        let targets_changed = new_targets != old_targets || new_regions != old_regions;
        if ok && (prior.is_none() || targets_changed) {
            let r = Self::run(
                ctx,
                planned,
                Start::Instances {
                    targets: &new_targets,
                    regions: &new_regions,
                },
                &budget,
                &mut diags,
                hard,
            )
            .await;
            step(r, &mut diags);
        }

        let mut state = match Self::read_back(ctx, planned, &prior_accounts).await {
            Ok(state) => state,
            Err(e) => {
                diags.push(cfn_diag(&e, "Could not read the stack instances back"));
                return Err(partial(diags, base));
            }
        };
        if let Some(accounts) = state.accounts.as_mut() {
            diags.extend(Self::reconcile_registrations(ctx, planned, accounts, &budget).await);
        }
        if diags.has_errors() {
            return Err(partial(diags, state));
        }
        for d in diags.0 {
            ctx.warn(d);
        }
        Ok(state)
    }
}

#[tfplugin::async_trait]
impl Resource<ProviderData> for MemberAccountRoles {
    type Model = MemberRolesModel;

    fn type_name(&self) -> &'static str {
        "vantage_aws_member_account_roles"
    }

    fn schema(&self) -> Schema {
        let account = Type::object([
            ("role_arn", Type::String),
            ("organizational_unit_id", Type::String),
            ("stack_instance_status", Type::String),
            ("detailed_status", Type::String),
            ("status_reason", Type::String),
            ("integration_id", Type::Number),
            ("integration_token", Type::String),
            ("integration_status", Type::String),
        ]);
        Schema::new(
            "Vantage's read-only cross-account role in every member account of the given OUs, deployed by a \
             service-managed CloudFormation StackSet from the management account (or a delegated administrator), \
             each member registered with Vantage. The management account itself is never a target: make its role \
             with `vantage_aws_cross_account_role`. Accounts that join a targeted OU are deployed by \
             CloudFormation and registered on the next apply; accounts that leave are deregistered.",
        )
        .attribute(Attribute::string("id").computed().use_state_for_unknown().description("The StackSet name."))
        .attribute(
            Attribute::string("name")
                .default(DEFAULT_NAME)
                .requires_replace()
                .validator(string("1-128 characters: a letter, then letters, digits and `-`", check_stack_set_name))
                .description("Name of the StackSet."),
        )
        .attribute(Attribute::string("description").optional().description("Description of the StackSet."))
        .attribute(
            Attribute::string_set("organizational_unit_ids")
                .required()
                .validator(string("OU ids (`ou-xxxx-xxxxxxxx`) or the root id (`r-xxxx`)", check_ou_id))
                .description("The OUs whose member accounts get the role (their child OUs too)."),
        )
        .attribute(
            Attribute::string_set("regions")
                .optional()
                .description("Regions of the stack instances. IAM is global: one region (the default, `us-east-1`) is enough."),
        )
        .attribute(
            Attribute::string("role_name")
                .default(DEFAULT_ROLE_NAME)
                .validator(string("1-64 characters of letters, digits and `_+=,.@-`", validate_role_name))
                .description("Name of the role in each member account."),
        )
        .attribute(
            Attribute::string("role_path")
                .default("/")
                .validator(string("an IAM path such as `/` or `/vantage/`", validate_role_path))
                .description("IAM path of the role."),
        )
        .attribute(
            Attribute::string_set("presets")
                .optional()
                .validator(one_of(&["root", "cloudwatch", "resources", "autopilot"]))
                .description(
                    "Vantage's published policy documents the role carries as inline policies, under the names Vantage's \
                     module uses. Default `root`, `cloudwatch`, `resources`; `autopilot` grants write actions and needs \
                     `allow_write_actions = true`.",
                ),
        )
        .attribute(Attribute::bool("allow_write_actions").default(false).description("Allow presets that grant write actions (`autopilot`)."))
        .attribute(Attribute::bool("allow_data_reads").default(false).description("Allow presets that read data rather than metadata."))
        .attribute(
            Attribute::string("vantage_principal_arn")
                .optional_computed()
                .validator(string("an IAM principal ARN", crate::arn::check_principal_arn))
                .description("The principal the role trusts. Defaults to Vantage's (`iam_role_arn` of `vantage_aws_provider_info`)."),
        )
        .attribute(
            Attribute::string("external_id")
                .optional_computed()
                .sensitive()
                .validator(string(
                    "2-1224 characters of letters, digits and `_+=,.@:/-`",
                    policy::trust::validate_external_id,
                ))
                .description("The external id the trust requires. Defaults to your Vantage account's."),
        )
        .attribute(
            Attribute::string("permissions_boundary")
                .optional()
                .validator(string("an IAM policy ARN", check_policy_arn))
                .description("ARN of a managed policy used as the role's permissions boundary in every member."),
        )
        .attribute(
            Attribute::string_set("managed_policy_arns")
                .optional()
                .validator(string("a set of managed policy ARNs", check_policy_arn))
                .description("Managed policies attached to the role. Default `ViewOnlyAccess`."),
        )
        .attribute(
            Attribute::number("max_session_duration")
                .default(3600i64)
                .validator(int_between(3600, 43200))
                .description("Longest session, in seconds, Vantage can get from the role."),
        )
        .attribute(tags::tags_attribute())
        .attribute(tags::tags_all_attribute())
        .attribute(Attribute::bool("register_with_vantage").default(true).description("Register every deployed member account with Vantage (without a bucket)."))
        .attribute(
            Attribute::string("call_as")
                .default("SELF")
                .validator(one_of(&["SELF", "DELEGATED_ADMIN"]))
                .description("`SELF` from the management account; `DELEGATED_ADMIN` from a registered delegated administrator."),
        )
        .attribute(
            Attribute::bool("activate_organizations_access")
                .default(false)
                .description("Turn on the organisation's trusted access for StackSets (ActivateOrganizationsAccess) when it is off."),
        )
        .attribute(Attribute::string("stack_set_id").computed().use_state_for_unknown().description("The StackSet's id."))
        .attribute(
            Attribute::string("template_body")
                .computed()
                .sensitive()
                .description("The template the StackSet deploys (it contains the external id)."),
        )
        .attribute(
            Attribute::new("accounts", Type::map(account))
                .computed()
                .use_state_for_unknown()
                .description(
                    "Member accounts, keyed by account id: `role_arn`, `organizational_unit_id`, \
                     `stack_instance_status` (`CURRENT`, `OUTDATED`, `INOPERABLE`), `detailed_status`, `status_reason`, \
                     and the Vantage `integration_id` / `integration_token` / `integration_status` once registered.",
                ),
        )
        .block(NestedBlock::new(
            "account_filter",
            Nesting::Single,
            Block::new("Narrows the OUs' accounts (CloudFormation's `AccountFilterType`).")
                .attribute(
                    Attribute::string("type")
                        .required()
                        .validator(one_of(&["INTERSECTION", "DIFFERENCE"]))
                        .description("`INTERSECTION`: only these accounts of the OUs; `DIFFERENCE`: every account but these."),
                )
                .attribute(
                    Attribute::string_set("accounts")
                        .required()
                        .validator(string("12-digit account ids", check_account_id))
                        .description("Account ids."),
                ),
        ))
        .block(NestedBlock::new(
            "auto_deployment",
            Nesting::Single,
            Block::new("Whether CloudFormation deploys accounts that join a targeted OU (default on).")
                .attribute(Attribute::bool("enabled").optional().description("Default `true`."))
                .attribute(
                    Attribute::bool("retain_stacks_on_account_removal")
                        .optional()
                        .description("Keep the role in an account that leaves the OUs. Default `false`."),
                ),
        ))
        .block(NestedBlock::new(
            "operation_preferences",
            Nesting::Single,
            Block::new("How operations roll out. By default every member is attempted at once and failures are reported per account.")
                .attribute(Attribute::number("max_concurrent_percentage").optional().validator(int_between(1, 100)).description("Default 100."))
                .attribute(Attribute::number("failure_tolerance_percentage").optional().validator(int_between(0, 100)).description("Default 100."))
                .attribute(
                    Attribute::string("concurrency_mode")
                        .optional()
                        .validator(one_of(&["STRICT_FAILURE_TOLERANCE", "SOFT_FAILURE_TOLERANCE"]))
                        .description("Default `SOFT_FAILURE_TOLERANCE`."),
                ),
        ))
        .block(timeouts::block(&["create", "update", "delete"]))
    }

    async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
        let mut diags = Diagnostics::new();
        if let Val::Known(presets) = config.get::<BTreeSet<String>>("presets")
            && presets.contains("autopilot")
            && config.get::<bool>("allow_write_actions") != Val::Known(true)
        {
            diags.push(
                Diagnostic::error(
                    "autopilot grants write actions",
                    "The `autopilot` preset lets Vantage buy reservations and change your accounts. Vantage's \
                     integration is read-only by default: add `allow_write_actions = true` only if you mean it.",
                )
                .at(AttrPath::new("presets")),
            );
        }
        if let Val::Known(ous) = config.get::<BTreeSet<String>>("organizational_unit_ids")
            && ous.is_empty()
        {
            diags.push(
                Diagnostic::error(
                    "No OU given",
                    "List at least one OU (or the root id) in `organizational_unit_ids`.",
                )
                .at(AttrPath::new("organizational_unit_ids")),
            );
        }
        diags
    }

    async fn modify_plan(&self, ctx: &Ctx<ProviderData>, plan: &mut Plan) -> Result<(), Diagnostics> {
        let config: MemberRolesModel = plan.config()?;
        let prior: Option<MemberRolesModel> = plan.prior()?;
        let data = ctx.provider();
        tags::plan_tags_all(plan, &data.aws.settings.default_tags);
        let mut planned: MemberRolesModel = plan.planned()?;
        plan.set("id", config.name().to_string());

        let config_value = plan.config_value().clone();
        let unknown = |name: &str| config_value.attr(name).is_unknown();
        let info = data.aws_provider_info(ctx.cancellation()).await.map_err(|e| {
            Diagnostics::from(e.to_diagnostic("Could not read Vantage's principal, external id and policies"))
        })?;
        let principal = config
            .vantage_principal_arn
            .clone()
            .unwrap_or_else(|| info.iam_role_arn.clone());
        let external_id = config.external_id.clone().unwrap_or_else(|| info.external_id.clone());
        if !unknown("vantage_principal_arn") {
            plan.set("vantage_principal_arn", principal.clone());
        }
        if !unknown("external_id") {
            plan.set("external_id", external_id.clone());
        }
        let renderable = [
            "presets",
            "role_name",
            "role_path",
            "permissions_boundary",
            "managed_policy_arns",
            "tags",
            "vantage_principal_arn",
            "external_id",
        ]
        .iter()
        .all(|n| config_value.attr(n).is_wholly_known())
            && plan.planned_value().attr("tags_all").is_wholly_known();
        let template_changed = if renderable {
            planned.tags_all = plan.planned::<MemberRolesModel>()?.tags_all;
            let (text, warnings) =
                render_template(&planned, info, &principal, &external_id, data.aws.settings.partition())?;
            for w in warnings.0 {
                ctx.warn(w);
            }
            let kept = prior
                .as_ref()
                .and_then(|p| p.template_body.clone())
                .filter(|t| same_template(t, &text));
            let changed = kept.is_none() && prior.is_some();
            plan.set("template_body", kept.unwrap_or(text));
            changed
        } else {
            plan.set_unknown("template_body");
            true
        };

        let Some(prior) = prior else {
            Self::check_prerequisites(ctx, &planned, false).await?;
            plan.set_unknown("accounts");
            plan.set_unknown("stack_set_id");
            return Ok(());
        };
        let register = planned.register_with_vantage.unwrap_or(true);
        let work: Vec<String> = prior
            .accounts
            .clone()
            .unwrap_or_default()
            .iter()
            .filter_map(|(account, m)| pending(register, account, m))
            .collect();
        let targets_changed = prior.targets() != planned.targets() || prior.regions() != planned.regions();
        if !work.is_empty() {
            ctx.warn(Diagnostic::warning(
                "Member accounts to put right",
                format!(
                    "The next apply acts on these member accounts:\n  - {}",
                    work.join("\n  - ")
                ),
            ));
        }
        if template_changed {
            ctx.warn(Diagnostic::warning(
                "The member accounts' role changes",
                "The rendered template differs from the one the StackSet holds (a setting changed, or Vantage \
                 published new policy documents): apply rolls it out to every member with UpdateStackSet.",
            ));
        }
        if !work.is_empty() || targets_changed || template_changed {
            plan.set_unknown("accounts");
        }
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: MemberRolesModel,
    ) -> Result<MemberRolesModel, ApplyError<MemberRolesModel>> {
        // `timeouts.create` bounds the whole create, from the prerequisites to the registrations.
        let budget = Budget::new("create", planned.timeouts().create_or(DEFAULT_TIMEOUT));
        // Reads only, safe to abandon at the deadline.
        budget
            .bound(Self::check_prerequisites(ctx, &planned, true))
            .await
            .ok_or_else(|| budget.ran_out("checking the organisation's prerequisites"))?
            .map_err(ApplyError::from)?;
        let client = ctx.provider().aws.cloudformation().await;
        let name = planned.name().to_string();
        // What is known once the StackSet exists (its id comes with the answer, or the next refresh).
        let mut partial = planned.clone();
        partial.id = Some(name.clone());
        partial.accounts = Some(BTreeMap::new());
        let (call_as, spec) = (planned.call_as(), planned.spec());
        let creating = cfn::create_stack_set(client, &call_as, &spec);
        let Some(created) = budget.bound(creating).await else {
            // Cut in flight: CloudFormation may have made the StackSet. The next refresh finds it or drops it.
            let d = budget.ran_out("waiting for CloudFormation CreateStackSet");
            return Err(ApplyError::with_partial_state(partial, d));
        };
        let id = match created {
            Ok(created) => {
                if created.adopted {
                    ctx.warn(Diagnostic::warning(
                        "Adopted the StackSet an interrupted attempt created",
                        format!(
                            "CloudFormation gave no clear answer to the first CreateStackSet of {name:?} (a lost \
                             connection or a server error), and the retry found {name:?} with exactly the template, \
                             description and tags asked for and nothing deployed yet: that attempt had succeeded. \
                             Terraform now manages it."
                        ),
                    ));
                }
                created.id
            }
            Err(e) if e.code() == Some("NameAlreadyExistsException") => {
                return Err(Diagnostic::error(
                    "The StackSet already exists",
                    format!(
                        "A StackSet named {name:?} exists already (perhaps from an earlier onboarding). Adopt it: add\n\n  \
                         import {{\n    to = vantage_aws_member_account_roles.<this resource's name>\n    id = \"{name}\"\n  }}\n\n\
                         and apply again, or choose another `name`."
                    ),
                )
                .at(AttrPath::new("name"))
                .into());
            }
            Err(e) if e.may_have_acted() => {
                // No clear answer: the StackSet may exist. The next refresh finds it or drops it.
                let d = cfn_diag(&e, "Creating the StackSet failed");
                return Err(ApplyError::with_partial_state(partial, d));
            }
            Err(e) => return Err(cfn_diag(&e, "Creating the StackSet failed").into()),
        };
        let mut planned = planned;
        planned.stack_set_id = Some(id);
        Self::converge(ctx, None, &planned, budget).await
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: MemberRolesModel,
    ) -> Result<Option<MemberRolesModel>, Diagnostics> {
        let client = ctx.provider().aws.cloudformation().await;
        let call_as = current.call_as();
        let Some(remote) = cfn::describe_stack_set(client, &call_as, current.name())
            .await
            .map_err(|e| cfn_diag(&e, "Could not read the StackSet"))?
        else {
            return Ok(None);
        };
        let instances = cfn::list_stack_instances(client, &call_as, current.name())
            .await
            .map_err(|e| cfn_diag(&e, "Could not list the stack instances"))?;
        let mut state = current.clone();
        state.id = Some(current.name().to_string());
        state.stack_set_id = Some(remote.id.clone());
        state.template_body = match &current.template_body {
            Some(t) if same_template(t, &remote.template) => Some(t.clone()),
            _ => Some(remote.template.clone()),
        };
        state.description = remote.description.clone();
        if !remote.organizational_unit_ids.is_empty() {
            state.organizational_unit_ids = Some(remote.organizational_unit_ids.clone());
        }
        let desired = current.auto_deployment();
        let actual = AutoDeploymentModel {
            enabled: Some(remote.auto_deployment),
            retain_stacks_on_account_removal: Some(remote.retain_stacks_on_account_removal),
        };
        if actual != desired {
            state.auto_deployment = Some(actual);
        }
        let prior_accounts = current.accounts.clone().unwrap_or_default();
        state.accounts = Some(Self::read_accounts(ctx, &current, &instances, &prior_accounts).await);
        Ok(Some(state))
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: MemberRolesModel,
        planned: MemberRolesModel,
    ) -> Result<MemberRolesModel, ApplyError<MemberRolesModel>> {
        let budget = Budget::new("update", planned.timeouts().update_or(DEFAULT_TIMEOUT));
        Self::converge(ctx, Some(&prior), &planned, budget).await
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: MemberRolesModel) -> Result<(), Diagnostics> {
        // `timeouts.delete` bounds the whole delete: removing the instances, the registrations.
        let budget = Budget::new("delete", prior.timeouts().delete_or(DEFAULT_TIMEOUT));
        let client = ctx.provider().aws.cloudformation().await;
        let call_as = prior.call_as();
        let instances = cfn::list_stack_instances(client, &call_as, prior.name()).await;
        let instances = match instances {
            Ok(i) => i,
            Err(e) if e.code() == Some("StackSetNotFoundException") => Vec::new(),
            Err(e) => return Err(cfn_diag(&e, "Could not list the stack instances").into()),
        };
        let mut diags = Diagnostics::new();
        if !instances.is_empty() {
            let regions: BTreeSet<String> = instances.iter().map(|i| i.region.clone()).collect();
            let mut targets = prior.targets();
            targets
                .organizational_unit_ids
                .extend(instances.iter().filter_map(|i| i.organizational_unit_id.clone()));
            targets.accounts.clear();
            targets.account_filter_type = None;
            Self::run(
                ctx,
                &prior,
                Start::RemoveInstances {
                    targets: &targets,
                    regions: &regions,
                    retain_stacks: false,
                },
                &budget,
                &mut diags,
                true,
            )
            .await
            .map_err(Diagnostics::from)?;
        }
        let mut accounts = prior.accounts.clone().unwrap_or_default();
        let not_registering = MemberRolesModel {
            register_with_vantage: Some(false),
            ..prior.clone()
        };
        diags.extend(Self::reconcile_registrations(ctx, &not_registering, &mut accounts, &budget).await);
        if diags.has_errors() {
            return Err(diags);
        }
        cfn::delete_stack_set(client, &call_as, prior.name())
            .await
            .map_err(|e| Diagnostics::from(cfn_diag(&e, "Deleting the StackSet failed")))
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<MemberRolesModel, Diagnostics> {
        check_stack_set_name(id).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Invalid import id",
                format!("{e}. Import by the StackSet's name."),
            ))
        })?;
        let client = ctx.provider().aws.cloudformation().await;
        let call_as = cfn::call_as(false);
        let Some(remote) = cfn::describe_stack_set(client, &call_as, id)
            .await
            .map_err(|e| cfn_diag(&e, "Could not read the StackSet"))?
        else {
            return Err(Diagnostic::error(
                "Cannot import a missing StackSet",
                format!("There is no StackSet named {id:?} administered by this account."),
            )
            .into());
        };
        let instances = cfn::list_stack_instances(client, &call_as, id)
            .await
            .map_err(|e| cfn_diag(&e, "Could not list the stack instances"))?;
        let mut model = from_template(&remote.template);
        model.id = Some(id.to_string());
        model.name = Some(id.to_string());
        model.description = remote.description.clone();
        model.stack_set_id = Some(remote.id.clone());
        model.template_body = Some(remote.template.clone());
        let mut ous = remote.organizational_unit_ids.clone();
        ous.extend(instances.iter().filter_map(|i| i.organizational_unit_id.clone()));
        model.organizational_unit_ids = Some(ous);
        let regions: BTreeSet<String> = instances.iter().map(|i| i.region.clone()).collect();
        model.regions =
            (!regions.is_empty() && regions != BTreeSet::from([DEFAULT_REGION.to_string()])).then_some(regions);
        let auto = AutoDeploymentModel {
            enabled: Some(remote.auto_deployment),
            retain_stacks_on_account_removal: Some(remote.retain_stacks_on_account_removal),
        };
        model.auto_deployment = (auto != MemberRolesModel::default().auto_deployment()).then_some(auto);
        model.tags_all = Some(remote.tags.clone());
        model.tags = (!remote.tags.is_empty()).then(|| remote.tags.clone());
        model.register_with_vantage = Some(true);
        model.call_as = Some("SELF".to_string());
        model.activate_organizations_access = Some(false);
        model.allow_data_reads = Some(false);
        model.accounts = Some(Self::read_accounts(ctx, &model, &instances, &BTreeMap::new()).await);
        Ok(model)
    }
}

/// What an imported StackSet's template says about the configuration that made it.
fn from_template(template: &str) -> MemberRolesModel {
    let doc: serde_json::Value = serde_json::from_str(template).unwrap_or_default();
    let role = doc["Resources"]
        .as_object()
        .and_then(|r| r.values().find(|v| v["Type"] == "AWS::IAM::Role"))
        .map(|r| r["Properties"].clone())
        .unwrap_or_default();
    let text = |k: &str| role[k].as_str().map(str::to_string);
    let presets: BTreeSet<String> = role["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["PolicyName"].as_str())
        .filter_map(|name| preset_of_policy_name(name).map(str::to_string))
        .collect();
    let default_presets: BTreeSet<String> = DEFAULT_PRESETS.iter().map(|p| p.to_string()).collect();
    let trust = role["AssumeRolePolicyDocument"].to_string();
    let (principal, external_id) =
        policy::trust::vantage_trust(&trust).map_or((None, None), |(p, e)| (Some(p), Some(e)));
    let managed: BTreeSet<String> = role["ManagedPolicyArns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let view_only = managed.len() == 1 && managed.iter().all(|a| a.ends_with(VIEW_ONLY_ACCESS));
    MemberRolesModel {
        role_name: text("RoleName"),
        role_path: text("Path").or_else(|| Some("/".to_string())),
        allow_write_actions: Some(presets.contains("autopilot")),
        presets: (presets != default_presets).then_some(presets),
        vantage_principal_arn: principal,
        external_id,
        permissions_boundary: text("PermissionsBoundary"),
        managed_policy_arns: (!view_only).then_some(managed),
        max_session_duration: role["MaxSessionDuration"].as_i64().or(Some(3600)),
        ..MemberRolesModel::default()
    }
}

fn check_stack_set_name(name: &str) -> Result<(), String> {
    let ok = (1..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a StackSet name: 1-128 characters, starting with a letter, of letters, digits and `-`"
        ))
    }
}

fn check_ou_id(id: &str) -> Result<(), String> {
    let lower_alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = match id.split('-').collect::<Vec<_>>().as_slice() {
        ["ou", root, ou] => {
            (4..=32).contains(&root.len()) && (8..=32).contains(&ou.len()) && lower_alnum(root) && lower_alnum(ou)
        }
        ["r", root] => (4..=32).contains(&root.len()) && lower_alnum(root),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)"
        ))
    }
}

fn check_account_id(id: &str) -> Result<(), String> {
    if crate::arn::is_account_id(id) {
        Ok(())
    } else {
        Err(format!("{id:?} is not a 12-digit AWS account id"))
    }
}

/// Reads a member's registration from Vantage's listing (by account).
fn apply_listing(
    entry: &mut MemberAccount,
    account: &str,
    listing: Option<&[crate::vantage::integrations::Integration]>,
) {
    let Some(listing) = listing else { return };
    match listing
        .iter()
        .find(|i| i.account_identifier.as_deref() == Some(account))
    {
        Some(found) => {
            entry.integration_token = Some(found.token.clone());
            entry.integration_status = found.status.clone();
        }
        None => {
            // Deleted on Vantage's side (or never registered): registered again on apply.
            entry.integration_id = None;
            entry.integration_token = None;
            entry.integration_status = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_one_role_with_the_presets_under_the_module_names() {
        let template = RoleTemplate {
            role_name: "vantage_cross_account_connection".into(),
            path: "/".into(),
            trust_policy: policy::trust::trust_policy("arn:aws:iam::630399649041:role/vantage", "ext-1"),
            policies: BTreeMap::from([(
                preset_policy_name("cloudwatch").unwrap_or_default().to_string(),
                r#"{"Version":"2012-10-17","Statement":[]}"#.to_string(),
            )]),
            managed_policy_arns: BTreeSet::from([format!("arn:aws:{VIEW_ONLY_ACCESS}")]),
            permissions_boundary: None,
            max_session_duration: 3600,
            tags: Tags::from([("team".to_string(), "finops".to_string())]),
        };
        let text = template.render().expect("renders");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let role = &doc["Resources"]["VantageCrossAccountRole"];
        assert_eq!(role["Type"], "AWS::IAM::Role");
        assert_eq!(
            role["Properties"]["Policies"][0]["PolicyName"],
            "VantageCloudWatchMetricsReadOnly"
        );
        assert_eq!(role["Properties"]["Tags"][0]["Key"], "team");
        assert!(role["Properties"].get("PermissionsBoundary").is_none());
        let back = from_template(&text);
        assert_eq!(back.role_name.as_deref(), Some("vantage_cross_account_connection"));
        assert_eq!(back.external_id.as_deref(), Some("ext-1"));
        assert_eq!(back.presets, Some(BTreeSet::from(["cloudwatch".to_string()])));
        assert_eq!(back.managed_policy_arns, None, "ViewOnlyAccess alone is the default");
        assert!(same_template(
            &text,
            &serde_json::to_string_pretty(&doc).expect("pretty")
        ));
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_ou_id("ou-ab12-abcd1234").is_ok());
        assert!(check_ou_id("r-ab12").is_ok());
        assert!(check_ou_id("ou-AB12-abcd1234").is_err());
        assert!(check_ou_id("123456789012").is_err());
        assert!(check_stack_set_name("VantageMemberAccountRoles").is_ok());
        assert!(check_stack_set_name("1abc").is_err());
        assert!(check_stack_set_name("a_b").is_err());
        assert!(check_account_id("123456789012").is_ok());
        assert!(check_account_id("12345").is_err());
    }

    #[test]
    fn pending_work_names_the_account() {
        let current = MemberAccount {
            stack_instance_status: Some("CURRENT".into()),
            integration_id: Some(3),
            integration_status: Some("connected".into()),
            ..MemberAccount::default()
        };
        assert_eq!(pending(true, "111111111111", &current), None);
        let unregistered = MemberAccount {
            integration_id: None,
            integration_status: None,
            ..current.clone()
        };
        assert!(pending(true, "111111111111", &unregistered).is_some_and(|w| w.contains("111111111111")));
        assert_eq!(pending(false, "111111111111", &unregistered), None);
        let failed = MemberAccount {
            stack_instance_status: Some("OUTDATED".into()),
            status_reason: Some("boom".into()),
            ..current.clone()
        };
        assert!(pending(true, "1", &failed).is_some_and(|w| w.contains("OUTDATED") && w.contains("boom")));
        let left = MemberAccount {
            stack_instance_status: Some(REMOVED.into()),
            ..current.clone()
        };
        assert!(pending(true, "1", &left).is_some_and(|w| w.contains("left")));
        let broken = MemberAccount {
            integration_status: Some("error".into()),
            ..current
        };
        assert!(pending(true, "1", &broken).is_some());
    }
}
