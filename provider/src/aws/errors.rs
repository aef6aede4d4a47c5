//! Turning AWS SDK errors into messages a user can act on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_iam::error::BoxError;

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

/// How far AWS's clock may run behind ours when a creation time is compared with the start of
/// the call that created it.
const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// Whether the call was abandoned because Terraform asked the provider to stop (the SDK's HTTP
/// client ends calls in flight then, see `clients.rs`).
pub fn stopped_by_terraform<E, R>(err: &SdkError<E, R>) -> bool
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.is::<crate::aws::clients::StoppedByTerraform>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// `Code: message` for service errors; the whole cause chain for transport
/// errors (where "connection refused" hides several layers down).
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if stopped_by_terraform(err) {
        return "cancelled: Terraform asked the provider to stop (the call may have taken effect)".to_string();
    }
    match err {
        SdkError::ServiceError(_) => match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => DisplayErrorContext(err).to_string(),
        },
        _ => DisplayErrorContext(err).to_string(),
    }
}

/// The service error code (`NoSuchEntity`, `EntityAlreadyExists`, ...), if AWS answered.
pub fn code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(_) => err.code(),
        _ => None,
    }
}

/// Whether AWS refused the call, so it surely did not act: a 4xx answer, or a request that was
/// never built. A lost answer (dropped connection, timeout) or a 5xx leaves open whether it
/// acted, so a create that failed so may have created its object.
pub fn refused<E>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ServiceError(e) => e.raw().status().is_client_error(),
        SdkError::ConstructionFailure(_) => true,
        _ => false,
    }
}

/// Whether an object AWS says was created at `created` (RFC 3339) was created by a call that
/// started at `call_started`: the SDK's retry of a create whose first answer was lost meets the
/// object that first attempt made, and only this tells it from an older one.
pub fn created_since(created: &str, call_started: SystemTime) -> bool {
    let Ok(created) = aws_smithy_types::DateTime::from_str(created, aws_smithy_types::date_time::Format::DateTime)
    else {
        return false;
    };
    let Ok(created) = SystemTime::try_from(created) else {
        return false;
    };
    created + CLOCK_SKEW >= call_started
}

/// Counts the SDK's attempts of one call (`.customize().interceptor(attempts.clone())`), so an
/// "already exists" answer can be known to come from the SDK's retry of a create whose earlier
/// attempt may have acted, for services that give no creation time to compare.
#[derive(Debug, Clone, Default)]
pub struct Attempts(Arc<AtomicU32>);

impl Attempts {
    /// Whether the SDK sent the call more than once.
    pub fn retried(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 1
    }
}

impl Intercept for Attempts {
    fn name(&self) -> &'static str {
        "Attempts"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_creation_time_after_the_call_started_counts_as_this_call_s() {
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert!(created_since("2023-11-14T22:13:21Z", started), "one second after");
        assert!(created_since("2023-11-14T22:13:00Z", started), "within the clock skew");
        assert!(!created_since("2023-11-14T22:10:00Z", started), "minutes before");
        assert!(!created_since("yesterday", started));
    }
}
