//! Data sources, one per file.

pub mod aws_account;
pub mod aws_provider_info;
