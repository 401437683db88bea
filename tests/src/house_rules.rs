//! The module rules of `docs/architecture.md`, checked on the host's sources: which top-level
//! module may name which outside crate (axum only in `api`, sqlx only in `db`, wasmtime only in
//! `plugins`, kube and k8s-openapi only in `k8s`), that only `config` reads the process
//! environment, that `plugins` and `k8s` never import each other, and that handlers stay thin:
//! `api` names nothing of `k8s` and, of `db`, only the records, filters and errors in
//! [`API_FROM_DB`] (never the `Db` trait: it reaches the database through the lifecycle
//! services). Allow-lists: a crate on the list may be named only where the list says; every
//! other module is refused it.
//!
//! Sources are read as text with comments, string and char literals blanked out, so a word in
//! a doc comment or a message is not an import.

use std::path::{Path, PathBuf};

/// `(what is named, the modules that may name it)`.
pub const RULES: &[(&str, &[&str])] = &[
    ("axum::", &["api"]),
    ("utoipa_axum::", &["api"]),
    ("sqlx::", &["db"]),
    ("wasmtime::", &["plugins"]),
    ("wasmtime_wasi::", &["plugins"]),
    ("kube::", &["k8s"]),
    ("k8s_openapi::", &["k8s"]),
    ("env::var(", &["config"]),
    ("env::var_os(", &["config"]),
    ("env::vars(", &["config"]),
    ("env::vars_os(", &["config"]),
];

/// `(module, what it must not name)`: the two sides `lifecycle` and `conformance` wire.
pub const SEPARATED: &[(&str, &str)] = &[
    ("plugins", "crate::k8s"),
    ("k8s", "crate::plugins"),
    ("api", "crate::k8s"),
];

/// What `api` may name from `crate::db`: the records it shows, the filters it builds and the
/// errors it maps to responses.
pub const API_FROM_DB: &[&str] = &[
    "AuditContext",
    "AuditEvent",
    "AuditFilter",
    "CreateUserError",
    "DbError",
    "MemberState",
    "NewAudit",
    "NewUser",
    "Rollout",
    "RolloutMember",
    "RolloutState",
    "Store",
    "StoreFilter",
    "User",
    "UserSummary",
];

