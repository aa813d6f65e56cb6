//! The Argo CD health checks of `config/argocd/`, kept in Argo CD's own layout
//! (`resource_customizations/remotion-operator.io/<Kind>/health.lua`, `health_test.yaml`,
//! `testdata/`): every `health_test.yaml` case is run through the script that the shipped
//! `argocd-cm` snippet holds and must give the expected status and message.
//!
//! Argo CD runs checks from `argocd-cm` in gopher-lua (Lua 5.1) with only the base and table
//! libraries and an `os` of `time` and `date`: no `string` (so strings have no methods either),
//! `math`, `io`, `debug` or `require`. The cases run in Debian's Lua 5.4 inside an environment of
//! exactly those functions, with the string metatable removed and gopher-lua's number printing;
//! what Lua 5.4 would accept but 5.1 would not (`//`, `goto`, bitwise operators, `utf8`, …) is
//! refused by a scan of the scripts' tokens. The optional check of Argo CD's own
//! Applications (`application-health/argoproj.io/Application/`, for the app of apps' sync
//! waves) is held to the same.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::packaging_support::{repo_root, yaml_file};
use anyhow::{Context, Result, bail, ensure};
use remotion_crds::generate::crd_for_kind;
use remotion_crds::validation::validate_value;
use serde_json::Value;

const GROUP: &str = "remotion-operator.io";
const API_VERSION: &str = "remotion-operator.io/v1alpha1";
const KINDS: [&str; 4] = ["LambdaBucket", "RenderFunction", "RemotionSite", "RenderJob"];
/// The kinds whose health is their `Ready` condition: one script, copied per kind.
const READY_KINDS: [&str; 3] = ["LambdaBucket", "RenderFunction", "RemotionSite"];
/// The statuses Argo CD accepts from a script; any other becomes `Unknown`.
const VALID_STATUSES: [&str; 6] = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"];

fn argocd_dir() -> PathBuf {
    repo_root().join("config").join("argocd")
}

fn kind_dir(kind: &str) -> PathBuf {
    argocd_dir().join("resource_customizations").join(GROUP).join(kind)
}

/// The optional check of Argo CD's own Applications, for the app of apps' sync waves.
fn application_dir() -> PathBuf {
    argocd_dir().join("application-health").join("argoproj.io").join("Application")
}

/// The `data` of a shipped `argocd-cm` snippet (`argocd-cm.yaml` unless named).
fn snippet_data(file: &str) -> Result<serde_json::Map<String, Value>> {
    let cm = yaml_file(&argocd_dir().join(file))?;
    ensure!(
        cm["kind"] == "ConfigMap" && cm["metadata"]["name"] == "argocd-cm" && cm["metadata"]["namespace"] == "argocd",
        "{file} is not the argocd-cm ConfigMap"
    );
    cm["data"].as_object().cloned().with_context(|| format!("{file} has no data"))
}

fn argocd_cm_data() -> Result<serde_json::Map<String, Value>> {
    snippet_data("argocd-cm.yaml")
}

const APPLICATION_SNIPPET: &str = "argocd-cm-application-health.yaml";
const APPLICATION_KEY: &str = "resource.customizations.health.argoproj.io_Application";

fn health_key(kind: &str) -> String {
    format!("resource.customizations.health.{GROUP}_{kind}")
}

/// A Lua string literal holding `s` (decimal escapes for anything but printable ASCII, so
/// UTF-8 bytes pass through unchanged).
fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => write!(out, "\\{b:03}").expect("writing to a String"),
        }
    }
    out.push('"');
    out
}

