//! IAM: the cross-account role and its inline policies.
//!
//! Every function is one IAM operation (or the short sequence IAM demands,
//! such as emptying a role before deleting it) with its retry policy stated
//! beside it. The SDK retries throttling, 5xx answers and transport errors
//! itself (standard mode, 3 attempts); [`retry_while`] here retries only the
//! answers that mean "not yet" under IAM's eventual consistency:
//! - `MalformedPolicyDocument: Invalid principal` right after the trusted
//!   principal was created (CreateRole, UpdateAssumeRolePolicy);
//! - `NoSuchEntity` for a role created moments ago (AttachRolePolicy,
//!   PutRolePolicy), or a role that GetRole does not show yet, or shows with
//!   its unique id where the ARN belongs;
//! - `DeleteConflict` while detached policies are still being forgotten
//!   (DeleteRole).
//!
//! Each of those waits 0.5 s growing to 5 s, jittered, for at most the
//! caller's timeout (the resource's `timeouts` block, 2 minutes by default).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use aws_sdk_iam::Client;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::Tag;
use tfplugin::{CancellationToken, Diagnostic};

use crate::aws::errors::{created_since, describe, refused};
use crate::policy;
use crate::retry::{RetryError, retry_while};
use crate::tags::Tags;

/// The kind of answer IAM gave, as far as callers decide on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    NotFound,
    AlreadyExists,
    /// A principal in a trust policy IAM does not know (yet).
    InvalidPrincipal,
    LimitExceeded,
    DeleteConflict,
    /// No answer (a dropped connection, a timeout) or a server error: IAM may have carried the
    /// call out.
    NoAnswer,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// `call` names the operation and its target (`GetRole my-role`).
    #[error("{call}: {message}")]
    Failed {
        call: String,
        problem: Problem,
        message: String,
        attempts: u32,
        waited: Duration,
    },
    #[error("cancelled")]
    Cancelled,
    /// The caller's bound (a `timeouts` block) passed with a call in flight.
    #[error("not finished within {}s", waited.as_secs())]
    TimedOut { waited: Duration },
}

impl IamError {
    fn from_sdk<E>(call: String, e: &SdkError<E, HttpResponse>) -> IamError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if crate::aws::errors::stopped_by_terraform(e) {
            return IamError::Cancelled;
        }
        let problem = match crate::aws::errors::code(e) {
            Some("NoSuchEntity") => Problem::NotFound,
            Some("EntityAlreadyExists") => Problem::AlreadyExists,
            Some("LimitExceeded") => Problem::LimitExceeded,
            Some("DeleteConflict") => Problem::DeleteConflict,
            Some("MalformedPolicyDocument")
                if e.message()
                    .is_some_and(|m| m.to_ascii_lowercase().contains("invalid principal")) =>
            {
                Problem::InvalidPrincipal
            }
            _ if !refused(e) => Problem::NoAnswer,
            _ => Problem::Other,
        };
        IamError::Failed {
            call,
            problem,
            message: describe(e),
            attempts: 1,
            waited: Duration::ZERO,
        }
    }

    pub fn problem(&self) -> Option<Problem> {
        match self {
            IamError::Failed { problem, .. } => Some(*problem),
            IamError::Cancelled | IamError::TimedOut { .. } => None,
        }
    }

    pub fn is(&self, problem: Problem) -> bool {
        self.problem() == Some(problem)
    }

    /// Whether the call may have taken effect: IAM gave no answer or a server error, or the
    /// provider stopped waiting for one (cancelled, timed out).
    pub fn may_have_acted(&self) -> bool {
        match self {
            IamError::Failed { problem, .. } => *problem == Problem::NoAnswer,
            IamError::Cancelled | IamError::TimedOut { .. } => true,
        }
    }

    /// The one conversion to a diagnostic: `summary` says what failed,
    /// `hint` what to try (may be empty).
    pub fn to_diagnostic(&self, summary: &str, hint: &str) -> Diagnostic {
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!(" {hint}")
        };
        match self {
            IamError::Cancelled => Diagnostic::error(
                format!("{summary}: cancelled"),
                format!("Terraform asked the provider to stop.{hint}"),
            ),
            IamError::TimedOut { waited } => Diagnostic::error(
                summary,
                format!(
                    "IAM did not finish within {}s (the `timeouts` block; raise it if IAM is slow).{hint}",
                    waited.as_secs()
                ),
            ),
            IamError::Failed {
                call,
                message,
                attempts,
                waited,
                ..
            } if *attempts > 1 => Diagnostic::error(
                summary,
                format!(
                    "{call}: {message} (still failing after {attempts} attempts over {}s).{hint}",
                    waited.as_secs()
                ),
            ),
            IamError::Failed { call, message, .. } => Diagnostic::error(summary, format!("{call}: {message}.{hint}")),
        }
    }
}

