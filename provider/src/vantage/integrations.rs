//! Vantage's AWS integrations: register a role (and CUR bucket), find,
//! change and remove the registration, and read its status.
//!
//! A refresh reads v1 once per integration and takes the status from one v2
//! listing per provider process, shared by every integration
//! ([`IntegrationCache`]): about one Vantage call per integration.
//!
//! Retries: the client repeats 5xx answers, timeouts, dropped connections and
//! 429s (the registration's POST as [`Repeat::RefusedTwice`], since Vantage
//! answers a second registration of a role with 409). This module repeats
//! only the answer that means "not yet": a write Vantage cannot verify
//! because IAM has not propagated the role, until the caller's timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tfplugin::{CancellationToken, Diagnostic};
use tokio::sync::OnceCell;

use super::client::{Repeat, VantageClient, VantageError};
use crate::arn::{RoleArn, parse_role_arn};
use crate::retry::{RetryError, retry_while};

const V1_PATH: &str = "/v1/integrations/aws";
/// The largest v2 page Vantage serves.
const LIST_LIMIT: usize = 1000;
/// Pages of the shared v2 listing before falling back to one call per integration.
const MAX_LIST_PAGES: u32 = 10;
/// How long a registration whose answer was lost may take to find the integration it made.
const RESOLVE_BOUND: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Wire types

/// v1 `AwsAccessCredential`, as Vantage answers it and as a write sends it:
/// the one place the role ARN goes by Vantage's name for it.
#[derive(Debug, Serialize, Deserialize)]
struct Credential {
    #[serde(default, skip_serializing)]
    id: Option<i64>,
    #[serde(rename = "cross_account_arn")]
    role_arn: String,
    /// Sent: left out (`None`) by a create without a bucket; `Some(None)`,
    /// `null`, clears the bucket in an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bucket_arn: Option<Option<String>>,
}

/// v2 `Integration`, the fields the provider uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Integration {
    pub token: String,
    #[serde(default)]
    pub account_identifier: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct V2Page {
    #[serde(default)]
    links: V2Links,
    #[serde(default)]
    integrations: Vec<Integration>,
}

#[derive(Debug, Default, Deserialize)]
struct V2Links {
    #[serde(default)]
    next: Option<String>,
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

/// The v1 id behind a v2 token, by the inverse of [`token_for_id`]. Only a candidate: a
/// v1 read must confirm it (Vantage's own tokens need not follow the devstack's mapping).
pub fn id_for_token(token: &str) -> Option<i32> {
    const SALT: u64 = 0x5641_4e54_4147_4521;
    // The inverse of token_for_id's multiplier modulo 2^64.
    const MULTIPLIER_INVERSE: u64 = 0xf1de_83e1_9937_733d;
    let hex = token.strip_prefix("accss_crdntl_")?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut x = u64::from_str_radix(hex, 16).ok()?;
    // x ^= x >> 32 is its own inverse: the top half is unchanged.
    x ^= x >> 32;
    x = x.wrapping_mul(MULTIPLIER_INVERSE) ^ SALT;
    i32::try_from(x).ok().filter(|id| *id > 0)
}

/// The id a duplicate answer may name ("... already exists with id 12"): a hint that a v1
/// read must confirm, never needed (see [`Integrations::find_by_role`]).
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

/// Whether a 400 or 422 means "the role exists but IAM has not propagated it yet".
fn is_propagation(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("not assumable yet") || m.contains("iam propagation")
}

/// Whether a 400 or 422 says the role is registered already, in the devstack's words or
/// Rails' ("has already been taken").
fn says_duplicate(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "already exists",
        "already been taken",
        "already registered",
        "duplicate",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// The account Vantage files a role's integration under (`account_identifier`).
pub fn account_of(role_arn: &str) -> Option<String> {
    parse_role_arn(role_arn).ok().map(|r| r.account_id)
}

// ---------------------------------------------------------------------------------------------
// Registrations and their errors

/// An integration as Vantage holds it: v1 record plus v2 token and status
/// (`None` when they could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub id: i32,
    pub role_arn: String,
    /// `role_arn`'s parts, parsed once (`None` if Vantage holds no role ARN).
    pub role: Option<RoleArn>,
    pub bucket_arn: Option<String>,
    pub token: Option<String>,
    pub status: Option<String>,
}

impl Registration {
    fn from_wire(c: Credential, endpoint: impl FnOnce() -> String) -> Result<Registration, RegistrationError> {
        let raw = c.id.unwrap_or_default();
        let id = i32::try_from(raw)
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| RegistrationError::BadId {
                endpoint: endpoint(),
                id: raw,
            })?;
        Ok(Registration {
            id,
            role: parse_role_arn(&c.role_arn).ok(),
            role_arn: c.role_arn,
            bucket_arn: c.bucket_arn.flatten().filter(|b| !b.is_empty()),
            token: None,
            status: None,
        })
    }

    pub fn account_id(&self) -> Option<&str> {
        self.role.as_ref().map(|r| r.account_id.as_str())
    }

    fn with_status(mut self, v2: Option<Integration>) -> Registration {
        if let Some(v2) = v2 {
            self.token = Some(v2.token);
            self.status = v2.status;
        }
        self
    }
}

/// A registration that went through.
#[derive(Debug)]
pub struct Registered {
    pub registration: Registration,
    /// An attempt whose answer was lost had registered the role; this is
    /// that integration, taken over.
    pub adopted: bool,
}