/// The Lua table constructor of a JSON value, as Argo CD hands objects to its scripts:
/// objects become tables keyed by name, arrays 1-based sequences, null is absent. gopher-lua
/// has one number type and prints whole numbers without a fraction, so whole floats are
/// written as integers (`2.0` becomes `2`, as Argo CD's `tostring` shows it).
fn lua_value(value: &Value) -> Result<String> {
    Ok(match value {
        Value::Null => "nil".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => {
            let f = n.as_f64().context("a number that is not f64")?;
            ensure!(f.is_finite(), "non-finite number {f}");
            if f.fract() == 0.0 && f.abs() < 9.0e15 { format!("{f:.0}") } else { format!("{f:?}") }
        }
        Value::String(s) => lua_string(s),
        Value::Array(items) => {
            ensure!(!items.iter().any(Value::is_null), "null inside an array cannot be a Lua sequence");
            let items: Result<Vec<String>> = items.iter().map(lua_value).collect();
            format!("{{{}}}", items?.join(", "))
        }
        Value::Object(map) => {
            let mut fields = Vec::new();
            for (key, item) in map.iter().filter(|(_, v)| !v.is_null()) {
                fields.push(format!("[{}] = {}", lua_string(key), lua_value(item)?));
            }
            format!("{{{}}}", fields.join(", "))
        }
    })
}

/// Lua driver: runs the check at `script` with the global `obj` in an environment holding
/// only what Argo CD gives an `argocd-cm` check, and prints the returned `status`, a newline
/// and `message` (each empty when absent, as Argo CD decodes them).
fn driver(script: &Path, object: &Value) -> Result<String> {
    Ok(format!(
        r#"local real_tostring, math_type, format = tostring, math.type, string.format
-- gopher-lua prints whole numbers without a fraction (Lua 5.4 would print 2.0).
local function gopher_tostring(v)
  if math_type(v) == "float" and v == v and v ~= 1/0 and v ~= -1/0 then
    if v % 1 == 0 and v > -2^53 and v < 2^53 then return format("%d", v) end
    return format("%.14g", v)
  end
  return real_tostring(v)
end
local sandbox = {{
  obj = {object},
  _VERSION = "Lua 5.1",
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  rawequal = rawequal, rawget = rawget, rawset = rawset, select = select, type = type,
  getmetatable = getmetatable, setmetatable = setmetatable, tonumber = tonumber,
  tostring = gopher_tostring, unpack = table.unpack, xpcall = xpcall,
  table = {{ concat = table.concat, insert = table.insert, remove = table.remove, sort = table.sort }},
  os = {{ time = os.time, date = os.date }},
}}
sandbox._G = sandbox
local check = assert(loadfile({script}, "t", sandbox))
-- Without gopher-lua's string library strings have no methods: ("x"):sub(1) fails there.
-- (Lua 5.4 also loses "10" + 1 with it, which gopher-lua would allow; the scripts do not
-- rely on either.)
debug.setmetatable("", nil)
local hs = check()
if type(hs) ~= "table" then
  error("expect table output from Lua script, not " .. type(hs))
end
local status, message = hs.status, hs.message
if status == nil then status = "" end
if message == nil then message = "" end
io.write(gopher_tostring(status), "\n", gopher_tostring(message))
"#,
        object = lua_value(object)?,
        script = lua_string(&script.to_string_lossy()),
    ))
}

