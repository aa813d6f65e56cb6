//! Least privilege proven against a policy evaluator: moto authorizes every request against the
//! IAM policy of the user whose keys signed it, and the operator runs with a user holding
//! `config/iam/operator-policy.json`. A LambdaBucket's whole life (auto-named bucket found
//! among all buckets, created, tagged, public access, ownership, lifecycle rules, then emptied
//! and deleted) succeeds; a user whose policy lacks one action fails at that action, with the
//! call named in the condition. `iam_policy.rs` proves the policy against the source; this
//! proves its S3 half against authorization as moto evaluates it.
//!
//! The Lambda half is not run here: moto 5.2.5, enforcing IAM, refuses every Lambda REST call
//! with `SignatureDoesNotMatch`, boto3's own included (its S3 and IAM checks work). Lambda's
//! calls are shown on moto without enforcement (`render_function.rs`).

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, DeleteParams, PostParams};
use remotion_crds::common::find_condition;
use remotion_crds::lambda_bucket::{DeletionPolicy, Expiry};
use remotion_crds::{AwsAccess, AwsCredentials, LambdaBucket, LambdaBucketSpec, LocalObjectRef};
use remotion_operator::aws::{ObjectData, StaticSecrets};
use remotion_tests::TestEnv;
use remotion_tests::moto::{EnforcingMoto, UserKeys};
use serde_json::{Value, json};

use crate::common::{CREDENTIALS_SECRET, Operator, eventually};

const WAIT: Duration = Duration::from_secs(90);
/// The action the restricted user's policy lacks.
const REMOVED_ACTION: &str = "s3:PutBucketTagging";

/// The operator's policy as shipped, plus one statement for where moto's evaluator differs
/// from AWS's (measured with moto 5.2.5): moto authorizes HeadBucket as `s3:HeadBucket`, an
/// action AWS does not have (AWS authorizes it with `s3:ListBucket`, which the shipped policy
/// grants on the same buckets), and DeleteObjects with `s3:DeleteObject` on the bucket's ARN
/// (AWS checks it per object, on the object ARNs the shipped policy names).
fn operator_policy() -> Result<String> {
    let shipped = std::fs::read_to_string(remotion_tests::paths::repo_root().join("config/iam/operator-policy.json"))?;
    let mut document: Value = serde_json::from_str(&shipped)?;
    let statements = document["Statement"].as_array_mut().expect("the policy has statements");
    assert!(
        statements.iter().any(|s| s["Action"].as_array().is_some_and(|a| a.iter().any(|a| a == "s3:ListBucket"))),
        "the shipped policy grants s3:ListBucket (AWS's action for HeadBucket)"
    );
    assert!(
        statements.iter().any(|s| s["Action"].as_array().is_some_and(|a| a.iter().any(|a| a == "s3:DeleteObject"))),
        "the shipped policy grants s3:DeleteObject on objects (AWS's check for DeleteObjects)"
    );
    statements.push(json!({
        "Sid": "MotosResourcesForHeadBucketAndDeleteObjects", "Effect": "Allow",
        "Action": ["s3:HeadBucket", "s3:DeleteObject"], "Resource": "arn:aws:s3:::remotionlambda-*",
    }));
    Ok(document.to_string())
}

/// The operator's policy without `action`.
fn policy_without(policy: &str, action: &str) -> Result<String> {
    let mut document: Value = serde_json::from_str(policy)?;
    for statement in document["Statement"].as_array_mut().into_iter().flatten() {
        if let Some(actions) = statement["Action"].as_array_mut() {
            actions.retain(|a| a != action);
        }
    }
    Ok(document.to_string())
}

fn secrets_with(namespace: &str, keys: &UserKeys) -> std::sync::Arc<StaticSecrets> {
    let secrets = std::sync::Arc::new(StaticSecrets::default());
    secrets.put_secret(
        namespace,
        CREDENTIALS_SECRET,
        ObjectData {
            resource_version: "1".into(),
            data: [
                ("AWS_ACCESS_KEY_ID".to_owned(), keys.access_key_id.as_bytes().to_vec()),
                ("AWS_SECRET_ACCESS_KEY".to_owned(), keys.secret_access_key.as_bytes().to_vec()),
            ]
            .into(),
            ..Default::default()
        },
    );
    secrets
}

fn access(endpoint: &str) -> AwsAccess {
    AwsAccess {
        region: "us-east-1".into(),
        credentials: Some(AwsCredentials {
            secret_ref: Some(LocalObjectRef::new(CREDENTIALS_SECRET)),
            role_arn: None,
            external_id: None,
        }),
        endpoint: Some(endpoint.to_owned()),
    }
}

/// `Ready`'s status, reason and message.
fn ready_of(conditions: Option<&[Condition]>) -> Option<(String, String, String)> {
    conditions.and_then(|c| find_condition(c, "Ready")).map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// An S3 client signing with `keys` (the operator's user: the test's own reads are authorized
/// by the same policy).
fn s3_as(endpoint: &str, keys: &UserKeys) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            &keys.access_key_id,
            &keys.secret_access_key,
            None,
            None,
            "test",
        ))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[tokio::test]
