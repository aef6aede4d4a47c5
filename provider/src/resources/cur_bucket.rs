//! `vantage_aws_cur_bucket`: the S3 bucket AWS billing delivers the Cost and
//! Usage Report into, with every part Vantage's onboarding puts on it: public
//! access block, the bucket policy letting billing write and Vantage's role
//! read (`policy::bucket`), the expiry rule and the notification to Vantage's
//! SNS topic (`aws::s3`, which also holds the S3 calls).
//!
//! Every part is read on refresh (five S3 calls, made concurrently: policy,
//! public access block, lifecycle, notification, tags), so drift on any of
//! them shows in the plan and apply repairs it. The bucket's region comes
//! from state, not from a sixth call. The policy is compared semantically
//! (`policy::equivalent`), so AWS's reformatting never shows as a change.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::{int_between, string};
use tfplugin::timeouts::{self, Timeouts};
use tfplugin::{
    ApplyError, AttrPath, Attribute, ConfigView, Ctx, Diagnostic, Diagnostics, MoveSource, Plan, Resource, Schema,
    Type, Val, Value,
};

use crate::ProviderData;
use crate::aws::clients::partition_of;
use crate::aws::s3::{
    self, BucketParts, BucketWriter, PublicAccessBlock, S3Error, bucket_arn, is_region_name, no_topic_message,
    topic_arn,
};
use crate::policy::bucket::{PolicyShape, bucket_policy, parse_additional, policy_shape, same_statements};
use crate::retry::Budget;
use crate::tags::{self, Tags};
use crate::{moves, policy};

pub const DEFAULT_LIFECYCLE_DAYS: i64 = 200;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

pub struct CurBucket;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CurBucketModel {
    pub id: Option<String>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub cross_account_role_arn: Option<String>,
    pub lifecycle_days: Option<i64>,
    pub enforce_tls: Option<bool>,
    pub notify_vantage: Option<bool>,
    pub additional_policy_statements: Option<String>,
    pub force_destroy: Option<bool>,
    pub tags: Option<Tags>,
    pub tags_all: Option<Tags>,
    pub arn: Option<String>,
    pub policy: Option<String>,
    pub public_access_block: Option<PublicAccessBlock>,
    pub timeouts: Option<Timeouts>,
}

impl CurBucketModel {
    fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or_default()
    }
    fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    fn lifecycle_days(&self) -> i64 {
        self.lifecycle_days.unwrap_or(DEFAULT_LIFECYCLE_DAYS)
    }
    fn notify(&self) -> bool {
        self.notify_vantage.unwrap_or(true)
    }
    fn timeouts(&self) -> Timeouts {
        self.timeouts.clone().unwrap_or_default()
    }
}

const PUBLIC_ACCESS_BLOCK_FIELDS: [&str; 4] = [
    "block_public_acls",
    "ignore_public_acls",
    "block_public_policy",
    "restrict_public_buckets",
];

fn public_access_block_type() -> Type {
    Type::object(PUBLIC_ACCESS_BLOCK_FIELDS.map(|f| (f, Type::Bool)))
}

