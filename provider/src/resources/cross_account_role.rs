//! `vantage_aws_cross_account_role`: the read-only IAM role Vantage assumes,
//! trusting Vantage's principal with this account's external id.
//!
//! Inline policies are attached by `vantage_aws_role_policy`. The role only
//! removes inline policies when the configuration names the managed set in
//! `inline_policies` (exclusive): then any other inline policy is drift in
//! `inline_policy_names` and is removed on apply. Without that list the role
//! cannot tell which policies the configuration manages, so it removes none
//! and warns about the unexpected ones. Managed policy attachments follow the
//! same rule: `managed_policy_arns` set means exactly these; unset means
//! `ViewOnlyAccess` is attached and other attachments are left alone.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::{int_between, string};
use tfplugin::timeouts::{self, Timeouts};
use tfplugin::{
    ApplyError, AttrPath, Attribute, ConfigView, Ctx, Diagnostic, Diagnostics, MoveSource, Plan, Resource, Schema,
    Value,
};

use crate::ProviderData;
use crate::arn::{check_policy_arn, check_principal_arn, validate_role_name, validate_role_path};
use crate::aws::iam::{self, Problem, RoleFacts, RoleSettings};
use crate::inline_policies::{self, Ownership};
use crate::policy::presets::VIEW_ONLY_ACCESS;
use crate::retry::Budget;
use crate::tags::{self, Tags};
use crate::{moves, policy};

pub const DEFAULT_NAME: &str = policy::presets::DEFAULT_ROLE_NAME;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a failed update waits to read what it left.
const READ_AFTER_FAILURE: Duration = Duration::from_secs(10);

pub struct CrossAccountRole;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RoleModel {
    pub id: Option<String>,
    pub name: Option<String>,
    pub path: Option<String>,
    pub description: Option<String>,
    pub vantage_principal_arn: Option<String>,
    pub external_id: Option<String>,
    pub permissions_boundary: Option<String>,
    pub max_session_duration: Option<i64>,
    pub managed_policy_arns: Option<BTreeSet<String>>,
    pub inline_policies: Option<BTreeSet<String>>,
    pub exclusive_inline_policies: Option<bool>,
    pub tags: Option<Tags>,
    pub tags_all: Option<Tags>,
    pub arn: Option<String>,
    pub unique_id: Option<String>,
    pub create_date: Option<String>,
    pub assume_role_policy: Option<String>,
    pub inline_policy_names: Option<BTreeSet<String>>,
    pub timeouts: Option<Timeouts>,
}

