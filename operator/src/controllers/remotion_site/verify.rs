//! The digest check: an archive is used only when its SHA-256 is the one the spec names.

/// The archive is not the one the spec names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the archive's SHA-256 is {actual}, but spec.source.sha256 is {expected}: the source changed or the digest is wrong"
)]
pub struct DigestMismatch {
    /// From the spec.
    pub expected: String,
    /// Of the bytes fetched.
    pub actual: String,
}

/// Compares the fetched digest with the expected one (hex, case-insensitive); no expectation
/// passes.
pub fn verify_sha256(expected: Option<&str>, actual: &str) -> Result<(), DigestMismatch> {
    match expected {
        Some(expected) if !expected.trim().eq_ignore_ascii_case(actual) => {
            Err(DigestMismatch { expected: expected.trim().to_ascii_lowercase(), actual: actual.to_owned() })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_must_match() {
        let digest = "ab".repeat(32);
        assert!(verify_sha256(None, &digest).is_ok());
        assert!(verify_sha256(Some(&digest.to_uppercase()), &digest).is_ok());
        let err = verify_sha256(Some(&"cd".repeat(32)), &digest).unwrap_err();
        assert!(err.to_string().contains(&digest), "{err}");
    }
}
