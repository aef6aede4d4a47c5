//! `vantage_aws_role_policy`: one inline policy on the cross-account role,
//! either raw JSON or one of Vantage's published presets. Read-only by
//! default: write actions and data reads are refused at plan time unless
//! explicitly allowed.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::{custom, one_of};
use tfplugin::timeouts::{self, WriteTimeouts};
use tfplugin::{
    ApplyError, AttrPath, Attribute, ConfigView, Ctx, Diagnostic, Diagnostics, MoveSource, Plan, Resource, Schema, Val,
    Value,
};

use crate::aws::iam::{self, Problem};
use crate::policy::presets::{data_message, preset_document, write_message};
use crate::policy::{self, PolicyDocument, cur_retrieval_policy};
use crate::{ProviderData, moves};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// IAM's quota for all inline policies of one role, whitespace excluded.
pub const ROLE_INLINE_LIMIT: usize = policy::ROLE_INLINE_POLICY_LIMIT;

pub struct RolePolicy;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RolePolicyModel {
    pub id: Option<String>,
    pub role: String,
    pub name: String,
    pub policy: Option<String>,
    pub preset: Option<String>,
    pub cur_bucket: Option<String>,
    pub kms_key_arn: Option<String>,
    pub allow_write_actions: Option<bool>,
    pub allow_data_reads: Option<bool>,
    pub timeouts: Option<WriteTimeouts>,
}

fn policy_name_check(v: &Value) -> Result<(), String> {
    v.as_str().map_or(Ok(()), policy::validate_policy_name)
}

fn role_name_check(v: &Value) -> Result<(), String> {
    v.as_str().map_or(Ok(()), crate::arn::validate_role_name)
}

fn bucket_check(v: &Value) -> Result<(), String> {
    v.as_str().map_or(Ok(()), crate::s3::validate_bucket_name)
}

/// Findings of the read-only and metadata-only guards for a document.
struct Guarded {
    writes: Vec<policy::Finding>,
    data_reads: Vec<policy::Finding>,
}

fn guard(doc: &PolicyDocument, cur_bucket: Option<&str>) -> Guarded {
    Guarded {
        writes: policy::write_actions(doc),
        data_reads: policy::data_reads(doc, cur_bucket),
    }
}

#[tfplugin::async_trait]
impl Resource<ProviderData> for RolePolicy {
    type Model = RolePolicyModel;

