//! `vantage_aws_integration`: the registration of the cross-account role (and
//! the CUR bucket) with Vantage, kept reconciled on every refresh.
//!
//! [`Registrations`] is the one place that registers, reads, changes and
//! removes AWS integrations; `vantage_aws_provider` (the official provider's
//! resource, `aws_provider.rs`) is served by it too, and differs only in its
//! schema and model.
//!
//! Vantage keeps one record per integration, seen through two APIs. v1
//! (`/v1/integrations/aws/{id}`) holds the role and bucket and is the only
//! way to create, change and delete it. v2 (`/v2/integrations`) holds the
//! status, addressed by a token. A refresh reads v1 once per integration and
//! takes the status from one v2 listing per provider process, shared by every
//! integration ([`IntegrationCache`]): about one Vantage call per integration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::custom;
use tfplugin::timeouts::{self, Timeouts};
use tfplugin::{
    ApplyError, Attribute, CancellationToken, Ctx, Diagnostic, Diagnostics, MoveSource, Plan, Resource, Schema, Value,
};
use tokio::sync::OnceCell;

use crate::ProviderData;
use crate::arn::parse_role_arn;
use crate::aws::errors::describe;
use crate::data_sources::aws_account;
use crate::retry::{RetryError, retry_while};
use crate::vantage::{VantageClient, VantageError};

/// Default for each of `timeouts { create, update, delete }`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

const V1_PATH: &str = "/v1/integrations/aws";
/// The largest v2 page Vantage serves.
const LIST_LIMIT: usize = 1000;
/// Pages of the shared v2 listing before falling back to one call per integration.
const MAX_LIST_PAGES: u32 = 10;
/// Retries of a write that got no clear answer (5xx other than 503, timeout, dropped connection).
const MAX_UNCLEAR_RETRIES: u32 = 3;
/// How long the member-account check may take before it is skipped.
const ORGANIZATION_LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Vantage's principal account: its role and its root may be trusted.
const VANTAGE_ACCOUNT: &str = "630399649041";

const STATUS_VALUES: &str = "`pending` (registered, not verified yet), `importing` (waiting for the first Cost and \
                             Usage Report), `imported`, `connected`, `error` (Vantage cannot assume the role; a \
                             warning says why) or `disconnected`";

// ---------------------------------------------------------------------------------------------
// Wire types

/// v1 `AwsAccessCredential`.
#[derive(Debug, Deserialize)]
struct AccessCredential {
    id: i64,
    cross_account_arn: String,
    #[serde(default)]
    bucket_arn: Option<String>,
}

/// v2 `Integration`, the fields the provider uses.
#[derive(Debug, Clone, Deserialize)]
struct V2Integration {
    token: String,
    #[serde(default)]
    account_identifier: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct V2Page {
    #[serde(default)]
    links: V2Links,
    #[serde(default)]
    integrations: Vec<V2Integration>,
}

#[derive(Debug, Default, Deserialize)]
struct V2Links {
    #[serde(default)]
    next: Option<String>,
}

/// The v1 body. A create leaves out a missing bucket; an update sends `null`,
/// which clears the bucket (a `PUT` replaces the registration).
fn registration_body(role: &str, bucket: Option<&str>, clear_missing_bucket: bool) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    body.insert("cross_account_arn".into(), role.into());
    match bucket {
        Some(b) => {
            body.insert("bucket_arn".into(), b.into());
        }
        None if clear_missing_bucket => {
            body.insert("bucket_arn".into(), serde_json::Value::Null);
        }
        None => {}
    }
    serde_json::Value::Object(body)
}

/// The v2 token of the integration with v1 id `id`, by the mapping the
/// devstack documents (Vantage does not publish its own). It is only a first
/// guess: when Vantage knows no such token, the status is found by account.
pub fn token_for_id(id: i32) -> String {
    const SALT: u64 = 0x5641_4e54_4147_4521;
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut x = u64::from(id.unsigned_abs()) ^ SALT;
    x = x.wrapping_mul(MULTIPLIER);
    x ^= x >> 32;
    format!("accss_crdntl_{x:016x}")
}

/// The id in Vantage's duplicate answer ("... already exists with id 12").
fn existing_id(message: &str) -> Option<i32> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("with id")? + "with id".len();
    let digits: String = lower[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Whether Vantage's answer means "the role exists but IAM has not propagated it yet".
fn is_propagation(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("not assumable yet") || m.contains("iam propagation")
}

// ---------------------------------------------------------------------------------------------
// Plan-time checks shared by both resource types

pub fn role_arn_check(v: &Value) -> Result<(), String> {
    v.as_str().map_or(Ok(()), |s| parse_role_arn(s).map(drop))
}

/// `arn:<partition>:s3:::<bucket>`; an empty string means "no bucket", as
/// the official provider sends it.
pub fn bucket_arn_check(v: &Value) -> Result<(), String> {
    let Some(s) = v.as_str() else { return Ok(()) };
    if s.is_empty() {
        return Ok(());
    }
    let bad = |why: String| {
        Err(format!(
            "{s:?} is not an S3 bucket ARN ({why}); it should look like arn:aws:s3:::my-cur-bucket"
        ))
    };
    let parts = match crate::arn::split_arn(s) {
        Ok(parts) => parts,
        Err(why) => return bad(why.into()),
    };
    if parts.service != "s3" {
        return bad("it must start with arn:aws:s3".into());
    }
    if !parts.region.is_empty() || !parts.account.is_empty() {
        return bad("a bucket ARN has no region and no account: arn:aws:s3:::name".into());
    }
    let bucket = parts.resource;
    if bucket.contains('/') {
        return bad("name the bucket itself, not an object or prefix in it".into());
    }
    crate::s3::validate_bucket_name(bucket).or_else(bad)
}

/// The bucket to send: an empty string is no bucket.
fn wanted_bucket(bucket: Option<&str>) -> Option<&str> {
    bucket.filter(|b| !b.is_empty())
}

/// The bucket for the state: Vantage's, except that a configured `""` stays
/// `""` while Vantage holds none (no perpetual diff for official configs).
pub fn bucket_for_state(remote: Option<String>, prior: Option<&str>) -> Option<String> {
    match remote.filter(|b| !b.is_empty()) {
        Some(b) => Some(b),
        None if prior == Some("") => Some(String::new()),
        None => None,
    }
}

/// A positive v1 id, from state or an import id.
pub fn parse_id(text: &str) -> Result<i32, String> {
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("{text:?} is not an AWS integration id: use the positive number Vantage assigned"))
}

