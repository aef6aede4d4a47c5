//! A runtime for Terraform providers written in Rust: the go-plugin handshake
//! with AutoMTLS, the tfplugin6 gRPC services, the cty value model with its
//! msgpack and JSON codecs, and a typed resource API.
//!
//! This crate knows nothing about any particular provider. See
//! `ARCHITECTURE.md` at the repository root for how the pieces fit.

mod diag;
pub mod log;
mod model_check;
mod plan;
mod provider;
mod resource;
pub mod schema;
pub mod server;
pub mod timeouts;
pub mod value;

pub mod proto {
    //! Code generated from `proto/` (tfplugin6 and go-plugin's services).
    #![allow(clippy::all, missing_docs)]
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
}

pub use async_trait::async_trait;
pub use diag::{AttrPath, Diagnostic, Diagnostics, PathStep, Severity};
pub use model_check::check_model;
pub use plan::Plan;
pub use provider::{ConfigureRequest, Provider, unknown_config_diagnostic};
pub use resource::{
    AnyDataSource, AnyResource, ApplyError, ConfigView, Ctx, DataSource, MoveSource, Resource, Val, rpc_cancellation,
};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema};
pub use server::{ServeOptions, main, serve};
pub use tokio_util::sync::CancellationToken;
pub use value::{Number, Type, Value};