async fn the_shipped_policy_allows_every_call_and_one_action_less_fails() -> Result<()> {
    let env = TestEnv::get();
    let policy = operator_policy()?;
    let restricted = policy_without(&policy, REMOVED_ACTION)?;
    assert_ne!(restricted, policy, "{REMOVED_ACTION} is in the policy");
    let aws = EnforcingMoto::start(
        env.reaper(),
        &env.run_dir().join("moto-iam"),
        &[("operator", policy.as_str()), ("restricted", restricted.as_str())],
    )?;
    let endpoint = aws.moto.endpoint.clone();
    let client = env.kube_client().await?;

    // The full policy: a bucket's whole life.
    let namespace = env.unique_name("iam-enforced");
    let operator =
        Operator::start(client.clone(), secrets_with(&namespace, &aws.users["operator"]), &namespace).await?;
    let buckets: Api<LambdaBucket> = Api::namespaced(client.clone(), &namespace);
    let spec = LambdaBucketSpec {
        aws: access(&endpoint),
        bucket_name: None,
        deletion_policy: DeletionPolicy::Delete,
        expiry: Some(Expiry { enabled: true }),
        public_outputs: true,
        tags: [("team".to_owned(), "video".to_owned())].into(),
    };
    buckets.create(&PostParams::default(), &LambdaBucket::new("main", spec)).await?;
    let bucket = eventually("the bucket Ready under the shipped policy", WAIT, || async {
        let lb = buckets.get("main").await?;
        let status = lb.status.as_ref();
        let ready = ready_of(status.map(|s| s.conditions.as_slice()));
        Ok(match ready {
            Some((s, _, _)) if s == "True" => status.and_then(|s| s.bucket_name.clone()),
            _ => None,
        })
    })
    .await;
    let bucket = match bucket {
        Ok(bucket) => bucket,
        Err(e) => {
            let last = buckets.get("main").await?.status;
            return Err(e.context(format!("last status: {last:?}")));
        }
    };
    assert!(bucket.starts_with("remotionlambda-useast1-"), "{bucket}");
    let s3 = s3_as(&endpoint, &aws.users["operator"]);
    let tags = s3.get_bucket_tagging().bucket(&bucket).send().await?;
    assert!(tags.tag_set().iter().any(|t| t.key() == "team" && t.value() == "video"), "{tags:?}");
    // Something to empty before the bucket can go: a site file and a render file.
    for key in ["sites/iam/index.html", "renders/r1/out.mp4"] {
        s3.put_object().bucket(&bucket).key(key).body(b"x".to_vec().into()).send().await?;
    }

    // Deletion: the bucket emptied and deleted, all under the same policy.
    buckets.delete("main", &DeleteParams::default()).await?;
    let deleted = eventually("the bucket deleted under the shipped policy", WAIT, || async {
        let listed = s3.list_buckets().send().await?;
        Ok((!listed.buckets().iter().any(|b| b.name() == Some(bucket.as_str()))).then_some(()))
    })
    .await;
    if let Err(e) = deleted {
        let last = buckets.get_opt("main").await?.and_then(|lb| lb.status);
        return Err(e.context(format!("last status: {last:?}")));
    }
    operator.stop().await?;

    // One action less: the bucket is created, then its tagging is refused, the call named in
    // the condition.
    let namespace = env.unique_name("iam-restricted");
    let operator =
        Operator::start(client.clone(), secrets_with(&namespace, &aws.users["restricted"]), &namespace).await?;
    let buckets: Api<LambdaBucket> = Api::namespaced(client.clone(), &namespace);
    let spec = LambdaBucketSpec {
        aws: access(&endpoint),
        bucket_name: Some("remotionlambda-useast1-restricted".into()),
        deletion_policy: DeletionPolicy::Retain,
        expiry: None,
        public_outputs: false,
        tags: Default::default(),
    };
    buckets.create(&PostParams::default(), &LambdaBucket::new("main", spec)).await?;
    let failed = eventually("the restricted user's bucket fails", WAIT, || async {
        let lb = buckets.get("main").await?;
        Ok(match ready_of(lb.status.as_ref().map(|s| s.conditions.as_slice())) {
            // Retried with backoff (a policy can be mended), and said at once.
            Some((s, reason, message)) if s != "True" && message.contains("AccessDenied") => Some((reason, message)),
            _ => None,
        })
    })
    .await;
    let (reason, message) = match failed {
        Ok(failed) => failed,
        Err(e) => {
            let last = buckets.get_opt("main").await?.and_then(|lb| lb.status);
            return Err(e.context(format!("last status: {last:?}")));
        }
    };
    assert_eq!(reason, "S3Error", "{message}");
    assert!(message.contains("PutBucketTagging") && message.contains("AccessDenied"), "{message}");
    operator.stop().await
}