/// The planned `public_access_block`: all four settings on.
fn all_public_access_blocked() -> Value {
    Value::Object(BTreeMap::from(
        PUBLIC_ACCESS_BLOCK_FIELDS.map(|f| (f.to_string(), Value::from(true))),
    ))
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

fn region_rule(s: &str) -> Result<(), String> {
    if is_region_name(s) {
        Ok(())
    } else {
        Err(format!("{s:?} is not an AWS region name like \"eu-west-1\""))
    }
}

/// What `state` records as done, with the diagnostic of the step that failed (saying so when
/// `budget` ran out in it).
fn partial(state: &CurBucketModel, budget: &Budget) -> impl FnOnce(S3Error) -> ApplyError<CurBucketModel> + use<> {
    let state = state.clone();
    let budget = *budget;
    move |e| ApplyError::with_partial_state(state, explained(&budget, e))
}

fn explained(budget: &Budget, e: S3Error) -> Diagnostic {
    let step = e
        .write_op()
        .map_or_else(|| "writing the bucket".to_string(), |op| format!("waiting for S3 {op}"));
    budget.explain(diagnostic(e), &step)
}

/// An S3 error as a diagnostic, on the attribute it concerns.
fn diagnostic(e: S3Error) -> Diagnostic {
    let d = e.to_diagnostic();
    match e {
        S3Error::AlreadyOwned { .. } | S3Error::NameTaken { .. } | S3Error::Create { .. } => {
            d.at(AttrPath::new("bucket"))
        }
        S3Error::NoVantageTopic { .. } => d.at(AttrPath::new("notify_vantage")),
        _ => d,
    }
}

impl CurBucket {
    /// The state for what S3 holds, keeping the prior policy string when it
    /// means the same as what was read.
    fn state_from_remote(
        ctx: &Ctx<ProviderData>,
        prior: &CurBucketModel,
        region: &str,
        remote: BucketParts,
    ) -> CurBucketModel {
        let default_tags = &ctx.provider().aws.settings.default_tags;
        let bucket = prior.bucket().to_string();
        let policy = match (&prior.policy, remote.policy) {
            (Some(p), Some(actual)) if policy::equivalent(p, &actual) => Some(p.clone()),
            (_, actual) => actual,
        };
        CurBucketModel {
            id: Some(bucket.clone()),
            arn: Some(bucket_arn(partition_of(region), &bucket)),
            bucket: Some(bucket),
            region: Some(region.to_string()),
            lifecycle_days: Some(remote.lifecycle_days),
            notify_vantage: Some(remote.notify_vantage),
            tags: tags::own_tags(&remote.tags, default_tags, prior.tags.as_ref()),
            tags_all: Some(remote.tags),
            policy,
            public_access_block: Some(remote.public_access_block),
            ..prior.clone()
        }
    }

    /// The policy the arguments of `m` call for (the account is the caller's).
    async fn desired_policy(
        ctx: &Ctx<ProviderData>,
        partition: &str,
        bucket: &str,
        m: &CurBucketModel,
    ) -> Result<String, Diagnostic> {
        let account = &ctx.provider().aws.caller().await?.account_id;
        let additional = match &m.additional_policy_statements {
            Some(text) => parse_additional(text).map_err(|e| {
                Diagnostic::error("Invalid additional_policy_statements", e)
                    .at(AttrPath::new("additional_policy_statements"))
            })?,
            None => Vec::new(),
        };
        Ok(bucket_policy(
            partition,
            account,
            bucket,
            m.cross_account_role_arn.as_deref(),
            m.enforce_tls.unwrap_or(true),
            &additional,
        ))
    }

    /// The planned policy, computed now when it depended on values unknown at plan time
    /// (a role created by the same apply).
    async fn planned_policy(ctx: &Ctx<ProviderData>, planned: &CurBucketModel) -> Result<String, Diagnostic> {
        match &planned.policy {
            Some(p) => Ok(p.clone()),
            None => {
                let partition = partition_of(planned.region().unwrap_or("us-east-1"));
                Self::desired_policy(ctx, partition, planned.bucket(), planned).await
            }
        }
    }

    fn writer<'a>(
        ctx: &'a Ctx<ProviderData>,
        s3: aws_sdk_s3::Client,
        m: &'a CurBucketModel,
        budget: Budget,
    ) -> BucketWriter<'a> {
        BucketWriter::new(
            s3,
            m.bucket(),
            m.region().unwrap_or("us-east-1"),
            ctx.cancellation(),
            budget,
        )
    }
}

#[tfplugin::async_trait]
impl Resource<ProviderData> for CurBucket {
    type Model = CurBucketModel;