/// A registration found by [`Integrations::find_registration`].
#[derive(Debug)]
pub struct Found {
    pub registration: Registration,
    /// Why the status could not be read (the v2 listing failed).
    pub status_unread: Option<String>,
}

/// The operation an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Register,
    Read,
    Update,
    Deregister,
}

impl Operation {
    fn failure_summary(self) -> &'static str {
        match self {
            Operation::Register => "Registering the AWS integration with Vantage failed",
            Operation::Read => "Could not read the AWS integration from Vantage",
            Operation::Update => "Updating the AWS integration with Vantage failed",
            Operation::Deregister => "Removing the AWS integration from Vantage failed",
        }
    }

    /// The `timeouts` attribute that bounds this operation.
    fn timeouts_attribute(self) -> &'static str {
        match self {
            Operation::Register => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Deregister => "delete",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("Vantage kept answering {message:?} until the timeout")]
    NotAssumableYet {
        op: Operation,
        role_arn: String,
        message: String,
        attempts: u32,
        waited: Duration,
        timeout: Duration,
    },
    #[error("{role_arn} is already registered with Vantage")]
    AlreadyRegistered {
        role_arn: String,
        /// The integration holding the role, confirmed by a v1 read.
        existing: Option<i32>,
        message: String,
        /// v2 tokens Vantage lists for the role's account when none could be confirmed.
        listed: Vec<String>,
    },
    #[error("the `timeouts` bound ({timeout:?}) passed")]
    RanOut { op: Operation, timeout: Duration },
    #[error("no clear answer after {attempts} attempts: {source}")]
    Unclear {
        op: Operation,
        source: VantageError,
        attempts: u32,
    },
    #[error("Vantage answered {status} to {endpoint}: {message}")]
    Refused {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("Vantage has no AWS integration {id}")]
    NotFound { id: i32 },
    #[error("AWS integration {id} was deleted during this run")]
    Gone { id: i32 },
    #[error("{endpoint} returned the integration id {id}")]
    BadId { endpoint: String, id: i64 },
    #[error("{source}")]
    Vantage { op: Operation, source: VantageError },
    /// Vantage holds `registration`, but taking it over failed.
    #[error("{source}")]
    Incomplete {
        registration: Box<Registration>,
        source: Box<RegistrationError>,
    },
    #[error("cancelled")]
    Cancelled,
}

impl RegistrationError {
    fn from_vantage(op: Operation, e: VantageError) -> RegistrationError {
        match e {
            VantageError::Cancelled { .. } => RegistrationError::Cancelled,
            e => RegistrationError::Vantage { op, source: e },
        }
    }

    /// Whether the diagnostic names Vantage's principal (callers look it up first).
    pub fn mentions_principal(&self) -> bool {
        match self {
            RegistrationError::NotAssumableYet { .. } => true,
            RegistrationError::Refused { message, .. } => message.to_ascii_lowercase().contains("cannot assume"),
            RegistrationError::Incomplete { source, .. } => source.mentions_principal(),
            _ => false,
        }
    }

