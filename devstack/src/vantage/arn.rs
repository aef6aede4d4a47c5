//! Validation of the ARNs an integration is registered with.

/// Checks `arn:<partition>:iam::<12 digits>:role/<path/><name>` and returns the account id.
pub fn role_account(arn: &str) -> Result<&str, String> {
    let fail = || {
        format!(
            "cross_account_arn is not an IAM role ARN: {arn:?} \
             (expected arn:aws:iam::<12-digit account id>:role/<name>)"
        )
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(fail());
    };
    let well_formed = *prefix == "arn"
        && partition_ok(partition)
        && *service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("role/").is_some_and(role_path_and_name_ok);
    if well_formed { Ok(account) } else { Err(fail()) }
}

/// Checks `arn:<partition>:s3:::<bucket>` (a bucket, not an object).
pub fn check_bucket(arn: &str) -> Result<(), String> {
    let fail = || format!("bucket_arn is not an S3 bucket ARN: {arn:?} (expected arn:aws:s3:::<bucket name>)");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, bucket] = parts.as_slice() else {
        return Err(fail());
    };
    let well_formed = *prefix == "arn"
        && partition_ok(partition)
        && *service == "s3"
        && region.is_empty()
        && account.is_empty()
        && bucket_name_ok(bucket);
    if well_formed { Ok(()) } else { Err(fail()) }
}

/// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso-b`, ...
fn partition_ok(partition: &str) -> bool {
    partition
        .strip_prefix("aws")
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
}

/// IAM allows paths of `/`-separated segments and names of up to 64 characters from
/// `[A-Za-z0-9+=,.@_-]`.
fn role_path_and_name_ok(rest: &str) -> bool {
    let segments: Vec<&str> = rest.split('/').collect();
    let Some(name) = segments.last() else {
        return false;
    };
    rest.len() <= 512 + 64
        && name.len() <= 64
        && segments.iter().all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        })
}

/// S3 general purpose bucket names: 3-63 of `[a-z0-9.-]`, starting and ending alphanumeric.
fn bucket_name_ok(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&bytes.len())
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && !name.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        assert_eq!(
            role_account("arn:aws:iam::123456789012:role/vantage"),
            Ok("123456789012")
        );
        assert_eq!(
            role_account("arn:aws-us-gov:iam::123456789012:role/team/finance/vantage+cur"),
            Ok("123456789012")
        );
        for bad in [
            "",
            "vantage",
            "arn:aws:iam::12345678901:role/vantage",
            "arn:aws:iam::123456789012:user/vantage",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role//x",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "arn:aws:s3:::bucket",
            "arn:gcp:iam::123456789012:role/x",
            "arn:aws:iam::123456789012:role/has space",
        ] {
            let err = role_account(bad).expect_err(bad);
            assert!(err.starts_with("cross_account_arn is not an IAM role ARN: "), "{err}");
        }
    }

    #[test]
    fn bucket_arns() {
        assert!(check_bucket("arn:aws:s3:::my-cur.bucket-1").is_ok());
        for bad in [
            "arn:aws:s3:::",
            "arn:aws:s3:::ab",
            "arn:aws:s3:::Upper",
            "arn:aws:s3:::bucket/key",
            "arn:aws:s3:us-east-1::bucket",
            "arn:aws:s3::123456789012:bucket",
            "arn:aws:s3:::-bucket",
            "arn:aws:s3:::a..b",
            "bucket",
        ] {
            let err = check_bucket(bad).expect_err(bad);
            assert!(err.starts_with("bucket_arn is not an S3 bucket ARN: "), "{err}");
        }
    }
}