// ---------------------------------------------------------------------------------------------
// Per-process cache

/// Shared by every integration of one provider process: the v2 listing (so a
/// refresh of N integrations costs N v1 reads plus one listing, not 2N calls),
/// statuses this process wrote itself, and the caller's organisation.
#[derive(Debug, Default)]
pub struct IntegrationCache {
    listing: OnceCell<Result<Arc<Listing>, String>>,
    fresh: Mutex<HashMap<i32, V2Integration>>,
    organization: OnceCell<Option<OrganizationContext>>,
}

/// The v2 listing, at most [`MAX_LIST_PAGES`] pages: an integration beyond
/// them is read directly.
#[derive(Debug)]
struct Listing {
    integrations: Vec<V2Integration>,
}

/// The caller's account in its organisation (only when it is in one).
#[derive(Debug, Clone)]
struct OrganizationContext {
    caller_account: String,
    organization_id: String,
    management_account_id: String,
}

impl IntegrationCache {
    async fn listing(&self, vantage: &VantageClient, cancel: &CancellationToken) -> Result<Arc<Listing>, String> {
        self.listing
            .get_or_init(|| async {
                fetch_listing(vantage, cancel)
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await
            .clone()
    }

    fn remember(&self, id: i32, integration: V2Integration) {
        if let Ok(mut fresh) = self.fresh.lock() {
            fresh.insert(id, integration);
        }
    }

    fn forget(&self, id: i32) {
        if let Ok(mut fresh) = self.fresh.lock() {
            fresh.remove(&id);
        }
    }

    fn remembered(&self, id: i32) -> Option<V2Integration> {
        self.fresh.lock().ok().and_then(|f| f.get(&id).cloned())
    }

    fn remembered_account(&self, account: &str) -> bool {
        self.fresh
            .lock()
            .is_ok_and(|f| f.values().any(|i| i.account_identifier.as_deref() == Some(account)))
    }

    /// The caller's organisation; `None` when standalone or when it cannot be
    /// told (no AWS credentials, Organizations not served): the check it feeds
    /// only warns, so it never fails an apply.
    async fn organization(&self, data: &ProviderData) -> Option<&OrganizationContext> {
        self.organization
            .get_or_init(|| async {
                let lookup = async {
                    let caller = match data.aws.caller().await {
                        Ok(c) => c,
                        Err(d) => {
                            tracing::debug!(error = %d, "no caller identity; skipping the member-account check");
                            return None;
                        }
                    };
                    match aws_account::describe_organization(&data.aws).await {
                        Ok(Some(org)) => Some(OrganizationContext {
                            caller_account: caller.account_id.clone(),
                            organization_id: org.id,
                            management_account_id: org.management_account_id,
                        }),
                        Ok(None) => None,
                        Err(d) => {
                            tracing::debug!(error = %d, "organization unknown; skipping the member-account check");
                            None
                        }
                    }
                };
                tokio::time::timeout(ORGANIZATION_LOOKUP_TIMEOUT, lookup)
                    .await
                    .ok()
                    .flatten()
            })
            .await
            .as_ref()
    }
}

async fn fetch_listing(vantage: &VantageClient, cancel: &CancellationToken) -> Result<Listing, VantageError> {
    let mut integrations = Vec::new();
    for page in 1..=MAX_LIST_PAGES {
        let path = format!("/v2/integrations?provider=aws&limit={LIST_LIMIT}&page={page}");
        let answer: V2Page = vantage.get(cancel, &path).await?;
        integrations.extend(answer.integrations);
        if answer.links.next.is_none() {
            break;
        }
    }
    Ok(Listing { integrations })
}

// ---------------------------------------------------------------------------------------------
// The shared implementation

/// An integration as Vantage holds it: v1 record plus v2 token and status
/// (`None` when they could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub id: i32,
    pub role_arn: String,
    pub bucket_arn: Option<String>,
    pub token: Option<String>,
    pub status: Option<String>,
}

impl Registration {
    fn from_v1(v1: AccessCredential, endpoint: &str) -> Result<Registration, Diagnostic> {
        let id = i32::try_from(v1.id).ok().filter(|id| *id > 0).ok_or_else(|| {
            Diagnostic::error(
                "Unexpected answer from Vantage",
                format!(
                    "{endpoint} returned the integration id {}, not a positive int32.",
                    v1.id
                ),
            )
        })?;
        Ok(Registration {
            id,
            role_arn: v1.cross_account_arn,
            bucket_arn: v1.bucket_arn.filter(|b| !b.is_empty()),
            token: None,
            status: None,
        })
    }

    pub fn account_id(&self) -> Option<String> {
        parse_role_arn(&self.role_arn).ok().map(|r| r.account_id)
    }

