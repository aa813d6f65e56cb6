//! The crate's layers, checked from its own sources: a module never uses a module of a higher
//! layer (capture and encode, side by side, not each other either), and no modules use each
//! other in a circle. The crate map in `lib.rs` says what each layer is for; this test keeps
//! the code to it, naming the line of an import that breaks it.
//!
//! Imports are the paths the code names through `crate::`, `super::` and `self::` (in `use`
//! declarations or inline), read with comments and string literals blanked out. Unit tests
//! count for the layers (a test of a lower module that needs a higher one belongs to the
//! higher one), not for cycles: nothing is built on a test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first: name, rank and top-level modules. A module may use modules of its
/// own layer and of layers of a lower rank; capture and encode share a rank, so neither may use
/// the other (what both need goes below them).
const LAYERS: &[(&str, u8, &[&str])] = &[
    ("base", 0, &["assets", "error", "ffmpeg", "props", "storage", "versions"]),
    ("capture", 1, &["capture"]),
    ("encode", 1, &["encode"]),
    ("render", 2, &["render"]),
    ("orchestrate", 3, &["orchestrate"]),
    ("entry", 4, &["cli", "lambda", "main"]),
];

/// Layers whose folders hold modules that are units of their own in the cycle check (a module
/// of capture must not be used by a module it uses). Elsewhere a top-level module with
/// everything in it is one unit: its files may use each other.
const SPLIT: &[&str] = &["capture", "encode"];

/// One source file: where it is, the module it is, its code with comments and literals blanked.
struct Source {
    path: String,
    module: Vec<String>,
    code: String,
}

impl Source {
    /// A file at `path` (relative to `src/`) with `text`.
    fn new(path: &str, text: &str) -> Self {
        let mut module: Vec<String> = path.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
        if module.last().is_some_and(|last| last == "mod") {
            module.pop();
        }
        Self { path: path.to_owned(), module, code: blank(text) }
    }
}

/// A path the code names: where, and the module path it resolves to (from the crate root).
#[derive(Debug, PartialEq)]
struct Import {
    line: usize,
    target: Vec<String>,
    /// Inside a `#[cfg(test)]` item.
    in_test: bool,
}

