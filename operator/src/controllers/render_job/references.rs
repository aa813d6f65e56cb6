//! Step 1: are the site, the function and the bucket a RenderJob points at usable?
//!
//! A reference that is missing or not Ready yet is a wait (the controller watches those kinds
//! and comes back when they change); a problem only the job's own spec can fix — a composition
//! the site does not have, a frame range beyond its end, public output on a bucket that forbids
//! it — is terminal.

use kube::{Resource, ResourceExt};
use remotion_crds::common::{condition_type, find_condition};
use remotion_crds::lambda_bucket::LambdaBucket;
use remotion_crds::remotion_site::{CompositionSummary, RemotionSite};
use remotion_crds::render_function::{Architecture, RenderFunction};
use remotion_crds::render_job::{Privacy, RenderJobSpec};
use remotion_crds::{AwsAccess, Reason};
use remotion_protocol::keys::{self, SiteFolder, SiteName};
use remotion_protocol::payload::PROTOCOL_VERSION;

/// Why a job cannot launch (yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// Something the job references is not there or not ready; retried when it changes.
    Waiting {
        /// Why, e.g. `SiteNotReady`.
        reason: Reason,
        /// What the job waits for.
        message: String,
    },
    /// The job's spec cannot work: it ends Failed.
    Invalid {
        /// Why, e.g. `CompositionNotFound`.
        reason: Reason,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl Blocked {
    /// The condition reason.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Waiting { reason, .. } | Self::Invalid { reason, .. } => *reason,
        }
    }

    /// The human message.
    pub fn message(&self) -> &str {
        match self {
            Self::Waiting { message, .. } | Self::Invalid { message, .. } => message,
        }
    }
}

/// The objects a job references, as found (None = not found).
#[derive(Clone, Copy, Debug)]
pub struct Found<'a> {
    /// The RemotionSite of `spec.siteRef`.
    pub site: Option<&'a RemotionSite>,
    /// The RenderFunction of `spec.functionRef`.
    pub function: Option<&'a RenderFunction>,
    /// The RenderFunction of `spec.rendererFunctionRef` (None when the spec names none).
    pub renderer: Option<&'a RenderFunction>,
    /// The LambdaBucket of the site's `bucketRef`.
    pub bucket: Option<&'a LambdaBucket>,
}

/// The function a render runs on, as the cost maths and the payload need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionTarget {
    /// Lambda function name.
    pub name: String,
    /// How to reach Lambda.
    pub aws: AwsAccess,
    /// Memory, MB.
    pub memory_mb: i32,
    /// Ephemeral storage, MB.
    pub disk_mb: i32,
    /// Timeout of one invocation, seconds.
    pub timeout_seconds: i32,
    /// Architecture.
    pub architecture: Architecture,
    /// Cap on the invocations one render keeps in flight (`maxConcurrentInvocations`).
    pub max_concurrent_invocations: Option<u32>,
}

/// The bucket a render writes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketTarget {
    /// Bucket name.
    pub name: String,
    /// How to reach S3.
    pub aws: AwsAccess,
    /// Base URL of the bucket, when the bucket's status has one.
    pub url: Option<String>,
    /// The bucket's lifecycle rules honour `deleteAfter`.
    pub expiry_enabled: bool,
}

/// Everything a launch needs from the referenced objects.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// The site's folder: its namespace and name.
    pub site: SiteFolder,
    /// URL of the site's index.html.
    pub serve_url: String,
    /// The composition's metadata, when the site lists its compositions.
    pub composition: Option<CompositionSummary>,
    /// The function (the orchestrator's, and the chunks' unless `renderer` is set).
    pub function: FunctionTarget,
    /// The function of `rendererFunctionRef`, which renders the chunks.
    pub renderer: Option<FunctionTarget>,
    /// The bucket (the site's).
    pub bucket: BucketTarget,
}

impl Resolved {
    /// The function the chunks render on.
    pub fn chunk_function(&self) -> &FunctionTarget {
        self.renderer.as_ref().unwrap_or(&self.function)
    }
}

