//! Reading the workspace's Rust source for what it calls, without a Rust parser: comments and
//! the contents of string and char literals are blanked (offsets and line numbers kept), unit
//! test modules are dropped, and the rest is walked with bracket matching. Used by the tests
//! that derive the operator's RBAC rules and the IAM actions of both binaries from their code.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One source file: its path and its code with comments, literals and `#[cfg(test)]` items
/// blanked out (same length as the file, so offsets map to the file's lines).
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Path of the file.
    pub path: PathBuf,
    /// The code, blanked as described above.
    pub code: String,
}

impl SourceFile {
    /// Reads and blanks one file.
    pub fn read(path: &Path) -> Result<SourceFile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(SourceFile { path: path.to_owned(), code: blank_test_items(&blank_comments_and_literals(&text)) })
    }

    /// A source made from a snippet (for tests of the scanners).
    pub fn snippet(name: &str, text: &str) -> SourceFile {
        SourceFile { path: PathBuf::from(name), code: blank_test_items(&blank_comments_and_literals(text)) }
    }

    /// `path:line` of a byte offset.
    pub fn location(&self, at: usize) -> String {
        let line = self.code.as_bytes()[..at.min(self.code.len())].iter().filter(|b| **b == b'\n').count() + 1;
        format!("{}:{line}", self.path.display())
    }

    /// The functions (and methods) of the file, nested ones included.
    pub fn functions(&self) -> Vec<FnItem> {
        functions(&self.code)
    }
}

