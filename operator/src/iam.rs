//! The least-privilege IAM policies of the operator's role and of the render function's
//! execution role (`config/iam/*.json`, embedded here), re-scoped to one bucket on request, and
//! the table saying which IAM actions authorize each AWS SDK operation the code may call.
//!
//! `remotion-operator iam-policy operator|function [--bucket NAME]` prints a policy.
//! `operator/tests/it/iam_policy.rs` extracts the SDK operations the operator's and the
//! function's code call and checks, through [`s3_actions`], [`lambda_actions`],
//! [`s3control_actions`], [`sts_actions`] and [`SETTER_ACTIONS`], that each policy grants
//! exactly the actions they need.

use clap::{Args, ValueEnum};
use serde_json::Value;

/// The operator's policy document (`config/iam/operator-policy.json`).
pub const OPERATOR_POLICY: &str = include_str!("../../config/iam/operator-policy.json");

/// The render function's execution-role policy document (`config/iam/function-policy.json`).
pub const FUNCTION_POLICY: &str = include_str!("../../config/iam/function-policy.json");

/// The bucket pattern of the policies: every bucket named like the LambdaBucket's default
/// (`remotionlambda-<region>-<random>`, [`remotion_crds::lambda_bucket::BUCKET_NAME_PREFIX`]).
pub const BUCKET_PATTERN: &str = "remotionlambda-*";

/// Whose policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyRole {
    /// The operator's role (IRSA / Pod Identity / `credentials`): buckets, sites, renders, functions.
    Operator,
    /// The render function's execution role (`RenderFunction.spec.roleArn`).
    Function,
}

impl PolicyRole {
    /// The embedded policy document.
    pub fn document(self) -> &'static str {
        match self {
            PolicyRole::Operator => OPERATOR_POLICY,
            PolicyRole::Function => FUNCTION_POLICY,
        }
    }
}

/// `remotion-operator iam-policy`.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct IamPolicyArgs {
    /// Whose policy to print.
    #[arg(value_enum)]
    pub role: PolicyRole,

    /// Scope the S3 statements to this bucket instead of every `remotionlambda-*` bucket.
    #[arg(long, value_name = "NAME", value_parser = parse_bucket_name)]
    pub bucket: Option<String>,
}

/// The policy of `role` as JSON text (the document as written, key order and layout kept), its
/// S3 statements scoped to `bucket` when given (a valid bucket name: see
/// [`validate_bucket_name`]): `arn:aws:s3:::remotionlambda-*/sites/*` becomes
/// `arn:aws:s3:::<bucket>/sites/*`, and so on.
pub fn policy_text(role: PolicyRole, bucket: Option<&str>) -> Result<String, String> {
    let document = role.document();
    let Some(bucket) = bucket else { return Ok(document.to_owned()) };
    validate_bucket_name(bucket)?;
    let pattern = format!("\"arn:aws:s3:::{BUCKET_PATTERN}");
    Ok(document.replace(&pattern, &format!("\"arn:aws:s3:::{bucket}")))
}

/// The policy of `role` as JSON (see [`policy_text`]).
pub fn policy(role: PolicyRole, bucket: Option<&str>) -> Result<Value, String> {
    let text = policy_text(role, bucket)?;
    serde_json::from_str(&text).map_err(|e| format!("the embedded {role:?} policy is not JSON: {e}"))
}

/// Prints the policy `args` ask for on stdout (pretty JSON, as in `config/iam/`).
pub fn print_policy(args: &IamPolicyArgs) -> anyhow::Result<()> {
    let text = policy_text(args.role, args.bucket.as_deref()).map_err(anyhow::Error::msg)?;
    println!("{}", text.trim_end());
    Ok(())
}

/// clap's parser of `--bucket`.
fn parse_bucket_name(name: &str) -> Result<String, String> {
    validate_bucket_name(name).map(|()| name.to_owned())
}

/// Checks S3's general-purpose bucket naming rules: 3–63 characters of lowercase letters,
/// digits, dots and hyphens, beginning and ending with a letter or digit, no `..`, not an IP
/// address, none of the reserved prefixes and suffixes. Wildcards are refused.
pub fn validate_bucket_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid bucket name {name:?}: {why}"));
    if !(3..=63).contains(&name.len()) {
        return bad("a bucket name has 3 to 63 characters");
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-')) {
        return bad(&format!("{c:?} is not allowed (only lowercase letters, digits, '.' and '-')"));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return bad("a bucket name begins and ends with a letter or digit");
    }
    if name.contains("..") {
        return bad("a bucket name has no two adjacent dots");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("a bucket name is not an IP address");
    }
    if let Some(prefix) = ["xn--", "sthree-", "amzn-s3-demo-"].into_iter().find(|p| name.starts_with(p)) {
        return bad(&format!("the prefix {prefix:?} is reserved"));
    }
    let suffixes = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if let Some(suffix) = suffixes.into_iter().find(|s| name.ends_with(s)) {
        return bad(&format!("the suffix {suffix:?} is reserved"));
    }
    Ok(())
}

