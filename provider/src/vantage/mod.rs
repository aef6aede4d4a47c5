//! Vantage's API: the HTTP transport (`client`), the provider info
//! (`provider_info`) and the AWS integrations (`integrations`). Nothing here
//! sees Terraform values, plans or resource models.
//!
//! What the provider relies on about the API (the devstack serves the same,
//! see `devstack/README.md`):
//! - Bearer tokens with `read` and/or `write` scopes; errors are
//!   `{"errors": ["..."]}`. 401 is a bad token, 403 a missing scope, 404 an
//!   unknown path or id, 429 an exhausted rate limit whose window ends at
//!   `x-rate-limit-reset` (Unix seconds); a 503 means the request was turned
//!   away unread.
//! - `GET /v1/integrations/aws/info` gives Vantage's principal
//!   (`iam_role_arn`), the account's `external_id` and its policy documents.
//! - One record per AWS integration, seen through two APIs. v1
//!   (`/v1/integrations/aws[/{id}]`, ids positive int32s) holds the role as
//!   `cross_account_arn` and the bucket as `bucket_arn`, and is the only way
//!   to create (POST, 201), change (PUT, 200) and delete (DELETE, 204) one. A
//!   PUT replaces the registration: a missing or `null` bucket clears it. v2
//!   (`/v2/integrations[/{token}]`) holds the status and the token
//!   (`accss_crdntl_...`); its listing takes `provider`, `account_identifier`
//!   (the role's account), `page` and `limit` (at most 1000) and links the
//!   `next` page (null on the last).
//! - Registering a role that is registered already is refused (the devstack:
//!   409 `... already exists with id <id>`): a registration never happens
//!   twice, so one whose answer was lost may be sent again. Classified by
//!   status first: any 409, or a 400/422 saying "already exists/been
//!   taken/registered", whether or not it names an id. The integration is
//!   then found by its role, not in the message: the id the message names,
//!   else the v2 listing of the role's account, each candidate confirmed by
//!   a v1 read of `cross_account_arn` (Vantage has no v1 listing).
//! - Until IAM lets Vantage assume a new role, a registration answers 400
//!   `... not assumable yet (IAM propagation) ...` (retried only for 400 and
//!   422); every other 400, in words the provider knows (`Vantage cannot
//!   assume ...`, `Vantage cannot read ...`) or not, is final and shown as
//!   Vantage wrote it.
//! - Vantage checks the role again on every read: `status` is `pending`,
//!   `importing`, `imported`, `connected`, `error` (it could not assume the
//!   role) or `disconnected`.

mod client;
pub mod integrations;
mod provider_info;

pub use client::*;
pub use provider_info::*;