    fn with_status(mut self, v2: Option<V2Integration>) -> Registration {
        if let Some(v2) = v2 {
            self.token = Some(v2.token);
            self.status = v2.status;
        }
        self
    }
}

/// A failed create: `registered` is set when Vantage holds the integration
/// anyway, so Terraform keeps tracking it.
#[derive(Debug)]
pub struct CreateFailure {
    pub registered: Option<Registration>,
    pub diagnostic: Diagnostic,
}

impl From<Diagnostic> for CreateFailure {
    fn from(diagnostic: Diagnostic) -> CreateFailure {
        CreateFailure {
            registered: None,
            diagnostic,
        }
    }
}

/// How a write's error is handled.
#[derive(Debug)]
enum Failure {
    /// Vantage cannot assume the role yet (IAM propagation): retry until the timeout.
    NotYet(String),
    /// No clear answer: the write may or may not have happened. Retried a few times.
    Unclear(VantageError),
    /// The role is registered already (409), maybe as `existing`.
    Conflict { message: String, existing: Option<i32> },
    /// Anything else (other 4xx, auth, rate limit far away): fail at once.
    Fatal(VantageError),
}

fn classify(e: VantageError) -> Failure {
    match e {
        VantageError::Api { status, message, .. } if status < 500 && status != 409 && is_propagation(&message) => {
            Failure::NotYet(message)
        }
        VantageError::Api {
            status: 409, message, ..
        } => Failure::Conflict {
            existing: existing_id(&message),
            message,
        },
        e if is_transient(&e) => Failure::Unclear(e),
        e => Failure::Fatal(e),
    }
}

/// No answer or a server error: worth another try (the client already retried some).
fn is_transient(e: &VantageError) -> bool {
    match e {
        VantageError::Timeout { .. } | VantageError::Unreachable { .. } => true,
        VantageError::Api { status, .. } => *status >= 500,
        _ => false,
    }
}

fn cancelled() -> Diagnostic {
    Diagnostic::error("Cancelled", "Terraform asked the provider to stop.")
}

/// The `import {}` block that adopts integration `id` into a resource of `type_name`.
fn import_block(type_name: &str, id: i32) -> String {
    format!("  import {{\n    to = {type_name}.<name>\n    id = \"{id}\"\n  }}")
}

/// The state model of a registration resource (`vantage_aws_integration`,
/// `vantage_aws_provider`): what the shared create needs from it.
pub trait RegistrationModel: Sized {
    /// The v1 access-credential id kept in state.
    fn v1_id(&self) -> Result<i32, Diagnostic>;
    /// The v2 token when the state keeps one (it finds the status faster).
    fn token(&self) -> Option<&str> {
        None
    }
    fn role(&self) -> Result<&str, Diagnostic>;
    fn bucket_arn(&self) -> Option<&str>;
    fn timeouts(&self) -> Timeouts;
    /// The state for what Vantage holds, keeping what only Terraform knows.
    fn from_registration(r: Registration, prior: &Self) -> Self;
}

/// Talks to Vantage for one operation of `vantage_aws_integration` or `vantage_aws_provider`.
pub struct Registrations<'a> {
    ctx: &'a Ctx<ProviderData>,
    type_name: &'static str,
}

