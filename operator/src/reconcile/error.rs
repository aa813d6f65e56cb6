//! Reconcile errors. Each carries a [`Reason`] (the metric label, the condition reason and the
//! Warning Event reason) which also says whether the error is terminal (the spec, or something
//! it references, must change) or transient (retried with backoff), and keeps its cause as a
//! `source` so the message a user reads names every link of the chain.

use remotion_crds::Reason;

/// The cause of an error, kept for its message chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("Kubernetes API")]
    Kube(#[from] kube::Error),

    /// Anything else, with its reason.
    #[error("{message}")]
    Failed {
        /// Why, as one word; decides terminal or transient.
        reason: Reason,
        /// What failed, and what to do about it when the reason is terminal.
        message: String,
        /// What it failed on.
        #[source]
        source: Option<Cause>,
    },
}

impl Error {
    /// An error of `reason` with nothing underneath.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self::Failed { reason, message: message.into(), source: None }
    }

    /// An error of `reason` caused by `source`: the message says what was being done, the
    /// source what went wrong.
    pub fn caused_by(
        reason: Reason,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Failed { reason, message: message.into(), source: Some(Box::new(source)) }
    }

    /// The reason (metric label, condition and Event reason).
    pub fn reason(&self) -> Reason {
        match self {
            Self::Kube(kube::Error::Api(status)) if status.code == 409 => Reason::Conflict,
            Self::Kube(_) => Reason::KubernetesApi,
            Self::Failed { reason, .. } => *reason,
        }
    }

    /// Whether the spec must change before a retry can succeed.
    pub fn is_terminal(&self) -> bool {
        match self {
            // The API server rejected what we sent as invalid: sending it again will not help.
            Self::Kube(kube::Error::Api(status)) => status.code == 422,
            Self::Kube(_) => false,
            Self::Failed { reason, .. } => reason.is_terminal(),
        }
    }

    /// The message for conditions and Events: this error and each cause it names, joined by
    /// `: ` (a cause whose text the message already holds is not repeated).
    pub fn report(&self) -> String {
        chain_message(self)
    }
}

/// `error` and its sources as one line.
pub fn chain_message(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        next = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_decide_the_class() {
        let terminal = Error::new(Reason::MultipleBuckets, "two buckets");
        assert!(terminal.is_terminal());
        assert_eq!(terminal.reason(), Reason::MultipleBuckets);
        assert_eq!(terminal.report(), "two buckets");
        let transient = Error::new(Reason::S3Unavailable, "timed out");
        assert!(!transient.is_terminal());
        let conflict =
            Error::Kube(kube::Error::Api(Box::new(kube::core::Status::failure("conflict", "Conflict").with_code(409))));
        assert_eq!(conflict.reason(), Reason::Conflict);
        assert!(!conflict.is_terminal());
    }

    #[test]
    fn the_report_names_every_cause_once() {
        let io = std::io::Error::other("disk full");
        let error = Error::caused_by(Reason::ScratchSpaceError, "writing the archive", io);
        assert_eq!(error.report(), "writing the archive: disk full");
        let said =
            Error::caused_by(Reason::ScratchSpaceError, "writing: disk full", std::io::Error::other("disk full"));
        assert_eq!(said.report(), "writing: disk full");
        let kube = Error::Kube(kube::Error::Api(Box::new(
            kube::core::Status::failure("forbidden by RBAC", "Forbidden").with_code(403),
        )));
        assert!(kube.report().starts_with("Kubernetes API: "), "{}", kube.report());
        assert!(kube.report().contains("forbidden by RBAC"), "{}", kube.report());
    }
}
