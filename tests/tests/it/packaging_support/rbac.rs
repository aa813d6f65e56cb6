//! The operator's RBAC needs, derived from its code (`operator/src`) instead of a hand list.
//!
//! Every Kubernetes request of the operator goes through a kube `Api<K>`, so the scan follows
//! `Api` values and what is done with them:
//!
//! - **Requests on an `Api`**: `api.get_opt(…)`, `Api::<K>::namespaced(…).get_opt(…)`,
//!   `settings.api::<K>(…).list_metadata(…)` … where the receiver is a parameter typed
//!   `Api<K>`/`&Api<K>`, a `let` typed `Api<K>` or initialised with an `Api::<K>::…` or helper
//!   expression (a helper is a function returning `Api<K>` for its type parameter K, like
//!   `Settings::api`), or the expression itself. [`api_verb`] maps the method to its verb.
//! - **Generic functions**: requests on an `Api` of a type parameter K (received as a parameter
//!   or built inside) are "K's" requests; a call binds K to a concrete kind through an `Api`
//!   argument (`apply_status(&api, …)` with `api: Api<LambdaBucket>`), through a turbofish
//!   (`report::<K>(…)`), or — for the reconcile wrapper of a `Controller` — by being an argument
//!   of the `.run(…)` of a `Controller` of that kind (its reconcile receives that kind).
//!   Generic functions calling generic functions are followed.
//! - **Watches**: a kube `Controller` lists and watches its main kind (`Controller::new(api, …)`;
//!   one on a shared stream, `Controller::<K>::for_shared_stream`, reconciles kind K)
//!   and every kind of `.owns(api, …)` and `.watches(api, …)`; `watcher(api, …)` and
//!   `metadata_watcher(api, …)` are the same list+watch streams ([`WATCH_CALLS`]). Nothing in
//!   our code says `list`/`watch` there: the derivation adds both for the kind of the `Api`
//!   handed over.
//! - **Library requests**: kube's event `Recorder` publishes `events.k8s.io/v1` Events: it
//!   creates one and patches it into a series when it repeats (kube-runtime `events.rs`,
//!   `Recorder::publish`), see [`LIBRARY_CALLS`]; `kube::runtime::finalizer` patches the
//!   object of the `Api` it is handed ([`API_LIBRARY_CALLS`]).
//!
//! kube's `DeserializeGuard<K>` and `PartialObjectMeta<K>` address K's resource
//! ([`TRANSPARENT_WRAPPERS`]). Anything the scan cannot attribute — an `Api` in a place it does
//! not understand (a struct field, an untyped `Api::namespaced(…)` followed by a request, a
//! method it does not know, a generic call whose kind it cannot tell) — is reported as a
//! problem, so the derivation never misses a request quietly. Kinds become (apiGroup,
//! resource) through `config/crd/` for ours and `k8s_openapi`'s `Resource` constants for the
//! built-in ones ([`builtin_resource`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use anyhow::{Context, Result, bail};
use remotion_tests::source_scan::{
    self, FnItem, SourceFile, chain_after, find_token, ident_at, let_binding, matching, matching_angle, skip_ws,
    split_top_level, statement_end,
};

/// (apiGroup, resource — `plural` or `plural/subresource`, verb).
pub type Permission = (String, String, String);

/// One request the operator makes, and where the code says so.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Access {
    /// Kind (`LambdaBucket`, `Secret`, …).
    pub kind: String,
    /// `status`, or `None` for the object itself.
    pub subresource: Option<String>,
    /// RBAC verb.
    pub verb: String,
    /// `file:line`.
    pub at: String,
}

/// The verb of a request method of kube's `Api` (and the subresource it goes to).
pub fn api_verb(method: &str) -> Option<(Option<&'static str>, &'static str)> {
    Some(match method {
        "get" | "get_opt" | "get_metadata" | "get_metadata_opt" => (None, "get"),
        "list" | "list_metadata" => (None, "list"),
        "watch" | "watch_metadata" => (None, "watch"),
        "create" => (None, "create"),
        // PUT is the `update` verb.
        "replace" => (None, "update"),
        "patch" | "patch_metadata" => (None, "patch"),
        "delete" => (None, "delete"),
        "delete_collection" => (None, "deletecollection"),
        "get_status" => (Some("status"), "get"),
        "patch_status" => (Some("status"), "patch"),
        "replace_status" => (Some("status"), "update"),
        _ => return None,
    })
}

/// Methods of `Api` that send no request.
const NEUTRAL_METHODS: &[&str] = &["clone", "resource_url"];

/// Calls whose first argument is an `Api` that gets listed and watched.
pub const WATCH_CALLS: &[&str] = &["Controller::new", ".watches", ".owns", "watcher", "metadata_watcher"];

