//! The account's CUR report definitions, read once per provider process.
//!
//! CUR has no "get one report": DescribeReportDefinitions pages through all of
//! them, five per page. Terraform refreshes every `vantage_aws_cur_report` of a
//! configuration in the same provider process, so each one scanning the pages
//! itself would cost `N * ceil(N/5)` calls. Instead the first refresh fetches
//! every page, and the others (waiting on the same lock meanwhile) reuse the
//! result: `ceil(N/5)` calls for the whole plan.
//!
//! The cache describes the account as this process last saw it. Writes made
//! by this process (put, modify, delete, tag) call [`CurReportCache::invalidate`];
//! a generation counter keeps a scan that started before such a write from
//! storing its now stale pages.

use std::sync::{Arc, Mutex};

use aws_sdk_costandusagereport::types::ReportDefinition;
use tfplugin::{CancellationToken, Diagnostic};

use crate::aws::errors::describe;

/// DescribeReportDefinitions' page size: the service model allows exactly 5.
pub const PAGE_SIZE: i32 = 5;

#[derive(Default)]
struct CacheState {
    generation: u64,
    reports: Option<Arc<Vec<ReportDefinition>>>,
}

/// Report definitions shared by every report resource of one provider process.
#[derive(Default)]
pub struct CurReportCache {
    /// Serialises scans: concurrent refreshes wait for the first one.
    scan: tokio::sync::Mutex<()>,
    state: Mutex<CacheState>,
}

impl std::fmt::Debug for CurReportCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurReportCache").finish_non_exhaustive()
    }
}

impl CurReportCache {
    pub fn new() -> CurReportCache {
        CurReportCache::default()
    }

    fn cached(&self) -> (u64, Option<Arc<Vec<ReportDefinition>>>) {
        match self.state.lock() {
            Ok(s) => (s.generation, s.reports.clone()),
            Err(_) => (0, None),
        }
    }

    /// Forgets the pages: the next lookup scans again. Called after every
    /// write this process makes to report definitions.
    pub fn invalidate(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.generation += 1;
            s.reports = None;
        }
    }

    /// Every report definition of the account, scanned at most once per
    /// process between writes.
    pub async fn all(
        &self,
        client: &aws_sdk_costandusagereport::Client,
        cancel: &CancellationToken,
    ) -> Result<Arc<Vec<ReportDefinition>>, Diagnostic> {
        if let (_, Some(reports)) = self.cached() {
            return Ok(reports);
        }
        let _scanning = tokio::select! {
            guard = self.scan.lock() => guard,
            _ = cancel.cancelled() => return Err(cancelled()),
        };
        // Another refresh may have finished the scan while this one waited.
        let (generation, cached) = self.cached();
        if let Some(reports) = cached {
            return Ok(reports);
        }
        let reports = tokio::select! {
            r = scan(client) => Arc::new(r?),
            _ = cancel.cancelled() => return Err(cancelled()),
        };
        if let Ok(mut s) = self.state.lock()
            && s.generation == generation
        {
            s.reports = Some(reports.clone());
        }
        Ok(reports)
    }

    /// The definition named `name` (case-sensitive), if the account has one.
    pub async fn find(
        &self,
        client: &aws_sdk_costandusagereport::Client,
        cancel: &CancellationToken,
        name: &str,
    ) -> Result<Option<ReportDefinition>, Diagnostic> {
        let all = self.all(client, cancel).await?;
        Ok(all.iter().find(|r| r.report_name() == name).cloned())
    }
}

fn cancelled() -> Diagnostic {
    Diagnostic::error("Cancelled", "Terraform asked the provider to stop.")
}

async fn scan(client: &aws_sdk_costandusagereport::Client) -> Result<Vec<ReportDefinition>, Diagnostic> {
    let mut reports = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .describe_report_definitions()
            .max_results(PAGE_SIZE)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                Diagnostic::error(
                    "Could not list the Cost and Usage Reports",
                    format!(
                        "CUR DescribeReportDefinitions (us-east-1) failed: {}. The credentials need \
                         `cur:DescribeReportDefinitions`.",
                        describe(&e)
                    ),
                )
            })?;
        reports.extend(out.report_definitions().iter().cloned());
        match out.next_token().filter(|t| !t.is_empty()) {
            // A token that repeats would loop forever: stop instead.
            Some(next) if token.as_deref() != Some(next) => token = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(reports)
}
