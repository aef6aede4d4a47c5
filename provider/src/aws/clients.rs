//! AWS access: settings from the provider block, one shared `SdkConfig`
//! built on first use, and per-service clients derived from it. A plan that
//! touches only Vantage never resolves AWS credentials, and provider start-up
//! (paid 3-5 times per Terraform command) stays cheap.

use std::collections::BTreeMap;
use std::fmt;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tfplugin::Diagnostic;
use tfplugin::log::Sensitive;
use tokio::sync::OnceCell;

/// CUR and BCM Data Exports exist only in us-east-1 (commercial partition).
pub const BILLING_REGION: &str = "us-east-1";

/// IAM is global; its requests are signed for this region when none is configured.
const FALLBACK_REGION: &str = "us-east-1";

/// Every AWS call is bounded: an attempt that stalls (a hung connection, an
/// endpoint that accepts and never answers) ends after a minute and the SDK's
/// retry takes over; a whole call, retries included, after three. The
/// resources' `timeouts` blocks bound their operations below that. The
/// connect timeout is the SDK's default.
fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_millis(3100))
        .operation_attempt_timeout(std::time::Duration::from_secs(60))
        .operation_timeout(std::time::Duration::from_secs(180))
        .build()
}

/// The SDK's HTTP client with every request raced against the cancellation of the RPC that
/// sends it (`tfplugin::rpc_cancellation`): Ctrl-C ends an AWS call in flight at once, wherever
/// in a create, update or delete it is awaited, instead of after the call's own timeout. The
/// call then fails as a lost answer does (it may have acted), so the resources keep what may
/// exist in state. Requests outside an RPC are not affected.
#[derive(Debug)]
struct StoppableHttpClient(SharedHttpClient);

#[derive(Debug)]
struct StoppableConnector(SharedHttpConnector);

/// The HTTPS client the SDK builds by default (hyper, rustls with aws-lc, proxies from the
/// environment), made stoppable. Built here because the SDK only makes its default inside each
/// service client, where it cannot be wrapped.
fn stoppable_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let inner = aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            aws_smithy_http_client::ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    SharedHttpClient::new(StoppableHttpClient(inner))
}

/// The error an AWS call in flight ends with when Terraform asks the provider to stop.
#[derive(Debug)]
pub(crate) struct StoppedByTerraform;

impl fmt::Display for StoppedByTerraform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("abandoned: Terraform asked the provider to stop (Ctrl-C)")
    }
}

impl std::error::Error for StoppedByTerraform {}

impl HttpClient for StoppableHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(StoppableConnector(self.0.http_connector(settings, components)))
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

impl HttpConnector for StoppableConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let call = self.0.call(request);
        let Some(cancel) = tfplugin::rpc_cancellation() else {
            return call;
        };
        HttpConnectorFuture::new(async move {
            tokio::select! {
                answer = call => answer,
                // A user error: the SDK does not retry it.
                () = cancel.cancelled() => Err(ConnectorError::user(Box::new(StoppedByTerraform))),
            }
        })
    }
}

/// Credentials are resolved once and cached; resolving them (an AssumeRole through STS, SSO, a
/// credential process) may take longer than the SDK's 5 s on a loaded machine or a slow link,
/// and failing then fails every call of the run: allow 30 s, within a call's own bound.
fn identity_cache() -> aws_sdk_sts::config::SharedIdentityCache {
    aws_config::identity::IdentityCache::lazy()
        .load_timeout(std::time::Duration::from_secs(30))
        .build()
}

#[derive(Debug, Clone, Default)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<Sensitive<String>>,
    pub session_name: Option<String>,
}

/// Per-service endpoint overrides (LocalStack, moto, the devstack).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub iam: Option<String>,
    pub sts: Option<String>,
    pub s3: Option<String>,
    pub cur: Option<String>,
    pub bcm_data_exports: Option<String>,
    pub organizations: Option<String>,
    pub cloudformation: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub assume_role: Option<AssumeRole>,
    /// One endpoint for every service, for LocalStack-style stacks.
    pub endpoint: Option<String>,
    pub endpoints: Endpoints,
    pub default_tags: BTreeMap<String, String>,
}

impl AwsSettings {
    /// The endpoint for a service: its own override, else the shared one.
    pub fn endpoint_for(&self, service: Service) -> Option<&str> {
        let e = &self.endpoints;
        let specific = match service {
            Service::Iam => &e.iam,
            Service::Sts => &e.sts,
            Service::S3 => &e.s3,
            Service::Cur => &e.cur,
            Service::BcmDataExports => &e.bcm_data_exports,
            Service::Organizations => &e.organizations,
            Service::CloudFormation => &e.cloudformation,
        };
        specific.as_deref().or(self.endpoint.as_deref())
    }

