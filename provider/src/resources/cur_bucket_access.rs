//! `vantage_aws_cur_bucket_access`: Vantage's access to a bucket users already have, whose
//! policy and notifications other tools manage. Vantage's bucket policy statements (marked by
//! their Sids) are merged beside the others and removed again on destroy; the notification to
//! Vantage's topic is added beside existing ones. Nothing else about the bucket is touched.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::string;
use tfplugin::timeouts::{self, Timeouts};
use tfplugin::{ApplyError, AttrPath, Attribute, Ctx, Diagnostic, Diagnostics, Plan, Resource, Schema};

use crate::ProviderData;
use crate::aws::clients::partition_of;
use crate::aws::s3::{self, BucketWriter, S3Error};
use crate::policy::bucket::{merge_vantage_statements, same_statements, vantage_statements, vantage_statements_in};
use crate::retry::Budget;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

pub struct CurBucketAccess;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CurBucketAccessModel {
    pub id: Option<String>,
    pub bucket: String,
    pub region: Option<String>,
    pub cross_account_role_arn: Option<String>,
    pub notify_vantage: Option<bool>,
    pub vantage_statements: Option<String>,
    pub timeouts: Option<Timeouts>,
}

impl CurBucketAccessModel {
    fn notify(&self) -> bool {
        self.notify_vantage.unwrap_or(true)
    }
}

fn diagnostic(e: S3Error) -> Diagnostic {
    match e {
        S3Error::Missing { .. } => e.to_diagnostic().at(AttrPath::new("bucket")),
        e => e.to_diagnostic(),
    }
}

impl CurBucketAccess {
    async fn region(ctx: &Ctx<ProviderData>, bucket: &str) -> Result<Option<String>, Diagnostic> {
        let home = ctx.provider().aws.s3(None).await;
        s3::bucket_location(&home, bucket).await.map_err(diagnostic)
    }

    /// Vantage's statements for the bucket, as this configuration asks for them.
    async fn ours(
        ctx: &Ctx<ProviderData>,
        m: &CurBucketAccessModel,
        region: &str,
    ) -> Result<Vec<serde_json::Value>, Diagnostic> {
        let account = ctx.provider().aws.caller().await?.account_id.clone();
        Ok(vantage_statements(
            partition_of(region),
            &account,
            &m.bucket,
            m.cross_account_role_arn.as_deref(),
        ))
    }

    /// Merges (or, with `ours` empty, removes) Vantage's statements and sets the notification
    /// (`None` leaves notifications as they are).
    async fn write(
        ctx: &Ctx<ProviderData>,
        m: &CurBucketAccessModel,
        region: &str,
        ours: &[serde_json::Value],
        notify: Option<bool>,
        budget: &Budget,
    ) -> Result<(), Diagnostic> {
        let client = ctx.provider().aws.s3(Some(region)).await;
        let step = "reading the bucket";
        // A read, safe to abandon at the deadline.
        let current = budget
            .bound(s3::read_bucket(&client, &m.bucket, region))
            .await
            .ok_or_else(|| budget.ran_out(step))?
            .map_err(|e| budget.explain(diagnostic(e), step))?
            .ok_or_else(|| {
                diagnostic(S3Error::Missing {
                    bucket: m.bucket.clone(),
                    waited: Duration::ZERO,
                })
            })?;
        let merged = merge_vantage_statements(current.policy.as_deref(), ours).map_err(|e| {
            Diagnostic::error(
                "Cannot merge into the bucket policy",
                format!("{e}. Fix the bucket's policy where it is managed, then apply again."),
            )
        })?;
        let writer = BucketWriter::new(client, &m.bucket, region, ctx.cancellation(), *budget);
        let explained = |e: S3Error| {
            let step = format!("waiting for S3 {}", e.write_op().unwrap_or("on the bucket"));
            budget.explain(diagnostic(e), &step)
        };
        match merged {
            Some(policy) => writer.put_bucket_policy(&policy).await.map_err(explained)?,
            None => writer.delete_bucket_policy().await.map_err(explained)?,
        }
        if let Some(notify) = notify.filter(|n| *n != current.notify_vantage) {
            writer.put_vantage_notification(notify).await.map_err(explained)?;
        }
        Ok(())
    }

    async fn read_state(
        ctx: &Ctx<ProviderData>,
        prior: &CurBucketAccessModel,
    ) -> Result<Option<CurBucketAccessModel>, Diagnostic> {
        let Some(region) = Self::region(ctx, &prior.bucket).await? else {
            return Ok(None);
        };
        let client = ctx.provider().aws.s3(Some(&region)).await;
        let Some(parts) = s3::read_bucket(&client, &prior.bucket, &region)
            .await
            .map_err(diagnostic)?
        else {
            return Ok(None);
        };
        let actual = vantage_statements_in(parts.policy.as_deref());
        let statements = match &prior.vantage_statements {
            Some(p) if same_statements(p, &actual) => p.clone(),
            _ => actual,
        };
        Ok(Some(CurBucketAccessModel {
            id: Some(prior.bucket.clone()),
            region: Some(region),
            notify_vantage: Some(parts.notify_vantage),
            vantage_statements: Some(statements),
            ..prior.clone()
        }))
    }
}

#[tfplugin::async_trait]
impl Resource<ProviderData> for CurBucketAccess {
    type Model = CurBucketAccessModel;

