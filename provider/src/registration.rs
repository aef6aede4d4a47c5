//! The Terraform side of an AWS integration, shared by
//! `vantage_aws_integration` and `vantage_aws_provider` (Vantage's official
//! resource): the two differ only in schema and model. [`Registrations`]
//! carries out their create, read, update, delete and import through
//! `vantage::integrations`, turns its errors into diagnostics and adds the
//! warnings that need AWS: the member-account caution and why Vantage lost
//! access to a role.

use std::time::Duration;

use tfplugin::timeouts::Timeouts;
use tfplugin::{ApplyError, Ctx, Diagnostic, Diagnostics, Value};

use crate::ProviderData;
use crate::arn::{parse_role_arn, split_arn};
use crate::aws::{iam, organizations};
use crate::vantage::integrations::{
    CallerOrganization, Integrations, Registered, Registration, RegistrationError, wanted_bucket,
};

/// The official provider's resource type, served by `resources::aws_provider`
/// (`vantage_aws_integration` takes its state in `moved` blocks).
pub const AWS_PROVIDER_TYPE: &str = "vantage_aws_provider";

/// Default for each of `timeouts { create, update, delete }`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the AWS lookups behind a warning may take before they are skipped.
const AWS_LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Plan-time checks and state rules shared by both resource types

pub fn role_arn_check(v: &Value) -> Result<(), String> {
    v.as_str().map_or(Ok(()), |s| parse_role_arn(s).map(drop))
}

/// `arn:<partition>:s3:::<bucket>`; an empty string means "no bucket", as
/// the official provider sends it.
pub fn bucket_arn_check(v: &Value) -> Result<(), String> {
    let Some(s) = v.as_str() else { return Ok(()) };
    if s.is_empty() {
        return Ok(());
    }
    let bad = |why: String| {
        Err(format!(
            "{s:?} is not an S3 bucket ARN ({why}); it should look like arn:aws:s3:::my-cur-bucket"
        ))
    };
    let parts = match split_arn(s) {
        Ok(parts) => parts,
        Err(why) => return bad(why.into()),
    };
    if parts.service != "s3" {
        return bad("it must start with arn:aws:s3".into());
    }
    if !parts.region.is_empty() || !parts.account.is_empty() {
        return bad("a bucket ARN has no region and no account: arn:aws:s3:::name".into());
    }
    let bucket = parts.resource;
    if bucket.contains('/') {
        return bad("name the bucket itself, not an object or prefix in it".into());
    }
    crate::s3::validate_bucket_name(bucket).or_else(bad)
}

/// The bucket for the state: Vantage's, except that a configured `""` stays
/// `""` while Vantage holds none (no perpetual diff for official configs).
pub fn bucket_for_state(remote: Option<String>, prior: Option<&str>) -> Option<String> {
    match remote.filter(|b| !b.is_empty()) {
        Some(b) => Some(b),
        None if prior == Some("") => Some(String::new()),
        None => None,
    }
}

/// A positive v1 id, from state or an import id.
pub fn parse_id(text: &str) -> Result<i32, String> {
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("{text:?} is not an AWS integration id: use the positive number Vantage assigned"))
}

/// The state model of a registration resource: what the shared CRUD needs from it.
pub trait RegistrationModel: Sized + Default {
    /// The v1 access-credential id kept in state.
    fn v1_id(&self) -> Option<String>;
    /// The v2 token when the state keeps one (it finds the status faster).
    fn token(&self) -> Option<&str> {
        None
    }
    fn role_arn(&self) -> Option<&str>;
    fn bucket_arn(&self) -> Option<&str>;
    fn timeouts(&self) -> Timeouts;
    /// The state for what Vantage holds, keeping what only Terraform knows.
    fn from_registration(r: Registration, prior: &Self) -> Self;
    /// The state after an update Vantage need not hear of: `planned`, with
    /// the values Vantage computed taken from `prior`.
    fn unchanged(prior: Self, planned: Self) -> Self;
}

fn state_id<M: RegistrationModel>(m: &M) -> Result<i32, Diagnostic> {
    parse_id(&m.v1_id().unwrap_or_default()).map_err(|e| Diagnostic::error("Invalid state", e))
}

