//! `vantage_aws_integration`: the registration of the cross-account role (and
//! the CUR bucket) with Vantage, kept reconciled on every refresh. The
//! registration itself is `registration::Registrations` (shared with
//! `vantage_aws_provider`); this file holds the schema, the model and the
//! `moved` conversion from `vantage_aws_provider`.

use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::custom;
use tfplugin::timeouts::{self, Timeouts};
use tfplugin::{ApplyError, Attribute, Ctx, Diagnostic, Diagnostics, MoveSource, Plan, Resource, Schema};

use crate::ProviderData;
use crate::registration::{
    AWS_PROVIDER_TYPE, RegistrationModel, Registrations, bucket_arn_check, bucket_for_state, role_arn_check,
};
use crate::vantage::integrations::{Registration, account_of};

pub struct AwsIntegration;

pub const TYPE_NAME: &str = "vantage_aws_integration";

const STATUS_VALUES: &str = "`pending` (registered, not verified yet), `importing` (waiting for the first Cost and \
                             Usage Report), `imported`, `connected`, `error` (Vantage cannot assume the role; a \
                             warning says why) or `disconnected`";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IntegrationModel {
    pub id: Option<String>,
    #[serde(rename = "cross_account_role_arn")]
    pub role_arn: Option<String>,
    pub bucket_arn: Option<String>,
    pub account_id: Option<String>,
    pub token: Option<String>,
    pub status: Option<String>,
    pub timeouts: Option<Timeouts>,
}

impl RegistrationModel for IntegrationModel {
    fn v1_id(&self) -> Option<String> {
        self.id.clone()
    }

    fn token(&self) -> Option<&str> {
        self.token.as_deref()
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

    fn from_registration(r: Registration, prior: &IntegrationModel) -> IntegrationModel {
        IntegrationModel {
            id: Some(r.id.to_string()),
            account_id: r.account_id().map(str::to_string),
            bucket_arn: bucket_for_state(r.bucket_arn, prior.bucket_arn.as_deref()),
            token: r.token.or_else(|| prior.token.clone()),
            status: r.status.or_else(|| prior.status.clone()),
            role_arn: Some(r.role_arn),
            timeouts: prior.timeouts.clone(),
        }
    }

    fn unchanged(prior: IntegrationModel, planned: IntegrationModel) -> IntegrationModel {
        IntegrationModel {
            id: prior.id,
            account_id: prior.account_id,
            token: prior.token,
            status: prior.status,
            ..planned
        }
    }
}

#[tfplugin::async_trait]
impl Resource<ProviderData> for AwsIntegration {
    type Model = IntegrationModel;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "Registers the cross-account role (and the bucket the Cost and Usage Report lands in) with Vantage, \
             and keeps Vantage's view reconciled on every plan: an integration deleted or changed in Vantage \
             shows as a change, and `status` says whether Vantage can read the account. A brand-new role is \
             retried until IAM lets Vantage assume it (up to `timeouts.create`). Connecting a member account \
             before the organisation's management account is warned about.",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("Vantage's id of the integration (the v1 access credential id). Import with it."),
        )
        .attribute(
            Attribute::string("cross_account_role_arn")
                .required()
                .validator(custom("an IAM role ARN", role_arn_check))
                .description(
                    "ARN of the role Vantage assumes, e.g. `vantage_aws_cross_account_role.this.arn`. Changing \
                     it moves the same integration to the new role.",
                ),
        )
        .attribute(
            Attribute::string("bucket_arn")
                .optional()
                .validator(custom(
                    "an S3 bucket ARN such as `arn:aws:s3:::my-cur-bucket`",
                    bucket_arn_check,
                ))
                .description(
                    "ARN of the bucket the Cost and Usage Report is delivered to; the role must be able to read \
                     it. Leave it out for accounts without a CUR (member accounts); removing it clears the \
                     bucket in Vantage.",
                ),
        )
        .attribute(
            Attribute::string("account_id")
                .computed()
                .description("The AWS account id of the role."),
        )
        .attribute(
            Attribute::string("token")
                .computed()
                .use_state_for_unknown()
                .description("The integration's token in Vantage's v2 API (`accss_crdntl_...`)."),
        )
        .attribute(
            Attribute::string("status")
                .computed()
                .description(&format!("Vantage's status of the integration: {STATUS_VALUES}.")),
        )
        .block(timeouts::block(&["create", "update", "delete"]))
    }

    async fn modify_plan(&self, _ctx: &Ctx<ProviderData>, plan: &mut Plan) -> Result<(), Diagnostics> {
        let role_arn = plan.config_value().attr("cross_account_role_arn").clone();
        match role_arn.as_str() {
            Some(arn) => plan.set("account_id", account_of(arn)),
            None if role_arn.is_unknown() => plan.set_unknown("account_id"),
            None => {}
        }
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: IntegrationModel,
    ) -> Result<IntegrationModel, ApplyError<IntegrationModel>> {
        Registrations::new(ctx, TYPE_NAME).create(planned).await
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: IntegrationModel,
    ) -> Result<Option<IntegrationModel>, Diagnostics> {
        Registrations::new(ctx, TYPE_NAME).read(current).await
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: IntegrationModel,
        planned: IntegrationModel,
    ) -> Result<IntegrationModel, ApplyError<IntegrationModel>> {
        Registrations::new(ctx, TYPE_NAME).update(prior, planned).await
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: IntegrationModel) -> Result<(), Diagnostics> {
        Registrations::new(ctx, TYPE_NAME).delete(prior).await
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<IntegrationModel, Diagnostics> {
        Registrations::new(ctx, TYPE_NAME).import(id).await
    }

    /// `moved { from = vantage_aws_provider.x  to = vantage_aws_integration.x }`,
    /// from this provider's drop-in type or from Vantage's official provider.
    async fn move_state(&self, from: &MoveSource) -> Option<Result<serde_json::Value, Diagnostics>> {
        (from.type_name == AWS_PROVIDER_TYPE).then(|| moved_from_aws_provider(&from.state).map_err(Diagnostics::from))
    }
}