fn from_retry(e: RetryError<IamError>) -> IamError {
    match e {
        RetryError::Cancelled => IamError::Cancelled,
        RetryError::Failed {
            error: IamError::Failed {
                call, problem, message, ..
            },
            attempts,
            waited,
        } => IamError::Failed {
            call,
            problem,
            message,
            attempts,
            waited,
        },
        RetryError::Failed { error, .. } => error,
    }
}

/// Calls `op` while it fails with `problem`, within `timeout`.
async fn retry_on<T, F, Fut>(
    cancel: &CancellationToken,
    timeout: Duration,
    problem: Problem,
    op: F,
) -> Result<T, IamError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, IamError>>,
{
    retry_while(cancel, timeout, op, |e: &IamError| e.is(problem))
        .await
        .map_err(from_retry)
}

/// What IAM holds for a role, read with three calls.
#[derive(Debug, Clone)]
pub struct RoleFacts {
    pub arn: String,
    pub unique_id: String,
    pub create_date: String,
    pub path: String,
    pub description: Option<String>,
    pub max_session_duration: i64,
    pub permissions_boundary: Option<String>,
    /// URL-decoded, as written.
    pub trust_policy: String,
    pub tags: Tags,
    pub managed_policy_arns: BTreeSet<String>,
    pub inline_policy_names: BTreeSet<String>,
}

/// GetRole, ListAttachedRolePolicies and ListRolePolicies; `None` when
/// there is no such role.
pub async fn find_role(iam: &Client, name: &str) -> Result<Option<RoleFacts>, IamError> {
    let out = match iam.get_role().role_name(name).send().await {
        Ok(o) => o,
        Err(e) => {
            let e = IamError::from_sdk(format!("GetRole {name}"), &e);
            return if e.is(Problem::NotFound) { Ok(None) } else { Err(e) };
        }
    };
    let Some(role) = out.role() else { return Ok(None) };
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| IamError::from_sdk(format!("ListAttachedRolePolicies {name}"), &e))?;
    let inline = iam
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| IamError::from_sdk(format!("ListRolePolicies {name}"), &e))?;
    Ok(Some(RoleFacts {
        arn: role.arn().to_string(),
        unique_id: role.role_id().to_string(),
        create_date: role
            .create_date()
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default(),
        path: role.path().to_string(),
        description: role.description().filter(|d| !d.is_empty()).map(str::to_string),
        max_session_duration: role.max_session_duration().map_or(3600, i64::from),
        permissions_boundary: role
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn())
            .map(str::to_string),
        trust_policy: policy::decode_iam(role.assume_role_policy_document().unwrap_or_default()),
        tags: role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        managed_policy_arns: attached
            .iter()
            .filter_map(|p| p.policy_arn())
            .map(str::to_string)
            .collect(),
        inline_policy_names: inline.into_iter().collect(),
    }))
}

impl RoleFacts {
    /// Whether this is the role a CreateRole with `settings` that started at `call_started`
    /// created: the SDK retries a CreateRole whose answer was lost, and the retry's
    /// `EntityAlreadyExists` then names the role its first attempt made. Same trust policy,
    /// path and tags, and created since the call started.
    pub fn created_by(&self, settings: &RoleSettings, call_started: SystemTime) -> bool {
        policy::equivalent(&self.trust_policy, &settings.trust_policy)
            && self.path == settings.path
            && self.tags == settings.tags
            && self.description.as_deref() == settings.description.as_deref().filter(|d| !d.is_empty())
            && created_since(&self.create_date, call_started)
    }
}

