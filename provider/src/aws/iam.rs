// Used by the Vantage registration's diagnosis.

/// A role as IAM holds it under a name: its ARN and its trust policy
/// (URL-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleTrust {
    pub arn: String,
    pub trust_policy: String,
}

/// GetRole `name`: `None` when IAM has no such role (`NoSuchEntity`), else
/// its ARN and trust policy; the error is the SDK's, described.
pub async fn role_trust(iam: &aws_sdk_iam::Client, name: &str) -> Result<Option<RoleTrust>, String> {
    match iam.get_role().role_name(name).send().await {
        Ok(out) => {
            let role = out.role.ok_or_else(|| format!("GetRole {name} returned no role"))?;
            Ok(Some(RoleTrust {
                trust_policy: crate::policy::decode_iam(role.assume_role_policy_document().unwrap_or_default()),
                arn: role.arn,
            }))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(None),
        Err(e) => Err(crate::aws::errors::describe(&e)),
    }
}