/// kube library functions that make requests on the `Api` they are handed (first argument):
/// (call, verbs). `kube::runtime::finalizer` adds and removes the finalizer by JSON patch.
pub const API_LIBRARY_CALLS: &[(&str, &[&str])] = &[("finalizer::finalizer", &["patch"])];

/// Library constructors whose objects make requests of their own: (call, kind, verbs).
pub const LIBRARY_CALLS: &[(&str, &str, &[&str])] = &[("Recorder::new", "Event", &["create", "patch"])];

/// kube types that wrap a kind and address its resource.
pub const TRANSPARENT_WRAPPERS: &[&str] = &["DeserializeGuard", "PartialObjectMeta"];

/// (apiGroup, plural) of the built-in kinds, from k8s-openapi.
pub fn builtin_resource(kind: &str) -> Option<(String, String)> {
    use k8s_openapi::Resource;
    use k8s_openapi::api::{coordination, core, events};
    fn of<R: Resource>() -> (String, String) {
        (R::GROUP.to_owned(), R::URL_PATH_SEGMENT.to_owned())
    }
    Some(match kind {
        "Secret" => of::<core::v1::Secret>(),
        "ConfigMap" => of::<core::v1::ConfigMap>(),
        "Lease" => of::<coordination::v1::Lease>(),
        "Event" => of::<events::v1::Event>(),
        "Namespace" => of::<core::v1::Namespace>(),
        "Pod" => of::<core::v1::Pod>(),
        "Service" => of::<core::v1::Service>(),
        _ => return None,
    })
}

/// The kind of a type text: path and transparent wrappers removed
/// (`kube::core::DeserializeGuard<crds::LambdaBucket>` → `LambdaBucket`).
pub fn kind_of_type(text: &str) -> String {
    let mut t = text.trim();
    loop {
        let head = t.split('<').next().unwrap_or_default();
        let name = head.rsplit("::").next().unwrap_or_default().trim();
        match t.find('<') {
            Some(open) if TRANSPARENT_WRAPPERS.contains(&name) && t.ends_with('>') => {
                t = t[open + 1..t.len() - 1].trim()
            }
            _ => return name.to_owned(),
        }
    }
}

/// The kind inside `Api<…>` of a type text like `&Api<K>`, `&mut Api<K>`, `Api<K>`.
fn api_type_arg(type_text: &str) -> Option<String> {
    let t = type_text.trim().trim_start_matches('&').trim_start();
    let t = t.strip_prefix("mut ").unwrap_or(t).trim_start();
    let t = t.strip_prefix("kube::").unwrap_or(t);
    let t = t.strip_prefix("api::").unwrap_or(t);
    let inner = t.strip_prefix("Api<")?.strip_suffix('>')?;
    Some(kind_of_type(inner))
}

/// Requests on one kind: (subresource, verb).
type Verbs = BTreeSet<(Option<&'static str>, &'static str)>;

/// The kind an `Api` is of: a concrete kind, or a type parameter of the function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum KindRef {
    Concrete(String),
    Param(String),
}

fn kind_ref(kind: &str, type_params: &[String]) -> KindRef {
    if type_params.iter().any(|p| p == kind) {
        KindRef::Param(kind.to_owned())
    } else {
        KindRef::Concrete(kind.to_owned())
    }
}

/// `Api::<K>::ctor(…)` or `helper::<K>(…)`: an expression whose value is an `Api<K>`.
#[derive(Clone, Debug)]
struct ApiExpr {
    start: usize,
    end: usize,
    kind: String,
}

/// A function of the scanned code.
#[derive(Clone, Debug)]
struct FnInfo {
    file: usize,
    item: FnItem,
    type_params: Vec<String>,
    /// (name, type text, offset of the type).
    params: Vec<(String, String, usize)>,
    /// Module path segments of its file (`controllers/guard.rs` → controllers, guard).
    modules: Vec<String>,
}

/// A call of a generic function.
#[derive(Clone, Debug)]
struct Call {
    /// Candidate definitions (more than one only for ambiguous names).
    callees: Vec<usize>,
    at: usize,
    /// The kinds its `Api` arguments are of: (position, kind; `None` = unknown).
    api_args: Vec<(usize, Option<KindRef>)>,
    /// The turbofish types (by type parameter position).
    turbofish: Vec<KindRef>,
    /// The kind of the `Controller` whose `.run(…)` this call is an argument of.
    in_run_of: Option<String>,
}

/// What a function does, as found in its own body.
#[derive(Clone, Debug, Default)]
struct Facts {
    /// Requests: (kind, subresource, verb, offset).
    requests: Vec<(KindRef, Option<&'static str>, &'static str, usize)>,
    /// Watched kinds.
    watches: Vec<(KindRef, usize)>,
    calls: Vec<Call>,
}