    fn type_name(&self) -> &'static str {
        "vantage_aws_role_policy"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "One inline policy on the cross-account role: your own JSON (`policy`) or one of Vantage's \
             published documents (`preset`). Write actions and data reads are refused at plan time unless \
             `allow_write_actions` / `allow_data_reads` say otherwise. Equivalent JSON (reordered, \
             reformatted, `\"x\"` vs `[\"x\"]`) never shows as a change. The role leaves the policy \
             alone unless the role lists `inline_policies`; then this policy's name must be in that list, \
             which the plan checks.",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("`role:name`."),
        )
        .attribute(
            Attribute::string("role")
                .required()
                .requires_replace()
                .validator(custom("an IAM role name", role_name_check))
                .description("Name of the role, e.g. `vantage_aws_cross_account_role.this.name`."),
        )
        .attribute(
            Attribute::string("name")
                .required()
                .requires_replace()
                .validator(custom(
                    "1-128 characters of letters, digits and `_+=,.@-`",
                    policy_name_check,
                ))
                .description(
                    "Name of the inline policy. When the role lists `inline_policies`, this name must be among \
                     them (checked at plan time).",
                ),
        )
        .attribute(
            Attribute::string("policy")
                .optional_computed()
                .semantic_equality(|a, b| match (a.as_str(), b.as_str()) {
                    (Some(a), Some(b)) => policy::equivalent(a, b),
                    _ => false,
                })
                .description("The policy document (JSON). Computed when `preset` is used."),
        )
        .attribute(
            Attribute::string("preset")
                .optional()
                .validator(one_of(&policy::PRESET_NAMES))
                .description(
                    "One of Vantage's documents instead of `policy`: `root` (billing read-only), `cloudwatch`, \
                     `resources`, `autopilot` (write actions: needs `allow_write_actions`), `cur_retrieval` \
                     (read the CUR files in `cur_bucket`).",
                ),
        )
        .attribute(
            Attribute::string("cur_bucket")
                .optional()
                .validator(custom("an S3 bucket name", bucket_check))
                .description("Bucket holding the CUR files, for `preset = \"cur_retrieval\"`."),
        )
        .attribute(
            Attribute::string("kms_key_arn")
                .optional()
                .validator(custom("a KMS key ARN", |v: &Value| {
                    v.as_str().map_or(Ok(()), policy::check_kms_key_arn)
                }))
                .description(
                    "KMS key the CUR bucket encrypts the report files with (SSE-KMS), for \
                     `preset = \"cur_retrieval\"`: the policy also grants `kms:Decrypt` on that key only.",
                ),
        )
        .attribute(
            Attribute::bool("allow_write_actions")
                .default(false)
                .description("Allow actions AWS classifies as Write, Permissions management or Tagging."),
        )
        .attribute(Attribute::bool("allow_data_reads").default(false).description(
            "Allow reads of data or credentials (S3 objects outside the CUR bucket, DynamoDB items, secrets, \
             parameters, KMS decryption, ...).",
        ))
        .block(timeouts::block(&["create", "update"]))
    }

    async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
        let mut diags = Diagnostics::new();
        let policy: Val<String> = config.get("policy");
        let preset: Val<String> = config.get("preset");
        let cur_bucket: Val<String> = config.get("cur_bucket");
        match (&policy, &preset) {
            (Val::Null, Val::Null) => diags.push(Diagnostic::error(
                "Missing policy",
                "Set either `policy` (a JSON document) or `preset` (one of Vantage's documents).",
            )),
            (Val::Known(_) | Val::Unknown, Val::Known(_) | Val::Unknown) => diags.push(
                Diagnostic::error("Conflicting arguments", "Set `policy` or `preset`, not both.")
                    .at(AttrPath::new("policy")),
            ),
            _ => {}
        }
        let is_cur = matches!(&preset, Val::Known(p) if p == "cur_retrieval");
        if !is_cur && !preset.is_unknown() && !config.get::<String>("kms_key_arn").is_null() {
            diags.push(
                Diagnostic::error(
                    "kms_key_arn without the CUR preset",
                    "`kms_key_arn` only applies to `preset = \"cur_retrieval\"`.",
                )
                .at(AttrPath::new("kms_key_arn")),
            );
        }
        if is_cur && cur_bucket.is_null() {
            diags.push(
                Diagnostic::error(
                    "Missing cur_bucket",
                    "`preset = \"cur_retrieval\"` needs `cur_bucket`, the bucket CUR delivers to.",
                )
                .at(AttrPath::new("cur_bucket")),
            );
        }
        if !is_cur && !preset.is_unknown() && !cur_bucket.is_null() {
            diags.push(
                Diagnostic::error(
                    "Unexpected cur_bucket",
                    "`cur_bucket` only applies to `preset = \"cur_retrieval\"`.",
                )
                .at(AttrPath::new("cur_bucket")),
            );
        }
        let allow_writes = config.get::<bool>("allow_write_actions").known().unwrap_or(false);
        let allow_data = config.get::<bool>("allow_data_reads").known().unwrap_or(false);
        if matches!(&preset, Val::Known(p) if p == "autopilot")
            && !allow_writes
            && !config.get::<bool>("allow_write_actions").is_unknown()
        {
            diags.push(
                Diagnostic::error(
                    "Autopilot needs allow_write_actions",
                    "The autopilot preset lets Vantage buy reservations and open support cases (write actions). \
                     Set `allow_write_actions = true` to opt in.",
                )
                .at(AttrPath::new("allow_write_actions")),
            );
        }
        if let Val::Known(text) = &policy {
            match PolicyDocument::parse(text) {
                Err(e) => {
                    diags.push(Diagnostic::error("Invalid policy document", format!("{e}")).at(AttrPath::new("policy")))
                }
                Ok(doc) => {
                    let size = policy::size_without_whitespace(text);
                    if size > ROLE_INLINE_LIMIT {
                        diags.push(
                            Diagnostic::error(
                                "Policy too large",
                                format!(
                                    "The document has {size} characters without whitespace; IAM allows {ROLE_INLINE_LIMIT} \
                                     for all inline policies of a role together. Split it across roles or use a managed policy."
                                ),
                            )
                            .at(AttrPath::new("policy")),
                        );
                    }
                    let g = guard(&doc, cur_bucket.clone().known().as_deref());
                    if !g.writes.is_empty() && !allow_writes {
                        diags.push(
                            Diagnostic::error("Write actions in a read-only policy", write_message(&g.writes))
                                .at(AttrPath::new("policy")),
                        );
                    }
                    if !g.data_reads.is_empty() && !allow_data {
                        diags.push(
                            Diagnostic::error("Data reads in a metadata-only policy", data_message(&g.data_reads))
                                .at(AttrPath::new("policy")),
                        );
                    }
                    let (writes, others): (Vec<_>, Vec<_>) = policy::unknown_actions(&doc)
                        .into_iter()
                        .partition(|f| f.looks_like_write());
                    if !writes.is_empty() && !allow_writes {
                        diags.push(
                            Diagnostic::error(
                                "Unknown write action in a read-only policy",
                                policy::Finding::unknown_message(&writes, true),
                            )
                            .at(AttrPath::new("policy")),
                        );
                    }
                    let warn = if allow_writes {
                        [others, writes].concat()
                    } else {
                        others
                    };
                    if !warn.is_empty() {
                        diags.push(
                            Diagnostic::warning(
                                "Unknown action in policy",
                                policy::Finding::unknown_message(&warn, false),
                            )
                            .at(AttrPath::new("policy")),
                        );
                    }
                }
            }
        }
        diags
    }

    async fn modify_plan(&self, ctx: &Ctx<ProviderData>, plan: &mut Plan) -> Result<(), Diagnostics> {
        if plan.is_destroy() {
            return Ok(());
        }
        let config_value = plan.config_value().clone();
        let role = config_value.attr("role").as_str().map(str::to_string);
        let name = config_value.attr("name").as_str().map(str::to_string);
        match (&role, &name) {
            (Some(r), Some(n)) => plan.set("id", format!("{r}:{n}")),
            _ => plan.set_unknown("id"),
        }
        if let (Some(r), Some(n)) = (&role, &name)
            && let Some(kept) = ctx.provider().exclusive_roles.would_remove(r, n)
        {
            return Err(crate::inline_policies::not_named_on_role(r, &kept, n).into());
        }
        let Some(preset) = config_value.attr("preset").as_str().map(str::to_string) else {
            return Ok(());
        };
        let bucket = config_value.attr("cur_bucket");
        if bucket.is_unknown() {
            plan.set_unknown("policy");
            return Ok(());
        }
        let info = ctx
            .provider()
            .aws_provider_info(ctx.cancellation())
            .await
            .map_err(|e| {
                Diagnostics::from(
                    e.to_diagnostic("Could not read Vantage's policy documents")
                        .at(AttrPath::new("preset")),
                )
            })?;
        let key = config_value.attr("kms_key_arn");
        if key.is_unknown() {
            plan.set_unknown("policy");
            return Ok(());
        }
        let desired = preset_document(info, &preset, bucket.as_str(), key.as_str())?;
        let prior: Option<RolePolicyModel> = plan.prior()?;
        let keep = prior.and_then(|p| p.policy).filter(|p| policy::equivalent(p, &desired));
        // Presets are applied as Vantage publishes them; actions a guard would refuse are named, not
        // refused. The CUR key's `kms:Decrypt` is the one grant the guide asks for on that key: not named.
        if let Ok(doc) = PolicyDocument::parse(&preset_document(info, &preset, bucket.as_str(), None)?) {
            let g = guard(&doc, bucket.as_str());
            let allow_writes = config_value.attr("allow_write_actions").as_bool().unwrap_or(false);
            let allow_data = config_value.attr("allow_data_reads").as_bool().unwrap_or(false);
            if !g.writes.is_empty() && !allow_writes {
                ctx.warn(
                    Diagnostic::warning(
                        format!("Preset {preset:?} holds write actions"),
                        write_message(&g.writes),
                    )
                    .at(AttrPath::new("preset")),
                );
            }
            if !g.data_reads.is_empty() && !allow_data {
                ctx.warn(
                    Diagnostic::warning(
                        format!("Preset {preset:?} holds data reads"),
                        data_message(&g.data_reads),
                    )
                    .at(AttrPath::new("preset")),
                );
            }
        }
        plan.set("policy", keep.unwrap_or(desired));
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: RolePolicyModel,
    ) -> Result<RolePolicyModel, ApplyError<RolePolicyModel>> {
        let timeout = planned.timeouts.clone().unwrap_or_default().create_or(DEFAULT_TIMEOUT);
        let created = RolePolicyModel {
            id: Some(format!("{}:{}", planned.role, planned.name)),
            ..planned.clone()
        };
        put(ctx, &planned, timeout, Some(&created)).await?;
        Ok(created)
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: RolePolicyModel,
    ) -> Result<Option<RolePolicyModel>, Diagnostics> {
        let client = ctx.provider().aws.iam().await;
        let Some(actual) = iam::find_inline_policy(client, &current.role, &current.name)
            .await
            .map_err(|e| e.to_diagnostic("Could not read the inline policy", ""))?
        else {
            return Ok(None);
        };
        let policy = match &current.policy {
            Some(p) if policy::equivalent(p, &actual) => p.clone(),
            _ => actual,
        };
        let mut state = RolePolicyModel {
            policy: Some(policy),
            ..current
        };
        // Imported and moved states carry no `allow_*` yet (every plan sets them).
        if state.allow_write_actions.is_none() {
            adopt(ctx, &mut state).await;
        }
        Ok(Some(state))
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        _prior: RolePolicyModel,
        planned: RolePolicyModel,
    ) -> Result<RolePolicyModel, ApplyError<RolePolicyModel>> {
        let timeout = planned.timeouts.clone().unwrap_or_default().update_or(DEFAULT_TIMEOUT);
        put(ctx, &planned, timeout, None).await?;
        Ok(planned)
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: RolePolicyModel) -> Result<(), Diagnostics> {
        let client = ctx.provider().aws.iam().await;
        iam::delete_inline_policy(client, &prior.role, &prior.name)
            .await
            .map_err(|e| e.to_diagnostic("Could not delete the inline policy", "").into())
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<RolePolicyModel, Diagnostics> {
        let Some((role, name)) = id.split_once(':').filter(|(r, n)| !r.is_empty() && !n.is_empty()) else {
            return Err(Diagnostic::error(
                "Invalid import id",
                format!("{id:?} is not `role:name`, e.g. `vantage_cross_account_connection:root`."),
            )
            .into());
        };
        let state = RolePolicyModel {
            id: Some(id.to_string()),
            role: role.to_string(),
            name: name.to_string(),
            ..RolePolicyModel::default()
        };
        self.read(ctx, state).await?.ok_or_else(|| {
            Diagnostic::error(
                "Cannot import a missing policy",
                format!("Role {role:?} has no inline policy {name:?}."),
            )
            .into()
        })
    }

    /// `moved { from = aws_iam_role_policy.x  to = vantage_aws_role_policy.x }`.
    async fn move_state(&self, from: &MoveSource) -> Option<Result<serde_json::Value, Diagnostics>> {
        moves::from_hashicorp_aws(from, "aws_iam_role_policy").then(|| moved_from_aws_iam_role_policy(from))
    }
}