/// IAM actions authorizing an `aws-sdk-s3` operation (its snake_case fluent method name),
/// `None` for operations not mapped yet. From the S3 API reference's "Permissions" sections.
pub fn s3_actions(operation: &str) -> Option<&'static [&'static str]> {
    Some(match operation {
        "get_object" => &["s3:GetObject"],
        // HEAD of an object is authorized as a read of it.
        "head_object" => &["s3:GetObject"],
        "put_object" => &["s3:PutObject"],
        // Every step of a multipart upload is part of writing the object...
        "create_multipart_upload" | "upload_part" | "complete_multipart_upload" => &["s3:PutObject"],
        // ...except giving it up, which has an action of its own.
        "abort_multipart_upload" => &["s3:AbortMultipartUpload"],
        "list_parts" => &["s3:ListMultipartUploadParts"],
        "list_multipart_uploads" => &["s3:ListBucketMultipartUploads"],
        "copy_object" => &["s3:GetObject", "s3:PutObject"],
        // DeleteObjects (batch) is authorized per key as DeleteObject.
        "delete_object" | "delete_objects" => &["s3:DeleteObject"],
        "get_object_tagging" => &["s3:GetObjectTagging"],
        "put_object_tagging" => &["s3:PutObjectTagging"],
        "put_object_acl" => &["s3:PutObjectAcl"],
        // Listing and HEAD of a bucket are both ListBucket on the bucket.
        "list_objects" | "list_objects_v2" | "head_bucket" => &["s3:ListBucket"],
        "list_object_versions" => &["s3:ListBucketVersions"],
        // ListBuckets cannot be scoped to a bucket (resource "*").
        "list_buckets" => &["s3:ListAllMyBuckets"],
        "get_bucket_location" => &["s3:GetBucketLocation"],
        "create_bucket" => &["s3:CreateBucket"],
        "delete_bucket" => &["s3:DeleteBucket"],
        // The public access block of a bucket: the IAM names say "Bucket".
        "get_public_access_block" => &["s3:GetBucketPublicAccessBlock"],
        "put_public_access_block" => &["s3:PutBucketPublicAccessBlock"],
        "delete_public_access_block" => &["s3:PutBucketPublicAccessBlock"],
        "get_bucket_ownership_controls" => &["s3:GetBucketOwnershipControls"],
        "put_bucket_ownership_controls" => &["s3:PutBucketOwnershipControls"],
        // Lifecycle: the IAM names drop "Bucket", and deleting the rules is writing them.
        "get_bucket_lifecycle_configuration" => &["s3:GetLifecycleConfiguration"],
        "put_bucket_lifecycle_configuration" => &["s3:PutLifecycleConfiguration"],
        "delete_bucket_lifecycle" => &["s3:PutLifecycleConfiguration"],
        "get_bucket_policy" => &["s3:GetBucketPolicy"],
        "put_bucket_policy" => &["s3:PutBucketPolicy"],
        "put_bucket_acl" => &["s3:PutBucketAcl"],
        "get_bucket_tagging" => &["s3:GetBucketTagging"],
        "put_bucket_tagging" => &["s3:PutBucketTagging"],
        _ => return None,
    })
}

/// IAM actions authorizing an `aws-sdk-s3control` operation, `None` for operations not mapped yet.
pub fn s3control_actions(operation: &str) -> Option<&'static [&'static str]> {
    Some(match operation {
        "get_public_access_block" => &["s3:GetAccountPublicAccessBlock"],
        _ => return None,
    })
}

/// IAM actions authorizing an `aws-sdk-sts` operation, `None` for operations not mapped yet.
pub fn sts_actions(operation: &str) -> Option<&'static [&'static str]> {
    Some(match operation {
        // Who the caller is needs no permission: it cannot be denied.
        "get_caller_identity" => &[],
        _ => return None,
    })
}

/// IAM actions authorizing an `aws-sdk-lambda` operation, `None` for operations not mapped yet.
pub fn lambda_actions(operation: &str) -> Option<&'static [&'static str]> {
    Some(match operation {
        // Invoke (sync or `InvocationType::Event`) is InvokeFunction.
        "invoke" => &["lambda:InvokeFunction"],
        "get_function" => &["lambda:GetFunction"],
        "get_function_configuration" => &["lambda:GetFunctionConfiguration"],
        "create_function" => &["lambda:CreateFunction"],
        "delete_function" => &["lambda:DeleteFunction"],
        "update_function_code" => &["lambda:UpdateFunctionCode"],
        "update_function_configuration" => &["lambda:UpdateFunctionConfiguration"],
        "put_function_event_invoke_config" => &["lambda:PutFunctionEventInvokeConfig"],
        "update_function_event_invoke_config" => &["lambda:UpdateFunctionEventInvokeConfig"],
        "get_function_event_invoke_config" => &["lambda:GetFunctionEventInvokeConfig"],
        "list_functions" => &["lambda:ListFunctions"],
        "get_account_settings" => &["lambda:GetAccountSettings"],
        "get_function_concurrency" => &["lambda:GetFunctionConcurrency"],
        "put_function_concurrency" => &["lambda:PutFunctionConcurrency"],
        "tag_resource" => &["lambda:TagResource"],
        "untag_resource" => &["lambda:UntagResource"],
        "list_tags" => &["lambda:ListTags"],
        _ => return None,
    })
}

