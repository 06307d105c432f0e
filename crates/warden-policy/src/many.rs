//! Several policy files compiled into one `PolicySet` (a policy directory): every file's rules,
//! decided together by deny-overrides; settings shared by all files; one hash over them all.
//!
//! The rules:
//! - a rule name is unique across the files (a second use names the file of the first);
//! - `version`, `mode`, `default` and `hide_denied_tools` are the directory's settings: each may
//!   be written in any number of files as long as every file that writes it gives the same value
//!   (a conflict is reported where the later file writes it, naming the earlier one); a file
//!   that leaves one unset gets the directory's value (so `mode: monitor` in one file puts the
//!   rules of every file in monitor mode unless a rule sets its own `mode`);
//! - the hash covers every file's name and text, in order, so a renamed, added or removed file
//!   changes it as an edit does.

use std::collections::HashMap;

use serde_saphyr::Location;
use sha2::Digest;

use crate::compile::{
    Action, Mode, PolicyErrors, PolicySet, Problem, at, catalog_section, compile_rules,
    guide_names, parse, settings, short_hash,
};

/// The value of one setting in the first file that wrote it.
struct First<T> {
    value: T,
    file: usize,
    loc: Location,
}

/// Checks that every file writing a setting gives the same value; the agreed value, if any.
fn agree<T: PartialEq + Copy>(
    key: &str,
    show: impl Fn(T) -> String,
    each: impl Iterator<Item = (usize, Option<(T, Location)>)>,
    names: &[&str],
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut first: Option<First<T>> = None;
    for (file, set) in each {
        let Some((value, loc)) = set else { continue };
        match &first {
            None => first = Some(First { value, file, loc }),
            Some(f) if f.value == value => {}
            Some(f) => problems.push(Problem {
                file: Some(names[file].to_owned()),
                ..at(
                    &loc,
                    format!(
                        "`{key}: {}` conflicts with `{key}: {}` in {}:{}:{}; the files of a policy directory share their settings: write it in one file, or the same in every file",
                        show(value),
                        show(f.value),
                        names[f.file],
                        f.loc.line(),
                        f.loc.column()
                    ),
                )
            }),
        }
    }
    first.map(|f| f.value)
}

impl PolicySet {
    /// Compiles several policy files, `(name, text)` in the order given (the caller sorts them),
    /// into one policy, as the module documentation says. Every problem names its file.
    /// No files at all is a problem: a policy that allows everything by accident fails closed.
    pub fn compile_many(files: &[(&str, &str)]) -> Result<PolicySet, PolicyErrors> {
        if files.is_empty() {
            return Err(PolicyErrors(vec![Problem {
                file: None,
                line: 0,
                column: 0,
                message: "no policy files".into(),
            }]));
        }
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        let mut problems = Vec::new();
        let mut parsed = Vec::new();
        for (i, (_, text)) in files.iter().enumerate() {
            let mut mine = Vec::new();
            match parse(text) {
                Ok(raw) => {
                    let s = settings(&raw, &mut mine);
                    parsed.push((i, raw, s));
                }
                Err(p) => mine.push(p),
            }
            problems.extend(mine.into_iter().map(|p| in_file(p, names[i])));
        }
        let version = parsed.iter().map(|(i, _, s)| (*i, s.version));
        agree(
            "version",
            |v: u32| v.to_string(),
            version,
            &names,
            &mut problems,
        );
        let mode = parsed.iter().map(|(i, _, s)| (*i, s.mode));
        let mode = agree(
            "mode",
            |m: Mode| m.as_str().into(),
            mode,
            &names,
            &mut problems,
        )
        .unwrap_or(Mode::Enforce);
        let default = parsed.iter().map(|(i, _, s)| (*i, s.default));
        let default = agree(
            "default",
            |a: Action| a.as_str().into(),
            default,
            &names,
            &mut problems,
        );
        let hide = parsed.iter().map(|(i, _, s)| (*i, s.hide_denied_tools));
        let hide = agree(
            "hide_denied_tools",
            |h: bool| h.to_string(),
            hide,
            &names,
            &mut problems,
        );
        let mut catalog = crate::catalog::CatalogMeta::default();
        let mut overdue = Vec::new();
        for (i, raw, _) in &parsed {
            let mut mine = Vec::new();
            let (meta, o) = catalog_section(raw, names[*i], &mut mine);
            catalog.extend(meta);
            overdue.push((*i, o));
            problems.extend(mine.into_iter().map(|p| in_file(p, names[*i])));
        }
        catalog.overdue = agree(
            "overdue",
            |o: crate::catalog::Overdue| o.as_str().into(),
            overdue.into_iter(),
            &names,
            &mut problems,
        )
        .unwrap_or_default();
        let mut rules = Vec::new();
        let mut guide_parts = Vec::new();
        let mut seen: HashMap<String, (usize, Location)> = HashMap::new();
        for (i, raw, _) in &parsed {
            let mut mine = Vec::new();
            for p in &raw.policies {
                let name = &p.value.name;
                match seen.get(&name.value) {
                    Some((f, loc)) if f != i => mine.push(at(
                        &name.referenced,
                        format!(
                            "policy name {:?} is also used in {}:{}:{} (names are unique across a policy directory)",
                            name.value,
                            names[*f],
                            loc.line(),
                            loc.column()
                        ),
                    )),
                    Some(_) => {}
                    None => {
                        seen.insert(name.value.clone(), (*i, name.referenced));
                    }
                }
            }
            let file_rules = compile_rules(raw, mode, &mut HashMap::new(), &mut mine);
            rules.extend(file_rules.into_iter().map(|mut r| {
                r.file = Some(names[*i].to_owned());
                r
            }));
            let stem = crate::guide::stem(names[*i]);
            let guide = crate::guide::compile(raw, names[*i], &stem, mode, &mut mine);
            guide_parts.push((*i, guide));
            problems.extend(mine.into_iter().map(|p| in_file(p, names[*i])));
        }
        let mut guides = Vec::new();
        for (i, g) in guide_parts {
            let mut mine = Vec::new();
            guide_names(&rules, &g.rules, &mut mine);
            problems.extend(mine.into_iter().map(|p| in_file(p, names[i])));
            rules.extend(g.rules.into_iter().map(|mut r| {
                r.file = Some(names[i].to_owned());
                r
            }));
            catalog.extend(g.catalog);
            guides.extend(g.tool);
        }
        if !problems.is_empty() {
            let order = |p: &Problem| names.iter().position(|n| Some(*n) == p.file.as_deref());
            problems.sort_by_key(|p| (order(p), p.line, p.column));
            return Err(PolicyErrors(problems));
        }
        let mut h = sha2::Sha256::new();
        h.update(b"warden policy directory\0");
        for (name, text) in files {
            for part in [name.as_bytes(), text.as_bytes()] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part);
            }
        }
        Ok(PolicySet::assemble(
            rules,
            default.unwrap_or(Action::Allow),
            mode,
            hide.unwrap_or(false),
            short_hash(&h.finalize()),
        )
        .with_catalog(catalog)
        .with_guides(guides))
    }
}

fn in_file(p: Problem, name: &str) -> Problem {
    Problem {
        file: Some(name.to_owned()),
        ..p
    }
}

#[cfg(test)]
#[path = "many_tests.rs"]
mod tests;
