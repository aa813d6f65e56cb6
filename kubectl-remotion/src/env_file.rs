//! `--env-file`: a dotenv file of the page's environment variables, read as Remotion's CLI
//! reads one (the dotenv format: `NAME=value` lines, `#` comments, optional `export `, values
//! optionally quoted; `\n` in a double-quoted value is a line break).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

/// The variables of the dotenv file at `path`.
pub fn read(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("--env-file: reading {}", path.display()))?;
    parse(&text).with_context(|| format!("--env-file: {}", path.display()))
}

/// The variables of a dotenv text; later lines win, as in dotenv.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>> {
    let mut variables = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            bail!("line {}: expected NAME=value, found {line:?}", index + 1);
        };
        let name = name.trim();
        if name.is_empty() {
            bail!("line {}: the variable has no name", index + 1);
        }
        variables.insert(name.to_owned(), value_of(value.trim()));
    }
    Ok(variables)
}

/// A value without its quotes; unquoted values end at a ` #` comment.
fn value_of(raw: &str) -> String {
    let quoted = |q: char| raw.len() >= 2 && raw.starts_with(q) && raw.ends_with(q);
    if quoted('"') {
        raw[1..raw.len() - 1].replace("\\n", "\n").replace("\\\"", "\"")
    } else if quoted('\'') {
        raw[1..raw.len() - 1].to_owned()
    } else {
        raw.split_once(" #").map_or(raw, |(value, _)| value).trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines_become_variables() {
        let text = "# the page's settings\nAPI_URL=https://api.example.com\nexport TOKEN = 'a b # c'\n\n\
                    GREETING=\"line one\\nline \\\"two\\\"\"\nPLAIN=value # comment\nEMPTY=\nAPI_URL=later\n";
        let variables = parse(text).unwrap();
        assert_eq!(
            variables,
            BTreeMap::from([
                ("API_URL".to_owned(), "later".to_owned()),
                ("EMPTY".to_owned(), String::new()),
                ("GREETING".to_owned(), "line one\nline \"two\"".to_owned()),
                ("PLAIN".to_owned(), "value".to_owned()),
                ("TOKEN".to_owned(), "a b # c".to_owned()),
            ])
        );
    }

    #[test]
    fn lines_that_are_no_variables_are_refused_with_their_number() {
        let error = parse("A=1\nnot a variable\n").unwrap_err().to_string();
        assert!(error.contains("line 2") && error.contains("NAME=value"), "{error}");
        assert!(parse("=1").unwrap_err().to_string().contains("no name"));
    }
}