    /// The partition the configured region belongs to.
    pub fn partition(&self) -> &'static str {
        partition_of(self.region.as_deref().unwrap_or(FALLBACK_REGION))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Iam,
    Sts,
    S3,
    Cur,
    BcmDataExports,
    Organizations,
    CloudFormation,
}

pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

/// Who the provider's credentials belong to (STS GetCallerIdentity).
#[derive(Debug, Clone)]
pub struct CallerIdentity {
    pub account_id: String,
    pub arn: String,
    pub partition: String,
}

/// Lazily built AWS clients, shared by every operation of one provider process.
pub struct AwsClients {
    pub settings: AwsSettings,
    sdk: OnceCell<SdkConfig>,
    iam: OnceCell<aws_sdk_iam::Client>,
    sts: OnceCell<aws_sdk_sts::Client>,
    cur: OnceCell<aws_sdk_costandusagereport::Client>,
    bcm_data_exports: OnceCell<aws_sdk_bcmdataexports::Client>,
    organizations: OnceCell<aws_sdk_organizations::Client>,
    cloudformation: OnceCell<aws_sdk_cloudformation::Client>,
    /// S3 clients by region: a bucket is served from its own region.
    s3: std::sync::Mutex<BTreeMap<String, aws_sdk_s3::Client>>,
    caller: OnceCell<CallerIdentity>,
}