/// What one scan found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every request found.
    pub accesses: Vec<Access>,
    /// What could not be attributed (each `file:line: what`).
    pub problems: Vec<String>,
}

struct Scanner<'a> {
    files: &'a [SourceFile],
    fns: Vec<FnInfo>,
    helpers: BTreeSet<String>,
    exprs: Vec<Vec<ApiExpr>>,
    recognized: Vec<BTreeSet<usize>>,
    facts: Vec<Facts>,
    memo: HashMap<(usize, String), Verbs>,
    scan: Scan,
}

fn modules_of(file: &SourceFile) -> Vec<String> {
    let mut parts: Vec<String> =
        file.path.components().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
        parts.pop();
    }
    parts.into_iter().rev().take(3).collect()
}

/// Where a path expression like `settings.api::<K>` or `crate::x::f` begins.
fn path_start(code: &str, at: usize) -> usize {
    let bytes = code.as_bytes();
    let mut j = at;
    loop {
        if j >= 2 && &code[j - 2..j] == "::" {
            j -= 2;
        } else if j >= 1 && bytes[j - 1] == b'.' && !(j >= 2 && bytes[j - 2] == b'.') {
            j -= 1;
        } else {
            return j;
        }
        while j > 0 && source_scan::is_ident_byte(bytes[j - 1]) {
            j -= 1;
        }
    }
}

/// Whether the token at `at` is a field or a method (`x.api`).
fn after_dot(code: &str, at: usize) -> bool {
    let before = code[..at].trim_end();
    before.ends_with('.') && !before.ends_with("..")
}

/// The path qualifier right before `at` (`guard` in `guard::reconcile`).
fn qualifier(code: &str, at: usize) -> Option<String> {
    let before = code[..at].strip_suffix("::")?;
    let start = before.bytes().rposition(|b| !source_scan::is_ident_byte(b)).map_or(0, |p| p + 1);
    Some(before[start..].to_owned()).filter(|q| !q.is_empty())
}

/// The offset of `=` in a `let` statement (not `==`, `=>`, `<=`, `>=`, `!=`).
fn find_assign(statement: &str) -> Option<usize> {
    let bytes = statement.as_bytes();
    (0..bytes.len()).find(|i| {
        bytes[*i] == b'='
            && bytes.get(i + 1).is_none_or(|b| *b != b'=' && *b != b'>')
            && (*i == 0 || !matches!(bytes[i - 1], b'=' | b'<' | b'>' | b'!'))
    })
}

impl<'a> Scanner<'a> {
    fn new(files: &'a [SourceFile]) -> Self {
        let mut fns = Vec::new();
        let mut helpers = BTreeSet::new();
        for (index, file) in files.iter().enumerate() {
            let code = &file.code;
            for item in file.functions() {
                let type_params = item.type_params(code);
                let returns = code[item.signature_rest.clone()].trim();
                let returned = returns.strip_prefix("->").and_then(|r| {
                    let r = r.trim();
                    api_type_arg(&r[..r.find(" where").unwrap_or(r.len())])
                });
                if returned.is_some_and(|k| type_params.contains(&k)) {
                    helpers.insert(item.name.clone());
                }
                let params = item.parameters(code);
                fns.push(FnInfo { file: index, item, type_params, params, modules: modules_of(file) });
            }
        }
        let mut scanner = Scanner {
            files,
            fns,
            helpers,
            exprs: Vec::new(),
            recognized: vec![BTreeSet::new(); files.len()],
            facts: Vec::new(),
            memo: HashMap::new(),
            scan: Scan::default(),
        };
        scanner.exprs = files.iter().map(|f| scanner.api_expressions(&f.code)).collect();
        scanner
    }

    fn problem(&mut self, file: usize, at: usize, what: String) {
        let location = self.files[file].location(at);
        self.scan.problems.push(format!("{location}: {what}"));
    }

    /// Every `Api::<K>::ctor(…)` and `helper::<K>(…)` of a file.
    fn api_expressions(&self, code: &str) -> Vec<ApiExpr> {
        let mut found = Vec::new();
        let mut names: Vec<&str> = vec!["Api"];
        names.extend(self.helpers.iter().map(String::as_str));
        for name in names {
            for start in find_token(code, name) {
                let after = start + name.len();
                if !code[after..].starts_with("::<") {
                    continue;
                }
                let Some(close) = matching_angle(code, after + 2) else { continue };
                let kind = kind_of_type(&code[after + 3..close]);
                let mut j = close + 1;
                if name == "Api" {
                    if !code[j..].starts_with("::") {
                        continue;
                    }
                    j += 2 + ident_at(code, j + 2).len();
                }
                let j = skip_ws(code, j);
                if code.as_bytes().get(j) != Some(&b'(') {
                    continue;
                }
                let Some(end) = matching(code, j) else { continue };
                let start = if name == "Api" { start } else { path_start(code, start) };
                found.push(ApiExpr { start, end: end + 1, kind });
            }
        }
        found
    }

