//! Secrets stay out of logs and output, and hostile provider inputs are
//! refused at plan time: the external id through import, apply and destroy
//! at `TF_LOG=trace`, plain-http Vantage hosts, huge timeouts, unknown write
//! actions in a read-only policy, malformed provider settings; the external id inside a
//! StackSet template (CloudFormation's form-encoded bodies) at `TF_LOG=trace`.

use acceptance_tests::aws::Aws;
use acceptance_tests::organization::Org;
use acceptance_tests::{Devstack, Run, Workspace};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// Every character IAM allows in an external id besides letters and digits
/// that an encoder might escape.
const EXTERNAL_ID: &str = "a+b/c=d:e@f,g";

fn role_config(name: &str) -> String {
    format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name        = "{name}"
  external_id = "{EXTERNAL_ID}"
}}
"#
    )
}

/// `%XX` escapes decoded; `plus` also reads `+` as a space (form encoding).
fn percent_decode(text: &str, plus: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) if plus => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// JSON string escapes (`\/`, `\uXXXX`, `\"`, `\\`) decoded.
fn json_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('u') => {
                chars.next();
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => out.push(decoded),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(e @ ('/' | '"' | '\\')) => {
                chars.next();
                out.push(e);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Base64 runs the secret always encodes to: alone (any alphabet, padded or
/// not) and the characters fully its own at each offset in a longer value.
fn base64_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![
        STANDARD.encode(secret),
        URL_SAFE.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
    ];
    for offset in 0..3usize {
        let mut bytes = vec![0u8; offset];
        bytes.extend_from_slice(secret.as_bytes());
        let encoded = STANDARD_NO_PAD.encode(&bytes);
        let first = (8 * offset).div_ceil(6);
        let end = (8 * (offset + secret.len())) / 6;
        forms.push(encoded[first..end].to_string());
    }
    forms
}

/// Fails if `text` holds the secret as is, percent-encoded (either case,
/// either space style, twice), JSON-escaped (also inside percent-encoding)
/// or base64-encoded.
#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    let views = [
        ("as is", text.to_string()),
        ("percent-decoded", percent_decode(text, false)),
        ("form-decoded", percent_decode(text, true)),
        (
            "percent-decoded twice",
            percent_decode(&percent_decode(text, false), false),
        ),
        ("JSON-unescaped", json_unescape(text)),
        (
            "percent-decoded, JSON-unescaped",
            json_unescape(&percent_decode(text, false)),
        ),
        (
            "JSON-unescaped, percent-decoded",
            percent_decode(&json_unescape(text), false),
        ),
    ];
    for (how, view) in &views {
        assert!(
            !view.contains(EXTERNAL_ID),
            "the external id appears in the {what} ({how})"
        );
    }
    for form in base64_forms(EXTERNAL_ID) {
        assert!(
            !text.contains(&form),
            "the external id appears base64-encoded ({form}) in the {what}"
        );
    }
}

fn check_run(what: &str, run: &Run) {
    assert_no_secret(&format!("{what} output"), &format!("{}\n{}", run.stdout, run.stderr));
}

#[test]
fn the_external_id_stays_out_of_trace_logs_through_import_apply_and_destroy() {
    let name = "acc-sec-external-id";
    let mut ws = Workspace::new(name);
    ws.env("TF_LOG", "trace");
    ws.config(&role_config(name));
    let mut step = 0;
    let mut logged = |ws: &mut Workspace, what: &str, args: &[&str]| {
        step += 1;
        let log = ws.path().join(format!("trace-{step}.log"));
        ws.env("TF_LOG_PATH", &log.display().to_string());
        let run = ws.run(args);
        check_run(what, &run);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        (run, text)
    };

    let (apply, apply_log) = logged(&mut ws, "apply", &["apply", "-auto-approve", "-no-color"]);
    apply.expect_ok();
    let role = Aws::shared().role(name).expect("the role exists in IAM");
    assert_eq!(
        role.trust_policy["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"], EXTERNAL_ID,
        "the role requires the configured external id"
    );

    // `terraform import`, then an import block (imported in the plan's own process).
    ws.run(&["state", "rm", "vantage_aws_cross_account_role.this"])
        .expect_ok();
    let (import, import_log) = logged(
        &mut ws,
        "import",
        &["import", "-no-color", "vantage_aws_cross_account_role.this", name],
    );
    import.expect_ok();
    let (plan, plan_log) = logged(&mut ws, "plan", &["plan", "-no-color"]);
    plan.expect_ok();
    ws.run(&["state", "rm", "vantage_aws_cross_account_role.this"])
        .expect_ok();
    ws.config(&format!(
        "{}\nimport {{\n  to = vantage_aws_cross_account_role.this\n  id = \"{name}\"\n}}\n",
        role_config(name)
    ));
    let (block, block_log) = logged(&mut ws, "import block apply", &["apply", "-auto-approve", "-no-color"]);
    block.expect_ok();
    let (destroy, destroy_log) = logged(&mut ws, "destroy", &["destroy", "-auto-approve", "-no-color"]);
    destroy.expect_ok();
    assert!(Aws::shared().role(name).is_none(), "destroy removes the role");

    for (what, log) in [
        ("apply", &apply_log),
        ("import", &import_log),
        ("plan", &plan_log),
        ("import block apply", &block_log),
        ("destroy", &destroy_log),
    ] {
        // The logs are real traces: the SDK's calls are there, secrets replaced.
        assert!(log.contains("GetRole"), "the {what} trace log shows the IAM calls");
        assert!(log.contains("***"), "the {what} trace log shows redactions");
        assert_no_secret(&format!("{what} trace log"), log);
    }
}

