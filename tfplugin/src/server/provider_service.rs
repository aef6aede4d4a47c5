//! The tfplugin6 `Provider` service: decodes Terraform's requests, drives the
//! typed resources, and encodes their answers.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::proto::tfplugin6 as pb;
use crate::proto::tfplugin6::provider_server::Provider as ProviderRpc;
use crate::provider::{ConfigureRequest, Provider};
use crate::resource::{AnyDataSource, AnyResource, ConfigView, Ctx, MoveSource};
use crate::schema::Schema;
use crate::value::{self, Type, Value};
use crate::{Diagnostic, Diagnostics, log};

/// What a resource or data source entry builds its schema from.
trait SchemaSource {
    fn build_schema(&self) -> Schema;
}

impl<D> SchemaSource for dyn AnyResource<D> {
    fn build_schema(&self) -> Schema {
        self.schema()
    }
}

impl<D> SchemaSource for dyn AnyDataSource<D> {
    fn build_schema(&self) -> Schema {
        self.schema()
    }
}

/// A resource or data source with its schema and value type, built on first
/// use: most processes Terraform starts touch one or two of the types, and
/// building every schema up front took ~0.2 ms of each start.
struct Entry<I: ?Sized> {
    imp: Arc<I>,
    built: OnceLock<(Schema, Type)>,
}

impl<I: ?Sized + SchemaSource> Entry<I> {
    fn new(imp: Arc<I>) -> Entry<I> {
        Entry {
            imp,
            built: OnceLock::new(),
        }
    }

    fn built(&self) -> &(Schema, Type) {
        self.built.get_or_init(|| {
            let schema = self.imp.build_schema();
            let ty = schema.ty();
            (schema, ty)
        })
    }

    fn schema(&self) -> &Schema {
        &self.built().0
    }

    fn ty(&self) -> &Type {
        &self.built().1
    }
}

type ResourceEntry<D> = Entry<dyn AnyResource<D>>;
type DataSourceEntry<D> = Entry<dyn AnyDataSource<D>>;

pub struct ProviderService<P: Provider> {
    provider: Arc<P>,
    schema: Schema,
    ty: Type,
    resources: HashMap<&'static str, ResourceEntry<P::Data>>,
    data_sources: HashMap<&'static str, DataSourceEntry<P::Data>>,
    configured: RwLock<Option<Arc<P::Data>>>,
    /// Replaced after each StopProvider, so later calls run normally.
    stop: Mutex<CancellationToken>,
}

impl<P: Provider> ProviderService<P> {
    pub fn new(provider: P) -> ProviderService<P> {
        let schema = provider.schema();
        let ty = schema.ty();
        let resources = provider
            .resources()
            .into_iter()
            .map(|imp| (imp.type_name(), Entry::new(imp)))
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|imp| (imp.type_name(), Entry::new(imp)))
            .collect();
        ProviderService {
            provider: Arc::new(provider),
            schema,
            ty,
            resources,
            data_sources,
            configured: RwLock::new(None),
            stop: Mutex::new(CancellationToken::new()),
        }
    }

    fn stop_token(&self) -> CancellationToken {
        self.stop.lock().map(|t| t.clone()).unwrap_or_default()
    }

    fn resource(&self, name: &str) -> Result<&ResourceEntry<P::Data>, Diagnostics> {
        self.resources.get(name).ok_or_else(|| unknown_type("resource", name))
    }

    fn data_source(&self, name: &str) -> Result<&DataSourceEntry<P::Data>, Diagnostics> {
        self.data_sources
            .get(name)
            .ok_or_else(|| unknown_type("data source", name))
    }

    fn ctx(&self, config: Value) -> Result<Ctx<P::Data>, Diagnostics> {
        let data = self.configured.read().ok().and_then(|g| g.clone()).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Provider not configured",
                "Terraform called the provider before configuring it. Please report this bug.",
            ))
        })?;
        Ok(Ctx::new(data, self.stop_token(), config))
    }

    /// Runs a read-only operation, abandoning it when Terraform asks to stop.
    async fn cancellable<T>(
        &self,
        ctx: &Ctx<P::Data>,
        fut: impl Future<Output = Result<T, Diagnostics>>,
    ) -> Result<T, Diagnostics> {
        tokio::select! {
            r = fut => r,
            _ = ctx.cancellation().cancelled() => Err(Diagnostic::error(
                "Operation cancelled",
                "Terraform asked the provider to stop (for example after Ctrl-C); the operation was abandoned.",
            ).into()),
        }
    }
}

fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    Diagnostic::error(
        format!("Unknown {kind} type"),
        format!("This provider has no {kind} type {name:?}. Check the spelling and the provider version."),
    )
    .into()
}

