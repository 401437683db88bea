//! `storeplane plugin check`: the full conformance run on one component, with a readable report.
//! It runs the same steps as registry validation but keeps going after a failure, so the
//! author sees every problem at once.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::k8s::Manifest;
use crate::plugins::{EngineInfo, PluginRuntime, StoreSpec, samples, validate};

use super::Conformance;

/// The result for one spec.
#[derive(Debug)]
pub struct SpecReport {
    pub label: String,
    pub spec: StoreSpec,
    pub setup_steps: Vec<String>,
    /// Names of the upgrade steps (1.1 `lifecycle`) for a move to this same version.
    pub upgrade_steps: Vec<String>,
    pub manifests: Vec<Manifest>,
    pub problems: Vec<String>,
    /// What the plugin printed while planning this spec (stdout and stderr).
    pub output: String,
}

/// The whole report.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub digest: Option<String>,
    pub wit_version: Option<String>,
    pub info: Option<EngineInfo>,
    /// What the plugin printed in `describe` (stdout and stderr).
    pub describe_output: String,
    /// Problems before any plan could run (loading, describe).
    pub problems: Vec<String>,
    pub specs: Vec<SpecReport>,
    /// Exec grants for containers no rendered pod has (across every spec).
    pub grants: Vec<String>,
}

impl CheckReport {
    /// `true` when every check passed.
    pub fn passed(&self) -> bool {
        self.info.is_some()
            && self.problems.is_empty()
            && self.grants.is_empty()
            && self.specs.iter().all(|s| s.problems.is_empty())
    }

    /// Writes each spec's rendered manifests to `dir/<label>.yaml` (for kubernetes-validate).
    pub fn write_manifests(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for spec in &self.specs {
            let mut text = String::new();
            for m in &spec.manifests {
                text.push_str("---\n");
                text.push_str(&serde_yaml_ng::to_string(&m.object).map_err(std::io::Error::other)?);
            }
            std::fs::write(dir.join(format!("{}.yaml", spec.label)), text)?;
        }
        Ok(())
    }
}