/// A role's ARN and trust policy (URL-decoded), read with GetRole alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleTrust {
    pub arn: String,
    pub trust_policy: String,
}

/// GetRole only, for the Vantage registration's diagnosis, which needs
/// nothing else; `None` when there is no such role.
pub async fn role_trust(iam: &Client, name: &str) -> Result<Option<RoleTrust>, IamError> {
    match iam.get_role().role_name(name).send().await {
        Ok(out) => Ok(out.role.map(|role| RoleTrust {
            trust_policy: policy::decode_iam(role.assume_role_policy_document().unwrap_or_default()),
            arn: role.arn,
        })),
        Err(e) => {
            let e = IamError::from_sdk(format!("GetRole {name}"), &e);
            if e.is(Problem::NotFound) { Ok(None) } else { Err(e) }
        }
    }
}

/// Waits until GetRole shows `name` with a real ARN (right after CreateRole
/// IAM may not show it, or show its unique id in the ARN's place).
pub async fn wait_for_role(
    iam: &Client,
    cancel: &CancellationToken,
    timeout: Duration,
    name: &str,
) -> Result<RoleFacts, IamError> {
    let not_yet = || IamError::Failed {
        call: format!("GetRole {name}"),
        problem: Problem::NotFound,
        message: format!(
            "IAM did not show {name} within {}s of creating it. Run apply again",
            timeout.as_secs()
        ),
        attempts: 1,
        waited: Duration::ZERO,
    };
    retry_on(cancel, timeout, Problem::NotFound, || async {
        match find_role(iam, name).await? {
            Some(role) if role.arn.starts_with("arn:") => Ok(role),
            _ => Err(not_yet()),
        }
    })
    .await
}

/// The parts of a role the provider sets, as plain values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleSettings {
    /// Fixed once the role exists.
    pub path: String,
    pub trust_policy: String,
    pub description: Option<String>,
    pub permissions_boundary: Option<String>,
    pub max_session_duration: i64,
    pub tags: Tags,
    pub managed_policy_arns: BTreeSet<String>,
}

fn to_tags(tags: &Tags) -> Result<Vec<Tag>, IamError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder().key(k).value(v).build().map_err(|e| IamError::Failed {
                call: "TagRole".to_string(),
                problem: Problem::Other,
                message: format!("invalid tag {k:?}: {e}"),
                attempts: 1,
                waited: Duration::ZERO,
            })
        })
        .collect()
}

fn session_seconds(max_session_duration: i64) -> i32 {
    i32::try_from(max_session_duration).unwrap_or(i32::MAX)
}

/// CreateRole (without managed policies: attach them with
/// [`attach_managed_policy`]), retried while the trusted principal is not valid yet.
pub async fn create_role(
    iam: &Client,
    cancel: &CancellationToken,
    timeout: Duration,
    name: &str,
    role: &RoleSettings,
) -> Result<(), IamError> {
    let tags = to_tags(&role.tags)?;
    retry_on(cancel, timeout, Problem::InvalidPrincipal, || async {
        iam.create_role()
            .role_name(name)
            .path(&role.path)
            .assume_role_policy_document(&role.trust_policy)
            .max_session_duration(session_seconds(role.max_session_duration))
            .set_tags(if tags.is_empty() { None } else { Some(tags.clone()) })
            .set_description(role.description.clone())
            .set_permissions_boundary(role.permissions_boundary.clone())
            .send()
            .await
            .map(drop)
            .map_err(|e| IamError::from_sdk(format!("CreateRole {name}"), &e))
    })
    .await
}

/// Takes the role from `before` to `after` with only the calls the
/// difference needs: UpdateRole, UpdateAssumeRolePolicy, the permissions
/// boundary, managed policy attachments, tags.
///
/// Ends with `Cancelled` as soon as Terraform asks to stop: the role only
/// changes in place here, so the next refresh shows whatever was applied.
pub async fn change_role(
    iam: &Client,
    cancel: &CancellationToken,
    timeout: Duration,
    name: &str,
    before: &RoleSettings,
    after: &RoleSettings,
) -> Result<(), IamError> {
    tokio::select! {
        changed = change_role_settings(iam, cancel, timeout, name, before, after) => changed,
        _ = cancel.cancelled() => Err(IamError::Cancelled),
    }
}

