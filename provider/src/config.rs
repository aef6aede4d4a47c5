//! The `provider "vantage" {}` block: schema, validation and configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use tfplugin::schema::validators::{custom, string};
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

/// The Vantage host: the bearer token travels with every request, so plain
/// `http://` is refused unless the host is this machine (a local stand-in
/// such as the devstack): loopback addresses and `localhost`.
fn check_host(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!(
            "{url:?} is not a URL; write it like \"https://api.vantage.sh\"."
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if is_loopback(host_port) {
        Ok(())
    } else {
        Err(format!(
            "{url:?} uses plain http:// for a host other than this machine, which would send the Vantage API \
             token unencrypted; use https:// (http:// is accepted only for localhost, 127.0.0.0/8 and ::1)."
        ))
    }
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback(host_port: &str) -> bool {
    let host = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, _port)) => addr,
            None => return false,
        },
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_validator() -> impl tfplugin::schema::Validator {
    string(
        "an https URL (http:// only for localhost, 127.0.0.0/8 and ::1)",
        check_host,
    )
}

/// AWS region names: `us-east-1`, `eu-central-2`, `us-gov-west-1`,
/// `cn-north-1`, `us-isob-east-1`.
fn check_region(region: &str) -> Result<(), String> {
    let mut parts = region.split('-');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let shaped = first.len() >= 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && rest.len() >= 2
        && rest[..rest.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && rest
            .last()
            .is_some_and(|n| !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit()));
    if shaped {
        Ok(())
    } else {
        Err(format!(
            "{region:?} is not an AWS region name; write it like \"us-east-1\" or \"eu-central-2\"."
        ))
    }
}

fn check_profile(profile: &str) -> Result<(), String> {
    if profile.trim().is_empty() {
        Err("The profile name is empty; remove `profile` to use the default profile.".to_string())
    } else if profile.chars().any(char::is_control) {
        Err("The profile name contains a newline or another control character.".to_string())
    } else {
        Ok(())
    }
}

/// A token shorter than the log redactor's minimum would appear in logs as written; Vantage's
/// tokens are far longer, so such a value is a mistake. The message never echoes the value.
fn check_api_token(token: &str) -> Result<(), String> {
    let len = token.chars().count();
    if len > 0 && len < tfplugin::log::MIN_SECRET_LEN {
        return Err(format!(
            "The API token is {len} character long; a Vantage token is much longer. Copy the whole \
             token from Vantage's settings (API Access Tokens)."
        ));
    }
    if token.chars().any(char::is_whitespace) {
        return Err("The API token contains whitespace (a line break or space copied with it); remove it.".to_string());
    }
    Ok(())
}

/// IAM's rule for `RoleSessionName`: 2-64 of letters, digits and `_+=,.@-`.
fn check_session_name(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(2..=64).contains(&len) {
        return Err(format!(
            "The session name is {len} characters long; IAM accepts 2 to 64."
        ));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c)))
    {
        Some(c) => Err(format!(
            "The session name contains {c:?}; IAM accepts only letters, digits and `_+=,.@-`."
        )),
        None => Ok(()),
    }
}

