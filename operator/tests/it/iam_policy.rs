//! The IAM policies of `config/iam/` grant exactly the AWS actions the code calls: the AWS SDK
//! operations are extracted from `operator/src` (operator policy) and `function/src` (render
//! function policy), recognised by the operation names of the SDK crates themselves (the
//! folders of `aws-sdk-s3`'s and `aws-sdk-lambda`'s `src/operation/`, at the versions of
//! Cargo.lock), and mapped to IAM actions through `remotion_operator::iam`. Also: every
//! resource is one of the scopes the policies promise, and `remotion-operator iam-policy`
//! prints them and refuses bad bucket names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use remotion_operator::iam::{
    self, BUCKET_PATTERN, CREDENTIAL_PROVIDER_ACTIONS, FUNCTION_RUNTIME_ACTIONS, PolicyRole, SETTER_ACTIONS,
};
use remotion_tests::paths::repo_root;
use remotion_tests::source_scan::{
    self, SourceFile, chain_after, find_token, let_binding, matching, skip_ws, statement_end, statement_start,
};
use serde_json::Value;

/// Builder calls that send a request (or sign one for later).
const SENDS: &[&str] = &["send", "presigned", "into_paginator"];

/// One SDK operation called in the code.
#[derive(Clone, Debug)]
struct SdkCall {
    service: &'static str,
    operation: String,
    /// Builder methods applied to the request (`set_` prefix removed).
    setters: BTreeSet<String>,
    at: String,
}

/// The operation names of an SDK crate: the folders of its `src/operation/`.
fn sdk_operations(crate_name: &str) -> BTreeSet<String> {
    let lock = std::fs::read_to_string(repo_root().join("Cargo.lock")).expect("reading Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|p| p.lines().any(|l| l.trim() == format!("name = \"{crate_name}\"")))
        .and_then(|p| {
            p.lines().find_map(|l| l.trim().strip_prefix("version = \"")?.strip_suffix('"').map(str::to_owned))
        })
        .unwrap_or_else(|| panic!("{crate_name} is not in Cargo.lock"));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo"));
    let registry = cargo_home.join("registry").join("src");
    let source = std::fs::read_dir(&registry)
        .unwrap_or_else(|e| panic!("listing {}: {e}", registry.display()))
        .filter_map(Result::ok)
        .map(|index| index.path().join(format!("{crate_name}-{version}")).join("src").join("operation"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no source of {crate_name} {version} under {}", registry.display()));
    let operations: BTreeSet<String> = std::fs::read_dir(&source)
        .expect("listing the SDK's operations")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(operations.len() > 5, "{}: too few operations: {operations:?}", source.display());
    operations
}

struct Operations {
    s3: BTreeSet<String>,
    lambda: BTreeSet<String>,
    s3control: BTreeSet<String>,
    sts: BTreeSet<String>,
}

/// Clients of the SDKs whose operation names S3's share (S3 Control's
/// `get_public_access_block` is the account's, S3's the bucket's): the code calls them only
/// through a receiver of the service's name (`clients.s3control`, `clients.sts`).
const NAMED_RECEIVERS: [&str; 2] = ["s3control", "sts"];

fn operations() -> &'static Operations {
    static OPS: std::sync::OnceLock<Operations> = std::sync::OnceLock::new();
    OPS.get_or_init(|| {
        let ops = Operations {
            s3: sdk_operations("aws-sdk-s3"),
            lambda: sdk_operations("aws-sdk-lambda"),
            s3control: sdk_operations("aws-sdk-s3control"),
            sts: sdk_operations("aws-sdk-sts"),
        };
        let shared: Vec<&String> = ops.s3.intersection(&ops.lambda).collect();
        assert!(shared.is_empty(), "operation names in both SDKs need the receiver's type: {shared:?}");
        ops
    })
}

/// The identifier a method call at `at` (the method's name, after its `.`) is made on.
fn receiver(code: &str, at: usize) -> &str {
    let before = code[..at].trim_end().strip_suffix('.').unwrap_or_default().trim_end();
    let start = before.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    &before[start..]
}

