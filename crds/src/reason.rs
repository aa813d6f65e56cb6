//! Every `reason` the operator writes into a condition or an Event, as one enum.
//!
//! A reason is one CamelCase word (the variant's name). Whether it is terminal decides how a
//! failure is shown and retried: a terminal reason means the object stays as it is until its
//! spec, or an object it refers to, changes (`Ready=False`, a Warning Event, a slow re-check);
//! any other failure is retried with backoff (`Ready=Unknown`, "(retrying)"). The render
//! function's error kinds are reasons too: they end a RenderJob `Failed`.
//!
//! `docs/troubleshooting.md` explains each reason; a test keeps the two in step.

use remotion_protocol::payload::ErrorKind;

/// A condition or Event reason.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter, strum::EnumString, strum::Display,
)]
pub enum Reason {
    // --- Normal progress (conditions and Normal Events) ---
    /// First visit or a change being worked on.
    Reconciling,
    /// The Lambda function is being created or updated.
    Deploying,
    /// The bucket, function or site is ready.
    Available,
    /// The function answers `info` (Event).
    Ready,
    /// Nothing under way.
    Idle,
    /// A render was launched; no progress report yet.
    Launched,
    /// A render is under way.
    Rendering,
    /// A render wrote its output.
    Succeeded,
    /// `spec.cancel` was seen and the cancel signal written.
    CancelRequested,
    /// A render stopped on request.
    Cancelled,
    /// A bucket or function was created (Event).
    Created,
    /// An existing bucket was adopted (Event).
    Adopted,
    /// A function's code or configuration was updated (Event).
    Updated,
    /// A bucket or site was deleted (Event).
    Deleted,
    /// A bucket was kept on deletion of its LambdaBucket (Event).
    Retained,
    /// A site's files were uploaded (Event).
    Synced,
    /// A job asks for expiry on a bucket without expiry rules (Warning Event).
    ExpiryDisabled,

    // --- Waiting for another object ---
    /// The LambdaBucket referred to does not exist.
    BucketNotFound,
    /// The LambdaBucket referred to is not Ready.
    BucketNotReady,
    /// The RemotionSite referred to does not exist.
    SiteNotFound,
    /// The RemotionSite referred to is not Ready.
    SiteNotReady,
    /// The RenderFunction referred to does not exist.
    FunctionNotFound,
    /// The RenderFunction referred to is not Ready.
    FunctionNotReady,
    /// The ConfigMap or Secret key of `inputPropsFrom` does not exist.
    InputPropsNotFound,
    /// The Secret of `inputPropsFrom` is not labelled for use as input props.
    InputPropsNotAllowed,
    /// Ready to launch; waiting for a slot of its function's capacity.
    Queued,
    /// Ready to launch; its namespace runs `maxRendersPerNamespace` renders on the function.
    NamespaceLimit,

    // --- LambdaBucket ---
    /// Several auto-named buckets exist and none is named.
    MultipleBuckets,
    /// The named bucket exists but may not be used with these credentials.
    BucketNotAccessible,
    /// The bucket name belongs to another account.
    BucketNameTaken,
    /// The bucket lives in another region than `spec.region`.
    WrongRegion,
    /// `bucketName` is not a valid S3 bucket name.
    InvalidBucketName,
    /// An S3 call of the bucket's configuration failed.
    S3Error,

    // --- Ownership (LambdaBucket, RenderFunction, RemotionSite) ---
    /// The bucket, Lambda function or site folder belongs to another resource (its owner tag or
    /// marker names another cluster, namespace, name or UID), or a Managed function was not
    /// created by the operator.
    OwnedByAnother,

    // --- Credentials (LambdaBucket, RenderFunction) ---
    /// No credentials could be had (Secret unreadable, empty default chain).
    CredentialsUnavailable,
    /// The credentials Secret is missing or lacks its keys.
    InvalidCredentials,
    /// The tenancy policy does not let the namespace use the AWS identity the spec asks for
    /// (the operator's own, or a role assumed with it), or the spec chose an external ID.
    IdentityNotAllowed,
    /// The tenancy policy refuses the endpoint or URL (a private, loopback or link-local
    /// address, or a host the admin does not allow).
    EndpointNotAllowed,

