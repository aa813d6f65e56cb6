//! What a recorded request was: its S3 or Lambda operation, and the bucket, key or function it
//! names, read from the path, the query and (for multi-object deletes) the body.

use hyper::{HeaderMap, Method};

use super::Recorded;

/// Decodes `%XX` escapes (no `+`: paths and S3 query values are not form-encoded).
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the query has parameter `name` (`name`, `name=` or `name=value`).
pub(super) fn query_has(query: &str, name: &str) -> bool {
    query.split('&').any(|pair| pair.split('=').next() == Some(name))
}

/// The S3 operation of a path-style request, with its bucket, key and copy source.
pub(crate) fn parse_s3(method: &Method, path: &str, query: &str, headers: &HeaderMap) -> Recorded {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = match trimmed.split_once('/') {
        Some((bucket, key)) if !key.is_empty() => (Some(percent_decode(bucket)), Some(percent_decode(key))),
        Some((bucket, _)) => (Some(percent_decode(bucket)), None),
        None if trimmed.is_empty() => (None, None),
        None => (Some(percent_decode(trimmed)), None),
    };
    let copy_source = headers.get("x-amz-copy-source").and_then(|v| v.to_str().ok()).map(percent_decode);
    let has = |name| query_has(query, name);
    // Sub-resources of buckets whose operation is `<Verb>Bucket<Name>`, and their query names.
    const BUCKET_SUBRESOURCES: [(&str, &str); 10] = [
        ("tagging", "Tagging"),
        ("lifecycle", "LifecycleConfiguration"),
        ("publicAccessBlock", "PublicAccessBlock"),
        ("ownershipControls", "OwnershipControls"),
        ("policy", "Policy"),
        ("acl", "Acl"),
        ("cors", "Cors"),
        ("versioning", "Versioning"),
        ("encryption", "Encryption"),
        ("location", "Location"),
    ];
    let subresource = BUCKET_SUBRESOURCES.iter().find(|(name, _)| has(name)).map(|(_, op)| *op);
    let bucket_op = |verb: &str, default: &str| match subresource {
        // AWS names it PutPublicAccessBlock, not PutBucketPublicAccessBlock.
        Some("PublicAccessBlock") => format!("{verb}PublicAccessBlock"),
        Some(op) => format!("{verb}Bucket{op}"),
        None => default.to_owned(),
    };
    let operation = match (method.as_str(), bucket.is_some(), key.is_some()) {
        ("GET", false, _) => "ListBuckets".to_owned(),
        ("GET", true, false) => bucket_op("Get", if has("uploads") { "ListMultipartUploads" } else { "ListObjects" }),
        ("HEAD", true, false) => "HeadBucket".to_owned(),
        ("PUT", true, false) => bucket_op("Put", "CreateBucket"),
        // AWS names it DeleteBucketLifecycle, not DeleteBucketLifecycleConfiguration.
        ("DELETE", true, false) if has("lifecycle") => "DeleteBucketLifecycle".to_owned(),
        ("DELETE", true, false) => bucket_op("Delete", "DeleteBucket"),
        ("POST", true, false) if has("delete") => "DeleteObjects".to_owned(),
        ("GET", true, true) if has("tagging") => "GetObjectTagging".to_owned(),
        ("GET", true, true) if has("uploadId") => "ListParts".to_owned(),
        ("GET", true, true) => "GetObject".to_owned(),
        ("HEAD", true, true) => "HeadObject".to_owned(),
        ("PUT", true, true) if has("partNumber") && copy_source.is_some() => "UploadPartCopy".to_owned(),
        ("PUT", true, true) if has("partNumber") => "UploadPart".to_owned(),
        ("PUT", true, true) if has("tagging") => "PutObjectTagging".to_owned(),
        ("PUT", true, true) if has("acl") => "PutObjectAcl".to_owned(),
        ("PUT", true, true) if copy_source.is_some() => "CopyObject".to_owned(),
        ("PUT", true, true) => "PutObject".to_owned(),
        ("POST", true, true) if has("uploads") => "CreateMultipartUpload".to_owned(),
        ("POST", true, true) if has("uploadId") => "CompleteMultipartUpload".to_owned(),
        ("DELETE", true, true) if has("uploadId") => "AbortMultipartUpload".to_owned(),
        ("DELETE", true, true) if has("tagging") => "DeleteObjectTagging".to_owned(),
        ("DELETE", true, true) => "DeleteObject".to_owned(),
        _ => format!("{method} {path}"),
    };
    Recorded {
        method: method.clone(),
        path: path.to_owned(),
        query: query.to_owned(),
        operation,
        bucket,
        key,
        deleted_keys: Vec::new(),
        copy_source,
        function: None,
        payload: None,
        status: None,
        fault: None,
        billed_milliseconds: None,
    }
}