/// The SDK calls of `files`: `.operation()` (no arguments) followed by a builder chain that is
/// sent, directly or through a `let` binding the request is built in. Problems (an operation
/// that is never sent) are returned as messages.
fn sdk_calls(files: &[SourceFile], ops: &Operations) -> (Vec<SdkCall>, Vec<String>) {
    let mut calls = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let code = &file.code;
        let functions = file.functions();
        let services = [("s3", &ops.s3), ("lambda", &ops.lambda), ("s3control", &ops.s3control), ("sts", &ops.sts)];
        for (service, names) in services {
            for operation in names {
                for at in find_token(code, operation) {
                    if !code[..at].trim_end().ends_with('.') {
                        continue;
                    }
                    let named = receiver(code, at);
                    let receiver_fits = if NAMED_RECEIVERS.contains(&service) {
                        named == service
                    } else {
                        !NAMED_RECEIVERS.contains(&named)
                    };
                    if !receiver_fits {
                        continue;
                    }
                    let open = skip_ws(code, at + operation.len());
                    if code.as_bytes().get(open) != Some(&b'(') {
                        continue;
                    }
                    let Some(close) = matching(code, open) else { continue };
                    if !code[open + 1..close].trim().is_empty() {
                        continue; // fluent SDK operations take no arguments
                    }
                    let (links, _) = chain_after(code, close + 1);
                    let mut names: Vec<String> = links.into_iter().map(|l| l.name).collect();
                    if !names.iter().any(|n| SENDS.contains(&n.as_str())) {
                        names.extend(bound_request_links(code, &functions, at));
                    }
                    if !names.iter().any(|n| SENDS.contains(&n.as_str())) {
                        problems.push(format!(
                            "{}: .{operation}() looks like an SDK operation but is never sent; teach sdk_calls()",
                            file.location(at)
                        ));
                        continue;
                    }
                    let setters =
                        names.iter().map(|n| n.strip_prefix("set_").unwrap_or(n).to_owned()).collect::<BTreeSet<_>>();
                    calls.push(SdkCall { service, operation: operation.clone(), setters, at: file.location(at) });
                }
            }
        }
    }
    (calls, problems)
}

/// `let mut request = s3.put_object()…;` then `request = request.tagging(…)` and
/// `request.send()` later in the function: the methods applied to `request`.
fn bound_request_links(code: &str, functions: &[source_scan::FnItem], at: usize) -> Vec<String> {
    let start = statement_start(code, at);
    let end = statement_end(code, at);
    let Some(name) = let_binding(&code[start..end]) else { return Vec::new() };
    let Some(body) = source_scan::enclosing_fn(functions, at).map(|f| f.body.clone()) else { return Vec::new() };
    find_token(&code[end..body.end], &name)
        .into_iter()
        .map(|p| p + end)
        .filter(|p| !code[..*p].trim_end().ends_with('.'))
        .flat_map(|p| chain_after(code, p + name.len()).0)
        .map(|l| l.name)
        .collect()
}

/// Credential providers named in the code that call AWS themselves.
fn provider_actions(files: &[SourceFile]) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for file in files {
        for (provider, action) in CREDENTIAL_PROVIDER_ACTIONS {
            if let Some(at) = find_token(&file.code, provider).first() {
                found.insert((*action).to_owned(), format!("{} ({provider})", file.location(*at)));
            }
        }
    }
    found
}

/// The IAM actions the code of `dir` needs, each with where the code calls it.
fn needed_actions(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let files = source_scan::read_dir(dir).expect("reading the sources");
    let (calls, mut problems) = sdk_calls(&files, operations());
    let mut needed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for call in &calls {
        let mapped = match call.service {
            "s3" => iam::s3_actions(&call.operation),
            "s3control" => iam::s3control_actions(&call.operation),
            "sts" => iam::sts_actions(&call.operation),
            _ => iam::lambda_actions(&call.operation),
        };
        let Some(actions) = mapped else {
            problems.push(format!(
                "{}: {} {} has no IAM actions in remotion_operator::iam::{}_actions()",
                call.at, call.service, call.operation, call.service
            ));
            continue;
        };
        let why = format!("{} ({})", call.at, call.operation);
        for action in actions.iter() {
            needed.entry((*action).to_owned()).or_default().push(why.clone());
        }
        for (service, operation, setter, action) in SETTER_ACTIONS {
            if *service == call.service && *operation == call.operation && call.setters.contains(*setter) {
                needed.entry((*action).to_owned()).or_default().push(format!("{why} with {setter}"));
            }
        }
    }
    for (action, why) in provider_actions(&files) {
        needed.entry(action).or_default().push(why);
    }
    assert!(
        problems.is_empty(),
        "the extraction does not understand some of {}:\n{}",
        dir.display(),
        problems.join("\n")
    );
    needed
}

