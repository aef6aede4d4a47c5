//! Checks on the billing side (S3 buckets and CUR report definitions) through
//! the AWS SDK against the devstack's front door: never through the
//! provider's own code.
//!
//! Each test works in its own AWS account: the provider assumes a role in
//! that account (`provider_block`), and [`Billing::for_account`] does the
//! same for the SDK checks. moto maps credentials issued by AssumeRole to the
//! role's account, and devstack's CUR follows moto, so tests running in
//! parallel never see each other's reports (nor hit the report quota).

use std::collections::BTreeMap;

use aws_config::Region;
use aws_sdk_costandusagereport::types::ReportDefinition;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::json;

use crate::Devstack;

/// A 12-digit account id of its own for each test name.
pub fn account_for(test: &str) -> String {
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in test.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("2{:011}", h % 100_000_000_000)
}

/// The role the provider (and the checks) assume to act in `account`.
pub fn role_in(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/terraform")
}

/// A provider block acting in `account`.
pub fn provider_block(account: &str) -> String {
    format!(
        "provider \"vantage\" {{\n  assume_role {{\n    role_arn = \"{}\"\n  }}\n}}\n",
        role_in(account)
    )
}

/// The statements AWS billing and Vantage need in a CUR bucket's policy,
/// written out here independently of the provider.
pub fn reference_policy(account: &str, bucket: &str, role: Option<&str>, enforce_tls: bool) -> serde_json::Value {
    let b = format!("arn:aws:s3:::{bucket}");
    let objects = format!("{b}/*");
    let cur = format!("arn:aws:cur:us-east-1:{account}:definition/*");
    let exports = format!("arn:aws:bcm-data-exports:us-east-1:{account}:export/*");
    let mut statements = vec![
        json!({"Effect": "Allow", "Principal": {"Service": "billingreports.amazonaws.com"},
               "Action": ["s3:GetBucketAcl", "s3:GetBucketPolicy"], "Resource": b,
               "Condition": {"StringEquals": {"aws:SourceArn": cur, "aws:SourceAccount": account}}}),
        json!({"Effect": "Allow", "Principal": {"Service": "billingreports.amazonaws.com"},
               "Action": "s3:PutObject", "Resource": objects,
               "Condition": {"StringEquals": {"aws:SourceArn": cur, "aws:SourceAccount": account}}}),
        json!({"Effect": "Allow",
               "Principal": {"Service": ["billingreports.amazonaws.com", "bcm-data-exports.amazonaws.com"]},
               "Action": ["s3:PutObject", "s3:GetBucketPolicy"], "Resource": [objects, b],
               "Condition": {"StringLike": {"aws:SourceArn": [cur, exports], "aws:SourceAccount": account}}}),
    ];
    if let Some(role) = role {
        statements.push(json!({"Effect": "Allow", "Principal": {"AWS": role},
                               "Action": ["s3:GetObject", "s3:GetObjectAcl"], "Resource": objects}));
    }
    if enforce_tls {
        statements.push(
            json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [b, objects],
                               "Condition": {"Bool": {"aws:SecureTransport": "false"},
                                             "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}}),
        );
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// A bucket as S3 reports it.
#[derive(Debug, Clone, Default)]
pub struct BucketFacts {
    pub region: String,
    pub policy: Option<serde_json::Value>,
    /// block_public_acls, ignore_public_acls, block_public_policy, restrict_public_buckets
    pub public_access_block: Option<[bool; 4]>,
    /// (rule id, expiration days) of every enabled rule
    pub lifecycle: Vec<(String, i32)>,
    /// (topic ARN, events, suffix filter) of every topic notification
    pub topics: Vec<(String, Vec<String>, Option<String>)>,
    pub tags: BTreeMap<String, String>,
}

/// Blocking SDK clients acting in one account.
pub struct Billing {
    rt: tokio::runtime::Runtime,
    pub account: String,
    endpoint: String,
    config: aws_config::SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub cur: aws_sdk_costandusagereport::Client,
    pub exports: aws_sdk_bcmdataexports::Client,
    pub organizations: aws_sdk_organizations::Client,
}

fn code<E: ProvideErrorMetadata, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> Option<&str> {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(_) => e.code(),
        _ => None,
    }
}

impl Billing {
    /// Clients acting in `account` of the devstack `ds` (through AssumeRole, like the provider).
    pub fn for_account(ds: &Devstack, account: &str) -> Billing {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let endpoint = ds.info.aws_url.clone();
        let config = rt.block_on(crate::aws::assumed_config(&endpoint, account));
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        Billing {
            s3,
            cur: aws_sdk_costandusagereport::Client::new(&config),
            exports: aws_sdk_bcmdataexports::Client::new(&config),
            organizations: aws_sdk_organizations::Client::new(&config),
            account: account.to_string(),
            endpoint,
            config,
            rt,
        }
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// S3 in another region (for buckets created there).
    pub fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config)
                .region(Region::new(region.to_string()))
                .endpoint_url(&self.endpoint)
                .force_path_style(true)
                .build(),
        )
    }

    /// Everything on the bucket, or None when S3 has no such bucket.
    pub fn bucket(&self, name: &str) -> Option<BucketFacts> {
        self.block_on(async {
            let location = match self.s3.get_bucket_location().bucket(name).send().await {
                Ok(out) => out,
                Err(e) if code(&e) == Some("NoSuchBucket") => return None,
                Err(e) => panic!("GetBucketLocation {name}: {e:?}"),
            };
            let region = match location.location_constraint().map(|c| c.as_str()) {
                None | Some("") => "us-east-1".to_string(),
                Some(r) => r.to_string(),
            };
            let s3 = self.s3_in(&region);
            let policy = match s3.get_bucket_policy().bucket(name).send().await {
                Ok(out) => out.policy().map(|p| serde_json::from_str(p).expect("policy JSON")),
                Err(e) if code(&e) == Some("NoSuchBucketPolicy") => None,
                Err(e) => panic!("GetBucketPolicy {name}: {e:?}"),
            };
            let public_access_block = match s3.get_public_access_block().bucket(name).send().await {
                Ok(out) => out.public_access_block_configuration().map(|c| {
                    [
                        c.block_public_acls().unwrap_or(false),
                        c.ignore_public_acls().unwrap_or(false),
                        c.block_public_policy().unwrap_or(false),
                        c.restrict_public_buckets().unwrap_or(false),
                    ]
                }),
                Err(e) if code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => None,
                Err(e) => panic!("GetPublicAccessBlock {name}: {e:?}"),
            };
            let lifecycle = match s3.get_bucket_lifecycle_configuration().bucket(name).send().await {
                Ok(out) => out
                    .rules()
                    .iter()
                    .filter(|r| r.status().as_str() == "Enabled")
                    .filter_map(|r| Some((r.id()?.to_string(), r.expiration()?.days()?)))
                    .collect(),
                Err(e) if code(&e) == Some("NoSuchLifecycleConfiguration") => Vec::new(),
                Err(e) => panic!("GetBucketLifecycleConfiguration {name}: {e:?}"),
            };
            let notification = s3
                .get_bucket_notification_configuration()
                .bucket(name)
                .send()
                .await
                .expect("GetBucketNotificationConfiguration");
            let topics = notification
                .topic_configurations()
                .iter()
                .map(|t| {
                    let suffix = t
                        .filter()
                        .and_then(|f| f.key())
                        .and_then(|k| {
                            k.filter_rules()
                                .iter()
                                .find(|r| r.name().is_some_and(|n| n.as_str().eq_ignore_ascii_case("suffix")))
                        })
                        .and_then(|r| r.value())
                        .map(str::to_string);
                    (
                        t.topic_arn().to_string(),
                        t.events().iter().map(|e| e.as_str().to_string()).collect(),
                        suffix,
                    )
                })
                .collect();
            let tags = match s3.get_bucket_tagging().bucket(name).send().await {
                Ok(out) => out
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
                Err(e) if code(&e) == Some("NoSuchTagSet") => BTreeMap::new(),
                Err(e) => panic!("GetBucketTagging {name}: {e:?}"),
            };
            Some(BucketFacts {
                region,
                policy,
                public_access_block,
                lifecycle,
                topics,
                tags,
            })
        })
    }

    /// Object keys in the bucket.
    pub fn objects(&self, bucket: &str) -> Vec<String> {
        self.block_on(async {
            let out = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .send()
                .await
                .expect("ListObjectsV2");
            out.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_string)
                .collect()
        })
    }

    pub fn put_object(&self, bucket: &str, key: &str, body: &[u8]) {
        self.block_on(
            self.s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(body.to_vec()))
                .send(),
        )
        .expect("PutObject");
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.block_on(self.s3.create_bucket().bucket(bucket).send())
            .expect("CreateBucket");
    }

    pub fn put_bucket_policy(&self, bucket: &str, policy: &str) {
        self.block_on(self.s3.put_bucket_policy().bucket(bucket).policy(policy).send())
            .expect("PutBucketPolicy");
    }

    pub fn delete_bucket_policy(&self, bucket: &str) {
        self.block_on(self.s3.delete_bucket_policy().bucket(bucket).send())
            .expect("DeleteBucketPolicy");
    }

    /// Turns every public access block setting off.
    pub fn loosen_public_access_block(&self, bucket: &str) {
        let off = aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
            .block_public_acls(false)
            .ignore_public_acls(false)
            .block_public_policy(false)
            .restrict_public_buckets(false)
            .build();
        self.block_on(
            self.s3
                .put_public_access_block()
                .bucket(bucket)
                .public_access_block_configuration(off)
                .send(),
        )
        .expect("PutPublicAccessBlock");
    }

    pub fn delete_lifecycle(&self, bucket: &str) {
        self.block_on(self.s3.delete_bucket_lifecycle().bucket(bucket).send())
            .expect("DeleteBucketLifecycle");
    }

    pub fn clear_notifications(&self, bucket: &str) {
        let empty = aws_sdk_s3::types::NotificationConfiguration::builder().build();
        self.block_on(
            self.s3
                .put_bucket_notification_configuration()
                .bucket(bucket)
                .notification_configuration(empty)
                .send(),
        )
        .expect("PutBucketNotificationConfiguration");
    }

    /// Every report definition of the account (all pages).
    pub fn reports(&self) -> Vec<ReportDefinition> {
        self.block_on(async {
            let mut all = Vec::new();
            let mut token = None;
            loop {
                let out = self
                    .cur
                    .describe_report_definitions()
                    .set_next_token(token)
                    .send()
                    .await
                    .expect("DescribeReportDefinitions");
                all.extend(out.report_definitions().iter().cloned());
                match out.next_token() {
                    Some(t) => token = Some(t.to_string()),
                    None => return all,
                }
            }
        })
    }

    /// IAM in this account.
    pub fn iam(&self) -> crate::aws::Aws {
        crate::aws::Aws::from_config(&self.config)
    }

    /// When S3 says the bucket was created (ListBuckets), or None when it does not exist.
    pub fn bucket_created(&self, name: &str) -> Option<String> {
        let out = self.block_on(self.s3.list_buckets().send()).expect("ListBuckets");
        out.buckets()
            .iter()
            .find(|b| b.name() == Some(name))
            .map(|b| b.creation_date().map(ToString::to_string).unwrap_or_default())
    }

    /// The ARNs of the account's BCM Data Exports (all pages).
    pub fn export_arns(&self) -> Vec<String> {
        self.block_on(async {
            let mut all = Vec::new();
            let mut token = None;
            loop {
                let out = self
                    .exports
                    .list_exports()
                    .set_next_token(token)
                    .send()
                    .await
                    .expect("ListExports");
                all.extend(out.exports().iter().map(|e| e.export_arn().to_string()));
                match out.next_token() {
                    Some(t) => token = Some(t.to_string()),
                    None => return all,
                }
            }
        })
    }

    pub fn report(&self, name: &str) -> Option<ReportDefinition> {
        self.reports().into_iter().find(|r| r.report_name() == name)
    }

    pub fn report_tags(&self, name: &str) -> BTreeMap<String, String> {
        self.block_on(self.cur.list_tags_for_resource().report_name(name).send())
            .expect("ListTagsForResource")
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    }

    /// Replaces a report's definition behind Terraform's back.
    pub fn modify_report(&self, definition: ReportDefinition) {
        let name = definition.report_name().to_string();
        self.block_on(
            self.cur
                .modify_report_definition()
                .report_name(name)
                .report_definition(definition)
                .send(),
        )
        .expect("ModifyReportDefinition");
    }

    pub fn delete_report(&self, name: &str) {
        self.block_on(self.cur.delete_report_definition().report_name(name).send())
            .expect("DeleteReportDefinition");
    }
}