/// Runs one health check on one object as Argo CD does; returns (status, message).
fn health(script: &Path, object: &Value) -> Result<(String, String)> {
    let out = Command::new("lua5.4")
        .arg("-e")
        .arg(driver(script, object)?)
        .output()
        .context("running lua5.4 (apt-get install lua5.4)")?;
    if !out.status.success() {
        bail!("the Lua check failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8(out.stdout)?;
    let (status, message) = text.split_once('\n').context("the driver printed no message line")?;
    if !VALID_STATUSES.contains(&status) {
        return Ok(("Unknown".to_owned(), "Lua returned an invalid health status".to_owned()));
    }
    Ok((status.to_owned(), message.to_owned()))
}

/// The script under `key` of the snippet `file`, written out into `dir` for `lua5.4` to load.
fn script_of(file: &str, key: &str, dir: &Path) -> Result<PathBuf> {
    let data = snippet_data(file)?;
    let text = data.get(key).and_then(Value::as_str).with_context(|| format!("{file} has no {key}"))?;
    let path = dir.join(format!("{key}.lua"));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// One entry of a `health_test.yaml`.
struct HealthTest {
    status: String,
    message: String,
    input_path: String,
}

/// The tests of the `health_test.yaml` in `dir`, held to Argo CD's format: a `tests` list
/// of `healthStatus: {status, message}` and `inputPath: testdata/<file>.yaml`, nothing else.
fn health_tests(dir: &Path) -> Result<Vec<HealthTest>> {
    let file = dir.join("health_test.yaml");
    let doc = yaml_file(&file)?;
    let top = doc.as_object().with_context(|| format!("{}: not a mapping", file.display()))?;
    ensure!(top.keys().eq(["tests"]), "{}: only `tests` belongs at the top", file.display());
    let mut tests = Vec::new();
    for (i, test) in top["tests"].as_array().context("`tests` is not a list")?.iter().enumerate() {
        let at = format!("{} test {}", file.display(), i + 1);
        let keys: BTreeSet<&str> = test.as_object().context("not a mapping")?.keys().map(String::as_str).collect();
        ensure!(keys == BTreeSet::from(["healthStatus", "inputPath"]), "{at}: keys {keys:?}");
        let expected = test["healthStatus"].as_object().with_context(|| format!("{at}: healthStatus"))?;
        let keys: BTreeSet<&str> = expected.keys().map(String::as_str).collect();
        ensure!(keys == BTreeSet::from(["message", "status"]), "{at}: healthStatus keys {keys:?}");
        let text = |v: &Value, what: &str| v.as_str().map(str::to_owned).with_context(|| format!("{at}: {what}"));
        let input_path = text(&test["inputPath"], "inputPath")?;
        ensure!(
            input_path.starts_with("testdata/")
                && input_path.ends_with(".yaml")
                && !input_path["testdata/".len()..].contains('/'),
            "{at}: inputPath {input_path} is not testdata/<file>.yaml"
        );
        tests.push(HealthTest {
            status: text(&expected["status"], "healthStatus.status")?,
            message: text(&expected["message"], "healthStatus.message")?,
            input_path,
        });
    }
    ensure!(!tests.is_empty(), "{}: no tests", file.display());
    Ok(tests)
}

fn file_names(dir: &Path) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        names.insert(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// The directory is what Argo CD's `resource_customizations/` takes as is: one folder per
/// kind with `health.lua`, `health_test.yaml` and `testdata/`, every test data file a whole
/// object of that kind that the CRD accepts, and each one used by a test.
#[test]
fn customizations_are_in_argo_cds_layout() -> Result<()> {
    let group_dir = argocd_dir().join("resource_customizations").join(GROUP);
    assert_eq!(file_names(&argocd_dir().join("resource_customizations"))?, BTreeSet::from([GROUP.to_owned()]));
    assert_eq!(file_names(&group_dir)?, KINDS.iter().map(|k| (*k).to_owned()).collect());
    for kind in KINDS {
        let dir = kind_dir(kind);
        let expected: BTreeSet<String> =
            ["health.lua", "health_test.yaml", "testdata"].iter().map(|f| (*f).to_owned()).collect();
        assert_eq!(file_names(&dir)?, expected, "{kind}");
        let crd = crd_for_kind(kind).with_context(|| format!("no CRD of {kind}"))?;
        let mut unused = file_names(&dir.join("testdata"))?;
        for test in health_tests(&dir)? {
            let path = dir.join(&test.input_path);
            let object = yaml_file(&path)?;
            assert_eq!(object["apiVersion"], API_VERSION, "{}", path.display());
            assert_eq!(object["kind"], kind, "{}", path.display());
            assert!(object["metadata"]["name"].is_string(), "{}: no metadata.name", path.display());
            if let Err(e) = validate_value(&crd, &object, None) {
                bail!("{}: the CRD rejects it: {e}", path.display());
            }
            unused.remove(&test.input_path["testdata/".len()..]);
        }
        assert!(unused.is_empty(), "{kind}: test data no test uses: {unused:?}");
    }
    Ok(())
}

#[test]
fn snippet_holds_the_scripts_verbatim() -> Result<()> {
    let data = argocd_cm_data()?;
    let health_keys: BTreeSet<&str> =
        data.keys().map(String::as_str).filter(|k| k.starts_with("resource.customizations.health.")).collect();
    let expected_keys: BTreeSet<String> = KINDS.iter().map(|k| health_key(k)).collect();
    assert_eq!(health_keys, expected_keys.iter().map(String::as_str).collect());
    for kind in KINDS {
        let expected = std::fs::read_to_string(kind_dir(kind).join("health.lua"))?;
        assert_eq!(data.get(&health_key(kind)).and_then(Value::as_str), Some(expected.as_str()), "{kind}");
    }
    Ok(())
}

/// LambdaBucket, RenderFunction and RemotionSite have the same health rules, so their
/// scripts are one script: a fix made to one copy only would split them.
#[test]
fn ready_kinds_share_one_script() -> Result<()> {
    let first = std::fs::read_to_string(kind_dir(READY_KINDS[0]).join("health.lua"))?;
    for kind in &READY_KINDS[1..] {
        let other = std::fs::read_to_string(kind_dir(kind).join("health.lua"))?;
        assert!(other == first, "{kind}/health.lua differs from {}/health.lua", READY_KINDS[0]);
    }
    Ok(())
}

#[test]
fn progress_and_cost_updates_do_not_refresh_applications() -> Result<()> {
    let data = argocd_cm_data()?;
    assert_eq!(data.get("resource.ignoreResourceUpdatesEnabled").and_then(Value::as_str), Some("true"));
    let key = "resource.customizations.ignoreResourceUpdates.remotion-operator.io_RenderJob";
    let setting: Value =
        serde_saphyr::from_str(data.get(key).and_then(Value::as_str).context("no ignoreResourceUpdates")?)?;
    let pointers: BTreeSet<&str> =
        setting["jsonPointers"].as_array().context("no jsonPointers")?.iter().filter_map(Value::as_str).collect();
    assert_eq!(pointers, BTreeSet::from(["/status/progress", "/status/cost"]));
    Ok(())
}

/// Every `health_test.yaml` case of every kind gives the expected status and message, and
/// each kind's cases cover the health states that kind can be in.
#[test]
fn health_tests_of_every_kind() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let mut failures = Vec::new();
    for kind in KINDS {
        let script = script_of("argocd-cm.yaml", &health_key(kind), scratch.path())?;
        let seen = run_health_tests(&kind_dir(kind), &script, &mut failures)?;
        let required: &[&str] = match kind {
            "RenderJob" => &["Healthy", "Progressing", "Degraded", "Suspended"],
            _ => &["Healthy", "Progressing", "Degraded"],
        };
        for status in required {
            assert!(seen.contains(*status), "{kind} has no case for {status}");
        }
    }
    assert!(failures.is_empty(), "health cases failed:\n{}", failures.join("\n"));
    Ok(())
}

/// Runs the `health_test.yaml` cases of `dir` through `script`, adding a line to `failures`
/// for each wrong status or message; returns the statuses the cases expect.
fn run_health_tests(dir: &Path, script: &Path, failures: &mut Vec<String>) -> Result<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    for test in health_tests(dir)? {
        let object = yaml_file(&dir.join(&test.input_path))?;
        let at = format!("{}/{}", dir.display(), test.input_path);
        let got = health(script, &object).with_context(|| at.clone())?;
        let want = (test.status.clone(), test.message.clone());
        if got != want {
            failures.push(format!("{at}: want {want:?}, got {got:?}"));
        }
        seen.insert(test.status);
    }
    Ok(seen)
}

/// The optional Application check, in the same layout: its snippet holds it verbatim, and
/// its cases give the expected status and message.
#[test]
fn application_health_tests() -> Result<()> {
    let dir = application_dir();
    let expected: BTreeSet<String> =
        ["health.lua", "health_test.yaml", "testdata"].iter().map(|f| (*f).to_owned()).collect();
    assert_eq!(file_names(&dir)?, expected);
    let data = snippet_data(APPLICATION_SNIPPET)?;
    assert_eq!(data.keys().collect::<Vec<_>>(), [APPLICATION_KEY]);
    let source = std::fs::read_to_string(dir.join("health.lua"))?;
    assert_eq!(data[APPLICATION_KEY].as_str(), Some(source.as_str()));

    let mut unused = file_names(&dir.join("testdata"))?;
    for test in health_tests(&dir)? {
        let object = yaml_file(&dir.join(&test.input_path))?;
        assert_eq!(object["apiVersion"], "argoproj.io/v1alpha1", "{}", test.input_path);
        assert_eq!(object["kind"], "Application", "{}", test.input_path);
        unused.remove(&test.input_path["testdata/".len()..]);
    }
    assert!(unused.is_empty(), "test data no test uses: {unused:?}");

    let scratch = tempfile::tempdir()?;
    let script = script_of(APPLICATION_SNIPPET, APPLICATION_KEY, scratch.path())?;
    let mut failures = Vec::new();
    let seen = run_health_tests(&dir, &script, &mut failures)?;
    assert!(failures.is_empty(), "health cases failed:\n{}", failures.join("\n"));
    for status in ["Healthy", "Progressing", "Degraded", "Suspended"] {
        assert!(seen.contains(status), "no Application case for {status}");
    }
    Ok(())
}

/// The converter and driver themselves: a mis-encoded object would make every case
/// meaningless.
#[test]
fn objects_reach_lua_intact() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let echo = scratch.path().join("echo.lua");
    std::fs::write(
        &echo,
        r#"local c = obj.status.conditions
local parts = { obj.metadata.name, tostring(#c), c[2].type, tostring(obj.metadata.generation),
  tostring(obj.spec.cancel), tostring(obj.spec.gone), obj.spec.text, tostring(obj.spec.scale),
  tostring(obj.spec.whole), tostring(obj.spec.whole / 4) }
return { status = "Healthy", message = table.concat(parts, "|") }"#,
    )?;
    let object = serde_json::json!({
        "metadata": { "name": "naïve \"quoted\" \\ name", "generation": 7 },
        "spec": { "cancel": false, "gone": null, "text": "line\nbreak – ünïcode $0.01", "scale": 0.5, "whole": 2.0 },
        "status": { "conditions": [ { "type": "Ready" }, { "type": "Failed" } ] }
    });
    let (status, message) = health(&echo, &object)?;
    assert_eq!(status, "Healthy");
    assert_eq!(message, "naïve \"quoted\" \\ name|2|Failed|7|false|nil|line\nbreak – ünïcode $0.01|0.5|2|0.5");
    Ok(())
}

/// A missing message is empty and a status Argo CD does not know is Unknown, as in Argo CD,
/// and a script returning no table fails.
#[test]
fn results_are_decoded_as_argo_cd_does() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let script = scratch.path().join("check.lua");
    std::fs::write(&script, "return { status = \"Progressing\" }")?;
    assert_eq!(health(&script, &serde_json::json!({}))?, ("Progressing".to_owned(), String::new()));
    std::fs::write(&script, "return { status = \"Fine\", message = \"all good\" }")?;
    let unknown = ("Unknown".to_owned(), "Lua returned an invalid health status".to_owned());
    assert_eq!(health(&script, &serde_json::json!({}))?, unknown);
    std::fs::write(&script, "return \"Healthy\"")?;
    let err = health(&script, &serde_json::json!({})).unwrap_err();
    assert!(format!("{err:#}").contains("expect table output"), "{err:#}");
    Ok(())
}

/// The environment is Argo CD's, not Lua 5.4's: what a check from `argocd-cm` cannot use
/// fails here too, and what it can use works.
#[test]
fn sandbox_offers_only_what_argo_cd_does() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let script = scratch.path().join("probe.lua");
    let object = serde_json::json!({ "metadata": { "name": "probe" } });
    let refused = [
        "string.sub(obj.metadata.name, 1, 2)",
        "obj.metadata.name:sub(1, 2)",
        "(\"x\"):upper()",
        "math.floor(1.5)",
        "io.write(\"x\")",
        "os.exit(1)",
        "os.getenv(\"HOME\")",
        "require(\"os\")",
        "load(\"return 1\")",
        "dofile(\"/etc/hostname\")",
        "debug.traceback()",
        "utf8.char(65)",
        "table.move({1}, 1, 1, 1)",
    ];
    for expression in refused {
        std::fs::write(&script, format!("local x = {expression}\nreturn {{ status = \"Healthy\", message = \"\" }}"))?;
        assert!(health(&script, &object).is_err(), "`{expression}` worked, but not in Argo CD");
    }
    let allowed = [
        ("table.concat({\"a\", \"b\"}, \"-\")", "a-b"),
        ("tostring(os.time() > 0)", "true"),
        ("tostring(#obj.metadata.name)", "5"),
        ("unpack({\"u\"})", "u"),
        ("tostring(10 / 4)", "2.5"),
        ("tostring(10 / 5)", "2"),
        ("_VERSION", "Lua 5.1"),
    ];
    for (expression, expected) in allowed {
        std::fs::write(&script, format!("return {{ status = \"Healthy\", message = {expression} }}"))?;
        let (_, message) = health(&script, &object).with_context(|| expression.to_owned())?;
        assert_eq!(message, expected, "{expression}");
    }
    Ok(())
}