    fn run(mut self) -> Scan {
        for index in 0..self.fns.len() {
            let facts = self.facts_of(index);
            self.facts.push(facts);
        }
        for index in 0..self.fns.len() {
            self.attribute(index);
        }
        for file in 0..self.files.len() {
            self.library_calls(file);
        }
        self.check_every_api_occurrence();
        self.scan.accesses.sort();
        self.scan.accesses.dedup();
        self.scan.problems.sort();
        self.scan.problems.dedup();
        self.scan
    }

    /// Whether `at` belongs to function `index` itself (not to a function nested in it).
    fn owns(&self, index: usize, at: usize) -> bool {
        let f = &self.fns[index];
        f.item.body.contains(&at)
            && !self.fns.iter().any(|o| {
                o.file == f.file
                    && o.item.body.start > f.item.body.start
                    && o.item.body.end <= f.item.body.end
                    && (o.item.at..o.item.body.end).contains(&at)
            })
    }

    /// Offsets of `word` in function `index`'s own body.
    fn tokens_in(&self, index: usize, word: &str) -> Vec<usize> {
        let f = &self.fns[index];
        let code = &self.files[f.file].code;
        find_token(&code[f.item.body.clone()], word)
            .into_iter()
            .map(|p| p + f.item.body.start)
            .filter(|p| self.owns(index, *p))
            .collect()
    }

    /// The calls of `call` in function `index` with the kind of the `Api` each is handed as its
    /// first argument: (offset, offset of the closing parenthesis, kind). A call whose kind cannot
    /// be told is reported as a problem ("cannot tell `what`").
    fn api_argument_calls(
        &mut self,
        index: usize,
        code: &str,
        call: &str,
        bindings: &HashMap<String, KindRef>,
        tp: &[String],
        what: &str,
    ) -> Vec<(usize, usize, KindRef)> {
        let file = self.fns[index].file;
        let mut found = Vec::new();
        for at in self.tokens_in(index, call) {
            let open = skip_ws(code, at + call.len());
            if code.as_bytes().get(open) != Some(&b'(') {
                continue;
            }
            let Some(close) = matching(code, open) else { continue };
            let Some((range, _)) = split_top_level(code, open + 1..close).into_iter().next() else { continue };
            match self.resolve(file, range, bindings, tp) {
                Some(kind) => found.push((at, close, kind)),
                None => self.problem(file, at, format!("cannot tell {what}")),
            }
        }
        found
    }

    /// The kind of the `Api` an argument or expression in `range` is.
    fn resolve(
        &mut self,
        file: usize,
        range: Range<usize>,
        bindings: &HashMap<String, KindRef>,
        tp: &[String],
    ) -> Option<KindRef> {
        if let Some(expr) = self.exprs[file].iter().find(|e| range.contains(&e.start)).cloned() {
            self.recognized[file].insert(expr.start);
            return Some(kind_ref(&expr.kind, tp));
        }
        let code = &self.files[file].code;
        let text = code[range].trim().trim_start_matches('&').trim_start_matches('*').trim_start();
        let text = text.strip_prefix("mut ").unwrap_or(text).trim();
        let text = text.strip_suffix(".clone()").unwrap_or(text);
        bindings.get(text).cloned()
    }

    /// The `Api` parameters of function `index`: (position, kind).
    fn api_params(&self, index: usize) -> Vec<(usize, KindRef)> {
        let f = &self.fns[index];
        f.params
            .iter()
            .enumerate()
            .filter_map(|(i, (_, ty, _))| api_type_arg(ty).map(|k| (i, kind_ref(&k, &f.type_params))))
            .collect()
    }

    /// The definitions a call of `name` at `at` in file `file` may mean.
    fn callees(&self, file: usize, at: usize, name: &str) -> Vec<usize> {
        let all: Vec<usize> = (0..self.fns.len()).filter(|i| self.fns[*i].item.name == name).collect();
        let code = &self.files[file].code;
        let chosen: Vec<usize> = match qualifier(code, at) {
            Some(q) if q != "self" && q != "Self" && q != "crate" && q != "super" => {
                let by_module: Vec<usize> = all.iter().copied().filter(|i| self.fns[*i].modules.contains(&q)).collect();
                if by_module.is_empty() { all } else { by_module }
            }
            _ => {
                let local: Vec<usize> = all.iter().copied().filter(|i| self.fns[*i].file == file).collect();
                if local.is_empty() { all } else { local }
            }
        };
        chosen.into_iter().filter(|i| !self.fns[*i].type_params.is_empty()).collect()
    }

