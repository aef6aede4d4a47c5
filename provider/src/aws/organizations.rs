//! AWS Organizations: the caller's organisation and its accounts.
//!
//! AWS always serves Organizations. Emulators may not: LocalStack community answers every
//! Organizations call with HTTP 501 `InternalFailure` ("not included in your current license
//! plan or has not yet been emulated"). 501 means the endpoint does not implement the service at
//! all, so it is told apart ([`OrganizationsError::NotServed`]) from a failing or refused call.

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
    /// The endpoint does not implement Organizations (HTTP 501).
    #[error("the AWS endpoint does not serve Organizations (DescribeOrganization answered HTTP 501: {0})")]
    NotServed(String),
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
            OrganizationsError::NotServed(_) => Diagnostic::error(
                "AWS Organizations is not available at this endpoint",
                format!("{self}. AWS serves it everywhere; emulators such as LocalStack community do not."),
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
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 501) => {
            Err(OrganizationsError::NotServed(describe(&e)))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback endpoint answering every request with `status` and an awsJson error `code`.
    async fn endpoint(status: u16, code: &'static str) -> String {
        crate::aws::test_endpoint::serve(move |_| crate::aws::test_endpoint::Answer {
            status,
            content_type: "application/x-amz-json-1.1",
            headers: vec![("x-amzn-errortype", code.to_string())],
            body: format!(r#"{{"__type":"{code}","message":"answered {status}"}}"#),
        })
        .await
    }

    fn client(url: &str) -> Client {
        use aws_sdk_organizations::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
        Client::from_conf(
            aws_sdk_organizations::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(url)
                .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
                .retry_config(RetryConfig::disabled())
                .build(),
        )
    }

    #[tokio::test]
    async fn an_endpoint_without_organizations_is_told_apart_from_a_failure() {
        // LocalStack community's answer to every Organizations call.
        let not_served = describe_organization(&client(&endpoint(501, "InternalFailure").await)).await;
        assert!(
            matches!(&not_served, Err(OrganizationsError::NotServed(m)) if m.contains("InternalFailure")),
            "{not_served:?}"
        );
        let standalone =
            describe_organization(&client(&endpoint(400, "AWSOrganizationsNotInUseException").await)).await;
        assert!(matches!(standalone, Ok(None)), "{standalone:?}");
        let denied = describe_organization(&client(&endpoint(400, "AccessDeniedException").await)).await;
        assert!(matches!(denied, Err(OrganizationsError::Describe(_))), "{denied:?}");
        let failing = describe_organization(&client(&endpoint(500, "ServiceException").await)).await;
        assert!(matches!(failing, Err(OrganizationsError::Describe(_))), "{failing:?}");
    }
}