#[test]
fn the_external_id_in_a_stackset_template_stays_out_of_trace_logs() {
    acceptance_tests::require_moto!(
        "LocalStack community does not serve Organizations (CreateOrganization, CreateAccount)"
    );
    let ds = Devstack::start(&[]);
    let org = Org::create(&ds);
    org.trusted_access(true);
    let ou = org.ou("members");
    let member = org.account("member1", &ou);
    let mut ws = Workspace::on(&ds, "sec-stackset");
    ws.env("TF_LOG", "trace");
    ws.config(&format!(
        r#"resource "vantage_aws_member_account_roles" "members" {{
  organizational_unit_ids = ["{ou}"]
  external_id             = "{EXTERNAL_ID}"
  # Vantage would refuse a role trusting another external id than its own.
  register_with_vantage   = false
}}
"#
    ));
    let mut logs = Vec::new();
    for (step, args) in [
        ("apply", vec!["apply", "-auto-approve", "-no-color"]),
        ("plan", vec!["plan", "-no-color"]),
        ("destroy", vec!["destroy", "-auto-approve", "-no-color"]),
    ] {
        let log = ws.path().join(format!("trace-{step}.log"));
        ws.env("TF_LOG_PATH", &log.display().to_string());
        let run = ws.run(&args);
        run.expect_ok();
        check_run(step, &run);
        logs.push((step, std::fs::read_to_string(&log).unwrap_or_default()));
        if step == "apply" {
            let role = org
                .iam_in(&member)
                .role("vantage_cross_account_connection")
                .expect("member role");
            assert_eq!(
                role.trust_policy["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"], EXTERNAL_ID,
                "the member's role requires the configured external id"
            );
        }
    }
    for (what, log) in &logs {
        assert!(
            log.contains("StackSet"),
            "the {what} trace log shows the CloudFormation calls"
        );
        assert_no_secret(&format!("{what} trace log"), log);
    }
    assert!(
        logs[0].1.contains("CreateStackSet"),
        "the apply's trace holds the template's call"
    );
    // The SDK traces response bodies: DescribeStackSet's carries the template, redacted.
    assert!(
        logs[1].1.contains("<TemplateBody>"),
        "the plan's trace holds DescribeStackSet's answer"
    );
}

#[test]
fn a_plain_http_vantage_host_is_refused_at_plan_time() {
    let mut ws = Workspace::new("acc-sec-http-host");
    ws.config(
        r#"provider "vantage" {
  host = "http://vantage.example.com"
}
data "vantage_aws_provider_info" "this" {}
"#,
    );
    let plan = ws.plan();
    plan.expect_error(r"host.*uses plain http:// for a host other than this machine");

    // The environment variable gets the same check, when the provider is configured.
    ws.config(r#"data "vantage_aws_provider_info" "this" {}"#);
    ws.env("VANTAGE_HOST", "http://vantage.example.com");
    ws.plan()
        .expect_error(r"Invalid Vantage host.*uses plain http://.*\(from VANTAGE_HOST\)");
}

