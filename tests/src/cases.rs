//! Validation cases for every rule of the CRD schemas: a sample, a variant the rule accepts and
//! a variant it rejects, with what the rejection must say. The same table is checked
//! client-side (`remotion_crds::validation`) and server-side (the real API server).

mod media_options;
mod render_job;
mod sample_rate;
mod separate_audio;

use serde_json::{Value, json};

/// When a rule applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// On create: both variants are created from the sample.
    Create,
    /// On update (transition rules): the sample is created, updated with the valid patch
    /// (accepted), and that state updated with the invalid patch (rejected).
    Update,
}

/// What a rejection must mention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A CEL rule: its exact message.
    Rule(&'static str),
    /// A schema constraint (range, pattern, enum, required): the field's path.
    Field(&'static str),
}

/// One validation case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Short unique name (also used in object names).
    pub name: &'static str,
    /// Sample file the variants derive from.
    pub sample: &'static str,
    /// Create or update.
    pub phase: Phase,
    /// Merge patch giving a variant the rule accepts.
    pub valid: Value,
    /// Merge patch giving a variant the rule rejects.
    pub invalid: Value,
    /// What the rejection says.
    pub expect: Expect,
}

fn case(name: &'static str, sample: &'static str, phase: Phase, valid: Value, invalid: Value, expect: Expect) -> Case {
    Case { name, sample, phase, valid, invalid, expect }
}

use Expect::{Field, Rule};
use Phase::{Create, Update};

const REGION_IMMUTABLE: &str = "region is immutable: create a new resource for another region";
const BUCKET_IMMUTABLE: &str = "bucketName is immutable once set";
const CREDENTIALS: &str = "credentials need a secretRef, a roleArn, or both";
const MANAGED: &str = "a Managed function needs image and roleArn";
const EXISTING: &str = "an Existing function needs functionName";
const FUNCTION_NAME_IMMUTABLE: &str = "functionName is immutable once set";
const ONE_SOURCE: &str = "source needs exactly one of url, configMapRef or s3";
const URL_SHA: &str = "a url source needs sha256, the digest of the archive";
const TAG_KEYS: &str = "tag keys are 1 to 128 letters, digits, spaces and _ . : / = + - @ (AWS's rules for tags)";
const TAG_VALUES: &str =
    "tag values are at most 256 letters, digits, spaces and _ . : / = + - @ (AWS's rules for tags)";
const TAG_RESERVED: &str =
    "tag keys starting with aws: are reserved by AWS and remotion-operator.io/ by the operator: choose another key";
const TAGS_MANAGED: &str = "tags are put on Managed functions only: an Existing function is not the operator's to tag";
const SITE_NAME_IMMUTABLE: &str = "siteName is immutable: create a new RemotionSite for another site name";

