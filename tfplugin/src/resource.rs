//! The typed API resources and data sources implement, and its erasure to
//! the value-level interface the gRPC server drives.
//!
//! A resource declares its schema once and works with a model struct
//! (`serde`), one per resource file. The runtime handles encoding, the plan
//! conventions declared in the schema, validation, cancellation and
//! diagnostics plumbing.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::plan::{Plan, plan_resource};
use crate::schema::{Block, Schema};
use crate::value::{Value, from_value, to_value};
use crate::{AttrPath, Diagnostic, Diagnostics};

tokio::task_local! {
    /// The cancellation of the RPC the current task serves, for code with no [`Ctx`] at hand.
    static RPC_CANCELLATION: CancellationToken;
}

/// The cancellation token of the RPC this task is serving (the one its [`Ctx`] carries), so a
/// layer below the resources (an HTTP client shared by all operations) can stop a call when
/// Terraform asks the provider to stop. `None` outside an RPC.
pub fn rpc_cancellation() -> Option<CancellationToken> {
    RPC_CANCELLATION.try_with(CancellationToken::clone).ok()
}

/// Runs `fut` with `cancel` as its [`rpc_cancellation`].
pub(crate) async fn with_rpc_cancellation<F: std::future::Future>(cancel: CancellationToken, fut: F) -> F::Output {
    RPC_CANCELLATION.scope(cancel, fut).await
}

/// What every operation receives: the configured provider's data, a
/// cancellation token (cancelled when Terraform calls StopProvider, e.g. on
/// Ctrl-C) and a place for warnings.
pub struct Ctx<P> {
    provider: Arc<P>,
    cancel: CancellationToken,
    warnings: Mutex<Diagnostics>,
    config: Value,
}

impl<P> Ctx<P> {
    pub(crate) fn new(provider: Arc<P>, cancel: CancellationToken, config: Value) -> Ctx<P> {
        Ctx {
            provider,
            cancel,
            warnings: Mutex::new(Diagnostics::new()),
            config,
        }
    }

    pub fn provider(&self) -> &P {
        &self.provider
    }

    /// Cancelled when Terraform asks the provider to stop.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Adds a warning (or an error that should not stop the operation from
    /// returning its state) to the operation's diagnostics.
    pub fn warn(&self, d: Diagnostic) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(d);
        }
    }

    /// The raw configuration (apply only): write-only attributes live here.
    pub fn config_value(&self) -> &Value {
        &self.config
    }

    pub(crate) fn take_warnings(&self) -> Diagnostics {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }
}

/// A failed create or update. `partial_state` describes whatever was created
/// before the failure, so Terraform keeps tracking it (as tainted on create).
#[derive(Debug)]
pub struct ApplyError<M> {
    pub partial_state: Option<M>,
    pub diagnostics: Diagnostics,
}

impl<M> ApplyError<M> {
    pub fn with_partial_state(state: M, diagnostics: impl Into<Diagnostics>) -> ApplyError<M> {
        ApplyError {
            partial_state: Some(state),
            diagnostics: diagnostics.into(),
        }
    }
}

impl<M> From<Diagnostic> for ApplyError<M> {
    fn from(d: Diagnostic) -> ApplyError<M> {
        ApplyError {
            partial_state: None,
            diagnostics: d.into(),
        }
    }
}

impl<M> From<Diagnostics> for ApplyError<M> {
    fn from(d: Diagnostics) -> ApplyError<M> {
        ApplyError {
            partial_state: None,
            diagnostics: d,
        }
    }
}

/// A configuration that may still hold unknown values (validation time).
///
/// Reading a name the schema does not have, or a value that does not decode
/// into the requested type, is a bug in the provider: [`ConfigView::get`]
/// records it and the runtime turns it into an error diagnostic, so
/// validation fails instead of silently skipping the checks that read it.
pub struct ConfigView<'a> {
    value: &'a Value,
    /// The schema's top-level names; known when the runtime built the view.
    block: Option<&'a Block>,
    misuse: Arc<Mutex<Vec<Misuse>>>,
}

/// A configuration value at validation time.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<T> {
    Null,
    /// Depends on something not known until apply: skip checks on it.
    Unknown,
    Known(T),
}