impl<'a> Registrations<'a> {
    pub fn new(ctx: &'a Ctx<ProviderData>, type_name: &'static str) -> Registrations<'a> {
        Registrations { ctx, type_name }
    }

    fn vantage(&self) -> &VantageClient {
        &self.ctx.provider().vantage
    }

    fn cache(&self) -> &IntegrationCache {
        &self.ctx.provider().integrations
    }

    fn cancel(&self) -> &CancellationToken {
        self.ctx.cancellation()
    }

    fn endpoint(&self, method: &str, path: &str) -> String {
        format!("{method} {}{path}", self.vantage().host())
    }

    /// Create for a resource: a registration Vantage holds despite an error
    /// goes into state beside the error, so Terraform keeps tracking it.
    pub async fn create_state<M: RegistrationModel>(&self, planned: M) -> Result<M, ApplyError<M>> {
        let timeout = planned.timeouts().create_or(DEFAULT_TIMEOUT);
        match self.create(planned.role()?, planned.bucket_arn(), timeout).await {
            Ok(r) => Ok(M::from_registration(r, &planned)),
            Err(CreateFailure {
                registered: Some(r),
                diagnostic,
            }) => Err(ApplyError::with_partial_state(
                M::from_registration(r, &planned),
                diagnostic,
            )),
            Err(CreateFailure { diagnostic, .. }) => Err(diagnostic.into()),
        }
    }

    /// Read for a resource: `None` when Vantage no longer holds it.
    pub async fn read_state<M: RegistrationModel>(&self, current: M) -> Result<Option<M>, Diagnostics> {
        let found = self.read(current.v1_id()?, current.token()).await?;
        Ok(found.map(|r| M::from_registration(r, &current)))
    }

    /// Delete for a resource.
    pub async fn delete_state<M: RegistrationModel>(&self, prior: M) -> Result<(), Diagnostics> {
        let timeout = prior.timeouts().delete_or(DEFAULT_TIMEOUT);
        Ok(self.delete(prior.v1_id()?, timeout).await?)
    }

    /// Registers the role (and bucket). Retries while Vantage cannot assume
    /// the role yet, up to `timeout`.
    pub async fn create(
        &self,
        role: &str,
        bucket: Option<&str>,
        timeout: Duration,
    ) -> Result<Registration, CreateFailure> {
        let bucket = wanted_bucket(bucket);
        let body = registration_body(role, bucket, false);
        let (result, unclear) = self.write_v1(None, &body, timeout).await;
        let created = match result {
            Ok(created) => created,
            Err(RetryError::Cancelled) => return Err(cancelled().into()),
            Err(RetryError::Failed {
                error: Failure::Conflict { existing: Some(id), .. },
                ..
            }) if unclear => {
                // An earlier attempt got no clear answer, yet the role is now registered:
                // that attempt did it. Adopt the integration rather than fail.
                return self.adopt(id, role, bucket, timeout).await;
            }
            Err(RetryError::Failed {
                error,
                attempts,
                waited,
            }) => {
                return Err(self
                    .write_failure("Registering", role, error, attempts, waited, timeout)
                    .await
                    .into());
            }
        };
        let endpoint = self.endpoint("POST", V1_PATH);
        let registration = Registration::from_v1(created, &endpoint)?;
        let status = self.status_now(&registration).await;
        let registration = registration.with_status(status);
        if let Some(account) = registration.account_id() {
            self.member_account_caution(&account).await;
        }
        self.warn_about_status(&registration).await;
        Ok(registration)
    }

    /// A v1 write: `POST` (no `id`) or `PUT` of integration `id`. Retried while
    /// Vantage cannot assume the role yet (until `timeout`), and a few times
    /// after an unclear answer; also says whether any answer was unclear.
    async fn write_v1(
        &self,
        id: Option<i32>,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> (Result<AccessCredential, RetryError<Failure>>, bool) {
        let path = id.map_or_else(|| V1_PATH.to_string(), |id| format!("{V1_PATH}/{id}"));
        let unclear = AtomicU32::new(0);
        let (vantage, cancel, path_ref, unclear_ref) = (self.vantage(), self.cancel(), &path, &unclear);
        let result = retry_while(
            cancel,
            timeout,
            move || async move {
                let sent = match id {
                    None => vantage.post::<_, AccessCredential>(cancel, path_ref, body).await,
                    Some(_) => vantage.put::<_, AccessCredential>(cancel, path_ref, body).await,
                };
                sent.map_err(|e| {
                    let failure = classify(e);
                    if matches!(failure, Failure::Unclear(_)) {
                        unclear_ref.fetch_add(1, Ordering::Relaxed);
                    }
                    failure
                })
            },
            |f| match f {
                Failure::NotYet(_) => true,
                Failure::Unclear(_) => unclear.load(Ordering::Relaxed) <= MAX_UNCLEAR_RETRIES,
                _ => false,
            },
        )
        .await;
        (result, unclear.load(Ordering::Relaxed) > 0)
    }

    /// Takes over integration `id`, registered by an attempt whose answer was lost.
    async fn adopt(
        &self,
        id: i32,
        role: &str,
        bucket: Option<&str>,
        timeout: Duration,
    ) -> Result<Registration, CreateFailure> {
        let found = self
            .read_v1(id)
            .await
            .map_err(|d| d.0.into_iter().next().unwrap_or_else(cancelled))?;
        let Some(found) = found.filter(|r| r.role_arn == role) else {
            return Err(self.already_registered(role, Some(id), "").into());
        };
        let registration = if found.bucket_arn.as_deref() != bucket {
            self.update(id, role, bucket, timeout)
                .await
                .map_err(|diagnostic| CreateFailure {
                    registered: Some(found.clone()),
                    diagnostic,
                })?
        } else {
            let status = self.status_now(&found).await;
            found.with_status(status)
        };
        self.ctx.warn(Diagnostic::warning(
            "Adopted the AWS integration an interrupted attempt registered",
            format!(
                "Vantage gave no clear answer to a registration of {role} (a server error or timeout), and \
                 the retry found the role registered as AWS integration {id}: that attempt had succeeded. \
                 Terraform now manages integration {id}."
            ),
        ));
        if let Some(account) = registration.account_id() {
            self.member_account_caution(&account).await;
        }
        Ok(registration)
    }

    /// Reads the integration; `None` when Vantage no longer has it.
    pub async fn read(&self, id: i32, known_token: Option<&str>) -> Result<Option<Registration>, Diagnostics> {
        let cache = self.cache();
        let (v1, listing) = tokio::join!(self.read_v1(id), cache.listing(self.vantage(), self.cancel()));
        let Some(registration) = v1? else {
            return Ok(None);
        };
        let status = match listing {
            Ok(listing) => self.find_status(&registration, known_token, &listing).await,
            Err(why) => {
                self.ctx.warn(Diagnostic::warning(
                    "Could not read the AWS integration's status",
                    format!(
                        "Listing Vantage's integrations (GET /v2/integrations) failed: {why}. `status` and \
                         `token` keep their previous values."
                    ),
                ));
                None
            }
        };
        let registration = registration.with_status(status);
        self.warn_about_status(&registration).await;
        Ok(Some(registration))
    }

    async fn read_v1(&self, id: i32) -> Result<Option<Registration>, Diagnostics> {
        let path = format!("{V1_PATH}/{id}");
        match self.vantage().get::<AccessCredential>(self.cancel(), &path).await {
            Ok(v1) => Ok(Some(Registration::from_v1(v1, &self.endpoint("GET", &path))?)),
            Err(VantageError::NotFound { .. }) => Ok(None),
            Err(VantageError::Cancelled { .. }) => Err(cancelled().into()),
            Err(e) => Err(e
                .to_diagnostic("Could not read the AWS integration from Vantage")
                .into()),
        }
    }

    /// The v2 record of a registration: what this process wrote, else the
    /// shared listing (by token, else the only one of its account), else one
    /// direct read when the listing cannot have it.
    async fn find_status(
        &self,
        registration: &Registration,
        known_token: Option<&str>,
        listing: &Listing,
    ) -> Option<V2Integration> {
        if let Some(fresh) = self.cache().remembered(registration.id) {
            return Some(fresh);
        }
        let mapped = token_for_id(registration.id);
        let tokens = [known_token, Some(mapped.as_str())];
        if let Some(found) = listing
            .integrations
            .iter()
            .find(|i| tokens.contains(&Some(i.token.as_str())))
        {
            return Some(found.clone());
        }
        if let Some(account) = registration.account_id() {
            let mut same_account = listing
                .integrations
                .iter()
                .filter(|i| i.account_identifier.as_deref() == Some(account.as_str()));
            if let (Some(only), None) = (same_account.next(), same_account.next()) {
                return Some(only.clone());
            }
        }
        // Registered after the listing was taken, or beyond its last page.
        let token = known_token.map_or(mapped.clone(), str::to_string);
        self.get_v2(&token).await
    }

    async fn get_v2(&self, token: &str) -> Option<V2Integration> {
        match self
            .vantage()
            .get::<V2Integration>(self.cancel(), &format!("/v2/integrations/{token}"))
            .await
        {
            Ok(found) => Some(found),
            Err(e) => {
                tracing::debug!(error = %e, "no v2 integration for this token");
                None
            }
        }
    }

    /// The status right after a write: the mapped token, else the only
    /// integration of the role's account. Never fails the write.
    async fn status_now(&self, registration: &Registration) -> Option<V2Integration> {
        let mut found = self.get_v2(&token_for_id(registration.id)).await;
        if found.is_none()
            && let Some(account) = registration.account_id()
        {
            let path = format!("/v2/integrations?provider=aws&account_identifier={account}&limit={LIST_LIMIT}");
            if let Ok(page) = self.vantage().get::<V2Page>(self.cancel(), &path).await
                && let [only] = page.integrations.as_slice()
            {
                found = Some(only.clone());
            }
        }
        if let Some(v2) = &found {
            self.cache().remember(registration.id, v2.clone());
        }
        found
    }

    /// Changes the role and/or bucket (a `PUT` replaces the registration, so
    /// a missing bucket is cleared).
    pub async fn update(
        &self,
        id: i32,
        role: &str,
        bucket: Option<&str>,
        timeout: Duration,
    ) -> Result<Registration, Diagnostic> {
        let body = registration_body(role, wanted_bucket(bucket), true);
        let path = format!("{V1_PATH}/{id}");
        let (result, _) = self.write_v1(Some(id), &body, timeout).await;
        let updated = match result {
            Ok(updated) => updated,
            Err(RetryError::Cancelled) => return Err(cancelled()),
            Err(RetryError::Failed {
                error: Failure::Fatal(VantageError::NotFound { .. }),
                ..
            }) => {
                return Err(Diagnostic::error(
                    "The AWS integration no longer exists",
                    format!(
                        "Vantage has no AWS integration {id} any more: it was deleted outside Terraform during \
                         this run. Run apply again: the refresh notices and registers the role anew."
                    ),
                ));
            }
            Err(RetryError::Failed {
                error,
                attempts,
                waited,
            }) => {
                return Err(self
                    .write_failure("Updating", role, error, attempts, waited, timeout)
                    .await);
            }
        };
        self.cache().forget(id);
        let registration = Registration::from_v1(updated, &self.endpoint("PUT", &path))?;
        let status = self.status_now(&registration).await;
        let registration = registration.with_status(status);
        self.warn_about_status(&registration).await;
        Ok(registration)
    }

    /// Removes the integration; one that is already gone counts as removed.
    pub async fn delete(&self, id: i32, timeout: Duration) -> Result<(), Diagnostic> {
        let path = format!("{V1_PATH}/{id}");
        let unclear = AtomicU32::new(0);
        let (vantage, cancel, path_ref, unclear_ref) = (self.vantage(), self.cancel(), &path, &unclear);
        let result = retry_while(
            cancel,
            timeout,
            move || async move {
                vantage.delete(cancel, path_ref).await.inspect_err(|e| {
                    if is_transient(e) {
                        unclear_ref.fetch_add(1, Ordering::Relaxed);
                    }
                })
            },
            |e| is_transient(e) && unclear.load(Ordering::Relaxed) <= MAX_UNCLEAR_RETRIES,
        )
        .await;
        self.cache().forget(id);
        match result {
            Ok(()) => Ok(()),
            Err(RetryError::Failed {
                error: VantageError::NotFound { .. },
                ..
            }) => Ok(()),
            Err(RetryError::Cancelled)
            | Err(RetryError::Failed {
                error: VantageError::Cancelled { .. },
                ..
            }) => Err(cancelled()),
            Err(RetryError::Failed { error, .. }) => {
                Err(error.to_diagnostic("Removing the AWS integration from Vantage failed"))
            }
        }
    }

    /// Reads integration `raw_id` for `terraform import`.
    pub async fn import(&self, raw_id: &str) -> Result<Registration, Diagnostics> {
        let id = parse_id(raw_id).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Invalid import id",
                format!("{e}. Import an AWS integration by its id, e.g. `12`."),
            ))
        })?;
        match self.read(id, None).await? {
            Some(registration) => Ok(registration),
            None => Err(Diagnostic::error(
                "Cannot import a missing AWS integration",
                format!(
                    "Vantage has no AWS integration with id {id} (GET {V1_PATH}/{id} answered 404). Check the id \
                     and that the API token belongs to the right Vantage account."
                ),
            )
            .into()),
        }
    }

    fn already_registered(&self, role: &str, existing: Option<i32>, vantage_said: &str) -> Diagnostic {
        let said = if vantage_said.is_empty() {
            String::new()
        } else {
            format!(" Vantage answered: {vantage_said}.")
        };
        let detail = match existing {
            Some(id) => format!(
                "The role {role} is already registered with Vantage as AWS integration {id}.{said} Adopt it \
                 instead of registering it again: add\n\n{}\n\nto the configuration (with this resource's \
                 name) and run apply again, or remove integration {id} from Vantage.",
                import_block(self.type_name, id)
            ),
            None => format!(
                "The role {role} is already registered with Vantage.{said} Import that integration \
                 (`terraform import {}.<name> <id>`, the id is in the Vantage console) or remove it from Vantage.",
                self.type_name
            ),
        };
        Diagnostic::error("AWS role already registered with Vantage", detail)
    }

    /// The diagnostic for a write that failed for good.
    async fn write_failure(
        &self,
        doing: &str,
        role: &str,
        failure: Failure,
        attempts: u32,
        waited: Duration,
        timeout: Duration,
    ) -> Diagnostic {
        let summary = format!("{doing} the AWS integration with Vantage failed");
        match failure {
            Failure::NotYet(message) => Diagnostic::error(
                "Vantage could not assume the role in time",
                format!(
                    "Vantage kept answering \"{message}\" for {}s ({attempts} attempts, timeout {}s). IAM \
                     normally lets Vantage assume a new role within 10-30 seconds. If it lasts longer, check \
                     the trust policy of {role}: it must allow {} to call sts:AssumeRole with the condition \
                     sts:ExternalId = your Vantage external id (vantage_aws_cross_account_role writes exactly \
                     that). If IAM is just slow, raise `timeouts {{ {} = \"5m\" }}` and run apply again.",
                    waited.as_secs(),
                    timeout.as_secs(),
                    self.principal_text().await,
                    if doing == "Registering" { "create" } else { "update" },
                ),
            ),
            Failure::Conflict { message, existing } => self.already_registered(role, existing, &message),
            Failure::Unclear(e) => {
                let mut d = e.to_diagnostic(&summary);
                d.detail.push_str(&format!(
                    " No clear answer after {attempts} attempts. Run apply again; should it report the role \
                     as already registered, the earlier attempt went through: import the integration as that \
                     message says."
                ));
                d
            }
            Failure::Fatal(VantageError::Api {
                endpoint,
                status,
                message,
            }) => {
                let lower = message.to_ascii_lowercase();
                let hint = if lower.contains("cannot assume") {
                    format!(
                        " Vantage could not assume the role: fix its trust policy so that it allows {} to \
                         call sts:AssumeRole with sts:ExternalId = your Vantage external id (see \
                         data.vantage_aws_provider_info), then apply again.",
                        self.principal_text().await
                    )
                } else if lower.contains("cannot read") {
                    " The role must be allowed s3:GetObject on the bucket's objects (a vantage_aws_role_policy \
                     with preset = \"cur_retrieval\"), and the bucket must exist."
                        .to_string()
                } else {
                    String::new()
                };
                Diagnostic::error(
                    "Vantage refused the AWS integration",
                    format!("Vantage answered {status} to {endpoint}: {message}.{hint}"),
                )
            }
            Failure::Fatal(VantageError::Cancelled { .. }) => cancelled(),
            Failure::Fatal(e) => e.to_diagnostic(&summary),
        }
    }

    /// Vantage's principal for messages; the lookup is cached per process.
    async fn principal_text(&self) -> String {
        match self.ctx.provider().aws_provider_info(self.cancel()).await {
            Ok(info) => info.iam_role_arn.clone(),
            Err(_) => "Vantage's principal (`iam_role_arn` of data.vantage_aws_provider_info)".to_string(),
        }
    }

    /// The seed guide's caution: connecting a member account before the
    /// management account hides most of the organisation's costs.
    async fn member_account_caution(&self, role_account: &str) {
        let data = self.ctx.provider();
        let Some(org) = self.cache().organization(data).await else {
            return;
        };
        let management = org.management_account_id.as_str();
        if org.caller_account == management || role_account == management {
            return;
        }
        let management_connected = self.cache().remembered_account(management)
            || match self.cache().listing(self.vantage(), self.cancel()).await {
                Ok(listing) => listing
                    .integrations
                    .iter()
                    .any(|i| i.account_identifier.as_deref() == Some(management)),
                Err(_) => false,
            };
        if management_connected {
            return;
        }
        let whose = if role_account == org.caller_account {
            format!("Account {role_account}")
        } else {
            format!(
                "Account {role_account} (registered with the credentials of account {})",
                org.caller_account
            )
        };
        self.ctx.warn(Diagnostic::warning(
            "Connecting a member account before the management account",
            format!(
                "{whose} is a member of AWS Organization {} whose management account is {management}, and \
                 Vantage has no integration for {management} yet. With only member accounts connected:\n\
                 - you see only costs and costs by resource for the linked account, not for your whole \
                 organization;\n\
                 - you cannot see costs of the other member accounts of the organization;\n\
                 - you may not see the full coverage of cost allocation tags;\n\
                 - Reserved Instances bought in the linked account are realized there first instead of across \
                 the organization.\n\
                 Connect the management account {management} first (Vantage then profiles every member \
                 account), then add member accounts. This is a warning: the integration was registered.",
                org.organization_id
            ),
        ));
    }

    /// Warns when Vantage reports that it lost access.
    async fn warn_about_status(&self, registration: &Registration) {
        let id = registration.id;
        let role = &registration.role_arn;
        match registration.status.as_deref() {
            Some("error") => {
                let reason = match self.diagnose_role(role).await {
                    Some(reason) => format!("The likely reason: {reason}."),
                    None => format!(
                        "Check that {role} still exists and that its trust policy allows {} to call \
                         sts:AssumeRole with sts:ExternalId = your Vantage external id.",
                        self.principal_text().await
                    ),
                };
                self.ctx.warn(Diagnostic::warning(
                    "Vantage cannot access this AWS account",
                    format!(
                        "Vantage reports status `error` for AWS integration {id}: it could not assume {role} on \
                         its last check, so it imports no costs. {reason} Fix the role (applying \
                         vantage_aws_cross_account_role repairs its trust policy); Vantage checks again by \
                         itself and the status returns to `connected`."
                    ),
                ));
            }
            Some("disconnected") => self.ctx.warn(Diagnostic::warning(
                "The AWS integration is disconnected in Vantage",
                format!(
                    "Vantage reports status `disconnected` for AWS integration {id} ({role}): it was \
                     disconnected in Vantage and imports no costs. Reconnect it in the Vantage console, or \
                     remove this resource and register the role again."
                ),
            )),
            _ => {}
        }
    }

    /// Why Vantage might not assume `role_arn`, from IAM, when the provider's
    /// credentials are in the role's account. `None` when it cannot tell.
    async fn diagnose_role(&self, role_arn: &str) -> Option<String> {
        let role = parse_role_arn(role_arn).ok()?;
        let data = self.ctx.provider();
        let caller = tokio::time::timeout(ORGANIZATION_LOOKUP_TIMEOUT, data.aws.caller())
            .await
            .ok()?
            .ok()?;
        if caller.account_id != role.account_id {
            return None;
        }
        let iam = data.aws.iam().await;
        let found = match iam.get_role().role_name(&role.name).send().await {
            Ok(out) => out.role?.clone(),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {
                return Some(format!("the role {role_arn} does not exist any more"));
            }
            Err(e) => {
                tracing::debug!(error = %describe(&e), "GetRole failed while diagnosing");
                return None;
            }
        };
        if found.arn() != role_arn {
            return Some(format!(
                "IAM has no role at exactly {role_arn}: the role named {} is {}",
                role.name,
                found.arn()
            ));
        }
        let trust = crate::policy::decode_iam(found.assume_role_policy_document().unwrap_or_default());
        let info = data.aws_provider_info(self.cancel()).await.ok()?;
        let doc: serde_json::Value = serde_json::from_str(&trust).ok()?;
        let mut strings = Vec::new();
        collect_strings(&doc, &mut strings);
        let principal_account = parse_role_arn(&info.iam_role_arn)
            .map(|r| r.account_id)
            .unwrap_or_else(|_| VANTAGE_ACCOUNT.to_string());
        let trusted = strings.iter().any(|s| {
            *s == info.iam_role_arn || *s == principal_account || *s == format!("arn:aws:iam::{principal_account}:root")
        });
        if !trusted {
            return Some(format!(
                "the trust policy of {role_arn} does not name Vantage's principal {}",
                info.iam_role_arn
            ));
        }
        if !strings.iter().any(|s| *s == info.external_id) {
            return Some(format!(
                "the trust policy of {role_arn} does not require your Vantage external id (sts:ExternalId)"
            ));
        }
        None
    }
}

