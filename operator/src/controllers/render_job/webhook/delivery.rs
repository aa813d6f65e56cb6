//! One attempt at a webhook: the URL checked against the [`AddressGuard`], then one POST with
//! Remotion's headers, bounded by [`ATTEMPT_TIMEOUT`], never following a redirect (a redirect
//! could lead anywhere the guard refuses; Remotion's receivers answer directly).

use std::error::Error as _;

use reqwest::header::{CONTENT_TYPE, HeaderValue};

use super::guard::{AddressGuard, GuardedResolver, Refusal};
use super::payload::Payload;
use super::schedule::{ATTEMPT_TIMEOUT, Attempt};
use super::signature::signature;

/// Remotion's headers.
pub const MODE_HEADER: &str = "X-Remotion-Mode";
/// `sha512=<hex>` or `NO_SECRET_PROVIDED`.
pub const SIGNATURE_HEADER: &str = "X-Remotion-Signature";
/// `success`, `error` or `timeout`.
pub const STATUS_HEADER: &str = "X-Remotion-Status";

/// Sends webhooks. Build once and share: it pools connections.
pub struct Sender {
    client: reqwest::Client,
    guard: AddressGuard,
}

impl Sender {
    /// A sender calling only the addresses `guard` allows.
    pub fn new(guard: AddressGuard) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .dns_resolver(GuardedResolver::new(guard))
            // An admin's HTTPS_PROXY is honoured (the address check before sending still
            // applies; the proxy then connects on its own).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("remotion-operator/", env!("CARGO_PKG_VERSION")))
            .timeout(ATTEMPT_TIMEOUT)
            .build()?;
        Ok(Self { client, guard })
    }

    /// POSTs `payload` to `url`, signed with `secret`.
    pub async fn send(&self, url: &str, payload: &Payload, secret: Option<&[u8]>) -> Attempt {
        let parsed = match self.guard.check_url(url) {
            Ok(parsed) => parsed,
            Err(refusal) => return Attempt::Refused { error: refusal.to_string() },
        };
        if let Some(url::Host::Domain(host)) = parsed.host() {
            let port = parsed.port_or_known_default().unwrap_or(443);
            let found: Vec<std::net::SocketAddr> = match tokio::net::lookup_host((host, port)).await {
                Ok(found) => found.collect(),
                Err(e) => return Attempt::Failed { code: None, error: format!("{host} does not resolve: {e}") },
            };
            if let Err(refusal) = self.guard.check_resolved(host, &found) {
                return Attempt::Refused { error: refusal.to_string() };
            }
        }
        let request = self
            .client
            .post(parsed)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(MODE_HEADER, "production")
            .header(SIGNATURE_HEADER, signature(payload.body.as_bytes(), secret))
            .header(STATUS_HEADER, payload.kind.as_str())
            .body(payload.body.clone());
        match request.send().await {
            Ok(response) => judge(response.status()),
            Err(error) => failure(&error),
        }
    }
}

/// What an answer means: 2xx delivered, anything else failed (as Remotion: `status > 299`).
fn judge(status: reqwest::StatusCode) -> Attempt {
    let code = status.as_u16();
    if status.is_success() {
        Attempt::Delivered { code }
    } else if status.is_redirection() {
        let error = format!("answered HTTP {code}: redirects are not followed, point webhook.url at the final address");
        Attempt::Failed { code: Some(code), error }
    } else {
        Attempt::Failed { code: Some(code), error: format!("answered HTTP {code}") }
    }
}

/// A request that got no answer: refused by the resolver, timed out, or failed to connect.
fn failure(error: &reqwest::Error) -> Attempt {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            return Attempt::Refused { error: refusal.to_string() };
        }
        source = cause.source();
    }
    if error.is_timeout() {
        return Attempt::Failed { code: None, error: format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()) };
    }
    Attempt::Failed { code: None, error: chain(error) }
}

/// An error and its causes, `: `-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn only_2xx_is_delivered() {
        assert_eq!(judge(StatusCode::OK), Attempt::Delivered { code: 200 });
        assert_eq!(judge(StatusCode::NO_CONTENT), Attempt::Delivered { code: 204 });
        assert!(matches!(judge(StatusCode::INTERNAL_SERVER_ERROR), Attempt::Failed { code: Some(500), .. }));
        let Attempt::Failed { error, .. } = judge(StatusCode::FOUND) else { panic!("a redirect is no delivery") };
        assert!(error.contains("redirects are not followed"), "{error}");
    }
}
