//! CloudFormation StackSets with the service-managed permission model, served here because the
//! upstream emulators fall short of what CloudFormation does for an organisation: moto deploys
//! instances but does not follow accounts moving between OUs, roll a new template out to
//! existing instances, know the organisation's trusted access or run operations over time.
//!
//! What this does as CloudFormation would: operations run in the background (`RUNNING`, then
//! `SUCCEEDED` or `FAILED`) one at a time per StackSet (`OperationInProgressException`
//! meanwhile); a stack instance of the template below really creates, updates or deletes the
//! IAM role in the member account, through the upstream's IAM as that account; accounts that
//! join or leave a targeted OU are deployed or removed when auto-deployment is on (checked on
//! every StackSet call rather than by a background watcher); the management account is never a
//! target; trusted access is Organizations' service access for
//! `member.org.stacksets.cloudformation.amazonaws.com`.
//!
//! Templates: JSON with `AWS::IAM::Role` resources (`RoleName`, `Path`, `Description`,
//! `AssumeRolePolicyDocument`, `Policies`, `ManagedPolicyArns`, `PermissionsBoundary`,
//! `MaxSessionDuration`, `Tags`), literal values only (no parameters or intrinsic functions):
//! the shape the provider renders.
//!
//! Test hooks (admin API): a member account can be made to fail its deployments with a reason.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_iam::error::ProvideErrorMetadata;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::errors::protocol_error;
use super::request::{Call, Protocol, query_pairs};
use super::upstream::describe;
use crate::app::App;
use crate::{clock, ids};

/// Organizations' service principal for StackSets' trusted access.
pub const TRUSTED_SERVICE: &str = "member.org.stacksets.cloudformation.amazonaws.com";
/// CloudFormation's limit on an inline template.
const TEMPLATE_LIMIT: usize = 51_200;
/// How long one account's deployment takes here: long enough for a caller to see `RUNNING`.
const PER_ACCOUNT: Duration = Duration::from_millis(30);
const XMLNS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

/// The operations served here; every other CloudFormation call goes upstream.
const SERVED: [&str; 12] = [
    "DescribeOrganizationsAccess",
    "ActivateOrganizationsAccess",
    "CreateStackSet",
    "DescribeStackSet",
    "UpdateStackSet",
    "DeleteStackSet",
    "CreateStackInstances",
    "DeleteStackInstances",
    "ListStackInstances",
    "DescribeStackSetOperation",
    "ListStackSetOperationResults",
    "ListStackSets",
];

pub fn serves(operation: &str) -> bool {
    operation
        .strip_prefix("cloudformation:")
        .is_some_and(|op| SERVED.contains(&op))
}

#[derive(Debug, Clone)]
struct Instance {
    ou: String,
    /// `CURRENT | OUTDATED | INOPERABLE`.
    status: &'static str,
    /// `SUCCEEDED | FAILED | RUNNING | PENDING | CANCELLED`.
    detailed: &'static str,
    reason: Option<String>,
    stack_id: String,
}

#[derive(Debug, Clone)]
struct OperationResult {
    account: String,
    region: String,
    ou: String,
    status: &'static str,
    reason: Option<String>,
}

#[derive(Debug, Clone)]
struct Operation {
    id: String,
    action: &'static str,
    status: &'static str,
    created: u64,
    ended: Option<u64>,
    reason: Option<String>,
    results: Vec<OperationResult>,
}

#[derive(Debug, Clone)]
struct StackSet {
    id: String,
    name: String,
    region: String,
    admin: String,
    template: String,
    description: Option<String>,
    capabilities: Vec<String>,
    tags: Vec<(String, String)>,
    auto_enabled: bool,
    retain_on_removal: bool,
    ous: BTreeSet<String>,
    regions: BTreeSet<String>,
    /// `(account, region)`.
    instances: BTreeMap<(String, String), Instance>,
    operations: Vec<Operation>,
    tolerance_percentage: u32,
}

impl StackSet {
    fn running(&self) -> bool {
        self.operations.iter().any(|o| matches!(o.status, "RUNNING" | "QUEUED"))
    }

    fn arn(&self) -> String {
        format!(
            "arn:aws:cloudformation:{}:{}:stackset/{}",
            self.region, self.admin, self.id
        )
    }
}

/// The StackSets of every administrator account, and the test hooks.
#[derive(Default)]
pub struct StackSets {
    sets: Mutex<BTreeMap<(String, String), StackSet>>,
    /// Member account -> the reason its deployments fail.
    failing: Mutex<BTreeMap<String, String>>,
    /// Delegated administrators for StackSets: moto's Organizations refuses to register one for
    /// this service principal, so the admin API does it here.
    delegated: Mutex<BTreeSet<String>>,
}