impl<T> Val<T> {
    pub fn known(self) -> Option<T> {
        match self {
            Val::Known(t) => Some(t),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self, Val::Unknown)
    }
}

impl<'a> ConfigView<'a> {
    /// A view without a schema: names are not checked against one.
    pub fn new(value: &'a Value) -> ConfigView<'a> {
        ConfigView {
            value,
            block: None,
            misuse: Arc::default(),
        }
    }

    /// A view that checks names against `block` and records misuse, read
    /// afterwards through the returned handle.
    pub(crate) fn checked(value: &'a Value, block: &'a Block) -> (ConfigView<'a>, MisuseLog) {
        let view = ConfigView {
            value,
            block: Some(block),
            misuse: Arc::default(),
        };
        let log = MisuseLog(view.misuse.clone());
        (view, log)
    }

    fn record(&self, problem: String, path: Option<AttrPath>) {
        // A poisoned lock still holds the log: fail closed rather than drop it.
        let mut m = self.misuse.lock().unwrap_or_else(PoisonError::into_inner);
        m.push(Misuse { problem, path });
    }

    /// A top-level attribute, decoded when wholly known. A name the schema
    /// does not have, or a value that does not decode into `T`, reads as
    /// unknown and makes validation fail with an internal error.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Val<T> {
        if let Some(block) = self.block
            && !block.has_name(name)
        {
            self.record(
                format!("read configuration attribute `{name}`, which its schema does not have"),
                None,
            );
            return Val::Unknown;
        }
        let v = self.value.attr(name);
        if v.is_null() {
            Val::Null
        } else if !v.is_wholly_known() {
            Val::Unknown
        } else {
            match from_value(v) {
                Ok(t) => Val::Known(t),
                Err(e) => {
                    self.record(
                        format!(
                            "read configuration attribute `{name}` as {}, which its value does not decode into: {e}",
                            std::any::type_name::<T>()
                        ),
                        Some(AttrPath::new(name)),
                    );
                    Val::Unknown
                }
            }
        }
    }

    /// The whole configuration as a model; unknown values read as `None`.
    pub fn model<M: DeserializeOwned>(&self) -> Result<M, Diagnostic> {
        from_value(self.value).map_err(|e| {
            Diagnostic::error(
                "Invalid configuration",
                format!("The configuration does not match the schema: {e}."),
            )
        })
    }

    pub fn value(&self) -> &Value {
        self.value
    }
}

/// A misuse of [`ConfigView`] or [`Plan`] by the provider's code.
#[derive(Debug, Clone)]
pub(crate) struct Misuse {
    /// What the code did, e.g. "set planned attribute `x`, which its schema does not have".
    pub problem: String,
    pub path: Option<AttrPath>,
}

/// The runtime's handle on what a [`ConfigView`] recorded.
pub(crate) struct MisuseLog(Arc<Mutex<Vec<Misuse>>>);

impl MisuseLog {
    pub(crate) fn diagnostics(&self, type_name: &str) -> Diagnostics {
        let misuse = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        misuse_diagnostics(type_name, misuse)
    }
}

/// Internal-error diagnostics for misuse, naming the type and the attribute.
pub(crate) fn misuse_diagnostics(type_name: &str, misuse: Vec<Misuse>) -> Diagnostics {
    let mut diags = Diagnostics::new();
    for m in misuse {
        let d = Diagnostic::error(
            "Provider internal error",
            format!(
                "The provider's code for {type_name} {}. Please report this bug.",
                m.problem
            ),
        );
        diags.push(match m.path {
            Some(p) => d.at(p),
            None => d,
        });
    }
    diags
}

/// A managed resource type.
#[async_trait]
pub trait Resource<P: Send + Sync + 'static>: Send + Sync + 'static {
    /// The state model: one field per attribute (and per nested block).
    type Model: Serialize + DeserializeOwned + Send + Sync;

    /// The full type name, e.g. `vantage_aws_role_policy`.
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    /// Checks beyond attribute validators (combinations of attributes).
    async fn validate(&self, _config: &ConfigView<'_>) -> Diagnostics {
        Diagnostics::new()
    }