fn statements(document: &Value) -> Vec<&Value> {
    document["Statement"].as_array().expect("Statement is a list").iter().collect()
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(list) => list.iter().map(|v| v.as_str().expect("a string").to_owned()).collect(),
        Value::String(one) => vec![one.clone()],
        other => panic!("not a string or a list of strings: {other}"),
    }
}

fn granted_actions(document: &Value) -> BTreeSet<String> {
    statements(document)
        .into_iter()
        .inspect(|s| assert_eq!(s["Effect"], "Allow", "{s}"))
        .flat_map(|s| strings(&s["Action"]))
        .collect()
}

fn assert_exactly(role: PolicyRole, needed: &BTreeMap<String, Vec<String>>) {
    let document = iam::policy(role, None).expect("the embedded policy");
    let granted = granted_actions(&document);
    let wanted: BTreeSet<String> = needed.keys().cloned().collect();
    let missing: Vec<String> =
        wanted.difference(&granted).map(|a| format!("{a} (called at {})", needed[a].join(", "))).collect();
    let extra: Vec<&String> = granted.difference(&wanted).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "config/iam/{}-policy.json does not grant exactly what the code calls\nmissing: {missing:#?}\n\
         granted but never called: {extra:?}",
        match role {
            PolicyRole::Operator => "operator",
            PolicyRole::Function => "function",
        }
    );
    eprintln!("{role:?} policy: {wanted:?}");
}

#[test]
fn operator_policy_grants_exactly_the_actions_the_operator_calls() {
    let needed = needed_actions(&repo_root().join("operator").join("src"));
    assert_exactly(PolicyRole::Operator, &needed);
}

#[test]
fn function_policy_grants_exactly_the_actions_the_function_calls_and_its_logs() {
    let mut needed = needed_actions(&repo_root().join("function").join("src"));
    for action in FUNCTION_RUNTIME_ACTIONS {
        needed.entry((*action).to_owned()).or_default().push("the Lambda runtime (stdout/stderr)".to_owned());
    }
    assert_exactly(PolicyRole::Function, &needed);
}