    fn facts_of(&mut self, index: usize) -> Facts {
        let f = self.fns[index].clone();
        let file = f.file;
        let code = self.files[file].code.clone();
        let tp = f.type_params.clone();
        let mut facts = Facts::default();
        let mut bindings: HashMap<String, KindRef> = HashMap::new();

        for (name, ty, offset) in &f.params {
            if let Some(kind) = api_type_arg(ty) {
                bindings.insert(name.clone(), kind_ref(&kind, &tp));
                if let Some(p) = code[*offset..f.item.params.end].find("Api") {
                    self.recognized[file].insert(offset + p);
                }
            }
        }
        let returns_api = code[f.item.signature_rest.clone()].contains("Api<");
        if returns_api {
            for p in find_token(&code[f.item.signature_rest.clone()], "Api") {
                self.recognized[file].insert(f.item.signature_rest.start + p);
            }
        }

        // `let` bindings typed `Api<K>` or initialised with an Api expression.
        for at in self.tokens_in(index, "let") {
            let end = statement_end(&code, at);
            let statement = &code[at..end];
            let Some(name) = let_binding(statement) else { continue };
            let Some(eq) = find_assign(statement) else { continue };
            if let Some(kind) = statement[..eq].split_once(':').and_then(|(_, ty)| api_type_arg(ty)) {
                bindings.insert(name, kind_ref(&kind, &tp));
                self.recognized[file].insert(at + statement.find("Api").unwrap_or(0));
                // `let api: Api<K> = Api::namespaced(…)`: the untyped constructor is fine here.
                for p in find_token(&statement[eq..], "Api") {
                    self.recognized[file].insert(at + eq + p);
                }
                continue;
            }
            let init = skip_ws(&code, at + eq + 1);
            let expr = self.exprs[file].iter().find(|e| e.start == init).cloned();
            if let Some(expr) = expr.filter(|e| skip_ws(&code, e.end) == end) {
                bindings.insert(name, kind_ref(&expr.kind, &tp));
                self.recognized[file].insert(expr.start);
            }
        }

        // Requests on Api expressions.
        let exprs: Vec<ApiExpr> = self.exprs[file].iter().filter(|e| self.owns(index, e.start)).cloned().collect();
        for expr in exprs {
            let (links, _) = chain_after(&code, expr.end);
            if let Some(first) = links.first() {
                self.recognized[file].insert(expr.start);
                self.request(&mut facts, file, expr.start, kind_ref(&expr.kind, &tp), &first.name);
            }
        }

        // Untyped constructors followed by a request cannot be attributed.
        for p in self.tokens_in(index, "Api") {
            if code[p + 3..].starts_with("::") && !code[p + 3..].starts_with("::<") {
                let after = code[p..].find('(').and_then(|o| matching(&code, p + o)).map_or(p, |c| c + 1);
                if !chain_after(&code, after).0.is_empty() {
                    self.problem(file, p, "a request on an `Api::…` whose kind is not written out".into());
                } else if returns_api {
                    self.recognized[file].insert(p);
                }
            }
        }

        // Requests on bindings.
        for (name, kind) in bindings.clone() {
            for at in self.tokens_in(index, &name) {
                if after_dot(&code, at) || code[..at].trim_end().ends_with("::") {
                    continue;
                }
                let next = skip_ws(&code, at + name.len());
                if code.as_bytes().get(next) == Some(&b'.') && code.as_bytes().get(next + 1) != Some(&b'.') {
                    let (links, _) = chain_after(&code, at + name.len());
                    if let Some(first) = links.first().filter(|l| l.args.is_some()) {
                        self.request(&mut facts, file, at, kind.clone(), &first.name);
                    }
                }
            }
        }

        // Watches, and the `.run(…)` of each Controller.
        let mut runs: Vec<(Range<usize>, String)> = Vec::new();
        for call in WATCH_CALLS {
            let what = format!("which kind `{call}` watches");
            for (at, close, kind) in self.api_argument_calls(index, &code, call, &bindings, &tp, &what) {
                facts.watches.push((kind.clone(), at));
                if *call == "Controller::new"
                    && let KindRef::Concrete(kind) = kind
                {
                    for run in self.run_args(index, &code, at, close + 1) {
                        runs.push((run, kind.clone()));
                    }
                }
            }
        }

        // Controllers on a shared stream (`Controller::<K>::for_shared_stream(…)`): the kind is
        // the turbofish's; the list+watch is the `watcher(api, …)` feeding the stream.
        for at in self.tokens_in(index, "Controller") {
            let open = at + "Controller::".len();
            if !code[at..].starts_with("Controller::<") {
                continue;
            }
            let Some(close) = matching_angle(&code, open) else { continue };
            let constructor = "::for_shared_stream";
            if !code[close + 1..].starts_with(constructor) {
                continue;
            }
            let paren = skip_ws(&code, close + 1 + constructor.len());
            let Some(end) = matching(&code, paren) else { continue };
            if let KindRef::Concrete(kind) = kind_ref(&kind_of_type(&code[open + 1..close]), &tp) {
                for run in self.run_args(index, &code, at, end + 1) {
                    runs.push((run, kind.clone()));
                }
            }
        }

        // Library functions making requests on the `Api` they are handed.
        for (call, verbs) in API_LIBRARY_CALLS {
            let what = format!("the kind of the `Api` handed to `{call}`");
            for (at, _, kind) in self.api_argument_calls(index, &code, call, &bindings, &tp, &what) {
                for verb in *verbs {
                    facts.requests.push((kind.clone(), None, verb, at));
                }
            }
        }

        // Calls of generic functions (a parameter or local of the same name shadows them).
        let mut locals: BTreeSet<String> = f.params.iter().map(|p| p.0.clone()).collect();
        for at in self.tokens_in(index, "let") {
            locals.extend(let_binding(&code[at..statement_end(&code, at)]));
        }
        let names: BTreeSet<String> =
            self.fns.iter().filter(|g| !g.type_params.is_empty()).map(|g| g.item.name.clone()).collect();
        for name in names.difference(&locals) {
            let name = name.clone();
            for at in self.tokens_in(index, &name) {
                if after_dot(&code, at) || code[..at].trim_end().ends_with("fn") {
                    continue;
                }
                let mut j = skip_ws(&code, at + name.len());
                let mut turbofish_text = Vec::new();
                if code[j..].starts_with("::<") {
                    let Some(close) = matching_angle(&code, j + 2) else { continue };
                    turbofish_text = split_top_level(&code, j + 3..close);
                    j = skip_ws(&code, close + 1);
                }
                if code.as_bytes().get(j) != Some(&b'(') {
                    continue;
                }
                let callees = self.callees(file, at, &name);
                if callees.is_empty() {
                    continue;
                }
                let Some(close) = matching(&code, j) else { continue };
                let args = split_top_level(&code, j + 1..close);
                let mut api_args = Vec::new();
                for (position, _) in self.api_params(callees[0]) {
                    let kind = match args.get(position).cloned() {
                        Some((range, _)) => self.resolve(file, range, &bindings, &tp),
                        None => None,
                    };
                    api_args.push((position, kind));
                }
                let turbofish = turbofish_text.iter().map(|(_, t)| kind_ref(&kind_of_type(t), &tp)).collect();
                let in_run_of = runs.iter().find(|(r, _)| r.contains(&at)).map(|(_, k)| k.clone());
                facts.calls.push(Call { callees, at, api_args, turbofish, in_run_of });
            }
        }
        facts
    }

