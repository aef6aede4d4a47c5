//! The AWS APIs the provider calls, one module per service, plus the shared
//! SDK clients (`clients`) and error text (`errors`). Functions here take and
//! return plain Rust types; they never see Terraform values or diagnostics'
//! attribute paths.

pub mod clients;
pub mod cloudformation;
pub mod cur;
pub mod errors;
pub mod exports;
pub mod iam;
pub mod organizations;
pub mod s3;
#[cfg(test)]
mod test_endpoint;