    /// The diagnostic, for a resource of `type_name`; `principal` names
    /// Vantage's principal where [`Self::mentions_principal`].
    pub fn to_diagnostic(&self, type_name: &str, principal: &str) -> Diagnostic {
        match self {
            RegistrationError::NotAssumableYet {
                op,
                role_arn,
                message,
                attempts,
                waited,
                timeout,
            } => Diagnostic::error(
                "Vantage could not assume the role in time",
                format!(
                    "Vantage kept answering \"{message}\" for {}s ({attempts} attempts, timeout {}s). IAM \
                     normally lets Vantage assume a new role within 10-30 seconds. If it lasts longer, check \
                     the trust policy of {role_arn}: it must allow {principal} to call sts:AssumeRole with the \
                     condition sts:ExternalId = your Vantage external id (vantage_aws_cross_account_role writes \
                     exactly that). If IAM is just slow, raise `timeouts {{ {} = \"5m\" }}` and run apply again.",
                    waited.as_secs(),
                    timeout.as_secs(),
                    if *op == Operation::Register { "create" } else { "update" },
                ),
            ),
            RegistrationError::AlreadyRegistered {
                role_arn,
                existing,
                message,
                listed,
            } => {
                let said = if message.is_empty() {
                    String::new()
                } else {
                    format!(" Vantage answered: {message}.")
                };
                let detail = match existing {
                    Some(id) => format!(
                        "The role {role_arn} is already registered with Vantage as AWS integration {id}.{said} \
                         Adopt it instead of registering it again: add\n\n  import {{\n    to = \
                         {type_name}.<name>\n    id = \"{id}\"\n  }}\n\nto the configuration (with this \
                         resource's name) and run apply again, or remove integration {id} from Vantage."
                    ),
                    None => {
                        let listed = if listed.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " Vantage lists these integrations for the role's account: {}.",
                                listed.join(", ")
                            )
                        };
                        format!(
                            "The role {role_arn} is already registered with Vantage.{said}{listed} Import that \
                             integration (`terraform import {type_name}.<name> <id>`, the id is in the Vantage \
                             console) or remove it from Vantage."
                        )
                    }
                };
                Diagnostic::error("AWS role already registered with Vantage", detail)
            }
            RegistrationError::Unclear { op, source, attempts } => {
                let mut d = source.to_diagnostic(op.failure_summary());
                d.detail.push_str(&format!(
                    " No clear answer after {attempts} attempts. Run apply again; should it report the role \
                     as already registered, the earlier attempt went through: import the integration as that \
                     message says."
                ));
                d
            }
            RegistrationError::Refused {
                endpoint,
                status,
                message,
            } => {
                let lower = message.to_ascii_lowercase();
                let hint = if lower.contains("cannot assume") {
                    format!(
                        " Vantage could not assume the role: fix its trust policy so that it allows {principal} \
                         to call sts:AssumeRole with sts:ExternalId = your Vantage external id (see \
                         data.vantage_aws_provider_info), then apply again."
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
            RegistrationError::NotFound { id } => Diagnostic::error(
                "Cannot import a missing AWS integration",
                format!(
                    "Vantage has no AWS integration with id {id} (GET {V1_PATH}/{id} answered 404). Check the id \
                     and that the API token belongs to the right Vantage account."
                ),
            ),
            RegistrationError::Gone { id } => Diagnostic::error(
                "The AWS integration no longer exists",
                format!(
                    "Vantage has no AWS integration {id} any more: it was deleted outside Terraform during this \
                     run. Run apply again: the refresh notices and registers the role anew."
                ),
            ),
            RegistrationError::BadId { endpoint, id } => Diagnostic::error(
                "Unexpected answer from Vantage",
                format!("{endpoint} returned the integration id {id}, not a positive int32."),
            ),
            RegistrationError::Vantage { op, source } => source.to_diagnostic(op.failure_summary()),
            RegistrationError::Incomplete { source, .. } => source.to_diagnostic(type_name, principal),
            RegistrationError::Cancelled => Diagnostic::error("Cancelled", "Terraform asked the provider to stop."),
            RegistrationError::RanOut { op, timeout } => {
                let attribute = op.timeouts_attribute();
                Diagnostic::error(
                    "Timed out",
                    format!(
                        "`timeouts.{attribute}` ({}) ran out while waiting for Vantage. Run apply again to \
                         continue from here, or raise `timeouts.{attribute}`.",
                        crate::retry::go_duration(*timeout)
                    ),
                )
            }
        }
    }
}

/// How a write's error is handled.
#[derive(Debug)]
enum Failure {
    /// Vantage cannot assume the role yet (IAM propagation): retry until the timeout.
    NotYet(String),
    /// The role is registered already (409), maybe as `existing`.
    Conflict { message: String, existing: Option<i32> },
    /// Anything else: the client retried what could be retried.
    Final(VantageError),
    /// The operation's `timeouts` bound passed, maybe with a request in flight.
    RanOut(Duration),
}

/// By status first: a 409 is a duplicate whatever it says; only a validation answer (400,
/// 422) can mean "not yet" or "registered already", which its wording tells apart; any other
/// answer, and a 400 in unfamiliar words, is final and shown as Vantage wrote it.
fn classify(e: VantageError) -> Failure {
    match e {
        VantageError::Api {
            status: 409, message, ..
        } => Failure::Conflict {
            existing: existing_id(&message),
            message,
        },
        VantageError::Api {
            status: 400 | 422,
            message,
            ..
        } if is_propagation(&message) => Failure::NotYet(message),
        VantageError::Api {
            status: 400 | 422,
            message,
            ..
        } if says_duplicate(&message) => Failure::Conflict {
            existing: existing_id(&message),
            message,
        },
        e => Failure::Final(e),
    }
}

/// How a failed POST that may have registered the role is resolved, so that the state holds
/// a registration made without an answer the provider could use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    /// Every request had a clear refusal, or none reached Vantage: nothing to find, nothing sent.
    Nothing,
    /// A 2xx that did not decode, or a request cut in flight (Terraform's stop, the `timeouts`
    /// bound): the POST once more, which registers the role if the cut one never arrived.
    Repeat,
    /// The client's attempts ended in server errors or without an answer after one may have
    /// arrived: the registration is looked up, and nothing more is written.
    LookUp,
}

fn resolution(e: &RetryError<Failure>, unclear: bool) -> Resolution {
    let when_unclear = |r| if unclear { r } else { Resolution::Nothing };
    match e {
        RetryError::Cancelled
        | RetryError::Failed {
            error: Failure::Final(VantageError::Cancelled { .. }) | Failure::RanOut(_),
            ..
        } => when_unclear(Resolution::Repeat),
        RetryError::Failed {
            error:
                Failure::Final(
                    VantageError::Timeout { .. }
                    | VantageError::Unreachable { .. }
                    | VantageError::Api { status: 500.., .. },
                ),
            ..
        } => when_unclear(Resolution::LookUp),
        RetryError::Failed {
            error: Failure::Final(VantageError::Decode { .. }),
            ..
        } => Resolution::Repeat,
        _ => Resolution::Nothing,
    }
}

/// The error for a write that failed for good; `id` is the integration a `PUT` targets.
fn write_error(op: Operation, id: Option<i32>, e: VantageError, attempts: u32) -> RegistrationError {
    match e {
        VantageError::Timeout { .. } | VantageError::Unreachable { .. } => RegistrationError::Unclear {
            op,
            source: e,
            attempts,
        },
        VantageError::Api { status, .. } if status >= 500 => RegistrationError::Unclear {
            op,
            source: e,
            attempts,
        },
        VantageError::Api {
            endpoint,
            status,
            message,
        } => RegistrationError::Refused {
            endpoint,
            status,
            message,
        },
        e @ VantageError::NotFound { .. } => match id {
            Some(id) => RegistrationError::Gone { id },
            None => RegistrationError::from_vantage(op, e),
        },
        e => RegistrationError::from_vantage(op, e),
    }
}

