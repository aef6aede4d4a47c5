//! Clients for the two APIs the provider talks to. Resources never build
//! clients themselves: they get them from [`crate::ProviderData`].

pub mod aws;
pub mod aws_errors;
pub mod cur_cache;
pub mod retry;
pub mod vantage;
