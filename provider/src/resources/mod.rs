//! Managed resources, one per file.

pub mod aws_integration;
pub mod aws_provider;
pub mod cross_account_role;
pub mod cur_backfill;
pub mod cur_bucket;
pub mod cur_bucket_access;
pub mod cur_report;
pub mod data_export;
pub mod member_account_roles;
pub mod role_policy;