/// Whether an object's `Ready` condition is True for its current generation.
pub(super) fn ready_now(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    generation: Option<i64>,
) -> bool {
    find_condition(conditions, condition_type::READY).is_some_and(|c| {
        c.status == "True"
            && (generation.is_none() || c.observed_generation.is_none() || c.observed_generation == generation)
    })
}

fn waiting(reason: Reason, message: String) -> Blocked {
    Blocked::Waiting { reason, message }
}

fn not_ready_detail(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> String {
    match find_condition(conditions, condition_type::READY) {
        Some(c) if !c.message.is_empty() => format!(" ({}: {})", c.reason, c.message),
        Some(c) => format!(" ({})", c.reason),
        None => String::new(),
    }
}

/// Checks the referenced objects and gathers what a launch needs.
pub fn resolve(spec: &RenderJobSpec, found: Found<'_>) -> Result<Resolved, Blocked> {
    let site_ref = &spec.site_ref.name;
    let function_ref = &spec.function_ref.name;

    let site = found
        .site
        .ok_or_else(|| waiting(Reason::SiteNotFound, format!("waiting for RemotionSite {site_ref} to exist")))?;
    let site_status = site.status.clone().unwrap_or_default();
    let serve_url =
        site_status.serve_url.clone().filter(|_| ready_now(&site_status.conditions, site.meta().generation));
    let Some(serve_url) = serve_url else {
        return Err(waiting(
            Reason::SiteNotReady,
            format!(
                "waiting for RemotionSite {site_ref} to be Ready with a serveUrl{}",
                not_ready_detail(&site_status.conditions)
            ),
        ));
    };
    let site_name_text =
        site_status.site_name.clone().or_else(|| site.spec.site_name.clone()).unwrap_or_else(|| site.name_any());
    let site_folder = SiteName::new(site_name_text)
        .and_then(|name| SiteFolder::new(site.namespace().unwrap_or_default(), name))
        .map_err(|e| Blocked::Invalid { reason: Reason::InvalidSite, message: e.to_string() })?;
    if !serve_url.ends_with(&keys::site_index(&site_folder)) {
        // Synced by an operator before the namespaced layout: its files are not where the
        // function would read them until the site controller syncs it again.
        return Err(waiting(
            Reason::SiteNotReady,
            format!(
                "waiting for RemotionSite {site_ref} to be synced into {} (its serveUrl {serve_url} is of an \
                 older operator version)",
                keys::site_prefix(&site_folder)
            ),
        ));
    }

    let composition = check_composition(spec, &site_status.compositions, site_ref)?;

    let bucket_ref = &site.spec.bucket_ref.name;
    let bucket = found.bucket.ok_or_else(|| {
        waiting(
            Reason::BucketNotFound,
            format!("waiting for LambdaBucket {bucket_ref} (of RemotionSite {site_ref}) to exist"),
        )
    })?;
    let bucket_status = bucket.status.clone().unwrap_or_default();
    let bucket_name = site_status
        .bucket_name
        .clone()
        .or_else(|| bucket_status.bucket_name.clone())
        .filter(|_| ready_now(&bucket_status.conditions, bucket.meta().generation));
    let Some(bucket_name) = bucket_name else {
        return Err(waiting(
            Reason::BucketNotReady,
            format!("waiting for LambdaBucket {bucket_ref} to be Ready{}", not_ready_detail(&bucket_status.conditions)),
        ));
    };
    let privacy = spec.output.as_ref().map(|o| o.privacy).unwrap_or_default();
    if privacy == Privacy::Public && !bucket.spec.public_outputs {
        return Err(Blocked::Invalid {
            reason: Reason::PublicOutputsDisabled,
            message: format!(
                "output.privacy is public but LambdaBucket {bucket_ref} does not allow public outputs: \
                 set publicOutputs: true on the bucket, or render with privacy: private (a presigned URL)"
            ),
        });
    }

    let function = found.function.ok_or_else(|| {
        waiting(Reason::FunctionNotFound, format!("waiting for RenderFunction {function_ref} to exist"))
    })?;
    if function.spec.aws.region != bucket.spec.aws.region {
        return Err(Blocked::Invalid {
            reason: Reason::RegionMismatch,
            message: format!(
                "RenderFunction {function_ref} is in {} but LambdaBucket {bucket_ref} is in {}: every chunk would \
                 read the site and write its part across regions (slower, and billed as inter-region transfer); \
                 use a function and a bucket of the same region",
                function.spec.aws.region, bucket.spec.aws.region
            ),
        });
    }
    let renderer = match &spec.renderer_function_ref {
        None => None,
        Some(reference) => {
            let name = &reference.name;
            let renderer = found.renderer.ok_or_else(|| {
                waiting(
                    Reason::FunctionNotFound,
                    format!("waiting for RenderFunction {name} (the rendererFunctionRef) to exist"),
                )
            })?;
            if renderer.spec.aws.region != function.spec.aws.region
                || renderer.spec.aws.endpoint != function.spec.aws.endpoint
            {
                return Err(Blocked::Invalid {
                    reason: Reason::RegionMismatch,
                    message: format!(
                        "rendererFunctionRef {name} is in {} but RenderFunction {function_ref} is in {}: the \
                         orchestrator invokes its renderers by name in its own region; use functions of one region",
                        renderer.spec.aws.region, function.spec.aws.region
                    ),
                });
            }
            Some((renderer, name.as_str()))
        }
    };
    let orchestrator = function_target(function, function_ref)?;
    let renderer = renderer.map(|(renderer, name)| function_target(renderer, name).map(|t| (t, name))).transpose()?;
    let (chunks, chunks_ref) = renderer.as_ref().map_or((&orchestrator, function_ref.as_str()), |(t, n)| (t, *n));
    super::preflight::check(spec, composition.as_ref(), chunks, chunks_ref)?;
    // Ready last: a spec that can never render is refused without waiting for the function.
    let orchestrator = ready_function(function, function_ref, orchestrator)?;
    let renderer = match (renderer, found.renderer) {
        (Some((target, name)), Some(object)) => Some(ready_function(object, name, target)?),
        _ => None,
    };

    Ok(Resolved {
        site: site_folder,
        serve_url,
        composition,
        function: orchestrator,
        renderer,
        bucket: BucketTarget {
            name: bucket_name,
            aws: bucket.spec.aws.clone(),
            url: bucket_status.url.clone(),
            expiry_enabled: bucket.spec.expiry.as_ref().is_some_and(|e| e.enabled),
        },
    })
}

/// What a render needs of a RenderFunction, once it speaks the operator's protocol (its name
/// comes with [`ready_function`]).
fn function_target(function: &RenderFunction, reference: &str) -> Result<FunctionTarget, Blocked> {
    let status = function.status.clone().unwrap_or_default();
    if let Some(version) = status.protocol_version
        && version != i64::from(PROTOCOL_VERSION)
    {
        return Err(waiting(
            Reason::FunctionNotReady,
            format!(
                "RenderFunction {reference} speaks protocol version {version} but this operator speaks \
                 {PROTOCOL_VERSION}: deploy a function image of the operator's version"
            ),
        ));
    }
    Ok(FunctionTarget {
        name: String::new(),
        aws: function.spec.aws.clone(),
        memory_mb: status.memory_size_mb.unwrap_or(function.spec.memory_size_mb),
        disk_mb: status.disk_size_mb.unwrap_or(function.spec.disk_size_mb),
        timeout_seconds: status.timeout_seconds.unwrap_or(function.spec.timeout_seconds),
        architecture: status.architecture.unwrap_or(function.spec.architecture),
        max_concurrent_invocations: function.spec.max_concurrent_invocations.and_then(|n| u32::try_from(n).ok()),
    })
}

/// `target` with the Lambda function's name, once the RenderFunction is Ready.
fn ready_function(
    function: &RenderFunction,
    reference: &str,
    target: FunctionTarget,
) -> Result<FunctionTarget, Blocked> {
    let status = function.status.as_ref();
    let name = status.and_then(|s| s.function_name.clone()).filter(|_| {
        status.is_some_and(|s| ready_now(&s.conditions, function.meta().generation) && s.protocol_version.is_some())
    });
    match name {
        Some(name) => Ok(FunctionTarget { name, ..target }),
        None => Err(waiting(
            Reason::FunctionNotReady,
            format!(
                "waiting for RenderFunction {reference} to be Ready{}",
                not_ready_detail(status.map(|s| s.conditions.as_slice()).unwrap_or_default())
            ),
        )),
    }
}

/// The composition must be one the site lists (when it lists any), and the frames asked for
/// must lie within it, as the job renders it: `force*` overrides applied (Remotion applies
/// them to the composition before anything else), a still's negative frame counted from its
/// end.
fn check_composition(
    spec: &RenderJobSpec,
    compositions: &[CompositionSummary],
    site_ref: &str,
) -> Result<Option<CompositionSummary>, Blocked> {
    if compositions.is_empty() {
        // Unknown (the site has no functionRef): the function checks when it opens the site.
        return Ok(None);
    }
    let Some(found) = compositions.iter().find(|c| c.id == spec.composition) else {
        let ids: Vec<&str> = compositions.iter().map(|c| c.id.as_str()).collect();
        return Err(Blocked::Invalid {
            reason: Reason::CompositionNotFound,
            message: format!(
                "RemotionSite {site_ref} has no composition {:?}; it has: {}",
                spec.composition,
                ids.join(", ")
            ),
        });
    };
    let mut found = found.clone();
    found.width = spec.force_width.unwrap_or(found.width);
    found.height = spec.force_height.unwrap_or(found.height);
    found.fps = spec.force_fps.unwrap_or(found.fps);
    found.duration_in_frames = spec.force_duration_in_frames.unwrap_or(found.duration_in_frames);
    let last_frame = found.duration_in_frames - 1;
    let out_of_range = |frame: i64| frame > last_frame;
    let bad_frame = match (&spec.still, &spec.frame_range) {
        (Some(still), _) if out_of_range(still.frame) || still.frame < -found.duration_in_frames => Some(still.frame),
        (None, Some(range)) if out_of_range(range.start) => Some(range.start),
        (None, Some(range)) if range.end.is_some_and(out_of_range) => range.end,
        _ => None,
    };
    if let Some(frame) = bad_frame {
        return Err(Blocked::Invalid {
            reason: Reason::FrameOutOfRange,
            message: format!(
                "frame {frame} is beyond composition {} of RemotionSite {site_ref}, whose frames are 0-{last_frame}",
                spec.composition
            ),
        });
    }
    Ok(Some(found))
}

/// The site's folder as the function reads it: `sites/<namespace>/<siteName>/` of the bucket.
pub fn site_prefix(resolved: &Resolved) -> String {
    keys::site_prefix(&resolved.site)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use remotion_crds::lambda_bucket::{Expiry, LambdaBucketSpec, LambdaBucketStatus};
    use remotion_crds::remotion_site::{RemotionSiteSpec, RemotionSiteStatus, SiteSource};
    use remotion_crds::render_function::{RenderFunctionSpec, RenderFunctionStatus};
    use remotion_crds::render_job::{FrameRange, OutputSpec};
    use serde_json::json;

    pub(crate) fn ready() -> Vec<Condition> {
        vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "Ready".into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: Time("2026-01-01T00:00:00Z".parse().unwrap()),
        }]
    }

    pub(crate) fn access() -> AwsAccess {
        AwsAccess { region: "us-east-1".into(), credentials: None, endpoint: Some("http://127.0.0.1:1".into()) }
    }

    pub(crate) fn spec() -> RenderJobSpec {
        serde_json::from_value(json!({
            "siteRef": {"name": "site"},
            "functionRef": {"name": "fn"},
            "composition": "Intro",
        }))
        .unwrap()
    }

    pub(crate) fn site(compositions: &[(&str, i64)]) -> RemotionSite {
        let mut site = RemotionSite::new(
            "site",
            RemotionSiteSpec {
                bucket_ref: remotion_crds::LocalObjectRef::new("bucket"),
                site_name: Some("my-site".into()),
                source: SiteSource { url: None, sha256: None, config_map_ref: None, s3: None },
                function_ref: None,
            },
        );
        site.metadata.generation = Some(1);
        site.metadata.namespace = Some("team-a".into());
        site.status = Some(RemotionSiteStatus {
            conditions: ready(),
            site_name: Some("my-site".into()),
            bucket_name: Some("bkt".into()),
            serve_url: Some("http://s3/bkt/sites/team-a/my-site/index.html".into()),
            compositions: compositions
                .iter()
                .map(|(id, frames)| CompositionSummary {
                    id: (*id).into(),
                    width: 1920,
                    height: 1080,
                    fps: 30.0,
                    duration_in_frames: *frames,
                })
                .collect(),
            ..Default::default()
        });
        site
    }

    pub(crate) fn function() -> RenderFunction {
        let mut spec: RenderFunctionSpec = serde_json::from_value(json!({
            "region": "us-east-1", "management": "Existing", "functionName": "remotion-render"
        }))
        .unwrap();
        spec.aws = access();
        let mut f = RenderFunction::new("fn", spec);
        f.metadata.generation = Some(1);
        f.status = Some(RenderFunctionStatus {
            conditions: ready(),
            function_name: Some("remotion-render".into()),
            protocol_version: Some(i64::from(PROTOCOL_VERSION)),
            memory_size_mb: Some(2048),
            disk_size_mb: Some(10240),
            timeout_seconds: Some(120),
            architecture: Some(Architecture::Arm64),
            ..Default::default()
        });
        f
    }

    pub(crate) fn bucket() -> LambdaBucket {
        let mut b = LambdaBucket::new(
            "bucket",
            LambdaBucketSpec {
                aws: access(),
                bucket_name: Some("bkt".into()),
                deletion_policy: Default::default(),
                expiry: Some(Expiry { enabled: true }),
                public_outputs: false,
                tags: Default::default(),
            },
        );
        b.metadata.generation = Some(1);
        b.status = Some(LambdaBucketStatus {
            conditions: ready(),
            bucket_name: Some("bkt".into()),
            region: Some("us-east-1".into()),
            url: Some("http://s3/bkt".into()),
            ..Default::default()
        });
        b
    }

    fn found<'a>(s: &'a RemotionSite, f: &'a RenderFunction, b: &'a LambdaBucket) -> Found<'a> {
        Found { site: Some(s), function: Some(f), renderer: None, bucket: Some(b) }
    }

    #[test]
    fn ready_references_resolve() {
        let (s, f, b) = (site(&[("Intro", 300)]), function(), bucket());
        let r = resolve(&spec(), found(&s, &f, &b)).unwrap();
        assert_eq!((r.site.namespace(), r.site.name().as_str()), ("team-a", "my-site"));
        assert_eq!(r.serve_url, "http://s3/bkt/sites/team-a/my-site/index.html");
        assert_eq!(r.composition.unwrap().duration_in_frames, 300);
        assert_eq!(r.function.name, "remotion-render");
        assert_eq!(r.function.timeout_seconds, 120);
        assert_eq!(r.function.architecture, Architecture::Arm64);
        assert_eq!(r.bucket.name, "bkt");
        assert!(r.bucket.expiry_enabled);
        assert_eq!(site_prefix(&resolve(&spec(), found(&s, &f, &b)).unwrap()), "sites/team-a/my-site/");
    }

    #[test]
    fn a_function_and_a_bucket_of_different_regions_are_refused_before_launch() {
        let (s, mut f, b) = (site(&[("Intro", 300)]), function(), bucket());
        f.spec.aws.region = "eu-west-1".into();
        let blocked = resolve(&spec(), found(&s, &f, &b)).unwrap_err();
        assert!(matches!(blocked, Blocked::Invalid { reason: Reason::RegionMismatch, .. }), "{blocked:?}");
        assert!(blocked.message().contains("eu-west-1") && blocked.message().contains("us-east-1"), "{blocked:?}");
    }

    #[test]
    fn a_site_synced_by_an_older_operator_is_waited_for() {
        let (mut s, f, b) = (site(&[("Intro", 300)]), function(), bucket());
        // The folder of the layout before namespaces: another namespace's site may own it now.
        s.status.as_mut().unwrap().serve_url = Some("http://s3/bkt/sites/my-site/index.html".into());
        let blocked = resolve(&spec(), found(&s, &f, &b)).unwrap_err();
        assert_eq!(blocked.reason(), Reason::SiteNotReady);
        assert!(blocked.message().contains("sites/team-a/my-site/"), "{}", blocked.message());
    }

    #[test]
    fn missing_or_unready_references_are_waits() {
        let (s, f, b) = (site(&[]), function(), bucket());
        let none = Found { site: None, function: Some(&f), renderer: None, bucket: Some(&b) };
        assert_eq!(resolve(&spec(), none).unwrap_err().reason(), Reason::SiteNotFound);

        let mut unready = s.clone();
        unready.status.as_mut().unwrap().conditions[0].status = "False".into();
        unready.status.as_mut().unwrap().conditions[0].reason = "DigestMismatch".into();
        let err = resolve(&spec(), found(&unready, &f, &b)).unwrap_err();
        assert!(matches!(err, Blocked::Waiting { reason: Reason::SiteNotReady, .. }), "{err:?}");
        assert!(err.message().contains("DigestMismatch"), "{err:?}");

        // Ready for an older generation is not ready.
        let mut stale = s.clone();
        stale.metadata.generation = Some(2);
        assert_eq!(resolve(&spec(), found(&stale, &f, &b)).unwrap_err().reason(), Reason::SiteNotReady);

        let no_bucket = Found { site: Some(&s), function: Some(&f), renderer: None, bucket: None };
        assert_eq!(resolve(&spec(), no_bucket).unwrap_err().reason(), Reason::BucketNotFound);

        let no_fn = Found { site: Some(&s), function: None, renderer: None, bucket: Some(&b) };
        assert_eq!(resolve(&spec(), no_fn).unwrap_err().reason(), Reason::FunctionNotFound);

        let mut unready_fn = f.clone();
        unready_fn.status.as_mut().unwrap().conditions.clear();
        assert_eq!(resolve(&spec(), found(&s, &unready_fn, &b)).unwrap_err().reason(), Reason::FunctionNotReady);
    }

    #[test]
    fn protocol_mismatch_is_named() {
        let (s, mut f, b) = (site(&[]), function(), bucket());
        f.status.as_mut().unwrap().protocol_version = Some(99);
        let err = resolve(&spec(), found(&s, &f, &b)).unwrap_err();
        assert_eq!(err.reason(), Reason::FunctionNotReady);
        assert!(err.message().contains("protocol"), "{err:?}");
        assert!(err.message().contains("99"), "{err:?}");
    }

    #[test]
    fn unknown_composition_is_terminal_and_lists_what_exists() {
        let (s, f, b) = (site(&[("Outro", 10), ("Teaser", 20)]), function(), bucket());
        let err = resolve(&spec(), found(&s, &f, &b)).unwrap_err();
        assert!(matches!(err, Blocked::Invalid { reason: Reason::CompositionNotFound, .. }), "{err:?}");
        assert!(err.message().contains("Outro, Teaser"), "{err:?}");
        // A site that lists nothing lets the function decide.
        let quiet = site(&[]);
        assert_eq!(resolve(&spec(), found(&quiet, &f, &b)).unwrap().composition, None);
    }

    #[test]
    fn frames_beyond_the_composition_are_terminal() {
        let (s, f, b) = (site(&[("Intro", 100)]), function(), bucket());
        let mut js = spec();
        js.frame_range = Some(FrameRange { start: 0, end: Some(100) });
        let err = resolve(&js, found(&s, &f, &b)).unwrap_err();
        assert_eq!(err.reason(), Reason::FrameOutOfRange);
        assert!(err.message().contains("0-99"), "{err:?}");
        js.frame_range = Some(FrameRange { start: 0, end: Some(99) });
        assert!(resolve(&js, found(&s, &f, &b)).is_ok());
    }

    #[test]
    fn frames_are_checked_against_the_forced_length_and_stills_count_from_the_end() {
        use remotion_crds::render_job::StillOptions;
        let (s, f, b) = (site(&[("Intro", 100)]), function(), bucket());
        let mut js = spec();
        js.frame_range = Some(FrameRange { start: 0, end: Some(149) });
        assert_eq!(resolve(&js, found(&s, &f, &b)).unwrap_err().reason(), Reason::FrameOutOfRange);
        js.force_duration_in_frames = Some(150);
        js.force_width = Some(640);
        let resolved = resolve(&js, found(&s, &f, &b)).unwrap().composition.unwrap();
        assert_eq!((resolved.duration_in_frames, resolved.width), (150, 640), "preflight sees the forced composition");
        let mut still = spec();
        still.still = Some(StillOptions { frame: -100, image_format: Default::default() });
        assert!(resolve(&still, found(&s, &f, &b)).is_ok(), "-100 is frame 0 of 100");
        still.still = Some(StillOptions { frame: -101, image_format: Default::default() });
        let err = resolve(&still, found(&s, &f, &b)).unwrap_err();
        assert_eq!(err.reason(), Reason::FrameOutOfRange);
        assert!(err.message().contains("-101"), "{err:?}");
    }

    #[test]
    fn public_output_needs_a_bucket_that_allows_it() {
        let (s, f, mut b) = (site(&[]), function(), bucket());
        let mut js = spec();
        js.output = Some(OutputSpec { privacy: Privacy::Public, ..OutputSpec::default() });
        assert_eq!(resolve(&js, found(&s, &f, &b)).unwrap_err().reason(), Reason::PublicOutputsDisabled);
        b.spec.public_outputs = true;
        assert!(resolve(&js, found(&s, &f, &b)).is_ok());
    }

    /// A 512 MB orchestrator and a 4,096 MB renderer named `remotion-render-big`.
    pub(crate) fn small_orchestrator_and_renderer() -> (RenderFunction, RenderFunction) {
        let mut small = function();
        small.status.as_mut().unwrap().memory_size_mb = Some(512);
        let mut big = function();
        big.metadata.name = Some("big".into());
        let status = big.status.as_mut().unwrap();
        (status.function_name, status.memory_size_mb) = (Some("remotion-render-big".into()), Some(4096));
        (small, big)
    }

    #[test]
    fn a_renderer_function_renders_the_chunks_in_the_orchestrators_region() {
        let (s, b) = (site(&[("Intro", 300)]), bucket());
        let (small, mut big) = small_orchestrator_and_renderer();
        let mut js = spec();
        js.renderer_function_ref = Some(remotion_crds::LocalObjectRef::new("big"));
        let with = |renderer: Option<&RenderFunction>| {
            resolve(&js, Found { site: Some(&s), function: Some(&small), renderer, bucket: Some(&b) })
        };
        let waiting = with(None).unwrap_err();
        assert_eq!(waiting.reason(), Reason::FunctionNotFound);
        assert!(waiting.message().contains("big (the rendererFunctionRef)"), "{waiting:?}");
        let resolved = with(Some(&big)).unwrap();
        assert_eq!((resolved.function.name.as_str(), resolved.function.memory_mb), ("remotion-render", 512));
        assert_eq!(resolved.chunk_function().name, "remotion-render-big");
        assert_eq!(resolved.chunk_function().memory_mb, 4096);
        big.status.as_mut().unwrap().conditions.clear();
        assert_eq!(with(Some(&big)).unwrap_err().reason(), Reason::FunctionNotReady);
        big.spec.aws.region = "eu-west-1".into();
        let elsewhere = with(Some(&big)).unwrap_err();
        assert_eq!(elsewhere.reason(), Reason::RegionMismatch);
        assert!(elsewhere.message().contains("rendererFunctionRef big is in eu-west-1"), "{elsewhere:?}");
    }
}
