//! CloudFormation StackSets with the service-managed permission model: the organisation's
//! trusted access, the StackSet, its stack instances in member accounts and the operations that
//! change them.
//!
//! Facts this relies on: one operation runs at a time per StackSet (another call meanwhile gets
//! `OperationInProgressException`, which is waited out here); each operation is tracked by its
//! `OperationId` (sent by the caller, so a retried request cannot start a second operation);
//! a failed instance is `OUTDATED` with `DetailedStatus = FAILED` and a `StatusReason`;
//! `UpdateStackSet` rolls the template out to every instance; `DeleteStackSet` needs every
//! instance deleted first. A delegated administrator calls with `CallAs = DELEGATED_ADMIN`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::types::{
    AccountFilterType, AutoDeployment, CallAs, Capability, ConcurrencyMode, DeploymentTargets, OrganizationStatus,
    PermissionModels, StackSetOperationPreferences, StackSetOperationStatus, Tag,
};
use tfplugin::{CancellationToken, Diagnostic};

use crate::aws::errors::{Attempts, describe, refused};

/// How often a running operation is looked at.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum CfnError {
    #[error("CloudFormation {operation} failed: {message}")]
    Failed {
        operation: &'static str,
        code: Option<String>,
        message: String,
        /// CloudFormation answered with a 4xx, so the call surely did not act.
        refused: bool,
    },
    #[error("the StackSet operation did not finish within {0:?}")]
    TimedOut(Duration),
    #[error("cancelled")]
    Cancelled,
}

impl CfnError {
    fn from_sdk<E>(operation: &'static str, e: &SdkError<E, HttpResponse>) -> CfnError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if crate::aws::errors::stopped_by_terraform(e) {
            return CfnError::Cancelled;
        }
        CfnError::Failed {
            operation,
            code: match e {
                SdkError::ServiceError(_) => e.code().map(str::to_string),
                _ => None,
            },
            message: describe(e),
            refused: refused(e),
        }
    }

    /// Whether a failed write may still have taken effect: no answer, a server error, or the
    /// provider stopped waiting (cancelled, timed out).
    pub fn may_have_acted(&self) -> bool {
        !matches!(self, CfnError::Failed { refused: true, .. })
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            CfnError::Failed { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            CfnError::Failed { message, .. } => message,
            _ => "",
        }
    }

    pub fn to_diagnostic(&self, summary: &str, hint: &str) -> Diagnostic {
        let mut detail = self.to_string();
        if !hint.is_empty() {
            detail.push_str(". ");
            detail.push_str(hint);
        }
        Diagnostic::error(summary, detail)
    }
}

/// Who the caller is for StackSets: the management account, or a delegated administrator.
pub fn call_as(delegated_admin: bool) -> CallAs {
    if delegated_admin {
        CallAs::DelegatedAdmin
    } else {
        CallAs::SelfValue
    }
}

/// Whether StackSets may act on the organisation (`DescribeOrganizationsAccess`).
pub async fn organizations_access(client: &Client, call_as: &CallAs) -> Result<bool, CfnError> {
    let out = client
        .describe_organizations_access()
        .call_as(call_as.clone())
        .send()
        .await
        .map_err(|e| CfnError::from_sdk("DescribeOrganizationsAccess", &e))?;
    Ok(out.status() == Some(&OrganizationStatus::Enabled))
}

/// Turns trusted access on (management account only: the call takes no `CallAs`).
pub async fn activate_organizations_access(client: &Client) -> Result<(), CfnError> {
    client
        .activate_organizations_access()
        .send()
        .await
        .map(drop)
        .map_err(|e| CfnError::from_sdk("ActivateOrganizationsAccess", &e))
}

/// What the StackSet itself holds.
#[derive(Debug, Clone, PartialEq)]
pub struct StackSetSpec {
    pub name: String,
    pub template: String,
    pub description: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub auto_deployment: bool,
    pub retain_stacks_on_account_removal: bool,
}

/// How an operation rolls out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preferences {
    pub max_concurrent_percentage: Option<i32>,
    pub failure_tolerance_percentage: Option<i32>,
    pub concurrency_mode: Option<String>,
}

impl Preferences {
    fn sdk(&self) -> StackSetOperationPreferences {
        StackSetOperationPreferences::builder()
            .set_max_concurrent_percentage(self.max_concurrent_percentage)
            .set_failure_tolerance_percentage(self.failure_tolerance_percentage)
            .set_concurrency_mode(self.concurrency_mode.as_deref().map(ConcurrencyMode::from))
            .build()
    }
}