/// The error for a role registered already, with what [`Integrations::find_by_role`] found.
fn already_registered(role_arn: &str, message: String, lookup: Result<Registration, Vec<String>>) -> RegistrationError {
    let (existing, listed) = match lookup {
        Ok(found) => (Some(found.id), Vec::new()),
        Err(listed) => (None, listed),
    };
    RegistrationError::AlreadyRegistered {
        role_arn: role_arn.to_string(),
        existing,
        message,
        listed,
    }
}

/// The error for a write whose retries ended.
fn failed(
    op: Operation,
    role_arn: &str,
    id: Option<i32>,
    e: RetryError<Failure>,
    attempts: u32,
    timeout: Duration,
) -> RegistrationError {
    match e {
        RetryError::Cancelled => RegistrationError::Cancelled,
        RetryError::Failed {
            error: Failure::NotYet(message),
            waited,
            ..
        } => RegistrationError::NotAssumableYet {
            op,
            role_arn: role_arn.to_string(),
            message,
            attempts,
            waited,
            timeout,
        },
        // Callers that can look the registration up do so first (`Integrations::register`).
        RetryError::Failed {
            error: Failure::Conflict { message, .. },
            ..
        } => RegistrationError::AlreadyRegistered {
            role_arn: role_arn.to_string(),
            existing: None,
            message,
            listed: Vec::new(),
        },
        RetryError::Failed {
            error: Failure::Final(e),
            ..
        } => write_error(op, id, e, attempts),
        RetryError::Failed {
            error: Failure::RanOut(timeout),
            ..
        } => RegistrationError::RanOut { op, timeout },
    }
}

// ---------------------------------------------------------------------------------------------
// Per-process cache

/// Shared by every integration of one provider process: the v2 listing (so a
/// refresh of N integrations costs N v1 reads plus one listing, not 2N calls),
/// statuses this process wrote itself, and the caller's organisation.
#[derive(Debug, Default)]
pub struct IntegrationCache {
    listing: OnceCell<Result<Arc<[Integration]>, String>>,
    written: Mutex<HashMap<i32, Integration>>,
    organization: OnceCell<Option<CallerOrganization>>,
}

/// The caller's AWS account in its organisation, for the check that the
/// management account is connected before member accounts. The caller looks
/// it up (this module does not talk to AWS); the cache keeps it.
#[derive(Debug, Clone)]
pub struct CallerOrganization {
    pub caller_account: String,
    pub organization_id: String,
    pub management_account_id: String,
}

impl IntegrationCache {
    fn remember(&self, id: i32, integration: Integration) {
        if let Ok(mut written) = self.written.lock() {
            written.insert(id, integration);
        }
    }

    fn forget(&self, id: i32) {
        if let Ok(mut written) = self.written.lock() {
            written.remove(&id);
        }
    }

    fn remembered(&self, id: i32) -> Option<Integration> {
        self.written.lock().ok().and_then(|w| w.get(&id).cloned())
    }

    fn remembered_account(&self, account: &str) -> bool {
        self.written
            .lock()
            .is_ok_and(|w| w.values().any(|i| i.account_identifier.as_deref() == Some(account)))
    }

    /// The caller's organisation, looked up by `lookup` once per process
    /// (`None`: standalone, or it could not be told).
    pub async fn caller_organization<F>(&self, lookup: impl FnOnce() -> F) -> Option<&CallerOrganization>
    where
        F: Future<Output = Option<CallerOrganization>>,
    {
        self.organization.get_or_init(lookup).await.as_ref()
    }
}

// ---------------------------------------------------------------------------------------------
// The calls

/// The AWS integrations of one Vantage account, for one operation.
pub struct Integrations<'a> {
    vantage: &'a VantageClient,
    cache: &'a IntegrationCache,
    cancel: &'a CancellationToken,
}

impl<'a> Integrations<'a> {
    pub fn new(vantage: &'a VantageClient, cache: &'a IntegrationCache, cancel: &'a CancellationToken) -> Self {
        Integrations { vantage, cache, cancel }
    }

    fn endpoint(&self, method: &Method, path: &str) -> String {
        format!("{method} {}{path}", self.vantage.host())
    }

