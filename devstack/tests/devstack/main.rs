//! The devstack's tests, one test binary (one link, one thread pool): each module starts the
//! real binary and checks one area with reqwest or the AWS SDK.

mod common;

mod admin;
mod cur;
mod exports;
mod forwarding;
mod process;
mod registration;
mod vantage_api;