/// Where instances go: OUs, optionally narrowed by accounts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Targets {
    pub organizational_unit_ids: BTreeSet<String>,
    pub accounts: BTreeSet<String>,
    /// `NONE | INTERSECTION | DIFFERENCE | UNION`.
    pub account_filter_type: Option<String>,
}

impl Targets {
    fn sdk(&self) -> DeploymentTargets {
        let filter = if self.accounts.is_empty() {
            None
        } else {
            self.account_filter_type.as_deref().map(AccountFilterType::from)
        };
        DeploymentTargets::builder()
            .set_organizational_unit_ids(Some(self.organizational_unit_ids.iter().cloned().collect()))
            .set_accounts((!self.accounts.is_empty()).then(|| self.accounts.iter().cloned().collect()))
            .set_account_filter_type(filter)
            .build()
    }
}

fn tags(spec: &StackSetSpec) -> Vec<Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn auto_deployment(spec: &StackSetSpec) -> AutoDeployment {
    AutoDeployment::builder()
        .enabled(spec.auto_deployment)
        .retain_stacks_on_account_removal(spec.retain_stacks_on_account_removal && spec.auto_deployment)
        .build()
}

/// What CreateStackSet gave: the id, and whether the StackSet was the one an earlier attempt
/// of the same call made (its answer lost), adopted rather than created by the last attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedStackSet {
    pub id: String,
    pub adopted: bool,
}

/// Creates the StackSet. `NameAlreadyExistsException` from the SDK's retry of a create whose
/// answer was lost, about a StackSet exactly as asked and deployed nowhere yet, is that first
/// attempt's StackSet: adopted (see [`StackSetFacts::created_by`]).
pub async fn create_stack_set(
    client: &Client,
    call_as: &CallAs,
    spec: &StackSetSpec,
) -> Result<CreatedStackSet, CfnError> {
    let attempts = Attempts::default();
    let out = client
        .create_stack_set()
        .stack_set_name(&spec.name)
        .template_body(&spec.template)
        .set_description(spec.description.clone())
        .capabilities(Capability::CapabilityNamedIam)
        .permission_model(PermissionModels::ServiceManaged)
        .auto_deployment(auto_deployment(spec))
        .set_tags(Some(tags(spec)))
        .call_as(call_as.clone())
        .customize()
        .interceptor(attempts.clone())
        .send()
        .await;
    let e = match out {
        Ok(out) => {
            return Ok(CreatedStackSet {
                id: out.stack_set_id().unwrap_or_default().to_string(),
                adopted: false,
            });
        }
        Err(e) => e,
    };
    // Only a retried call can have met its own StackSet; a first attempt told so met an older one.
    if attempts.retried()
        && e.as_service_error()
            .is_some_and(|s| s.is_name_already_exists_exception())
        && let Ok(Some(facts)) = describe_stack_set(client, call_as, &spec.name).await
        && facts.created_by(spec)
    {
        tracing::info!(stack_set = %spec.name, "CreateStackSet was retried after its answer was lost: adopting the StackSet it created");
        return Ok(CreatedStackSet {
            id: facts.id,
            adopted: true,
        });
    }
    Err(CfnError::from_sdk("CreateStackSet", &e))
}

/// The StackSet as CloudFormation holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StackSetFacts {
    pub id: String,
    pub template: String,
    pub description: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub auto_deployment: bool,
    pub retain_stacks_on_account_removal: bool,
    pub organizational_unit_ids: BTreeSet<String>,
}

impl StackSetFacts {
    /// Whether this is the StackSet a CreateStackSet of `spec` made moments ago: what it asked
    /// for (template, description, tags, auto-deployment), and deployed to no OU yet.
    /// CloudFormation keeps no creation time for a StackSet, so a new one is told from an
    /// older one by having nothing deployed.
    pub fn created_by(&self, spec: &StackSetSpec) -> bool {
        let description = |d: Option<&str>| d.filter(|d| !d.is_empty()).map(str::to_string);
        self.template == spec.template
            && description(self.description.as_deref()) == description(spec.description.as_deref())
            && self.tags == spec.tags
            && self.auto_deployment == spec.auto_deployment
            && self.retain_stacks_on_account_removal == (spec.retain_stacks_on_account_removal && spec.auto_deployment)
            && self.organizational_unit_ids.is_empty()
    }
}