    /// The argument ranges of the `.run(…)` of the Controller built at `at` (`Controller::new`
    /// call ending at `end`): in its own chain, or in the chains of the `let` it is bound to.
    fn run_args(&self, index: usize, code: &str, at: usize, end: usize) -> Vec<Range<usize>> {
        let mut links = chain_after(code, end).0;
        let statement_start = source_scan::statement_start(code, at);
        if let Some(name) = let_binding(&code[statement_start..statement_end(code, at)]) {
            for p in self.tokens_in(index, &name) {
                if p > at && !after_dot(code, p) {
                    links.extend(chain_after(code, p + name.len()).0);
                }
            }
        }
        links.into_iter().filter(|l| l.name == "run").filter_map(|l| l.args).collect()
    }

    fn request(&mut self, facts: &mut Facts, file: usize, at: usize, kind: KindRef, method: &str) {
        if NEUTRAL_METHODS.contains(&method) {
            return;
        }
        match api_verb(method) {
            Some((sub, verb)) => facts.requests.push((kind, sub, verb, at)),
            None => self.problem(file, at, format!("`Api::{method}` has no verb in api_verb()")),
        }
    }

    /// The (subresource, verb) requests function `index` makes on resources of its type
    /// parameter `param`, those of the generic functions it hands them to included.
    fn verbs_of(&mut self, index: usize, param: &str) -> Verbs {
        let key = (index, param.to_owned());
        if let Some(found) = self.memo.get(&key) {
            return found.clone();
        }
        self.memo.insert(key.clone(), BTreeSet::new()); // a recursion adds nothing new
        let facts = self.facts[index].clone();
        let mine = KindRef::Param(param.to_owned());
        let mut verbs: Verbs = facts.requests.iter().filter(|r| r.0 == mine).map(|r| (r.1, r.2)).collect();
        for call in &facts.calls {
            let Some(&callee) = call.callees.first() else { continue };
            let callee_api_params = self.api_params(callee);
            for (position, kind) in &call.api_args {
                if kind.as_ref() == Some(&mine)
                    && let Some((_, KindRef::Param(theirs))) = callee_api_params.iter().find(|(p, _)| p == position)
                {
                    let theirs = theirs.clone();
                    verbs.extend(self.verbs_of(callee, &theirs));
                }
            }
            for (i, kind) in call.turbofish.iter().enumerate() {
                if *kind == mine
                    && let Some(theirs) = self.fns[callee].type_params.get(i).cloned()
                {
                    verbs.extend(self.verbs_of(callee, &theirs));
                }
            }
        }
        self.memo.insert(key, verbs.clone());
        verbs
    }

