//! The `provider "vantage" {}` block: schema, validation and configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use tfplugin::schema::validators::custom;
use tfplugin::timeouts::parse_duration;
use tfplugin::{
    AttrPath, Attribute, Block, ConfigView, ConfigureRequest, Diagnostic, Diagnostics, NestedBlock, Nesting, Schema,
    Val,
};

use crate::ProviderData;
use crate::aws::clients::{AssumeRole, AwsClients, AwsSettings, Endpoints};
use crate::vantage::{DEFAULT_HOST, TOKEN_ENV, VantageClient};

pub const HOST_ENV: &str = "VANTAGE_HOST";
pub const TIMEOUT_ENV: &str = "VANTAGE_TIMEOUT";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

const ENDPOINT_SERVICES: [&str; 7] = [
    "iam",
    "sts",
    "s3",
    "cur",
    "bcm_data_exports",
    "organizations",
    "cloudformation",
];

fn url_validator() -> impl tfplugin::schema::Validator {
    custom("an http(s) URL", |v| match v.as_str() {
        Some(s) if s.starts_with("https://") || s.starts_with("http://") => Ok(()),
        Some(s) => Err(format!("{s:?} is not a URL; write it like \"https://api.vantage.sh\".")),
        None => Ok(()),
    })
}

fn timeout_validator() -> impl tfplugin::schema::Validator {
    custom("a duration such as `30s` or `2m`, or whole seconds", |v| {
        v.as_str().map_or(Ok(()), |s| parse_timeout(s).map(drop))
    })
}

/// "30s", "2m" or a bare number of seconds.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = match s.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => parse_duration(s)?,
    };
    if d.is_zero() {
        Err("the timeout must be longer than zero".to_string())
    } else {
        Ok(d)
    }
}

pub fn schema() -> Schema {
    let mut endpoints = Block::new("Per-service AWS endpoint overrides, for LocalStack, moto or the devstack.");
    for service in ENDPOINT_SERVICES {
        endpoints = endpoints.attribute(
            Attribute::string(service)
                .optional()
                .description(&format!("Endpoint URL for the {service} API."))
                .validator(url_validator()),
        );
    }
    Schema::new(
        "Connects AWS accounts to Vantage: the cross-account role, its policies, the Cost and Usage \
         Report and the registration with Vantage's API, from one provider.",
    )
    .attribute(
        Attribute::string("api_token")
            .optional()
            .sensitive()
            .description(&format!(
                "Vantage API token with the read and write scopes. Defaults to the `{TOKEN_ENV}` environment variable."
            )),
    )
    .attribute(
        Attribute::string("host")
            .optional()
            .validator(url_validator())
            .description(&format!(
                "Vantage API base URL. Defaults to `{HOST_ENV}`, else `{DEFAULT_HOST}`."
            )),
    )
    .attribute(
        Attribute::string("timeout")
            .optional()
            .validator(timeout_validator())
            .description(&format!(
                "Timeout of each Vantage API request, e.g. `30s` or `2m`. Defaults to `{TIMEOUT_ENV}`, else `30s`."
            )),
    )
    .attribute(Attribute::string("region").optional().description(
        "AWS region for IAM, S3 and the rest. Defaults to the standard AWS configuration (`AWS_REGION`, \
         the profile). CUR and Data Exports always use us-east-1.",
    ))
    .attribute(
        Attribute::string("profile")
            .optional()
            .description("Named profile from the shared AWS config and credentials files."),
    )
    .attribute(
        Attribute::string("endpoint")
            .optional()
            .validator(url_validator())
            .description(
                "One endpoint for every AWS service, for LocalStack-style stacks (e.g. `http://localhost:4566`).",
            ),
    )
    .block(NestedBlock::new(
        "assume_role",
        Nesting::Single,
        Block::new("Role to assume for all AWS calls, e.g. into a member account.")
            .attribute(
                Attribute::string("role_arn")
                    .required()
                    .description("ARN of the role to assume.")
                    .validator(custom("an IAM role ARN", |v| {
                        v.as_str().map_or(Ok(()), |s| crate::arn::parse_role_arn(s).map(drop))
                    })),
            )
            .attribute(
                Attribute::string("external_id")
                    .optional()
                    .sensitive()
                    .description("External id the role's trust policy requires."),
            )
            .attribute(
                Attribute::string("session_name")
                    .optional()
                    .description("Session name. Defaults to `terraform-provider-vantage`."),
            ),
    ))
    .block(NestedBlock::new("endpoints", Nesting::Single, endpoints))
    .block(NestedBlock::new(
        "default_tags",
        Nesting::Single,
        Block::new("Tags added to every taggable AWS object the provider creates.").attribute(
            Attribute::string_map("tags")
                .optional()
                .description("Tag keys and values."),
        ),
    ))
}