/// `None` when there is no such StackSet (or it was deleted).
pub async fn describe_stack_set(
    client: &Client,
    call_as: &CallAs,
    name: &str,
) -> Result<Option<StackSetFacts>, CfnError> {
    let out = match client
        .describe_stack_set()
        .stack_set_name(name)
        .call_as(call_as.clone())
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_stack_set_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(CfnError::from_sdk("DescribeStackSet", &e)),
    };
    let Some(set) = out.stack_set() else { return Ok(None) };
    if set.status().is_some_and(|s| s.as_str() == "DELETED") {
        return Ok(None);
    }
    let auto = set.auto_deployment();
    Ok(Some(StackSetFacts {
        id: set.stack_set_id().unwrap_or_default().to_string(),
        template: set.template_body().unwrap_or_default().to_string(),
        description: set.description().map(str::to_string),
        tags: set
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
        auto_deployment: auto.and_then(|a| a.enabled()).unwrap_or(false),
        retain_stacks_on_account_removal: auto.and_then(|a| a.retain_stacks_on_account_removal()).unwrap_or(false),
        organizational_unit_ids: set.organizational_unit_ids().iter().cloned().collect(),
    }))
}

/// One stack instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFacts {
    pub account: String,
    pub region: String,
    pub organizational_unit_id: Option<String>,
    /// `CURRENT | OUTDATED | INOPERABLE`.
    pub status: String,
    /// `SUCCEEDED | FAILED | RUNNING | PENDING | CANCELLED | ...`.
    pub detailed_status: Option<String>,
    pub reason: Option<String>,
}

/// Every stack instance, all pages.
pub async fn list_stack_instances(
    client: &Client,
    call_as: &CallAs,
    name: &str,
) -> Result<Vec<InstanceFacts>, CfnError> {
    let pages = client
        .list_stack_instances()
        .stack_set_name(name)
        .call_as(call_as.clone())
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| CfnError::from_sdk("ListStackInstances", &e))?;
    Ok(pages
        .iter()
        .flat_map(|p| p.summaries())
        .map(|s| InstanceFacts {
            account: s.account().unwrap_or_default().to_string(),
            region: s.region().unwrap_or_default().to_string(),
            organizational_unit_id: s.organizational_unit_id().map(str::to_string),
            status: s.status().map_or("UNKNOWN", |v| v.as_str()).to_string(),
            detailed_status: s
                .stack_instance_status()
                .and_then(|d| d.detailed_status())
                .map(|d| d.as_str().to_string()),
            reason: s.status_reason().map(str::to_string),
        })
        .collect())
}

/// One account's result in an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountResult {
    pub account: String,
    pub region: String,
    pub status: String,
    pub reason: Option<String>,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationOutcome {
    pub status: String,
    pub reason: Option<String>,
    pub results: Vec<AccountResult>,
}

impl OperationOutcome {
    pub fn failed_accounts(&self) -> Vec<&AccountResult> {
        self.results.iter().filter(|r| r.status == "FAILED").collect()
    }
}

/// Which operation to start.
pub enum Start<'a> {
    Instances {
        targets: &'a Targets,
        regions: &'a BTreeSet<String>,
    },
    RemoveInstances {
        targets: &'a Targets,
        regions: &'a BTreeSet<String>,
        retain_stacks: bool,
    },
    UpdateStackSet {
        spec: &'a StackSetSpec,
    },
}

impl Start<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Start::Instances { .. } => "CreateStackInstances",
            Start::RemoveInstances { .. } => "DeleteStackInstances",
            Start::UpdateStackSet { .. } => "UpdateStackSet",
        }
    }
}

/// The time left before `deadline`, as an error once it has passed.
fn left(deadline: Instant, budget: Duration) -> Result<Duration, CfnError> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(CfnError::TimedOut(budget))
}

async fn pause(cancel: &CancellationToken, wait: Duration) -> Result<(), CfnError> {
    tokio::select! {
        _ = tokio::time::sleep(wait) => Ok(()),
        _ = cancel.cancelled() => Err(CfnError::Cancelled),
    }
}