impl StackSets {
    pub fn clear(&self) {
        self.sets.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.failing.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.delegated.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Registers (or removes) `account` as a delegated administrator for StackSets.
    pub fn set_delegated(&self, account: &str, on: bool) {
        let mut delegated = self.delegated.lock().unwrap_or_else(PoisonError::into_inner);
        if on {
            delegated.insert(account.to_owned());
        } else {
            delegated.remove(account);
        }
    }

    fn is_delegated(&self, account: &str) -> bool {
        self.delegated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(account)
    }

    /// From now on, deployments into `account` fail with `reason` (`None` heals it).
    pub fn set_failing(&self, account: &str, reason: Option<String>) {
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        match reason {
            Some(reason) => failing.insert(account.to_owned(), reason),
            None => failing.remove(account),
        };
    }

    fn failure(&self, account: &str) -> Option<String> {
        self.failing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account)
            .cloned()
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<(String, String), StackSet>) -> T) -> T {
        f(&mut self.sets.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A CloudFormation error answer.
struct CfnError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> CfnError {
    CfnError {
        status,
        code,
        message: message.into(),
    }
}

fn validation(message: impl Into<String>) -> CfnError {
    error(StatusCode::BAD_REQUEST, "ValidationError", message)
}

fn not_found(name: &str) -> CfnError {
    error(
        StatusCode::NOT_FOUND,
        "StackSetNotFoundException",
        format!("StackSet {name} not found"),
    )
}

fn in_progress() -> CfnError {
    error(
        StatusCode::CONFLICT,
        "OperationInProgressException",
        "Another Operation on StackSet is in progress",
    )
}

/// The form's parameters, decoded.
struct Form(Vec<(String, String)>);

impl Form {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn require(&self, key: &str) -> Result<&str, CfnError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| validation(format!("1 validation error detected: Value null at '{key}' failed to satisfy constraint: Member must not be null")))
    }

    /// `prefix.member.N` in N order.
    fn list(&self, prefix: &str) -> Vec<String> {
        let head = format!("{prefix}.member.");
        let mut items: Vec<(usize, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&head)?.parse().ok().map(|n| (n, v.clone())))
            .collect();
        items.sort();
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// `prefix.member.N.key_name` / `value_name` pairs.
    fn pairs(&self, prefix: &str, key_name: &str, value_name: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for n in 1.. {
            let key = self.get(&format!("{prefix}.member.{n}.{key_name}"));
            let value = self.get(&format!("{prefix}.member.{n}.{value_name}"));
            match (key, value) {
                (Some(k), v) => out.push((k.to_owned(), v.unwrap_or_default().to_owned())),
                (None, _) => break,
            }
        }
        out
    }

    fn flag(&self, key: &str) -> Option<bool> {
        self.get(key).map(|v| v.eq_ignore_ascii_case("true"))
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn element(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", xml_escape(value))
}

fn members(name: &str, items: impl IntoIterator<Item = String>) -> String {
    let inner: String = items.into_iter().map(|i| format!("<member>{i}</member>")).collect();
    format!("<{name}>{inner}</{name}>")
}

fn answer(action: &str, result: &str) -> Response {
    let body = format!(
        "<{action}Response xmlns=\"{XMLNS}\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        ids::uuid_v4()
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// Serves one StackSet call (see [`serves`]).
pub async fn handle(app: &App, call: &Call, headers: &axum::http::HeaderMap, form: &[u8]) -> Response {
    let action = call.operation.trim_start_matches("cloudformation:").to_owned();
    let form = Form(query_pairs(&String::from_utf8_lossy(form)).collect());
    let Some(scope) = call.scope.clone() else {
        return protocol_error(
            Protocol::Query,
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Missing Authentication Token",
        );
    };
    let caller = app.aws.upstream.caller_account(Some(&scope), headers).await;
    let ctx = Caller {
        app,
        account: caller,
        region: scope.region,
    };
    match ctx.serve(&action, &form).await {
        Ok(result) => answer(&action, &result),
        Err(e) => {
            tracing::debug!(action, code = e.code, message = %e.message, "StackSets answered with an error");
            protocol_error(Protocol::Query, e.status, e.code, &e.message)
        }
    }
}

struct Caller<'a> {
    app: &'a App,
    account: String,
    region: String,
}

impl Caller<'_> {
    async fn serve(&self, action: &str, form: &Form) -> Result<String, CfnError> {
        match action {
            "DescribeOrganizationsAccess" => {
                let org = self.administrator(form).await?;
                let status = if self.trusted_access(&org).await? {
                    "ENABLED"
                } else {
                    "DISABLED"
                };
                Ok(element("Status", status))
            }
            "ActivateOrganizationsAccess" => {
                let org = self.administrator(form).await?;
                self.app
                    .aws
                    .upstream
                    .organizations(&org.management)
                    .enable_aws_service_access()
                    .service_principal(TRUSTED_SERVICE)
                    .send()
                    .await
                    .map_err(|e| upstream_error("EnableAWSServiceAccess", &describe(&e)))?;
                Ok(String::new())
            }
            "CreateStackSet" => self.create_stack_set(form).await,
            "DescribeStackSet" => {
                let name = form.require("StackSetName")?;
                self.reconcile(name).await?;
                let set = self.find(name)?;
                Ok(format!("<StackSet>{}</StackSet>", describe_stack_set(&set)))
            }
            "ListStackSets" => {
                let sets = self.app.aws.stacksets.with(|sets| {
                    sets.values()
                        .filter(|s| s.admin == self.account && s.region == self.region)
                        .map(|s| {
                            format!(
                                "<member>{}{}{}{}</member>",
                                element("StackSetName", &s.name),
                                element("StackSetId", &s.id),
                                element("Status", "ACTIVE"),
                                element("PermissionModel", "SERVICE_MANAGED")
                            )
                        })
                        .collect::<String>()
                });
                Ok(format!("<Summaries>{sets}</Summaries>"))
            }
            "UpdateStackSet" => self.update_stack_set(form).await,
            "DeleteStackSet" => {
                let name = form.require("StackSetName")?;
                self.administrator(form).await?;
                self.app.aws.stacksets.with(|sets| {
                    let key = (self.account.clone(), name.to_owned());
                    let set = sets.get(&key).ok_or_else(|| not_found(name))?;
                    if set.running() {
                        return Err(in_progress());
                    }
                    if !set.instances.is_empty() {
                        return Err(error(
                            StatusCode::CONFLICT,
                            "StackSetNotEmptyException",
                            format!("StackSet {name} is not empty"),
                        ));
                    }
                    sets.remove(&key);
                    Ok(String::new())
                })
            }
            "CreateStackInstances" => self.instances(form, true).await,
            "DeleteStackInstances" => self.instances(form, false).await,
            "ListStackInstances" => {
                let name = form.require("StackSetName")?;
                self.reconcile(name).await?;
                let set = self.find(name)?;
                let account_filter = form.get("StackInstanceAccount");
                let all: Vec<String> = set
                    .instances
                    .iter()
                    .filter(|((account, _), _)| account_filter.is_none_or(|a| a == account))
                    .map(|((account, region), i)| {
                        format!(
                            "<member>{}{}{}{}{}{}<StackInstanceStatus>{}</StackInstanceStatus>{}{}</member>",
                            element("StackSetId", &set.id),
                            element("Region", region),
                            element("Account", account),
                            element("StackId", &i.stack_id),
                            element("Status", i.status),
                            i.reason
                                .as_deref()
                                .map(|r| element("StatusReason", r))
                                .unwrap_or_default(),
                            element("DetailedStatus", i.detailed),
                            element("OrganizationalUnitId", &i.ou),
                            element("DriftStatus", "NOT_CHECKED"),
                        )
                    })
                    .collect();
                Ok(paged(form, &all, "Summaries"))
            }
            "DescribeStackSetOperation" => {
                let name = form.require("StackSetName")?;
                let operation = self.operation(name, form.require("OperationId")?)?;
                Ok(format!(
                    "<StackSetOperation>{}{}{}{}{}{}{}</StackSetOperation>",
                    element("OperationId", &operation.id),
                    element("StackSetId", &self.find(name)?.id),
                    element("Action", operation.action),
                    element("Status", operation.status),
                    element("CreationTimestamp", &clock::iso8601(operation.created)),
                    operation
                        .ended
                        .map(|e| element("EndTimestamp", &clock::iso8601(e)))
                        .unwrap_or_default(),
                    operation
                        .reason
                        .as_deref()
                        .map(|r| element("StatusReason", r))
                        .unwrap_or_default(),
                ))
            }
            "ListStackSetOperationResults" => {
                let name = form.require("StackSetName")?;
                let operation = self.operation(name, form.require("OperationId")?)?;
                let all: Vec<String> = operation
                    .results
                    .iter()
                    .map(|r| {
                        format!(
                            "<member>{}{}{}{}{}</member>",
                            element("Account", &r.account),
                            element("Region", &r.region),
                            element("Status", r.status),
                            r.reason
                                .as_deref()
                                .map(|x| element("StatusReason", x))
                                .unwrap_or_default(),
                            element("OrganizationalUnitId", &r.ou),
                        )
                    })
                    .collect();
                Ok(paged(form, &all, "Summaries"))
            }
            _ => Err(validation(format!("{action} is not served by devstack"))),
        }
    }

    fn find(&self, name: &str) -> Result<StackSet, CfnError> {
        self.app
            .aws
            .stacksets
            .with(|sets| sets.get(&(self.account.clone(), name.to_owned())).cloned())
            .ok_or_else(|| not_found(name))
    }

    fn operation(&self, name: &str, id: &str) -> Result<Operation, CfnError> {
        self.find(name)?
            .operations
            .into_iter()
            .find(|o| o.id == id)
            .ok_or_else(|| {
                error(
                    StatusCode::NOT_FOUND,
                    "OperationNotFoundException",
                    format!("Operation {id} not found"),
                )
            })
    }

    /// The caller's organisation, when the caller may administer service-managed StackSets
    /// (the management account with `CallAs = SELF`, a registered delegated administrator with
    /// `DELEGATED_ADMIN`).
    async fn administrator(&self, form: &Form) -> Result<Org, CfnError> {
        let upstream = &self.app.aws.upstream;
        let management = upstream
            .management_account(&self.account)
            .await
            .map_err(|e| upstream_error("DescribeOrganization", &e.0))?
            .ok_or_else(|| {
                validation(
                    "Account used is not a member of an organization: service managed StackSets need AWS Organizations",
                )
            })?;
        let call_as = form.get("CallAs").unwrap_or("SELF");
        if management == self.account {
            return Ok(Org { management });
        }
        if call_as == "DELEGATED_ADMIN" {
            // Organizations' own list where the upstream keeps one for this principal (moto
            // refuses it as unrecognised), else the admin API's registrations.
            let listed = upstream
                .organizations(&management)
                .list_delegated_administrators()
                .service_principal(TRUSTED_SERVICE)
                .send()
                .await
                .map(|out| {
                    out.delegated_administrators()
                        .iter()
                        .any(|d| d.id() == Some(self.account.as_str()))
                })
                .unwrap_or(false);
            if listed || self.app.aws.stacksets.is_delegated(&self.account) {
                return Ok(Org { management });
            }
            return Err(validation(format!(
                "Account {} is not registered as a delegated administrator for {TRUSTED_SERVICE}",
                self.account
            )));
        }
        Err(validation(format!(
            "Account {} is not the management account of its organization ({management}); service managed \
             StackSets can be administered only from the management account, or from a delegated \
             administrator with CallAs=DELEGATED_ADMIN",
            self.account
        )))
    }

    async fn trusted_access(&self, org: &Org) -> Result<bool, CfnError> {
        let out = self
            .app
            .aws
            .upstream
            .organizations(&org.management)
            .list_aws_service_access_for_organization()
            .send()
            .await
            .map_err(|e| upstream_error("ListAWSServiceAccessForOrganization", &describe(&e)))?;
        Ok(out
            .enabled_service_principals()
            .iter()
            .any(|p| p.service_principal() == Some(TRUSTED_SERVICE)))
    }

    async fn create_stack_set(&self, form: &Form) -> Result<String, CfnError> {
        let name = form.require("StackSetName")?.to_owned();
        if form.get("PermissionModel") != Some("SERVICE_MANAGED") {
            return Err(validation(
                "devstack serves only PermissionModel=SERVICE_MANAGED StackSets",
            ));
        }
        let org = self.administrator(form).await?;
        if !self.trusted_access(&org).await? {
            return Err(validation(
                "You must enable organizations access to operate a service managed stack set",
            ));
        }
        let template = form.require("TemplateBody")?.to_owned();
        let capabilities = form.list("Capabilities");
        check_template(&template, &capabilities)?;
        let auto_enabled = form
            .flag("AutoDeployment.Enabled")
            .ok_or_else(|| validation("AutoDeployment must be specified for a service managed StackSet"))?;
        let set = StackSet {
            id: format!("{name}:{}", ids::uuid_v4()),
            name: name.clone(),
            region: self.region.clone(),
            admin: self.account.clone(),
            template,
            description: form.get("Description").map(str::to_owned),
            capabilities,
            tags: form.pairs("Tags", "Key", "Value"),
            auto_enabled,
            retain_on_removal: form
                .flag("AutoDeployment.RetainStacksOnAccountRemoval")
                .unwrap_or(false),
            ous: BTreeSet::new(),
            regions: BTreeSet::new(),
            instances: BTreeMap::new(),
            operations: Vec::new(),
            tolerance_percentage: 0,
        };
        let id = set.id.clone();
        self.app.aws.stacksets.with(|sets| {
            let key = (self.account.clone(), name.clone());
            if sets.contains_key(&key) {
                return Err(error(
                    StatusCode::CONFLICT,
                    "NameAlreadyExistsException",
                    format!("StackSet {name} already exists"),
                ));
            }
            sets.insert(key, set);
            Ok(())
        })?;
        Ok(element("StackSetId", &id))
    }

    async fn update_stack_set(&self, form: &Form) -> Result<String, CfnError> {
        let name = form.require("StackSetName")?.to_owned();
        self.administrator(form).await?;
        let set = self.find(&name)?;
        let template = match (form.get("TemplateBody"), form.flag("UsePreviousTemplate")) {
            (Some(t), _) => t.to_owned(),
            (None, Some(true)) => set.template.clone(),
            (None, _) => return Err(validation("Either TemplateBody or UsePreviousTemplate must be given")),
        };
        let capabilities = form.list("Capabilities");
        check_template(&template, &capabilities)?;
        let operation_id = operation_id(form);
        if let Some(existing) = set.operations.iter().find(|o| o.id == operation_id) {
            return Ok(element("OperationId", &existing.id));
        }
        let targets: Vec<(String, String, String)> = set
            .instances
            .iter()
            .map(|((a, r), i)| (a.clone(), r.clone(), i.ou.clone()))
            .collect();
        self.app.aws.stacksets.with(|sets| {
            let set = sets
                .get_mut(&(self.account.clone(), name.clone()))
                .ok_or_else(|| not_found(&name))?;
            if set.running() {
                return Err(in_progress());
            }
            set.template = template;
            set.capabilities = capabilities;
            if form.get("Description").is_some() {
                set.description = form.get("Description").map(str::to_owned);
            }
            if form.get("Tags.member.1.Key").is_some() {
                set.tags = form.pairs("Tags", "Key", "Value");
            }
            if let Some(enabled) = form.flag("AutoDeployment.Enabled") {
                set.auto_enabled = enabled;
                set.retain_on_removal = form
                    .flag("AutoDeployment.RetainStacksOnAccountRemoval")
                    .unwrap_or(false);
            }
            set.tolerance_percentage = tolerance(form);
            set.operations.push(new_operation(&operation_id, "UPDATE"));
            Ok(())
        })?;
        self.spawn(name, operation_id.clone(), Work::Deploy(targets));
        Ok(element("OperationId", &operation_id))
    }

    /// CreateStackInstances (`create`) or DeleteStackInstances for OUs (optionally filtered by
    /// accounts) and regions.
    async fn instances(&self, form: &Form, create: bool) -> Result<String, CfnError> {
        let name = form.require("StackSetName")?.to_owned();
        let org = self.administrator(form).await?;
        let set = self.find(&name)?;
        let ous = form.list("DeploymentTargets.OrganizationalUnitIds");
        if ous.is_empty() {
            return Err(validation(
                "StackSets with SERVICE_MANAGED permission model can only have OrganizationalUnit as target",
            ));
        }
        let regions = form.list("Regions");
        if regions.is_empty() {
            return Err(validation("Regions must not be empty"));
        }
        let filter_accounts: BTreeSet<String> = form.list("DeploymentTargets.Accounts").into_iter().collect();
        let filter = form.get("DeploymentTargets.AccountFilterType").unwrap_or("NONE");
        let operation_id = operation_id(form);
        if let Some(existing) = set.operations.iter().find(|o| o.id == operation_id) {
            return Ok(element("OperationId", &existing.id));
        }
        if set.running() {
            return Err(in_progress());
        }
        let mut targets = Vec::new();
        for ou in &ous {
            for account in self.accounts_in(&org, ou).await? {
                let keep = match filter {
                    "INTERSECTION" => filter_accounts.contains(&account),
                    "DIFFERENCE" => !filter_accounts.contains(&account),
                    _ => true,
                };
                if keep {
                    for region in &regions {
                        targets.push((account.clone(), region.clone(), ou.clone()));
                    }
                }
            }
        }
        let retain = form.flag("RetainStacks").unwrap_or(false);
        self.app.aws.stacksets.with(|sets| {
            let set = sets
                .get_mut(&(self.account.clone(), name.clone()))
                .ok_or_else(|| not_found(&name))?;
            if set.running() {
                return Err(in_progress());
            }
            if create {
                set.ous.extend(ous.iter().cloned());
                set.regions.extend(regions.iter().cloned());
            } else if filter == "NONE" {
                for ou in &ous {
                    set.ous.remove(ou);
                }
            }
            set.tolerance_percentage = tolerance(form);
            set.operations
                .push(new_operation(&operation_id, if create { "CREATE" } else { "DELETE" }));
            Ok(())
        })?;
        let work = if create {
            Work::Deploy(targets)
        } else {
            Work::Remove { targets, retain }
        };
        self.spawn(name, operation_id.clone(), work);
        Ok(element("OperationId", &operation_id))
    }

    /// Member accounts under `ou` and its child OUs, never the management account.
    async fn accounts_in(&self, org: &Org, ou: &str) -> Result<Vec<String>, CfnError> {
        let organizations = self.app.aws.upstream.organizations(&org.management);
        let mut accounts = Vec::new();
        let mut parents = vec![ou.to_owned()];
        while let Some(parent) = parents.pop() {
            let listed = organizations
                .list_accounts_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| match e.as_service_error().and_then(|s| s.code()) {
                    Some("ParentNotFoundException") => validation(format!("OrganizationalUnit {parent} not found")),
                    _ => upstream_error("ListAccountsForParent", &describe(&e)),
                })?;
            accounts.extend(
                listed
                    .iter()
                    .flat_map(|p| p.accounts())
                    .filter_map(|a| a.id())
                    .filter(|id| *id != org.management)
                    .map(str::to_owned),
            );
            let children = organizations
                .list_organizational_units_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| upstream_error("ListOrganizationalUnitsForParent", &describe(&e)))?;
            parents.extend(
                children
                    .iter()
                    .flat_map(|p| p.organizational_units())
                    .filter_map(|u| u.id())
                    .map(str::to_owned),
            );
        }
        Ok(accounts)
    }

    /// Auto-deployment: accounts that joined a targeted OU get an instance, accounts that left
    /// lose theirs (the role kept when `RetainStacksOnAccountRemoval`). Done at once, as an
    /// operation of its own, while no other operation runs.
    async fn reconcile(&self, name: &str) -> Result<(), CfnError> {
        let set = self.find(name)?;
        if !set.auto_enabled || set.running() || set.ous.is_empty() {
            return Ok(());
        }
        let Some(management) = self
            .app
            .aws
            .upstream
            .management_account(&self.account)
            .await
            .ok()
            .flatten()
        else {
            return Ok(());
        };
        let org = Org { management };
        let mut wanted = BTreeMap::new();
        for ou in &set.ous {
            for account in self.accounts_in(&org, ou).await? {
                for region in &set.regions {
                    wanted.insert((account.clone(), region.clone()), ou.clone());
                }
            }
        }
        let joined: Vec<(String, String, String)> = wanted
            .iter()
            .filter(|(key, _)| !set.instances.contains_key(*key))
            .map(|((a, r), ou)| (a.clone(), r.clone(), ou.clone()))
            .collect();
        let left: Vec<(String, String, String)> = set
            .instances
            .iter()
            .filter(|(key, _)| !wanted.contains_key(*key))
            .map(|((a, r), i)| (a.clone(), r.clone(), i.ou.clone()))
            .collect();
        if !left.is_empty() {
            tracing::info!(stack_set = name, accounts = ?left, "auto-deployment: accounts left the targeted OUs");
            let mut op = new_operation(&ids::uuid_v4(), "DELETE");
            op.results = remove(self.app, &set, &left, set.retain_on_removal).await;
            self.finish_inline(name, op, &left);
        }
        if !joined.is_empty() {
            tracing::info!(stack_set = name, accounts = ?joined, "auto-deployment: accounts joined the targeted OUs");
            let mut op = new_operation(&ids::uuid_v4(), "CREATE");
            let (results, instances) = deploy(self.app, &set, &joined).await;
            op.results = results;
            self.app.aws.stacksets.with(|sets| {
                if let Some(set) = sets.get_mut(&(self.account.clone(), name.to_owned())) {
                    set.instances.extend(instances);
                    op.status = "SUCCEEDED";
                    op.ended = Some(clock::now_epoch());
                    set.operations.push(op);
                }
            });
        }
        Ok(())
    }

    fn finish_inline(&self, name: &str, mut op: Operation, removed: &[(String, String, String)]) {
        self.app.aws.stacksets.with(|sets| {
            if let Some(set) = sets.get_mut(&(self.account.clone(), name.to_owned())) {
                for (a, r, _) in removed {
                    set.instances.remove(&(a.clone(), r.clone()));
                }
                op.status = "SUCCEEDED";
                op.ended = Some(clock::now_epoch());
                set.operations.push(op);
            }
        });
    }

    /// Runs an operation in the background, as CloudFormation does.
    fn spawn(&self, name: String, operation_id: String, work: Work) {
        let app = self.app.clone();
        let admin = self.account.clone();
        tokio::spawn(async move {
            let key = (admin, name);
            let Some(set) = app.aws.stacksets.with(|sets| sets.get(&key).cloned()) else {
                return;
            };
            let (results, deployed, removed) = match &work {
                Work::Deploy(targets) => {
                    let (results, instances) = deploy(&app, &set, targets).await;
                    (results, instances, Vec::new())
                }
                Work::Remove { targets, retain } => {
                    let results = remove(&app, &set, targets, *retain).await;
                    let removed = results
                        .iter()
                        .filter(|r| r.status == "SUCCEEDED")
                        .map(|r| (r.account.clone(), r.region.clone()))
                        .collect();
                    (results, BTreeMap::new(), removed)
                }
            };
            app.aws.stacksets.with(|sets| {
                let Some(set) = sets.get_mut(&key) else { return };
                set.instances.extend(deployed);
                for key in removed {
                    set.instances.remove(&key);
                }
                let failed = results.iter().filter(|r| r.status == "FAILED").count();
                let allowed = results.len() * set.tolerance_percentage as usize / 100;
                if let Some(op) = set.operations.iter_mut().find(|o| o.id == operation_id) {
                    op.status = if failed > allowed { "FAILED" } else { "SUCCEEDED" };
                    if failed > allowed {
                        op.reason = Some(format!(
                            "{failed} of {} stack instances failed, more than the failure tolerance",
                            results.len()
                        ));
                    }
                    op.ended = Some(clock::now_epoch());
                    op.results = results;
                }
            });
        });
    }
}

