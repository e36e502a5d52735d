//! The host's module graph flows one way: no two modules of `host/src`
//! import each other, directly or through others, and neither do two
//! siblings inside one folder. Imports are read from the sources
//! (`crate::…`, `super::…` paths, `use` trees and doc links included), so a cycle fails
//! here before it settles in. `cargo test --test all -- architecture
//! --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module's path inside the crate, `["capabilities", "gate"]` for
/// `host/src/capabilities/gate/mod.rs` or `host/src/capabilities/gate.rs`.
type ModulePath = Vec<String>;

#[test]
fn host_modules_import_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeMap::new();
    collect(&src, &mut Vec::new(), &mut sources);
    let modules: BTreeSet<ModulePath> = sources.keys().cloned().collect();

    let mut edges: BTreeSet<(ModulePath, ModulePath)> = BTreeSet::new();
    for (module, text) in &sources {
        for target in references(module, text) {
            if let Some(found) = longest_module(&modules, &target)
                && found != *module
            {
                edges.insert((module.clone(), found));
            }
        }
    }

    let mut cycles = Vec::new();
    // The top level: each folder is one node.
    let top = collapse(&edges, |m| m.first().map(|s| vec![s.clone()]));
    print_graph("host/src", &top);
    cycles.extend(find_cycles(&top));
    // Inside each folder: siblings, the folder's own mod.rs left out.
    let folders: BTreeSet<ModulePath> = modules
        .iter()
        .filter(|m| m.len() > 1)
        .map(|m| m[..m.len() - 1].to_vec())
        .collect();
    for folder in folders {
        let depth = folder.len();
        let inner = collapse(&edges, |m| {
            (m.len() > depth && m[..depth] == folder[..]).then(|| m[..=depth].to_vec())
        });
        print_graph(&format!("host/src/{}", folder.join("/")), &inner);
        cycles.extend(find_cycles(&inner));
    }
    assert!(
        cycles.is_empty(),
        "modules import each other in a circle:\n{}",
        cycles.join("\n")
    );
}

/// Reads every `.rs` file under `dir` as the module it declares.
fn collect(dir: &Path, prefix: &mut Vec<String>, out: &mut BTreeMap<ModulePath, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("host/src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        if path.is_dir() {
            prefix.push(name);
            collect(&path, prefix, out);
            prefix.pop();
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut module = prefix.clone();
            if !matches!(name.as_str(), "mod" | "lib" | "main") {
                module.push(name);
            }
            let text = std::fs::read_to_string(&path).expect("source");
            out.entry(module).or_default().push_str(&text);
        }
    }
}

/// Every crate path the module's code names, made absolute.
fn references(module: &ModulePath, text: &str) -> Vec<ModulePath> {
    // Doc comments count: a doc that sends the reader upward is coupling
    // too. Plain comments do not.
    let code: String = text
        .lines()
        .map(|line| match line.trim_start() {
            doc if doc.starts_with("///") || doc.starts_with("//!") => line,
            _ => line.split("//").next().unwrap_or(""),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        let base = if !starts_word {
            None
        } else if rest.starts_with("crate::") {
            i += "crate::".len();
            Some(Vec::new())
        } else if rest.starts_with("super::") {
            let mut parent = module.clone();
            while chars[i..].iter().collect::<String>().starts_with("super::") {
                i += "super::".len();
                parent.pop();
            }
            Some(parent)
        } else {
            None
        };
        match base {
            Some(base) => {
                let (paths, end) = use_tree(&chars, i);
                found.extend(paths.into_iter().map(|p| {
                    let mut full = base.clone();
                    full.extend(p);
                    full
                }));
                i = end;
            }
            None => i += 1,
        }
    }
    found
}

/// Parses `a::b::{c, d::e}` from `start`: the paths it names and where it ends.
fn use_tree(chars: &[char], start: usize) -> (Vec<Vec<String>>, usize) {
    let mut i = start;
    let mut prefix = Vec::new();
    loop {
        let word_start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        if i > word_start {
            prefix.push(chars[word_start..i].iter().collect::<String>());
        }
        if chars[i..].starts_with(&[':', ':']) {
            i += 2;
            if chars.get(i) == Some(&'{') {
                i += 1;
                let mut paths = Vec::new();
                loop {
                    while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                        i += 1;
                    }
                    match chars.get(i) {
                        Some('}') | None => return (paths, i + 1),
                        _ => {}
                    }
                    let (inner, end) = use_tree(chars, i);
                    for p in inner {
                        let mut full = prefix.clone();
                        full.extend(p);
                        paths.push(full);
                    }
                    if end == i {
                        i += 1;
                    } else {
                        i = end;
                    }
                }
            }
            continue;
        }
        return (vec![prefix], i);
    }
}

/// The longest known module that `path` starts with.
fn longest_module(modules: &BTreeSet<ModulePath>, path: &[String]) -> Option<ModulePath> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

/// The edges between the nodes `node` maps modules to (self-edges dropped).
fn collapse(
    edges: &BTreeSet<(ModulePath, ModulePath)>,
    node: impl Fn(&ModulePath) -> Option<ModulePath>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in edges {
        if let (Some(a), Some(b)) = (node(from), node(to))
            && a != b
        {
            graph.entry(a.join("::")).or_default().insert(b.join("::"));
        }
    }
    graph
}

fn print_graph(title: &str, graph: &BTreeMap<String, BTreeSet<String>>) {
    println!("{title}:");
    for (from, to) in graph {
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        println!("  {from} -> {}", to.join(" "));
    }
}

/// One line per strongly connected component of more than one node.
fn find_cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let nodes: BTreeSet<&String> = graph
        .keys()
        .chain(graph.values().flat_map(|v| v.iter()))
        .collect();
    let reaches = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for next in graph.get(&n).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reaches(n))).collect();
    let mut done = BTreeSet::new();
    let mut cycles = Vec::new();
    for n in &nodes {
        if done.contains(*n) || !reach[n].contains(*n) {
            continue;
        }
        let component: Vec<&String> = nodes
            .iter()
            .filter(|m| reach[n].contains(**m) && reach[*m].contains(*n))
            .copied()
            .collect();
        for m in &component {
            done.insert((*m).clone());
        }
        let names: Vec<&str> = component.iter().map(|s| s.as_str()).collect();
        cycles.push(format!("  {{{}}}", names.join(", ")));
    }
    cycles
}