/// Starts an operation (waiting out another one in progress) and waits for it to end, all
/// within `budget`. Each account's result is logged at INFO.
pub async fn run_operation(
    client: &Client,
    cancel: &CancellationToken,
    call_as: &CallAs,
    name: &str,
    preferences: &Preferences,
    start: Start<'_>,
    budget: Duration,
) -> Result<OperationOutcome, CfnError> {
    let deadline = Instant::now() + budget;
    // One id for every attempt: a request whose answer was lost is not started twice.
    let operation_id = uuid_like();
    loop {
        let sent = tokio::select! {
            r = send_start(client, call_as, name, preferences, &start, &operation_id) => r,
            _ = cancel.cancelled() => return Err(CfnError::Cancelled),
        };
        match sent {
            Ok(()) => break,
            Err(e) if e.code() == Some("OperationInProgressException") => {
                tracing::info!(
                    stack_set = name,
                    "another StackSet operation is in progress; waiting for it"
                );
                left(deadline, budget)?;
                pause(cancel, POLL * 3).await?;
            }
            Err(e) => return Err(e),
        }
    }
    tracing::info!(
        stack_set = name,
        operation = start.name(),
        operation_id,
        "StackSet operation started"
    );
    loop {
        let described = client
            .describe_stack_set_operation()
            .stack_set_name(name)
            .operation_id(&operation_id)
            .call_as(call_as.clone())
            .send()
            .await
            .map_err(|e| CfnError::from_sdk("DescribeStackSetOperation", &e))?;
        let operation = described.stack_set_operation();
        let status = operation.and_then(|o| o.status()).cloned();
        match status {
            Some(
                StackSetOperationStatus::Succeeded | StackSetOperationStatus::Failed | StackSetOperationStatus::Stopped,
            ) => {
                let results = operation_results(client, call_as, name, &operation_id).await?;
                for r in &results {
                    tracing::info!(
                        stack_set = name,
                        account = r.account,
                        region = r.region,
                        status = r.status,
                        reason = r.reason.as_deref().unwrap_or(""),
                        "stack instance result"
                    );
                }
                return Ok(OperationOutcome {
                    status: status.map_or_else(String::new, |s| s.as_str().to_string()),
                    reason: operation.and_then(|o| o.status_reason()).map(str::to_string),
                    results,
                });
            }
            _ => {
                tracing::debug!(stack_set = name, operation_id, status = ?status, "StackSet operation running");
                left(deadline, budget)?;
                pause(cancel, POLL).await?;
            }
        }
    }
}

async fn send_start(
    client: &Client,
    call_as: &CallAs,
    name: &str,
    preferences: &Preferences,
    start: &Start<'_>,
    operation_id: &str,
) -> Result<(), CfnError> {
    let sent = match start {
        Start::Instances { targets, regions } => client
            .create_stack_instances()
            .stack_set_name(name)
            .deployment_targets(targets.sdk())
            .set_regions(Some(regions.iter().cloned().collect()))
            .operation_preferences(preferences.sdk())
            .operation_id(operation_id)
            .call_as(call_as.clone())
            .send()
            .await
            .map(drop)
            .map_err(|e| CfnError::from_sdk("CreateStackInstances", &e)),
        Start::RemoveInstances {
            targets,
            regions,
            retain_stacks,
        } => client
            .delete_stack_instances()
            .stack_set_name(name)
            .deployment_targets(targets.sdk())
            .set_regions(Some(regions.iter().cloned().collect()))
            .retain_stacks(*retain_stacks)
            .operation_preferences(preferences.sdk())
            .operation_id(operation_id)
            .call_as(call_as.clone())
            .send()
            .await
            .map(drop)
            .map_err(|e| CfnError::from_sdk("DeleteStackInstances", &e)),
        Start::UpdateStackSet { spec } => client
            .update_stack_set()
            .stack_set_name(name)
            .template_body(&spec.template)
            .set_description(spec.description.clone())
            .capabilities(Capability::CapabilityNamedIam)
            .auto_deployment(auto_deployment(spec))
            .set_tags(Some(tags(spec)))
            .operation_preferences(preferences.sdk())
            .operation_id(operation_id)
            .call_as(call_as.clone())
            .send()
            .await
            .map(drop)
            .map_err(|e| CfnError::from_sdk("UpdateStackSet", &e)),
    };
    // The same id sent again after a lost answer: the operation exists, and is ours.
    match sent {
        Err(e) if e.code() == Some("OperationIdAlreadyExistsException") => Ok(()),
        other => other,
    }
}

