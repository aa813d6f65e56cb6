//! The Argo CD health checks of `config/argocd/`: every case of `config/argocd/tests/` run
//! through the script that the shipped `argocd-cm` snippet holds, by Debian's Lua 5.4 in a
//! sandbox like Argo CD's (no `os`, no `io`), and the snippet's scripts equal the `.lua` files.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::packaging_support::{repo_root, yaml_file};
use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

const KINDS: [&str; 4] = ["LambdaBucket", "RenderFunction", "RemotionSite", "RenderJob"];

fn argocd_dir() -> PathBuf {
    repo_root().join("config").join("argocd")
}

/// The `data` of the shipped `argocd-cm` snippet.
fn argocd_cm_data() -> Result<serde_json::Map<String, Value>> {
    let cm = yaml_file(&argocd_dir().join("argocd-cm.yaml"))?;
    ensure!(
        cm["kind"] == "ConfigMap" && cm["metadata"]["name"] == "argocd-cm",
        "argocd-cm.yaml is not the argocd-cm ConfigMap"
    );
    cm["data"].as_object().cloned().context("argocd-cm.yaml has no data")
}

fn health_key(kind: &str) -> String {
    format!("resource.customizations.health.remotion-operator.io_{kind}")
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
/// objects become tables keyed by name, arrays 1-based sequences, null is absent.
fn lua_value(value: &Value) -> Result<String> {
    Ok(match value {
        Value::Null => "nil".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => {
            let f = n.as_f64().context("a number that is not f64")?;
            ensure!(f.is_finite(), "non-finite number {f}");
            format!("{f:?}")
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

/// Lua driver: runs the check at `script` with `obj` in a sandbox holding only the libraries
/// Argo CD opens, and prints `status`, a newline and `message`.
fn driver(script: &Path, object: &Value) -> Result<String> {
    Ok(format!(
        r#"local sandbox = {{
  obj = {object},
  pairs = pairs, ipairs = ipairs, next = next, select = select, type = type,
  tostring = tostring, tonumber = tonumber, error = error, pcall = pcall, assert = assert,
  string = string, table = table, math = math,
}}
local check = assert(loadfile({script}, "t", sandbox))
local hs = check()
assert(type(hs) == "table", "the check returned no table")
io.write(tostring(hs.status), "\n", tostring(hs.message))
"#,
        object = lua_value(object)?,
        script = lua_string(&script.to_string_lossy()),
    ))
}

/// Runs one health check on one object; returns (status, message).
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
    Ok((status.to_owned(), message.to_owned()))
}

/// The shipped snippet's script of `kind`, written out for `lua5.4` to load.
fn script_of(kind: &str, dir: &Path) -> Result<PathBuf> {
    let data = argocd_cm_data()?;
    let text =
        data.get(&health_key(kind)).and_then(Value::as_str).with_context(|| format!("no health check for {kind}"))?;
    let path = dir.join(format!("{kind}.lua"));
    std::fs::write(&path, text)?;
    Ok(path)
}

#[test]
fn snippet_holds_the_scripts_verbatim() -> Result<()> {
    let data = argocd_cm_data()?;
    let health = argocd_dir().join("health");
    for kind in KINDS {
        let file = if kind == "RenderJob" { "renderjob.lua" } else { "infrastructure.lua" };
        let expected = std::fs::read_to_string(health.join(file))?;
        assert_eq!(data.get(&health_key(kind)).and_then(Value::as_str), Some(expected.as_str()), "{kind}");
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

/// Every case of every kind gives the expected health, and each kind's cases cover the
/// health states that kind can be in.
#[test]
fn health_cases_of_every_kind() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let mut failures = Vec::new();
    for kind in KINDS {
        let cases_file = argocd_dir().join("tests").join(format!("{}.yaml", kind.to_lowercase()));
        let cases = yaml_file(&cases_file)?;
        assert_eq!(cases["kind"], kind, "{}", cases_file.display());
        let script = script_of(kind, scratch.path())?;
        let mut seen = BTreeSet::new();
        for case in cases["cases"].as_array().context("no cases")? {
            let name = case["name"].as_str().unwrap_or("unnamed");
            let want = (
                case["expect"]["status"].as_str().context("expect.status")?.to_owned(),
                case["expect"]["message"].as_str().context("expect.message")?.to_owned(),
            );
            let mut object = case["object"].clone();
            object["apiVersion"] = "remotion-operator.io/v1alpha1".into();
            object["kind"] = kind.into();
            let got = health(&script, &object).with_context(|| format!("{kind}: {name}"))?;
            if got != want {
                failures.push(format!("{kind} / {name}: want {want:?}, got {got:?}"));
            }
            seen.insert(want.0);
        }
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

/// The converter itself: a mis-encoded object would make every case meaningless.
#[test]
fn objects_reach_lua_intact() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let echo = scratch.path().join("echo.lua");
    std::fs::write(
        &echo,
        r#"local c = obj.status.conditions
return { status = obj.metadata.name .. "|" .. tostring(#c) .. "|" .. c[2].type,
         message = tostring(obj.metadata.generation) .. "|" .. tostring(obj.spec.cancel) .. "|" .. tostring(obj.spec.gone) .. "|" .. obj.spec.text }"#,
    )?;
    let object = serde_json::json!({
        "metadata": { "name": "naïve \"quoted\" \\ name", "generation": 7 },
        "spec": { "cancel": false, "gone": null, "text": "line\nbreak – ünïcode $0.01" },
        "status": { "conditions": [ { "type": "Ready" }, { "type": "Failed" } ] }
    });
    let (status, message) = health(&echo, &object)?;
    assert_eq!(status, "naïve \"quoted\" \\ name|2|Failed");
    assert_eq!(message, "7|false|nil|line\nbreak – ünïcode $0.01");
    Ok(())
}