/// Every case.
pub fn all() -> Vec<Case> {
    vec![
        // LambdaBucket
        case(
            "lb-region",
            "lambdabucket-adopt.yaml",
            Update,
            json!({"spec": {"expiry": {"enabled": false}}}),
            json!({"spec": {"region": "us-west-2"}}),
            Rule(REGION_IMMUTABLE),
        ),
        case(
            "lb-name-set",
            "lambdabucket-adopt.yaml",
            Update,
            json!({"spec": {"bucketName": "remotionlambda-useast1-abcdefghij"}}),
            json!({"spec": {"bucketName": "remotionlambda-useast1-zzzzzzzzzz"}}),
            Rule(BUCKET_IMMUTABLE),
        ),
        case(
            "lb-name-change",
            "lambdabucket-named.yaml",
            Update,
            json!({"spec": {"deletionPolicy": "Retain"}}),
            json!({"spec": {"bucketName": "another-bucket"}}),
            Rule(BUCKET_IMMUTABLE),
        ),
        case(
            "lb-name-unset",
            "lambdabucket-named.yaml",
            Update,
            json!({"spec": {"publicOutputs": false}}),
            json!({"spec": {"bucketName": null}}),
            Rule(BUCKET_IMMUTABLE),
        ),
        case(
            "lb-credentials",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"credentials": {"roleArn": "arn:aws:iam::123456789012:role/renders"}}}),
            json!({"spec": {"credentials": {"secretRef": null}}}),
            Rule(CREDENTIALS),
        ),
        case(
            "lb-region-pattern",
            "lambdabucket-adopt.yaml",
            Create,
            json!({"spec": {"region": "ap-southeast-5"}}),
            json!({"spec": {"region": "Mars-North"}}),
            Field("spec.region"),
        ),
        case(
            "lb-endpoint-pattern",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"endpoint": "http://127.0.0.1:8333"}}),
            json!({"spec": {"endpoint": "ftp://storage"}}),
            Field("spec.endpoint"),
        ),
        case(
            "lb-bucket-pattern",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"bucketName": "my.bucket-1"}}),
            json!({"spec": {"bucketName": "Bad_Bucket"}}),
            Field("spec.bucketName"),
        ),
        case(
            "lb-policy-enum",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"deletionPolicy": "Retain"}}),
            json!({"spec": {"deletionPolicy": "Orphan"}}),
            Field("spec.deletionPolicy"),
        ),
        case(
            "lb-tags-key",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"tags": {"Cost Centre": "Ünïcode 42", "team:video/a=b+c@d_e.f-g": ""}}}),
            json!({"spec": {"tags": {"cost<centre>": "42"}}}),
            Rule(TAG_KEYS),
        ),
        case(
            "lb-tags-value",
            "lambdabucket-named.yaml",
            Update,
            json!({"spec": {"tags": {"team": "v".repeat(256)}}}),
            json!({"spec": {"tags": {"team": "<video>"}}}),
            Rule(TAG_VALUES),
        ),
        case(
            "lb-tags-value-length",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"tags": {"team": "v".repeat(256)}}}),
            json!({"spec": {"tags": {"team": "v".repeat(257)}}}),
            Field("spec.tags.team"),
        ),
        case(
            "lb-tags-reserved",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"tags": {"remotion-operator": "42"}}}),
            json!({"spec": {"tags": {"remotion-operator.io/owner": "another/namespace/name"}}}),
            Rule(TAG_RESERVED),
        ),
        case(
            "lb-tags-aws",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"tags": {"aws-team": "42"}}}),
            json!({"spec": {"tags": {"aws:cloudformation:stack-name": "x"}}}),
            Rule(TAG_RESERVED),
        ),
        case(
            "lb-tags-count",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"tags": (0..40).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}}),
            json!({"spec": {"tags": (0..41).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}}),
            Field("spec.tags"),
        ),
        // RenderFunction
        case(
            "rfn-tags-managed",
            "renderfunction-existing.yaml",
            Create,
            json!({"spec": {"management": "Managed", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/r:1", "roleArn": "arn:aws:iam::123456789012:role/r", "tags": {"team": "video"}}}),
            json!({"spec": {"tags": {"team": "video"}}}),
            Rule(TAGS_MANAGED),
        ),
        case(
            "rfn-tags-reserved",
            "renderfunction-managed.yaml",
            Update,
            json!({"spec": {"tags": {"team": "video"}}}),
            json!({"spec": {"tags": {"remotion-operator.io/namespace": "other"}}}),
            Rule(TAG_RESERVED),
        ),
        case(
            "rfn-managed",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"timeoutSeconds": 120}}),
            json!({"spec": {"image": null}}),
            Rule(MANAGED),
        ),
        case(
            "rfn-managed-role",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"roleArn": "arn:aws:iam::123456789012:role/other"}}),
            json!({"spec": {"roleArn": null}}),
            Rule(MANAGED),
        ),
        case(
            "rfn-existing",
            "renderfunction-existing.yaml",
            Create,
            json!({"spec": {"functionName": "renderer_2"}}),
            json!({"spec": {"functionName": null}}),
            Rule(EXISTING),
        ),
        case(
            "rfn-name-immutable",
            "renderfunction-existing.yaml",
            Update,
            json!({"spec": {"memorySizeMb": 4096}}),
            json!({"spec": {"functionName": "another"}}),
            Rule(FUNCTION_NAME_IMMUTABLE),
        ),
        case(
            "rfn-name-first-set",
            "renderfunction-managed.yaml",
            Update,
            json!({"spec": {"functionName": "pinned-name"}}),
            json!({"spec": {"functionName": "other-name"}}),
            Rule(FUNCTION_NAME_IMMUTABLE),
        ),
        case(
            "rfn-region",
            "renderfunction-managed.yaml",
            Update,
            json!({"spec": {"memorySizeMb": 2048}}),
            json!({"spec": {"region": "eu-west-1"}}),
            Rule(REGION_IMMUTABLE),
        ),
        case(
            "rfn-memory-low",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"memorySizeMb": 512}}),
            json!({"spec": {"memorySizeMb": 511}}),
            Field("spec.memorySizeMb"),
        ),
        case(
            "rfn-memory-high",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"memorySizeMb": 10240}}),
            json!({"spec": {"memorySizeMb": 10241}}),
            Field("spec.memorySizeMb"),
        ),
        case(
            "rfn-disk",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"diskSizeMb": 512}}),
            json!({"spec": {"diskSizeMb": 20000}}),
            Field("spec.diskSizeMb"),
        ),
        case(
            "rfn-timeout-low",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"timeoutSeconds": 1}}),
            json!({"spec": {"timeoutSeconds": 0}}),
            Field("spec.timeoutSeconds"),
        ),
        case(
            "rfn-timeout-high",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"timeoutSeconds": 900}}),
            json!({"spec": {"timeoutSeconds": 901}}),
            Field("spec.timeoutSeconds"),
        ),
        case(
            "rfn-arch",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"architecture": "x86_64"}}),
            json!({"spec": {"architecture": "sparc"}}),
            Field("spec.architecture"),
        ),
        case(
            "rfn-role-pattern",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"roleArn": "arn:aws-cn:iam::123456789012:role/path/r"}}),
            json!({"spec": {"roleArn": "renders-role"}}),
            Field("spec.roleArn"),
        ),
        // RemotionSite
        case(
            "rsite-two-sources",
            "remotionsite-url.yaml",
            Create,
            json!({"spec": {"source": {"sha256": "0000000000000000000000000000000000000000000000000000000000000000"}}}),
            json!({"spec": {"source": {"configMapRef": {"name": "b", "key": "bundle.tar.gz"}}}}),
            Rule(ONE_SOURCE),
        ),
        case(
            "rsite-no-source",
            "remotionsite-configmap.yaml",
            Create,
            json!({"spec": {"source": {"configMapRef": {"key": "other.zip"}}}}),
            json!({"spec": {"source": {"configMapRef": null}}}),
            Rule(ONE_SOURCE),
        ),
        case(
            "rsite-url-sha",
            "remotionsite-url.yaml",
            Create,
            json!({"spec": {"source": {"url": "http://127.0.0.1:8000/b.tar.gz"}}}),
            json!({"spec": {"source": {"sha256": null}}}),
            Rule(URL_SHA),
        ),
        case(
            "rsite-name-change",
            "remotionsite-configmap.yaml",
            Update,
            json!({"spec": {"functionRef": {"name": "renderer"}}}),
            json!({"spec": {"siteName": "lower-thirds-v3"}}),
            Rule(SITE_NAME_IMMUTABLE),
        ),
        case(
            "rsite-name-add",
            "remotionsite-url.yaml",
            Update,
            json!({"spec": {"functionRef": null}}),
            json!({"spec": {"siteName": "marketing"}}),
            Rule(SITE_NAME_IMMUTABLE),
        ),
        case(
            "rsite-sha-pattern",
            "remotionsite-s3.yaml",
            Create,
            json!({"spec": {"source": {"sha256": "ab".repeat(32)}}}),
            json!({"spec": {"source": {"sha256": "ABC"}}}),
            Field("spec.source.sha256"),
        ),
        case(
            "rsite-name-pattern",
            "remotionsite-url.yaml",
            Create,
            json!({"spec": {"siteName": "a.b_c-(d)"}}),
            json!({"spec": {"siteName": "bad/name"}}),
            Field("spec.siteName"),
        ),
        case(
            "rsite-bucket-ref",
            "remotionsite-url.yaml",
            Create,
            json!({"spec": {"bucketRef": {"name": "x"}}}),
            json!({"spec": {"bucketRef": {"name": ""}}}),
            Field("spec.bucketRef.name"),
        ),
    ]
    .into_iter()
    .chain(render_job::cases())
    .chain(sample_rate::cases())
    .chain(media_options::cases())
    .chain(separate_audio::cases())
    .collect()
}

/// Every CEL rule message declared in the CRDs.
pub fn declared_rule_messages(
    crds: &[k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition],
) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                    for rule in rules {
                        if let Some(m) = rule.get("message").and_then(Value::as_str) {
                            out.push(m.to_owned());
                        }
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for crd in crds {
        walk(&serde_json::to_value(crd).unwrap_or_default(), &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// Whether a client-side violation list satisfies an expectation.
pub fn client_side_matches(expect: Expect, violations: &[remotion_crds::validation::Violation]) -> bool {
    violations.iter().any(|v| match expect {
        Expect::Rule(message) => v.message == message,
        Expect::Field(field) => {
            let last = field.rsplit('.').next().unwrap_or(field);
            v.path == field || (field.starts_with(&v.path) && v.message.contains(last))
        }
    })
}

/// Whether a server-side rejection message satisfies an expectation.
pub fn server_side_matches(expect: Expect, message: &str) -> bool {
    match expect {
        Expect::Rule(rule) => message.contains(rule),
        Expect::Field(field) => message.contains(field),
    }
}
