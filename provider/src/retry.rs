//! Bounded retries for answers that only mean "not yet": IAM's eventual
//! consistency (a new role not visible yet, a principal not yet valid),
//! S3 policy propagation, Vantage not able to assume a new role yet.

use std::time::Duration;

use rand::Rng;
use tfplugin::{CancellationToken, Diagnostic};

#[derive(Debug)]
pub enum RetryError<E> {
    /// The last error: not retryable, or still failing when time ran out.
    Failed {
        error: E,
        attempts: u32,
        waited: Duration,
    },
    Cancelled,
}

/// How long past its deadline a call may still answer. A retry loop's last attempt starts at
/// the deadline, and its answer (why the call kept failing) is worth this wait; a call stalled
/// longer is abandoned.
pub const LAST_ATTEMPT_GRACE: Duration = Duration::from_secs(5);

/// One operation's `timeouts {}` bound, shared by the calls and retry loops it runs one after
/// another, so that each gets what is left rather than the whole bound again.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Tokio's clock (std's outside tests), so paused-time tests can run it forward.
    deadline: tokio::time::Instant,
    total: Duration,
    /// The `timeouts` attribute it comes from: "create", "update" or "delete".
    operation: &'static str,
}

impl Budget {
    /// The bound of `timeouts.<operation>`, starting now.
    pub fn new(operation: &'static str, total: Duration) -> Budget {
        Budget {
            deadline: tokio::time::Instant::now() + total,
            total,
            operation,
        }
    }

    /// What is left (zero once spent: a retry loop then makes its one attempt and stops).
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(tokio::time::Instant::now())
    }

    pub fn spent(&self) -> bool {
        self.left().is_zero()
    }

    /// Runs `step`, giving up on it at the deadline (`None`). Only for steps that are safe to
    /// abandon in flight (idempotent writes, reads) or whose caller records that they may have acted.
    pub async fn bound<T>(&self, step: impl Future<Output = T>) -> Option<T> {
        tokio::time::timeout_at(self.deadline, step).await.ok()
    }

    /// Runs `step`, a call with a retry loop inside that makes its last attempt at the deadline,
    /// giving up on it [`LAST_ATTEMPT_GRACE`] after the deadline (`None`): the caller then
    /// records that it may have acted.
    pub async fn bound_retried<T>(&self, step: impl Future<Output = T>) -> Option<T> {
        tokio::time::timeout_at(self.deadline + LAST_ATTEMPT_GRACE, step)
            .await
            .ok()
    }

    /// "`timeouts.create` (5s)", as the user wrote the bound.
    pub fn attribute(&self) -> String {
        format!("`timeouts.{}` ({})", self.operation, go_duration(self.total))
    }

    /// The error when the bound passed during `step` (with no other error to show).
    pub fn ran_out(&self, step: &str) -> Diagnostic {
        Diagnostic::error(
            "Timed out",
            format!(
                "{} ran out while {step}. Run apply again to continue from here, or raise `timeouts.{}`.",
                self.attribute(),
                self.operation
            ),
        )
    }

    /// `d`, saying first that the bound ran out during `step` when it has: the last error of a
    /// step retried until the deadline is the symptom, the spent bound is why it stopped.
    pub fn explain(&self, mut d: Diagnostic, step: &str) -> Diagnostic {
        if self.spent() {
            d.detail = format!("{} ran out while {step}. {}", self.attribute(), d.detail);
        }
        d
    }
}