/// An `aws_iam_role_policy` state (id `role:name`) as this type's; the refresh recognises presets.
fn moved_from_aws_iam_role_policy(from: &MoveSource) -> Result<serde_json::Value, Diagnostics> {
    let s = &from.state;
    let role = moves::required(s, "role", from)?;
    let name = moves::required(s, "name", from)?;
    moves::state(&RolePolicyModel {
        id: Some(format!("{role}:{name}")),
        role,
        name,
        policy: moves::string(s, "policy"),
        ..RolePolicyModel::default()
    })
}

/// Completes an imported or moved state: recognises Vantage's documents, so a
/// configuration using `preset` adopts the policy without a diff.
async fn adopt(ctx: &Ctx<ProviderData>, state: &mut RolePolicyModel) {
    state.allow_write_actions = Some(false);
    state.allow_data_reads = Some(false);
    let Some(doc) = state.policy.clone() else {
        return;
    };
    if let Some(bucket) = cur_retrieval_bucket(&doc)
        && policy::equivalent(&cur_retrieval_policy(&bucket), &doc)
    {
        state.preset = Some("cur_retrieval".to_string());
        state.cur_bucket = Some(bucket);
        return;
    }
    let Ok(info) = ctx.provider().aws_provider_info(ctx.cancellation()).await else {
        return;
    };
    for preset in ["root", "cloudwatch", "resources", "autopilot"] {
        if preset_document(info, preset, None, None).is_ok_and(|d| policy::equivalent(&d, &doc)) {
            state.preset = Some(preset.to_string());
            state.allow_write_actions = Some(preset == "autopilot");
        }
    }
}