/// `text` with comments and the contents of string and char literals replaced by spaces (line
/// breaks kept, so lines still count).
fn blank(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let hide = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                hide(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                let pair = (chars[i], chars.get(i + 1).copied());
                if pair == ('/', Some('*')) || pair == ('*', Some('/')) {
                    depth += if pair.0 == '/' { 1 } else { -1 };
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    hide(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some((prefix, hashes)) = raw_string_at(&chars, i) {
            let open = i + prefix;
            out.extend(&chars[i..open]);
            let closes = |j: usize| {
                chars[j] == '"' && chars.len() - j > hashes && chars[j + 1..=j + hashes].iter().all(|c| *c == '#')
            };
            let mut j = open;
            while j < chars.len() && !closes(j) {
                hide(&mut out, chars[j]);
                j += 1;
            }
            let end = (j + 1 + hashes).min(chars.len());
            out.extend(&chars[j.min(end)..end]);
            i = end;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    hide(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    hide(&mut out, chars[i]);
                    i += 1;
                }
            }
            if i < chars.len() {
                out.push('"');
                i += 1;
            }
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\u{…}'); anything else after a quote is a lifetime.
            let end = if next == Some('\\') {
                (i + 3..chars.len()).find(|&j| chars[j] == '\'').unwrap_or(chars.len() - 1)
            } else {
                i + 2
            };
            out.push('\'');
            for &c in &chars[i + 1..end] {
                hide(&mut out, c);
            }
            out.push('\'');
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The raw string literal starting at `i` (`r"…"`, `r#"…"#`, `br"…"`), if one does: the length
/// of its start up to the opening quote, and its number of `#`.
fn raw_string_at(chars: &[char], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let after_r = match chars[i..] {
        ['r', ..] => i + 1,
        ['b', 'r', ..] => i + 2,
        _ => return None,
    };
    let hashes = chars[after_r..].iter().take_while(|c| **c == '#').count();
    (chars.get(after_r + hashes) == Some(&'"')).then_some((after_r + hashes + 1 - i, hashes))
}

/// The end (exclusive) of the item starting at `from`: its `;`, or the `}` closing its first `{`.
fn item_end(code: &[u8], from: usize) -> usize {
    let mut depth = 0;
    for (i, &b) in code.iter().enumerate().skip(from) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b';' if depth == 0 => return i + 1,
            _ => {}
        }
    }
    code.len()
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_space(code: &[u8], at: &mut usize) {
    while *at < code.len() && code[*at].is_ascii_whitespace() {
        *at += 1;
    }
}

fn ident(code: &[u8], at: &mut usize) -> String {
    let start = *at;
    while *at < code.len() && is_ident_byte(code[*at]) {
        *at += 1;
    }
    String::from_utf8_lossy(&code[start..*at]).into_owned()
}

fn double_colon(code: &[u8], at: &mut usize) -> bool {
    let mut probe = *at;
    skip_space(code, &mut probe);
    if code[probe.min(code.len())..].starts_with(b"::") {
        *at = probe + 2;
        true
    } else {
        false
    }
}

/// The paths of a use tree (or of a plain path) starting at `at`: `a::b`, `a::{b, c::d as e}`,
/// `a::*`. A glob or a group's `self` names the path before it.
fn use_tree(code: &[u8], at: &mut usize) -> Vec<Vec<String>> {
    skip_space(code, at);
    match code.get(*at) {
        Some(b'{') => {
            *at += 1;
            let mut paths = Vec::new();
            loop {
                skip_space(code, at);
                match code.get(*at) {
                    None => return paths,
                    Some(b'}') => {
                        *at += 1;
                        return paths;
                    }
                    Some(b',') => *at += 1,
                    Some(_) => {
                        let before = *at;
                        paths.extend(use_tree(code, at));
                        if *at == before {
                            *at += 1;
                        }
                    }
                }
            }
        }
        Some(b'*') => {
            *at += 1;
            vec![Vec::new()]
        }
        _ => {
            let name = ident(code, at);
            // `x as y`: the alias names the same path.
            let mut alias = *at;
            skip_space(code, &mut alias);
            if code[alias..].starts_with(b"as") && code.get(alias + 2).is_some_and(|b| b.is_ascii_whitespace()) {
                alias += 2;
                skip_space(code, &mut alias);
                ident(code, &mut alias);
                *at = alias;
            }
            if name.is_empty() || name == "self" {
                return vec![Vec::new()];
            }
            if double_colon(code, at) {
                return use_tree(code, at)
                    .into_iter()
                    .map(|rest| std::iter::once(name.clone()).chain(rest).collect())
                    .collect();
            }
            vec![vec![name]]
        }
    }
}

/// Every path `source` names through `crate::`, `super::` or `self::`, resolved from the crate
/// root (`remotion_function::` is `crate::` in the binary's `main.rs`).
fn imports(source: &Source) -> Vec<Import> {
    let code = source.code.as_bytes();
    let tests: Vec<(usize, usize)> = source
        .code
        .match_indices("#[cfg(test)]")
        .map(|(at, attribute)| (at, item_end(code, at + attribute.len())))
        .collect();
    // Inline modules (`mod tests { … }`): `super::` inside one names the file's own module.
    let mut inline: Vec<(usize, usize, String)> = Vec::new();
    for (at, _) in source.code.match_indices("mod ") {
        if at > 0 && is_ident_byte(code[at - 1]) {
            continue;
        }
        let mut end = at + 4;
        let name = ident(code, &mut end);
        skip_space(code, &mut end);
        if !name.is_empty() && code.get(end) == Some(&b'{') {
            inline.push((at, item_end(code, end), name));
        }
    }
    let mut found = Vec::new();
    let mut at = 0;
    while at < code.len() {
        if !is_ident_byte(code[at]) || (at > 0 && (is_ident_byte(code[at - 1]) || code[at - 1] == b':')) {
            at += 1;
            continue;
        }
        let start = at;
        let word = ident(code, &mut at);
        let crate_name = word == "crate" || (word == "remotion_function" && source.module == ["main"]);
        if !(crate_name || word == "super" || word == "self") || !double_colon(code, &mut at) {
            continue;
        }
        let mut module = source.module.clone();
        module.extend(
            inline.iter().filter(|(from, to, _)| *from < start && start < *to).map(|(_, _, name)| name.clone()),
        );
        let mut base = match word.as_str() {
            "super" => module[..module.len().saturating_sub(1)].to_vec(),
            "self" => module,
            _ => Vec::new(),
        };
        let line = source.code[..start].matches('\n').count() + 1;
        let in_test = tests.iter().any(|(from, to)| *from < start && start < *to);
        for path in use_tree(code, &mut at) {
            let mut path = path.as_slice();
            while path.first().is_some_and(|s| s == "super") {
                base.pop();
                path = &path[1..];
            }
            let target: Vec<String> = base.iter().chain(path).cloned().collect();
            found.push(Import { line, target, in_test });
        }
    }
    found
}

/// The layer (name and rank) of a top-level module.
fn layer(top: &str) -> Option<(&'static str, u8)> {
    LAYERS.iter().find(|(_, _, modules)| modules.contains(&top)).map(|(name, rank, _)| (*name, *rank))
}

/// What the crate breaks of its layering, one line per problem; empty when it keeps it.
fn problems(sources: &[Source]) -> Vec<String> {
    let mut problems = Vec::new();
    let modules: BTreeSet<&[String]> = sources.iter().map(|s| s.module.as_slice()).collect();
    let unit = |path: &[String]| -> String {
        match path {
            [top, child, ..] if SPLIT.contains(&top.as_str()) && modules.contains(&path[..2]) => {
                format!("{top}::{child}")
            }
            [top, ..] => top.clone(),
            [] => String::new(),
        }
    };
    // Who uses whom (outside tests), with the first line that does.
    let mut uses: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for source in sources {
        let Some(top) = source.module.first() else { continue };
        let Some((own_layer, own_rank)) = layer(top) else {
            problems.push(format!("{}: module `{top}` is in no layer: add it to LAYERS", source.path));
            continue;
        };
        for import in imports(source) {
            let Some(target_top) = import.target.first() else { continue };
            if !modules.iter().any(|m| m.first() == Some(target_top)) {
                problems.push(format!(
                    "{}:{}: `crate::{}` is not in a module: name the module it is in, so its layer is known",
                    source.path,
                    import.line,
                    import.target.join("::")
                ));
                continue;
            }
            let Some((target_layer, target_rank)) = layer(target_top) else { continue };
            if target_layer != own_layer && target_rank >= own_rank {
                problems.push(format!(
                    "{}:{}: {own_layer} uses {target_layer} (`crate::{}`): a layer may only use the layers below it",
                    source.path,
                    import.line,
                    import.target.join("::")
                ));
            }
            let (from, to) = (unit(&source.module), unit(&import.target));
            if !import.in_test && from != to {
                uses.entry(from).or_default().entry(to).or_insert_with(|| format!("{}:{}", source.path, import.line));
            }
        }
    }
    // Circles: a unit reached again from itself.
    let mut reported = BTreeSet::new();
    for start in uses.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((unit, path)) = stack.pop() {
            for next in uses.get(&unit).into_iter().flat_map(BTreeMap::keys) {
                if next == start {
                    let mut circle = path.clone();
                    circle.sort();
                    if reported.insert(circle) {
                        let steps: Vec<String> = path
                            .iter()
                            .zip(path.iter().skip(1).chain(std::iter::once(start)))
                            .map(|(a, b)| format!("{a} → {b} ({})", uses[a][b]))
                            .collect();
                        problems.push(format!("modules use each other in a circle: {}", steps.join(", ")));
                    }
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    problems
}

/// Every `.rs` file under `dir` (but this test), relative paths with `/`.
fn read_sources(root: &Path, dir: &Path, into: &mut Vec<Source>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            read_sources(root, &path, into);
            continue;
        }
        let relative = path.strip_prefix(root).expect("under src").to_string_lossy().replace('\\', "/");
        // The crate root declares every module; this file only mentions them in its tests.
        if !relative.ends_with(".rs") || relative == "lib.rs" || relative == "layers.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        into.push(Source::new(&relative, &text));
    }
}

#[test]
fn the_crate_keeps_its_layers_and_no_modules_use_each_other_in_a_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Vec::new();
    read_sources(&root, &root, &mut sources);
    // The scan sees the imports at all (an empty reading would pass anything).
    let render = sources.iter().find(|s| s.path == "render.rs").expect("render.rs is read");
    let tops: BTreeSet<String> = imports(render).into_iter().filter_map(|i| i.target.first().cloned()).collect();
    assert!(tops.contains("capture") && tops.contains("encode"), "render.rs imports, as read: {tops:?}");
    let problems = problems(&sources);
    assert!(problems.is_empty(), "the crate's layering is broken:\n{}", problems.join("\n"));
}

#[test]
fn use_trees_resolve_through_groups_renames_globs_and_super() {
    let source = Source::new(
        "capture/frame_server/server.rs",
        "use crate::{error::RenderError, encode::{self, audio::{mix::Mixer as M, *}}};\n\
         use super::pool::Decoders; // crate::render::ignored\n\
         let s = \"crate::render::ignored\"; let r = r#\"crate::render::raw \"q\" \"#; let c = '{'; fn f<'a>(x: &'a str) { crate::storage::get(x) }\n\
         #[cfg(test)]\nmod tests { use super::*; use super::super::super::site::Site; }\n",
    );
    let found: Vec<(usize, String, bool)> =
        imports(&source).into_iter().map(|i| (i.line, i.target.join("::"), i.in_test)).collect();
    let expected = [
        (1, "error::RenderError", false),
        (1, "encode", false),
        (1, "encode::audio::mix::Mixer", false),
        (1, "encode::audio", false),
        (2, "capture::frame_server::pool::Decoders", false),
        (3, "storage::get", false),
        (5, "capture::frame_server::server", true),
        (5, "capture::site::Site", true),
    ];
    let expected: Vec<(usize, String, bool)> = expected.iter().map(|(l, t, i)| (*l, t.to_string(), *i)).collect();
    assert_eq!(found, expected);
}

#[test]
fn a_lower_layer_using_a_higher_one_or_capture_using_encode_is_refused() {
    let sources = [
        Source::new("capture/page.rs", "use crate::error::RenderError;\nuse crate::render::VideoRequest;"),
        Source::new("capture/browser.rs", "fn f() { crate::encode::init(); }"),
        Source::new("encode/mod.rs", "#[cfg(test)]\nmod tests { use crate::lambda::handle; }"),
        Source::new("error.rs", ""),
        Source::new("render.rs", "use crate::capture::page::RemotionTab; use crate::encode::ImageKind;"),
        Source::new("lambda.rs", "use crate::render::VideoRequest;"),
    ];
    let problems = problems(&sources);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].starts_with("capture/page.rs:2: capture uses render"), "{problems:#?}");
    assert!(problems[1].starts_with("capture/browser.rs:1: capture uses encode"), "{problems:#?}");
    assert!(problems[2].starts_with("encode/mod.rs:2: encode uses entry"), "{problems:#?}");
    // Going up, the page also made a circle with the render that uses it.
    assert!(problems[3].contains("capture::page → render (capture/page.rs:2)"), "{problems:#?}");
}

#[test]
fn modules_using_each_other_in_a_circle_are_refused() {
    let sources = [
        Source::new("capture/browser.rs", "use crate::capture::warm_page::WarmPage;"),
        Source::new("capture/warm_page.rs", "use crate::capture::page::RemotionTab;"),
        Source::new("capture/page.rs", "use crate::capture::browser::Browser;"),
        Source::new("capture/site.rs", "#[cfg(test)]\nmod tests { use crate::capture::still::Still; }"),
        Source::new("capture/still.rs", "use crate::capture::site::Site;"),
    ];
    let problems = problems(&sources);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("capture::browser → capture::warm_page (capture/browser.rs:1)")
            && problems[0].contains("capture::page → capture::browser (capture/page.rs:1)"),
        "{problems:#?}"
    );
}
