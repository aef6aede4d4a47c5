//! `data "vantage_aws_provider_info"`: what Vantage needs in your AWS account
//! (its principal, your external id, its policy documents). Same attributes
//! as Vantage's official data source, plus the role id, the Vantage id and
//! the S3 request metrics policy. For a role made with another tool
//! (hashicorp/aws, CloudFormation, Pulumi, the console) it also renders the
//! trust policy and the CUR retrieval policy exactly as this provider's
//! resources write them.

use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::string;
use tfplugin::{Attribute, Ctx, DataSource, Diagnostics, Schema};

use crate::ProviderData;
use crate::policy::{cur_retrieval_policy, trust::trust_policy};

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
    pub assume_role_policy: Option<String>,
    pub cur_bucket: Option<String>,
    pub cur_retrieval_policy: Option<String>,
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
        .attribute(
            computed(
                "assume_role_policy",
                "The trust policy (JSON) a role made with another tool needs, exactly as \
                 `vantage_aws_cross_account_role` writes it: Vantage's principal may assume the role \
                 with your external id (`sts:ExternalId` StringEquals). Sensitive: it holds the external id.",
            )
            .sensitive(),
        )
        .attribute(
            Attribute::string("cur_bucket")
                .optional()
                .validator(string("an S3 bucket name", crate::s3::validate_bucket_name))
                .description("The bucket your Cost and Usage Report is delivered to, for `cur_retrieval_policy`."),
        )
        .attribute(computed(
            "cur_retrieval_policy",
            "The inline policy (JSON) letting Vantage read the CUR files in `cur_bucket`, exactly as \
             `vantage_aws_role_policy` with `preset = \"cur_retrieval\"` writes it. Null without `cur_bucket`.",
        ))
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        config: AwsProviderInfoModel,
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
            assume_role_policy: Some(trust_policy(&info.iam_role_arn, &info.external_id)),
            cur_retrieval_policy: config.cur_bucket.as_deref().map(cur_retrieval_policy),
            cur_bucket: config.cur_bucket,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trust_policy_is_sensitive_and_the_bucket_is_the_only_argument() {
        let schema = DataSource::<ProviderData>::schema(&AwsProviderInfoDataSource);
        let attr = |name: &str| {
            schema
                .block
                .find_attribute(name)
                .unwrap_or_else(|| panic!("no attribute {name}"))
        };
        assert!(attr("assume_role_policy").sensitive, "it holds the external id");
        assert!(attr("external_id").sensitive);
        assert!(!attr("cur_retrieval_policy").sensitive);
        let arguments: Vec<&str> = schema
            .block
            .attributes
            .iter()
            .filter(|a| a.is_configurable())
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(arguments, ["cur_bucket"]);
    }
}
