//! The output upload on the real S3 stand-in, above one part: a multipart upload that may not
//! replace an object (`output.overwrite: false`) carries the headers and metadata asked for, is
//! known as its writer's own when written again, and refuses another writer naming the key
//! before any part goes up. (Single-part uploads go through the operator's end-to-end test.)

use std::collections::HashMap;

use remotion_function::error::RenderError;
use remotion_function::storage::{self, UploadOptions};
use remotion_protocol::output::{RENDER_ID_METADATA, StorageClass};
use remotion_tests::TestEnv;

#[tokio::test]
async fn a_multipart_output_is_written_once_with_its_headers() {
    let env = TestEnv::get();
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket("output-upload").await.unwrap();
    // Just above one 16 MiB part: two parts.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), vec![7u8; 17 * 1024 * 1024]).unwrap();
    let options = |writer: &str| UploadOptions {
        content_type: "video/mp4".into(),
        only_new: Some(writer.into()),
        content_disposition: Some(r#"attachment; filename="big.mp4""#.into()),
        storage_class: Some(StorageClass::StandardIa),
        metadata: HashMap::from([("project".to_owned(), "p-1".to_owned())]),
        ..UploadOptions::default()
    };
    let key = "outputs/tests/big.mp4";
    let size = storage::upload_file(&s3, &bucket, key, file.path(), &options("r1")).await.unwrap();
    assert_eq!(size, 17 * 1024 * 1024);
    let head = s3.head_object().bucket(&bucket).key(key).send().await.unwrap();
    assert_eq!(head.content_length(), Some(17 * 1024 * 1024));
    assert_eq!(head.content_disposition(), Some(r#"attachment; filename="big.mp4""#));
    assert_eq!(head.storage_class().map(|c| c.as_str()), Some("STANDARD_IA"));
    let metadata = head.metadata().cloned().unwrap_or_default();
    assert_eq!(metadata.get("project").map(String::as_str), Some("p-1"));
    assert_eq!(metadata.get(RENDER_ID_METADATA).map(String::as_str), Some("r1"));

    // The same writer again (a retried upload): its own object, no error.
    storage::upload_file(&s3, &bucket, key, file.path(), &options("r1")).await.unwrap();
    // Another writer: refused, naming the key, and the first object stays.
    let error = storage::upload_file(&s3, &bucket, key, file.path(), &options("r2")).await.unwrap_err();
    assert!(matches!(&error, RenderError::OutputExists { key: k, .. } if k == key), "{error:?}");
    let head = s3.head_object().bucket(&bucket).key(key).send().await.unwrap();
    assert_eq!(head.metadata().and_then(|m| m.get(RENDER_ID_METADATA)).map(String::as_str), Some("r1"));
    // No parts of a refused upload are left billed in the bucket.
    let uploads = s3.list_multipart_uploads().bucket(&bucket).send().await.unwrap();
    assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
}
