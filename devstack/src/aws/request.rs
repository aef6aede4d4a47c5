//! What an AWS request is, read from its headers, query and (for the query protocol) its form
//! body: the SigV4 credential scope (access key, region, service), the wire protocol, and the
//! operation name used in request counts and fault patterns (`cur:PutReportDefinition`,
//! `iam:GetRole`, `s3:PutBucketPolicy`).

use axum::http::{HeaderMap, Method};

/// Target prefix of CUR 1.0 (awsJson1_1).
pub const CUR_TARGET: &str = "AWSOrigamiServiceGatewayService";
/// Target prefix of BCM Data Exports (awsJson1_1).
pub const EXPORTS_TARGET: &str = "AWSBillingAndCostManagementDataExports";

/// `Credential=AKID/20240101/us-east-1/s3/aws4_request` from `Authorization` (or the
/// `X-Amz-Credential` query parameter of a presigned URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub access_key: String,
    pub region: String,
    pub service: String,
}

/// How the service talks, which decides the shape of error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// awsJson1_0 / awsJson1_1: `X-Amz-Target`, errors `{"__type", "Message"}`.
    Json,
    /// awsQuery (IAM, STS, CloudFormation, ...): form bodies with `Action=`, XML errors.
    Query,
    /// S3's REST-XML.
    S3,
    /// Any other REST protocol; errors are sent as JSON.
    Rest,
}

/// Everything the front door needs to route, count and fault a request.
#[derive(Debug, Clone)]
pub struct Call {
    pub scope: Option<Scope>,
    pub target: Option<String>,
    pub protocol: Protocol,
    /// `service:Operation`.
    pub operation: String,
}

impl Call {
    /// `(prefix, operation)` of `X-Amz-Target: Prefix.Operation`.
    pub fn target_parts(&self) -> Option<(&str, &str)> {
        self.target.as_deref().and_then(|t| t.rsplit_once('.'))
    }
}

/// Reads the credential scope from `Authorization` or, for presigned URLs, from the query.
pub fn scope(headers: &HeaderMap, query: Option<&str>) -> Option<Scope> {
    let from_header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .map(|rest| rest.split([',', ' ']).next().unwrap_or_default().to_owned());
    let credential = from_header.or_else(|| {
        query_pairs(query.unwrap_or_default())
            .find(|(k, _)| k.eq_ignore_ascii_case("X-Amz-Credential"))
            .map(|(_, v)| v)
    })?;
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [access_key, _date, region, service, "aws4_request"] if !access_key.is_empty() => Some(Scope {
            access_key: (*access_key).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
        }),
        _ => None,
    }
}

/// True for bodies of the awsQuery protocol, which must be read to learn the operation.
pub fn is_form(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::POST
        && headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
}

/// Classifies a request. `form` is the body of a form-encoded POST (see [`is_form`]).
pub fn classify(method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap, form: Option<&[u8]>) -> Call {
    let scope = scope(headers, query);
    let service = scope
        .as_ref()
        .map_or_else(|| guess_service(path), |s| s.service.clone());
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(target) = target {
        let operation = target.rsplit_once('.').map_or(target.as_str(), |(_, op)| op).to_owned();
        return Call {
            scope,
            operation: format!("{service}:{operation}"),
            target: Some(target),
            protocol: Protocol::Json,
        };
    }
    let action = form
        .and_then(|body| std::str::from_utf8(body).ok())
        .and_then(action)
        .or_else(|| query.and_then(action));
    if let Some(action) = action {
        return Call {
            scope,
            operation: format!("{service}:{action}"),
            target: None,
            protocol: Protocol::Query,
        };
    }
    if service == "s3" {
        let operation = s3_operation(method, path, query.unwrap_or_default(), headers);
        return Call {
            scope,
            operation: format!("s3:{operation}"),
            target: None,
            protocol: Protocol::S3,
        };
    }
    Call {
        operation: format!("{service}:{method}"),
        scope,
        target: None,
        protocol: Protocol::Rest,
    }
}

/// Unsigned requests: moto's own API, or S3 (the only service with anonymous access).
fn guess_service(path: &str) -> String {
    if path.starts_with("/moto-api") {
        "moto".to_owned()
    } else {
        "s3".to_owned()
    }
}

