//! `data "vantage_aws_provider_info"`: what Vantage needs in your AWS account
//! (its principal, your external id, its policy documents). Same attributes
//! as Vantage's official data source, plus the role id, the Vantage id and
//! the S3 request metrics policy.

use serde::{Deserialize, Serialize};
use tfplugin::{Attribute, Ctx, DataSource, Diagnostics, Schema};

use crate::ProviderData;

pub struct AwsProviderInfoDataSource;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AwsProviderInfoModel {
    pub iam_role_arn: Option<String>,
    pub external_id: Option<String>,
    pub root_policy: Option<String>,
    pub autopilot_policy: Option<String>,
    pub cloudwatch_metrics_policy: Option<String>,
    pub additional_resources_policy: Option<String>,
    pub s3_request_metrics_policy: Option<String>,
    pub iam_role_id: Option<String>,
    pub vantage_id: Option<String>,
}

fn computed(name: &str, description: &str) -> Attribute {
    Attribute::string(name).computed().description(description)
}

#[tfplugin::async_trait]
impl DataSource<ProviderData> for AwsProviderInfoDataSource {
    type Model = AwsProviderInfoModel;

    fn type_name(&self) -> &'static str {
        "vantage_aws_provider_info"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "What Vantage needs in your AWS account: the principal it assumes your role from, your \
             account's external id, and its policy documents (from `GET /v1/integrations/aws/info`).",
        )
        .attribute(computed(
            "iam_role_arn",
            "The IAM role Vantage assumes into your account from (its principal).",
        ))
        .attribute(computed(
            "iam_role_id",
            "The unique id (`AROA...`) of Vantage's principal role.",
        ))
        .attribute(
            computed(
                "external_id",
                "The external id your role's trust policy must require (`sts:ExternalId`).",
            )
            .sensitive(),
        )
        .attribute(computed("vantage_id", "Your Vantage account's id."))
        .attribute(computed("root_policy", "Billing read-only policy (JSON)."))
        .attribute(computed(
            "autopilot_policy",
            "Autopilot policy (JSON). It holds write actions (reservation purchases): opt in deliberately.",
        ))
        .attribute(computed(
            "cloudwatch_metrics_policy",
            "CloudWatch metrics read-only policy (JSON).",
        ))
        .attribute(computed(
            "additional_resources_policy",
            "Read-only policy to list and describe resources (JSON).",
        ))
        .attribute(computed(
            "s3_request_metrics_policy",
            "S3 request metrics read-only policy (JSON).",
        ))
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        _config: AwsProviderInfoModel,
    ) -> Result<AwsProviderInfoModel, Diagnostics> {
        let info = ctx
            .provider()
            .aws_provider_info(ctx.cancellation())
            .await
            .map_err(|e| Diagnostics::from(e.to_diagnostic("Could not read Vantage's AWS provider info")))?;
        let p = &info.policies;
        Ok(AwsProviderInfoModel {
            iam_role_arn: Some(info.iam_role_arn.clone()),
            external_id: Some(info.external_id.clone()),
            root_policy: p.root.clone(),
            autopilot_policy: p.autopilot.clone(),
            cloudwatch_metrics_policy: p.cloudwatch.clone(),
            additional_resources_policy: p.resources.clone(),
            s3_request_metrics_policy: p.s3_request_metrics.clone(),
            iam_role_id: info.iam_role_id.clone(),
            vantage_id: info.vantage_id.clone(),
        })
    }
}
