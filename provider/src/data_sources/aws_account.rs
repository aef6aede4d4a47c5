//! `data "vantage_aws_account"`: who the provider's AWS credentials belong
//! to, and where that account stands in its AWS Organization (management,
//! member or standalone). Vantage should see the management account first:
//! only it shows the whole organisation's costs.

use serde::{Deserialize, Serialize};
use tfplugin::{Attribute, Ctx, DataSource, Diagnostics, Schema, Type};

use crate::ProviderData;
use crate::aws::organizations;

pub struct AwsAccountDataSource;

pub const ROLE_MANAGEMENT: &str = "management";
pub const ROLE_MEMBER: &str = "member";
pub const ROLE_STANDALONE: &str = "standalone";

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AwsAccountModel {
    pub account_id: Option<String>,
    pub partition: Option<String>,
    pub arn: Option<String>,
    pub organization_id: Option<String>,
    pub management_account_id: Option<String>,
    pub role: Option<String>,
    pub member_accounts: Option<Vec<MemberAccount>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberAccount {
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub status: Option<String>,
}

fn computed(name: &str, description: &str) -> Attribute {
    Attribute::string(name).computed().description(description)
}

/// The endpoint has no Organizations: the account reads as `standalone`, and says why.
fn not_served_warning(e: &organizations::OrganizationsError) -> tfplugin::Diagnostic {
    tfplugin::Diagnostic::warning(
        "AWS Organizations is not available at this endpoint",
        format!(
            "{e}. The account is reported as `{ROLE_STANDALONE}`, with no organisation and no member accounts. \
             AWS serves Organizations everywhere; emulators such as LocalStack community do not."
        ),
    )
}

#[tfplugin::async_trait]
impl DataSource<ProviderData> for AwsAccountDataSource {
    type Model = AwsAccountModel;

    fn type_name(&self) -> &'static str {
        "vantage_aws_account"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "The AWS account the provider's credentials belong to, and its place in an AWS Organization: \
             `management`, `member` or `standalone`. Connect the management account to Vantage first: only \
             it shows the costs of the whole organisation (a member account shows its own costs only).",
        )
        .attribute(computed("account_id", "The 12-digit AWS account id."))
        .attribute(computed(
            "partition",
            "The AWS partition (`aws`, `aws-cn`, `aws-us-gov`).",
        ))
        .attribute(computed("arn", "ARN of the calling identity (user or assumed role)."))
        .attribute(computed(
            "organization_id",
            "Id of the AWS Organization (`o-...`); null when the account is in none.",
        ))
        .attribute(computed(
            "management_account_id",
            "The organisation's management account; null when the account is in none.",
        ))
        .attribute(computed(
            "role",
            "`management` (the account manages its organisation), `member` (another account manages it) \
             or `standalone` (no organisation; also, with a warning, when the AWS endpoint does not serve \
             Organizations at all, as with LocalStack community).",
        ))
        .attribute(
            Attribute::new(
                "member_accounts",
                Type::list(Type::object([
                    ("id", Type::String),
                    ("name", Type::String),
                    ("email", Type::String),
                    ("status", Type::String),
                ])),
            )
            .computed()
            .description(
                "The organisation's other accounts, each with `id`, `name`, `email` and `status` (`ACTIVE`, \
                 `SUSPENDED`, ...). Only the management account may list them: empty for the other roles.",
            ),
        )
    }

    async fn read(&self, ctx: &Ctx<ProviderData>, _config: AwsAccountModel) -> Result<AwsAccountModel, Diagnostics> {
        let aws = &ctx.provider().aws;
        let caller = aws.caller().await?.clone();
        let client = aws.organizations().await;
        let organization = match organizations::describe_organization(client).await {
            Ok(organization) => organization,
            // Only an emulator lacks the service; an account there belongs to no organisation.
            Err(e @ organizations::OrganizationsError::NotServed(_)) => {
                ctx.warn(not_served_warning(&e));
                None
            }
            Err(e) => return Err(e.to_diagnostic().into()),
        };
        let (role, members) = match &organization {
            None => (ROLE_STANDALONE, Vec::new()),
            Some(org) if org.management_account_id == caller.account_id => {
                let members = organizations::member_accounts(client, &caller.account_id)
                    .await
                    .map_err(|e| e.to_diagnostic())?;
                (ROLE_MANAGEMENT, members)
            }
            Some(_) => (ROLE_MEMBER, Vec::new()),
        };
        let members = members
            .into_iter()
            .map(|a| MemberAccount {
                id: a.id,
                name: a.name,
                email: a.email,
                status: a.status,
            })
            .collect();
        Ok(AwsAccountModel {
            account_id: Some(caller.account_id),
            partition: Some(caller.partition),
            arn: Some(caller.arn),
            organization_id: organization.as_ref().map(|o| o.id.clone()),
            management_account_id: organization.map(|o| o.management_account_id),
            role: Some(role.to_string()),
            member_accounts: Some(members),
        })
    }
}
