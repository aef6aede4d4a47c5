//! The Vantage API stand-in: the v1 and v2 endpoints of `devstack/README.md` behind one
//! gate (auth, rate limit, faults, counts), plus the admin API under `/_devstack/`.

pub mod account;
pub mod arn;
pub mod auth;
pub mod errors;
pub mod gate;
pub mod integrations;
pub mod propagation;
pub mod rate_limit;
pub mod status;
pub mod store;
pub mod v2;

use axum::Router;
use axum::middleware;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::admin;
use crate::app::App;
use auth::{Access, Scope};

/// One API operation: how it is routed, named (in request counts and fault patterns) and
/// authorised. The single source for the router and the gate.
pub struct Endpoint {
    pub method: &'static str,
    pub template: &'static str,
    pub access: Access,
    handler: fn(MethodFilter) -> MethodRouter<App>,
}

impl Endpoint {
    /// `GET /v1/integrations/aws/{id}`
    pub fn operation(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    fn filter(&self) -> MethodFilter {
        match self.method {
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "DELETE" => MethodFilter::DELETE,
            _ => MethodFilter::GET,
        }
    }
}

const READ: Access = Access::Needs(Scope::Read);
const WRITE: Access = Access::Needs(Scope::Write);

/// Static paths come before templated ones that would also match them (`info` before `{id}`).
pub static ENDPOINTS: [Endpoint; 11] = [
    Endpoint {
        method: "GET",
        template: "/v1/ping",
        access: Access::AnyToken,
        handler: |f| on(f, integrations::ping),
    },
    Endpoint {
        method: "GET",
        template: "/v2/ping",
        access: Access::AnyToken,
        handler: |f| on(f, integrations::ping),
    },
    Endpoint {
        method: "GET",
        template: "/v1/integrations/aws/info",
        access: READ,
        handler: |f| on(f, integrations::info),
    },
    Endpoint {
        method: "POST",
        template: "/v1/integrations/aws",
        access: WRITE,
        handler: |f| on(f, integrations::create),
    },
    Endpoint {
        method: "GET",
        template: "/v1/integrations/aws/{id}",
        access: WRITE,
        handler: |f| on(f, integrations::read),
    },
    Endpoint {
        method: "PUT",
        template: "/v1/integrations/aws/{id}",
        access: WRITE,
        handler: |f| on(f, integrations::update),
    },
    Endpoint {
        method: "DELETE",
        template: "/v1/integrations/aws/{id}",
        access: WRITE,
        handler: |f| on(f, integrations::delete),
    },
    Endpoint {
        method: "GET",
        template: "/v2/integrations",
        access: READ,
        handler: |f| on(f, v2::list),
    },
    Endpoint {
        method: "GET",
        template: "/v2/integrations/{token}",
        access: READ,
        handler: |f| on(f, v2::get),
    },
    Endpoint {
        method: "PUT",
        template: "/v2/integrations/{token}",
        access: WRITE,
        handler: |f| on(f, v2::update),
    },
    Endpoint {
        method: "DELETE",
        template: "/v2/integrations/{token}",
        access: WRITE,
        handler: |f| on(f, v2::delete),
    },
];

/// Operation names, for validating fault patterns.
pub fn operations() -> Vec<String> {
    ENDPOINTS.iter().map(Endpoint::operation).collect()
}

pub fn endpoint_for(method: &str, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .find(|e| e.method == method && template_matches(e.template, path))
}

/// `{name}` segments match any one non-empty segment.
fn template_matches(template: &str, path: &str) -> bool {
    let mut wanted = template.split('/');
    let mut actual = path.split('/');
    loop {
        match (wanted.next(), actual.next()) {
            (None, None) => return true,
            (Some(w), Some(a)) if w.starts_with('{') && !a.is_empty() => {}
            (Some(w), Some(a)) if w == a => {}
            _ => return false,
        }
    }
}

/// The whole vantage port: API routes behind the gate, admin routes beside them.
pub fn router(app: App) -> Router {
    let mut api: Router<App> = Router::new();
    for endpoint in &ENDPOINTS {
        api = api.route(endpoint.template, (endpoint.handler)(endpoint.filter()));
    }
    let api = api
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), gate::gate));
    Router::new()
        .nest("/_devstack", admin::router())
        .merge(api)
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_resolve_to_templates() {
        let op = |m, p| endpoint_for(m, p).map(Endpoint::operation);
        assert_eq!(
            op("GET", "/v1/integrations/aws/info").as_deref(),
            Some("GET /v1/integrations/aws/info")
        );
        assert_eq!(
            op("GET", "/v1/integrations/aws/42").as_deref(),
            Some("GET /v1/integrations/aws/{id}")
        );
        assert_eq!(
            op("DELETE", "/v2/integrations/accss_crdntl_1").as_deref(),
            Some("DELETE /v2/integrations/{token}")
        );
        assert_eq!(op("GET", "/v1/integrations/aws/"), None);
        assert_eq!(op("POST", "/v1/ping"), None);
        assert_eq!(op("GET", "/v1/ping/extra"), None);
    }
}
