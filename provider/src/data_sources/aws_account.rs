//! `data "vantage_aws_account"`: who the provider's AWS credentials belong
//! to, and where that account stands in its AWS Organization (management,
//! member or standalone). Vantage should see the management account first:
//! only it shows the whole organisation's costs.

use serde::{Deserialize, Serialize};
use tfplugin::{Attribute, Ctx, DataSource, Diagnostic, Diagnostics, Schema, Type};

use crate::ProviderData;
use crate::aws::clients::AwsClients;
use crate::aws::errors::describe;

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

/// The organisation an account belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub management_account_id: String,
}

/// The caller's organisation, `None` when the account is in none
/// (`AWSOrganizationsNotInUseException`).
pub async fn describe_organization(aws: &AwsClients) -> Result<Option<Organization>, Diagnostic> {
    match aws.organizations().await.describe_organization().send().await {
        Ok(out) => {
            let org = out.organization();
            Ok(Some(Organization {
                id: org.and_then(|o| o.id()).unwrap_or_default().to_string(),
                management_account_id: org.and_then(|o| o.master_account_id()).unwrap_or_default().to_string(),
            }))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_aws_organizations_not_in_use_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(Diagnostic::error(
            "Could not read the AWS Organization",
            format!(
                "Organizations DescribeOrganization failed: {}. The credentials need \
                 `organizations:DescribeOrganization` (any account of an organisation may call it).",
                describe(&e)
            ),
        )),
    }
}

/// Every account of the organisation but the caller's: only its management
/// account may list them.
async fn member_accounts(aws: &AwsClients, management: &str) -> Result<Vec<MemberAccount>, Diagnostic> {
    let pages = aws
        .organizations()
        .await
        .list_accounts()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| {
            Diagnostic::error(
                "Could not list the organisation's accounts",
                format!(
                    "Organizations ListAccounts failed: {}. The management account's credentials need \
                     `organizations:ListAccounts`.",
                    describe(&e)
                ),
            )
        })?;
    Ok(pages
        .iter()
        .flat_map(|page| page.accounts())
        .filter(|a| a.id() != Some(management))
        .map(|a| MemberAccount {
            id: a.id().map(str::to_string),
            name: a.name().map(str::to_string),
            email: a.email().map(str::to_string),
            status: a.status().map(|s| s.as_str().to_string()),
        })
        .collect())
}

fn computed(name: &str, description: &str) -> Attribute {
    Attribute::string(name).computed().description(description)
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
             or `standalone` (no organisation).",
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
        let organization = describe_organization(aws).await?;
        let (role, members) = match &organization {
            None => (ROLE_STANDALONE, Vec::new()),
            Some(org) if org.management_account_id == caller.account_id => {
                (ROLE_MANAGEMENT, member_accounts(aws, &caller.account_id).await?)
            }
            Some(_) => (ROLE_MEMBER, Vec::new()),
        };
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