    // --- RenderFunction ---
    /// The spec cannot become a Lambda function.
    InvalidFunctionSpec,
    /// Lambda reported that the create or update failed.
    DeploymentFailed,
    /// The Lambda function named does not exist.
    LambdaFunctionNotFound,
    /// A Lambda control-plane call failed.
    LambdaError,
    /// Invoking `info` failed.
    FunctionUnreachable,
    /// The function's capacity could not be read (Warning Event); renders are not queued.
    CapacityUnknown,
    /// A deleted object's cleanup kept failing and was given up (Warning Event): what it
    /// managed in AWS may remain.
    CleanupAbandoned,
    /// The function answered `info` with an error.
    InfoFailed,
    /// The function is not a Remotion render function.
    NotARenderFunction,
    /// The function speaks another protocol than the operator.
    ProtocolMismatch,

    // --- RemotionSite ---
    /// `siteName` is not usable as an S3 folder.
    InvalidSiteName,
    /// The source is malformed.
    InvalidSource,
    /// The source does not exist.
    SourceNotFound,
    /// The ConfigMap lacks the key named.
    SourceKeyMissing,
    /// The source could not be reached.
    SourceUnavailable,
    /// The archive's digest differs from `source.sha256`.
    DigestMismatch,
    /// Not a readable .tar.gz or .zip.
    InvalidArchive,
    /// An archive entry that could escape or alias.
    UnsafeArchiveEntry,
    /// Over the size or file-count limits.
    ArchiveTooLarge,
    /// No `index.html` and `bundle.js` at the root.
    NotARemotionBundle,
    /// A LambdaBucket asks for public outputs, but the account's S3 Block Public Access
    /// blocks or ignores public ACLs.
    PublicOutputsBlocked,
    /// The bundle speaks another page protocol (`siteVersion`) than the renderer.
    IncompatibleRemotionVersion,
    /// The bundle's Remotion release is within the tested range (`RemotionVersion=True`).
    RemotionVersionTested,
    /// The bundle's Remotion release is outside the tested range (`RemotionVersion=False`,
    /// and a Warning Event): rendered, but not tested.
    RemotionVersionUntested,
    /// The bundle does not say which Remotion release made it (`RemotionVersion=Unknown`).
    RemotionVersionUnknown,
    /// The operator's scratch folder could not be written.
    ScratchSpaceError,
    /// Uploading the site's files failed.
    S3SyncFailed,
    /// Listing the compositions could not reach the function.
    CompositionsUnavailable,
    /// The function could not list the compositions.
    CompositionsFailed,

    // --- RenderJob, decided by the operator ---
    /// The site has no composition of that id.
    CompositionNotFound,
    /// `frameRange` or `still.frame` lies outside the composition.
    FrameOutOfRange,
    /// The RemotionSite's status has no usable serve URL.
    InvalidSite,
    /// Public output on a bucket that does not allow it.
    PublicOutputsDisabled,
    /// The function and the bucket are in different regions.
    RegionMismatch,
    /// The function's memory or ephemeral storage is certainly too small for the render.
    FunctionTooSmall,
    /// The input props are not a JSON object.
    InvalidInputProps,
    /// `output.key` lies outside the job's own folders and the prefixes the admin allows.
    OutputKeyNotAllowed,
    /// `output.presignSeconds` outside what SigV4 allows.
    InvalidPresignSeconds,
    /// The render id derived from the UID is unusable.
    InvalidRenderId,
    /// The object's UID is unusable.
    InvalidUid,
    /// The launch invocation failed or was refused.
    LaunchFailed,
    /// Reading the render's files in the bucket failed.
    S3Unavailable,
    /// The progress document could not be read.
    InvalidProgressDocument,
    /// No sign of life for longer than the function timeout plus a margin.
    Stalled,
    /// A cancel the function never confirmed.
    CancelUnconfirmed,
    /// Done without an output object.
    NoOutput,
    /// Deleting a deleted job's output (`output.deleteWithJob`) failed; retried.
    OutputDeleteFailed,
    /// Failed without a kind.
    RenderFailed,
    /// `webhook.customData` is over Remotion's 1024 bytes.
    InvalidWebhook,