    fn type_name(&self) -> &'static str {
        "vantage_aws_cur_bucket"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "The S3 bucket AWS billing delivers the Cost and Usage Report into, set up the way Vantage's \
             onboarding does: public access blocked, a bucket policy that lets AWS billing (and Data Exports) \
             write reports and Vantage's cross-account role read them, an expiry rule for old reports, and a \
             notification to Vantage's SNS topic when a new report file lands. Drift on any of these parts \
             shows in the plan and the next apply repairs it. Other expiry rules and notifications on the \
             bucket are kept. The bucket policy is this resource's whole: put your own statements in \
             `additional_policy_statements`, not in a separate `aws_s3_bucket_policy` (the two would \
             replace each other's policy on every apply).",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("The bucket name."),
        )
        .attribute(
            Attribute::string("bucket")
                .required()
                .requires_replace()
                .validator(string("an S3 bucket name", crate::s3::validate_bucket_name))
                .description(
                    "Name of the bucket (S3's naming rules apply: 3-63 lowercase letters, digits, dots and \
                     hyphens). Vantage's console names it `vantage-cur-<id>-<hex>`.",
                ),
        )
        .attribute(
            Attribute::string("region")
                .optional_computed()
                .requires_replace()
                .validator(string("an AWS region name", region_rule))
                .description(
                    "Region of the bucket. Defaults to the provider's region. The report itself always lives \
                     in us-east-1; the bucket may be anywhere, but Vantage's notification topic exists only \
                     in us-east-1, us-west-2, eu-west-1, eu-west-2 and ap-southeast-1.",
                ),
        )
        .attribute(
            Attribute::string("cross_account_role_arn")
                .optional()
                .validator(string("an IAM role ARN", |s| crate::arn::parse_role_arn(s).map(drop)))
                .description(
                    "ARN of Vantage's cross-account role (`vantage_aws_cross_account_role.this.arn`): the bucket \
                     policy lets it read the report files (`s3:GetObject`, `s3:GetObjectAcl`). Without it, \
                     grant that access through the role's `cur_retrieval` policy instead.",
                ),
        )
        .attribute(
            Attribute::number("lifecycle_days")
                .default(DEFAULT_LIFECYCLE_DAYS)
                .validator(int_between(0, i64::from(i32::MAX)))
                .description("Delete report files this many days after they were written; `0` keeps them forever."),
        )
        .attribute(Attribute::bool("enforce_tls").default(true).description(
            "Deny every request to the bucket that does not use TLS (AWS services excepted), as Vantage's module \
             does.",
        ))
        .attribute(Attribute::bool("notify_vantage").default(true).description(
            "Notify Vantage's SNS topic in the bucket's region when a report file (`*.csv.gz`) arrives, so Vantage \
             imports it at once. The topic exists in us-east-1, us-west-2, eu-west-1, eu-west-2 and \
             ap-southeast-1 only; elsewhere set this to `false`.",
        ))
        .attribute(
            Attribute::string("additional_policy_statements")
                .optional()
                .validator(string("a JSON list of IAM policy statements", |s| {
                    parse_additional(s).map(drop)
                }))
                .semantic_equality(|a, b| match (a.as_str(), b.as_str()) {
                    (Some(a), Some(b)) => same_statements(a, b),
                    _ => false,
                })
                .description(
                    "Extra bucket policy statements (a JSON list, e.g. `jsonencode([{ ... }])`, or one \
                     statement object), added after Vantage's.",
                ),
        )
        .attribute(Attribute::bool("force_destroy").default(false).description(
            "Delete every object (all versions) when the bucket is destroyed. Without it, destroying a bucket \
             that holds reports fails. Apply the change before destroying: destroy uses the stored value.",
        ))
        .attribute(tags::tags_attribute())
        .attribute(tags::tags_all_attribute())
        .attribute(
            Attribute::string("arn")
                .computed()
                .use_state_for_unknown()
                .description("ARN of the bucket: register it with Vantage (`bucket_arn`)."),
        )
        .attribute(
            Attribute::string("policy")
                .computed()
                .description("The bucket policy as applied (JSON)."),
        )
        .attribute(
            Attribute::new("public_access_block", public_access_block_type())
                .computed()
                .description("The bucket's public access block settings; all four are kept `true`."),
        )
        .block(timeouts::block(&["create", "update", "delete"]))
    }

    async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
        let mut diags = Diagnostics::new();
        // A region given literally is checked here; the provider's default region at plan time.
        if let (Val::Known(region), notify) = (config.get::<String>("region"), config.get::<bool>("notify_vantage"))
            && is_region_name(&region)
            && notify.known().unwrap_or(true)
            && !config.get::<bool>("notify_vantage").is_unknown()
            && topic_arn(&region).is_none()
        {
            diags.push(
                Diagnostic::error("No Vantage topic in this region", no_topic_message(&region))
                    .at(AttrPath::new("region")),
            );
        }
        diags
    }

    async fn modify_plan(&self, ctx: &Ctx<ProviderData>, plan: &mut Plan) -> Result<(), Diagnostics> {
        if plan.is_destroy() {
            return Ok(());
        }
        let config: CurBucketModel = plan.config()?;
        let prior: Option<CurBucketModel> = plan.prior()?;
        let config_value = plan.config_value().clone();
        let data = ctx.provider();

        let region = match (config_value.attr("region").is_unknown(), &config.region, &prior) {
            (true, _, _) => None,
            (false, Some(r), _) => Some(r.clone()),
            (false, None, Some(p)) if p.region.is_some() => p.region.clone(),
            (false, None, _) => Some(data.aws.region().await),
        };
        match &region {
            Some(r) => plan.set("region", r.as_str()),
            None => plan.set_unknown("region"),
        }
        let bucket = config
            .bucket
            .clone()
            .filter(|_| !config_value.attr("bucket").is_unknown());
        let partition = region.as_deref().map(partition_of);
        match (&bucket, partition) {
            (Some(b), Some(p)) => {
                plan.set("id", b.as_str());
                plan.set("arn", bucket_arn(p, b));
            }
            _ => {
                plan.set_unknown("id");
                plan.set_unknown("arn");
            }
        }

        let notify = config_value.attr("notify_vantage").as_bool().unwrap_or(true)
            && !config_value.attr("notify_vantage").is_unknown();
        if notify
            && let Some(r) = &region
            && topic_arn(r).is_none()
        {
            let path = if config.region.is_some() {
                "region"
            } else {
                "notify_vantage"
            };
            return Err(
                Diagnostic::error("No Vantage topic in this region", no_topic_message(r))
                    .at(AttrPath::new(path))
                    .into(),
            );
        }

        tags::plan_tags_all(plan, &data.aws.settings.default_tags);
        plan.set("public_access_block", all_public_access_blocked());

        let inputs_known = ["cross_account_role_arn", "enforce_tls", "additional_policy_statements"]
            .iter()
            .all(|a| config_value.attr(a).is_wholly_known());
        match (&bucket, partition) {
            (Some(b), Some(p)) if inputs_known => {
                let desired = Self::desired_policy(ctx, p, b, &config).await?;
                let keep = prior
                    .as_ref()
                    .and_then(|p| p.policy.clone())
                    .filter(|prior_doc| policy::equivalent(prior_doc, &desired));
                plan.set("policy", keep.unwrap_or(desired));
            }
            _ => plan.set_unknown("policy"),
        }
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: CurBucketModel,
    ) -> Result<CurBucketModel, ApplyError<CurBucketModel>> {
        let bucket = planned.bucket().to_string();
        let region = planned.region().unwrap_or("us-east-1").to_string();
        // `timeouts.create` bounds the whole create: each step gets what the earlier ones left.
        let budget = Budget::new("create", planned.timeouts().create_or(DEFAULT_TIMEOUT));
        let client = ctx.provider().aws.s3(Some(&region)).await;
        // Once the bucket exists a failure returns what was done as partial state, so the next
        // apply continues and nothing is orphaned.
        let mut done = CurBucketModel {
            id: Some(bucket.clone()),
            region: Some(region.clone()),
            arn: Some(bucket_arn(partition_of(&region), &bucket)),
            policy: None,
            public_access_block: Some(PublicAccessBlock::default()),
            lifecycle_days: Some(0),
            notify_vantage: Some(false),
            tags_all: Some(Tags::new()),
            ..planned.clone()
        };
        // The bucket may exist after a failure here (the answer was lost, Terraform stopped the
        // wait, or the bound passed with the call out): the next refresh finds it or drops it.
        match budget
            .bound(s3::create_bucket(&client, &bucket, &region, ctx.cancellation()))
            .await
        {
            None => {
                return Err(ApplyError::with_partial_state(
                    done,
                    budget
                        .ran_out("waiting for S3 CreateBucket")
                        .at(AttrPath::new("bucket")),
                ));
            }
            Some(Err(e)) if e.may_have_created() => return Err(ApplyError::with_partial_state(done, diagnostic(e))),
            Some(Err(e)) => return Err(ApplyError::from(diagnostic(e))),
            Some(Ok(())) => {}
        }
        let writer = Self::writer(ctx, client, &planned, budget);
        writer.block_public_access().await.map_err(partial(&done, &budget))?;
        done.public_access_block = Some(PublicAccessBlock::ALL_ON);
        let document = Self::planned_policy(ctx, &planned)
            .await
            .map_err(|d| ApplyError::with_partial_state(done.clone(), d))?;
        writer
            .put_bucket_policy(&document)
            .await
            .map_err(partial(&done, &budget))?;
        let written = CurBucketModel {
            policy: Some(document.clone()),
            ..done.clone()
        };
        let applied = writer
            .applied_bucket_policy()
            .await
            .map_err(partial(&written, &budget))?;
        done.policy = Some(if policy::equivalent(&applied, &document) {
            document
        } else {
            applied
        });
        if planned.lifecycle_days() > 0 {
            writer
                .put_expiry_rule(planned.lifecycle_days())
                .await
                .map_err(partial(&done, &budget))?;
            done.lifecycle_days = Some(planned.lifecycle_days());
        }
        if planned.notify() {
            writer
                .put_vantage_notification(true)
                .await
                .map_err(partial(&done, &budget))?;
            done.notify_vantage = Some(true);
        }
        let all_tags = planned.tags_all.clone().unwrap_or_default();
        if !all_tags.is_empty() {
            writer.put_tags(&all_tags).await.map_err(partial(&done, &budget))?;
            done.tags_all = Some(all_tags);
        }
        Ok(done)
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: CurBucketModel,
    ) -> Result<Option<CurBucketModel>, Diagnostics> {
        let region = match current.region() {
            Some(r) => r.to_string(),
            None => ctx.provider().aws.region().await,
        };
        let client = ctx.provider().aws.s3(Some(&region)).await;
        let remote = s3::read_bucket(&client, current.bucket(), &region).await;
        let Some(remote) = remote.map_err(diagnostic)? else {
            return Ok(None);
        };
        let mut prior = current;
        // Imported and moved states carry no `enforce_tls` yet (every plan sets it).
        if prior.enforce_tls.is_none() {
            let account = &ctx.provider().aws.caller().await?.account_id;
            let shape = remote.policy.as_deref().map_or(PolicyShape::NO_POLICY, |p| {
                policy_shape(partition_of(&region), account, prior.bucket(), p)
            });
            prior.cross_account_role_arn = shape.role_arn;
            prior.enforce_tls = Some(shape.enforce_tls);
            prior.additional_policy_statements = shape.additional;
            prior.force_destroy.get_or_insert(false);
        }
        Ok(Some(Self::state_from_remote(ctx, &prior, &region, remote)))
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: CurBucketModel,
        planned: CurBucketModel,
    ) -> Result<CurBucketModel, ApplyError<CurBucketModel>> {
        // `timeouts.update` bounds the whole update: each step gets what the earlier ones left.
        let budget = Budget::new("update", planned.timeouts().update_or(DEFAULT_TIMEOUT));
        let region = planned.region().or(prior.region()).unwrap_or("us-east-1").to_string();
        let client = ctx.provider().aws.s3(Some(&region)).await;
        let writer = Self::writer(ctx, client, &planned, budget);
        // Progress so far: on failure Terraform keeps what was done.
        let mut done = prior.clone();

        if prior.public_access_block != Some(PublicAccessBlock::ALL_ON) {
            writer.block_public_access().await.map_err(partial(&done, &budget))?;
            done.public_access_block = Some(PublicAccessBlock::ALL_ON);
        }
        let document = Self::planned_policy(ctx, &planned)
            .await
            .map_err(|d| ApplyError::with_partial_state(done.clone(), d))?;
        if prior
            .policy
            .as_deref()
            .is_none_or(|p| !policy::equivalent(p, &document))
        {
            writer
                .put_bucket_policy(&document)
                .await
                .map_err(partial(&done, &budget))?;
            let applied = writer.applied_bucket_policy().await.map_err(partial(&done, &budget))?;
            done.policy = Some(if policy::equivalent(&applied, &document) {
                document
            } else {
                applied
            });
        } else if planned.policy.is_none() {
            done.policy = Some(document);
        }
        if planned.lifecycle_days != prior.lifecycle_days {
            writer
                .put_expiry_rule(planned.lifecycle_days())
                .await
                .map_err(partial(&done, &budget))?;
            done.lifecycle_days = planned.lifecycle_days;
        }
        if planned.notify_vantage != prior.notify_vantage {
            writer
                .put_vantage_notification(planned.notify())
                .await
                .map_err(partial(&done, &budget))?;
            done.notify_vantage = planned.notify_vantage;
        }
        if planned.tags_all != prior.tags_all {
            let all = planned.tags_all.clone().unwrap_or_default();
            writer.put_tags(&all).await.map_err(partial(&done, &budget))?;
            done.tags_all = Some(all);
        }
        Ok(CurBucketModel {
            policy: done.policy,
            public_access_block: done.public_access_block,
            ..planned
        })
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: CurBucketModel) -> Result<(), Diagnostics> {
        let region = prior.region().unwrap_or("us-east-1");
        let budget = Budget::new("delete", prior.timeouts().delete_or(DEFAULT_TIMEOUT));
        let client = ctx.provider().aws.s3(Some(region)).await;
        let force = prior.force_destroy.unwrap_or(false);
        let step = "deleting the bucket";
        // Deleting is safe to abandon at the deadline: the bucket stays in state and the next
        // destroy starts again.
        let deleted = budget
            .bound(s3::delete_bucket(
                &client,
                prior.bucket(),
                force,
                ctx.cancellation(),
                budget.left(),
            ))
            .await
            .ok_or_else(|| budget.ran_out(step))?;
        deleted.map_err(|e| budget.explain(diagnostic(e), step).into())
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<CurBucketModel, Diagnostics> {
        crate::s3::validate_bucket_name(id).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Invalid import id",
                format!("{e}. Import the CUR bucket by its name."),
            ))
        })?;
        let data = ctx.provider();
        let home = data.aws.s3(None).await;
        let Some(region) = s3::bucket_location(&home, id).await.map_err(diagnostic)? else {
            return Err(Diagnostic::error(
                "Cannot import a missing bucket",
                format!("There is no S3 bucket named {id:?} that these credentials can see."),
            )
            .into());
        };
        let prior = CurBucketModel {
            bucket: Some(id.to_string()),
            region: Some(region),
            ..CurBucketModel::default()
        };
        self.read(ctx, prior).await?.ok_or_else(|| {
            Diagnostic::error(
                "Cannot import a missing bucket",
                format!("The S3 bucket {id:?} disappeared while it was being imported."),
            )
            .into()
        })
    }

    /// `moved { from = aws_s3_bucket.x  to = vantage_aws_cur_bucket.x }`. The bucket's
    /// satellites (policy, public access block, lifecycle, notification, ACL) are part of
    /// this resource: those are forgotten with `removed` blocks, not moved.
    async fn move_state(&self, from: &MoveSource) -> Option<Result<serde_json::Value, Diagnostics>> {
        if moves::from_hashicorp_aws(from, "aws_s3_bucket") {
            return Some(moved_from_aws_s3_bucket(from));
        }
        let folded = [
            "aws_s3_bucket_policy",
            "aws_s3_bucket_public_access_block",
            "aws_s3_bucket_lifecycle_configuration",
            "aws_s3_bucket_notification",
            "aws_s3_bucket_acl",
        ];
        folded
            .iter()
            .any(|t| moves::from_hashicorp_aws(from, t))
            .then(|| Err(moves::folded_into(from, "vantage_aws_cur_bucket", "the aws_s3_bucket")))
    }
}