/// IAM's rule for `ExternalId`: 2-1224 of letters, digits and `_+=,.@:/-`.
/// The messages never quote the value: it is a secret.
fn check_external_id(id: &str) -> Result<(), String> {
    let len = id.chars().count();
    if !(2..=1224).contains(&len) {
        return Err(format!(
            "The external id is {len} characters long; IAM accepts 2 to 1224."
        ));
    }
    if id.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c)) {
        Ok(())
    } else {
        Err(
            "The external id contains a character IAM does not accept; use only letters, digits and `_+=,.@:/-`."
                .to_string(),
        )
    }
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
        tfplugin::timeouts::check_bound(s, d)
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
            .validator(string("a Vantage API token", check_api_token))
            .description(&format!(
                "Vantage API token with the read and write scopes. Defaults to the `{TOKEN_ENV}` environment variable."
            )),
    )
    .attribute(
        Attribute::string("host")
            .optional()
            .validator(host_validator())
            .description(&format!(
                "Vantage API base URL. Defaults to `{HOST_ENV}`, else `{DEFAULT_HOST}`. The API token is sent \
                 with every request, hence no plain `http://` except to this machine."
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
    .attribute(
        Attribute::string("region")
            .optional()
            .validator(string("an AWS region name such as `us-east-1`", check_region))
            .description(
                "AWS region for IAM, S3 and the rest. Defaults to the standard AWS configuration (`AWS_REGION`, \
                 the profile). CUR and Data Exports always use us-east-1.",
            ),
    )
    .attribute(
        Attribute::string("profile")
            .optional()
            .validator(string("a profile name (not empty, one line)", check_profile))
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
                    .validator(string(
                        "2-1224 characters of letters, digits and `_+=,.@:/-`",
                        check_external_id,
                    ))
                    .description("External id the role's trust policy requires."),
            )
            .attribute(
                Attribute::string("session_name")
                    .optional()
                    .validator(string(
                        "2-64 characters of letters, digits and `_+=,.@-`",
                        check_session_name,
                    ))
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
        let mut reserved = false;
        for key in tags.keys().filter(|k| k.starts_with("aws:")) {
            reserved = true;
            diags.push(
                Diagnostic::error(
                    "Invalid default tag",
                    format!("Tag key {key:?} uses the reserved `aws:` prefix; choose another key."),
                )
                .at(AttrPath::new("default_tags").attr("tags").key(key)),
            );
        }
        // The rules every object's `tags` follow (count, lengths, characters).
        if let Err(e) = crate::tags::check_tag_map(&tags)
            && !reserved
        {
            diags.push(Diagnostic::error("Invalid default tags", e).at(AttrPath::new("default_tags").attr("tags")));
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
        // Again here: `VANTAGE_API_TOKEN` is not seen by validation.
        check_api_token(t).map_err(|e| {
            Diagnostics::from(Diagnostic::error("Invalid Vantage API token", e).at(AttrPath::new("api_token")))
        })?;
    }
    let (host, from_env) = match model.host {
        Some(h) => (h, false),
        None => match env_nonempty(HOST_ENV) {
            Some(h) => (h, true),
            None => (DEFAULT_HOST.to_string(), false),
        },
    };
    // Again here: `VANTAGE_HOST` is not seen by validation.
    check_host(&host).map_err(|e| {
        let source = if from_env {
            format!(" (from {HOST_ENV})")
        } else {
            String::new()
        };
        Diagnostics::from(Diagnostic::error("Invalid Vantage host", format!("{e}{source}")).at(AttrPath::new("host")))
    })?;
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
        assert!(parse_timeout("99999999999999999999999h").is_err_and(|e| e.contains("longer than a year")));
        assert!(parse_timeout("99999999999").is_err_and(|e| e.contains("longer than a year")));
    }

    #[test]
    fn plain_http_is_refused_for_remote_vantage_hosts() {
        for ok in [
            "https://api.vantage.sh",
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://127.0.0.1:4000/v1",
            "http://127.9.9.9",
            "http://[::1]:9000",
            "http://user@127.0.0.1:1",
        ] {
            assert_eq!(check_host(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://vantage.example.com",
            "http://10.0.0.1:8080",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
            "http://[::2]",
            "http://127.0.0.1@evil.example.com",
            "ftp://x",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
        assert!(check_host("http://vantage.example.com").is_err_and(|e| e.contains("unencrypted")));
    }

    #[test]
    fn api_tokens_too_short_to_redact_or_with_whitespace_are_refused_without_echoing_them() {
        assert!(check_api_token("vntg_tkn_0123456789abcdef").is_ok());
        assert!(check_api_token("").is_ok(), "empty means: use the environment");
        for bad in ["x", "vntg_tkn_0123 456", "vntg_tkn_0123456\n"] {
            let message = check_api_token(bad).expect_err(bad);
            assert!(!message.contains(bad.trim()), "{message}");
        }
    }

    #[test]
    fn aws_inputs_follow_aws_rules() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "us-isob-east-1",
            "ap-southeast-4",
        ] {
            assert_eq!(check_region(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us_east_1",
            "useast1",
            "us-east-1 ",
            "us--1",
            "us-east-123",
        ] {
            assert!(check_region(bad).is_err(), "{bad:?}");
        }
        assert!(check_profile("dev").is_ok());
        assert!(check_profile(" ").is_err() && check_profile("a\nb").is_err());
        assert!(check_session_name("terraform-provider-vantage").is_ok());
        for bad in ["x", &"s".repeat(65), "has space", "slash/no"] {
            assert!(check_session_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_external_id("a+b/c=d:e@f,g").is_ok() && check_external_id("ab").is_ok());
        for bad in ["x", &"e".repeat(1225), "with space-secret", "tilde~secret"] {
            let e = check_external_id(bad).expect_err(bad);
            assert!(!e.contains("secret"), "the message never echoes the value: {e}");
        }
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
