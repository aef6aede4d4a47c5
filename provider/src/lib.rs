//! terraform-provider-vantage: connects AWS accounts to Vantage.
//!
//! `config` holds the provider block, `vantage/` and `aws/` the service modules,
//! `resources/` and `data_sources/` one file per type. The plugin protocol
//! lives in the `tfplugin` crate.

pub mod arn;
pub mod aws;
pub mod config;
pub mod data_sources;
pub mod inline_policies;
pub mod moves;
pub mod policy;
pub mod registration;
pub mod resources;
pub mod retry;
pub mod s3;
pub mod tags;
pub mod vantage;

use std::sync::Arc;

use tfplugin::{AnyDataSource, AnyResource, CancellationToken, ConfigView, ConfigureRequest, Diagnostics, Schema};
use tokio::sync::OnceCell;

use aws::clients::AwsClients;
use vantage::{AwsProviderInfo, VantageClient, VantageError};

/// The source address `cargo xtask install` and the examples use.
pub const SOURCE_ADDRESS: &str = "terraform.local/vantage/vantage";

/// The configured provider, shared by every operation of one provider process.
#[derive(Debug)]
pub struct ProviderData {
    pub vantage: VantageClient,
    pub aws: AwsClients,
    aws_info: OnceCell<AwsProviderInfo>,
    /// AWS integrations' v2 statuses and the caller's organisation, shared per process
    /// (see `vantage::integrations`).
    pub integrations: vantage::integrations::IntegrationCache,
    /// CUR report definitions, scanned once per process (see `aws::cur`).
    pub cur_reports: aws::cur::CurReportCache,
    /// Roles planned in this process that keep only the inline policies they name.
    pub exclusive_roles: inline_policies::ExclusiveRoles,
}

impl ProviderData {
    pub fn new(vantage: VantageClient, aws: AwsClients) -> ProviderData {
        ProviderData {
            vantage,
            aws,
            aws_info: OnceCell::new(),
            integrations: vantage::integrations::IntegrationCache::default(),
            cur_reports: aws::cur::CurReportCache::new(),
            exclusive_roles: inline_policies::ExclusiveRoles::default(),
        }
    }

    /// Vantage's principal, external id and policies, fetched once per
    /// provider process however many resources need them.
    pub async fn aws_provider_info(&self, cancel: &CancellationToken) -> Result<&AwsProviderInfo, VantageError> {
        let info = self
            .aws_info
            .get_or_try_init(|| async {
                // The answer carries the external id: any line written while
                // fetching it waits until the id is registered.
                let hold = tfplugin::log::hold();
                let info = vantage::provider_info(&self.vantage, cancel).await;
                if let Ok(info) = &info {
                    tfplugin::log::register_secret(&info.external_id);
                }
                hold.release();
                info
            })
            .await?;
        Ok(info)
    }
}

/// The provider served by the `terraform-provider-vantage` binary.
#[derive(Debug, Default)]
pub struct VantageProvider;

#[tfplugin::async_trait]
impl tfplugin::Provider for VantageProvider {
    type Data = ProviderData;

    fn type_name(&self) -> &'static str {
        "vantage"
    }

    fn schema(&self) -> Schema {
        config::schema()
    }

    async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
        config::validate(config).await
    }

    async fn configure(&self, request: ConfigureRequest<'_>) -> Result<ProviderData, Diagnostics> {
        config::configure(request).await
    }

    fn resources(&self) -> Vec<Arc<dyn AnyResource<ProviderData>>> {
        vec![
            Arc::new(resources::cross_account_role::CrossAccountRole),
            Arc::new(resources::role_policy::RolePolicy),
            Arc::new(resources::aws_integration::AwsIntegration),
            Arc::new(resources::aws_provider::AwsProvider),
            Arc::new(resources::cur_bucket::CurBucket),
            Arc::new(resources::cur_bucket_access::CurBucketAccess),
            Arc::new(resources::cur_report::CurReport),
            Arc::new(resources::data_export::DataExport),
            Arc::new(resources::cur_backfill::CurBackfill),
            Arc::new(resources::member_account_roles::MemberAccountRoles),
        ]
    }

    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource<ProviderData>>> {
        vec![
            Arc::new(data_sources::aws_provider_info::AwsProviderInfoDataSource),
            Arc::new(data_sources::aws_account::AwsAccountDataSource),
        ]
    }
}
