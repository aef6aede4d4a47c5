//! `vantage_aws_provider`: the resource of Vantage's official provider, with
//! its exact attributes (`cross_account_arn`, `bucket_arn`, numeric `id`),
//! so a configuration written for it works here by changing only the
//! provider source. The registration itself is `vantage_aws_integration`'s
//! code ([`Registrations`]); this file only maps the official model onto it.
//!
//! What the official resource lacks and this one adds: import, an `id` that
//! stays known across updates, retries while IAM propagates a new role,
//! rate-limit and server-error handling, removing the bucket for real, and
//! an optional `timeouts` block.

use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::custom;
use tfplugin::timeouts::{self, Timeouts};
use tfplugin::{ApplyError, Attribute, Ctx, Diagnostic, Diagnostics, Resource, Schema};

use super::aws_integration::{
    DEFAULT_TIMEOUT, Registration, RegistrationModel, Registrations, bucket_arn_check, bucket_for_state, parse_id,
    role_arn_check, same_registration,
};
use crate::ProviderData;

pub struct AwsProvider;

pub const TYPE_NAME: &str = "vantage_aws_provider";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AwsProviderModel {
    pub id: Option<i64>,
    pub cross_account_arn: Option<String>,
    pub bucket_arn: Option<String>,
    pub timeouts: Option<Timeouts>,
}

impl RegistrationModel for AwsProviderModel {
    fn v1_id(&self) -> Result<i32, Diagnostic> {
        let text = self.id.map(|id| id.to_string()).unwrap_or_default();
        parse_id(&text).map_err(|e| Diagnostic::error("Invalid state", e))
    }

    fn timeouts(&self) -> Timeouts {
        self.timeouts.clone().unwrap_or_default()
    }

    fn role(&self) -> Result<&str, Diagnostic> {
        self.cross_account_arn
            .as_deref()
            .ok_or_else(|| Diagnostic::error("Provider internal error", "cross_account_arn is missing."))
    }

    fn bucket_arn(&self) -> Option<&str> {
        self.bucket_arn.as_deref()
    }

    fn from_registration(r: Registration, prior: &AwsProviderModel) -> AwsProviderModel {
        AwsProviderModel {
            id: Some(i64::from(r.id)),
            bucket_arn: bucket_for_state(r.bucket_arn, prior.bucket_arn.as_deref()),
            cross_account_arn: Some(r.role_arn),
            timeouts: prior.timeouts.clone(),
        }
    }
}

#[tfplugin::async_trait]
impl Resource<ProviderData> for AwsProvider {
    type Model = AwsProviderModel;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "Manages an AWS Account Integration: the same resource as Vantage's official provider (same \
             attributes), served by the code of `vantage_aws_integration`, so existing configurations work by \
             changing only the provider source. Adds import, an `id` that stays known on updates, retries while \
             IAM propagates a new role, rate-limit and server-error handling, and removing `bucket_arn` really \
             clears the bucket. New configurations should prefer `vantage_aws_integration` (status and token \
             too); `moved` blocks move state from this type to it.",
        )
        .attribute(
            Attribute::number("id")
                .computed()
                .use_state_for_unknown()
                .description("Service generated identifier for the account access (the integration id)."),
        )
        .attribute(
            Attribute::string("cross_account_arn")
                .required()
                .validator(custom("an IAM role ARN", role_arn_check))
                .description("ARN to use for cross account access: the role Vantage assumes."),
        )
        .attribute(
            Attribute::string("bucket_arn")
                .optional()
                .validator(custom(
                    "an S3 bucket ARN such as `arn:aws:s3:::my-cur-bucket`",
                    bucket_arn_check,
                ))
                .description(
                    "Bucket ARN for where CUR data is being stored. Removing it clears the bucket in Vantage.",
                ),
        )
        .block(timeouts::block(&["create", "update", "delete"]))
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: AwsProviderModel,
    ) -> Result<AwsProviderModel, ApplyError<AwsProviderModel>> {
        Registrations::new(ctx, TYPE_NAME).create_state(planned).await
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: AwsProviderModel,
    ) -> Result<Option<AwsProviderModel>, Diagnostics> {
        Registrations::new(ctx, TYPE_NAME).read_state(current).await
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: AwsProviderModel,
        planned: AwsProviderModel,
    ) -> Result<AwsProviderModel, ApplyError<AwsProviderModel>> {
        let id = prior.v1_id()?;
        let role = planned.role()?;
        if same_registration(
            (prior.cross_account_arn.as_deref(), prior.bucket_arn.as_deref()),
            (Some(role), planned.bucket_arn.as_deref()),
        ) {
            return Ok(AwsProviderModel {
                id: prior.id,
                ..planned
            });
        }
        let timeout = planned.timeouts().update_or(DEFAULT_TIMEOUT);
        let r = Registrations::new(ctx, TYPE_NAME)
            .update(id, role, planned.bucket_arn.as_deref(), timeout)
            .await?;
        Ok(AwsProviderModel::from_registration(r, &planned))
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: AwsProviderModel) -> Result<(), Diagnostics> {
        Registrations::new(ctx, TYPE_NAME).delete_state(prior).await
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<AwsProviderModel, Diagnostics> {
        let r = Registrations::new(ctx, TYPE_NAME).import(id).await?;
        Ok(AwsProviderModel::from_registration(r, &AwsProviderModel::default()))
    }
}