/// A token of Lua source, comments dropped.
#[derive(Debug, PartialEq)]
enum Token {
    Name(String),
    Symbol(String),
    Literal,
}

/// Splits Lua source into tokens; string escapes that Lua 5.1 lacks (`\x`, `\z`, `\u{}`)
/// are reported as problems.
fn lua_tokens(source: &str, problems: &mut Vec<String>) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    // The length of a long bracket opening at `at` (`[[`, `[==[`), with its level.
    let long_bracket = |at: usize| -> Option<(usize, usize)> {
        if chars.get(at) != Some(&'[') {
            return None;
        }
        let level = chars[at + 1..].iter().take_while(|c| **c == '=').count();
        (chars.get(at + 1 + level) == Some(&'[')).then_some((level, level + 2))
    };
    // Past the `]=*]` closing a long bracket of `level` opened before `from`.
    let skip_long = |from: usize, level: usize| -> usize {
        (from..chars.len())
            .find(|&j| {
                chars[j] == ']'
                    && chars[j + 1..].iter().take(level).filter(|c| **c == '=').count() == level
                    && chars.get(j + 1 + level) == Some(&']')
            })
            .map_or(chars.len(), |j| j + level + 2)
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            if let Some((level, open)) = long_bracket(i + 2) {
                i = skip_long(i + 2 + open, level);
            } else {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
        } else if let Some((level, open)) = long_bracket(i) {
            i = skip_long(i + open, level);
            tokens.push(Token::Literal);
        } else if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    match chars.get(i + 1) {
                        Some('x') => problems.push("a \\x escape (Lua 5.2)".into()),
                        Some('z') => problems.push("a \\z escape (Lua 5.2)".into()),
                        Some('u') => problems.push("a \\u{} escape (Lua 5.3)".into()),
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            tokens.push(Token::Literal);
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Name(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Token::Literal);
        } else {
            let three: String = chars[i..(i + 3).min(chars.len())].iter().collect();
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let symbol = if three == "..." {
                three
            } else if ["//", "::", "<<", ">>", "~=", "==", "<=", ">=", ".."].contains(&two.as_str()) {
                two
            } else {
                c.to_string()
            };
            i += symbol.chars().count();
            tokens.push(Token::Symbol(symbol));
        }
    }
    tokens
}