/// Request fields that need an action of their own besides the operation's:
/// (service, operation, builder setter without `set_`, extra IAM action).
pub const SETTER_ACTIONS: &[(&str, &str, &str, &str)] = &[
    // A canned ACL (or grant) on a new object is authorized as PutObjectAcl too.
    ("s3", "put_object", "acl", "s3:PutObjectAcl"),
    ("s3", "create_multipart_upload", "acl", "s3:PutObjectAcl"),
    ("s3", "put_object", "grant_read", "s3:PutObjectAcl"),
    ("s3", "create_multipart_upload", "grant_read", "s3:PutObjectAcl"),
    // Tags on a new object (`x-amz-tagging`) need PutObjectTagging.
    ("s3", "put_object", "tagging", "s3:PutObjectTagging"),
    ("s3", "create_multipart_upload", "tagging", "s3:PutObjectTagging"),
    ("s3", "copy_object", "tagging", "s3:PutObjectTagging"),
    // Deleting one version of an object (not its current state) has an action of its own.
    ("s3", "delete_object", "version_id", "s3:DeleteObjectVersion"),
    // A bucket created with an ACL or an ownership setting.
    ("s3", "create_bucket", "acl", "s3:PutBucketAcl"),
    ("s3", "create_bucket", "object_ownership", "s3:PutBucketOwnershipControls"),
    // Giving a function its execution role is passing the role to Lambda.
    ("lambda", "create_function", "role", "iam:PassRole"),
    ("lambda", "update_function_configuration", "role", "iam:PassRole"),
    // Tags given at creation are TagResource.
    ("lambda", "create_function", "tags", "lambda:TagResource"),
];

/// AWS calls made by credential providers of `aws-config` the code names (the default chain's
/// web identity / Pod Identity exchanges are allowed by the role's trust policy, not by this
/// policy): (type name, IAM action).
pub const CREDENTIAL_PROVIDER_ACTIONS: &[(&str, &str)] = &[("AssumeRoleProvider", "sts:AssumeRole")];

/// What the render function's execution role needs that no code of ours calls: the Lambda
/// runtime sends the function's stdout and stderr to CloudWatch Logs with the role's rights.
pub const FUNCTION_RUNTIME_ACTIONS: &[&str] = &["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"];

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(document: &Value) -> Vec<String> {
        document["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| match &s["Resource"] {
                Value::Array(list) => list.iter().map(|r| r.as_str().unwrap().to_owned()).collect(),
                one => vec![one.as_str().unwrap().to_owned()],
            })
            .collect()
    }

    #[test]
    fn both_documents_are_json_with_unique_sids() {
        for role in [PolicyRole::Operator, PolicyRole::Function] {
            let document = policy(role, None).unwrap();
            assert_eq!(document["Version"], "2012-10-17");
            let sids: Vec<&str> =
                document["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap()).collect();
            let unique: std::collections::BTreeSet<&&str> = sids.iter().collect();
            assert_eq!(unique.len(), sids.len(), "{role:?}: duplicate Sid");
        }
    }

    #[test]
    fn a_bucket_replaces_the_pattern_in_every_s3_resource() {
        let document = policy(PolicyRole::Operator, Some("my-videos")).unwrap();
        let all = resources(&document);
        assert!(all.iter().all(|r| !r.contains(BUCKET_PATTERN)), "{all:?}");
        assert!(all.contains(&"arn:aws:s3:::my-videos".to_owned()));
        assert!(all.contains(&"arn:aws:s3:::my-videos/sites/*".to_owned()));
        assert!(all.contains(&"*".to_owned()), "ListAllMyBuckets stays unscoped");
        assert!(all.iter().any(|r| r.starts_with("arn:aws:lambda:")), "other services are left alone");
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["remotionlambda-useast1-abcd123456", "abc", "my.videos-2", &"a".repeat(63)] {
            assert_eq!(validate_bucket_name(good), Ok(()), "{good}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "My-Bucket",
            "under_score",
            "remotionlambda-*",
            "-dash",
            "dash-",
            "a..b",
            "192.168.1.1",
            "xn--bucket",
            "bucket-s3alias",
            "arn:aws:s3:::bucket",
        ] {
            let error = validate_bucket_name(bad).unwrap_err();
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
        assert!(policy(PolicyRole::Function, Some("Bad")).is_err());
    }
}