fn decode(dv: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Diagnostics> {
    let Some(dv) = dv else { return Ok(Value::Null) };
    let result = if !dv.msgpack.is_empty() {
        value::decode_msgpack(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        value::decode_json(&dv.json, ty)
    } else {
        Ok(Value::Null)
    };
    result.map_err(|e| {
        Diagnostic::error(
            "Provider internal error",
            format!("Could not decode a value from Terraform: {e}. Please report this bug."),
        )
        .into()
    })
}

fn encode(v: &Value, ty: &Type) -> Result<pb::DynamicValue, Diagnostics> {
    value::encode_msgpack(v, ty)
        .map(|msgpack| pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(|e| {
            Diagnostic::error(
                "Provider internal error",
                format!("Could not encode a value for Terraform: {e}. Please report this bug."),
            )
            .into()
        })
}

fn register_sensitive(schema: &Schema, v: &Value) {
    schema.block.visit_sensitive(v, &mut |s| log::register_secret(s));
}

fn diags_of<T>(r: &Result<T, Diagnostics>) -> Vec<pb::Diagnostic> {
    match r {
        Ok(_) => Vec::new(),
        Err(d) => d.to_proto(),
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: true,
        move_resource_state: true,
    }
}

/// JSON state decoded (leniently) into the current schema's value.
fn json_to_value(json: &serde_json::Value, ty: &Type) -> Result<Value, Diagnostics> {
    value::decode_json_value(json, ty).map_err(|e| {
        Diagnostic::error(
            "Invalid stored state",
            format!("The stored state does not match the current schema: {e}."),
        )
        .into()
    })
}

type RpcResult<T> = Result<Response<T>, Status>;

/// A response that can carry an error diagnostic in place of its answer.
trait PanicAnswer: Default {
    fn with_diagnostic(d: pb::Diagnostic) -> Self;
}

macro_rules! panic_answer {
    ($($rpc:ident),* $(,)?) => {$(
        impl PanicAnswer for pb::$rpc::Response {
            // Some responses hold nothing but diagnostics.
            #[allow(clippy::needless_update)]
            fn with_diagnostic(d: pb::Diagnostic) -> Self {
                Self { diagnostics: vec![d], ..Default::default() }
            }
        }
    )*};
}

panic_answer!(
    get_provider_schema,
    validate_provider_config,
    validate_resource_config,
    validate_data_resource_config,
    upgrade_resource_state,
    configure_provider,
    read_resource,
    plan_resource_change,
    apply_resource_change,
    import_resource_state,
    move_resource_state,
    read_data_source,
);

/// Runs a handler that calls provider code; a panic in it becomes an error
/// diagnostic (redacted, as every diagnostic) instead of a dropped
/// connection, which Terraform reports without the message. Unwind safety:
/// the service's shared state is a few locks, each read with poisoning
/// treated as absent, so later RPCs see "not configured", never torn data.
///
/// `cancel` is the RPC's cancellation (the one its `Ctx` gets), visible to code below the
/// resources through `rpc_cancellation`.
async fn guard<T: PanicAnswer>(
    rpc: &str,
    cancel: CancellationToken,
    handler: impl Future<Output = RpcResult<T>>,
) -> RpcResult<T> {
    let handler = crate::resource::with_rpc_cancellation(cancel, handler);
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(answer) => answer,
        Err(payload) => {
            let message = log::panic_message(payload.as_ref());
            let d = Diagnostic::error(
                "Provider internal error",
                format!(
                    "The provider panicked during {rpc}: {message}. Please report this bug, with the log \
                     of the run at TF_LOG=trace."
                ),
            );
            Ok(Response::new(T::with_diagnostic(d.to_proto())))
        }
    }
}

#[tonic::async_trait]
impl<P: Provider> ProviderRpc for ProviderService<P> {
    async fn get_metadata(&self, _r: Request<pb::get_metadata::Request>) -> RpcResult<pb::get_metadata::Response> {
        let mut resources: Vec<_> = self.resources.keys().map(|n| n.to_string()).collect();
        let mut data_sources: Vec<_> = self.data_sources.keys().map(|n| n.to_string()).collect();
        resources.sort();
        data_sources.sort();
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            diagnostics: Vec::new(),
            data_sources: data_sources
                .into_iter()
                .map(|type_name| pb::get_metadata::DataSourceMetadata { type_name })
                .collect(),
            resources: resources
                .into_iter()
                .map(|type_name| pb::get_metadata::ResourceMetadata { type_name })
                .collect(),
            functions: Vec::new(),
            ephemeral_resources: Vec::new(),
        }))
    }

    async fn get_provider_schema(
        &self,
        _r: Request<pb::get_provider_schema::Request>,
    ) -> RpcResult<pb::get_provider_schema::Response> {
        guard("GetProviderSchema", self.stop_token(), async move {
            Ok(Response::new(pb::get_provider_schema::Response {
                provider: Some(self.schema.to_proto()),
                resource_schemas: self
                    .resources
                    .iter()
                    .map(|(n, e)| (n.to_string(), e.schema().to_proto()))
                    .collect(),
                data_source_schemas: self
                    .data_sources
                    .iter()
                    .map(|(n, e)| (n.to_string(), e.schema().to_proto()))
                    .collect(),
                diagnostics: Vec::new(),
                provider_meta: None,
                server_capabilities: Some(capabilities()),
                functions: HashMap::new(),
                ephemeral_resource_schemas: HashMap::new(),
            }))
        })
        .await
    }

    async fn validate_provider_config(
        &self,
        r: Request<pb::validate_provider_config::Request>,
    ) -> RpcResult<pb::validate_provider_config::Response> {
        guard("ValidateProviderConfig", self.stop_token(), async move {
            let r = r.into_inner();
            let result = async {
                let config = decode(r.config.as_ref(), &self.ty)?;
                register_sensitive(&self.schema, &config);
                let mut diags = Diagnostics::new();
                self.schema
                    .block
                    .validate(&config, &crate::AttrPath::root(), &mut diags);
                let (view, misuse) = ConfigView::checked(&config, &self.schema.block);
                diags.extend(self.provider.validate(&view).await);
                diags.extend(misuse.diagnostics(&format!("the provider block of {}", self.provider.type_name())));
                Ok::<_, Diagnostics>(diags)
            }
            .await;
            let diagnostics = match result {
                Ok(d) | Err(d) => d.to_proto(),
            };
            Ok(Response::new(pb::validate_provider_config::Response { diagnostics }))
        })
        .await
    }

    async fn validate_resource_config(
        &self,
        r: Request<pb::validate_resource_config::Request>,
    ) -> RpcResult<pb::validate_resource_config::Response> {
        guard("ValidateResourceConfig", self.stop_token(), async move {
            let r = r.into_inner();
            let result = async {
                let entry = self.resource(&r.type_name)?;
                let config = decode(r.config.as_ref(), entry.ty())?;
                register_sensitive(entry.schema(), &config);
                Ok::<_, Diagnostics>(entry.imp.validate_value(entry.schema(), &config).await)
            }
            .await;
            let diagnostics = match result {
                Ok(d) | Err(d) => d.to_proto(),
            };
            Ok(Response::new(pb::validate_resource_config::Response { diagnostics }))
        })
        .await
    }

    async fn validate_data_resource_config(
        &self,
        r: Request<pb::validate_data_resource_config::Request>,
    ) -> RpcResult<pb::validate_data_resource_config::Response> {
        guard("ValidateDataResourceConfig", self.stop_token(), async move {
            let r = r.into_inner();
            let result = async {
                let entry = self.data_source(&r.type_name)?;
                let config = decode(r.config.as_ref(), entry.ty())?;
                register_sensitive(entry.schema(), &config);
                Ok::<_, Diagnostics>(entry.imp.validate_value(entry.schema(), &config).await)
            }
            .await;
            let diagnostics = match result {
                Ok(d) | Err(d) => d.to_proto(),
            };
            Ok(Response::new(pb::validate_data_resource_config::Response {
                diagnostics,
            }))
        })
        .await
    }

    async fn upgrade_resource_state(
        &self,
        r: Request<pb::upgrade_resource_state::Request>,
    ) -> RpcResult<pb::upgrade_resource_state::Response> {
        guard("UpgradeResourceState", self.stop_token(), async move {
            let r = r.into_inner();
            let result = async {
                let entry = self.resource(&r.type_name)?;
                let raw = r.raw_state.unwrap_or_default();
                if raw.json.is_empty() {
                    return Err(Diagnostic::error(
                        "Unsupported state format",
                        "This state was written in the pre-0.12 flatmap format, which this provider cannot read. \
                     Refresh it with a Terraform version between 0.12 and 1.x first.",
                    )
                    .into());
                }
                let json: serde_json::Value = serde_json::from_slice(&raw.json).map_err(|e| {
                    Diagnostics::from(Diagnostic::error(
                        "Invalid stored state",
                        format!("The state is not JSON: {e}."),
                    ))
                })?;
                let upgraded = entry.imp.upgrade_json(r.version, json).await?;
                let v = json_to_value(&upgraded, entry.ty())?;
                register_sensitive(entry.schema(), &v);
                encode(&v, entry.ty())
            }
            .await;
            let diagnostics = diags_of(&result);
            Ok(Response::new(pb::upgrade_resource_state::Response {
                upgraded_state: result.ok(),
                diagnostics,
            }))
        })
        .await
    }

    async fn configure_provider(
        &self,
        r: Request<pb::configure_provider::Request>,
    ) -> RpcResult<pb::configure_provider::Response> {
        guard("ConfigureProvider", self.stop_token(), async move {
            let r = r.into_inner();
            let result = async {
                let config = decode(r.config.as_ref(), &self.ty)?;
                register_sensitive(&self.schema, &config);
                let (view, misuse) = ConfigView::checked(&config, &self.schema.block);
                let data = self
                    .provider
                    .configure(ConfigureRequest {
                        terraform_version: &r.terraform_version,
                        config: view,
                    })
                    .await;
                let misuse = misuse.diagnostics(&format!("the provider block of {}", self.provider.type_name()));
                let data = match data {
                    Ok(data) if misuse.is_empty() => data,
                    Ok(_) => return Err(misuse),
                    Err(mut d) => {
                        d.extend(misuse);
                        return Err(d);
                    }
                };
                if let Ok(mut slot) = self.configured.write() {
                    *slot = Some(Arc::new(data));
                }
                Ok::<_, Diagnostics>(())
            }
            .await;
            Ok(Response::new(pb::configure_provider::Response {
                diagnostics: diags_of(&result),
            }))
        })
        .await
    }

    async fn read_resource(&self, r: Request<pb::read_resource::Request>) -> RpcResult<pb::read_resource::Response> {
        guard("ReadResource", self.stop_token(), async move {
            let r = r.into_inner();
            tracing::debug!(target: "tfplugin", rpc = "ReadResource", type_name = %r.type_name);
            let mut warnings = Diagnostics::new();
            let result = async {
                let entry = self.resource(&r.type_name)?;
                let current = decode(r.current_state.as_ref(), entry.ty())?;
                register_sensitive(entry.schema(), &current);
                let ctx = self.ctx(Value::Null)?;
                let out = self.cancellable(&ctx, entry.imp.read_value(&ctx, &current)).await;
                warnings = ctx.take_warnings();
                let new_state = out?;
                register_sensitive(entry.schema(), &new_state);
                encode(&new_state, entry.ty())
            }
            .await;
            let mut diagnostics = warnings.to_proto();
            diagnostics.extend(diags_of(&result));
            Ok(Response::new(pb::read_resource::Response {
                new_state: result.ok(),
                diagnostics,
                private: r.private,
                deferred: None,
            }))
        })
        .await
    }

    async fn plan_resource_change(
        &self,
        r: Request<pb::plan_resource_change::Request>,
    ) -> RpcResult<pb::plan_resource_change::Response> {
        guard("PlanResourceChange", self.stop_token(), async move {
            let r = r.into_inner();
            tracing::debug!(target: "tfplugin", rpc = "PlanResourceChange", type_name = %r.type_name);
            let mut warnings = Diagnostics::new();
            let result = async {
                let entry = self.resource(&r.type_name)?;
                let prior = decode(r.prior_state.as_ref(), entry.ty())?;
                let proposed = decode(r.proposed_new_state.as_ref(), entry.ty())?;
                let config = decode(r.config.as_ref(), entry.ty())?;
                // Prior state too: with `-refresh=false` no ReadResource
                // registered it in this process, and the plan may read the object.
                for v in [&config, &prior, &proposed] {
                    register_sensitive(entry.schema(), v);
                }
                let ctx = self.ctx(config.clone())?;
                let plan = self
                    .cancellable(
                        &ctx,
                        entry.imp.plan_value(&ctx, entry.schema(), &prior, &proposed, &config),
                    )
                    .await;
                warnings = ctx.take_warnings();
                let plan = plan?;
                let planned = encode(&plan.planned, entry.ty())?;
                Ok::<_, Diagnostics>((planned, plan.requires_replace))
            }
            .await;
            let mut diagnostics = warnings.to_proto();
            diagnostics.extend(diags_of(&result));
            let (planned_state, requires_replace) = match result {
                Ok((p, rr)) => (Some(p), rr.iter().map(crate::AttrPath::to_proto).collect()),
                Err(_) => (None, Vec::new()),
            };
            Ok(Response::new(pb::plan_resource_change::Response {
                planned_state,
                requires_replace,
                planned_private: r.prior_private,
                diagnostics,
                legacy_type_system: false,
                deferred: None,
            }))
        })
        .await
    }

    async fn apply_resource_change(
        &self,
        r: Request<pb::apply_resource_change::Request>,
    ) -> RpcResult<pb::apply_resource_change::Response> {
        guard("ApplyResourceChange", self.stop_token(), async move {
            let r = r.into_inner();
            tracing::debug!(target: "tfplugin", rpc = "ApplyResourceChange", type_name = %r.type_name);
            let result = async {
                let entry = self.resource(&r.type_name)?;
                let prior = decode(r.prior_state.as_ref(), entry.ty())?;
                let planned = decode(r.planned_state.as_ref(), entry.ty())?;
                let config = decode(r.config.as_ref(), entry.ty())?;
                // Prior state too: a destroy's process reads the object (and the
                // SDK traces it) with nothing else registered.
                for v in [&config, &planned, &prior] {
                    register_sensitive(entry.schema(), v);
                }
                let ctx = self.ctx(config)?;
                // Apply is not abandoned on Stop: resources finish or fail with
                // partial state themselves, so nothing created goes untracked.
                let outcome = entry.imp.apply_value(&ctx, &prior, &planned).await.0;
                let mut diagnostics = ctx.take_warnings();
                diagnostics.extend(outcome.diagnostics);
                register_sensitive(entry.schema(), &outcome.state);
                let state = encode(&outcome.state, entry.ty())?;
                Ok::<_, Diagnostics>((state, diagnostics))
            }
            .await;
            let (new_state, diagnostics) = match result {
                Ok((s, d)) => (Some(s), d.to_proto()),
                Err(d) => (None, d.to_proto()),
            };
            Ok(Response::new(pb::apply_resource_change::Response {
                new_state,
                private: r.planned_private,
                diagnostics,
                legacy_type_system: false,
            }))
        })
        .await
    }

    async fn import_resource_state(
        &self,
        r: Request<pb::import_resource_state::Request>,
    ) -> RpcResult<pb::import_resource_state::Response> {
        guard("ImportResourceState", self.stop_token(), async move {
            let r = r.into_inner();
            let mut warnings = Diagnostics::new();
            let result = async {
                let entry = self.resource(&r.type_name)?;
                let ctx = self.ctx(Value::Null)?;
                // Nothing tells the provider an imported object's secrets before
                // it reads the object, and the SDK traces what it reads: lines
                // wait until the state's sensitive values are registered.
                let hold = log::hold();
                let state = self.cancellable(&ctx, entry.imp.import_value(&ctx, &r.id)).await;
                warnings = ctx.take_warnings();
                if let Ok(state) = &state {
                    register_sensitive(entry.schema(), state);
                }
                hold.release();
                encode(&state?, entry.ty())
            }
            .await;
            let mut diagnostics = warnings.to_proto();
            diagnostics.extend(diags_of(&result));
            let imported_resources = match result {
                Ok(state) => vec![pb::import_resource_state::ImportedResource {
                    type_name: r.type_name,
                    state: Some(state),
                    private: Vec::new(),
                }],
                Err(_) => Vec::new(),
            };
            Ok(Response::new(pb::import_resource_state::Response {
                imported_resources,
                diagnostics,
                deferred: None,
            }))
        })
        .await
    }

    async fn move_resource_state(
        &self,
        r: Request<pb::move_resource_state::Request>,
    ) -> RpcResult<pb::move_resource_state::Response> {
        guard("MoveResourceState", self.stop_token(), async move {
            let r = r.into_inner();
            let result = async {
                let entry = self.resource(&r.target_type_name)?;
                let raw = r.source_state.unwrap_or_default();
                let state: serde_json::Value = serde_json::from_slice(&raw.json).map_err(|e| {
                    Diagnostics::from(Diagnostic::error(
                        "Invalid source state",
                        format!("The moved state is not JSON: {e}."),
                    ))
                })?;
                let source = MoveSource {
                    provider_address: r.source_provider_address.clone(),
                    type_name: r.source_type_name.clone(),
                    schema_version: r.source_schema_version,
                    state,
                };
                let old_id = match &source.state["id"] {
                    serde_json::Value::String(id) if !id.is_empty() => format!(" (the old state's id was {id:?})"),
                    serde_json::Value::Number(id) => format!(" (the old state's id was {id})"),
                    _ => String::new(),
                };
                let moved = entry.imp.move_json(&source).await.ok_or_else(|| {
                    Diagnostics::from(Diagnostic::error(
                        "Unsupported resource move",
                        format!(
                            "{} cannot take state from {} ({}). Remove the moved block and adopt the object with an \
                             `import` block instead: `import {{ to = <address> id = \"<id>\" }}`, with the import id \
                             {} documents{old_id}; forget the old resource with a `removed` block \
                             (`lifecycle {{ destroy = false }}`).",
                            r.target_type_name, r.source_type_name, r.source_provider_address, r.target_type_name
                        ),
                    ))
                })??;
                let v = json_to_value(&moved, entry.ty())?;
                register_sensitive(entry.schema(), &v);
                encode(&v, entry.ty())
            }
            .await;
            let diagnostics = diags_of(&result);
            Ok(Response::new(pb::move_resource_state::Response {
                target_state: result.ok(),
                diagnostics,
                target_private: Vec::new(),
            }))
        })
        .await
    }

    async fn read_data_source(
        &self,
        r: Request<pb::read_data_source::Request>,
    ) -> RpcResult<pb::read_data_source::Response> {
        guard("ReadDataSource", self.stop_token(), async move {
            let r = r.into_inner();
            tracing::debug!(target: "tfplugin", rpc = "ReadDataSource", type_name = %r.type_name);
            let mut warnings = Diagnostics::new();
            let result = async {
                let entry = self.data_source(&r.type_name)?;
                let config = decode(r.config.as_ref(), entry.ty())?;
                register_sensitive(entry.schema(), &config);
                let ctx = self.ctx(config.clone())?;
                let state = self.cancellable(&ctx, entry.imp.read_value(&ctx, &config)).await;
                warnings = ctx.take_warnings();
                let state = state?;
                register_sensitive(entry.schema(), &state);
                encode(&state, entry.ty())
            }
            .await;
            let mut diagnostics = warnings.to_proto();
            diagnostics.extend(diags_of(&result));
            Ok(Response::new(pb::read_data_source::Response {
                state: result.ok(),
                diagnostics,
                deferred: None,
            }))
        })
        .await
    }

    async fn validate_ephemeral_resource_config(
        &self,
        r: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> RpcResult<pb::validate_ephemeral_resource_config::Response> {
        let name = r.into_inner().type_name;
        Ok(Response::new(pb::validate_ephemeral_resource_config::Response {
            diagnostics: unknown_type("ephemeral resource", &name).to_proto(),
        }))
    }

    async fn open_ephemeral_resource(
        &self,
        r: Request<pb::open_ephemeral_resource::Request>,
    ) -> RpcResult<pb::open_ephemeral_resource::Response> {
        let name = r.into_inner().type_name;
        Ok(Response::new(pb::open_ephemeral_resource::Response {
            diagnostics: unknown_type("ephemeral resource", &name).to_proto(),
            ..Default::default()
        }))
    }

    async fn renew_ephemeral_resource(
        &self,
        r: Request<pb::renew_ephemeral_resource::Request>,
    ) -> RpcResult<pb::renew_ephemeral_resource::Response> {
        let name = r.into_inner().type_name;
        Ok(Response::new(pb::renew_ephemeral_resource::Response {
            diagnostics: unknown_type("ephemeral resource", &name).to_proto(),
            ..Default::default()
        }))
    }

    async fn close_ephemeral_resource(
        &self,
        r: Request<pb::close_ephemeral_resource::Request>,
    ) -> RpcResult<pb::close_ephemeral_resource::Response> {
        let name = r.into_inner().type_name;
        Ok(Response::new(pb::close_ephemeral_resource::Response {
            diagnostics: unknown_type("ephemeral resource", &name).to_proto(),
        }))
    }

    async fn get_functions(&self, _r: Request<pb::get_functions::Request>) -> RpcResult<pb::get_functions::Response> {
        Ok(Response::new(pb::get_functions::Response {
            functions: HashMap::new(),
            diagnostics: Vec::new(),
        }))
    }

    async fn call_function(&self, r: Request<pb::call_function::Request>) -> RpcResult<pb::call_function::Response> {
        let name = r.into_inner().name;
        Ok(Response::new(pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError {
                text: format!("this provider has no function {name:?}"),
                function_argument: None,
            }),
        }))
    }

    async fn stop_provider(&self, _r: Request<pb::stop_provider::Request>) -> RpcResult<pb::stop_provider::Response> {
        tracing::info!(target: "tfplugin", "StopProvider: cancelling in-flight operations");
        if let Ok(mut token) = self.stop.lock() {
            token.cancel();
            *token = CancellationToken::new();
        }
        Ok(Response::new(pb::stop_provider::Response { error: String::new() }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::{Attribute, DataSource, Provider};

    /// Blocks forever on its first read; answers at once afterwards.
    struct SlowOnce {
        calls: AtomicUsize,
    }

    #[derive(Serialize, Deserialize)]
    struct Model {
        value: Option<String>,
    }

    #[async_trait::async_trait]
    impl DataSource<()> for SlowOnce {
        type Model = Model;
        fn type_name(&self) -> &'static str {
            "test_slow"
        }
        fn schema(&self) -> Schema {
            Schema::new("slow").attribute(Attribute::string("value").computed())
        }
        async fn read(&self, _ctx: &Ctx<()>, _config: Model) -> Result<Model, Diagnostics> {
            if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                std::future::pending::<()>().await;
            }
            Ok(Model {
                value: Some("done".into()),
            })
        }
    }

    /// Version 1 renamed `title` (v0) to `name`; it also accepts state moved
    /// from a `legacy_thing` of another provider.
    struct Versioned;

    #[derive(Serialize, Deserialize)]
    struct VersionedModel {
        name: Option<String>,
    }

    #[async_trait::async_trait]
    impl crate::Resource<()> for Versioned {
        type Model = VersionedModel;
        fn type_name(&self) -> &'static str {
            "test_versioned"
        }
        fn schema(&self) -> Schema {
            Schema::new("versioned")
                .version(1)
                .attribute(Attribute::string("name").required())
        }
        async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
            // A provider bug on request: reading a name the schema does not have.
            if config.get::<String>("name") == crate::Val::Known("misread".to_string()) {
                let _ = config.get::<String>("nmae");
            }
            Diagnostics::new()
        }
        async fn create(
            &self,
            _c: &Ctx<()>,
            m: VersionedModel,
        ) -> Result<VersionedModel, crate::ApplyError<VersionedModel>> {
            Ok(m)
        }
        async fn read(&self, _c: &Ctx<()>, m: VersionedModel) -> Result<Option<VersionedModel>, Diagnostics> {
            Ok(Some(m))
        }
        async fn update(
            &self,
            _c: &Ctx<()>,
            _p: VersionedModel,
            m: VersionedModel,
        ) -> Result<VersionedModel, crate::ApplyError<VersionedModel>> {
            Ok(m)
        }
        async fn delete(&self, _c: &Ctx<()>, _m: VersionedModel) -> Result<(), Diagnostics> {
            Ok(())
        }
        async fn upgrade_state(
            &self,
            version: i64,
            state: serde_json::Value,
        ) -> Result<serde_json::Value, Diagnostics> {
            match version {
                0 => Ok(serde_json::json!({ "name": state["title"] })),
                1 => Ok(state),
                v => Err(Diagnostic::error("Unsupported state version", format!("version {v}")).into()),
            }
        }
        async fn move_state(&self, from: &crate::MoveSource) -> Option<Result<serde_json::Value, Diagnostics>> {
            (from.type_name == "legacy_thing").then(|| Ok(serde_json::json!({ "name": from.state["label"] })))
        }
    }

    /// Its `token` is sensitive. Import ids `panic:<text>` panic with the
    /// text; other ids import an object whose token is `imported-<id>`, noting
    /// whether log lines were held meanwhile.
    struct Secretive;

    static HELD_DURING_IMPORT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    #[derive(Serialize, Deserialize)]
    struct SecretiveModel {
        name: Option<String>,
        token: Option<String>,
    }

    #[async_trait::async_trait]
    impl crate::Resource<()> for Secretive {
        type Model = SecretiveModel;
        fn type_name(&self) -> &'static str {
            "test_secretive"
        }
        fn schema(&self) -> Schema {
            Schema::new("secretive")
                .attribute(Attribute::string("name").required())
                .attribute(Attribute::string("token").optional().sensitive())
        }
        async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
            if let crate::Val::Known(name) = config.get::<String>("name")
                && let Some(text) = name.strip_prefix("panic:")
            {
                panic!("validation blew up on {text}");
            }
            Diagnostics::new()
        }
        async fn create(
            &self,
            _c: &Ctx<()>,
            m: SecretiveModel,
        ) -> Result<SecretiveModel, crate::ApplyError<SecretiveModel>> {
            Ok(m)
        }
        async fn read(&self, _c: &Ctx<()>, m: SecretiveModel) -> Result<Option<SecretiveModel>, Diagnostics> {
            Ok(Some(m))
        }
        async fn update(
            &self,
            _c: &Ctx<()>,
            _p: SecretiveModel,
            m: SecretiveModel,
        ) -> Result<SecretiveModel, crate::ApplyError<SecretiveModel>> {
            Ok(m)
        }
        async fn delete(&self, _c: &Ctx<()>, _m: SecretiveModel) -> Result<(), Diagnostics> {
            Ok(())
        }
        async fn import(&self, _c: &Ctx<()>, id: &str) -> Result<SecretiveModel, Diagnostics> {
            if let Some(text) = id.strip_prefix("panic:") {
                panic!("import blew up on {text}");
            }
            HELD_DURING_IMPORT.store(log::holding(), Ordering::SeqCst);
            Ok(SecretiveModel {
                name: Some(id.to_string()),
                token: Some(format!("imported-{id}")),
            })
        }
    }

    struct TestProvider;

    #[async_trait::async_trait]
    impl Provider for TestProvider {
        type Data = ();
        fn type_name(&self) -> &'static str {
            "test"
        }
        fn schema(&self) -> Schema {
            Schema::new("test")
        }
        async fn configure(&self, _r: ConfigureRequest<'_>) -> Result<(), Diagnostics> {
            Ok(())
        }
        fn resources(&self) -> Vec<Arc<dyn AnyResource<()>>> {
            vec![Arc::new(Versioned), Arc::new(Secretive)]
        }
        fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource<()>>> {
            vec![Arc::new(SlowOnce {
                calls: AtomicUsize::new(0),
            })]
        }
    }

    fn empty_object(ty: &Type) -> Option<pb::DynamicValue> {
        let msgpack = value::encode_msgpack(&Value::Object(Default::default()), ty).expect("encode");
        Some(pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
    }

    fn read_request(service: &ProviderService<TestProvider>) -> Request<pb::read_data_source::Request> {
        let ty = service.data_sources["test_slow"].ty().clone();
        Request::new(pb::read_data_source::Request {
            type_name: "test_slow".into(),
            config: empty_object(&ty),
            provider_meta: None,
            client_capabilities: None,
        })
    }

    #[tokio::test]
    async fn stop_provider_cancels_in_flight_reads_and_the_server_keeps_serving() {
        let service = Arc::new(ProviderService::new(TestProvider));
        let config = empty_object(&service.ty);
        let configured = service
            .configure_provider(Request::new(pb::configure_provider::Request {
                terraform_version: "1.11.4".into(),
                config,
                client_capabilities: None,
            }))
            .await
            .expect("configure");
        assert!(configured.into_inner().diagnostics.is_empty());

        let slow = {
            let service = service.clone();
            tokio::spawn(async move { service.read_data_source(read_request(&service)).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!slow.is_finished(), "the first read blocks until cancelled");
        service
            .stop_provider(Request::new(pb::stop_provider::Request {}))
            .await
            .expect("stop");
        let cancelled = tokio::time::timeout(std::time::Duration::from_secs(5), slow)
            .await
            .expect("the read returns after StopProvider")
            .expect("task")
            .expect("rpc")
            .into_inner();
        assert!(cancelled.state.is_none());
        assert!(
            cancelled.diagnostics.iter().any(|d| d.summary == "Operation cancelled"),
            "{:?}",
            cancelled.diagnostics
        );

        let again = service
            .read_data_source(read_request(&service))
            .await
            .expect("rpc")
            .into_inner();
        assert!(
            again.diagnostics.is_empty(),
            "later operations run normally: {:?}",
            again.diagnostics
        );
        assert!(again.state.is_some());
    }

    fn decoded_name(service: &ProviderService<TestProvider>, dv: Option<pb::DynamicValue>) -> Option<String> {
        let ty = service.resources["test_versioned"].ty();
        let v = value::decode_msgpack(&dv?.msgpack, ty).ok()?;
        v.attr("name").as_str().map(str::to_string)
    }

    #[tokio::test]
    async fn old_state_versions_are_upgraded_through_the_resource() {
        let service = ProviderService::new(TestProvider);
        let upgrade = |version: i64, json: &str| pb::upgrade_resource_state::Request {
            type_name: "test_versioned".into(),
            version,
            raw_state: Some(pb::RawState {
                json: json.as_bytes().to_vec(),
                flatmap: Default::default(),
            }),
        };
        let v0 = service
            .upgrade_resource_state(Request::new(upgrade(0, r#"{"title":"old"}"#)))
            .await
            .expect("rpc");
        let v0 = v0.into_inner();
        assert!(v0.diagnostics.is_empty(), "{:?}", v0.diagnostics);
        assert_eq!(decoded_name(&service, v0.upgraded_state).as_deref(), Some("old"));

        let v1 = service
            .upgrade_resource_state(Request::new(upgrade(1, r#"{"name":"same"}"#)))
            .await
            .expect("rpc");
        assert_eq!(
            decoded_name(&service, v1.into_inner().upgraded_state).as_deref(),
            Some("same")
        );

        let v9 = service
            .upgrade_resource_state(Request::new(upgrade(9, "{}")))
            .await
            .expect("rpc")
            .into_inner();
        assert!(v9.upgraded_state.is_none());
        assert!(v9.diagnostics.iter().any(|d| d.summary == "Unsupported state version"));
    }

    #[tokio::test]
    async fn moved_blocks_take_state_from_supported_types_only() {
        let service = ProviderService::new(TestProvider);
        let request = |source_type: &str| pb::move_resource_state::Request {
            source_provider_address: "registry.terraform.io/example/legacy".into(),
            source_type_name: source_type.into(),
            source_schema_version: 0,
            source_state: Some(pb::RawState {
                json: br#"{"label":"moved","id":"old-7"}"#.to_vec(),
                flatmap: Default::default(),
            }),
            target_type_name: "test_versioned".into(),
            source_private: Vec::new(),
        };
        let moved = service
            .move_resource_state(Request::new(request("legacy_thing")))
            .await
            .expect("rpc")
            .into_inner();
        assert!(moved.diagnostics.is_empty(), "{:?}", moved.diagnostics);
        assert_eq!(decoded_name(&service, moved.target_state).as_deref(), Some("moved"));

        let refused = service
            .move_resource_state(Request::new(request("other_thing")))
            .await
            .expect("rpc")
            .into_inner();
        assert!(refused.target_state.is_none());
        assert!(
            refused
                .diagnostics
                .iter()
                .any(|d| d.summary == "Unsupported resource move"
                    && d.detail.contains("`import` block")
                    && d.detail.contains("\"old-7\""))
        );
    }

    #[tokio::test]
    async fn validate_resource_config_fails_when_the_provider_reads_a_name_the_schema_lacks() {
        let service = ProviderService::new(TestProvider);
        let ty = service.resources["test_versioned"].ty().clone();
        let validate = |name: &str| {
            let config = Value::Object([("name".to_string(), Value::from(name))].into_iter().collect());
            Request::new(pb::validate_resource_config::Request {
                type_name: "test_versioned".into(),
                config: Some(pb::DynamicValue {
                    msgpack: value::encode_msgpack(&config, &ty).expect("encode"),
                    json: Vec::new(),
                }),
                client_capabilities: None,
            })
        };
        let fine = service
            .validate_resource_config(validate("fine"))
            .await
            .expect("rpc")
            .into_inner();
        assert!(fine.diagnostics.is_empty(), "{:?}", fine.diagnostics);

        let misread = service
            .validate_resource_config(validate("misread"))
            .await
            .expect("rpc")
            .into_inner();
        assert!(
            misread
                .diagnostics
                .iter()
                .any(|d| d.severity == pb::diagnostic::Severity::Error as i32
                    && d.summary == "Provider internal error"
                    && d.detail.contains("`nmae`")),
            "{:?}",
            misread.diagnostics
        );
    }

    async fn configured() -> ProviderService<TestProvider> {
        let service = ProviderService::new(TestProvider);
        let config = empty_object(&service.ty);
        service
            .configure_provider(Request::new(pb::configure_provider::Request {
                terraform_version: "1.11.4".into(),
                config,
                client_capabilities: None,
            }))
            .await
            .expect("configure");
        service
    }

    fn import_request(id: &str) -> Request<pb::import_resource_state::Request> {
        Request::new(pb::import_resource_state::Request {
            type_name: "test_secretive".into(),
            id: id.into(),
            client_capabilities: None,
        })
    }

    #[tokio::test]
    async fn import_holds_log_lines_until_the_imported_secrets_are_registered() {
        let service = configured().await;
        let imported = service
            .import_resource_state(import_request("imp-7f3k"))
            .await
            .expect("rpc")
            .into_inner();
        assert!(imported.diagnostics.is_empty(), "{:?}", imported.diagnostics);
        assert!(
            HELD_DURING_IMPORT.load(Ordering::SeqCst),
            "lines were held while importing"
        );
        assert_eq!(log::redact("imported-imp-7f3k"), "***");
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_with_a_redacted_diagnostic_and_the_server_goes_on() {
        let service = configured().await;
        log::register_secret("hush-hush-42");
        let answer = service
            .import_resource_state(import_request("panic:hush-hush-42"))
            .await
            .expect("the RPC answers")
            .into_inner();
        let d = answer.diagnostics.first().expect("a diagnostic");
        assert_eq!(d.severity, pb::diagnostic::Severity::Error as i32);
        assert_eq!(d.summary, "Provider internal error");
        assert!(
            d.detail
                .contains("panicked during ImportResourceState: import blew up on ***"),
            "{}",
            d.detail
        );

        let ty = service.resources["test_secretive"].ty().clone();
        let config = Value::Object([("name".to_string(), Value::from("panic:x"))].into_iter().collect());
        let validated = service
            .validate_resource_config(Request::new(pb::validate_resource_config::Request {
                type_name: "test_secretive".into(),
                config: Some(pb::DynamicValue {
                    msgpack: value::encode_msgpack(&config, &ty).expect("encode"),
                    json: Vec::new(),
                }),
                client_capabilities: None,
            }))
            .await
            .expect("the RPC answers")
            .into_inner();
        assert!(
            validated
                .diagnostics
                .iter()
                .any(|d| d.detail.contains("validation blew up on x")),
            "{:?}",
            validated.diagnostics
        );
        let again = service
            .import_resource_state(import_request("fine-after-panic"))
            .await
            .expect("rpc")
            .into_inner();
        assert!(again.diagnostics.is_empty(), "{:?}", again.diagnostics);
    }

    #[tokio::test]
    async fn destroy_registers_the_prior_states_secrets_before_the_provider_reads() {
        let service = configured().await;
        let ty = service.resources["test_secretive"].ty().clone();
        let prior = Value::Object(
            [
                ("name".to_string(), Value::from("gone")),
                ("token".to_string(), Value::from("prior-token-9q")),
            ]
            .into_iter()
            .collect(),
        );
        let dv = |v: &Value| {
            Some(pb::DynamicValue {
                msgpack: value::encode_msgpack(v, &ty).expect("encode"),
                json: Vec::new(),
            })
        };
        let applied = service
            .apply_resource_change(Request::new(pb::apply_resource_change::Request {
                type_name: "test_secretive".into(),
                prior_state: dv(&prior),
                planned_state: dv(&Value::Null),
                config: dv(&Value::Null),
                planned_private: Vec::new(),
                provider_meta: None,
            }))
            .await
            .expect("rpc")
            .into_inner();
        assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
        assert_eq!(log::redact("prior-token-9q"), "***");
    }
}