    /// Adds the concrete requests of function `index`.
    fn attribute(&mut self, index: usize) {
        let file = self.fns[index].file;
        let facts = self.facts[index].clone();
        for (kind, sub, verb, at) in &facts.requests {
            if let KindRef::Concrete(kind) = kind {
                self.push(file, *at, kind, *sub, verb);
            }
        }
        for (kind, at) in &facts.watches {
            match kind {
                KindRef::Concrete(kind) => {
                    self.push(file, *at, kind, None, "list");
                    self.push(file, *at, kind, None, "watch");
                }
                KindRef::Param(_) => self.problem(file, *at, "a watch of a type parameter's kind".into()),
            }
        }
        for call in &facts.calls {
            let name = self.fns[call.callees[0]].item.name.clone();
            let with_verbs: Vec<usize> = call
                .callees
                .iter()
                .copied()
                .filter(|c| {
                    let params = self.fns[*c].type_params.clone();
                    params.iter().any(|p| !self.verbs_of(*c, p).is_empty())
                })
                .collect();
            if with_verbs.len() > 1 {
                self.problem(file, call.at, format!("several generic functions called `{name}` make requests"));
                continue;
            }
            let Some(&callee) = with_verbs.first() else { continue };
            let type_params = self.fns[callee].type_params.clone();
            let api_params = self.api_params(callee);
            let mut bound: BTreeSet<String> = BTreeSet::new();
            for (position, kind) in &call.api_args {
                let Some((_, KindRef::Param(theirs))) = api_params.iter().find(|(p, _)| p == position) else {
                    continue;
                };
                match kind {
                    Some(KindRef::Concrete(kind)) => {
                        for (sub, verb) in self.verbs_of(callee, theirs) {
                            self.push(file, call.at, kind, sub, verb);
                        }
                    }
                    Some(KindRef::Param(_)) => {} // followed by verbs_of from the generic caller
                    None => {
                        self.problem(file, call.at, format!("cannot tell the kind of the `Api` passed to `{name}`"))
                    }
                }
                bound.insert(theirs.clone());
            }
            for (i, kind) in call.turbofish.iter().enumerate() {
                let Some(theirs) = type_params.get(i) else { continue };
                if let KindRef::Concrete(kind) = kind {
                    for (sub, verb) in self.verbs_of(callee, theirs) {
                        self.push(file, call.at, kind, sub, verb);
                    }
                }
                bound.insert(theirs.clone());
            }
            let unbound: Vec<String> = type_params
                .iter()
                .filter(|p| !bound.contains(*p) && !self.verbs_of(callee, p).is_empty())
                .cloned()
                .collect();
            match (&call.in_run_of, unbound.as_slice()) {
                (_, []) => {}
                (Some(kind), [param]) => {
                    // The reconcile (wrapper) of a Controller of `kind` gets objects of `kind`.
                    for (sub, verb) in self.verbs_of(callee, param) {
                        self.push(file, call.at, kind, sub, verb);
                    }
                }
                _ => {
                    self.problem(file, call.at, format!("cannot tell which kinds `{name}` is called for ({unbound:?})"))
                }
            }
        }
    }

    fn push(&mut self, file: usize, at: usize, kind: &str, sub: Option<&str>, verb: &str) {
        self.scan.accesses.push(Access {
            kind: kind.to_owned(),
            subresource: sub.map(str::to_owned),
            verb: verb.to_owned(),
            at: self.files[file].location(at),
        });
    }

    /// Library calls anywhere in a file.
    fn library_calls(&mut self, file: usize) {
        let code = self.files[file].code.clone();
        for (call, kind, verbs) in LIBRARY_CALLS {
            for at in find_token(&code, call) {
                if code.as_bytes().get(skip_ws(&code, at + call.len())) == Some(&b'(') {
                    for verb in *verbs {
                        self.push(file, at, kind, None, verb);
                    }
                }
            }
        }
    }