async fn operation_results(
    client: &Client,
    call_as: &CallAs,
    name: &str,
    operation_id: &str,
) -> Result<Vec<AccountResult>, CfnError> {
    let pages = client
        .list_stack_set_operation_results()
        .stack_set_name(name)
        .operation_id(operation_id)
        .call_as(call_as.clone())
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| CfnError::from_sdk("ListStackSetOperationResults", &e))?;
    Ok(pages
        .iter()
        .flat_map(|p| p.summaries())
        .map(|s| AccountResult {
            account: s.account().unwrap_or_default().to_string(),
            region: s.region().unwrap_or_default().to_string(),
            status: s.status().map_or("UNKNOWN", |v| v.as_str()).to_string(),
            reason: s.status_reason().map(str::to_string),
        })
        .collect())
}

/// Deletes the StackSet; one that is already gone counts as deleted.
pub async fn delete_stack_set(client: &Client, call_as: &CallAs, name: &str) -> Result<(), CfnError> {
    match client
        .delete_stack_set()
        .stack_set_name(name)
        .call_as(call_as.clone())
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("StackSetNotFoundException") => Ok(()),
        Err(e) => Err(CfnError::from_sdk("DeleteStackSet", &e)),
    }
}

/// A random operation id (CloudFormation accepts up to 128 characters of `[a-zA-Z0-9-]`).
fn uuid_like() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("vantage-{}", &hex)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::aws::test_endpoint::{Answer, serve};

    fn xml(action: &str, result: &str) -> Answer {
        Answer {
            status: 200,
            content_type: "text/xml",
            headers: Vec::new(),
            body: format!(
                "<{action}Response xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><{action}Result>{result}\
                 </{action}Result><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></{action}Response>"
            ),
        }
    }

    fn client(url: &str) -> Client {
        client_retrying(url, aws_sdk_cloudformation::config::retry::RetryConfig::disabled())
    }

    /// A client of the scripted endpoint at `url`, retrying as `retry` says.
    fn client_retrying(url: &str, retry: aws_sdk_cloudformation::config::retry::RetryConfig) -> Client {
        use aws_sdk_cloudformation::config::{BehaviorVersion, Credentials, Region};
        Client::from_conf(
            aws_sdk_cloudformation::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(url)
                .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
                .retry_config(retry)
                .build(),
        )
    }

    /// A CloudFormation that acted on the first CreateStackSet but answered 500, then tells the
    /// SDK's retry the name exists; its StackSet holds `held_template` and no OU.
    async fn lost_first_answer(held_template: &'static str) -> String {
        let creates = Arc::new(Mutex::new(0));
        serve(move |request| {
            let body = request.rsplit("\r\n\r\n").next().unwrap_or_default();
            if body.contains("Action=DescribeStackSet") {
                return xml(
                    "DescribeStackSet",
                    &format!(
                        "<StackSet><StackSetName>set</StackSetName><StackSetId>set:1</StackSetId>\
                         <TemplateBody>{held_template}</TemplateBody><Status>ACTIVE</Status><AutoDeployment>\
                         <Enabled>true</Enabled><RetainStacksOnAccountRemoval>false</RetainStacksOnAccountRemoval>\
                         </AutoDeployment></StackSet>"
                    ),
                );
            }
            let mut n = creates.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *n += 1;
            let (status, code) = if *n == 1 {
                (500, "InternalFailure")
            } else {
                (409, "NameAlreadyExistsException")
            };
            Answer {
                status,
                content_type: "text/xml",
                headers: Vec::new(),
                body: format!(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>StackSet set</Message>\
                     </Error></ErrorResponse>"
                ),
            }
        })
        .await
    }

    /// The SDK's retry of a create whose first answer was lost: two attempts.
    fn retrying_client(url: &str) -> Client {
        client_retrying(
            url,
            aws_sdk_cloudformation::config::retry::RetryConfig::standard().with_max_attempts(2),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_retried_create_adopts_its_own_stackset_and_not_another() {
        let spec = StackSetSpec {
            name: "set".into(),
            template: "ours".into(),
            description: None,
            tags: BTreeMap::new(),
            auto_deployment: true,
            retain_stacks_on_account_removal: false,
        };
        let url = lost_first_answer("ours").await;
        let created = create_stack_set(&retrying_client(&url), &call_as(false), &spec).await;
        assert_eq!(
            created.ok(),
            Some(CreatedStackSet {
                id: "set:1".into(),
                adopted: true
            })
        );

        let url = lost_first_answer("someone else's").await;
        let refused = create_stack_set(&retrying_client(&url), &call_as(false), &spec).await;
        assert_eq!(
            refused.err().as_ref().and_then(CfnError::code),
            Some("NameAlreadyExistsException")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn another_operation_in_progress_is_waited_out_and_every_attempt_sends_one_operation_id() {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = log.clone();
        let url = serve(move |request| {
            let body = request.rsplit("\r\n\r\n").next().unwrap_or_default().to_string();
            let action = body
                .split('&')
                .find_map(|p| p.strip_prefix("Action="))
                .unwrap_or_default()
                .to_string();
            let mut log = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            log.push(body.clone());
            let starts = log.iter().filter(|b| b.contains("Action=CreateStackInstances")).count();
            let describes = log
                .iter()
                .filter(|b| b.contains("Action=DescribeStackSetOperation"))
                .count();
            match action.as_str() {
                "CreateStackInstances" if starts <= 2 => Answer {
                    status: 409,
                    content_type: "text/xml",
                    headers: Vec::new(),
                    body: "<ErrorResponse><Error><Type>Sender</Type><Code>OperationInProgressException</Code>\
                           <Message>Another Operation on StackSet is in progress</Message></Error></ErrorResponse>"
                        .to_string(),
                },
                "CreateStackInstances" => xml("CreateStackInstances", "<OperationId>x</OperationId>"),
                "DescribeStackSetOperation" => {
                    let status = if describes < 2 { "RUNNING" } else { "SUCCEEDED" };
                    xml(
                        "DescribeStackSetOperation",
                        &format!("<StackSetOperation><Status>{status}</Status></StackSetOperation>"),
                    )
                }
                _ => xml(
                    "ListStackSetOperationResults",
                    "<Summaries><member><Account>111111111111</Account><Region>us-east-1</Region>\
                     <Status>FAILED</Status><StatusReason>suspended</StatusReason></member></Summaries>",
                ),
            }
        })
        .await;
        let targets = Targets {
            organizational_unit_ids: BTreeSet::from(["ou-ab12-abcd1234".to_string()]),
            ..Targets::default()
        };
        let regions = BTreeSet::from(["us-east-1".to_string()]);
        let outcome = run_operation(
            &client(&url),
            &CancellationToken::new(),
            &call_as(false),
            "set",
            &Preferences::default(),
            Start::Instances {
                targets: &targets,
                regions: &regions,
            },
            Duration::from_secs(600),
        )
        .await
        .expect("the operation ends");
        assert_eq!(outcome.status, "SUCCEEDED");
        assert_eq!(outcome.failed_accounts().len(), 1);
        assert_eq!(outcome.failed_accounts()[0].reason.as_deref(), Some("suspended"));
        let log = log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ids: BTreeSet<&str> = log
            .iter()
            .filter(|b| b.contains("Action=CreateStackInstances"))
            .filter_map(|b| b.split('&').find_map(|p| p.strip_prefix("OperationId=")))
            .collect();
        assert_eq!(ids.len(), 1, "three attempts, one operation id: {log:?}");
    }

    #[tokio::test]
    async fn an_operation_that_never_ends_is_bounded_and_cancellable() {
        let url = serve(|request| {
            if request.contains("Action=DescribeStackSetOperation") {
                xml(
                    "DescribeStackSetOperation",
                    "<StackSetOperation><Status>RUNNING</Status></StackSetOperation>",
                )
            } else {
                xml("UpdateStackSet", "<OperationId>x</OperationId>")
            }
        })
        .await;
        let spec = StackSetSpec {
            name: "set".into(),
            template: "{}".into(),
            description: None,
            tags: BTreeMap::new(),
            auto_deployment: true,
            retain_stacks_on_account_removal: false,
        };
        let client = client(&url);
        let start = || Start::UpdateStackSet { spec: &spec };
        let timed_out = run_operation(
            &client,
            &CancellationToken::new(),
            &call_as(false),
            "set",
            &Preferences::default(),
            start(),
            Duration::from_millis(1500),
        )
        .await;
        assert!(matches!(timed_out, Err(CfnError::TimedOut(_))), "{timed_out:?}");
        let cancel = CancellationToken::new();
        cancel.cancel();
        let cancelled = run_operation(
            &client,
            &cancel,
            &call_as(false),
            "set",
            &Preferences::default(),
            start(),
            Duration::from_secs(30),
        )
        .await;
        assert!(matches!(cancelled, Err(CfnError::Cancelled)), "{cancelled:?}");
    }
}