/// A duration the way Terraform's `timeouts` values are written ("5s", "2m", "1h30m").
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_millis() != 0 && secs < 60 {
        return format!("{}s", d.as_secs_f64());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Calls `op` until it succeeds, fails with an error `retryable` rejects,
/// `timeout` passes, or Terraform cancels. Waits grow from 0.5 s to 5 s, jittered; the last
/// wait is cut to what is left and followed by one more attempt, so a loop that runs out of time
/// ends at its deadline (a [`Budget`] given to it is then spent, and says so).
pub async fn retry_while<T, E, F, Fut>(
    cancel: &CancellationToken,
    timeout: Duration,
    mut op: F,
    retryable: impl Fn(&E) -> bool,
) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(500);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = tokio::select! {
            r = op() => r,
            _ = cancel.cancelled() => return Err(RetryError::Cancelled),
        };
        let error = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let waited = started.elapsed();
        if !retryable(&error) || waited >= timeout {
            return Err(RetryError::Failed {
                error,
                attempts,
                waited,
            });
        }
        let jittered = delay.mul_f64(rand::rng().random_range(0.5..=1.0)).min(timeout - waited);
        tracing::debug!(
            attempt = attempts,
            wait_ms = jittered.as_millis() as u64,
            "not ready yet; retrying"
        );
        tokio::select! {
            _ = tokio::time::sleep(jittered) => {}
            _ = cancel.cancelled() => return Err(RetryError::Cancelled),
        }
        delay = (delay.mul_f64(1.6)).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_until_success() {
        let mut calls = 0;
        let r: Result<u32, RetryError<&str>> = retry_while(
            &CancellationToken::new(),
            Duration::from_secs(60),
            || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err("not yet") } else { Ok(n) } }
            },
            |_| true,
        )
        .await;
        assert!(matches!(r, Ok(3)));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_on_other_errors_at_once() {
        let r: Result<(), RetryError<&str>> = retry_while(
            &CancellationToken::new(),
            Duration::from_secs(60),
            || async { Err("fatal") },
            |e| *e != "fatal",
        )
        .await;
        assert!(matches!(r, Err(RetryError::Failed { attempts: 1, .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_shrinks_as_time_passes_and_stops_at_zero() {
        let budget = Budget::new("create", Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(budget.left(), Duration::from_secs(6));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(budget.left(), Duration::ZERO);
        let mut calls = 0;
        let r: Result<(), RetryError<&str>> = retry_while(
            &CancellationToken::new(),
            budget.left(),
            || {
                calls += 1;
                async { Err("later") }
            },
            |_| true,
        )
        .await;
        assert!(matches!(r, Err(RetryError::Failed { attempts: 1, .. })));
        assert_eq!(calls, 1, "one attempt with nothing left");
    }

    #[tokio::test(start_paused = true)]
    async fn a_loop_that_runs_out_of_time_ends_at_the_deadline_and_says_which_bound() {
        let budget = Budget::new("create", Duration::from_secs(5));
        tokio::time::sleep(Duration::from_secs(4)).await;
        let r: Result<(), RetryError<&str>> = retry_while(
            &CancellationToken::new(),
            budget.left(),
            || async { Err("later") },
            |_| true,
        )
        .await;
        assert!(matches!(r, Err(RetryError::Failed { attempts, .. }) if attempts >= 2));
        assert!(
            budget.spent(),
            "the last wait is cut to the deadline, then one more attempt"
        );
        let d = budget.explain(
            Diagnostic::error("Could not apply the policy", "S3 said later."),
            "waiting for S3",
        );
        assert_eq!(
            d.detail,
            "`timeouts.create` (5s) ran out while waiting for S3. S3 said later."
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_in_flight_at_the_deadline_is_abandoned() {
        let budget = Budget::new("update", Duration::from_secs(10));
        let stalled = budget.bound(tokio::time::sleep(Duration::from_secs(600))).await;
        assert!(stalled.is_none() && budget.spent());
        assert!(
            budget
                .ran_out("updating the role")
                .detail
                .starts_with("`timeouts.update` (10s) ran out")
        );
        let fresh = Budget::new("delete", Duration::from_secs(10));
        assert_eq!(
            fresh.explain(Diagnostic::error("a", "b"), "x").detail,
            "b",
            "unchanged with time left"
        );
    }

    #[test]
    fn bounds_print_as_they_are_written() {
        let d = |s| go_duration(Duration::from_secs(s));
        assert_eq!(
            (d(5), d(120), d(5400), d(0)),
            ("5s".into(), "2m".into(), "1h30m".into(), "0s".into())
        );
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_the_deadline() {
        let r: Result<(), RetryError<&str>> = retry_while(
            &CancellationToken::new(),
            Duration::from_secs(10),
            || async { Err("later") },
            |_| true,
        )
        .await;
        match r {
            Err(RetryError::Failed { waited, attempts, .. }) => {
                assert!(waited <= Duration::from_secs(10) && attempts > 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
