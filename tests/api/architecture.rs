//! The house rules a reviewer would otherwise check by hand, read off `src/` as text: no
//! circle of imports of any length, leaves that import nothing above them, and no function
//! much longer than a screen or two.

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

/// Which modules each module of `src/` imports (`crate::x`, `use crate::{x, …}`), outside
/// unit tests.
fn module_imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = top_module(src, file);
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
    imports
}

/// The circles of a graph of imports: its strongly connected components of more than one
/// module (Tarjan's algorithm), each sorted, in order.
fn circles(imports: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Search<'a> {
        imports: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        circles: Vec<Vec<String>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, module: &'a str) {
            let at = self.index.len();
            self.index.insert(module, at);
            self.low.insert(module, at);
            self.stack.push(module);
            for next in self.imports.get(module).into_iter().flatten() {
                let next = next.as_str();
                if !self.imports.contains_key(next) {
                    continue;
                }
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[module].min(self.low[next]);
                    self.low.insert(module, low);
                } else if self.stack.contains(&next) {
                    let low = self.low[module].min(self.index[next]);
                    self.low.insert(module, low);
                }
            }
            if self.low[module] == self.index[module] {
                let at = self.stack.iter().rposition(|m| *m == module).unwrap();
                let mut component: Vec<String> = self.stack.drain(at..).map(str::to_owned).collect();
                if component.len() > 1 {
                    component.sort();
                    self.circles.push(component);
                }
            }
        }
    }
    let mut search = Search {
        imports,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        circles: Vec::new(),
    };
    for module in imports.keys() {
        if !search.index.contains_key(module.as_str()) {
            search.visit(module);
        }
    }
    search.circles.sort();
    search.circles
}

/// Each module's production code, as one text.
fn module_code(src: &Path) -> BTreeMap<String, String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut code: BTreeMap<String, String> = BTreeMap::new();
    for file in &files {
        if let Some(text) = production_code(file) {
            code.entry(top_module(src, file)).or_default().push_str(&text);
        }
    }
    code
}

/// What a phrase of ARCHITECTURE.md's "must not know" column forbids: modules of the crate
/// not to import, and paths not to name.
fn forbidden(phrase: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match phrase {
        "wire formats" => (&[], &["intercom::wire", "async_openai::"]),
        "HTTP" => (&[], &["axum::", "hyper::", "reqwest::"]),
        "axum" => (&[], &["axum::"]),
        "SQL" => (&[], &["rusqlite::", "tokio_postgres::", "deadpool_postgres::"]),
        "triage" => (&["triage"], &[]),
        "the pipeline" => (&["pipeline"], &[]),
        "the policy" => (&["policy"], &[]),
        "the store" => (&["store"], &[]),
        "the outbox" => (&["outbox"], &[]),
        "drafting" => (&["llm"], &[]),
        "Intercom" => (&["intercom"], &[]),
        "Intercom's REST API" => (&[], &["IntercomClient"]),
        "the index internals" => (&[], &["tantivy::"]),
        _ => return None,
    })
}