fn action(form: &str) -> Option<String> {
    query_pairs(form)
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// `a=1&b=%2F` as decoded pairs.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

/// Decodes `%XX` escapes and `+` (form encoding). Invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Bucket sub-resources: query key, then the operation for GET, PUT and DELETE.
const BUCKET_SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    ("policy", "GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    ("policyStatus", "GetBucketPolicyStatus", "", ""),
    ("location", "GetBucketLocation", "", ""),
    ("acl", "GetBucketAcl", "PutBucketAcl", ""),
    ("tagging", "GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging"),
    ("versioning", "GetBucketVersioning", "PutBucketVersioning", ""),
    (
        "lifecycle",
        "GetBucketLifecycleConfiguration",
        "PutBucketLifecycleConfiguration",
        "DeleteBucketLifecycle",
    ),
    (
        "notification",
        "GetBucketNotificationConfiguration",
        "PutBucketNotificationConfiguration",
        "",
    ),
    (
        "publicAccessBlock",
        "GetPublicAccessBlock",
        "PutPublicAccessBlock",
        "DeletePublicAccessBlock",
    ),
    (
        "encryption",
        "GetBucketEncryption",
        "PutBucketEncryption",
        "DeleteBucketEncryption",
    ),
    ("cors", "GetBucketCors", "PutBucketCors", "DeleteBucketCors"),
    ("website", "GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    ("logging", "GetBucketLogging", "PutBucketLogging", ""),
    (
        "ownershipControls",
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "DeleteBucketOwnershipControls",
    ),
    (
        "replication",
        "GetBucketReplication",
        "PutBucketReplication",
        "DeleteBucketReplication",
    ),
    (
        "object-lock",
        "GetObjectLockConfiguration",
        "PutObjectLockConfiguration",
        "",
    ),
    (
        "accelerate",
        "GetBucketAccelerateConfiguration",
        "PutBucketAccelerateConfiguration",
        "",
    ),
    (
        "requestPayment",
        "GetBucketRequestPayment",
        "PutBucketRequestPayment",
        "",
    ),
    (
        "metrics",
        "GetBucketMetricsConfiguration",
        "PutBucketMetricsConfiguration",
        "DeleteBucketMetricsConfiguration",
    ),
    (
        "inventory",
        "GetBucketInventoryConfiguration",
        "PutBucketInventoryConfiguration",
        "DeleteBucketInventoryConfiguration",
    ),
    (
        "analytics",
        "GetBucketAnalyticsConfiguration",
        "PutBucketAnalyticsConfiguration",
        "DeleteBucketAnalyticsConfiguration",
    ),
    (
        "intelligent-tiering",
        "GetBucketIntelligentTieringConfiguration",
        "PutBucketIntelligentTieringConfiguration",
        "DeleteBucketIntelligentTieringConfiguration",
    ),
    ("uploads", "ListMultipartUploads", "", ""),
    ("versions", "ListObjectVersions", "", ""),
];

/// Object sub-resources: query key, then the operation for GET, PUT and DELETE.
const OBJECT_SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    ("acl", "GetObjectAcl", "PutObjectAcl", ""),
    ("tagging", "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"),
    ("attributes", "GetObjectAttributes", "", ""),
    ("retention", "GetObjectRetention", "PutObjectRetention", ""),
    ("legal-hold", "GetObjectLegalHold", "PutObjectLegalHold", ""),
    ("uploadId", "ListParts", "", "AbortMultipartUpload"),
];

/// A best-effort S3 operation name from method, path-style path and query.
pub fn s3_operation(method: &Method, path: &str, query: &str, headers: &HeaderMap) -> String {
    let keys: Vec<String> = query_pairs(query).map(|(k, _)| k).collect();
    let has = |key: &str| keys.iter().any(|k| k == key);
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let pick = |table: &[(&str, &'static str, &'static str, &'static str)]| -> Option<&'static str> {
        table
            .iter()
            .find(|(sub, ..)| has(sub))
            .and_then(|(_, get, put, delete)| {
                let op = match *method {
                    Method::GET => *get,
                    Method::PUT => *put,
                    Method::DELETE => *delete,
                    _ => "",
                };
                (!op.is_empty()).then_some(op)
            })
    };
    let copy = headers.contains_key("x-amz-copy-source");
    let op: &str = if bucket.is_empty() {
        match *method {
            Method::GET => "ListBuckets",
            _ => "Unknown",
        }
    } else if key.is_empty() {
        if let Some(op) = pick(BUCKET_SUBRESOURCES) {
            op
        } else {
            match *method {
                Method::GET if query_pairs(query).any(|(k, v)| k == "list-type" && v == "2") => "ListObjectsV2",
                Method::GET => "ListObjects",
                Method::PUT => "CreateBucket",
                Method::DELETE => "DeleteBucket",
                Method::HEAD => "HeadBucket",
                Method::POST if has("delete") => "DeleteObjects",
                Method::POST => "PostObject",
                _ => "Unknown",
            }
        }
    } else if *method == Method::PUT && has("partNumber") && has("uploadId") {
        if copy { "UploadPartCopy" } else { "UploadPart" }
    } else if *method == Method::POST {
        if has("uploads") {
            "CreateMultipartUpload"
        } else if has("uploadId") {
            "CompleteMultipartUpload"
        } else if has("restore") {
            "RestoreObject"
        } else if has("select") {
            "SelectObjectContent"
        } else {
            "Unknown"
        }
    } else if let Some(op) = pick(OBJECT_SUBRESOURCES) {
        op
    } else {
        match *method {
            Method::GET => "GetObject",
            Method::PUT if copy => "CopyObject",
            Method::PUT => "PutObject",
            Method::HEAD => "HeadObject",
            Method::DELETE => "DeleteObject",
            _ => "Unknown",
        }
    };
    op.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().expect("header value"));
        }
        map
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/cur/aws4_request, \
                        SignedHeaders=host;x-amz-date, Signature=abc";

    #[test]
    fn scope_comes_from_authorization_or_presigned_query() {
        let scope = scope(&headers(&[("authorization", AUTH)]), None).expect("scope");
        assert_eq!(scope.access_key, "AKIDEXAMPLE");
        assert_eq!(scope.region, "us-east-1");
        assert_eq!(scope.service, "cur");
        let presigned =
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20240101%2Feu-west-1%2Fs3%2Faws4_request";
        let scope = super::scope(&HeaderMap::new(), Some(presigned)).expect("presigned scope");
        assert_eq!((scope.region.as_str(), scope.service.as_str()), ("eu-west-1", "s3"));
        assert!(super::scope(&headers(&[("authorization", "Bearer x")]), None).is_none());
    }

    #[test]
    fn operations_by_protocol() {
        let json = headers(&[
            ("authorization", AUTH),
            ("x-amz-target", "AWSOrigamiServiceGatewayService.PutReportDefinition"),
        ]);
        let call = classify(&Method::POST, "/", None, &json, None);
        assert_eq!(call.operation, "cur:PutReportDefinition");
        assert_eq!(call.protocol, Protocol::Json);
        assert_eq!(call.target_parts(), Some((CUR_TARGET, "PutReportDefinition")));

        let iam = headers(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/iam/aws4_request, Signature=x",
        )]);
        let call = classify(
            &Method::POST,
            "/",
            None,
            &iam,
            Some(b"Action=GetRole&Version=2010-05-08&RoleName=r"),
        );
        assert_eq!(call.operation, "iam:GetRole");
        assert_eq!(call.protocol, Protocol::Query);
    }

    #[test]
    fn s3_operations_from_method_path_and_query() {
        let none = HeaderMap::new();
        let op = |m: Method, p: &str, q: &str| s3_operation(&m, p, q, &none);
        assert_eq!(op(Method::GET, "/", ""), "ListBuckets");
        assert_eq!(op(Method::PUT, "/b", ""), "CreateBucket");
        assert_eq!(op(Method::PUT, "/b", "policy"), "PutBucketPolicy");
        assert_eq!(op(Method::GET, "/b", "location"), "GetBucketLocation");
        assert_eq!(op(Method::GET, "/b", "list-type=2&prefix=x"), "ListObjectsV2");
        assert_eq!(op(Method::GET, "/b/k/e/y", ""), "GetObject");
        assert_eq!(op(Method::PUT, "/b/k", ""), "PutObject");
        assert_eq!(op(Method::PUT, "/b/k", "partNumber=1&uploadId=u"), "UploadPart");
        assert_eq!(op(Method::POST, "/b/k", "uploads"), "CreateMultipartUpload");
        assert_eq!(op(Method::DELETE, "/b/k", "uploadId=u"), "AbortMultipartUpload");
        assert_eq!(op(Method::POST, "/b", "delete"), "DeleteObjects");
        assert_eq!(op(Method::HEAD, "/b", ""), "HeadBucket");
        let copy = headers(&[("x-amz-copy-source", "/a/b")]);
        assert_eq!(s3_operation(&Method::PUT, "/b/k", "", &copy), "CopyObject");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb+c%zz%"), "a/b c%zz%");
    }
}