    /// Adjusts the plan after the schema's conventions were applied.
    async fn modify_plan(&self, _ctx: &Ctx<P>, _plan: &mut Plan) -> Result<(), Diagnostics> {
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<P>, planned: Self::Model) -> Result<Self::Model, ApplyError<Self::Model>>;

    /// Refreshes the state from the real object; `None` when it no longer exists.
    async fn read(&self, ctx: &Ctx<P>, current: Self::Model) -> Result<Option<Self::Model>, Diagnostics>;

    async fn update(
        &self,
        ctx: &Ctx<P>,
        prior: Self::Model,
        planned: Self::Model,
    ) -> Result<Self::Model, ApplyError<Self::Model>>;

    async fn delete(&self, ctx: &Ctx<P>, prior: Self::Model) -> Result<(), Diagnostics>;

    /// Builds a state from an import id; Terraform reads it right after.
    async fn import(&self, _ctx: &Ctx<P>, _id: &str) -> Result<Self::Model, Diagnostics> {
        Err(Diagnostic::error(
            "Import not supported",
            format!("{} cannot be imported.", self.type_name()),
        )
        .into())
    }

    /// Upgrades stored state written with an older schema `version` to the
    /// current one. The default accepts only the current version.
    async fn upgrade_state(&self, version: i64, state: serde_json::Value) -> Result<serde_json::Value, Diagnostics> {
        let current = self.schema().version;
        if version == current {
            Ok(state)
        } else {
            Err(Diagnostic::error(
                "Unsupported state version",
                format!(
                    "The state of this {} was written with schema version {version}; this provider \
                     knows version {current}. Use the provider version that wrote it.",
                    self.type_name()
                ),
            )
            .into())
        }
    }

    /// Accepts state moved (`moved {}`) from another resource type, possibly of
    /// another provider. `None` means the move is not supported.
    async fn move_state(&self, _from: &MoveSource) -> Option<Result<serde_json::Value, Diagnostics>> {
        None
    }
}

/// Where a `moved {}` block moves state from.
#[derive(Debug, Clone)]
pub struct MoveSource {
    pub provider_address: String,
    pub type_name: String,
    pub schema_version: i64,
    pub state: serde_json::Value,
}

/// A data source type.
#[async_trait]
pub trait DataSource<P: Send + Sync + 'static>: Send + Sync + 'static {
    type Model: Serialize + DeserializeOwned + Send + Sync;

    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    async fn validate(&self, _config: &ConfigView<'_>) -> Diagnostics {
        Diagnostics::new()
    }

    async fn read(&self, ctx: &Ctx<P>, config: Self::Model) -> Result<Self::Model, Diagnostics>;
}

/// The outcome of an apply at the value level: new state plus diagnostics.
pub(crate) struct ApplyOutcome {
    pub state: Value,
    pub diagnostics: Diagnostics,
}

/// Value-level view of a resource, implemented for every [`Resource`].
#[async_trait]
pub trait AnyResource<P>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// Whether the model matches the schema in names, types and optionality
    /// (see [`crate::check_model`]); for a test over every resource.
    fn check_model(&self) -> Result<(), Vec<String>>;
    #[doc(hidden)]
    async fn validate_value(&self, schema: &Schema, config: &Value) -> Diagnostics;
    #[doc(hidden)]
    async fn plan_value(
        &self,
        ctx: &Ctx<P>,
        schema: &Schema,
        prior: &Value,
        proposed: &Value,
        config: &Value,
    ) -> Result<Plan, Diagnostics>;
    #[doc(hidden)]
    async fn apply_value(&self, ctx: &Ctx<P>, prior: &Value, planned: &Value) -> ApplyOutcomeBox;
    #[doc(hidden)]
    async fn read_value(&self, ctx: &Ctx<P>, current: &Value) -> Result<Value, Diagnostics>;
    #[doc(hidden)]
    async fn import_value(&self, ctx: &Ctx<P>, id: &str) -> Result<Value, Diagnostics>;
    #[doc(hidden)]
    async fn upgrade_json(&self, version: i64, state: serde_json::Value) -> Result<serde_json::Value, Diagnostics>;
    #[doc(hidden)]
    async fn move_json(&self, from: &MoveSource) -> Option<Result<serde_json::Value, Diagnostics>>;
}