    // --- RenderJob webhooks (condition `WebhookDelivered` and Events) ---
    /// The receiver accepted the webhook (2xx).
    WebhookDelivered,
    /// An attempt failed; another follows after a backoff.
    WebhookRetrying,
    /// Every attempt failed; the job itself is unaffected.
    WebhookFailed,
    /// The webhook URL points at a link-local, loopback or private address the cluster admin
    /// does not allow; nothing was sent.
    WebhookRefused,

    // --- RenderJob, reported by the render function (its error kinds) ---
    /// A number outside what the function accepts.
    InvalidSpec,
    /// The function rejected the payload.
    InvalidPayload,
    /// The site or a media file could not be loaded.
    SiteUnavailable,
    /// A `delayRender()` was not cleared in time.
    DelayRenderTimeout,
    /// The composition threw or called `cancelRender()`.
    PageError,
    /// Chromium crashed.
    BrowserCrashed,
    /// A network error.
    Network,
    /// S3 answered with an error.
    Storage,
    /// Encoding or stitching failed.
    Encoding,
    /// An object is already at the output's key and `output.overwrite` is false.
    OutputExists,
    /// A chunk's invocation failed after retries.
    Invocation,
    /// An unclassified error inside the function.
    Internal,

    // --- Any kind ---
    /// The operator cannot read the object.
    InvalidObject,
    /// A Kubernetes API call failed.
    KubernetesApi,
    /// A write raced another writer.
    Conflict,
    /// A bug in the operator.
    InternalError,
}

impl Reason {
    /// The reason as written into conditions and Events.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the object stays as it is until its spec, or an object it refers to, changes:
    /// retrying as is will not help (or, for `Succeeded` and `Cancelled`, nothing is left to do).
    pub fn is_terminal(self) -> bool {
        use Reason::*;
        match self {
            Succeeded | Cancelled => true,
            MultipleBuckets | BucketNotAccessible | BucketNameTaken | WrongRegion | InvalidBucketName => true,
            PublicOutputsBlocked => true,
            OwnedByAnother => true,
            InvalidCredentials | IdentityNotAllowed | EndpointNotAllowed => true,
            InvalidFunctionSpec | DeploymentFailed | LambdaFunctionNotFound | NotARenderFunction | ProtocolMismatch => {
                true
            }
            InvalidSiteName
            | InvalidSource
            | SourceKeyMissing
            | DigestMismatch
            | InvalidArchive
            | UnsafeArchiveEntry
            | ArchiveTooLarge
            | NotARemotionBundle
            | IncompatibleRemotionVersion => true,
            CompositionNotFound
            | FrameOutOfRange
            | InvalidSite
            | PublicOutputsDisabled
            | RegionMismatch
            | FunctionTooSmall
            | InvalidInputProps
            | OutputKeyNotAllowed
            | InvalidPresignSeconds
            | InvalidRenderId
            | InvalidUid
            | LaunchFailed
            | Stalled
            | CancelUnconfirmed
            | NoOutput
            | RenderFailed
            | InvalidWebhook => true,
            WebhookDelivered | WebhookFailed | WebhookRefused => true,
            InvalidSpec | InvalidPayload | SiteUnavailable | DelayRenderTimeout | PageError | BrowserCrashed
            | Network | Storage | Encoding | OutputExists | Invocation | Internal => true,
            InvalidObject | InternalError => true,
            Reconciling | Deploying | Available | Ready | Idle | Launched | Rendering | CancelRequested | Created
            | Adopted | Updated | Deleted | Retained | Synced | ExpiryDisabled | WebhookRetrying => false,
            RemotionVersionTested | RemotionVersionUntested | RemotionVersionUnknown => false,
            BucketNotFound | BucketNotReady | SiteNotFound | SiteNotReady | FunctionNotFound | FunctionNotReady
            | InputPropsNotFound | InputPropsNotAllowed | Queued | NamespaceLimit => false,
            S3Error
            | CredentialsUnavailable
            | LambdaError
            | FunctionUnreachable
            | CapacityUnknown
            | CleanupAbandoned
            | InfoFailed
            | SourceNotFound
            | SourceUnavailable
            | ScratchSpaceError
            | S3SyncFailed
            | CompositionsUnavailable
            | CompositionsFailed
            | S3Unavailable
            | OutputDeleteFailed
            | InvalidProgressDocument
            | KubernetesApi
            | Conflict => false,
        }
    }
}