struct Org {
    management: String,
}

enum Work {
    /// `(account, region, ou)`: create or update the instance.
    Deploy(Vec<(String, String, String)>),
    Remove {
        targets: Vec<(String, String, String)>,
        retain: bool,
    },
}

fn new_operation(id: &str, action: &'static str) -> Operation {
    Operation {
        id: id.to_owned(),
        action,
        status: "RUNNING",
        created: clock::now_epoch(),
        ended: None,
        reason: None,
        results: Vec::new(),
    }
}

fn operation_id(form: &Form) -> String {
    form.get("OperationId")
        .filter(|id| !id.is_empty())
        .map_or_else(ids::uuid_v4, str::to_owned)
}

/// Failure tolerance as a share of the targets (a count is read as that many of 100).
fn tolerance(form: &Form) -> u32 {
    form.get("OperationPreferences.FailureTolerancePercentage")
        .or_else(|| form.get("OperationPreferences.FailureToleranceCount"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn upstream_error(what: &str, message: &str) -> CfnError {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalFailure",
        format!("devstack could not ask the upstream ({what}): {message}"),
    )
}

fn paged(form: &Form, items: &[String], name: &str) -> String {
    let start = form.get("NextToken").and_then(super::parse_page_token).unwrap_or(0);
    let size = form
        .get("MaxResults")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 100);
    let end = (start + size).min(items.len());
    let page = items.get(start..end).unwrap_or_default().concat();
    let next = if end < items.len() {
        element("NextToken", &super::page_token(end))
    } else {
        String::new()
    };
    format!("<{name}>{page}</{name}>{next}")
}

fn describe_stack_set(set: &StackSet) -> String {
    let tags: String = set
        .tags
        .iter()
        .map(|(k, v)| format!("<member>{}{}</member>", element("Key", k), element("Value", v)))
        .collect();
    format!(
        "{}{}{}{}{}{}<Tags>{tags}</Tags>{}{}<AutoDeployment>{}{}</AutoDeployment>{}<ManagedExecution>{}</ManagedExecution>",
        element("StackSetName", &set.name),
        element("StackSetId", &set.id),
        element("StackSetARN", &set.arn()),
        element("Status", "ACTIVE"),
        element("TemplateBody", &set.template),
        set.description
            .as_deref()
            .map(|d| element("Description", d))
            .unwrap_or_default(),
        members("Capabilities", set.capabilities.iter().map(|c| xml_escape(c))),
        element("PermissionModel", "SERVICE_MANAGED"),
        element("Enabled", if set.auto_enabled { "true" } else { "false" }),
        element(
            "RetainStacksOnAccountRemoval",
            if set.retain_on_removal { "true" } else { "false" }
        ),
        members("OrganizationalUnitIds", set.ous.iter().map(|o| xml_escape(o))),
        element("Active", "false"),
    )
}

/// One `AWS::IAM::Role` of a template.
#[derive(Debug, Clone, PartialEq)]
struct RoleSpec {
    name: String,
    path: String,
    description: Option<String>,
    trust: String,
    policies: BTreeMap<String, String>,
    managed: BTreeSet<String>,
    boundary: Option<String>,
    max_session: i32,
    tags: Vec<(String, String)>,
}

fn roles(template: &str) -> Result<Vec<RoleSpec>, String> {
    let doc: Value =
        serde_json::from_str(template).map_err(|e| format!("Template format error: JSON not well-formed ({e})"))?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_object)
        .ok_or("Template format error: At least one Resources member must be defined.")?;
    let mut out = Vec::new();
    for (logical, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::IAM::Role") {
            return Err(format!(
                "devstack deploys only AWS::IAM::Role resources; {logical} is {}",
                resource.get("Type").unwrap_or(&Value::Null)
            ));
        }
        let p = resource.get("Properties").cloned().unwrap_or(Value::Null);
        let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        let trust = p
            .get("AssumeRolePolicyDocument")
            .ok_or_else(|| format!("{logical}: AssumeRolePolicyDocument is required"))?;
        let mut policies = BTreeMap::new();
        for policy in p.get("Policies").and_then(Value::as_array).into_iter().flatten() {
            let name = policy
                .get("PolicyName")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{logical}: every Policies entry needs PolicyName"))?;
            let document = policy
                .get("PolicyDocument")
                .ok_or_else(|| format!("{logical}: policy {name} needs PolicyDocument"))?;
            policies.insert(name.to_owned(), document.to_string());
        }
        out.push(RoleSpec {
            name: text("RoleName").ok_or_else(|| format!("{logical}: devstack needs a RoleName"))?,
            path: text("Path").unwrap_or_else(|| "/".to_owned()),
            description: text("Description"),
            trust: trust.to_string(),
            policies,
            managed: p
                .get("ManagedPolicyArns")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            boundary: text("PermissionsBoundary"),
            max_session: p
                .get("MaxSessionDuration")
                .and_then(Value::as_i64)
                .and_then(|v| i32::try_from(v).ok())
                .unwrap_or(3600),
            tags: p
                .get("Tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| Some((t.get("Key")?.as_str()?.to_owned(), t.get("Value")?.as_str()?.to_owned())))
                .collect(),
        });
    }
    Ok(out)
}

