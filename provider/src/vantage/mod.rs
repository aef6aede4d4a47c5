//! Vantage's API: the HTTP transport (`client`) and the calls the provider
//! makes with it. Nothing here sees Terraform values.

mod client;

pub use client::*;
