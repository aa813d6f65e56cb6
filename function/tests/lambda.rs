//! The function binary as a Lambda function under the Lambda emulator, reading a site from a
//! private SeaweedFS bucket (signatures checked: no public access) and writing stills to it.

mod common;

use std::path::Path;

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_s3::primitives::ByteStream;
use common::bundle;
use remotion_crds::protocol::{CompositionsResponse, FunctionError, InfoResponse, PROTOCOL_VERSION, StillResponse};
use remotion_function::site::content_type;
use remotion_tests::TestEnv;
use serde_json::{Value, json};

const FUNCTION: &str = "test-fn-01";

fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testingsecret", None, None, "test"))
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// Invokes and returns the answer or the function's error, whichever shape it arrives in
/// (AWS: 200 + X-Amz-Function-Error; the emulator: HTTP 500 with the same body).
async fn invoke(client: &aws_sdk_lambda::Client, payload: Value) -> Result<Value, FunctionError> {
    let sent =
        client.invoke().function_name(FUNCTION).payload(Blob::new(serde_json::to_vec(&payload).unwrap())).send().await;
    match sent {
        Ok(out) => {
            let body = out.payload().map(Blob::as_ref).unwrap_or_default().to_vec();
            if out.function_error().is_some() {
                Err(serde_json::from_slice(&body).expect("an error body"))
            } else {
                Ok(serde_json::from_slice(&body).expect("a JSON answer"))
            }
        }
        Err(e) => {
            let raw = e.raw_response().expect("the emulator answered").body().bytes().unwrap_or_default().to_vec();
            Err(serde_json::from_slice(&raw).unwrap_or_else(|_| panic!("unexpected invoke failure: {e:?}")))
        }
    }
}

async fn upload_dir(s3: &aws_sdk_s3::Client, bucket: &str, root: &Path, prefix: &str) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let key = format!("{prefix}{}", path.strip_prefix(root).unwrap().to_string_lossy());
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .content_type(content_type(&key))
                .body(ByteStream::from_path(&path).await.unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn the_function_answers_info_compositions_and_stills_from_a_private_bucket() {
    let env = TestEnv::get();
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket("lambda-site").await.unwrap();
    upload_dir(&s3, &bucket, &bundle("build"), "sites/fixture/").await;
    let endpoint = env.s3().endpoint.clone();
    let binary = Path::new(env!("CARGO_BIN_EXE_remotion-function"));
    let mut function = env
        .spawn_function(
            binary,
            FUNCTION,
            2048,
            &[
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testingsecret"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ENDPOINT_URL_S3", &endpoint),
            ],
        )
        .unwrap();
    let lambda = lambda_client(&env.lambda().endpoint);

    let info: InfoResponse = serde_json::from_value(invoke(&lambda, json!({"type": "info"})).await.unwrap()).unwrap();
    assert_eq!(info.protocol_version, PROTOCOL_VERSION);
    assert_eq!(info.memory_size_mb, Some(2048));

    let site = json!({
        "serveUrl": format!("{endpoint}/{bucket}/sites/fixture/index.html"),
        "s3": {"bucket": bucket, "prefix": "sites/fixture/"}
    });
    let answer = invoke(
        &lambda,
        json!({"type": "compositions", "protocolVersion": PROTOCOL_VERSION, "site": site,
               "inputProps": {"type": "inline", "serialized": "{}"}, "timeoutMs": 30000}),
    )
    .await
    .unwrap();
    let compositions: CompositionsResponse = serde_json::from_value(answer).unwrap();
    assert!(compositions.compositions.iter().any(|c| c.id == "Intro" && c.width == 1920));

    // Large props travel through the bucket.
    s3.put_object()
        .bucket(&bucket)
        .key("renders/r1/input-props.json")
        .body(ByteStream::from_static(br##"{"titleText":"From the bucket","titleColor":"#ffcc00"}"##))
        .send()
        .await
        .unwrap();
    let answer = invoke(
        &lambda,
        json!({"type": "still", "protocolVersion": PROTOCOL_VERSION, "renderId": "r1", "bucket": bucket, "site": site,
               "composition": "Intro", "inputProps": {"type": "bucket", "key": "renders/r1/input-props.json"},
               "frame": 95, "imageFormat": "png", "timeoutMs": 30000,
               "output": {"key": "renders/r1/out.png"}}),
    )
    .await
    .unwrap();
    let still: StillResponse = serde_json::from_value(answer).unwrap();
    assert_eq!(still.key, "renders/r1/out.png");
    assert_eq!(still.content_type, "image/png");
    let object = s3.get_object().bucket(&bucket).key("renders/r1/out.png").send().await.unwrap();
    assert_eq!(object.content_type(), Some("image/png"));
    let png = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(png.len() as u64, still.size_bytes);
    let (w, h, _) = common::decode_png(&png);
    assert_eq!((w, h), (1920, 1080));

    // Errors arrive typed.
    let mismatch = invoke(
        &lambda,
        json!({"type": "compositions", "protocolVersion": 99, "site": site,
        "inputProps": {"type": "inline", "serialized": "{}"}, "timeoutMs": 30000}),
    )
    .await
    .unwrap_err();
    assert_eq!(mismatch.error_type, "ProtocolMismatch", "{mismatch:?}");
    let missing = invoke(
        &lambda,
        json!({"type": "compositions", "protocolVersion": PROTOCOL_VERSION,
        "site": {"serveUrl": "x", "s3": {"bucket": bucket, "prefix": "sites/nothing-here/"}},
        "inputProps": {"type": "inline", "serialized": "{}"}, "timeoutMs": 30000}),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.error_type, "SiteUnavailable", "{missing:?}");
    let garbage = invoke(&lambda, json!({"type": "explode"})).await.unwrap_err();
    assert_eq!(garbage.error_type, "InvalidPayload", "{garbage:?}");
    function.check_alive("render function").unwrap();
}
