//! Reconcile errors: transient (retried with backoff) or terminal (the spec, or something it
//! references, must change). `kind()` is the metric label, the condition reason and the
//! Warning Event reason.

/// What went wrong in a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    /// Retrying the same spec may succeed (network, throttling, eventual consistency).
    #[error("{message}")]
    Transient {
        /// CamelCase kind, e.g. `S3Unavailable`.
        kind: String,
        /// What failed and what is retried.
        message: String,
    },

    /// The spec (or a referenced object) must change; retrying as is will not help.
    #[error("{message}")]
    Terminal {
        /// CamelCase kind, e.g. `MultipleBuckets`.
        kind: String,
        /// What is wrong and what to do about it.
        message: String,
    },
}

impl Error {
    /// A transient error of `kind`.
    pub fn transient(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Transient { kind: kind.into(), message: message.into() }
    }

    /// A terminal error of `kind`.
    pub fn terminal(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Terminal { kind: kind.into(), message: message.into() }
    }

    /// One CamelCase word naming the error (metric label, condition and Event reason).
    pub fn kind(&self) -> &str {
        match self {
            Self::Kube(kube::Error::Api(status)) if status.code == 409 => "Conflict",
            Self::Kube(_) => "KubernetesApi",
            Self::Transient { kind, .. } | Self::Terminal { kind, .. } => kind,
        }
    }

    /// Whether the spec must change before a retry can succeed.
    pub fn is_terminal(&self) -> bool {
        match self {
            Self::Terminal { .. } => true,
            // The API server rejected what we sent as invalid: sending it again will not help.
            Self::Kube(kube::Error::Api(status)) => status.code == 422,
            Self::Kube(_) | Self::Transient { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_classes() {
        let terminal = Error::terminal("MultipleBuckets", "two buckets");
        assert!(terminal.is_terminal());
        assert_eq!(terminal.kind(), "MultipleBuckets");
        assert_eq!(terminal.to_string(), "two buckets");
        let transient = Error::transient("S3Unavailable", "timed out");
        assert!(!transient.is_terminal());
        assert_eq!(transient.kind(), "S3Unavailable");
        let conflict =
            Error::Kube(kube::Error::Api(Box::new(kube::core::Status::failure("conflict", "Conflict").with_code(409))));
        assert_eq!(conflict.kind(), "Conflict");
        assert!(!conflict.is_terminal());
    }
}