/// An `aws_s3_bucket` state as this type's; the refresh reads the policy's shape
/// (role, TLS rule, other statements), the lifecycle and the notification.
fn moved_from_aws_s3_bucket(from: &MoveSource) -> Result<serde_json::Value, Diagnostics> {
    let s = &from.state;
    let bucket = moves::required(s, "bucket", from)?;
    moves::state(&CurBucketModel {
        id: Some(bucket.clone()),
        arn: moves::string(s, "arn"),
        region: moves::string(s, "region"),
        force_destroy: moves::boolean(s, "force_destroy"),
        tags: moves::tags(s, "tags"),
        tags_all: moves::tags(s, "tags_all"),
        bucket: Some(bucket),
        ..CurBucketModel::default()
    })
}

#[cfg(test)]
mod move_tests {
    use super::*;

    fn source(type_name: &str, state: serde_json::Value) -> MoveSource {
        MoveSource {
            provider_address: "registry.terraform.io/hashicorp/aws".into(),
            type_name: type_name.into(),
            schema_version: 0,
            state,
        }
    }

    #[test]
    fn an_aws_s3_bucket_moves_and_leaves_the_policy_shape_to_the_refresh() {
        let from = source(
            "aws_s3_bucket",
            serde_json::json!({"bucket": "b", "region": "eu-west-1", "force_destroy": false, "tags": {}}),
        );
        let moved = moved_from_aws_s3_bucket(&from).unwrap_or_default();
        assert_eq!(moved["id"], "b");
        assert_eq!(moved["region"], "eu-west-1");
        assert_eq!(moved["force_destroy"], false);
        assert_eq!(moved["tags"], serde_json::Value::Null);
        assert_eq!(moved["enforce_tls"], serde_json::Value::Null);
    }

    #[tokio::test]
    async fn satellites_are_refused_with_the_removed_block_to_write() {
        let from = source("aws_s3_bucket_policy", serde_json::json!({"bucket": "b"}));
        let refused = CurBucket.move_state(&from).await;
        let Some(Err(diags)) = refused else {
            panic!("a bucket policy cannot be moved onto the bucket");
        };
        assert!(format!("{diags:?}").contains("destroy = false"), "{diags:?}");
        assert!(
            CurBucket
                .move_state(&source("aws_iam_role", serde_json::Value::Null))
                .await
                .is_none()
        );
    }
}
