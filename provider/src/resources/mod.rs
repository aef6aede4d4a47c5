//! Managed resources, one per file.

pub mod cross_account_role;
pub mod role_policy;