fn check_template(template: &str, capabilities: &[String]) -> Result<(), CfnError> {
    if template.len() > TEMPLATE_LIMIT {
        return Err(validation(format!(
            "1 validation error detected: Value at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to {TEMPLATE_LIMIT}"
        )));
    }
    let roles = roles(template).map_err(validation)?;
    if !roles.is_empty() && !capabilities.iter().any(|c| c == "CAPABILITY_NAMED_IAM") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "InsufficientCapabilitiesException",
            "Requires capabilities : [CAPABILITY_NAMED_IAM]",
        ));
    }
    Ok(())
}

/// Creates or updates each target's instance; the results and the instances as they now are.
async fn deploy(
    app: &App,
    set: &StackSet,
    targets: &[(String, String, String)],
) -> (Vec<OperationResult>, BTreeMap<(String, String), Instance>) {
    let specs = roles(&set.template).unwrap_or_default();
    let mut results = Vec::new();
    let mut instances = BTreeMap::new();
    for (account, region, ou) in targets {
        tokio::time::sleep(PER_ACCOUNT).await;
        let outcome = match app.aws.stacksets.failure(account) {
            Some(reason) => Err(reason),
            None => {
                let iam = app.aws.upstream.iam(account);
                let mut outcome = Ok(());
                for spec in &specs {
                    if let Err(e) = put_role(&iam, spec).await {
                        outcome = Err(format!(
                            "ResourceLogicalId:{}, ResourceType:AWS::IAM::Role, ResourceStatusReason:{e}",
                            spec.name
                        ));
                        break;
                    }
                }
                outcome
            }
        };
        let stack_id = set
            .instances
            .get(&(account.clone(), region.clone()))
            .map(|i| i.stack_id.clone())
            .unwrap_or_else(|| {
                let uuid = ids::uuid_v4();
                format!(
                    "arn:aws:cloudformation:{region}:{account}:stack/StackSet-{}-{uuid}/{uuid}",
                    set.name
                )
            });
        let (status, detailed, reason) = match &outcome {
            Ok(()) => ("CURRENT", "SUCCEEDED", None),
            Err(reason) => ("OUTDATED", "FAILED", Some(reason.clone())),
        };
        tracing::info!(stack_set = %set.name, account, region, status = detailed, reason = ?reason, "stack instance");
        results.push(OperationResult {
            account: account.clone(),
            region: region.clone(),
            ou: ou.clone(),
            status: detailed,
            reason: reason.clone(),
        });
        instances.insert(
            (account.clone(), region.clone()),
            Instance {
                ou: ou.clone(),
                status,
                detailed,
                reason,
                stack_id,
            },
        );
    }
    // IAM changed without passing the front door: Vantage's cached verdicts are stale.
    app.verifier.invalidate();
    (results, instances)
}