async fn change_role_settings(
    iam: &Client,
    cancel: &CancellationToken,
    timeout: Duration,
    name: &str,
    before: &RoleSettings,
    after: &RoleSettings,
) -> Result<(), IamError> {
    if after.description != before.description || after.max_session_duration != before.max_session_duration {
        iam.update_role()
            .role_name(name)
            .description(after.description.as_deref().unwrap_or_default())
            .max_session_duration(session_seconds(after.max_session_duration))
            .send()
            .await
            .map_err(|e| IamError::from_sdk(format!("UpdateRole {name}"), &e))?;
    }
    if after.trust_policy != before.trust_policy && !after.trust_policy.is_empty() {
        put_trust_policy(iam, cancel, timeout, name, &after.trust_policy).await?;
    }
    if after.permissions_boundary != before.permissions_boundary {
        set_permissions_boundary(iam, name, after.permissions_boundary.as_deref()).await?;
    }
    for arn in after.managed_policy_arns.difference(&before.managed_policy_arns) {
        attach_managed_policy(iam, cancel, timeout, name, arn).await?;
    }
    for arn in before.managed_policy_arns.difference(&after.managed_policy_arns) {
        detach_managed_policy(iam, name, arn).await?;
    }
    let (set, remove) = crate::tags::diff(&before.tags, &after.tags);
    retag_role(iam, name, &set, remove).await
}

/// UpdateAssumeRolePolicy, retried while the trusted principal is not valid yet.
pub async fn put_trust_policy(
    iam: &Client,
    cancel: &CancellationToken,
    timeout: Duration,
    name: &str,
    document: &str,
) -> Result<(), IamError> {
    retry_on(cancel, timeout, Problem::InvalidPrincipal, || async {
        iam.update_assume_role_policy()
            .role_name(name)
            .policy_document(document)
            .send()
            .await
            .map(drop)
            .map_err(|e| IamError::from_sdk(format!("UpdateAssumeRolePolicy {name}"), &e))
    })
    .await
}

/// PutRolePermissionsBoundary, or DeleteRolePermissionsBoundary for `None`.
pub async fn set_permissions_boundary(iam: &Client, name: &str, boundary: Option<&str>) -> Result<(), IamError> {
    match boundary {
        Some(b) => iam
            .put_role_permissions_boundary()
            .role_name(name)
            .permissions_boundary(b)
            .send()
            .await
            .map(drop)
            .map_err(|e| IamError::from_sdk(format!("PutRolePermissionsBoundary {name}"), &e)),
        None => iam
            .delete_role_permissions_boundary()
            .role_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| IamError::from_sdk(format!("DeleteRolePermissionsBoundary {name}"), &e)),
    }
}

/// AttachRolePolicy, retried while a new role is not visible yet.
pub async fn attach_managed_policy(
    iam: &Client,
    cancel: &CancellationToken,
    timeout: Duration,
    name: &str,
    policy_arn: &str,
) -> Result<(), IamError> {
    retry_on(cancel, timeout, Problem::NotFound, || async {
        iam.attach_role_policy()
            .role_name(name)
            .policy_arn(policy_arn)
            .send()
            .await
            .map(drop)
            .map_err(|e| IamError::from_sdk(format!("AttachRolePolicy {name} {policy_arn}"), &e))
    })
    .await
}

/// DetachRolePolicy; a policy that is not attached counts as detached.
pub async fn detach_managed_policy(iam: &Client, name: &str, policy_arn: &str) -> Result<(), IamError> {
    let detached = iam
        .detach_role_policy()
        .role_name(name)
        .policy_arn(policy_arn)
        .send()
        .await;
    gone_is_done(detached.map_err(|e| IamError::from_sdk(format!("DetachRolePolicy {name} {policy_arn}"), &e)))
}