/// Every `.rs` file under `dir`, sorted, read and blanked.
pub fn read_dir(dir: &Path) -> Result<Vec<SourceFile>> {
    let mut paths = Vec::new();
    collect_rs(dir, &mut paths)?;
    paths.sort();
    paths.iter().map(|p| SourceFile::read(p)).collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether `b` can be part of an identifier.
pub fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `src` with comments and the contents of string, byte-string, raw-string and char literals
/// replaced by spaces (newlines kept, quotes kept). Lifetimes and labels are left alone.
pub fn blank_comments_and_literals(src: &str) -> String {
    let bytes = src.as_bytes();
    let mut out = bytes.to_vec();
    let blank = |out: &mut Vec<u8>, range: Range<usize>| {
        for b in &mut out[range] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let after_ident = i > 0 && is_ident_byte(bytes[i - 1]);
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|b| *b == b'\n').map_or(bytes.len(), |p| i + p);
            blank(&mut out, i..end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            let mut j = i;
            while j < bytes.len() {
                if bytes[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if bytes[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i..j);
            i = j;
        } else if let Some((open, hashes)) = raw_string_start(bytes, i).filter(|_| !after_ident) {
            // r"…", r#"…"#, br"…": no escapes; ends at a quote followed by as many hashes.
            let body = open + 1;
            let mut closing = vec![b'"'];
            closing.extend(std::iter::repeat_n(b'#', hashes));
            let end = bytes[body..].windows(closing.len()).position(|w| w == closing).map_or(bytes.len(), |p| body + p);
            blank(&mut out, body..end);
            i = (end + closing.len()).min(bytes.len());
        } else if bytes[i] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            let end = j.min(bytes.len());
            blank(&mut out, i + 1..end);
            i = end + 1;
        } else if bytes[i] == b'\'' {
            match char_literal_end(src, i) {
                Some(end) => {
                    blank(&mut out, i + 1..end);
                    i = end + 1;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("only whole literals and comments were blanked")
}

/// At `i`: `r"`, `r#…"`, `br"`, `br#…"` → (offset of the opening quote, number of hashes).
fn raw_string_start(bytes: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if bytes.get(j) == Some(&b'b') {
        j += 1;
    }
    if bytes.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = bytes[j..].iter().take_while(|b| **b == b'#').count();
    (bytes.get(j + hashes) == Some(&b'"')).then_some((j + hashes, hashes))
}

/// The offset of the closing quote of a char literal opening at `i`, `None` for a lifetime.
fn char_literal_end(src: &str, i: usize) -> Option<usize> {
    let rest = &src[i + 1..];
    let mut chars = rest.char_indices();
    let (_, first) = chars.next()?;
    if first == '\\' {
        // '\n', '\'', '\u{1F600}': up to the next quote after the escaped character.
        let after = 1 + rest[1..].chars().next()?.len_utf8();
        return rest[after..].find('\'').map(|p| i + 1 + after + p);
    }
    let (offset, second) = chars.next()?;
    (second == '\'').then_some(i + 1 + offset)
}

/// `code` with every item marked `#[cfg(test)]` (unit test modules, test helpers) blanked.
pub fn blank_test_items(code: &str) -> String {
    let mut out = code.as_bytes().to_vec();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(pos) = code[from..].find("#[cfg(test)]").map(|p| p + from) {
        let mut j = pos + "#[cfg(test)]".len();
        // The item ends at its first `;` or at the `}` closing its first `{`.
        let mut end = None;
        while j < bytes.len() {
            match bytes[j] {
                b';' => {
                    end = Some(j);
                    break;
                }
                b'{' => {
                    end = matching(code, j);
                    break;
                }
                b'(' | b'[' => j = matching(code, j).unwrap_or(bytes.len() - 1),
                _ => {}
            }
            j += 1;
        }
        let end = end.unwrap_or(bytes.len() - 1);
        for b in &mut out[pos..=end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
        from = end + 1;
    }
    String::from_utf8(out).expect("ASCII blanks only")
}

/// The offset of the bracket closing the one at `open` (`(`, `[` or `{`), in blanked code.
pub fn matching(code: &str, open: usize) -> Option<usize> {
    let bytes = code.as_bytes();
    let mut depth = 0usize;
    for (j, b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// The offset of the `>` closing the `<` at `open` (generics; `->` and `=>` are not closers).
pub fn matching_angle(code: &str, open: usize) -> Option<usize> {
    let bytes = code.as_bytes();
    let mut depth = 0usize;
    let mut j = open;
    while j < bytes.len() {
        match bytes[j] {
            b'<' => depth += 1,
            b'>' if j > 0 && (bytes[j - 1] == b'-' || bytes[j - 1] == b'=') => {}
            b'>' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(j);
                }
            }
            b'(' | b'[' => j = matching(code, j)?,
            _ => {}
        }
        j += 1;
    }
    None
}

/// The first offset at or after `i` that is not whitespace.
pub fn skip_ws(code: &str, mut i: usize) -> usize {
    let bytes = code.as_bytes();
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The identifier starting at `i` (empty when there is none).
pub fn ident_at(code: &str, i: usize) -> &str {
    let bytes = code.as_bytes();
    let end = (i..bytes.len()).find(|j| !is_ident_byte(bytes[*j])).unwrap_or(bytes.len());
    &code[i..end]
}

/// Offsets where `word` occurs as a whole token (not inside a longer identifier).
pub fn find_token(code: &str, word: &str) -> Vec<usize> {
    let bytes = code.as_bytes();
    let first_is_ident = word.as_bytes().first().is_some_and(|b| is_ident_byte(*b));
    let last_is_ident = word.as_bytes().last().is_some_and(|b| is_ident_byte(*b));
    code.match_indices(word)
        .map(|(i, _)| i)
        .filter(|i| !(first_is_ident && *i > 0 && is_ident_byte(bytes[i - 1])))
        .filter(|i| !(last_is_ident && bytes.get(i + word.len()).is_some_and(|b| is_ident_byte(*b))))
        .collect()
}

/// Splits `code[range]` at top-level commas (brackets and generics respected); trimmed parts.
pub fn split_top_level(code: &str, range: Range<usize>) -> Vec<(Range<usize>, String)> {
    let bytes = code.as_bytes();
    let mut parts = Vec::new();
    let mut start = range.start;
    let mut j = range.start;
    let mut angle = 0usize;
    while j < range.end {
        match bytes[j] {
            b'(' | b'[' | b'{' => j = matching(code, j).unwrap_or(range.end),
            b'<' => angle += 1,
            b'>' if j > 0 && (bytes[j - 1] == b'-' || bytes[j - 1] == b'=') => {}
            b'>' => angle = angle.saturating_sub(1),
            b',' if angle == 0 => {
                parts.push(start..j);
                start = j + 1;
            }
            _ => {}
        }
        j += 1;
    }
    parts.push(start..range.end);
    parts
        .into_iter()
        .filter(|r| !code[r.clone()].trim().is_empty())
        .map(|r| (r.clone(), code[r].trim().to_owned()))
        .collect()
}

/// A function or method with a body.
#[derive(Clone, Debug)]
pub struct FnItem {
    /// Its name.
    pub name: String,
    /// Where its name is.
    pub at: usize,
    /// Inside its `<…>` (empty without generics).
    pub generics: Range<usize>,
    /// Inside its `(…)`.
    pub params: Range<usize>,
    /// Between its parameters and its body: return type and where clause.
    pub signature_rest: Range<usize>,
    /// Inside its `{…}`.
    pub body: Range<usize>,
}

impl FnItem {
    /// Names of its type parameters.
    pub fn type_params(&self, code: &str) -> Vec<String> {
        split_top_level(code, self.generics.clone())
            .into_iter()
            .filter(|(_, p)| !p.starts_with('\'') && !p.starts_with("const "))
            .map(|(_, p)| ident_at(&p, 0).to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Its parameters as (name, type text, offset of the type), `self` left out.
    pub fn parameters(&self, code: &str) -> Vec<(String, String, usize)> {
        split_top_level(code, self.params.clone())
            .into_iter()
            .filter_map(|(range, text)| {
                let colon = text.find(':')?;
                let name = text[..colon].trim().trim_start_matches("mut ").trim().to_owned();
                let type_text = text[colon + 1..].trim().to_owned();
                let offset = range.start + code[range.clone()].find(':')? + 1;
                Some((name, type_text, offset))
            })
            .collect()
    }
}

/// Every `fn NAME…{…}` of `code` (blanked), nested functions included; declarations without a
/// body (trait methods) are left out.
pub fn functions(code: &str) -> Vec<FnItem> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    for at in find_token(code, "fn") {
        let name_at = skip_ws(code, at + 2);
        let name = ident_at(code, name_at);
        if name.is_empty() {
            continue; // `fn(u8) -> u8` pointer types
        }
        let mut j = skip_ws(code, name_at + name.len());
        let generics = if bytes.get(j) == Some(&b'<') {
            let Some(close) = matching_angle(code, j) else { continue };
            let inside = j + 1..close;
            j = skip_ws(code, close + 1);
            inside
        } else {
            j..j
        };
        if bytes.get(j) != Some(&b'(') {
            continue;
        }
        let Some(close) = matching(code, j) else { continue };
        let params = j + 1..close;
        let rest_start = close + 1;
        let mut k = rest_start;
        let mut angle = 0usize;
        let body = loop {
            match bytes.get(k) {
                None | Some(b';') if angle == 0 => break None,
                None => break None,
                Some(b'{') if angle == 0 => break matching(code, k).map(|end| k + 1..end),
                Some(b'(') | Some(b'[') => k = matching(code, k).unwrap_or(bytes.len()),
                Some(b'<') => angle += 1,
                Some(b'>') if bytes[k - 1] != b'-' && bytes[k - 1] != b'=' => angle = angle.saturating_sub(1),
                _ => {}
            }
            k += 1;
        };
        if let Some(body) = body {
            found.push(FnItem {
                name: name.to_owned(),
                at: name_at,
                generics,
                params,
                signature_rest: rest_start..body.start - 1,
                body,
            });
        }
    }
    found
}

/// The innermost function whose body holds `at`.
pub fn enclosing_fn(functions: &[FnItem], at: usize) -> Option<&FnItem> {
    functions.iter().filter(|f| f.body.contains(&at)).min_by_key(|f| f.body.len())
}

/// One link of a method chain: `.name(args)`, `.name::<…>(args)`, or `.field` (no args).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainLink {
    /// The method or field name.
    pub name: String,
    /// Inside the call's parentheses (`None` for a field).
    pub args: Option<Range<usize>>,
}

/// The method chain that follows offset `i` (`.a(…)?.b(…).await.c`), and where it ends.
pub fn chain_after(code: &str, mut i: usize) -> (Vec<ChainLink>, usize) {
    let bytes = code.as_bytes();
    let mut links = Vec::new();
    loop {
        let j = skip_ws(code, i);
        match bytes.get(j) {
            Some(b'?') => i = j + 1,
            Some(b'.') if bytes.get(j + 1) != Some(&b'.') => {
                let name_at = skip_ws(code, j + 1);
                let name = ident_at(code, name_at);
                if name.is_empty() {
                    return (links, j); // a tuple field (`.0`) ends what we follow
                }
                let mut k = skip_ws(code, name_at + name.len());
                if code[k..].starts_with("::<") {
                    match matching_angle(code, k + 2) {
                        Some(close) => k = skip_ws(code, close + 1),
                        None => return (links, j),
                    }
                }
                if bytes.get(k) == Some(&b'(') {
                    let Some(close) = matching(code, k) else { return (links, j) };
                    links.push(ChainLink { name: name.to_owned(), args: Some(k + 1..close) });
                    i = close + 1;
                } else {
                    links.push(ChainLink { name: name.to_owned(), args: None });
                    i = name_at + name.len();
                }
            }
            _ => return (links, i),
        }
    }
}

/// The end of the statement holding `at` (its `;` at the same bracket depth, or the end of the
/// enclosing block).
pub fn statement_end(code: &str, at: usize) -> usize {
    let bytes = code.as_bytes();
    let mut j = at;
    while j < bytes.len() {
        match bytes[j] {
            b'(' | b'[' | b'{' => j = matching(code, j).unwrap_or(bytes.len()),
            b';' | b')' | b']' | b'}' => return j,
            _ => {}
        }
        j += 1;
    }
    bytes.len()
}

/// The start of the statement holding `at`: just after the previous `;`, `{` or `}` at the
/// same depth.
pub fn statement_start(code: &str, at: usize) -> usize {
    let bytes = code.as_bytes();
    let mut depth = 0usize;
    let mut j = at;
    while j > 0 {
        j -= 1;
        match bytes[j] {
            b')' | b']' => depth += 1,
            b'(' | b'[' if depth > 0 => depth -= 1,
            b'(' | b'[' => return j + 1,
            b'}' if depth == 0 => return j + 1,
            b'}' => depth += 1,
            b'{' if depth > 0 => depth -= 1,
            b'{' | b';' if depth == 0 => return j + 1,
            _ => {}
        }
    }
    0
}

/// `let [mut] NAME` at the start of a statement: NAME.
pub fn let_binding(statement: &str) -> Option<String> {
    let rest = statement.trim_start().strip_prefix("let ")?.trim_start();
    let rest = rest.strip_prefix("mut ").unwrap_or(rest).trim_start();
    let name = ident_at(rest, 0);
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_literals_are_blanked_but_lifetimes_stay() {
        let src = "let a = \"x.send()\"; // .send()\nlet b = r#\"q\"#; /* .x() /* */ */ let c = '\\''; fn f<'a>(x: &'a str) {}";
        let code = blank_comments_and_literals(src);
        assert_eq!(code.len(), src.len());
        assert!(!code.contains("send") && !code.contains(".x()") && !code.contains('q'), "{code}");
        assert!(code.contains("fn f<'a>(x: &'a str) {}"), "{code}");
        assert_eq!(code.lines().count(), 2);
    }

    #[test]
    fn test_modules_are_dropped() {
        let code = blank_test_items("fn a() {}\n#[cfg(test)]\nmod tests {\n fn b() { x.get(); }\n}\nfn c() {}");
        let names: Vec<String> = functions(&code).into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["a", "c"]);
    }

    #[test]
    fn functions_chains_and_statements() {
        let code = "pub async fn g<K: R<T = ()>, S>(api: &Api<K>, s: S) -> Result<(), E> where K: X { let x = y.a::<u8>(1)?.b.await.c(f(2)); }";
        let f = &functions(code)[0];
        assert_eq!(f.name, "g");
        assert_eq!(f.type_params(code), ["K", "S"]);
        let params = f.parameters(code);
        assert_eq!((params[0].0.as_str(), params[0].1.as_str()), ("api", "&Api<K>"));
        let at = code.find("y.a").unwrap() + 1;
        let (links, end) = chain_after(code, at);
        let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "await", "c"]);
        assert_eq!(&code[end..end + 1], ";");
        assert_eq!(let_binding(&code[statement_start(code, at)..statement_end(code, at)]).as_deref(), Some("x"));
    }
}