#[doc(hidden)]
pub struct ApplyOutcomeBox(pub(crate) ApplyOutcome);

fn model_error(what: &str, e: impl std::fmt::Display) -> Diagnostics {
    Diagnostic::error(
        "Provider internal error",
        format!("The {what} does not match the resource model: {e}. Please report this bug."),
    )
    .into()
}

fn encode_model<M: Serialize>(m: &M) -> Result<Value, Diagnostics> {
    to_value(m).map_err(|e| model_error("new state", e))
}

#[async_trait]
impl<P, R> AnyResource<P> for R
where
    P: Send + Sync + 'static,
    R: Resource<P>,
{
    fn type_name(&self) -> &'static str {
        Resource::type_name(self)
    }

    fn schema(&self) -> Schema {
        Resource::schema(self)
    }

    fn check_model(&self) -> Result<(), Vec<String>> {
        crate::check_model::<R::Model>(Resource::type_name(self), &Resource::schema(self))
    }

    async fn validate_value(&self, schema: &Schema, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::new();
        schema.block.validate(config, &AttrPath::root(), &mut diags);
        let (view, misuse) = ConfigView::checked(config, &schema.block);
        diags.extend(self.validate(&view).await);
        diags.extend(misuse.diagnostics(Resource::type_name(self)));
        diags
    }

    async fn plan_value(
        &self,
        ctx: &Ctx<P>,
        schema: &Schema,
        prior: &Value,
        proposed: &Value,
        config: &Value,
    ) -> Result<Plan, Diagnostics> {
        if proposed.is_null() {
            return Ok(Plan {
                prior: prior.clone(),
                config: config.clone(),
                planned: Value::Null,
                requires_replace: Vec::new(),
                misuse: Vec::new(),
            });
        }
        let mut plan = plan_resource(&schema.block, prior, proposed, config);
        let result = self.modify_plan(ctx, &mut plan).await;
        let misuse = std::mem::take(&mut plan.misuse);
        if !misuse.is_empty() {
            // A wrong name fails the plan: its change would otherwise be lost.
            let mut diags = misuse_diagnostics(Resource::type_name(self), misuse);
            if let Err(d) = result {
                diags.extend(d);
            }
            return Err(diags);
        }
        result?;
        Ok(plan)
    }

    async fn apply_value(&self, ctx: &Ctx<P>, prior: &Value, planned: &Value) -> ApplyOutcomeBox {
        let outcome = |state: Value, diagnostics: Diagnostics| ApplyOutcomeBox(ApplyOutcome { state, diagnostics });
        let failed = |prior: &Value, d: Diagnostics| outcome(prior.clone(), d);

        if planned.is_null() {
            let prior_model: R::Model = match from_value(prior) {
                Ok(m) => m,
                Err(e) => return failed(prior, model_error("prior state", e)),
            };
            return match self.delete(ctx, prior_model).await {
                Ok(()) => outcome(Value::Null, Diagnostics::new()),
                Err(d) => failed(prior, d),
            };
        }
        let planned_model: R::Model = match from_value(planned) {
            Ok(m) => m,
            Err(e) => return failed(prior, model_error("planned state", e)),
        };
        let result = if prior.is_null() {
            self.create(ctx, planned_model).await
        } else {
            let prior_model: R::Model = match from_value(prior) {
                Ok(m) => m,
                Err(e) => return failed(prior, model_error("prior state", e)),
            };
            self.update(ctx, prior_model, planned_model).await
        };
        match result {
            Ok(model) => match encode_model(&model) {
                Ok(v) => outcome(v, Diagnostics::new()),
                Err(d) => failed(prior, d),
            },
            Err(ApplyError {
                partial_state,
                diagnostics,
            }) => {
                let state = match partial_state.as_ref().map(encode_model) {
                    Some(Ok(v)) => v,
                    _ => prior.clone(),
                };
                outcome(state, diagnostics)
            }
        }
    }

    async fn read_value(&self, ctx: &Ctx<P>, current: &Value) -> Result<Value, Diagnostics> {
        let model: R::Model = from_value(current).map_err(|e| model_error("stored state", e))?;
        match self.read(ctx, model).await? {
            Some(m) => encode_model(&m),
            None => Ok(Value::Null),
        }
    }

    async fn import_value(&self, ctx: &Ctx<P>, id: &str) -> Result<Value, Diagnostics> {
        let model = self.import(ctx, id).await?;
        encode_model(&model)
    }

    async fn upgrade_json(&self, version: i64, state: serde_json::Value) -> Result<serde_json::Value, Diagnostics> {
        self.upgrade_state(version, state).await
    }

    async fn move_json(&self, from: &MoveSource) -> Option<Result<serde_json::Value, Diagnostics>> {
        self.move_state(from).await
    }
}