/// The names a `crate::db::…` path starting at byte `start` of `code` brings in: one name, or
/// each first segment of a `{…}` list.
fn db_names_at(code: &str, start: usize) -> Vec<String> {
    let rest = &code[start + "crate::db::".len()..];
    let ident = |text: &str| -> String {
        text.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    match rest.strip_prefix('{') {
        Some(list) => list
            .split('}')
            .next()
            .unwrap_or_default()
            .split(',')
            .map(ident)
            .filter(|name| !name.is_empty())
            .collect(),
        None => vec![ident(rest)],
    }
}

/// The top-level module a source file belongs to (`api` for `api.rs` and `api/…`).
fn module_of(relative: &Path) -> String {
    let first = relative
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

/// `source` with comments and the contents of string and char literals replaced by spaces
/// (line breaks kept, so line numbers stay right).
pub fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && is_raw_start(&chars, i) {
            // r"…" or r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            out.push_str(&" ".repeat(j - i + 1));
            i = j + 1;
            while i < chars.len() {
                if chars[i] == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#')) {
                    out.push_str(&" ".repeat(hashes + 1));
                    i += hashes + 1;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            let end = chars[i + 1..]
                .iter()
                .position(|&c| c == '\'')
                .map_or(chars.len(), |p| i + 1 + p);
            out.push_str(&" ".repeat(end + 1 - i));
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether the `r` at `i` starts a raw string (not the end of an identifier like `bar"`).
fn is_raw_start(chars: &[char], i: usize) -> bool {
    let before = i.checked_sub(1).map(|j| chars[j]);
    if before.is_some_and(|b| b.is_alphanumeric() || b == '_') {
        return false;
    }
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

/// Whether the `'` at `i` opens a char literal (`'a'`, `'\n'`, `'\''`) rather than a lifetime.
fn is_char_literal(chars: &[char], i: usize) -> bool {
    matches!(
        (chars.get(i + 1), chars.get(i + 2)),
        (Some('\\'), _) | (Some(_), Some('\''))
    )
}

/// One breach: `path:line: module names what (allowed in …)`.
fn breaches_in(relative: &Path, source: &str) -> Vec<String> {
    let module = module_of(relative);
    let code = code_only(source);
    let mut found = Vec::new();
    if module == "api" {
        for (start, _) in code.match_indices("crate::db::") {
            let line = code[..start].matches('\n').count() + 1;
            for name in db_names_at(&code, start) {
                if !API_FROM_DB.contains(&name.as_str()) {
                    found.push(format!(
                        "{}:{line}: module `api` names `crate::db::{name}`; handlers reach the database through lifecycle services (allowed from db: records, filters and errors)",
                        relative.display()
                    ));
                }
            }
        }
    }
    for (number, line) in code.lines().enumerate() {
        let at = || format!("{}:{}", relative.display(), number + 1);
        for (what, allowed) in RULES {
            let named = line.match_indices(what).any(|(start, _)| {
                // A path segment of its own: `axum::` but not `my_axum::`.
                !line[..start]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            }) || (what.ends_with("::")
                && line
                    .trim_start()
                    .starts_with(&format!("use {}", what.trim_end_matches(':'))));
            if named && !allowed.contains(&module.as_str()) {
                found.push(format!(
                    "{}: module `{module}` names `{what}`, which only {} may",
                    at(),
                    allowed.join(", ")
                ));
            }
        }
        for (from, forbidden) in SEPARATED {
            if module == *from && line.contains(forbidden) {
                found.push(format!(
                    "{}: module `{module}` imports `{forbidden}`; the two meet only in lifecycle and conformance",
                    at()
                ));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every breach of the rules in the crate whose `src` directory is `root`, sorted.
pub fn breaches(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut found: Vec<String> = files
        .iter()
        .flat_map(|path| {
            let relative = path.strip_prefix(root).unwrap_or(path);
            let source = std::fs::read_to_string(path).unwrap_or_default();
            breaches_in(relative, &source)
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, source: &str) -> Vec<String> {
        breaches_in(Path::new(path), source)
    }

    #[test]
    fn a_misplaced_import_is_named_with_its_place_and_rule() {
        let found = check(
            "lifecycle/provision.rs",
            "use std::sync::Arc;\nuse sqlx::PgPool;\n",
        );
        assert_eq!(
            found,
            ["lifecycle/provision.rs:2: module `lifecycle` names `sqlx::`, which only db may"]
        );
        assert_eq!(
            check("api/stores.rs", "fn f() -> axum::Router { todo!() }").len(),
            0
        );
        assert_eq!(check("server.rs", "pub router: axum::Router,").len(), 1);
        assert_eq!(
            check(
                "conformance/manifests.rs",
                "use k8s_openapi::api::core::v1::Container;"
            )
            .len(),
            1
        );
        assert_eq!(
            check(
                "lifecycle/runner.rs",
                "let h = std::env::var(\"HOSTNAME\");"
            )
            .len(),
            1
        );
        assert_eq!(
            check("config.rs", "let h = std::env::var(\"HOSTNAME\");").len(),
            0
        );
        assert_eq!(
            check("plugins/registry.rs", "use crate::k8s::Cluster;").len(),
            1
        );
    }

    #[test]
    fn handlers_name_records_of_db_but_never_the_database_or_the_cluster() {
        assert_eq!(
            check(
                "api/stores.rs",
                "use crate::db::{\n    AuditEvent,\n    Db,\n};\nfn f(s: &crate::db::Store) {}"
            ),
            [
                "api/stores.rs:1: module `api` names `crate::db::Db`; handlers reach the database through lifecycle services (allowed from db: records, filters and errors)"
            ]
        );
        assert_eq!(
            check("api/state.rs", "db: Arc<dyn crate::db::Db>,").len(),
            1
        );
        assert_eq!(check("api/health.rs", "use crate::k8s::Cluster;").len(), 1);
        assert_eq!(check("lifecycle/probes.rs", "use crate::db::Db;").len(), 0);
    }

    #[test]
    fn words_in_comments_strings_and_other_paths_are_not_imports() {
        let source = r####"
            //! Uses `sqlx::query` elsewhere.
            /* kube::Api /* nested */ still a comment */
            let s = "axum::Router";
            let r = r#"wasmtime::Engine"#;
            let c = '"'; let d = 'x';
            fn f<'a>(x: &'a str) -> my_sqlx::Pool { todo!() }
        "####;
        assert_eq!(check("lifecycle/x.rs", source), Vec::<String>::new());
    }
}