/// Every resource is one the docs promise: `remotionlambda-*` buckets (bucket actions on the
/// bucket, object actions under `sites/`, `renders/`, `optimization/`, `outputs/`), the render functions,
/// their log groups, the roles; `*` only for the account-level reads, which cannot be scoped.
#[test]
fn every_statement_is_scoped_and_explained() {
    let bucket = format!("arn:aws:s3:::{BUCKET_PATTERN}");
    let function = "arn:aws:lambda:*:*:function:remotion-render-*";
    let prefixes = ["sites/*", "renders/*", "optimization/*", "outputs/*"];
    let object_actions = [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutObjectTagging",
        "s3:PutObjectAcl",
        "s3:AbortMultipartUpload",
    ];
    for role in [PolicyRole::Operator, PolicyRole::Function] {
        let document = iam::policy(role, None).unwrap();
        let mut sids = BTreeSet::new();
        for statement in statements(&document) {
            let sid = statement["Sid"].as_str().unwrap_or_default();
            assert!(sid.len() >= 12 && sid.chars().all(|c| c.is_ascii_alphanumeric()), "{role:?}: Sid {sid:?}");
            assert!(sids.insert(sid.to_owned()), "{role:?}: Sid {sid} twice");
            let actions = strings(&statement["Action"]);
            for resource in strings(&statement["Resource"]) {
                for action in &actions {
                    let ok = match action.split(':').next().unwrap() {
                        // Account-level reads that AWS does not scope to a resource.
                        "s3" if action == "s3:ListAllMyBuckets" => resource == "*",
                        "s3" if action == "s3:GetAccountPublicAccessBlock" => resource == "*",
                        "lambda" if action == "lambda:GetAccountSettings" => resource == "*",
                        "s3" if object_actions.contains(&action.as_str()) => {
                            prefixes.iter().any(|p| resource == format!("{bucket}/{p}"))
                        }
                        "s3" => resource == bucket,
                        "lambda" => resource == function,
                        "logs" => resource.starts_with("arn:aws:logs:*:*:log-group:/aws/lambda/remotion-render-*"),
                        "iam" | "sts" => resource.starts_with("arn:aws:iam::*:role/remotion-"),
                        _ => false,
                    };
                    assert!(ok, "{role:?} {sid}: {action} on {resource} is not one of the promised scopes");
                }
            }
            if actions.iter().any(|a| a == "iam:PassRole") {
                assert_eq!(
                    statement["Condition"],
                    serde_json::json!({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
                    "PassRole only to Lambda"
                );
            }
        }
    }
    // The patterns cover the names the operator gives by default.
    let default_bucket = remotion_crds::lambda_bucket::bucket_name_for_region("eu-central-1", "abcd123456").unwrap();
    assert!(default_bucket.starts_with(BUCKET_PATTERN.trim_end_matches('*')), "{default_bucket}");
    let default_function = remotion_crds::render_function::default_function_name("0.1.0", 2048, 10240, 900);
    assert!(default_function.starts_with("remotion-render-"), "{default_function}");
}

fn operator_binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_remotion-operator"))
}

#[test]
fn iam_policy_command_prints_the_policies() {
    for (role, name) in [(PolicyRole::Operator, "operator"), (PolicyRole::Function, "function")] {
        let out = operator_binary().args(["iam-policy", name]).output().expect("running remotion-operator");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with("{\n  \"Version\""), "pretty JSON: {text}");
        let printed: Value = serde_json::from_str(&text).expect("the output is JSON");
        let file: Value = serde_json::from_str(
            &std::fs::read_to_string(repo_root().join("config/iam").join(format!("{name}-policy.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(printed, file, "{name}: the binary prints config/iam/{name}-policy.json");
        assert_eq!(printed, iam::policy(role, None).unwrap());
    }

    let out = operator_binary()
        .args(["iam-policy", "function", "--bucket", "my-videos.example"])
        .output()
        .expect("running remotion-operator");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("the output is JSON");
    let text = printed.to_string();
    assert!(!text.contains(BUCKET_PATTERN), "{text}");
    assert!(text.contains("arn:aws:s3:::my-videos.example/renders/*"), "{text}");
    assert_eq!(granted_actions(&printed), granted_actions(&iam::policy(PolicyRole::Function, None).unwrap()));
}

#[test]
fn iam_policy_command_refuses_bad_input_with_a_message() {
    for bad in ["Not_A_Bucket", "remotionlambda-*", "ab"] {
        let out = operator_binary()
            .args(["iam-policy", "operator", "--bucket", bad])
            .output()
            .expect("running remotion-operator");
        assert!(!out.status.success(), "--bucket {bad} was accepted");
        assert!(out.stdout.is_empty(), "nothing on stdout for a bad bucket");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("invalid bucket name") && stderr.contains(bad), "{stderr}");
    }
    let out = operator_binary().args(["iam-policy", "nobody"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("operator"), "names the possible values");

    let help = operator_binary().arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("iam-policy") && help.contains("--http-addr"), "{help}");
}

/// The extraction itself: requests built in a variable, setters that need actions of their
/// own, presigning, paginators, and an operation that is never sent.
#[test]
fn extraction_follows_requests_built_in_variables() {
    let ops = operations();
    let snippet = SourceFile::snippet(
        "snippet.rs",
        r#"
        async fn put(s3: &Client, tag: Option<String>) {
            let mut request = s3.put_object().bucket("b").key("k");
            if let Some(tag) = tag {
                request = request.tagging(tag);
            }
            request.send().await.unwrap();
            let _ = s3.get_object().bucket("b").key("k").presigned(config).await;
            let mut pages = s3.list_objects_v2().bucket("b").into_paginator().send();
            // s3.delete_bucket().send() in a comment is no call
            let url = "x.delete_object().send()";
        }
        fn unsent(s3: &Client) -> Builder { s3.head_object() }
        "#,
    );
    let (calls, problems) = sdk_calls(&[snippet], ops);
    let found: Vec<(String, Vec<String>)> =
        calls.iter().map(|c| (c.operation.clone(), c.setters.iter().cloned().collect())).collect();
    let names: BTreeSet<&str> = found.iter().map(|(op, _)| op.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["get_object", "list_objects_v2", "put_object"]));
    let put = &found.iter().find(|(op, _)| op == "put_object").unwrap().1;
    assert!(put.contains(&"tagging".to_owned()), "{put:?}");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("head_object"), "{problems:?}");
}