/// Value-level view of a data source, implemented for every [`DataSource`].
#[async_trait]
pub trait AnyDataSource<P>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// Whether the model matches the schema in names, types and optionality
    /// (see [`crate::check_model`]); for a test over every data source.
    fn check_model(&self) -> Result<(), Vec<String>>;
    #[doc(hidden)]
    async fn validate_value(&self, schema: &Schema, config: &Value) -> Diagnostics;
    #[doc(hidden)]
    async fn read_value(&self, ctx: &Ctx<P>, config: &Value) -> Result<Value, Diagnostics>;
}

#[async_trait]
impl<P, D> AnyDataSource<P> for D
where
    P: Send + Sync + 'static,
    D: DataSource<P>,
{
    fn type_name(&self) -> &'static str {
        DataSource::type_name(self)
    }

    fn schema(&self) -> Schema {
        DataSource::schema(self)
    }

    fn check_model(&self) -> Result<(), Vec<String>> {
        crate::check_model::<D::Model>(DataSource::type_name(self), &DataSource::schema(self))
    }

    async fn validate_value(&self, schema: &Schema, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::new();
        schema.block.validate(config, &AttrPath::root(), &mut diags);
        let (view, misuse) = ConfigView::checked(config, &schema.block);
        diags.extend(self.validate(&view).await);
        diags.extend(misuse.diagnostics(DataSource::type_name(self)));
        diags
    }

    async fn read_value(&self, ctx: &Ctx<P>, config: &Value) -> Result<Value, Diagnostics> {
        let model: D::Model = from_value(config).map_err(|e| model_error("configuration", e))?;
        let state = self.read(ctx, model).await?;
        encode_model(&state)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::schema::Attribute;

    /// What the test resource's `validate` and `modify_plan` do wrong (or right).
    #[derive(Clone, Copy)]
    enum Mistake {
        None,
        GetUnknownName,
        GetWrongType,
        SetUnknownName,
        SetUnknownUnknownName,
        ReplaceUnknownName,
    }

    struct Thing(Mistake);

    #[derive(Serialize, Deserialize)]
    struct ThingModel {
        name: String,
        id: Option<String>,
    }

    #[async_trait]
    impl Resource<()> for Thing {
        type Model = ThingModel;
        fn type_name(&self) -> &'static str {
            "test_thing"
        }
        fn schema(&self) -> Schema {
            Schema::new("thing")
                .attribute(Attribute::string("name").required())
                .attribute(Attribute::string("id").computed())
        }
        async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
            let mut diags = Diagnostics::new();
            let name = match self.0 {
                Mistake::GetUnknownName => config.get::<String>("nmae"),
                Mistake::GetWrongType => match config.get::<i64>("name") {
                    Val::Known(n) => Val::Known(n.to_string()),
                    Val::Null => Val::Null,
                    Val::Unknown => Val::Unknown,
                },
                _ => config.get::<String>("name"),
            };
            // The check the misuse would skip: it reads the name as unknown.
            if name == Val::Known("forbidden".to_string()) {
                diags.error("Forbidden name", "no");
            }
            diags
        }
        async fn modify_plan(&self, _ctx: &Ctx<()>, plan: &mut Plan) -> Result<(), Diagnostics> {
            match self.0 {
                Mistake::SetUnknownName => plan.set("idd", "x"),
                Mistake::SetUnknownUnknownName => plan.set_unknown("idd"),
                Mistake::ReplaceUnknownName => plan.require_replace("nmae"),
                _ => {
                    plan.set("id", "planned-id");
                    plan.require_replace("name");
                }
            }
            Ok(())
        }
        async fn create(&self, _c: &Ctx<()>, m: ThingModel) -> Result<ThingModel, ApplyError<ThingModel>> {
            Ok(m)
        }
        async fn read(&self, _c: &Ctx<()>, m: ThingModel) -> Result<Option<ThingModel>, Diagnostics> {
            Ok(Some(m))
        }
        async fn update(
            &self,
            _c: &Ctx<()>,
            _p: ThingModel,
            m: ThingModel,
        ) -> Result<ThingModel, ApplyError<ThingModel>> {
            Ok(m)
        }
        async fn delete(&self, _c: &Ctx<()>, _m: ThingModel) -> Result<(), Diagnostics> {
            Ok(())
        }
    }

    fn config(name: &str) -> Value {
        Value::Object(BTreeMap::from([
            ("name".to_string(), Value::from(name)),
            ("id".to_string(), Value::Null),
        ]))
    }

    async fn validate(mistake: Mistake, name: &str) -> Diagnostics {
        let r = Thing(mistake);
        AnyResource::<()>::validate_value(&r, &Resource::schema(&r), &config(name)).await
    }

    async fn plan(mistake: Mistake) -> Result<Plan, Diagnostics> {
        let r = Thing(mistake);
        let ctx = Ctx::new(Arc::new(()), CancellationToken::new(), Value::Null);
        let prior = Value::Object(BTreeMap::from([
            ("name".to_string(), Value::from("a")),
            ("id".to_string(), Value::from("old-id")),
        ]));
        let c = config("b");
        AnyResource::<()>::plan_value(&r, &ctx, &Resource::schema(&r), &prior, &c, &c).await
    }

    fn internal_error_naming(diags: &Diagnostics, name: &str) -> bool {
        diags.iter().any(|d| {
            d.is_error()
                && d.summary == "Provider internal error"
                && d.detail.contains(&format!("`{name}`"))
                && d.detail.contains("test_thing")
        })
    }

    #[tokio::test]
    async fn validation_reads_by_schema_names_pass() {
        assert!(validate(Mistake::None, "ok").await.is_empty());
        assert!(validate(Mistake::None, "forbidden").await.has_errors());
    }

    #[tokio::test]
    async fn reading_a_name_the_schema_lacks_fails_validation() {
        let diags = validate(Mistake::GetUnknownName, "forbidden").await;
        assert!(internal_error_naming(&diags, "nmae"), "{diags}");
        assert!(
            diags.iter().all(|d| d.path.is_none()),
            "no path to a missing attribute: {diags}"
        );
        // Fails closed even where the skipped check would have passed.
        assert!(internal_error_naming(
            &validate(Mistake::GetUnknownName, "ok").await,
            "nmae"
        ));
    }

    #[tokio::test]
    async fn reading_a_value_as_the_wrong_type_fails_validation() {
        let diags = validate(Mistake::GetWrongType, "ok").await;
        assert!(internal_error_naming(&diags, "name"), "{diags}");
        assert!(diags.iter().any(|d| d.detail.contains("i64")), "{diags}");
        assert!(diags.iter().any(|d| d.path == Some(AttrPath::new("name"))), "{diags}");
    }

    #[tokio::test]
    async fn plan_changes_by_schema_names_apply() {
        let plan = plan(Mistake::None).await.expect("plan");
        assert_eq!(plan.planned_value().attr("id"), &Value::from("planned-id"));
        assert_eq!(plan.requires_replace, vec![AttrPath::new("name")]);
    }

    #[tokio::test]
    async fn plan_changes_to_names_the_schema_lacks_fail_the_plan() {
        for (mistake, name) in [
            (Mistake::SetUnknownName, "idd"),
            (Mistake::SetUnknownUnknownName, "idd"),
            (Mistake::ReplaceUnknownName, "nmae"),
        ] {
            match plan(mistake).await {
                Ok(p) => panic!("planned {:?} despite `{name}`", p.planned_value()),
                Err(diags) => assert!(internal_error_naming(&diags, name), "{diags}"),
            }
        }
    }
}
