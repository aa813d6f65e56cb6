//! Step 3: what the status says about a ready bucket.

use super::s3::Setting;

/// Base URL of the bucket: path-style under a custom endpoint, virtual-hosted on AWS.
pub fn bucket_url(endpoint: Option<&str>, region: &str, name: &str) -> String {
    match endpoint {
        Some(endpoint) => format!("{}/{name}", endpoint.trim_end_matches('/')),
        None => format!("https://{name}.s3.{region}.amazonaws.com"),
    }
}

/// The Ready message: stable across reconciles (how the bucket was found goes to an Event),
/// plus what an S3-compatible store could not do.
pub fn ready_message(name: &str, owner: Setting, public: Setting, expiry: Setting, expiry_enabled: bool) -> String {
    let mut message = format!("Bucket {name} is ready");
    if owner == Setting::Unsupported {
        message.push_str(
            "; the S3-compatible store does not support bucket tags, so no owner is recorded (and deletionPolicy Delete keeps the bucket)",
        );
    }
    if public == Setting::Unsupported {
        message.push_str(
            "; the S3-compatible store does not support PublicAccessBlock (access is whatever the store enforces)",
        );
    }
    if expiry_enabled && expiry == Setting::Unsupported {
        message.push_str("; the S3-compatible store does not support lifecycle rules, so deleteAfter has no effect");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_path_style_on_custom_endpoints_and_virtual_hosted_on_aws() {
        assert_eq!(bucket_url(Some("http://127.0.0.1:8333/"), "eu-west-1", "b"), "http://127.0.0.1:8333/b");
        assert_eq!(bucket_url(None, "eu-west-1", "b"), "https://b.s3.eu-west-1.amazonaws.com");
    }

    #[test]
    fn the_message_says_what_the_store_could_not_do() {
        let ok = Setting::Applied;
        assert_eq!(ready_message("b", ok, ok, ok, true), "Bucket b is ready");
        let message = ready_message("b", ok, Setting::Unsupported, Setting::Unsupported, true);
        assert!(message.contains("PublicAccessBlock") && message.contains("lifecycle rules"), "{message}");
        // Expiry not asked for: its support does not matter.
        assert_eq!(ready_message("b", ok, Setting::Unchanged, Setting::Unsupported, false), "Bucket b is ready");
        let message = ready_message("b", Setting::Unsupported, ok, ok, false);
        assert!(message.contains("no owner is recorded"), "{message}");
    }
}