/// Runs every check on `wasm`. `extra` specs (e.g. from `--spec`) run after the samples.
pub async fn check_plugin(
    runtime: Arc<PluginRuntime>,
    conformance: &Conformance,
    wasm: Vec<u8>,
    extra: Vec<StoreSpec>,
) -> CheckReport {
    let mut report = CheckReport::default();
    let loaded = {
        let runtime = Arc::clone(&runtime);
        tokio::task::spawn_blocking(move || {
            let component = runtime.load(&wasm)?;
            let (info, output) = component.describe_with_output(&runtime)?;
            Ok::<_, crate::plugins::PluginError>((component, info, output))
        })
        .await
    };
    let (component, info, describe_output) = match loaded {
        Ok(Ok(loaded)) => loaded,
        Ok(Err(err)) => {
            report.problems.push(err.to_string());
            return report;
        }
        Err(err) => {
            report.problems.push(format!("plugin task failed: {err}"));
            return report;
        }
    };
    report.describe_output = describe_output;
    report.digest = Some(component.digest().to_string());
    report.wit_version = Some(component.wit_version().to_string());
    report.problems.extend(validate::check_info(&info));

    let mut specs: Vec<(String, StoreSpec)> = samples::sample_specs(&info)
        .into_iter()
        .map(|s| (format!("sample-{}", s.store_id), s))
        .collect();
    specs.extend(
        extra
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("spec-{}", i + 1), s)),
    );

    let component = Arc::new(component);
    let mut containers = std::collections::BTreeSet::new();
    for (label, spec) in specs {
        // Upgrade steps are asked for a move to this same version (what changing a store's
        // options does), the one upgrade every plugin must be able to answer.
        let planned = {
            let (runtime, component, spec, version) = (
                Arc::clone(&runtime),
                Arc::clone(&component),
                spec.clone(),
                info.version.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let (plan, output) = component.plan_with_output(&runtime, &spec)?;
                let upgrade = component.upgrade_steps(&runtime, &version, &spec);
                Ok::<_, crate::plugins::PluginError>((plan, output, upgrade))
            })
            .await
        };
        let mut entry = SpecReport {
            label,
            spec,
            setup_steps: Vec::new(),
            upgrade_steps: Vec::new(),
            manifests: Vec::new(),
            problems: Vec::new(),
            output: String::new(),
        };
        match planned {
            Ok(Ok((plan, output, upgrade))) => {
                entry.output = output;
                entry.setup_steps = plan.setup.iter().map(|s| s.name.clone()).collect();
                match upgrade {
                    Ok(steps) => {
                        entry.upgrade_steps = steps.iter().map(|s| s.name.clone()).collect();
                        entry
                            .problems
                            .extend(validate::check_steps(&info, "upgrade", &steps));
                    }
                    Err(err) => entry.problems.push(format!("upgrade-steps: {err}")),
                }
                entry
                    .problems
                    .extend(validate::check_plan(&info, &entry.spec, &plan));
                let rendered = conformance
                    .render_and_check(&info, &entry.spec, &plan)
                    .await;
                entry.manifests = rendered.manifests;
                containers.extend(super::grants::container_names(&entry.manifests));
                // The author sees what helm said, not only the short reason tenants get.
                match rendered.render_detail {
                    Some(detail) => entry
                        .problems
                        .push(format!("rendering the chart failed: {detail}")),
                    None => entry.problems.extend(rendered.problems),
                }
                entry.problems.extend(rendered.over_ceiling);
            }
            Ok(Err(err)) => entry.problems.push(err.to_string()),
            Err(err) => entry.problems.push(format!("plugin task failed: {err}")),
        }
        report.specs.push(entry);
    }
    if !report.specs.is_empty() {
        report.grants = super::grants::unused_grants(&info, &containers);
    }
    report.info = Some(info);
    report
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = |ok: bool| if ok { "PASS" } else { "FAIL" };
        if let Some(info) = &self.info {
            writeln!(
                f,
                "engine      {} ({}) version {}",
                info.id, info.display_name, info.version
            )?;
            writeln!(
                f,
                "wit         storeplane:engine@{}",
                self.wit_version.as_deref().unwrap_or("?")
            )?;
            writeln!(
                f,
                "digest      sha256:{}",
                self.digest.as_deref().unwrap_or("?")
            )?;
            let secrets: Vec<_> = info.secrets.iter().map(|s| s.key.as_str()).collect();
            writeln!(f, "secrets     {}", secrets.join(", "))?;
            let grants: Vec<_> = info
                .exec
                .iter()
                .map(|g| format!("{}: {}", g.container, g.programs.join(" ")))
                .collect();
            writeln!(f, "exec        {}", grants.join("; "))?;
            let chart = match &info.chart {
                crate::plugins::model::ChartSource::Bundled(name) => format!("bundled {name}"),
                crate::plugins::model::ChartSource::Embedded(bytes) => {
                    format!("embedded ({} bytes)", bytes.len())
                }
            };
            writeln!(f, "chart       {chart}")?;
        }
        writeln!(
            f,
            "[{}] load and describe",
            mark(self.problems.is_empty() && self.info.is_some())
        )?;
        for problem in &self.problems {
            writeln!(f, "       - {problem}")?;
        }
        write_output(f, &self.describe_output)?;
        // A problem several samples share is listed once, after them, naming them.
        let shared: Vec<(&String, Vec<&str>)> = {
            let mut by_problem: Vec<(&String, Vec<&str>)> = Vec::new();
            for spec in &self.specs {
                for problem in &spec.problems {
                    match by_problem.iter_mut().find(|(p, _)| *p == problem) {
                        Some((_, labels)) => labels.push(&spec.label),
                        None => by_problem.push((problem, vec![&spec.label])),
                    }
                }
            }
            by_problem.retain(|(_, labels)| labels.len() > 1);
            by_problem
        };
        for spec in &self.specs {
            let kinds: Vec<_> = spec.manifests.iter().map(Manifest::id).collect();
            writeln!(
                f,
                "[{}] {} (options {}): {} objects, {} setup steps",
                mark(spec.problems.is_empty()),
                spec.label,
                spec.spec.options,
                spec.manifests.len(),
                spec.setup_steps.len()
            )?;
            if !kinds.is_empty() {
                writeln!(f, "       objects: {}", kinds.join(", "))?;
            }
            if !spec.setup_steps.is_empty() {
                writeln!(f, "       setup:   {}", spec.setup_steps.join(" -> "))?;
            }
            if !spec.upgrade_steps.is_empty() {
                writeln!(f, "       upgrade: {}", spec.upgrade_steps.join(" -> "))?;
            }
            write_output(f, &spec.output)?;
            for problem in &spec.problems {
                if !shared.iter().any(|(p, _)| *p == problem) {
                    writeln!(f, "       - {problem}")?;
                }
            }
        }
        if !self.specs.is_empty() {
            writeln!(
                f,
                "[{}] exec grants name containers the chart has",
                mark(self.grants.is_empty())
            )?;
            for problem in &self.grants {
                writeln!(f, "       - {problem}")?;
            }
        }
        if !shared.is_empty() {
            writeln!(f, "[FAIL] problems of several samples")?;
            for (problem, labels) in &shared {
                writeln!(f, "       - {problem} [{}]", labels.join(", "))?;
            }
        }
        write!(
            f,
            "{}",
            if self.passed() {
                "result: all checks passed"
            } else {
                "result: FAILED"
            }
        )
    }
}

/// Lines of a call's output shown in the report; the rest are counted.
const OUTPUT_LINES: usize = 20;
/// Characters of one output line shown.
const OUTPUT_LINE_CHARS: usize = 200;

/// What the plugin printed in one call, as `printed:` lines: at most [`OUTPUT_LINES`] lines of
/// at most [`OUTPUT_LINE_CHARS`] characters, with every character that could drive the
/// terminal or disguise the report escaped (a plugin under check may be someone else's).
fn write_output(f: &mut fmt::Formatter<'_>, output: &str) -> fmt::Result {
    let lines: Vec<&str> = output.lines().collect();
    for line in lines.iter().take(OUTPUT_LINES) {
        let mut shown: String = line
            .chars()
            .take(OUTPUT_LINE_CHARS)
            .map(|c| {
                if disguises_text(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
        if line.chars().count() > OUTPUT_LINE_CHARS {
            shown.push_str(" …");
        }
        writeln!(f, "       printed: {shown}")?;
    }
    if lines.len() > OUTPUT_LINES {
        writeln!(
            f,
            "       printed: … {} more lines",
            lines.len() - OUTPUT_LINES
        )?;
    }
    Ok(())
}

/// Characters shown escaped in a plugin's output: control characters but tab (terminal escape
/// sequences, carriage returns that overwrite a line), and the invisible and bidirectional
/// formatting characters that make text read other than it is ("Trojan Source",
/// CVE-2021-42574), and the Unicode line and paragraph separators.
fn disguises_text(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}