    fn type_name(&self) -> &'static str {
        "vantage_aws_cur_bucket_access"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "Vantage's access to a CUR bucket you already have, whose policy and notifications another tool \
             manages (use `vantage_aws_cur_bucket` for a bucket this provider creates). Vantage's statements \
             (billing and Data Exports may write reports, Vantage's role may read them; marked by Sids starting \
             with `Vantage`) are merged beside the policy's other statements, which are never touched, and \
             removed again on destroy. The notification of new report files to Vantage's topic is added beside \
             existing notifications.",
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
                .validator(string("an S3 bucket name", crate::aws::cur::check_bucket_name))
                .description("The existing bucket AWS billing delivers into."),
        )
        .attribute(
            Attribute::string("region")
                .computed()
                .use_state_for_unknown()
                .description("The bucket's region."),
        )
        .attribute(
            Attribute::string("cross_account_role_arn")
                .optional()
                .validator(string("an IAM role ARN", crate::arn::check_principal_arn))
                .description("Vantage's cross-account role, allowed to read the report files."),
        )
        .attribute(Attribute::bool("notify_vantage").default(true).description(
            "Notify Vantage's SNS topic of new `.csv.gz` files (beside the bucket's other notifications).",
        ))
        .attribute(
            Attribute::string("vantage_statements")
                .computed()
                .description("Vantage's statements in the bucket policy (JSON list), as S3 holds them."),
        )
        .block(timeouts::block(&["create", "update", "delete"]))
    }

    async fn modify_plan(&self, ctx: &Ctx<ProviderData>, plan: &mut Plan) -> Result<(), Diagnostics> {
        if plan.is_destroy() {
            return Ok(());
        }
        let config = plan.config_value().clone();
        plan.set("id", config.attr("bucket").clone());
        if !config.is_wholly_known() {
            plan.set_unknown("vantage_statements");
            return Ok(());
        }
        let planned: CurBucketAccessModel = plan.planned()?;
        let prior: Option<CurBucketAccessModel> = plan.prior()?;
        let region = match prior.as_ref().and_then(|p| p.region.clone()) {
            Some(r) => r,
            None => match Self::region(ctx, &planned.bucket).await? {
                Some(r) => r,
                None => {
                    return Err(Diagnostic::error(
                        "CUR bucket not found",
                        format!(
                            "There is no S3 bucket named {:?} that these credentials can see. This resource adds \
                             Vantage's access to a bucket you already have; to create one, use \
                             vantage_aws_cur_bucket.",
                            planned.bucket
                        ),
                    )
                    .at(AttrPath::new("bucket"))
                    .into());
                }
            },
        };
        let desired = serde_json::Value::Array(Self::ours(ctx, &planned, &region).await?).to_string();
        let keep = prior
            .and_then(|p| p.vantage_statements)
            .filter(|p| same_statements(p, &desired));
        plan.set("vantage_statements", keep.unwrap_or(desired));
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: CurBucketAccessModel,
    ) -> Result<CurBucketAccessModel, ApplyError<CurBucketAccessModel>> {
        // `timeouts.create` bounds the whole create: each step gets what the earlier ones left.
        let budget = Budget::new(
            "create",
            planned.timeouts.clone().unwrap_or_default().create_or(DEFAULT_TIMEOUT),
        );
        let region = crate::s3::delivery_region(ctx, &planned.bucket, None, &budget).await?;
        let ours = Self::ours(ctx, &planned, &region).await?;
        Self::write(ctx, &planned, &region, &ours, Some(planned.notify()), &budget).await?;
        Ok(CurBucketAccessModel {
            id: Some(planned.bucket.clone()),
            region: Some(region),
            notify_vantage: Some(planned.notify()),
            vantage_statements: Some(serde_json::Value::Array(ours).to_string()),
            ..planned
        })
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: CurBucketAccessModel,
    ) -> Result<Option<CurBucketAccessModel>, Diagnostics> {
        Ok(Self::read_state(ctx, &current).await?)
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: CurBucketAccessModel,
        planned: CurBucketAccessModel,
    ) -> Result<CurBucketAccessModel, ApplyError<CurBucketAccessModel>> {
        let budget = Budget::new(
            "update",
            planned.timeouts.clone().unwrap_or_default().update_or(DEFAULT_TIMEOUT),
        );
        let region = prior.region.clone().unwrap_or_default();
        let ours = Self::ours(ctx, &planned, &region).await?;
        Self::write(ctx, &planned, &region, &ours, Some(planned.notify()), &budget).await?;
        Ok(CurBucketAccessModel {
            id: Some(planned.bucket.clone()),
            region: Some(region),
            notify_vantage: Some(planned.notify()),
            ..planned
        })
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: CurBucketAccessModel) -> Result<(), Diagnostics> {
        let budget = Budget::new(
            "delete",
            prior.timeouts.clone().unwrap_or_default().delete_or(DEFAULT_TIMEOUT),
        );
        let Some(region) = Self::region(ctx, &prior.bucket).await? else {
            return Ok(());
        };
        // A notification this resource did not add (`notify_vantage = false`) is not its to remove.
        let notify = prior.notify().then_some(false);
        Ok(Self::write(ctx, &prior, &region, &[], notify, &budget).await?)
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<CurBucketAccessModel, Diagnostics> {
        let prior = CurBucketAccessModel {
            bucket: id.to_string(),
            ..CurBucketAccessModel::default()
        };
        let Some(mut state) = Self::read_state(ctx, &prior).await? else {
            return Err(Diagnostic::error(
                "Cannot import a missing bucket",
                format!("There is no S3 bucket named {id:?} that these credentials can see."),
            )
            .into());
        };
        // The role the statements name, so a configuration naming it imports without a diff.
        let statements: Vec<serde_json::Value> =
            serde_json::from_str(state.vantage_statements.as_deref().unwrap_or("[]")).unwrap_or_default();
        state.cross_account_role_arn = statements
            .iter()
            .find(|s| s["Sid"] == "VantageReadReports")
            .and_then(|s| s["Principal"]["AWS"].as_str())
            .map(str::to_string);
        Ok(state)
    }
}