/// What in `source` Lua 5.1 (gopher-lua) or Argo CD's libraries would refuse.
fn lua_51_problems(source: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let tokens = lua_tokens(source, &mut problems);
    let allowed_fields: BTreeMap<&str, &[&str]> =
        BTreeMap::from([("table", &["concat", "insert", "remove", "sort"][..]), ("os", &["time", "date"][..])]);
    let missing_libraries =
        ["string", "math", "io", "debug", "utf8", "coroutine", "package", "require", "load", "loadstring", "loadfile"];
    let symbol = |at: Option<usize>, s: &str| at.and_then(|i| tokens.get(i)) == Some(&Token::Symbol(s.into()));
    for (at, token) in tokens.iter().enumerate() {
        let (before, after) = (at.checked_sub(1), Some(at + 1));
        match token {
            Token::Symbol(s) if s == "//" => problems.push("integer division `//` (Lua 5.3)".into()),
            Token::Symbol(s) if s == "::" => problems.push("a `::label::` (Lua 5.2)".into()),
            Token::Symbol(s) if ["&", "|", "<<", ">>"].contains(&s.as_str()) => {
                problems.push(format!("bitwise operator `{s}` (Lua 5.3)"))
            }
            Token::Symbol(s) if s == "~" => problems.push("bitwise `~` (Lua 5.3)".into()),
            Token::Symbol(s) if s == ":" => {
                problems.push("a method call `:`: strings have no methods in Argo CD, nor do obj's tables".into())
            }
            Token::Name(n) if n == "goto" => problems.push("`goto` (Lua 5.2)".into()),
            Token::Name(n) if n == "_ENV" => problems.push("`_ENV` (Lua 5.2)".into()),
            Token::Name(n) if ["const", "close"].contains(&n.as_str()) && symbol(before, "<") && symbol(after, ">") => {
                problems.push(format!("a `<{n}>` variable (Lua 5.4)"))
            }
            // `x.string` is a field, not the library.
            Token::Name(n) if missing_libraries.contains(&n.as_str()) && !symbol(before, ".") => {
                problems.push(format!("`{n}`, which Argo CD does not offer"))
            }
            Token::Name(n) if allowed_fields.contains_key(n.as_str()) && !symbol(before, ".") && symbol(after, ".") => {
                if let Some(Token::Name(field)) = tokens.get(at + 2)
                    && !allowed_fields[n.as_str()].contains(&field.as_str())
                {
                    problems.push(format!("`{n}.{field}`, which Argo CD does not offer"));
                }
            }
            _ => {}
        }
    }
    problems
}