fn collect_strings<'v>(v: &'v serde_json::Value, out: &mut Vec<&'v str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        serde_json::Value::Object(m) => m.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// vantage_aws_integration

pub struct AwsIntegration;

pub const TYPE_NAME: &str = "vantage_aws_integration";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IntegrationModel {
    pub id: Option<String>,
    pub cross_account_role_arn: Option<String>,
    pub bucket_arn: Option<String>,
    pub account_id: Option<String>,
    pub token: Option<String>,
    pub status: Option<String>,
    pub timeouts: Option<Timeouts>,
}

impl RegistrationModel for IntegrationModel {
    fn v1_id(&self) -> Result<i32, Diagnostic> {
        parse_id(self.id.as_deref().unwrap_or_default()).map_err(|e| Diagnostic::error("Invalid state", e))
    }

    fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn timeouts(&self) -> Timeouts {
        self.timeouts.clone().unwrap_or_default()
    }

    fn role(&self) -> Result<&str, Diagnostic> {
        self.cross_account_role_arn
            .as_deref()
            .ok_or_else(|| Diagnostic::error("Provider internal error", "cross_account_role_arn is missing."))
    }

    fn bucket_arn(&self) -> Option<&str> {
        self.bucket_arn.as_deref()
    }

    fn from_registration(r: Registration, prior: &IntegrationModel) -> IntegrationModel {
        IntegrationModel {
            id: Some(r.id.to_string()),
            account_id: r.account_id(),
            bucket_arn: bucket_for_state(r.bucket_arn, prior.bucket_arn.as_deref()),
            token: r.token.or_else(|| prior.token.clone()),
            status: r.status.or_else(|| prior.status.clone()),
            cross_account_role_arn: Some(r.role_arn),
            timeouts: prior.timeouts.clone(),
        }
    }
}