/// For removals: what is not there any more is removed.
fn gone_is_done<T>(result: Result<T, IamError>) -> Result<(), IamError> {
    match result {
        Err(e) if e.is(Problem::NotFound) => Ok(()),
        other => other.map(drop),
    }
}

/// TagRole with `set`, then UntagRole with `remove` (each only when non-empty).
pub async fn retag_role(iam: &Client, name: &str, set: &Tags, remove: Vec<String>) -> Result<(), IamError> {
    if !remove.is_empty() {
        iam.untag_role()
            .role_name(name)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| IamError::from_sdk(format!("UntagRole {name}"), &e))?;
    }
    if !set.is_empty() {
        iam.tag_role()
            .role_name(name)
            .set_tags(Some(to_tags(set)?))
            .send()
            .await
            .map_err(|e| IamError::from_sdk(format!("TagRole {name}"), &e))?;
    }
    Ok(())
}

/// DeleteRole after removing what IAM requires gone first (managed policy
/// attachments, inline policies), retried on DeleteConflict. A missing role
/// counts as deleted.
pub async fn delete_role(
    iam: &Client,
    cancel: &CancellationToken,
    timeout: Duration,
    role: &RoleFacts,
    name: &str,
) -> Result<(), IamError> {
    for arn in &role.managed_policy_arns {
        detach_managed_policy(iam, name, arn).await?;
    }
    for policy_name in &role.inline_policy_names {
        delete_inline_policy(iam, name, policy_name).await?;
    }
    let deleted = retry_on(cancel, timeout, Problem::DeleteConflict, || async {
        iam.delete_role()
            .role_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| IamError::from_sdk(format!("DeleteRole {name}"), &e))
    })
    .await;
    gone_is_done(deleted)
}

/// GetRolePolicy: the URL-decoded document, `None` when there is no such policy.
pub async fn find_inline_policy(iam: &Client, role: &str, name: &str) -> Result<Option<String>, IamError> {
    match iam.get_role_policy().role_name(role).policy_name(name).send().await {
        Ok(out) => Ok(Some(policy::decode_iam(out.policy_document()))),
        Err(e) => {
            let e = IamError::from_sdk(format!("GetRolePolicy {role}/{name}"), &e);
            if e.is(Problem::NotFound) { Ok(None) } else { Err(e) }
        }
    }
}

/// PutRolePolicy, retried while a role created moments ago is not visible yet.
pub async fn put_inline_policy(
    iam: &Client,
    cancel: &CancellationToken,
    timeout: Duration,
    role: &str,
    name: &str,
    document: &str,
) -> Result<(), IamError> {
    retry_on(cancel, timeout, Problem::NotFound, || async {
        iam.put_role_policy()
            .role_name(role)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .map(drop)
            .map_err(|e| IamError::from_sdk(format!("PutRolePolicy {role}/{name}"), &e))
    })
    .await
}

/// DeleteRolePolicy; a policy that is not there counts as deleted.
pub async fn delete_inline_policy(iam: &Client, role: &str, name: &str) -> Result<(), IamError> {
    let deleted = iam.delete_role_policy().role_name(role).policy_name(name).send().await;
    gone_is_done(deleted.map_err(|e| IamError::from_sdk(format!("DeleteRolePolicy {role}/{name}"), &e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_failure_says_how_long_it_was_tried() {
        let e = from_retry(RetryError::Failed {
            error: IamError::Failed {
                call: "CreateRole r".to_string(),
                problem: Problem::InvalidPrincipal,
                message: "MalformedPolicyDocument: Invalid principal in policy".to_string(),
                attempts: 1,
                waited: Duration::ZERO,
            },
            attempts: 4,
            waited: Duration::from_secs(9),
        });
        let d = e.to_diagnostic("Creating the IAM role failed", "Check the principal.");
        assert!(
            d.detail.contains("still failing after 4 attempts over 9s"),
            "{}",
            d.detail
        );
        assert!(d.detail.ends_with("Check the principal."), "{}", d.detail);
    }

    #[test]
    fn cancellation_is_its_own_diagnostic() {
        let d = IamError::Cancelled.to_diagnostic("Deleting the IAM role failed", "");
        assert!(d.summary.contains("cancelled"));
    }
}