/// Deletes each target's instance (its role too unless `retain`).
async fn remove(app: &App, set: &StackSet, targets: &[(String, String, String)], retain: bool) -> Vec<OperationResult> {
    let specs = roles(&set.template).unwrap_or_default();
    let mut results = Vec::new();
    for (account, region, ou) in targets {
        if !set.instances.contains_key(&(account.clone(), region.clone())) {
            continue;
        }
        tokio::time::sleep(PER_ACCOUNT).await;
        let mut outcome = Ok(());
        if !retain {
            let iam = app.aws.upstream.iam(account);
            for spec in &specs {
                if let Err(e) = delete_role(&iam, &spec.name).await {
                    outcome = Err(e);
                    break;
                }
            }
        }
        results.push(OperationResult {
            account: account.clone(),
            region: region.clone(),
            ou: ou.clone(),
            status: if outcome.is_ok() { "SUCCEEDED" } else { "FAILED" },
            reason: outcome.err(),
        });
    }
    app.verifier.invalidate();
    results
}

/// What CloudFormation does for an `AWS::IAM::Role`: create it, or bring it to the template.
async fn put_role(iam: &aws_sdk_iam::Client, spec: &RoleSpec) -> Result<(), String> {
    let found = match iam.get_role().role_name(&spec.name).send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => false,
        Err(e) => return Err(describe(&e)),
    };
    if found {
        iam.update_assume_role_policy()
            .role_name(&spec.name)
            .policy_document(&spec.trust)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let mut update = iam
            .update_role()
            .role_name(&spec.name)
            .max_session_duration(spec.max_session);
        if let Some(d) = &spec.description {
            update = update.description(d);
        }
        update.send().await.map_err(|e| describe(&e))?;
    } else {
        let mut create = iam
            .create_role()
            .role_name(&spec.name)
            .path(&spec.path)
            .assume_role_policy_document(&spec.trust)
            .max_session_duration(spec.max_session);
        if let Some(d) = &spec.description {
            create = create.description(d);
        }
        if let Some(b) = &spec.boundary {
            create = create.permissions_boundary(b);
        }
        for (k, v) in &spec.tags {
            create = create.tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| e.to_string())?,
            );
        }
        create.send().await.map_err(|e| describe(&e))?;
    }
    let existing = iam
        .list_role_policies()
        .role_name(&spec.name)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    for name in existing.policy_names() {
        if !spec.policies.contains_key(name) {
            iam.delete_role_policy()
                .role_name(&spec.name)
                .policy_name(name)
                .send()
                .await
                .map_err(|e| describe(&e))?;
        }
    }
    for (name, document) in &spec.policies {
        iam.put_role_policy()
            .role_name(&spec.name)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| describe(&e))?;
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(&spec.name)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let attached: BTreeSet<String> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect();
    for arn in attached.difference(&spec.managed) {
        iam.detach_role_policy()
            .role_name(&spec.name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| describe(&e))?;
    }
    for arn in spec.managed.difference(&attached) {
        iam.attach_role_policy()
            .role_name(&spec.name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| describe(&e))?;
    }
    Ok(())
}

