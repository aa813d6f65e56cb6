//! The stand-ins themselves: S3 with signatures checked, and the Lambda emulator running
//! several function processes in parallel.

use std::time::{Duration, Instant};

use anyhow::Result;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use remotion_tests::TestEnv;
use serde_json::{Value, json};

#[tokio::test]
async fn s3_store_serves_each_test_its_own_bucket() -> Result<()> {
    let env = TestEnv::get();
    let s3 = env.s3().client().await;
    let a = env.s3().create_test_bucket("harness-a").await?;
    let b = env.s3().create_test_bucket("harness-b").await?;
    assert_ne!(a, b);
    s3.put_object()
        .bucket(&a)
        .key("renders/x/progress.json")
        .body(ByteStream::from_static(b"{}"))
        .content_type("application/json")
        .send()
        .await?;
    let got = s3.get_object().bucket(&a).key("renders/x/progress.json").send().await?;
    assert_eq!(got.content_type(), Some("application/json"));
    assert_eq!(got.body.collect().await?.into_bytes().as_ref(), b"{}");
    let listed = s3.list_objects_v2().bucket(&b).send().await?;
    assert_eq!(listed.key_count(), Some(0));
    // Signatures are checked: a wrong secret is refused.
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&env.s3().endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new("testing", "wrong-secret", None, None, "test"))
        .build();
    let denied = aws_sdk_s3::Client::from_conf(config).list_objects_v2().bucket(&a).send().await;
    assert!(denied.is_err(), "a wrong secret key must be refused");
    Ok(())
}

async fn invoke(client: &aws_sdk_lambda::Client, function: &str, payload: Value) -> Result<Value> {
    remotion_tests::lambda::invoke(client, function, &payload)
        .await?
        .map_err(|e| anyhow::anyhow!("function error: {e}"))
}

#[tokio::test]
async fn lambda_emulator_runs_function_processes_in_parallel() -> Result<()> {
    let env = TestEnv::get();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_echo-function"));
    let name = "test-fn-00";
    let mut processes = Vec::new();
    for _ in 0..2 {
        processes.push(env.spawn_function(binary, name, 2048, &[])?);
    }
    let client = env.lambda().client();

    let answer = invoke(&client, name, json!({"hello": "world"})).await?;
    assert_eq!(answer["echo"]["hello"], "world");
    assert_eq!(answer["functionName"], name);

    // Two processes serve two 1.5 s invocations at once.
    let start = Instant::now();
    let (x, y) =
        tokio::join!(invoke(&client, name, json!({"sleepMs": 1500})), invoke(&client, name, json!({"sleepMs": 1500})));
    let elapsed = start.elapsed();
    assert_ne!(x?["process"], y?["process"], "both processes served");
    assert!(elapsed < Duration::from_millis(2900), "ran in parallel: {elapsed:?}");

    // A function error comes back as the function's error body.
    let failed = remotion_tests::lambda::invoke(&client, name, &json!({"fail": "boom"})).await?;
    assert_eq!(failed.unwrap_err()["errorMessage"], "boom");
    for p in &mut processes {
        p.check_alive("echo function")?;
    }
    Ok(())
}