/// The same registration in both resource types' terms (role, bucket).
pub fn same_registration(a: (Option<&str>, Option<&str>), b: (Option<&str>, Option<&str>)) -> bool {
    a.0 == b.0 && wanted_bucket(a.1) == wanted_bucket(b.1)
}

#[tfplugin::async_trait]
impl Resource<ProviderData> for AwsIntegration {
    type Model = IntegrationModel;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "Registers the cross-account role (and the bucket the Cost and Usage Report lands in) with Vantage, \
             and keeps Vantage's view reconciled on every plan: an integration deleted or changed in Vantage \
             shows as a change, and `status` says whether Vantage can read the account. A brand-new role is \
             retried until IAM lets Vantage assume it (up to `timeouts.create`). Connecting a member account \
             before the organisation's management account is warned about.",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("Vantage's id of the integration (the v1 access credential id). Import with it."),
        )
        .attribute(
            Attribute::string("cross_account_role_arn")
                .required()
                .validator(custom("an IAM role ARN", role_arn_check))
                .description(
                    "ARN of the role Vantage assumes, e.g. `vantage_aws_cross_account_role.this.arn`. Changing \
                     it moves the same integration to the new role.",
                ),
        )
        .attribute(
            Attribute::string("bucket_arn")
                .optional()
                .validator(custom(
                    "an S3 bucket ARN such as `arn:aws:s3:::my-cur-bucket`",
                    bucket_arn_check,
                ))
                .description(
                    "ARN of the bucket the Cost and Usage Report is delivered to; the role must be able to read \
                     it. Leave it out for accounts without a CUR (member accounts); removing it clears the \
                     bucket in Vantage.",
                ),
        )
        .attribute(
            Attribute::string("account_id")
                .computed()
                .description("The AWS account id of the role."),
        )
        .attribute(
            Attribute::string("token")
                .computed()
                .use_state_for_unknown()
                .description("The integration's token in Vantage's v2 API (`accss_crdntl_...`)."),
        )
        .attribute(
            Attribute::string("status")
                .computed()
                .description(&format!("Vantage's status of the integration: {STATUS_VALUES}.")),
        )
        .block(timeouts::block(&["create", "update", "delete"]))
    }

    async fn modify_plan(&self, _ctx: &Ctx<ProviderData>, plan: &mut Plan) -> Result<(), Diagnostics> {
        let role = plan.config_value().attr("cross_account_role_arn").clone();
        match role.as_str() {
            Some(arn) => plan.set("account_id", parse_role_arn(arn).ok().map(|r| r.account_id)),
            None if role.is_unknown() => plan.set_unknown("account_id"),
            None => {}
        }
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: IntegrationModel,
    ) -> Result<IntegrationModel, ApplyError<IntegrationModel>> {
        Registrations::new(ctx, TYPE_NAME).create_state(planned).await
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: IntegrationModel,
    ) -> Result<Option<IntegrationModel>, Diagnostics> {
        Registrations::new(ctx, TYPE_NAME).read_state(current).await
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: IntegrationModel,
        planned: IntegrationModel,
    ) -> Result<IntegrationModel, ApplyError<IntegrationModel>> {
        let id = prior.v1_id()?;
        let role = planned.role()?;
        if same_registration(
            (prior.cross_account_role_arn.as_deref(), prior.bucket_arn.as_deref()),
            (Some(role), planned.bucket_arn.as_deref()),
        ) {
            // Only `timeouts` (or "" vs no bucket) changed: nothing to tell Vantage.
            return Ok(IntegrationModel {
                id: prior.id,
                account_id: prior.account_id,
                token: prior.token,
                status: prior.status,
                ..planned
            });
        }
        let timeout = planned.timeouts().update_or(DEFAULT_TIMEOUT);
        let r = Registrations::new(ctx, TYPE_NAME)
            .update(id, role, planned.bucket_arn.as_deref(), timeout)
            .await?;
        let mut state = IntegrationModel::from_registration(r, &planned);
        state.token = state.token.or(prior.token);
        Ok(state)
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: IntegrationModel) -> Result<(), Diagnostics> {
        Registrations::new(ctx, TYPE_NAME).delete_state(prior).await
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<IntegrationModel, Diagnostics> {
        let r = Registrations::new(ctx, TYPE_NAME).import(id).await?;
        Ok(IntegrationModel::from_registration(r, &IntegrationModel::default()))
    }

    /// `moved { from = vantage_aws_provider.x  to = vantage_aws_integration.x }`,
    /// from this provider's drop-in type or from Vantage's official provider.
    async fn move_state(&self, from: &MoveSource) -> Option<Result<serde_json::Value, Diagnostics>> {
        if from.type_name != super::aws_provider::TYPE_NAME {
            return None;
        }
        let state = &from.state;
        let id = match &state["id"] {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.clone(),
            _ => {
                return Some(Err(Diagnostic::error(
                    "Cannot move this state",
                    "The vantage_aws_provider state has no id; it was never registered. Remove it instead.",
                )
                .into()));
            }
        };
        let role = state["cross_account_arn"].as_str().unwrap_or_default().to_string();
        let model = IntegrationModel {
            id: Some(id),
            account_id: parse_role_arn(&role).ok().map(|r| r.account_id),
            cross_account_role_arn: Some(role),
            bucket_arn: state["bucket_arn"].as_str().map(str::to_string),
            token: None,
            status: None,
            timeouts: serde_json::from_value(state["timeouts"].clone()).ok(),
        };
        Some(serde_json::to_value(model).map_err(|e| {
            Diagnostic::error(
                "Provider internal error",
                format!("Could not build the moved state: {e}."),
            )
            .into()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_documented_mapping() {
        assert_eq!(token_for_id(1), "accss_crdntl_9c168a8c2782a12c");
        assert_eq!(token_for_id(2), "accss_crdntl_76bcf7b94fcf6866");
    }

    #[test]
    fn duplicate_answers_name_the_existing_id() {
        assert_eq!(
            existing_id("an AWS integration for arn:aws:iam::123456789012:role/x already exists with id 42"),
            Some(42)
        );
        assert_eq!(existing_id("already exists"), None);
    }

    #[test]
    fn only_propagation_answers_are_retried() {
        let api = |status: u16, message: &str| VantageError::Api {
            endpoint: "POST x".into(),
            status,
            message: message.into(),
        };
        let not_yet = api(
            400,
            "Vantage cannot assume arn:aws:iam::1:role/x: the role is not assumable yet (IAM propagation); retry",
        );
        assert!(matches!(classify(not_yet), Failure::NotYet(_)));
        let wrong_trust = api(400, "Vantage cannot assume x: the trust policy of x does not allow y");
        assert!(matches!(classify(wrong_trust), Failure::Fatal(_)));
        assert!(matches!(
            classify(api(409, "already exists with id 3")),
            Failure::Conflict { existing: Some(3), .. }
        ));
        assert!(matches!(classify(api(500, "boom")), Failure::Unclear(_)));
        assert!(matches!(
            classify(VantageError::Timeout {
                endpoint: "x".into(),
                timeout: Duration::from_secs(1)
            }),
            Failure::Unclear(_)
        ));
        assert!(matches!(
            classify(VantageError::RateLimited {
                endpoint: "x".into(),
                wait_secs: 3000
            }),
            Failure::Fatal(_)
        ));
    }

    #[test]
    fn bucket_arns_are_checked() {
        assert!(bucket_arn_check(&Value::from("arn:aws:s3:::my-cur-bucket")).is_ok());
        assert!(bucket_arn_check(&Value::from("")).is_ok(), "empty means no bucket");
        assert!(bucket_arn_check(&Value::from("my-cur-bucket")).is_err());
        assert!(bucket_arn_check(&Value::from("arn:aws:s3:::my-cur-bucket/prefix")).is_err());
        assert!(bucket_arn_check(&Value::from("arn:aws:s3:us-east-1:123456789012:b")).is_err());
        assert!(bucket_arn_check(&Value::from("arn:aws:s3:::Bad_Name")).is_err());
    }

    #[test]
    fn an_empty_bucket_stays_empty_while_vantage_has_none() {
        assert_eq!(bucket_for_state(None, Some("")), Some(String::new()));
        assert_eq!(bucket_for_state(None, None), None);
        assert_eq!(bucket_for_state(Some(String::new()), None), None);
        assert_eq!(
            bucket_for_state(Some("arn:aws:s3:::b".into()), Some("")),
            Some("arn:aws:s3:::b".into())
        );
        assert!(same_registration((Some("r"), Some("")), (Some("r"), None)));
        assert!(!same_registration(
            (Some("r"), Some("arn:aws:s3:::b")),
            (Some("r"), None)
        ));
    }

    #[test]
    fn update_bodies_clear_a_missing_bucket_and_creates_leave_it_out() {
        assert_eq!(
            registration_body("arn:r", None, true).to_string(),
            r#"{"cross_account_arn":"arn:r","bucket_arn":null}"#
        );
        assert_eq!(
            registration_body("arn:r", None, false).to_string(),
            r#"{"cross_account_arn":"arn:r"}"#
        );
    }

    #[test]
    fn ids_are_positive_numbers() {
        assert_eq!(parse_id("12"), Ok(12));
        assert!(parse_id("0").is_err());
        assert!(parse_id("accss_crdntl_1").is_err());
    }
}