/// The scripts keep to Lua 5.1 and to the libraries Argo CD opens for `argocd-cm` checks.
#[test]
fn scripts_keep_to_lua_51_and_argo_cds_libraries() -> Result<()> {
    let scripts = KINDS.iter().map(|kind| kind_dir(kind)).chain([application_dir()]);
    for dir in scripts {
        let path = dir.join("health.lua");
        let problems = lua_51_problems(&std::fs::read_to_string(&path)?);
        assert!(problems.is_empty(), "{}: {problems:?}", path.display());
    }
    Ok(())
}

/// The scan finds each construct it looks for, and is not fooled by comments and strings.
#[test]
fn lua_51_scan_finds_newer_constructs() {
    let refused = [
        "local x = 7 // 2",
        "goto done",
        "::done::",
        "local x = 1 & 2",
        "local x = 1 | 2",
        "local x = 1 << 2",
        "local x = 1 >> 2",
        "local x = ~1",
        "local x = _ENV",
        "local x <const> = 1",
        "local s = \"\\x41\"",
        "local s = \"\\u{41}\"",
        "local s = string.sub(\"ab\", 1, 1)",
        "local n = math.floor(1.5)",
        "local c = utf8.char(65)",
        "local t = table.unpack({1})",
        "local d = os.getenv(\"HOME\")",
        "local s = obj.metadata.name:sub(1, 2)",
        "local m = require(\"os\")",
    ];
    for source in refused {
        assert!(!lua_51_problems(source).is_empty(), "not found in `{source}`");
    }
    let accepted = [
        "-- string.sub // goto ::x:: in a comment\nlocal x = 1",
        "--[==[ math.floor(1) ]] still ]==] local y = 2",
        "local s = \"a // b :: string.sub(x) ~ & | \\\"quoted\\\"\"",
        "local s = [[ utf8.char(1) ]]",
        "local ok = x ~= y and #t > 0 and t.string == nil",
        "local t = {} table.insert(t, 1) local s = table.concat(t, \", \") local now = os.time()",
    ];
    for source in accepted {
        assert_eq!(lua_51_problems(source), Vec::<String>::new(), "`{source}`");
    }
}