impl From<ErrorKind> for Reason {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::ProtocolMismatch => Self::ProtocolMismatch,
            ErrorKind::InvalidPayload => Self::InvalidPayload,
            ErrorKind::SiteUnavailable => Self::SiteUnavailable,
            ErrorKind::CompositionNotFound => Self::CompositionNotFound,
            ErrorKind::DelayRenderTimeout => Self::DelayRenderTimeout,
            ErrorKind::PageError => Self::PageError,
            ErrorKind::BrowserCrashed => Self::BrowserCrashed,
            ErrorKind::Network => Self::Network,
            ErrorKind::Storage => Self::Storage,
            ErrorKind::Encoding => Self::Encoding,
            ErrorKind::OutputExists => Self::OutputExists,
            ErrorKind::Invocation => Self::Invocation,
            ErrorKind::Cancelled => Self::Cancelled,
            ErrorKind::Internal => Self::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn names_are_the_variants_and_parse_back() {
        assert_eq!(Reason::MultipleBuckets.as_str(), "MultipleBuckets");
        assert_eq!(Reason::S3Error.to_string(), "S3Error");
        for reason in Reason::iter() {
            assert_eq!(reason.as_str().parse::<Reason>().ok(), Some(reason));
        }
    }

    #[test]
    fn the_function_error_kinds_keep_their_names() {
        for kind in [ErrorKind::Network, ErrorKind::DelayRenderTimeout, ErrorKind::Internal, ErrorKind::Cancelled] {
            assert_eq!(Reason::from(kind).as_str(), kind.as_str());
        }
    }

    /// The reasons `docs/troubleshooting.md` explains: the backticked CamelCase names in the first
    /// column of its tables, and in its paragraphs listing Events without a condition.
    fn documented_reasons() -> BTreeSet<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/troubleshooting.md");
        let text = std::fs::read_to_string(path).expect("docs/troubleshooting.md is readable");
        let backticked = |cell: &str| -> Vec<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .filter(|name| name.starts_with(char::is_uppercase) && name.chars().all(char::is_alphanumeric))
                .map(str::to_owned)
                .collect()
        };
        let mut names = BTreeSet::new();
        for line in text.lines() {
            if let Some(row) = line.strip_prefix('|') {
                let first = row.split('|').next().unwrap_or_default();
                names.extend(backticked(first));
            } else if line.starts_with("Warning Events without a condition") || line.starts_with("Normal Events:") {
                names.extend(backticked(line));
            }
        }
        names
    }

    #[test]
    fn every_reason_is_documented_and_every_documented_reason_exists() {
        let in_code: BTreeSet<String> = Reason::iter().map(|r| r.as_str().to_owned()).collect();
        let in_docs = documented_reasons();
        let undocumented: Vec<_> = in_code.difference(&in_docs).collect();
        let unknown: Vec<_> = in_docs.difference(&in_code).collect();
        assert!(undocumented.is_empty(), "reasons missing from docs/troubleshooting.md: {undocumented:?}");
        assert!(unknown.is_empty(), "docs/troubleshooting.md names reasons the code does not have: {unknown:?}");
    }
}
