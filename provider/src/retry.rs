//! Bounded retries for answers that only mean "not yet": IAM's eventual
//! consistency (a new role not visible yet, a principal not yet valid),
//! S3 policy propagation, Vantage not able to assume a new role yet.

use std::time::{Duration, Instant};

use rand::Rng;
use tfplugin::CancellationToken;

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

/// One operation's `timeouts {}` bound, shared by the calls and retry loops it runs one after
/// another, so that each gets what is left rather than the whole bound again.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Tokio's clock (std's outside tests), so paused-time tests can run it forward.
    deadline: tokio::time::Instant,
}

impl Budget {
    pub fn new(total: Duration) -> Budget {
        Budget {
            deadline: tokio::time::Instant::now() + total,
        }
    }

    /// What is left (zero once spent: a retry loop then makes its one attempt and stops).
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(tokio::time::Instant::now())
    }
}

/// Calls `op` until it succeeds, fails with an error `retryable` rejects,
/// `timeout` passes, or Terraform cancels. Waits grow from 0.5 s to 5 s, jittered.
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
    let started = Instant::now();
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
        if !retryable(&error) || waited + delay > timeout {
            return Err(RetryError::Failed {
                error,
                attempts,
                waited,
            });
        }
        let jittered = delay.mul_f64(rand::rng().random_range(0.5..=1.0));
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
        let budget = Budget::new(Duration::from_secs(10));
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