/// The keys of a DeleteObjects body (`<Delete><Object><Key>k</Key>…</Object>…</Delete>`).
pub(super) fn delete_objects_keys(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut keys = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("<Key>") {
        rest = &rest[start + "<Key>".len()..];
        let Some(end) = rest.find("</Key>") else { break };
        keys.push(xml_unescape(&rest[..end]));
        rest = &rest[end..];
    }
    keys
}

/// Undoes XML's escapes: the five entities and numeric references.
pub(super) fn xml_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semicolon) = rest.find(';') else { break };
        let entity = &rest[1..semicolon];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semicolon + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A function's name from a name, a partial ARN or an ARN, qualifier dropped
/// (`arn:aws:lambda:us-east-1:123456789012:function:render:live` → `render`).
pub(super) fn function_of(named: &str) -> String {
    let after = named.rsplit_once("function:").map_or(named, |(_, name)| name);
    after.split(':').next().unwrap_or(after).to_owned()
}

/// The Lambda operation of a REST request, and the function it names.
pub(crate) fn parse_lambda(method: &Method, path: &str) -> Recorded {
    let segments: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (function, operation) = match segments.as_slice() {
        [_, "functions"] if *method == Method::POST => (None, Some("CreateFunction")),
        [_, "functions"] => (None, Some("ListFunctions")),
        [_, "functions", name, rest @ ..] => {
            let operation = match (method.as_str(), rest) {
                ("GET", []) => Some("GetFunction"),
                ("DELETE", []) => Some("DeleteFunction"),
                ("POST", ["invocations"]) => Some("Invoke"),
                ("POST", ["invoke-async"]) => Some("InvokeAsync"),
                ("PUT", ["code"]) => Some("UpdateFunctionCode"),
                ("GET", ["configuration"]) => Some("GetFunctionConfiguration"),
                ("PUT", ["configuration"]) => Some("UpdateFunctionConfiguration"),
                ("GET", ["concurrency"]) => Some("GetFunctionConcurrency"),
                ("PUT", ["concurrency"]) => Some("PutFunctionConcurrency"),
                ("DELETE", ["concurrency"]) => Some("DeleteFunctionConcurrency"),
                ("GET", ["event-invoke-config"]) => Some("GetFunctionEventInvokeConfig"),
                ("PUT", ["event-invoke-config"]) => Some("PutFunctionEventInvokeConfig"),
                ("POST", ["event-invoke-config"]) => Some("UpdateFunctionEventInvokeConfig"),
                ("DELETE", ["event-invoke-config"]) => Some("DeleteFunctionEventInvokeConfig"),
                ("POST", ["versions"]) => Some("PublishVersion"),
                ("POST", ["policy"]) => Some("AddPermission"),
                ("DELETE", ["policy", _]) => Some("RemovePermission"),
                _ => None,
            };
            (Some(function_of(name)), operation)
        }
        [_, "tags", arn] => {
            let operation = match method.as_str() {
                "GET" => Some("ListTags"),
                "POST" => Some("TagResource"),
                "DELETE" => Some("UntagResource"),
                _ => None,
            };
            (Some(function_of(arn)), operation)
        }
        _ => (None, None),
    };
    Recorded {
        method: method.clone(),
        path: path.to_owned(),
        query: String::new(),
        operation: operation.map_or_else(|| format!("{method} {path}"), str::to_owned),
        bucket: None,
        key: None,
        deleted_keys: Vec::new(),
        copy_source: None,
        function,
        payload: None,
        status: None,
        fault: None,
        billed_milliseconds: None,
    }
}
