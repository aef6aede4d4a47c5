//! The acceptance suite, one test binary: libtest's thread pool then spans every test (one
//! binary per file ran the files one after another, each waiting for its slowest test), the
//! shared devstack starts once per pass, and the suite links once. Each module is one area;
//! `cargo test -p acceptance-tests <module>::` runs one.

mod aws_account;
mod aws_integration;
mod cross_account_role;
mod cur_backfill;
mod cur_bucket;
mod cur_bucket_access;
mod cur_report;
mod data_export;
mod eventual_consistency;
mod hashicorp_aws_conformance;
mod lost_answers;
mod member_account_roles;
mod migration;
mod plugin_runtime;
mod provider_info;
mod quickstart;
mod rate_limit_load;
mod release;
mod role_policy;
mod secrets;
mod stop_in_flight;