    /// Registers the role (and bucket; an empty one is none), sent again
    /// while Vantage cannot assume the role yet, up to `timeout` for the whole call
    /// (adopting an earlier attempt's integration included).
    pub async fn register(
        &self,
        role_arn: &str,
        bucket_arn: Option<&str>,
        timeout: Duration,
    ) -> Result<Registered, RegistrationError> {
        let bucket_arn = wanted_bucket(bucket_arn);
        let body = Credential {
            id: None,
            role_arn: role_arn.to_string(),
            bucket_arn: bucket_arn.map(|b| Some(b.to_string())),
        };
        let started = tokio::time::Instant::now();
        let written = self.write(Method::POST, V1_PATH, &body, timeout).await;
        let created = match written.result {
            Ok(created) => created,
            Err(RetryError::Failed {
                error: Failure::Conflict { existing, message },
                ..
            }) => {
                let found = match self.find_by_role(role_arn, existing).await {
                    Ok(found) if written.unclear => found,
                    lookup => return Err(already_registered(role_arn, message, lookup)),
                };
                // An earlier attempt got no clear answer, yet the role is now registered:
                // that attempt did it. Take the integration over rather than fail.
                let left = timeout.saturating_sub(started.elapsed());
                let registration = self.adopt(found, bucket_arn, left).await?;
                return Ok(Registered {
                    registration,
                    adopted: true,
                });
            }
            Err(e) => {
                let resolve = resolution(&e, written.unclear);
                let error = failed(Operation::Register, role_arn, None, e, written.attempts, timeout);
                let found = match resolve {
                    Resolution::Nothing => None,
                    Resolution::Repeat => self.registration_of(role_arn, &body).await,
                    Resolution::LookUp => self.registered_role(role_arn).await,
                };
                if let Some(registration) = found {
                    return Err(RegistrationError::Incomplete {
                        registration: Box::new(registration),
                        source: Box::new(error),
                    });
                }
                return Err(error);
            }
        };
        let registration = Registration::from_wire(created, || self.endpoint(&Method::POST, V1_PATH))?;
        let status = self.status_now(&registration).await;
        Ok(Registered {
            registration: registration.with_status(status),
            adopted: false,
        })
    }

    /// The integration Vantage holds for `role_arn`, looked up (outside Terraform's cancellation,
    /// bounded to [`RESOLVE_BOUND`]) after POSTs whose answers were all unclear.
    async fn registered_role(&self, role_arn: &str) -> Option<Registration> {
        let uncancelled = CancellationToken::new();
        let own = Integrations::new(self.vantage, self.cache, &uncancelled);
        let found = tokio::time::timeout(RESOLVE_BOUND, own.find_by_role(role_arn, None))
            .await
            .ok()?
            .ok()?;
        tracing::info!(
            id = found.id,
            "the registration's answers were unclear: found the integration it made"
        );
        Some(found)
    }

    /// The integration of `role_arn` after a registration that may have been made without an
    /// answer the provider could use: one more POST of `body`, outside Terraform's cancellation
    /// and bounded to [`RESOLVE_BOUND`], which registers it if the first request never arrived,
    /// or is refused as a duplicate (Vantage never registers a role twice): then the
    /// integration is looked up by its role ([`Self::find_by_role`]). Either way the state can
    /// then hold it instead of leaving it orphaned.
    async fn registration_of(&self, role_arn: &str, body: &Credential) -> Option<Registration> {
        let uncancelled = CancellationToken::new();
        let own = Integrations::new(self.vantage, self.cache, &uncancelled);
        let resolved = async {
            let (answer, _) = own
                .vantage
                .write::<_, Credential>(&uncancelled, Method::POST, V1_PATH, body, Repeat::IfNotActed)
                .await;
            match answer.map_err(classify) {
                Ok(created) => {
                    let found = own.read_v1(i32::try_from(created.id?).ok()?).await.ok()??;
                    (found.role_arn == role_arn).then_some(found)
                }
                Err(Failure::Conflict { existing, .. }) => own.find_by_role(role_arn, existing).await.ok(),
                Err(_) => None,
            }
        };
        let found = tokio::time::timeout(RESOLVE_BOUND, resolved).await.ok()??;
        tracing::info!(
            id = found.id,
            "the registration's answer was lost: found the integration it made"
        );
        Some(found)
    }

    /// Takes over `found`, registered by an attempt whose answer was lost, with `bucket_arn`.
    async fn adopt(
        &self,
        found: Registration,
        bucket_arn: Option<&str>,
        timeout: Duration,
    ) -> Result<Registration, RegistrationError> {
        if found.bucket_arn.as_deref() != bucket_arn {
            return self
                .update_registration(found.id, &found.role_arn.clone(), bucket_arn, timeout)
                .await
                .map_err(|e| RegistrationError::Incomplete {
                    registration: Box::new(found),
                    source: Box::new(e),
                });
        }
        if found.token.is_some() {
            return Ok(found);
        }
        let status = self.status_now(&found).await;
        Ok(found.with_status(status))
    }

    /// The registration Vantage holds for `role_arn`, found without relying on the wording of
    /// its duplicate answer: the id that answer named (`hint`), then each integration the v2
    /// listing files under the role's account (its v1 id by [`id_for_token`]), confirmed by a
    /// v1 read whose role is `role_arn`. `Err` holds the tokens listed for the account when
    /// none could be confirmed.
    async fn find_by_role(&self, role_arn: &str, hint: Option<i32>) -> Result<Registration, Vec<String>> {
        let confirm = |id: i32| async move {
            match self.read_v1(id).await {
                Ok(Some(r)) if r.role_arn == role_arn => Some(r),
                Ok(_) => None,
                Err(e) => {
                    tracing::debug!(id, error = %e, "could not read a candidate integration");
                    None
                }
            }
        };
        if let Some(id) = hint
            && let Some(found) = confirm(id).await
        {
            return Ok(found);
        }
        let Some(account) = account_of(role_arn) else {
            return Err(Vec::new());
        };
        let path = format!("/v2/integrations?provider=aws&account_identifier={account}&limit={LIST_LIMIT}");
        let listed = match self.vantage.get::<V2Page>(self.cancel, &path).await {
            Ok(page) => page.integrations,
            Err(e) => {
                tracing::debug!(error = %e, "could not list the role's account");
                Vec::new()
            }
        };
        for v2 in &listed {
            let Some(id) = id_for_token(&v2.token).filter(|id| Some(*id) != hint) else {
                continue;
            };
            if let Some(found) = confirm(id).await {
                self.cache.remember(id, v2.clone());
                return Ok(found.with_status(Some(v2.clone())));
            }
        }
        Err(listed.into_iter().map(|i| i.token).collect())
    }

