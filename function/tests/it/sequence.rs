//! Image sequences through a real launch: every selected frame of `Tiny` uploaded by its chunk
//! as a PNG named the way Remotion names it, no video, a ZIP archive of exactly those files,
//! and every frame's pixels those of our still of the same frame.

use std::io::Read;
use std::time::Instant;

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::site::Site;
use remotion_protocol::payload::PROTOCOL_VERSION;
use remotion_protocol::progress::{ProgressDocument, Stage};
use remotion_tests::TestEnv;
use serde_json::json;

use crate::common::{self, bucket_and_functions, bundle};

async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> (Option<String>, Vec<u8>) {
    let object = s3.get_object().bucket(bucket).key(key).send().await.unwrap_or_else(|e| panic!("{key}: {e:?}"));
    let content_type = object.content_type().map(str::to_owned);
    (content_type, object.body.collect().await.unwrap().into_bytes().to_vec())
}

async fn keys_under(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let out = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

#[tokio::test]
async fn a_launch_writes_every_nth_frame_as_a_png_named_like_remotion_and_archives_them() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-15", "test-fn-16");
    let (s3, bucket, mut processes) = bucket_and_functions("launch-sequence", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 2));
    let id = "sequence";
    // Frames 95–110, every 3rd: 96, 99, 102, 105, 108 (multiples of 3, as Remotion selects),
    // named with 3 digits (those of 108), in 2 chunks.
    let payload = json!({
        "type": "launch", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
        "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
        "siteNamespace": "tests", "siteName": "fixture", "composition": "Tiny",
        "inputProps": {"type": "inline", "serialized": "{}"},
        "encoding": {"codec": "h264", "imageFormat": "png", "everyNthFrame": 3, "imageSequence": {"archive": true}},
        "frameRange": {"start": 95, "end": 110},
        "chunking": {"concurrency": 2},
        "maxRetries": 1, "timeoutMs": 30000,
        "output": {},
        "renderer": {"functionName": renderer, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                     "architecture": "x86_64", "timeoutSeconds": 300, "maxConcurrency": 2},
    });
    let started = Instant::now();
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &payload).await.unwrap();
    let answer = answer.expect("the launch succeeds");
    let wall = started.elapsed();
    let folder = format!("renders/{id}/frames/");
    assert_eq!(answer["outputKey"], json!(folder));
    let (_, doc) = object(&s3, &bucket, &format!("renders/{id}/progress.json")).await;
    let done: ProgressDocument = serde_json::from_slice(&doc).unwrap();
    assert_eq!(done.stage, Stage::Done, "{done:?}");
    assert_eq!((done.frames_total, done.frames_rendered, done.chunks_total), (5, 5, 2));
    let resolved = done.resolved.clone().unwrap();
    assert_eq!((resolved.codec, resolved.output_key.as_str()), (None, folder.as_str()), "no codec, the folder");
    let output = done.output.clone().expect("the output is recorded");
    assert_eq!((output.key.as_str(), output.content_type.as_str()), (folder.as_str(), "image/png"));
    assert_eq!((output.frames, output.sequence_pattern.as_deref()), (Some(5), Some("element-[frame].png")));

    // Exactly the selected frames, named as Remotion names them, nothing else in the folder.
    let frames = [96u64, 99, 102, 105, 108];
    let names: Vec<String> = frames.iter().map(|f| format!("element-{f:03}.png")).collect();
    let mut listed = keys_under(&s3, &bucket, &folder).await;
    listed.sort();
    assert_eq!(listed, names.iter().map(|n| format!("{folder}{n}")).collect::<Vec<_>>());
    assert!(keys_under(&s3, &bucket, &format!("renders/{id}/chunks/")).await.is_empty());
    assert!(!keys_under(&s3, &bucket, &format!("renders/{id}/")).await.iter().any(|k| k.ends_with(".mp4")), "no video");

    // Each frame is our still of the same frame, pixel for pixel (and not its neighbour's).
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let mut total = 0;
    let mut images = Vec::new();
    for (frame, name) in frames.iter().zip(&names) {
        let (content_type, bytes) = object(&s3, &bucket, &format!("{folder}{name}")).await;
        assert_eq!(content_type.as_deref(), Some("image/png"));
        let (width, height, pixels) = common::decode_png(&bytes);
        assert_eq!((width, height), (64, 64), "{name}");
        let still = common::still(&browser, &site, "Tiny", "{}", *frame).await;
        assert_eq!(common::differing_pixels(&pixels, &still), 0, "{name} is frame {frame}");
        let neighbour = common::still(&browser, &site, "Tiny", "{}", frame + 1).await;
        assert!(common::differing_pixels(&pixels, &neighbour) > 1000, "{name} is not frame {}", frame + 1);
        total += bytes.len() as u64;
        images.push(bytes);
    }
    browser.close().await;
    assert_eq!(output.size_bytes, total, "the output's size is its frames'");

    // The archive: beside the folder, exactly the frames, in frame order, byte for byte.
    let archive = output.archive.clone().expect("the archive is recorded");
    assert_eq!(archive.key, format!("renders/{id}/frames.zip"));
    let (content_type, zip_bytes) = object(&s3, &bucket, &archive.key).await;
    assert_eq!((content_type.as_deref(), zip_bytes.len() as u64), (Some("application/zip"), archive.size_bytes));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    assert_eq!(zip.file_names().count(), names.len());
    for (i, (name, image)) in names.iter().zip(&images).enumerate() {
        let mut entry = zip.by_index(i).unwrap();
        assert_eq!(entry.name().unwrap(), name.as_str());
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert!(&content == image, "{name} in the archive is the frame's object");
    }
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
    eprintln!("image sequence: 5 PNG frames in 2 chunks + archive, {:.1} s wall", wall.as_secs_f64());
}