#[derive(Debug, Deserialize)]
struct ProviderModel {
    api_token: Option<String>,
    host: Option<String>,
    timeout: Option<String>,
    region: Option<String>,
    profile: Option<String>,
    endpoint: Option<String>,
    assume_role: Option<AssumeRoleModel>,
    endpoints: Option<EndpointsModel>,
    default_tags: Option<DefaultTagsModel>,
}

#[derive(Debug, Deserialize)]
struct AssumeRoleModel {
    role_arn: String,
    external_id: Option<String>,
    session_name: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct EndpointsModel {
    iam: Option<String>,
    sts: Option<String>,
    s3: Option<String>,
    cur: Option<String>,
    bcm_data_exports: Option<String>,
    organizations: Option<String>,
    cloudformation: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DefaultTagsModel {
    tags: Option<BTreeMap<String, String>>,
}

pub async fn validate(config: &ConfigView<'_>) -> Diagnostics {
    let mut diags = Diagnostics::new();
    if let Val::Known(tags) = config.get::<DefaultTagsModel>("default_tags")
        && let Some(tags) = tags.tags
    {
        for key in tags.keys().filter(|k| k.starts_with("aws:")) {
            diags.push(
                Diagnostic::error(
                    "Invalid default tag",
                    format!("Tag key {key:?} uses the reserved `aws:` prefix; choose another key."),
                )
                .at(AttrPath::new("default_tags").attr("tags").key(key)),
            );
        }
    }
    diags
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub async fn configure(request: ConfigureRequest<'_>) -> Result<ProviderData, Diagnostics> {
    let unknown = request.config.value().unknown_paths();
    if !unknown.is_empty() {
        return Err(tfplugin::unknown_config_diagnostic(&unknown).into());
    }
    let model: ProviderModel = request.config.model().map_err(Diagnostics::from)?;

    let token = model
        .api_token
        .filter(|t| !t.is_empty())
        .or_else(|| env_nonempty(TOKEN_ENV));
    if let Some(t) = &token {
        tfplugin::log::register_secret(t);
    }
    let host = model
        .host
        .or_else(|| env_nonempty(HOST_ENV))
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    let timeout = match model.timeout.or_else(|| env_nonempty(TIMEOUT_ENV)) {
        Some(t) => parse_timeout(&t)
            .map_err(|e| Diagnostics::from(Diagnostic::error("Invalid timeout", e).at(AttrPath::new("timeout"))))?,
        None => DEFAULT_TIMEOUT,
    };
    let vantage = VantageClient::new(&host, token, timeout)
        .map_err(|e| Diagnostics::from(Diagnostic::error("Invalid Vantage host", e).at(AttrPath::new("host"))))?;

    let endpoints = model.endpoints.unwrap_or_default();
    let aws = AwsSettings {
        region: model.region,
        profile: model.profile,
        assume_role: model.assume_role.map(|a| AssumeRole {
            role_arn: a.role_arn,
            external_id: a.external_id.map(tfplugin::log::Sensitive),
            session_name: a.session_name,
        }),
        endpoint: model.endpoint,
        endpoints: Endpoints {
            iam: endpoints.iam,
            sts: endpoints.sts,
            s3: endpoints.s3,
            cur: endpoints.cur,
            bcm_data_exports: endpoints.bcm_data_exports,
            organizations: endpoints.organizations,
            cloudformation: endpoints.cloudformation,
        },
        default_tags: model.default_tags.and_then(|d| d.tags).unwrap_or_default(),
    };
    Ok(ProviderData::new(vantage, AwsClients::new(aws)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_accept_durations_and_seconds() {
        assert_eq!(parse_timeout("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn schema_marks_secrets_sensitive() {
        let s = schema();
        assert!(s.block.find_attribute("api_token").is_some_and(|a| a.sensitive));
        let assume = s.block.blocks.iter().find(|b| b.type_name == "assume_role");
        assert!(
            assume
                .and_then(|b| b.block.find_attribute("external_id"))
                .is_some_and(|a| a.sensitive)
        );
    }

    #[test]
    fn unknown_values_are_refused_with_a_target_hint() {
        let d = tfplugin::unknown_config_diagnostic(&[AttrPath::new("host")]);
        assert!(d.detail.contains("-target") && d.detail.contains("host"));
    }
}