/// ARCHITECTURE.md's module table is true: no module imports what its row says it must not
/// know, the leaves ("everything above them") and the configuration ("the components")
/// included, and every module of `src/` has a row.
#[test]
fn the_module_table_says_what_each_module_must_not_know_and_it_is_true() {
    let src = repo_path("src");
    let (imports, code) = (module_imports(&src), module_code(&src));
    let document = std::fs::read_to_string(repo_path("ARCHITECTURE.md")).unwrap();
    let section = &document[document
        .find("## Modules and what they own")
        .expect("the section")..];
    let table = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    let mut rows = 0;
    let mut named: BTreeSet<String> = BTreeSet::new();
    let mut wrong = Vec::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let modules: Vec<String> = cells[0]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        let must_not = cells.last().unwrap().trim_end_matches('|').trim();
        rows += 1;
        for module in &modules {
            named.insert(module.clone());
            let empty = BTreeSet::new();
            let theirs = imports.get(module).unwrap_or(&empty);
            let text = code.get(module).map_or("", String::as_str);
            for phrase in must_not.split(", ").filter(|p| !p.is_empty()) {
                if matches!(
                    phrase,
                    "everything above it" | "everything above them" | "the components"
                ) {
                    let above: Vec<&String> =
                        theirs.iter().filter(|m| !LEAVES.contains(&m.as_str())).collect();
                    if !above.is_empty() {
                        wrong.push(format!("{module} imports {above:?}, but must not know {phrase}"));
                    }
                    continue;
                }
                let (modules, paths) = forbidden(phrase)
                    .unwrap_or_else(|| panic!("{module}: the table's phrase {phrase:?} has no check"));
                for m in modules.iter().filter(|m| theirs.contains(**m)) {
                    wrong.push(format!("{module} imports {m}, but must not know {phrase}"));
                }
                for p in paths.iter().filter(|p| text.contains(**p)) {
                    wrong.push(format!("{module} names {p}, but must not know {phrase}"));
                }
            }
        }
    }
    assert!(rows >= 15, "the table is read: {rows} rows");
    let unnamed: Vec<&String> = imports
        .keys()
        .filter(|m| !named.contains(*m) && !["lib", "main"].contains(&m.as_str()))
        .collect();
    assert!(unnamed.is_empty(), "modules without a row: {unnamed:?}");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Imports go one way, however long the way round: no module reaches itself through the
/// modules it imports (a circle of six files once passed a check that looked at pairs).
#[test]
fn no_module_reaches_itself_through_its_imports() {
    let imports = module_imports(&repo_path("src"));
    assert!(
        imports["pipeline"].contains("store"),
        "the scan reads imports: {imports:?}"
    );
    assert!(
        circles(&imports).is_empty(),
        "circles of imports: {:?}",
        circles(&imports)
    );
}

/// The leaves of ARCHITECTURE.md: they import nothing of the crate but each other.
const LEAVES: [&str; 8] = [
    "clock",
    "domain",
    "files",
    "metrics",
    "runtime",
    "stats",
    "telemetry",
    "text",
];

/// The leaves import nothing of the crate but other leaves, and the configuration nothing but
/// leaves (it knows no component).
#[test]
fn the_leaves_import_nothing_above_them() {
    let imports = module_imports(&repo_path("src"));
    let leaves = LEAVES;
    let config: Vec<&String> = imports["config"]
        .iter()
        .filter(|m| !leaves.contains(&m.as_str()))
        .collect();
    assert!(config.is_empty(), "config imports {config:?}");
    for leaf in leaves {
        let above: Vec<&String> = imports
            .get(leaf)
            .into_iter()
            .flatten()
            .filter(|m| !leaves.contains(&m.as_str()))
            .collect();
        assert!(above.is_empty(), "{leaf} imports {above:?}");
    }
}

/// The check finds a circle of any length: a planted 3-cycle, and a pair.
#[test]
fn the_circle_check_finds_a_planted_three_cycle() {
    let graph = |edges: &[(&str, &str)]| {
        let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            imports.entry((*from).into()).or_default().insert((*to).into());
            imports.entry((*to).into()).or_default();
        }
        imports
    };
    let planted = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "leaf"), ("d", "a")]);
    assert_eq!(circles(&planted), vec![vec!["a", "b", "c"]]);
    assert_eq!(circles(&graph(&[("x", "y"), ("y", "x")])), vec![vec!["x", "y"]]);
    assert!(circles(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
    // And on the real tree with one import added that closes a circle of three or more.
    let mut real = module_imports(&repo_path("src"));
    real.get_mut("domain").unwrap().insert("pipeline".into());
    assert!(
        circles(&real)
            .iter()
            .any(|c| c.len() >= 3 && c.contains(&"domain".to_owned())),
        "{:?}",
        circles(&real)
    );
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