/// What the model asks IAM for.
/// IAM's rule for a role's description: at most 1000 characters of tab, line breaks, printable
/// ASCII and Latin-1 (`[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`).
fn check_description(description: &str) -> Result<(), String> {
    let len = description.chars().count();
    if len > 1000 {
        return Err(format!(
            "The description is {len} characters long; IAM accepts at most 1000."
        ));
    }
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{a1}'..='\u{ff}');
    match description.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!(
            "The description contains {c:?} (U+{:04X}), which IAM does not accept: use printable ASCII or \
             Latin-1 characters, tabs and line breaks.",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

fn settings(m: &RoleModel) -> RoleSettings {
    RoleSettings {
        path: m.path.clone().unwrap_or_else(|| "/".to_string()),
        trust_policy: m.assume_role_policy.clone().unwrap_or_default(),
        description: m.description.clone(),
        permissions_boundary: m.permissions_boundary.clone(),
        max_session_duration: m.max_session_duration.unwrap_or(3600),
        tags: m.tags_all.clone().unwrap_or_default(),
        managed_policy_arns: m.managed_policy_arns.clone().unwrap_or_default(),
    }
}

impl RoleModel {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(DEFAULT_NAME)
    }
    fn timeouts(&self) -> Timeouts {
        self.timeouts.clone().unwrap_or_default()
    }
}

impl CrossAccountRole {
    /// Plans `exclusive_inline_policies` and `inline_policy_names` (see
    /// `crate::inline_policies`), and tells this process's role policies
    /// whether the role keeps only the names it lists.
    fn plan_inline_policies(ctx: &Ctx<ProviderData>, plan: &mut Plan, prior: Option<&RoleModel>) {
        let config = plan.config_value();
        let ownership =
            Ownership::from_config(config.attr("inline_policies"), config.attr("exclusive_inline_policies"));
        let role = config.attr("name").as_str().map(str::to_string);
        if let Some(role) = &role {
            ctx.provider()
                .exclusive_roles
                .record(role, ownership.kept_only().cloned());
        }
        plan.set("exclusive_inline_policies", ownership.exclusive_value());
        let current = prior.and_then(|p| p.inline_policy_names.clone()).unwrap_or_default();
        let unexpected = ownership.unexpected(&current);
        if prior.is_some() && !unexpected.is_empty() {
            ctx.warn(inline_policies::left_in_place(
                role.as_deref().unwrap_or(DEFAULT_NAME),
                &unexpected,
            ));
        }
        let names = ownership.after_apply(&current).map_or(Value::Unknown, |kept| {
            Value::Set(kept.into_iter().map(Value::from).collect())
        });
        plan.set("inline_policy_names", names);
    }

    /// The state for what IAM holds, keeping configured strings where they
    /// mean the same as what was read (no perpetual diffs).
    fn state_from_remote(ctx: &Ctx<ProviderData>, name: &str, remote: RoleFacts, prior: &RoleModel) -> RoleModel {
        let default_tags = &ctx.provider().aws.settings.default_tags;
        let (principal, external_id) = match policy::trust::vantage_trust(&remote.trust_policy) {
            Some((principal, external_id)) => {
                if policy::trust::is_unique_id(&principal) {
                    ctx.warn(Diagnostic::warning(
                        "The role's trust policy names a deleted principal",
                        format!(
                            "The trust policy of {name} shows the principal as the unique id {principal} instead \
                             of an ARN: IAM does this when the trusted role was deleted (and perhaps recreated). \
                             Vantage cannot assume this role. The next apply puts the trust policy back with \
                             Vantage's principal ARN."
                        ),
                    ));
                }
                (Some(principal), Some(external_id))
            }
            // Not Vantage's shape (edited out of band): keep the desired values;
            // the trust document itself differs and the plan repairs it.
            None => (prior.vantage_principal_arn.clone(), prior.external_id.clone()),
        };
        let assume_role_policy = match &prior.assume_role_policy {
            Some(p) if policy::equivalent(p, &remote.trust_policy) => Some(p.clone()),
            _ => Some(remote.trust_policy),
        };
        RoleModel {
            id: Some(name.to_string()),
            name: Some(name.to_string()),
            path: Some(remote.path),
            description: remote.description,
            vantage_principal_arn: principal,
            external_id,
            permissions_boundary: remote.permissions_boundary,
            max_session_duration: Some(remote.max_session_duration),
            managed_policy_arns: Some(remote.managed_policy_arns),
            inline_policies: prior.inline_policies.clone(),
            exclusive_inline_policies: Some(
                prior
                    .exclusive_inline_policies
                    .unwrap_or(prior.inline_policies.is_some()),
            ),
            tags: tags::own_tags(&remote.tags, default_tags, prior.tags.as_ref()),
            tags_all: Some(remote.tags),
            arn: Some(remote.arn),
            unique_id: Some(remote.unique_id),
            create_date: Some(remote.create_date),
            assume_role_policy,
            inline_policy_names: Some(remote.inline_policy_names),
            timeouts: prior.timeouts.clone(),
        }
    }

    /// Whether the role `name` that IAM says already exists is the one this create made (see
    /// [`iam::RoleFacts::created_by`]).
    async fn created_by_this_call(
        client: &aws_sdk_iam::Client,
        name: &str,
        wanted: &RoleSettings,
        started: SystemTime,
    ) -> bool {
        matches!(iam::find_role(client, name).await, Ok(Some(remote)) if remote.created_by(wanted, started))
    }

    /// The role as IAM holds it after a failed update, read with `prior`'s configured values;
    /// `None` when it cannot be read within a few seconds (Terraform then keeps the prior state,
    /// and the next refresh reads it).
    async fn read_after_failure(ctx: &Ctx<ProviderData>, name: &str, prior: &RoleModel) -> Option<RoleModel> {
        let client = ctx.provider().aws.iam().await;
        let found = tokio::time::timeout(READ_AFTER_FAILURE, iam::find_role(client, name)).await;
        match found {
            Ok(Ok(Some(remote))) => Some(Self::state_from_remote(ctx, name, remote, prior)),
            _ => None,
        }
    }

    async fn read_back(
        ctx: &Ctx<ProviderData>,
        name: &str,
        planned: &RoleModel,
        timeout: Duration,
    ) -> Result<RoleModel, Diagnostic> {
        let client = ctx.provider().aws.iam().await;
        let remote = iam::wait_for_role(client, ctx.cancellation(), timeout, name)
            .await
            .map_err(|e| e.to_diagnostic("Could not read the IAM role", ""))?;
        let mut state = Self::state_from_remote(ctx, name, remote, planned);
        // The trust we just put is the one planned, whatever form IAM returns it in.
        if let (Some(planned_doc), Some(actual)) = (&planned.assume_role_policy, &state.assume_role_policy)
            && policy::equivalent(planned_doc, actual)
        {
            state.assume_role_policy = Some(planned_doc.clone());
        }
        state.tags = planned.tags.clone();
        Ok(state)
    }
}

#[tfplugin::async_trait]
impl Resource<ProviderData> for CrossAccountRole {
    type Model = RoleModel;

    fn type_name(&self) -> &'static str {
        "vantage_aws_cross_account_role"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "The cross-account IAM role Vantage assumes to read your account: trusts Vantage's principal, \
             only with your account's external id, and carries read-only permissions (`ViewOnlyAccess` by \
             default). Inline policies are attached with `vantage_aws_role_policy`. List their names in \
             `inline_policies` to have every other inline policy removed; without that list no inline \
             policy is removed, and unexpected ones are reported in a plan-time warning.",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("The role name."),
        )
        .attribute(
            Attribute::string("name")
                .default(DEFAULT_NAME)
                .requires_replace()
                .validator(string(
                    "1-64 characters of letters, digits and `_+=,.@-`",
                    validate_role_name,
                ))
                .description("Role name."),
        )
        .attribute(
            Attribute::string("path")
                .default("/")
                .requires_replace()
                .validator(string("an IAM path such as `/` or `/vantage/`", validate_role_path))
                .description("IAM path of the role."),
        )
        .attribute(
            Attribute::string("description")
                .optional()
                .validator(string("an IAM role description", check_description))
                .description("Description of the role (IAM: at most 1000 characters, no control characters but tab and line breaks)."),
        )
        .attribute(
            Attribute::string("vantage_principal_arn")
                .optional_computed()
                .validator(string("an IAM principal ARN", check_principal_arn))
                .description(
                    "The principal allowed to assume the role. Defaults to Vantage's principal from \
                     `/v1/integrations/aws/info` (the `iam_role_arn` of `vantage_aws_provider_info`).",
                ),
        )
        .attribute(
            Attribute::string("external_id")
                .optional_computed()
                .sensitive()
                .validator(string(
                    "2-1224 characters of letters, digits and `_+=,.@:/-`",
                    policy::trust::validate_external_id,
                ))
                .description(
                    "The external id the trust policy requires (`sts:ExternalId`). Defaults to your Vantage \
                     account's external id.",
                ),
        )
        .attribute(
            Attribute::string("permissions_boundary")
                .optional()
                .validator(string("an IAM policy ARN", check_policy_arn))
                .description("ARN of a managed policy used as the role's permissions boundary."),
        )
        .attribute(
            Attribute::number("max_session_duration")
                .default(3600i64)
                .validator(int_between(3600, 43200))
                .description("Longest session, in seconds, Vantage can get from the role."),
        )
        .attribute(
            Attribute::string_set("managed_policy_arns")
                .optional_computed()
                .validator(string("a set of managed policy ARNs", check_policy_arn))
                .description(
                    "Managed policies attached to the role. When set, exactly these are attached and any \
                     other is detached. When unset, `arn:<partition>:iam::aws:policy/job-function/ViewOnlyAccess` \
                     is attached and policies attached by other means (for example \
                     `aws_iam_role_policy_attachment`) are left alone and shown here.",
                ),
        )
        .attribute(Attribute::string_set("inline_policies").optional().description(
            "Names of the inline policies this configuration manages (with `vantage_aws_role_policy`). \
             Setting it makes the role exclusive: inline policies with other names are removed on apply, \
             and a `vantage_aws_role_policy` on this role whose name is missing here is refused at plan \
             time. `[]` removes every inline policy. Unset, no inline policy is removed.",
        ))
        .attribute(
            Attribute::bool("exclusive_inline_policies")
                .optional_computed()
                .description(
                    "Whether inline policies not named in `inline_policies` are removed. Defaults to `true` \
                     when `inline_policies` is set and `false` otherwise; `false` with `inline_policies` \
                     leaves the others alone without a warning. `true` needs `inline_policies`.",
                ),
        )
        .attribute(tags::tags_attribute())
        .attribute(tags::tags_all_attribute())
        .attribute(
            Attribute::string("arn")
                .computed()
                .use_state_for_unknown()
                .description("ARN of the role: register it with Vantage."),
        )
        .attribute(
            Attribute::string("unique_id")
                .computed()
                .use_state_for_unknown()
                .description("IAM's unique id of the role (`AROA...`)."),
        )
        .attribute(
            Attribute::string("create_date")
                .computed()
                .use_state_for_unknown()
                .description("When the role was created (RFC 3339)."),
        )
        .attribute(
            Attribute::string("assume_role_policy")
                .computed()
                .sensitive()
                .description("The trust policy as applied (it contains the external id)."),
        )
        .attribute(
            Attribute::string_set("inline_policy_names")
                .computed()
                .description("Every inline policy on the role, managed or not. Unmanaged ones appear here as drift."),
        )
        .block(timeouts::block(&["create", "update", "delete"]))
    }

    async fn modify_plan(&self, ctx: &Ctx<ProviderData>, plan: &mut Plan) -> Result<(), Diagnostics> {
        let config: RoleModel = plan.config()?;
        let prior: Option<RoleModel> = plan.prior()?;
        let config_value = plan.config_value().clone();
        let data = ctx.provider();

        // Principal and external id: configured, else Vantage's.
        let principal_unknown = config_value.attr("vantage_principal_arn").is_unknown();
        let external_unknown = config_value.attr("external_id").is_unknown();
        let mut principal = config.vantage_principal_arn.clone();
        let mut external_id = config.external_id.clone();
        if (principal.is_none() && !principal_unknown) || (external_id.is_none() && !external_unknown) {
            let info = data.aws_provider_info(ctx.cancellation()).await.map_err(|e| {
                let mut d = e.to_diagnostic("Could not read Vantage's principal and external id");
                d.detail.push_str(
                    " Alternatively set `vantage_principal_arn` and `external_id` on the role to skip this lookup.",
                );
                Diagnostics::from(d)
            })?;
            principal = principal.or_else(|| Some(info.iam_role_arn.clone()));
            external_id = external_id.or_else(|| Some(info.external_id.clone()));
        }
        if !principal_unknown {
            plan.set("vantage_principal_arn", principal.clone());
        }
        if !external_unknown {
            plan.set("external_id", external_id.clone());
        }
        match (&principal, &external_id) {
            (Some(p), Some(e)) if !principal_unknown && !external_unknown => {
                let desired = policy::trust::trust_policy(p, e);
                let keep = prior
                    .as_ref()
                    .and_then(|r| r.assume_role_policy.clone())
                    .filter(|prior_doc| policy::equivalent(prior_doc, &desired));
                plan.set("assume_role_policy", keep.unwrap_or(desired));
            }
            _ => plan.set_unknown("assume_role_policy"),
        }

        if config_value.attr("managed_policy_arns").is_null() {
            // Unset: ViewOnlyAccess, beside whatever else is attached (another tool may manage it).
            let mut attached = prior
                .as_ref()
                .and_then(|p| p.managed_policy_arns.clone())
                .unwrap_or_default();
            attached.insert(format!("arn:{}:{VIEW_ONLY_ACCESS}", data.aws.settings.partition()));
            plan.set(
                "managed_policy_arns",
                Value::Set(attached.into_iter().map(Value::from).collect()),
            );
        }

        tags::plan_tags_all(plan, &data.aws.settings.default_tags);

        Self::plan_inline_policies(ctx, plan, prior.as_ref());
        if let Some(prior) = &prior {
            plan.set("id", prior.id.clone());
        } else {
            plan.set("id", config.name.clone().unwrap_or_else(|| DEFAULT_NAME.to_string()));
        }
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<ProviderData>, planned: RoleModel) -> Result<RoleModel, ApplyError<RoleModel>> {
        let name = planned.name().to_string();
        // `timeouts.create` bounds the whole create: each step gets what the earlier ones left.
        let budget = Budget::new("create", planned.timeouts().create_or(DEFAULT_TIMEOUT));
        let client = ctx.provider().aws.iam().await;
        let wanted = settings(&planned);
        // What is known once the role exists; returned as partial state from here on.
        let mut partial = planned.clone();
        partial.id = Some(name.clone());
        partial.managed_policy_arns = Some(BTreeSet::new());
        partial.inline_policy_names = Some(BTreeSet::new());
        let started = SystemTime::now();
        let creating = iam::create_role(client, ctx.cancellation(), budget.left(), &name, &wanted);
        let Some(created) = budget.bound_retried(creating).await else {
            // Cut in flight: IAM may have made the role. The next refresh finds it or drops it.
            return Err(ApplyError::with_partial_state(
                partial,
                budget.ran_out("waiting for IAM CreateRole"),
            ));
        };
        match created {
            Ok(()) => {}
            Err(e)
                if e.is(Problem::AlreadyExists)
                    && Self::created_by_this_call(client, &name, &wanted, started).await =>
            {
                tracing::info!(role = %name, "CreateRole was retried after its answer was lost: adopting the role it created");
            }
            Err(e) if e.is(Problem::AlreadyExists) => {
                return Err(Diagnostic::error(
                    "IAM role already exists",
                    format!(
                        "A role named {name:?} already exists in this account (perhaps left by an earlier \
                         onboarding). Adopt it instead of creating it: add\n\n  import {{\n    to = \
                         vantage_aws_cross_account_role.<this resource's name>\n    id = \"{name}\"\n  }}\n\n\
                         and run apply again, or choose another `name`."
                    ),
                )
                .at(AttrPath::new("name"))
                .into());
            }
            Err(e) => {
                let d = e.to_diagnostic(
                    "Creating the IAM role failed",
                    "Check that `vantage_principal_arn` names an existing principal.",
                );
                // The role may exist (the answer was lost, or Terraform stopped the wait): keep it
                // in state, where the next refresh finds it or drops it.
                return Err(if e.may_have_acted() {
                    ApplyError::with_partial_state(partial, d)
                } else {
                    d.into()
                });
            }
        }

        // From here on the role exists: every failure returns it as partial state.
        for arn in planned.managed_policy_arns.clone().unwrap_or_default() {
            let attaching = iam::attach_managed_policy(client, ctx.cancellation(), budget.left(), &name, &arn);
            let Some(attached) = budget.bound_retried(attaching).await else {
                let d = budget.ran_out(&format!("attaching {arn}"));
                return Err(ApplyError::with_partial_state(partial, d));
            };
            if let Err(e) = attached {
                let d = e
                    .to_diagnostic(
                        &format!("Attaching {arn} failed"),
                        "Check that the policy ARN exists in this partition.",
                    )
                    .at(AttrPath::new("managed_policy_arns"));
                return Err(ApplyError::with_partial_state(partial, d));
            }
            if let Some(set) = partial.managed_policy_arns.as_mut() {
                set.insert(arn.clone());
            }
        }
        match budget
            .bound_retried(Self::read_back(ctx, &name, &planned, budget.left()))
            .await
        {
            Some(Ok(state)) => Ok(state),
            Some(Err(d)) => Err(ApplyError::with_partial_state(partial, d)),
            None => Err(ApplyError::with_partial_state(
                partial,
                budget.ran_out("reading the new role back"),
            )),
        }
    }

    async fn read(&self, ctx: &Ctx<ProviderData>, current: RoleModel) -> Result<Option<RoleModel>, Diagnostics> {
        let name = current.name().to_string();
        let client = ctx.provider().aws.iam().await;
        let found = iam::find_role(client, &name)
            .await
            .map_err(|e| e.to_diagnostic("Could not read the IAM role", ""))?;
        Ok(found.map(|remote| Self::state_from_remote(ctx, &name, remote, &current)))
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: RoleModel,
        planned: RoleModel,
    ) -> Result<RoleModel, ApplyError<RoleModel>> {
        let name = planned.name().to_string();
        // `timeouts.update` bounds the whole update (the change, removing unmanaged inline
        // policies, the read back), however long one IAM call stalls.
        let budget = Budget::new("update", planned.timeouts().update_or(DEFAULT_TIMEOUT));
        let client = ctx.provider().aws.iam().await;
        let cancel = ctx.cancellation();
        let changed = budget
            .bound(iam::change_role(
                client,
                cancel,
                budget.left(),
                &name,
                &settings(&prior),
                &settings(&planned),
            ))
            .await
            .unwrap_or(Err(iam::IamError::TimedOut {
                waited: planned.timeouts().update_or(DEFAULT_TIMEOUT),
            }));
        if let Err(e) = changed {
            let hint = if e.is(Problem::InvalidPrincipal) {
                "Check that `vantage_principal_arn` names an existing principal."
            } else {
                "The next plan shows what was applied before it ended."
            };
            let d = budget.explain(
                e.to_diagnostic("Updating the IAM role failed", hint),
                "updating the role",
            );
            // Some changes may have been made before the failure: the state says what IAM holds.
            return Err(match Self::read_after_failure(ctx, &name, &prior).await {
                Some(state) => ApplyError::with_partial_state(state, d),
                None => d.into(),
            });
        }
        if planned.exclusive_inline_policies == Some(true) {
            let managed = planned.inline_policies.clone().unwrap_or_default();
            let current = prior.inline_policy_names.clone().unwrap_or_default();
            for unmanaged in current.iter().filter(|n| !managed.contains(*n)) {
                let step = format!("removing the unmanaged inline policy {unmanaged:?}");
                // A delete, safe to abandon at the deadline.
                budget
                    .bound(iam::delete_inline_policy(client, &name, unmanaged))
                    .await
                    .ok_or_else(|| budget.ran_out(&step))?
                    .map_err(|e| {
                        budget.explain(e.to_diagnostic("Removing an unmanaged inline policy failed", ""), &step)
                    })?;
            }
        }
        let mut state = Self::read_back(ctx, &name, &planned, budget.left())
            .await
            .map_err(|d| ApplyError::from(budget.explain(d, "reading the role back")))?;
        // Inline policies named in the configuration may be (re)created by their own
        // resources later in this apply; the set planned is what this step left.
        if let Some(planned_names) = &planned.inline_policy_names {
            state.inline_policy_names = Some(planned_names.clone());
        }
        Ok(state)
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: RoleModel) -> Result<(), Diagnostics> {
        let name = prior.name().to_string();
        // `timeouts.delete` bounds the whole delete (reading, detaching, DeleteRole's retries);
        // abandoning it midway is safe: the role stays in state for the next destroy.
        let budget = Budget::new("delete", prior.timeouts().delete_or(DEFAULT_TIMEOUT));
        let client = ctx.provider().aws.iam().await;
        let deleted = async {
            let Some(remote) = iam::find_role(client, &name).await? else {
                return Ok(());
            };
            iam::delete_role(client, ctx.cancellation(), budget.left(), &remote, &name).await
        };
        let step = "deleting the role";
        let deleted = budget.bound(deleted).await.ok_or_else(|| budget.ran_out(step))?;
        deleted.map_err(|e| {
            let d = e.to_diagnostic(
                "Deleting the IAM role failed",
                "Something else still uses the role (an instance profile?); detach it and retry.",
            );
            budget.explain(d, step).into()
        })
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<RoleModel, Diagnostics> {
        validate_role_name(id).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Invalid import id",
                format!("{e}. Import the role by its name."),
            ))
        })?;
        let client = ctx.provider().aws.iam().await;
        let found = iam::find_role(client, id)
            .await
            .map_err(|e| e.to_diagnostic("Could not read the IAM role", ""))?;
        let Some(remote) = found else {
            return Err(Diagnostic::error(
                "Cannot import a missing role",
                format!("There is no IAM role named {id:?} in this account."),
            )
            .into());
        };
        // As the smallest configuration has it: no `inline_policies`, nothing removed.
        let prior = RoleModel {
            name: Some(id.to_string()),
            ..RoleModel::default()
        };
        Ok(Self::state_from_remote(ctx, id, remote, &prior))
    }

    /// `moved { from = aws_iam_role.x  to = vantage_aws_cross_account_role.x }`.
    async fn move_state(&self, from: &MoveSource) -> Option<Result<serde_json::Value, Diagnostics>> {
        moves::from_hashicorp_aws(from, "aws_iam_role").then(|| moved_from_aws_iam_role(from))
    }

    async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
        let mut diags = Diagnostics::new();
        if config.get::<bool>("exclusive_inline_policies") == tfplugin::Val::Known(true)
            && config.get::<BTreeSet<String>>("inline_policies").is_null()
        {
            diags.push(
                Diagnostic::error(
                    "exclusive_inline_policies needs inline_policies",
                    "`exclusive_inline_policies = true` removes every inline policy not named in \
                     `inline_policies`, and none is named, so it would remove the policies your \
                     `vantage_aws_role_policy` resources attach. List their names in `inline_policies` \
                     (which makes the role exclusive by itself), or write `inline_policies = []` if the role \
                     should have no inline policy at all.",
                )
                .at(AttrPath::new("exclusive_inline_policies")),
            );
        }
        if let tfplugin::Val::Known(names) = config.get::<BTreeSet<String>>("inline_policies") {
            for n in names {
                if let Err(e) = policy::validate_policy_name(&n) {
                    diags.push(Diagnostic::error("Invalid inline policy name", e).at(AttrPath::new("inline_policies")));
                }
            }
        }
        diags
    }
}

