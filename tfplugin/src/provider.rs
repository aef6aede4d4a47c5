//! The provider: its own configuration schema, configuration, and the list of
//! resource and data source types it serves.

use std::sync::Arc;

use async_trait::async_trait;

use crate::resource::{AnyDataSource, AnyResource, ConfigView};
use crate::schema::Schema;
use crate::{Diagnostic, Diagnostics};

/// What ConfigureProvider hands the provider.
pub struct ConfigureRequest<'a> {
    pub terraform_version: &'a str,
    pub config: ConfigView<'a>,
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The configured provider: clients and settings every operation shares.
    type Data: Send + Sync + 'static;

    /// The provider type name, e.g. `vantage`.
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    async fn validate(&self, _config: &ConfigView<'_>) -> Diagnostics {
        Diagnostics::new()
    }

    /// Builds the provider data from its configuration. Terraform starts the
    /// provider several times per command, so keep this cheap: build network
    /// clients lazily.
    async fn configure(&self, request: ConfigureRequest<'_>) -> Result<Self::Data, Diagnostics>;

    fn resources(&self) -> Vec<Arc<dyn AnyResource<Self::Data>>>;

    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource<Self::Data>>>;
}

/// A diagnostic for provider configuration values that are not known yet.
pub fn unknown_config_diagnostic(unknown: &[crate::AttrPath]) -> Diagnostic {
    let names: Vec<String> = unknown.iter().map(ToString::to_string).collect();
    Diagnostic::error(
        "Provider configuration depends on values not known yet",
        format!(
            "{} cannot be determined until apply, but the provider needs it now. Apply the \
             resources it depends on first, for example `terraform apply -target=<resource>`, \
             then run the full apply.",
            names.join(", ")
        ),
    )
}