/// The bucket a document in the shape of [`cur_retrieval_policy`] grants reads in.
fn cur_retrieval_bucket(doc: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(doc).ok()?;
    let statement = match &doc["Statement"] {
        serde_json::Value::Array(a) if a.len() == 1 => &a[0],
        s @ serde_json::Value::Object(_) => s,
        _ => return None,
    };
    let resource = match &statement["Resource"] {
        serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str()?,
        r => r.as_str()?,
    };
    let bucket = resource.strip_prefix("arn:aws:s3:::")?.strip_suffix("/*")?;
    (!bucket.is_empty() && !bucket.contains('/')).then(|| bucket.to_string())
}

/// PutRolePolicy after the guards. `created` is the state of a create: kept in state when the
/// put may have taken effect without an answer (lost, 5xx, Ctrl-C), so the policy is not orphaned.
async fn put(
    ctx: &Ctx<ProviderData>,
    planned: &RolePolicyModel,
    timeout: Duration,
    created: Option<&RolePolicyModel>,
) -> Result<(), ApplyError<RolePolicyModel>> {
    let document = planned.policy.as_deref().unwrap_or_default();
    // A policy unknown at plan time (built from other resources' values)
    // reaches the guards only here. Presets are applied as Vantage
    // publishes them (the plan named what they grant).
    if planned.preset.is_none() {
        let doc = PolicyDocument::parse(document).map_err(|e| {
            ApplyError::from(Diagnostics::from(
                Diagnostic::error("Invalid policy document", format!("{e}")).at(AttrPath::new("policy")),
            ))
        })?;
        let g = guard(&doc, planned.cur_bucket.as_deref());
        let allow_writes = planned.allow_write_actions.unwrap_or(false);
        let unknown_writes: Vec<_> = policy::unknown_actions(&doc)
            .into_iter()
            .filter(|f| f.looks_like_write())
            .collect();
        let mut refused = Diagnostics::new();
        if !g.writes.is_empty() && !allow_writes {
            refused.push(
                Diagnostic::error("Write actions in a read-only policy", write_message(&g.writes))
                    .at(AttrPath::new("policy")),
            );
        }
        if !unknown_writes.is_empty() && !allow_writes {
            refused.push(
                Diagnostic::error(
                    "Unknown write action in a read-only policy",
                    policy::Finding::unknown_message(&unknown_writes, true),
                )
                .at(AttrPath::new("policy")),
            );
        }
        if !g.data_reads.is_empty() && !planned.allow_data_reads.unwrap_or(false) {
            refused.push(
                Diagnostic::error("Data reads in a metadata-only policy", data_message(&g.data_reads))
                    .at(AttrPath::new("policy")),
            );
        }
        if !refused.is_empty() {
            return Err(ApplyError::from(refused));
        }
    }
    let client = ctx.provider().aws.iam().await;
    let put = iam::put_inline_policy(
        client,
        ctx.cancellation(),
        timeout,
        &planned.role,
        &planned.name,
        document,
    )
    .await;
    put.map_err(|e| {
        let hint = match e.problem() {
            Some(Problem::LimitExceeded) => format!(
                "The role's inline policies together exceed IAM's {ROLE_INLINE_LIMIT}-character quota \
                 (whitespace excluded): move some statements to a managed policy."
            ),
            Some(Problem::NotFound) => format!("Role {:?} does not exist.", planned.role),
            _ => String::new(),
        };
        let d = e.to_diagnostic("Could not put the inline policy", &hint);
        match created {
            Some(state) if e.may_have_acted() => ApplyError::with_partial_state(state.clone(), d),
            _ => d.into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cur_retrieval_bucket_is_read_back_from_the_document() {
        assert_eq!(
            cur_retrieval_bucket(&cur_retrieval_policy("b-1")).as_deref(),
            Some("b-1")
        );
        let listed = r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b-2/*"]}}"#;
        assert_eq!(cur_retrieval_bucket(listed).as_deref(), Some("b-2"));
        assert_eq!(
            cur_retrieval_bucket(r#"{"Statement":[{"Resource":"arn:aws:s3:::b/k/*"}]}"#),
            None
        );
        assert_eq!(cur_retrieval_bucket(r#"{"Statement":[{"Resource":"*"}]}"#), None);
    }

    #[test]
    fn an_aws_iam_role_policy_moves_with_its_document_and_no_allow_flags() {
        let from = MoveSource {
            provider_address: "registry.terraform.io/hashicorp/aws".into(),
            type_name: "aws_iam_role_policy".into(),
            schema_version: 0,
            state: serde_json::json!({"id": "r:root", "role": "r", "name": "root", "name_prefix": "", "policy": "{}"}),
        };
        let moved = moved_from_aws_iam_role_policy(&from).unwrap_or_default();
        assert_eq!(moved["id"], "r:root");
        assert_eq!(moved["policy"], "{}");
        // The refresh adopts the policy (presets) when these are unset.
        assert_eq!(moved["allow_write_actions"], serde_json::Value::Null);
    }

    #[test]
    fn cur_retrieval_reads_only_the_bucket_objects() {
        let doc = cur_retrieval_policy("my-cur");
        assert!(doc.contains("arn:aws:s3:::my-cur/*") && doc.contains("s3:GetObject"));
    }

    #[test]
    fn role_names_not_arns() {
        assert!(role_name_check(&Value::from("arn:aws:iam::123456789012:role/x")).is_err());
        assert!(role_name_check(&Value::from("vantage_cross_account_connection")).is_ok());
    }
}