impl fmt::Debug for AwsClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsClients")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AwsClients {
    pub fn new(settings: AwsSettings) -> AwsClients {
        AwsClients {
            settings,
            sdk: OnceCell::new(),
            iam: OnceCell::new(),
            sts: OnceCell::new(),
            cur: OnceCell::new(),
            bcm_data_exports: OnceCell::new(),
            organizations: OnceCell::new(),
            cloudformation: OnceCell::new(),
            s3: std::sync::Mutex::new(BTreeMap::new()),
            caller: OnceCell::new(),
        }
    }

    /// The shared SDK configuration: credential chain, region, profile,
    /// assumed role and the shared endpoint.
    async fn sdk(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| async {
                let s = &self.settings;
                let loader = || {
                    let mut loader = aws_config::defaults(BehaviorVersion::latest())
                        .timeout_config(timeouts())
                        .identity_cache(identity_cache())
                        .http_client(stoppable_https_client());
                    if let Some(region) = &s.region {
                        loader = loader.region(Region::new(region.clone()));
                    }
                    if let Some(profile) = &s.profile {
                        loader = loader.profile_name(profile);
                    }
                    if let Some(endpoint) = &s.endpoint {
                        loader = loader.endpoint_url(endpoint);
                    }
                    loader
                };
                let mut config = loader().load().await;
                if config.region().is_none() {
                    config = config.into_builder().region(Region::new(FALLBACK_REGION)).build();
                }

                if let Some(role) = &s.assume_role {
                    let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn).session_name(
                        role.session_name
                            .clone()
                            .unwrap_or_else(|| "terraform-provider-vantage".into()),
                    );
                    if let Some(external_id) = &role.external_id {
                        builder = builder.external_id(external_id.expose().clone());
                    }
                    let provider = builder.configure(&config).build().await;
                    let region = config.region().cloned();
                    config = loader().credentials_provider(provider).region(region).load().await;
                }
                config
            })
            .await
    }

    pub async fn iam(&self) -> &aws_sdk_iam::Client {
        self.iam
            .get_or_init(|| async {
                let mut b = aws_sdk_iam::config::Builder::from(self.sdk().await);
                if let Some(e) = self.settings.endpoint_for(Service::Iam) {
                    b = b.endpoint_url(e);
                }
                aws_sdk_iam::Client::from_conf(b.build())
            })
            .await
    }

    pub async fn sts(&self) -> &aws_sdk_sts::Client {
        self.sts
            .get_or_init(|| async {
                let mut b = aws_sdk_sts::config::Builder::from(self.sdk().await);
                if let Some(e) = self.settings.endpoint_for(Service::Sts) {
                    b = b.endpoint_url(e);
                }
                aws_sdk_sts::Client::from_conf(b.build())
            })
            .await
    }

    /// The region the provider is configured for (after the AWS config chain).
    pub async fn region(&self) -> String {
        self.sdk()
            .await
            .region()
            .map_or_else(|| FALLBACK_REGION.to_string(), |r| r.to_string())
    }

    /// S3 in `region` (the configured region when `None`). Path-style
    /// addressing with an endpoint override, as emulators need.
    pub async fn s3(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        let region = match region {
            Some(r) => r.to_string(),
            None => self.region().await,
        };
        if let Ok(cache) = self.s3.lock()
            && let Some(client) = cache.get(&region)
        {
            return client.clone();
        }
        let mut b = aws_sdk_s3::config::Builder::from(self.sdk().await).region(Region::new(region.clone()));
        if let Some(e) = self.settings.endpoint_for(Service::S3) {
            b = b.endpoint_url(e).force_path_style(true);
        }
        let client = aws_sdk_s3::Client::from_conf(b.build());
        if let Ok(mut cache) = self.s3.lock() {
            cache.insert(region, client.clone());
        }
        client
    }

    /// CUR: served from us-east-1 only, whatever the provider's region.
    pub async fn cur(&self) -> &aws_sdk_costandusagereport::Client {
        self.cur
            .get_or_init(|| async {
                let mut b = aws_sdk_costandusagereport::config::Builder::from(self.sdk().await)
                    .region(Region::new(BILLING_REGION));
                if let Some(e) = self.settings.endpoint_for(Service::Cur) {
                    b = b.endpoint_url(e);
                }
                aws_sdk_costandusagereport::Client::from_conf(b.build())
            })
            .await
    }

    /// BCM Data Exports: us-east-1 only.
    pub async fn bcm_data_exports(&self) -> &aws_sdk_bcmdataexports::Client {
        self.bcm_data_exports
            .get_or_init(|| async {
                let mut b =
                    aws_sdk_bcmdataexports::config::Builder::from(self.sdk().await).region(Region::new(BILLING_REGION));
                if let Some(e) = self.settings.endpoint_for(Service::BcmDataExports) {
                    b = b.endpoint_url(e);
                }
                aws_sdk_bcmdataexports::Client::from_conf(b.build())
            })
            .await
    }

    /// Organizations (a global service, signed for us-east-1).
    pub async fn organizations(&self) -> &aws_sdk_organizations::Client {
        self.organizations
            .get_or_init(|| async {
                let mut b =
                    aws_sdk_organizations::config::Builder::from(self.sdk().await).region(Region::new(BILLING_REGION));
                if let Some(e) = self.settings.endpoint_for(Service::Organizations) {
                    b = b.endpoint_url(e);
                }
                aws_sdk_organizations::Client::from_conf(b.build())
            })
            .await
    }

    pub async fn cloudformation(&self) -> &aws_sdk_cloudformation::Client {
        self.cloudformation
            .get_or_init(|| async {
                let mut b = aws_sdk_cloudformation::config::Builder::from(self.sdk().await);
                if let Some(e) = self.settings.endpoint_for(Service::CloudFormation) {
                    b = b.endpoint_url(e);
                }
                aws_sdk_cloudformation::Client::from_conf(b.build())
            })
            .await
    }

    /// The caller's account and partition, fetched once per provider process.
    pub async fn caller(&self) -> Result<&CallerIdentity, Diagnostic> {
        self.caller
            .get_or_try_init(|| async {
                let out = self.sts().await.get_caller_identity().send().await.map_err(|e| {
                    Diagnostic::error(
                        "Could not determine the AWS account",
                        format!(
                            "STS GetCallerIdentity failed: {}. Check the AWS credentials (environment, \
                             `profile`, `assume_role`) and `region`/`endpoint` in the provider block.",
                            crate::aws::errors::describe(&e)
                        ),
                    )
                })?;
                let arn = out.arn().unwrap_or_default().to_string();
                let partition = arn
                    .split(':')
                    .nth(1)
                    .filter(|p| !p.is_empty())
                    .unwrap_or("aws")
                    .to_string();
                Ok(CallerIdentity {
                    account_id: out.account().unwrap_or_default().to_string(),
                    arn,
                    partition,
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_has_an_attempt_and_an_operation_timeout() {
        let clients = AwsClients::new(AwsSettings {
            region: Some("eu-west-1".into()),
            endpoint: Some("http://127.0.0.1:9".into()),
            ..AwsSettings::default()
        });
        let config = clients.sdk().await;
        let t = config.timeout_config().expect("timeouts set");
        assert_eq!(t.operation_attempt_timeout(), Some(std::time::Duration::from_secs(60)));
        assert_eq!(t.operation_timeout(), Some(std::time::Duration::from_secs(180)));
        assert!(t.connect_timeout().is_some());
    }

    #[test]
    fn service_endpoint_overrides_the_shared_one() {
        let settings = AwsSettings {
            endpoint: Some("http://shared".into()),
            endpoints: Endpoints {
                s3: Some("http://s3".into()),
                ..Endpoints::default()
            },
            ..AwsSettings::default()
        };
        assert_eq!(settings.endpoint_for(Service::S3), Some("http://s3"));
        assert_eq!(settings.endpoint_for(Service::Iam), Some("http://shared"));
    }

    #[test]
    fn partitions_follow_regions() {
        assert_eq!(partition_of("eu-west-1"), "aws");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
    }
}