    /// Reads integration `id` and its status; `None` when Vantage no longer has it.
    pub async fn find_registration(
        &self,
        id: i32,
        known_token: Option<&str>,
    ) -> Result<Option<Found>, RegistrationError> {
        let (v1, listing) = tokio::join!(self.read_v1(id), self.list_integrations());
        let Some(registration) = v1? else {
            return Ok(None);
        };
        let (status, status_unread) = match listing {
            Ok(listing) => (self.find_status(&registration, known_token, &listing).await, None),
            Err(why) => (None, Some(why)),
        };
        Ok(Some(Found {
            registration: registration.with_status(status),
            status_unread,
        }))
    }

    async fn read_v1(&self, id: i32) -> Result<Option<Registration>, RegistrationError> {
        let path = format!("{V1_PATH}/{id}");
        match self.vantage.get::<Credential>(self.cancel, &path).await {
            Ok(v1) => Ok(Some(Registration::from_wire(v1, || {
                self.endpoint(&Method::GET, &path)
            })?)),
            Err(VantageError::NotFound { .. }) => Ok(None),
            Err(e) => Err(RegistrationError::from_vantage(Operation::Read, e)),
        }
    }

    /// Every AWS integration (at most [`MAX_LIST_PAGES`] pages), listed once
    /// per provider process.
    pub async fn list_integrations(&self) -> Result<Arc<[Integration]>, String> {
        self.cache
            .listing
            .get_or_init(|| async {
                let mut integrations = Vec::new();
                for page in 1..=MAX_LIST_PAGES {
                    let path = format!("/v2/integrations?provider=aws&limit={LIST_LIMIT}&page={page}");
                    let answer: V2Page = self.vantage.get(self.cancel, &path).await.map_err(|e| e.to_string())?;
                    integrations.extend(answer.integrations);
                    if answer.links.next.is_none() {
                        break;
                    }
                }
                Ok(integrations.into())
            })
            .await
            .clone()
    }

    /// Whether Vantage has an integration for `account` (written by this
    /// process, or in the shared listing).
    pub async fn is_account_registered(&self, account: &str) -> bool {
        self.cache.remembered_account(account)
            || self
                .list_integrations()
                .await
                .is_ok_and(|l| l.iter().any(|i| i.account_identifier.as_deref() == Some(account)))
    }

    /// The v2 record of a registration: what this process wrote, else the
    /// shared listing (by token, else the only one of its account), else one
    /// direct read when the listing cannot have it.
    async fn find_status(
        &self,
        registration: &Registration,
        known_token: Option<&str>,
        listing: &[Integration],
    ) -> Option<Integration> {
        if let Some(written) = self.cache.remembered(registration.id) {
            return Some(written);
        }
        let mapped = token_for_id(registration.id);
        let tokens = [known_token, Some(mapped.as_str())];
        if let Some(found) = listing.iter().find(|i| tokens.contains(&Some(i.token.as_str()))) {
            return Some(found.clone());
        }
        if let Some(account) = registration.account_id() {
            let mut same_account = listing
                .iter()
                .filter(|i| i.account_identifier.as_deref() == Some(account));
            if let (Some(only), None) = (same_account.next(), same_account.next()) {
                return Some(only.clone());
            }
        }
        // Registered after the listing was taken, or beyond its last page.
        let token = known_token.map_or(mapped, str::to_string);
        self.get_v2(&token).await
    }

