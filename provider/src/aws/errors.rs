//! Turning AWS SDK errors into messages a user can act on.

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

/// `Code: message` for service errors; the whole cause chain for transport
/// errors (where "connection refused" hides several layers down).
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
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