/// Deletes the role with its inline policies and attachments; a missing role is deleted.
async fn delete_role(iam: &aws_sdk_iam::Client, name: &str) -> Result<(), String> {
    let policies = match iam.list_role_policies().role_name(name).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => return Ok(()),
        Err(e) => return Err(describe(&e)),
    };
    for policy in policies.policy_names() {
        iam.delete_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| describe(&e))?;
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    for arn in attached.attached_policies().iter().filter_map(|p| p.policy_arn()) {
        iam.detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| describe(&e))?;
    }
    match iam.delete_role().role_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("NoSuchEntity") => Ok(()),
        Err(e) => Err(describe(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_give_lists_and_pairs_in_order() {
        let form = Form(
            query_pairs("Regions.member.2=eu-west-1&Regions.member.1=us-east-1&Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.2.Key=b")
                .collect(),
        );
        assert_eq!(form.list("Regions"), ["us-east-1", "eu-west-1"]);
        assert_eq!(
            form.pairs("Tags", "Key", "Value"),
            [("a".to_owned(), "1".to_owned()), ("b".to_owned(), String::new())]
        );
    }

    #[test]
    fn a_role_template_is_read_and_other_resources_are_refused() {
        let template = r#"{"Resources":{"Role":{"Type":"AWS::IAM::Role","Properties":{
            "RoleName":"vantage","AssumeRolePolicyDocument":{"Statement":[]},
            "Policies":[{"PolicyName":"VantageRoot","PolicyDocument":{"Statement":[]}}],
            "ManagedPolicyArns":["arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"],
            "Tags":[{"Key":"team","Value":"finops"}]}}}}"#;
        let specs = roles(template).expect("a role template");
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].name, "vantage");
        assert_eq!(specs[0].path, "/");
        assert!(specs[0].policies.contains_key("VantageRoot"));
        assert_eq!(specs[0].tags, [("team".to_owned(), "finops".to_owned())]);
        assert!(
            check_template(template, &[]).is_err(),
            "named roles need CAPABILITY_NAMED_IAM"
        );
        assert!(check_template(template, &["CAPABILITY_NAMED_IAM".to_owned()]).is_ok());
        assert!(roles(r#"{"Resources":{"B":{"Type":"AWS::S3::Bucket"}}}"#).is_err());
    }
}