    async fn get_v2(&self, token: &str) -> Option<Integration> {
        match self
            .vantage
            .get::<Integration>(self.cancel, &format!("/v2/integrations/{token}"))
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
    async fn status_now(&self, registration: &Registration) -> Option<Integration> {
        let mut found = self.get_v2(&token_for_id(registration.id)).await;
        if found.is_none()
            && let Some(account) = registration.account_id()
        {
            let path = format!("/v2/integrations?provider=aws&account_identifier={account}&limit={LIST_LIMIT}");
            if let Ok(page) = self.vantage.get::<V2Page>(self.cancel, &path).await
                && let [only] = page.integrations.as_slice()
            {
                found = Some(only.clone());
            }
        }
        if let Some(v2) = &found {
            self.cache.remember(registration.id, v2.clone());
        }
        found
    }

    /// Changes the role and/or bucket. A `PUT` replaces the registration, so
    /// a missing (or empty) bucket is cleared.
    pub async fn update_registration(
        &self,
        id: i32,
        role_arn: &str,
        bucket_arn: Option<&str>,
        timeout: Duration,
    ) -> Result<Registration, RegistrationError> {
        let body = Credential {
            id: None,
            role_arn: role_arn.to_string(),
            bucket_arn: Some(wanted_bucket(bucket_arn).map(str::to_string)),
        };
        let path = format!("{V1_PATH}/{id}");
        let written = self.write(Method::PUT, &path, &body, timeout).await;
        let updated = match written.result {
            Err(RetryError::Failed {
                error: Failure::Conflict { existing, message },
                ..
            }) => {
                // Another integration holds the role.
                let lookup = self.find_by_role(role_arn, existing).await;
                return Err(already_registered(role_arn, message, lookup));
            }
            result => {
                result.map_err(|e| failed(Operation::Update, role_arn, Some(id), e, written.attempts, timeout))?
            }
        };
        self.cache.forget(id);
        let registration = Registration::from_wire(updated, || self.endpoint(&Method::PUT, &path))?;
        let status = self.status_now(&registration).await;
        Ok(registration.with_status(status))
    }

    /// Removes integration `id`; one that is already gone counts as removed.
    pub async fn deregister(&self, id: i32) -> Result<(), RegistrationError> {
        let result = self.vantage.delete(self.cancel, &format!("{V1_PATH}/{id}")).await;
        self.cache.forget(id);
        match result {
            Ok(()) | Err(VantageError::NotFound { .. }) => Ok(()),
            Err(e) => Err(RegistrationError::from_vantage(Operation::Deregister, e)),
        }
    }

    /// Removes the integration with v2 token `token` (when its v1 id is not known, as after an
    /// import); one that is already gone counts as removed.
    pub async fn deregister_token(&self, token: &str) -> Result<(), RegistrationError> {
        let result = self
            .vantage
            .delete(self.cancel, &format!("/v2/integrations/{token}"))
            .await;
        match result {
            Ok(()) | Err(VantageError::NotFound { .. }) => Ok(()),
            Err(e) => Err(RegistrationError::from_vantage(Operation::Deregister, e)),
        }
    }

    /// A v1 write, `POST` or `PUT`, sent again while Vantage cannot assume
    /// the role yet (until `timeout`).
    async fn write(&self, method: Method, path: &str, body: &Credential, timeout: Duration) -> Written {
        let repeat = if method == Method::POST {
            Repeat::RefusedTwice
        } else {
            Repeat::Idempotent
        };
        let sent = AtomicU32::new(0);
        let unclear = AtomicU32::new(0);
        // Set while a request is out: still set if Terraform's cancellation dropped it midway.
        let in_flight = AtomicBool::new(false);
        let (sent_ref, unclear_ref, in_flight_ref, method_ref) = (&sent, &unclear, &in_flight, &method);
        let started = tokio::time::Instant::now();
        let retried = retry_while(
            self.cancel,
            timeout,
            move || async move {
                in_flight_ref.store(true, Ordering::Relaxed);
                let (result, attempts) = self
                    .vantage
                    .write::<_, Credential>(self.cancel, method_ref.clone(), path, body, repeat)
                    .await;
                in_flight_ref.store(false, Ordering::Relaxed);
                sent_ref.fetch_add(attempts.sent, Ordering::Relaxed);
                unclear_ref.fetch_add(attempts.unclear, Ordering::Relaxed);
                result.map_err(classify)
            },
            |f| matches!(f, Failure::NotYet(_)),
        );
        // `timeout` bounds a request in flight too (the one made at the deadline gets a grace to
        // answer): one cut there leaves `in_flight` set.
        let bound = timeout + crate::retry::LAST_ATTEMPT_GRACE;
        let result = tokio::time::timeout(bound, retried).await.unwrap_or_else(|_| {
            Err(RetryError::Failed {
                error: Failure::RanOut(timeout),
                attempts: sent.load(Ordering::Relaxed),
                waited: started.elapsed(),
            })
        });
        Written {
            result,
            attempts: sent.load(Ordering::Relaxed),
            unclear: unclear.load(Ordering::Relaxed) > 0 || in_flight.load(Ordering::Relaxed),
        }
    }
}

/// What [`Integrations::write`] got, with the requests it sent and whether
/// any of them may have acted without a clear answer.
struct Written {
    result: Result<Credential, RetryError<Failure>>,
    attempts: u32,
    unclear: bool,
}

/// The bucket to send: an empty string is no bucket.
pub fn wanted_bucket(bucket_arn: Option<&str>) -> Option<&str> {
    bucket_arn.filter(|b| !b.is_empty())
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
    fn tokens_lead_back_to_their_ids_and_foreign_tokens_to_none() {
        for id in [1, 2, 42, 99_999, i32::MAX] {
            assert_eq!(id_for_token(&token_for_id(id)), Some(id));
        }
        assert_eq!(id_for_token("accss_crdntl_ac985d1d8bb8bc12"), None, "not an int32 id");
        assert_eq!(id_for_token("accss_crdntl_xyz"), None);
        assert_eq!(id_for_token("wrkspc_9c168a8c2782a12c"), None);
    }

    #[test]
    fn answers_are_classified_by_status_before_wording() {
        // 409 is a duplicate whatever it says.
        assert!(matches!(
            classify(api(409, "Conflict")),
            Failure::Conflict { existing: None, .. }
        ));
        // Validation answers in other words than the devstack's.
        assert!(matches!(
            classify(api(422, "Cross account arn has already been taken")),
            Failure::Conflict { existing: None, .. }
        ));
        assert!(matches!(
            classify(api(400, "Role is not assumable yet")),
            Failure::NotYet(_)
        ));
        // Unfamiliar words are final (shown as Vantage wrote them), and only a 400 or 422 is
        // read for wording at all.
        assert!(matches!(
            classify(api(400, "Account suspended (code 7731)")),
            Failure::Final(_)
        ));
        assert!(matches!(
            classify(api(405, "not assumable yet (IAM propagation)")),
            Failure::Final(_)
        ));
        assert!(matches!(
            classify(api(410, "already exists with id 3")),
            Failure::Final(_)
        ));
        assert!(matches!(classify(api(500, "already exists")), Failure::Final(_)));
    }

    #[test]
    fn a_duplicate_without_a_confirmed_id_lists_what_vantage_holds_for_the_account() {
        let e = already_registered(
            "arn:aws:iam::123456789012:role/x",
            "Cross account arn has already been taken".into(),
            Err(vec!["accss_crdntl_ac985d1d8bb8bc12".into()]),
        );
        let d = e.to_diagnostic("vantage_aws_integration", "");
        assert!(
            d.detail
                .contains("Vantage answered: Cross account arn has already been taken.")
        );
        assert!(d.detail.contains("accss_crdntl_ac985d1d8bb8bc12"));
        assert!(
            d.detail
                .contains("terraform import vantage_aws_integration.<name> <id>")
        );
    }

    #[test]
    fn duplicate_answers_name_the_existing_id() {
        assert_eq!(
            existing_id("an AWS integration for arn:aws:iam::123456789012:role/x already exists with id 42"),
            Some(42)
        );
        assert_eq!(existing_id("already exists"), None);
    }

    fn api(status: u16, message: &str) -> VantageError {
        VantageError::Api {
            endpoint: "POST x".into(),
            status,
            message: message.into(),
        }
    }

    #[test]
    fn only_propagation_answers_are_retried_here() {
        let not_yet = api(
            400,
            "Vantage cannot assume arn:aws:iam::1:role/x: the role is not assumable yet (IAM propagation); retry",
        );
        assert!(matches!(classify(not_yet), Failure::NotYet(_)));
        let wrong_trust = api(400, "Vantage cannot assume x: the trust policy of x does not allow y");
        assert!(matches!(classify(wrong_trust), Failure::Final(_)));
        assert!(matches!(
            classify(api(409, "already exists with id 3")),
            Failure::Conflict { existing: Some(3), .. }
        ));
        assert!(matches!(classify(api(500, "boom")), Failure::Final(_)));
    }

    #[test]
    fn a_failed_registration_is_resolved_only_when_a_request_had_no_clear_answer() {
        let failed = |error| RetryError::Failed {
            error,
            attempts: 1,
            waited: Duration::ZERO,
        };
        let timeout = VantageError::Timeout {
            endpoint: "x".into(),
            timeout: Duration::from_secs(1),
        };
        for (e, wanted) in [
            (failed(Failure::Final(api(500, "boom"))), Resolution::LookUp),
            (failed(Failure::Final(timeout)), Resolution::LookUp),
            (failed(Failure::RanOut(Duration::from_secs(8))), Resolution::Repeat),
            (RetryError::Cancelled, Resolution::Repeat),
        ] {
            assert_eq!(resolution(&e, true), wanted, "{e:?}");
            assert_eq!(resolution(&e, false), Resolution::Nothing, "{e:?}");
        }
        assert_eq!(
            resolution(&failed(Failure::Final(api(400, "no"))), true),
            Resolution::Nothing
        );
        assert_eq!(
            resolution(&failed(Failure::NotYet("later".into())), true),
            Resolution::Nothing
        );
    }

    #[test]
    fn final_write_errors_say_whether_vantage_answered() {
        let unclear = write_error(Operation::Register, None, api(500, "boom"), 5);
        assert!(matches!(unclear, RegistrationError::Unclear { attempts: 5, .. }));
        let timeout = VantageError::Timeout {
            endpoint: "x".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(matches!(
            write_error(Operation::Register, None, timeout, 5),
            RegistrationError::Unclear { .. }
        ));
        assert!(matches!(
            write_error(Operation::Register, None, api(400, "no"), 1),
            RegistrationError::Refused { status: 400, .. }
        ));
        let gone = VantageError::NotFound {
            endpoint: "x".into(),
            message: String::new(),
        };
        assert!(matches!(
            write_error(Operation::Update, Some(7), gone, 1),
            RegistrationError::Gone { id: 7 }
        ));
        let throttled = VantageError::RateLimited {
            endpoint: "x".into(),
            wait_secs: 3000,
        };
        assert!(matches!(
            write_error(Operation::Register, None, throttled, 1),
            RegistrationError::Vantage { .. }
        ));
    }

    #[test]
    fn update_bodies_clear_a_missing_bucket_and_creates_leave_it_out() {
        let body = |bucket_arn| Credential {
            id: None,
            role_arn: "arn:r".into(),
            bucket_arn,
        };
        assert_eq!(
            serde_json::to_string(&body(Some(None))).ok().as_deref(),
            Some(r#"{"cross_account_arn":"arn:r","bucket_arn":null}"#)
        );
        assert_eq!(
            serde_json::to_string(&body(None)).ok().as_deref(),
            Some(r#"{"cross_account_arn":"arn:r"}"#)
        );
    }

    #[test]
    fn answers_need_a_positive_id() {
        let answer = |json: &str| {
            let c: Credential = serde_json::from_str(json).map_err(|e| e.to_string())?;
            Registration::from_wire(c, || "GET x".into()).map_err(|e| e.to_string())
        };
        let r = answer(r#"{"id":3,"cross_account_arn":"arn:aws:iam::123456789012:role/v","bucket_arn":""}"#);
        assert!(
            r.as_ref()
                .is_ok_and(|r| r.id == 3 && r.bucket_arn.is_none() && r.account_id() == Some("123456789012"))
        );
        assert!(answer(r#"{"id":0,"cross_account_arn":"x"}"#).is_err());
        assert!(answer(r#"{"cross_account_arn":"x"}"#).is_err());
    }
}