fn planned_role<M: RegistrationModel>(m: &M) -> Result<&str, Diagnostic> {
    m.role_arn()
        .ok_or_else(|| Diagnostic::error("Provider internal error", "The planned role ARN is missing."))
}

// ---------------------------------------------------------------------------------------------
// CRUD

/// One operation of `vantage_aws_integration` or `vantage_aws_provider`.
pub struct Registrations<'a> {
    ctx: &'a Ctx<ProviderData>,
    type_name: &'static str,
}

impl<'a> Registrations<'a> {
    pub fn new(ctx: &'a Ctx<ProviderData>, type_name: &'static str) -> Registrations<'a> {
        Registrations { ctx, type_name }
    }

    fn integrations(&self) -> Integrations<'a> {
        let data = self.ctx.provider();
        Integrations::new(&data.vantage, &data.integrations, self.ctx.cancellation())
    }

    /// Registers the planned role; a registration Vantage holds despite an
    /// error goes into state beside the error, so Terraform keeps tracking it.
    pub async fn create<M: RegistrationModel>(&self, planned: M) -> Result<M, ApplyError<M>> {
        let timeout = planned.timeouts().create_or(DEFAULT_TIMEOUT);
        let registered = self
            .integrations()
            .register(planned_role(&planned)?, planned.bucket_arn(), timeout)
            .await;
        match registered {
            Ok(Registered { registration, adopted }) => {
                if adopted {
                    self.warn_adopted(&registration);
                }
                self.warn_after_write(&registration).await;
                Ok(M::from_registration(registration, &planned))
            }
            Err(RegistrationError::Incomplete { registration, source }) => {
                let diagnostic = self.diagnostic(&source).await;
                Err(ApplyError::with_partial_state(
                    M::from_registration(*registration, &planned),
                    diagnostic,
                ))
            }
            Err(e) => Err(self.diagnostic(&e).await.into()),
        }
    }

    /// Refreshes the state; `None` when Vantage no longer holds the integration.
    pub async fn read<M: RegistrationModel>(&self, current: M) -> Result<Option<M>, Diagnostics> {
        let found = self.find(state_id(&current)?, current.token()).await?;
        Ok(found.map(|r| M::from_registration(r, &current)))
    }

    /// Integration `id` with its status, warning about what Vantage reports.
    async fn find(&self, id: i32, known_token: Option<&str>) -> Result<Option<Registration>, Diagnostic> {
        let found = match self.integrations().find_registration(id, known_token).await {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.diagnostic(&e).await),
        };
        if let Some(why) = found.status_unread {
            self.ctx.warn(Diagnostic::warning(
                "Could not read the AWS integration's status",
                format!(
                    "Listing Vantage's integrations (GET /v2/integrations) failed: {why}. `status` and `token` \
                     keep their previous values."
                ),
            ));
        }
        self.warn_about_status(&found.registration).await;
        Ok(Some(found.registration))
    }

    /// Moves the integration to the planned role and/or bucket; when only
    /// `timeouts` (or `""` against no bucket) changed, Vantage is not asked.
    pub async fn update<M: RegistrationModel>(&self, prior: M, planned: M) -> Result<M, ApplyError<M>> {
        let id = state_id(&prior)?;
        let role_arn = planned_role(&planned)?;
        if prior.role_arn() == Some(role_arn)
            && wanted_bucket(prior.bucket_arn()) == wanted_bucket(planned.bucket_arn())
        {
            return Ok(M::unchanged(prior, planned));
        }
        let timeout = planned.timeouts().update_or(DEFAULT_TIMEOUT);
        let updated = self
            .integrations()
            .update_registration(id, role_arn, planned.bucket_arn(), timeout)
            .await;
        match updated {
            Ok(registration) => {
                self.warn_about_status(&registration).await;
                Ok(M::from_registration(registration, &planned))
            }
            Err(e) => Err(self.diagnostic(&e).await.into()),
        }
    }

    /// Deregisters, within `timeouts.delete` for the whole call (its retries included).
    pub async fn delete<M: RegistrationModel>(&self, prior: M) -> Result<(), Diagnostics> {
        let id = state_id(&prior)?;
        let bound = prior.timeouts().delete_or(DEFAULT_TIMEOUT);
        match tokio::time::timeout(bound, self.integrations().deregister(id)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.diagnostic(&e).await.into()),
            Err(_) => Err(Diagnostic::error(
                "Deregistering the AWS integration timed out",
                format!(
                    "Vantage did not confirm deleting integration {id} within {}s (`timeouts.delete`). \
                     Run destroy again; the integration is still in state.",
                    bound.as_secs()
                ),
            )
            .into()),
        }
    }

    /// Reads integration `raw_id` for `terraform import`.
    pub async fn import<M: RegistrationModel>(&self, raw_id: &str) -> Result<M, Diagnostics> {
        let id = parse_id(raw_id).map_err(|e| {
            Diagnostic::error(
                "Invalid import id",
                format!("{e}. Import an AWS integration by its id, e.g. `12`."),
            )
        })?;
        match self.find(id, None).await? {
            Some(r) => Ok(M::from_registration(r, &M::default())),
            None => Err(self.diagnostic(&RegistrationError::NotFound { id }).await.into()),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Diagnostics and warnings

    async fn diagnostic(&self, e: &RegistrationError) -> Diagnostic {
        // Looked up only for the messages that name it.
        let principal = if e.mentions_principal() {
            self.principal().await
        } else {
            String::new()
        };
        e.to_diagnostic(self.type_name, &principal)
    }

    /// Vantage's principal for messages; the lookup is cached per process.
    async fn principal(&self) -> String {
        match self.ctx.provider().aws_provider_info(self.ctx.cancellation()).await {
            Ok(info) => info.iam_role_arn.clone(),
            Err(_) => "Vantage's principal (`iam_role_arn` of data.vantage_aws_provider_info)".to_string(),
        }
    }

    fn warn_adopted(&self, r: &Registration) {
        let (id, role) = (r.id, &r.role_arn);
        self.ctx.warn(Diagnostic::warning(
            "Adopted the AWS integration an interrupted attempt registered",
            format!(
                "Vantage gave no clear answer to a registration of {role} (a server error or timeout), and the \
                 retry found the role registered as AWS integration {id}: that attempt had succeeded. \
                 Terraform now manages integration {id}."
            ),
        ));
    }

    async fn warn_after_write(&self, r: &Registration) {
        if let Some(account) = r.account_id() {
            self.member_account_caution(account).await;
        }
        self.warn_about_status(r).await;
    }

    /// Connecting a member account before the management account hides most
    /// of the organisation's costs in Vantage.
    async fn member_account_caution(&self, role_account: &str) {
        let Some(org) = self.caller_organization().await else {
            return;
        };
        let management = org.management_account_id.as_str();
        if org.caller_account == management
            || role_account == management
            || self.integrations().is_account_registered(management).await
        {
            return;
        }
        let whose = if role_account == org.caller_account {
            format!("Account {role_account}")
        } else {
            format!(
                "Account {role_account} (registered with the credentials of account {})",
                org.caller_account
            )
        };
        self.ctx.warn(Diagnostic::warning(
            "Connecting a member account before the management account",
            format!(
                "{whose} is a member of AWS Organization {} whose management account is {management}, and \
                 Vantage has no integration for {management} yet. With only member accounts connected:\n\
                 - you see only costs and costs by resource for the linked account, not for your whole \
                 organization;\n\
                 - you cannot see costs of the other member accounts of the organization;\n\
                 - you may not see the full coverage of cost allocation tags;\n\
                 - Reserved Instances bought in the linked account are realized there first instead of across \
                 the organization.\n\
                 Connect the management account {management} first (Vantage then profiles every member \
                 account), then add member accounts. This is a warning: the integration was registered.",
                org.organization_id
            ),
        ));
    }

    /// The caller's organisation, once per process; `None` when standalone or
    /// when it cannot be told (no AWS credentials, Organizations not served):
    /// the check it feeds only warns, so it never fails an apply.
    async fn caller_organization(&self) -> Option<&'a CallerOrganization> {
        let data = self.ctx.provider();
        let lookup = || async {
            let lookup = async {
                let caller = match data.aws.caller().await {
                    Ok(c) => c,
                    Err(d) => {
                        tracing::debug!(error = %d, "no caller identity; skipping the member-account check");
                        return None;
                    }
                };
                match organizations::describe_organization(data.aws.organizations().await).await {
                    Ok(Some(org)) => Some(CallerOrganization {
                        caller_account: caller.account_id.clone(),
                        organization_id: org.id,
                        management_account_id: org.management_account_id,
                    }),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::debug!(error = %e, "organization unknown; skipping the member-account check");
                        None
                    }
                }
            };
            tokio::time::timeout(AWS_LOOKUP_TIMEOUT, lookup).await.ok().flatten()
        };
        data.integrations.caller_organization(lookup).await
    }

    /// Warns when Vantage reports that it lost access.
    async fn warn_about_status(&self, r: &Registration) {
        let (id, role) = (r.id, &r.role_arn);
        match r.status.as_deref() {
            Some("error") => {
                let reason = match self.diagnose_role(r).await {
                    Some(reason) => format!("The likely reason: {reason}."),
                    None => format!(
                        "Check that {role} still exists and that its trust policy allows {} to call \
                         sts:AssumeRole with sts:ExternalId = your Vantage external id.",
                        self.principal().await
                    ),
                };
                self.ctx.warn(Diagnostic::warning(
                    "Vantage cannot access this AWS account",
                    format!(
                        "Vantage reports status `error` for AWS integration {id}: it could not assume {role} on \
                         its last check, so it imports no costs. {reason} Fix the role (applying \
                         vantage_aws_cross_account_role repairs its trust policy); Vantage checks again by \
                         itself and the status returns to `connected`."
                    ),
                ));
            }
            Some("disconnected") => self.ctx.warn(Diagnostic::warning(
                "The AWS integration is disconnected in Vantage",
                format!(
                    "Vantage reports status `disconnected` for AWS integration {id} ({role}): it was \
                     disconnected in Vantage and imports no costs. Reconnect it in the Vantage console, or \
                     remove this resource and register the role again."
                ),
            )),
            _ => {}
        }
    }

    /// Why Vantage might not assume the registration's role, from IAM, when
    /// the provider's credentials are in the role's account. `None` when it
    /// cannot tell.
    async fn diagnose_role(&self, r: &Registration) -> Option<String> {
        let role = r.role.as_ref()?;
        let role_arn = &r.role_arn;
        let data = self.ctx.provider();
        let caller = tokio::time::timeout(AWS_LOOKUP_TIMEOUT, data.aws.caller())
            .await
            .ok()?
            .ok()?;
        if caller.account_id != role.account_id {
            return None;
        }
        let found = match iam::role_trust(data.aws.iam().await, &role.name).await {
            Ok(Some(found)) => found,
            Ok(None) => return Some(format!("the role {role_arn} does not exist any more")),
            Err(e) => {
                tracing::debug!(error = %e, "GetRole failed while diagnosing");
                return None;
            }
        };
        if found.arn != *role_arn {
            return Some(format!(
                "IAM has no role at exactly {role_arn}: the role named {} is {}",
                role.name, found.arn
            ));
        }
        let info = data.aws_provider_info(self.ctx.cancellation()).await.ok()?;
        info.trust_problem(role_arn, &found.trust_policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_arns_are_checked() {
        assert!(bucket_arn_check(&Value::from("arn:aws:s3:::my-cur-bucket")).is_ok());
        assert!(bucket_arn_check(&Value::from("")).is_ok(), "empty means no bucket");
        assert!(bucket_arn_check(&Value::from("my-cur-bucket")).is_err());
        assert!(bucket_arn_check(&Value::from("arn:aws:s3:::my-cur-bucket/prefix")).is_err());
        assert!(bucket_arn_check(&Value::from("arn:aws:s3:us-east-1:123456789012:b")).is_err());
        assert!(bucket_arn_check(&Value::from("arn:aws:s3:::Bad_Name")).is_err());
    }

    #[test]
    fn an_empty_bucket_stays_empty_while_vantage_has_none() {
        assert_eq!(bucket_for_state(None, Some("")), Some(String::new()));
        assert_eq!(bucket_for_state(None, None), None);
        assert_eq!(bucket_for_state(Some(String::new()), None), None);
        assert_eq!(
            bucket_for_state(Some("arn:aws:s3:::b".into()), Some("")),
            Some("arn:aws:s3:::b".into())
        );
    }

    #[test]
    fn ids_are_positive_numbers() {
        assert_eq!(parse_id("12"), Ok(12));
        assert!(parse_id("0").is_err());
        assert!(parse_id("accss_crdntl_1").is_err());
    }
}