#[test]
fn a_huge_timeout_is_a_diagnostic_not_a_crash() {
    let mut ws = Workspace::new("acc-sec-huge-timeout");
    let huge = "99999999999999999999999h";
    ws.config(&format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name = "acc-sec-huge-timeout"
  timeouts {{
    create = "{huge}"
  }}
}}
"#
    ));
    for run in [ws.run(&["validate", "-no-color"]), ws.plan()] {
        run.expect_error("longer than a year");
        let text = run.normalized_output();
        assert!(!text.contains("panic") && !text.contains("Request cancelled"), "{text}");
    }

    ws.config(&format!(
        "provider \"vantage\" {{\n  timeout = \"{huge}\"\n}}\ndata \"vantage_aws_provider_info\" \"this\" {{}}\n"
    ));
    ws.run(&["validate", "-no-color"]).expect_error("longer than a year");

    ws.config(r#"data "vantage_aws_provider_info" "this" {}"#);
    ws.env("VANTAGE_TIMEOUT", huge);
    ws.plan().expect_error("Invalid timeout.*longer than a year");
}

fn policy_config(role: &str, action: &str, resource: &str) -> String {
    format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name = "{role}"
}}
resource "vantage_aws_role_policy" "custom" {{
  role   = vantage_aws_cross_account_role.this.name
  name   = "custom"
  policy = jsonencode({{
    Version   = "2012-10-17"
    Statement = [{{ Effect = "Allow", Action = ["{action}"], Resource = {resource} }}]
  }})
}}
"#
    )
}

#[test]
fn an_unknown_write_action_is_refused_in_a_role_policy() {
    let role = "acc-sec-unknown-action";
    let ws = Workspace::new(role);
    ws.config(&policy_config(role, "futuresvc:DeleteEverything", r#""*""#));
    ws.plan()
        .expect_error(r#"Unknown write action in a read-only policy.*"futuresvc:DeleteEverything" matches no action"#);

    // An unknown read is let through with a warning naming it.
    ws.config(&policy_config(role, "futuresvc:GetEverything", r#""*""#));
    let plan = ws.run(&["plan", "-no-color"]);
    plan.expect_ok();
    let text = plan.normalized_output();
    assert!(
        text.contains("Unknown action in policy") && text.contains("futuresvc:GetEverything"),
        "{text}"
    );

    // Unknown at plan time (the role's ARN): checked at apply, before PutRolePolicy.
    ws.config(&policy_config(
        role,
        "futuresvc:DeleteEverything",
        "vantage_aws_cross_account_role.this.arn",
    ));
    ws.apply()
        .expect_error(r#"Unknown write action in a read-only policy.*futuresvc:DeleteEverything"#);
    assert!(Aws::shared().role(role).is_some(), "the role was created");
    assert!(
        Aws::shared().role_policy(role, "custom").is_none(),
        "the refused policy never reached IAM"
    );
    ws.config(&policy_config(role, "ec2:DescribeInstances", r#""*""#));
    ws.destroy().expect_ok();
}

#[test]
fn malformed_provider_settings_are_refused_at_plan_time() {
    let ws = Workspace::new("acc-sec-provider-inputs");
    let cases = [
        (
            r#"region = "us-east""#,
            r#"region.*"us-east" is not an AWS region name"#,
        ),
        (r#"profile = "two\nlines""#, r"profile.*newline"),
        (r#"api_token = "x""#, r"api_token.*API token is 1 character long"),
        (
            "assume_role {\n    role_arn = \"arn:aws:iam::123456789012:role/x\"\n    session_name = \"has space\"\n  }",
            r"session name contains ' '",
        ),
        (
            "assume_role {\n    role_arn = \"arn:aws:iam::123456789012:role/x\"\n    external_id = \"secret~value\"\n  }",
            r"external id contains a character IAM does not accept",
        ),
        (
            "default_tags {\n    tags = { Team = \"semi;colon\" }\n  }",
            r"Invalid default tags.*contains ';'",
        ),
    ];
    for (setting, error) in cases {
        ws.config(&format!(
            "provider \"vantage\" {{\n  {setting}\n}}\ndata \"vantage_aws_provider_info\" \"this\" {{}}\n"
        ));
        let run = ws.run(&["validate", "-no-color"]);
        run.expect_error(error);
        // Terraform quotes the configuration's source line; the provider's message never has the value.
        let text = run.normalized_output();
        assert_eq!(
            text.matches("secret~value").count(),
            text.matches(r#"external_id = "secret~value""#).count(),
            "the external id is never echoed: {text}"
        );
    }
}
