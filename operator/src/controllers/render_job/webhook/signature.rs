//! The `X-Remotion-Signature` header: `sha512=` and the hex HMAC-SHA512 of the body under the
//! webhook's secret, or `NO_SECRET_PROVIDED` without one — as Remotion's `calculateSignature()`
//! computes it, so receivers using `validateWebhookSignature()` accept it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha512;

/// The header value when the webhook has no secret (Remotion's `secret: null`).
pub const NO_SECRET: &str = "NO_SECRET_PROVIDED";

/// The signature header of `body` under `secret`.
pub fn signature(body: &[u8], secret: Option<&[u8]>) -> String {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else { return NO_SECRET.to_owned() };
    // HMAC takes keys of any length (longer ones are hashed first), so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(secret) else { return NO_SECRET.to_owned() };
    mac.update(body);
    format!("sha512={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_remotion_does() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'mysecret',
        //   b'{\"type\":\"success\",\"renderId\":\"abc\"}', hashlib.sha512).hexdigest())"
        let expected = "sha512=6510837bb9884e185be5a5fdb5f5c527914a7652555503e3acd4c2526bb0f131\
                        d4175e15621ac8416513b7ba387f596f6e6614b1e222523a19b81679c31605c8";
        assert_eq!(signature(br#"{"type":"success","renderId":"abc"}"#, Some(b"mysecret")), expected);
    }

    #[test]
    fn without_a_secret_the_header_says_so() {
        assert_eq!(signature(b"{}", None), "NO_SECRET_PROVIDED");
        // Remotion tests `!secret`: an empty secret is no secret.
        assert_eq!(signature(b"{}", Some(b"")), "NO_SECRET_PROVIDED");
    }
}