/// The state of a `vantage_aws_provider` (numeric `id`, `cross_account_arn`,
/// `bucket_arn`) as this type's.
fn moved_from_aws_provider(state: &serde_json::Value) -> Result<serde_json::Value, Diagnostic> {
    let id = match &state["id"] {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => {
            return Err(Diagnostic::error(
                "Cannot move this state",
                "The vantage_aws_provider state has no id; it was never registered. Remove it instead.",
            ));
        }
    };
    let role_arn = state["cross_account_arn"].as_str().unwrap_or_default().to_string();
    let model = IntegrationModel {
        id: Some(id),
        account_id: account_of(&role_arn),
        role_arn: Some(role_arn),
        bucket_arn: state["bucket_arn"].as_str().map(str::to_string),
        token: None,
        status: None,
        timeouts: serde_json::from_value(state["timeouts"].clone()).ok(),
    };
    serde_json::to_value(model).map_err(|e| {
        Diagnostic::error(
            "Provider internal error",
            format!("Could not build the moved state: {e}."),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_state_moves_with_its_id_role_and_bucket() {
        let moved = moved_from_aws_provider(&serde_json::json!({
            "id": 12,
            "cross_account_arn": "arn:aws:iam::123456789012:role/v",
            "bucket_arn": "arn:aws:s3:::b",
        }));
        let moved = moved.unwrap_or_default();
        assert_eq!(moved["id"], "12");
        assert_eq!(moved["cross_account_role_arn"], "arn:aws:iam::123456789012:role/v");
        assert_eq!(moved["account_id"], "123456789012");
        assert_eq!(moved["bucket_arn"], "arn:aws:s3:::b");
        assert!(moved_from_aws_provider(&serde_json::json!({"id": null})).is_err());
    }
}
