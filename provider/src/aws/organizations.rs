//! AWS Organizations: the caller's organisation and its accounts.

use aws_sdk_organizations::Client;
use tfplugin::Diagnostic;

use crate::aws::errors::describe;

/// The organisation an account belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub management_account_id: String,
}

/// An account of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// `ACTIVE`, `SUSPENDED`, ...
    pub status: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrganizationsError {
    #[error("Organizations DescribeOrganization failed: {0}")]
    Describe(String),
    #[error("Organizations ListAccounts failed: {0}")]
    ListAccounts(String),
}

impl OrganizationsError {
    /// What failed and which permission it needs.
    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            OrganizationsError::Describe(_) => Diagnostic::error(
                "Could not read the AWS Organization",
                format!(
                    "{self}. The credentials need `organizations:DescribeOrganization` (any account of an \
                     organisation may call it)."
                ),
            ),
            OrganizationsError::ListAccounts(_) => Diagnostic::error(
                "Could not list the organisation's accounts",
                format!("{self}. The management account's credentials need `organizations:ListAccounts`."),
            ),
        }
    }
}

/// The caller's organisation, `None` when the account is in none
/// (`AWSOrganizationsNotInUseException`).
pub async fn describe_organization(organizations: &Client) -> Result<Option<Organization>, OrganizationsError> {
    match organizations.describe_organization().send().await {
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
        Err(e) => Err(OrganizationsError::Describe(describe(&e))),
    }
}

/// Every account of the organisation but `management`: only the management
/// account may list them.
pub async fn member_accounts(organizations: &Client, management: &str) -> Result<Vec<Account>, OrganizationsError> {
    let pages = organizations
        .list_accounts()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| OrganizationsError::ListAccounts(describe(&e)))?;
    Ok(pages
        .iter()
        .flat_map(|page| page.accounts())
        .filter(|a| a.id() != Some(management))
        .map(|a| Account {
            id: a.id().map(str::to_string),
            name: a.name().map(str::to_string),
            email: a.email().map(str::to_string),
            status: a.status().map(|s| s.as_str().to_string()),
        })
        .collect())
}
