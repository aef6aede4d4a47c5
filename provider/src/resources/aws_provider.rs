//! `vantage_aws_provider`: the resource of Vantage's official provider, with
//! its exact attributes (`cross_account_arn`, `bucket_arn`, numeric `id`),
//! so a configuration written for it works here by changing only the
//! provider source. The registration itself is the code
//! `vantage_aws_integration` uses too ([`Registrations`]); this file only
//! holds the official schema and model.
//!
//! What the official resource lacks and this one adds: import, an `id` that
//! stays known across updates, retries while IAM propagates a new role,
//! rate-limit and server-error handling, removing the bucket for real, and
//! an optional `timeouts` block.

use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::custom;
use tfplugin::timeouts::{self, Timeouts};
use tfplugin::{ApplyError, Attribute, Ctx, Diagnostics, MoveSource, Resource, Schema};

use crate::ProviderData;
use crate::registration::{
    AWS_PROVIDER_TYPE, RegistrationModel, Registrations, bucket_arn_check, bucket_for_state, role_arn_check,
};
use crate::vantage::integrations::Registration;

pub struct AwsProvider;

pub const TYPE_NAME: &str = AWS_PROVIDER_TYPE;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AwsProviderModel {
    pub id: Option<i64>,
    #[serde(rename = "cross_account_arn")]
    pub role_arn: Option<String>,
    pub bucket_arn: Option<String>,
    pub timeouts: Option<Timeouts>,
}

impl RegistrationModel for AwsProviderModel {
    fn v1_id(&self) -> Option<String> {
        self.id.map(|id| id.to_string())
    }

    fn role_arn(&self) -> Option<&str> {
        self.role_arn.as_deref()
    }

    fn bucket_arn(&self) -> Option<&str> {
        self.bucket_arn.as_deref()
    }

    fn timeouts(&self) -> Timeouts {
        self.timeouts.clone().unwrap_or_default()
    }

    fn from_registration(r: Registration, prior: &AwsProviderModel) -> AwsProviderModel {
        AwsProviderModel {
            id: Some(i64::from(r.id)),
            bucket_arn: bucket_for_state(r.bucket_arn, prior.bucket_arn.as_deref()),
            role_arn: Some(r.role_arn),
            timeouts: prior.timeouts.clone(),
        }
    }

    fn unchanged(prior: AwsProviderModel, planned: AwsProviderModel) -> AwsProviderModel {
        AwsProviderModel {
            id: prior.id,
            ..planned
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
        Registrations::new(ctx, TYPE_NAME).create(planned).await
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: AwsProviderModel,
    ) -> Result<Option<AwsProviderModel>, Diagnostics> {
        Registrations::new(ctx, TYPE_NAME).read(current).await
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: AwsProviderModel,
        planned: AwsProviderModel,
    ) -> Result<AwsProviderModel, ApplyError<AwsProviderModel>> {
        Registrations::new(ctx, TYPE_NAME).update(prior, planned).await
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: AwsProviderModel) -> Result<(), Diagnostics> {
        Registrations::new(ctx, TYPE_NAME).delete(prior).await
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<AwsProviderModel, Diagnostics> {
        Registrations::new(ctx, TYPE_NAME).import(id).await
    }

    /// `moved` from Vantage's official provider's `vantage_aws_provider` (same schema), for
    /// a configuration that changes the provider's source address.
    async fn move_state(&self, from: &MoveSource) -> Option<Result<serde_json::Value, Diagnostics>> {
        (from.type_name == TYPE_NAME).then(|| {
            let s = &from.state;
            crate::moves::state(&AwsProviderModel {
                id: crate::moves::integer(s, "id"),
                role_arn: crate::moves::string(s, "cross_account_arn"),
                bucket_arn: crate::moves::string(s, "bucket_arn"),
                timeouts: None,
            })
        })
    }
}
