//! S3 facts shared by the resources that name buckets.

use tfplugin::{AttrPath, Ctx, Diagnostic, Plan};

use crate::ProviderData;
use crate::aws::s3::{S3Error, wait_for_bucket_location};
use crate::retry::Budget;

/// Plans `bucket_region` when the configuration leaves it out: the prior region while the
/// bucket stays the same, else unknown ([`delivery_region`] reads it at apply).
pub fn plan_delivery_region(plan: &mut Plan) {
    let config = plan.config_value();
    if !config.attr("bucket_region").is_null() {
        return;
    }
    let bucket = config.attr("bucket").clone();
    let prior = plan.prior_value();
    let prior_region = prior.attr("bucket_region").clone();
    if !bucket.is_unknown() && prior.attr("bucket") == &bucket && prior_region.as_str().is_some() {
        plan.set("bucket_region", prior_region);
    } else {
        plan.set_unknown("bucket_region");
    }
}

/// The region a report or export delivers into: `configured`, else the bucket's own (the
/// bucket may be created by this same apply, so a missing one is waited for, within what is
/// left of `budget`).
pub async fn delivery_region(
    ctx: &Ctx<ProviderData>,
    bucket: &str,
    configured: Option<&str>,
    budget: &Budget,
) -> Result<String, Diagnostic> {
    if let Some(r) = configured {
        return Ok(r.to_string());
    }
    let s3 = ctx.provider().aws.s3(None).await;
    let step = format!("looking for the bucket {bucket:?}");
    // A read, safe to abandon at the deadline.
    let Some(found) = budget
        .bound(wait_for_bucket_location(&s3, bucket, ctx.cancellation(), budget.left()))
        .await
    else {
        return Err(budget.ran_out(&step));
    };
    found.map_err(|e| {
        let d = match e {
            S3Error::Missing { .. } => e.to_diagnostic().at(AttrPath::new("bucket")),
            e => e.to_diagnostic(),
        };
        budget.explain(d, &step)
    })
}

/// Checks S3's bucket naming rules, returning what is wrong and how to fix it.
pub fn validate_bucket_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{name:?} is not a valid S3 bucket name: {why}"));
    if !(3..=63).contains(&name.len()) {
        return bad("it must be 3 to 63 characters long");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return bad("use only lowercase letters, digits, dots and hyphens");
    }
    let first_last_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_last_ok(name.chars().next()) || !first_last_ok(name.chars().last()) {
        return bad("it must begin and end with a letter or digit");
    }
    if name.contains("..") {
        return bad("it must not contain two adjacent dots");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return bad("it must not look like an IP address");
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return bad(&format!("the prefix {prefix:?} is reserved"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return bad(&format!("the suffix {suffix:?} is reserved"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(validate_bucket_name("vantage-cur-abc123").is_ok());
        assert!(validate_bucket_name("ab").is_err());
        assert!(validate_bucket_name("Upper").is_err());
        assert!(validate_bucket_name("-start").is_err());
        assert!(validate_bucket_name("a..b").is_err());
        assert!(validate_bucket_name("192.168.1.1").is_err());
        assert!(validate_bucket_name("xn--bucket").is_err());
        assert!(validate_bucket_name("bucket-s3alias").is_err());
    }
}