    /// Every `Api<…>`, `Api::…` and helper call must have been understood by one of the rules.
    fn check_every_api_occurrence(&mut self) {
        for file in 0..self.files.len() {
            let code = self.files[file].code.clone();
            let mut occurrences: Vec<usize> = find_token(&code, "Api")
                .into_iter()
                .filter(|p| code[p + 3..].starts_with('<') || code[p + 3..].starts_with("::"))
                .collect();
            occurrences.extend(self.exprs[file].iter().map(|e| e.start));
            occurrences.sort_unstable();
            occurrences.dedup();
            for at in occurrences {
                let recognized = &self.recognized[file];
                let covered = recognized.contains(&at)
                    || self.exprs[file].iter().any(|e| e.start <= at && at < e.end && recognized.contains(&e.start));
                if !covered {
                    let snippet: String = code[at..].chars().take(60).collect();
                    let what = format!("an `Api` the derivation does not understand: `{}`", snippet.trim());
                    self.problem(file, at, what);
                }
            }
        }
    }
}

/// Scans `files` (blanked sources) for the Kubernetes requests they make.
pub fn scan(files: &[SourceFile]) -> Scan {
    Scanner::new(files).run()
}

/// (apiGroup, plural) of each kind of `config/crd/`.
pub fn crd_resources() -> Result<BTreeMap<String, (String, String)>> {
    let mut kinds = BTreeMap::new();
    for crd in super::config_crds()?.values() {
        let spec = &crd["spec"];
        let kind = spec["names"]["kind"].as_str().context("a CRD without spec.names.kind")?;
        let group = spec["group"].as_str().context("a CRD without spec.group")?;
        let plural = spec["names"]["plural"].as_str().context("a CRD without spec.names.plural")?;
        kinds.insert(kind.to_owned(), (group.to_owned(), plural.to_owned()));
    }
    Ok(kinds)
}

/// The permissions `accesses` need.
pub fn permissions(accesses: &[Access]) -> Result<BTreeSet<Permission>> {
    let crds = crd_resources()?;
    let mut out = BTreeSet::new();
    for access in accesses {
        let Some((group, plural)) = crds.get(&access.kind).cloned().or_else(|| builtin_resource(&access.kind)) else {
            bail!("{}: kind {} is neither in config/crd nor in builtin_resource()", access.at, access.kind);
        };
        let resource = match &access.subresource {
            Some(sub) => format!("{plural}/{sub}"),
            None => plural,
        };
        out.insert((group, resource, access.verb.clone()));
    }
    Ok(out)
}

/// The operator's needs: the rules of its (Cluster)Role, and those of the leader-election Role
/// in its own namespace (the Lease; see `operator/src/leader.rs`).
#[derive(Debug)]
pub struct DerivedRbac {
    /// The ClusterRole (or Role of the watched namespace).
    pub main: BTreeSet<Permission>,
    /// The leader-election Role.
    pub lease: BTreeSet<Permission>,
    /// Every request found, for messages.
    pub accesses: Vec<Access>,
}

/// Whether a permission belongs in the leader-election Role.
pub fn is_lease(permission: &Permission) -> bool {
    permission.0 == "coordination.k8s.io" && permission.1 == "leases"
}

/// Derives the operator's RBAC from `operator/src` (once per test binary).
pub fn derived() -> &'static DerivedRbac {
    static DERIVED: std::sync::OnceLock<DerivedRbac> = std::sync::OnceLock::new();
    DERIVED.get_or_init(|| derive().expect("deriving the operator's RBAC from its code"))
}

fn derive() -> Result<DerivedRbac> {
    let files = source_scan::read_dir(&super::repo_root().join("operator").join("src"))?;
    let scan = scan(&files);
    if !scan.problems.is_empty() {
        bail!("the RBAC derivation does not understand some of operator/src:\n{}", scan.problems.join("\n"));
    }
    let all = permissions(&scan.accesses)?;
    let (lease, main) = all.into_iter().partition(is_lease);
    Ok(DerivedRbac { main, lease, accesses: scan.accesses })
}

/// The (apiGroup, resource, verb) triples rules grant.
pub fn granted(rules: &serde_json::Value) -> BTreeSet<Permission> {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)).collect()
    };
    let mut out = BTreeSet::new();
    for rule in rules.as_array().into_iter().flatten() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    out.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    out
}

/// Panics with both differences when `rules` do not grant exactly `wanted` (or use a wildcard).
pub fn assert_grants_exactly(rules: &serde_json::Value, wanted: &BTreeSet<Permission>, what: &str) {
    let granted = granted(rules);
    let missing: Vec<&Permission> = wanted.difference(&granted).collect();
    let extra: Vec<&Permission> = granted.difference(wanted).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what} does not grant exactly what operator/src needs.\nmissing (the code makes these requests): \
         {missing:?}\nbeyond the code's needs (remove them): {extra:?}\nrequests found: {:#?}",
        derived().accesses
    );
    assert!(!granted.iter().any(|(g, r, v)| g == "*" || r == "*" || v == "*"), "{what}: a wildcard");
}