/// An `aws_iam_role` state as this type's. Like an import, it manages no inline policy
/// set (`inline_policies` unset, nothing removed); the refresh reads the rest.
fn moved_from_aws_iam_role(from: &MoveSource) -> Result<serde_json::Value, Diagnostics> {
    let s = &from.state;
    let name = moves::required(s, "name", from)?;
    let trust = moves::string(s, "assume_role_policy");
    let (principal, external_id) = trust
        .as_deref()
        .and_then(policy::trust::vantage_trust)
        .map_or((None, None), |(p, e)| (Some(p), Some(e)));
    moves::state(&RoleModel {
        id: Some(name.clone()),
        name: Some(name),
        path: moves::string(s, "path"),
        description: moves::string(s, "description"),
        vantage_principal_arn: principal,
        external_id,
        permissions_boundary: moves::string(s, "permissions_boundary"),
        max_session_duration: moves::integer(s, "max_session_duration"),
        managed_policy_arns: moves::strings(s, "managed_policy_arns"),
        inline_policies: None,
        exclusive_inline_policies: Some(false),
        tags: moves::tags(s, "tags"),
        tags_all: moves::tags(s, "tags_all"),
        arn: moves::string(s, "arn"),
        unique_id: moves::string(s, "unique_id"),
        create_date: moves::string(s, "create_date"),
        assume_role_policy: trust,
        inline_policy_names: None,
        timeouts: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aws_iam_role_moves_with_its_trust_split_into_principal_and_external_id() {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::630399649041:role/vantage"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-1"}}}]}"#;
        let from = MoveSource {
            provider_address: "registry.terraform.io/hashicorp/aws".into(),
            type_name: "aws_iam_role".into(),
            schema_version: 0,
            state: serde_json::json!({
                "name": "vantage_cross_account_connection", "assume_role_policy": trust,
                "description": "", "path": "/", "max_session_duration": 3600, "tags": {},
                "managed_policy_arns": [], "unique_id": "AROAEXAMPLE",
            }),
        };
        let moved = moved_from_aws_iam_role(&from).unwrap_or_default();
        assert_eq!(moved["id"], "vantage_cross_account_connection");
        assert_eq!(moved["external_id"], "ext-1");
        assert_eq!(moved["vantage_principal_arn"], "arn:aws:iam::630399649041:role/vantage");
        assert_eq!(moved["exclusive_inline_policies"], false);
        assert_eq!(moved["inline_policies"], serde_json::Value::Null);
        assert_eq!(moved["description"], serde_json::Value::Null);
        assert_eq!(moved["tags"], serde_json::Value::Null);
        assert_eq!(moved["max_session_duration"], 3600);
        let unnamed = MoveSource {
            state: serde_json::json!({"name": ""}),
            ..from
        };
        assert!(moved_from_aws_iam_role(&unnamed).is_err());
    }
}
