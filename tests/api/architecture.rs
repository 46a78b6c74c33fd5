//! The house rules a reviewer would otherwise check by hand, read off `src/` as text: no
//! module imports from a module that imports it back, and no function is much longer than
//! a screen or two.

use crate::helpers::repo_path;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Functions up to this many lines pass ("about 120").
const MAX_FUNCTION_LINES: usize = 125;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments, string and char literals (each byte of them blanked, lines
/// kept), so braces and paths inside text are not read as code.
fn code_only(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let blank = |b: u8| if b == b'\n' { b'\n' } else { b' ' };
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let end = if rest.starts_with(b"//") {
            rest.iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |p| i + p)
        } else if rest.starts_with(b"r\"") || rest.starts_with(b"r#") {
            let hashes = rest[1..].iter().take_while(|&&b| b == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let open = i + 2 + hashes;
            bytes[open..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(bytes.len(), |p| open + p + close.len())
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(bytes.len())
        } else if rest[0] == b'\'' && rest.len() >= 3 && (rest[2] == b'\'' || rest[1] == b'\\') {
            // A char literal ('x', '\n', '\''); a lifetime has no closing quote nearby.
            let close = rest[2..].iter().take(10).position(|&b| b == b'\'');
            close.map_or(i + 1, |p| i + 2 + p + 1)
        } else {
            out.push(bytes[i]);
            i += 1;
            continue;
        };
        out.extend(bytes[i..end].iter().map(|&b| blank(b)));
        i = end;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The module of `src/` a file belongs to (`pipeline` for `src/pipeline/worker.rs`).
fn top_module(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// A file's code outside its unit tests.
fn production_code(file: &Path) -> Option<String> {
    if file.file_name().is_some_and(|n| n == "tests.rs") {
        return None;
    }
    let text = code_only(&std::fs::read_to_string(file).unwrap());
    let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
    Some(text[..cut].to_owned())
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let src = repo_path("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = top_module(&src, file);
        let Some(code) = production_code(file) else {
            continue;
        };
        let mut found: BTreeSet<String> = BTreeSet::new();
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            found.insert(name);
        }
        for (at, _) in code.match_indices("use crate::{") {
            let list = &code[at + 12..];
            let list = &list[..list.find('}').unwrap_or(list.len())];
            for part in list.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                found.insert(name);
            }
        }
        found.retain(|name| !name.is_empty() && *name != module);
        imports.entry(module).or_default().extend(found);
    }
    assert!(
        imports["config"].contains("store"),
        "the scan reads imports: {imports:?}"
    );
    let mut loops = Vec::new();
    for (a, theirs) in &imports {
        for b in theirs {
            if a < b && imports.get(b).is_some_and(|back| back.contains(a)) {
                loops.push(format!("{a} <-> {b}"));
            }
        }
    }
    assert!(loops.is_empty(), "modules that import each other: {loops:?}");
}

#[test]
fn no_function_is_much_longer_than_a_screen() {
    let src = repo_path("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    let mut functions = 0;
    for file in &files {
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        let lines: Vec<&str> = code.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(fn_at) = words.iter().position(|w| *w == "fn") else {
                continue;
            };
            if !words[..fn_at]
                .iter()
                .all(|w| w.starts_with("pub") || matches!(*w, "async" | "const" | "unsafe" | "extern"))
            {
                continue;
            }
            functions += 1;
            let (mut depth, mut opened) = (0_i64, false);
            for (offset, body) in lines[start..].iter().enumerate() {
                if !opened && body.trim_end().ends_with(';') && !body.contains('{') {
                    break;
                }
                for c in body.chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if opened && depth <= 0 {
                    if offset + 1 > MAX_FUNCTION_LINES {
                        long.push(format!(
                            "{}:{} {} lines",
                            file.strip_prefix(&src).unwrap().display(),
                            start + 1,
                            offset + 1
                        ));
                    }
                    break;
                }
            }
        }
    }
    assert!(functions > 1000, "the scan finds functions: {functions}");
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines: {long:?}"
    );
}
