//! Conformance of an engine plugin against its real chart: the checks behind
//! `storeplane plugin check` and behind every activation in the registry.
//!
//! For each sample spec (and any spec the caller adds) the plan is rendered with `helm
//! template` and every object is checked: allowed kind, namespaced and in the store's
//! namespace, parses as its k8s-openapi type, secrets only by reference to requested keys of
//! the credentials Secret, no literal secret-looking values, workloads with resources and
//! non-overlapping selectors, Services that select something, how the store may be reached
//! (`exposure`: ClusterIP Services, Ingresses for the store's host only), names and metadata
//! (`names`: DNS names, nothing the host owns, no finalizers or owner references), what pods
//! may ask of the node (`pod_fields`: allow-listed fields, volumes and capabilities), every
//! count, size and duration within the operator's bounds (`bounds`), ready-when workloads and
//! setup-step targets that exist, what pods refer to by name rendered (`references`:
//! ServiceAccounts, claims, ConfigMaps and their keys, volume mounts), and named ports that
//! lead somewhere (`ports`: Ingress backends, Service target ports, probes), and one pod at a
//! time on a claim one node attaches (`volume_access`), and no workload setting under which
//! a roll-out never finishes (`rollout_settings`). It sits above `plugins` and `k8s`
//! (like `lifecycle`) because it needs both.

mod bounds;
mod check;
mod exposure;
mod grants;
mod manifests;
mod names;
mod pod_fields;
mod ports;
mod references;
mod rollout_settings;
mod volume_access;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use crate::k8s::footprint::CONTAINER_LIMITS;
use crate::k8s::{BundledCharts, Ceiling, Footprint, HelmRenderer, Manifest};
use crate::plugins::model::ChartSource;
use crate::plugins::{DeploymentPlan, EngineInfo, PlanValidator, StoreSpec};

pub use bounds::Bounds;
pub use check::{CheckReport, SpecReport, check_plugin};
pub use manifests::check_manifests;

/// How many names a problem lists of what the chart has.
const LISTED_NAMES: usize = 10;

/// Names for a problem message ("none" when there are none), at most `LISTED_NAMES` of them
/// and then how many more: a chart of thousands of objects would otherwise repeat them all in
/// each of its thousands of problems, a message list growing with the square of the chart.
fn listed<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut names = names.into_iter();
    let shown: Vec<&str> = names.by_ref().take(LISTED_NAMES).collect();
    let more = names.count();
    match (shown.is_empty(), more) {
        (true, _) => "none".to_owned(),
        (false, 0) => shown.join(", "),
        (false, more) => format!("{} and {more} more", shown.join(", ")),
    }
}

/// The outcome of rendering and checking one plan.
#[derive(Debug)]
pub struct RenderReport {
    pub manifests: Vec<Manifest>,
    /// What the objects use at most (zero when they could not be counted).
    pub footprint: Footprint,
    pub problems: Vec<String>,
    /// Why the plan needs more than the host allows one store, naming CPU and memory. Kept
    /// apart from `problems`: it refuses a store and fails `plugin check`, but does not stop
    /// an engine from being registered (a tenant may pick a size that fits).
    pub over_ceiling: Option<String>,
    /// When helm itself failed: everything it said, for the audit log and the plugin's author
    /// (`problems` holds only the short reason a store's owner may read).
    pub render_detail: Option<String>,
}

/// Renders plans with the engine's chart and checks the result.
#[derive(Debug, Clone)]
pub struct Conformance {
    helm: HelmRenderer,
    charts: BundledCharts,
    ceiling: Ceiling,
    bounds: Bounds,
    /// Ingress annotations the operator allows (exact keys).
    ingress_annotations: Vec<String>,
}

impl Conformance {
    /// Checks with `helm`, resolving bundled charts from `charts`, against the default
    /// per-store ceiling.
    pub fn new(helm: HelmRenderer, charts: BundledCharts) -> Self {
        Self {
            helm,
            charts,
            ceiling: Ceiling::default(),
            bounds: Bounds::default(),
            ingress_annotations: Vec::new(),
        }
    }

    /// Lets store Ingresses carry these annotations (exact keys; none by default).
    #[must_use]
    pub fn with_ingress_annotations(mut self, allowed: Vec<String>) -> Self {
        self.ingress_annotations = allowed;
        self
    }

    /// Holds every count, size and duration of a plan to `bounds`.
    #[must_use]
    pub fn with_bounds(mut self, bounds: Bounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// Refuses plans that would use more than `ceiling` (the operator's per-store maximum).
    #[must_use]
    pub fn with_ceiling(mut self, ceiling: Ceiling) -> Self {
        self.ceiling = ceiling;
        self
    }

    /// Renders `plan` for `spec` and checks every object.
    pub async fn render_and_check(
        &self,
        info: &EngineInfo,
        spec: &StoreSpec,
        plan: &DeploymentPlan,
    ) -> RenderReport {
        let fail = |problem: String| RenderReport {
            manifests: Vec::new(),
            footprint: Footprint::default(),
            problems: vec![problem],
            over_ceiling: None,
            render_detail: None,
        };
        // An embedded chart is written to a temp file that lives until rendering is done.
        let mut _embedded = None;
        let chart: PathBuf = match &info.chart {
            ChartSource::Bundled(name) => match self.charts.path(name) {
                Ok(Some(path)) => path,
                Ok(None) => {
                    let known: Vec<_> = BundledCharts::names().collect();
                    return fail(format!(
                        "bundled chart {name:?} does not exist (this host ships: {})",
                        known.join(", ")
                    ));
                }
                Err(err) => return fail(format!("cannot write out bundled chart {name:?}: {err}")),
            },
            ChartSource::Embedded(bytes) => {
                match tempfile::Builder::new()
                    .suffix(".tgz")
                    .tempfile()
                    .and_then(|mut file| {
                        std::io::Write::write_all(&mut file, bytes)?;
                        Ok(file)
                    }) {
                    Ok(file) => {
                        let path = file.path().to_path_buf();
                        _embedded = Some(file);
                        path
                    }
                    Err(err) => return fail(format!("cannot write the embedded chart: {err}")),
                }
            }
        };
        let values = with_host_values(&plan.values, spec);
        match self
            .helm
            .template(
                &chart,
                &spec.namespace,
                &spec.namespace,
                &values,
                matches!(info.chart, ChartSource::Bundled(_)),
            )
            .await
        {
            Ok(manifests) => {
                let mut problems = check_manifests(info, spec, plan, &manifests);
                problems.extend(names::check_names(&manifests));
                problems.extend(references::check_references(&manifests));
                problems.extend(ports::check_ports(&manifests));
                problems.extend(volume_access::check_volume_access(&manifests));
                problems.extend(rollout_settings::check_rollout_settings(&manifests));
                let objects: Vec<_> = manifests.iter().map(|m| m.object.clone()).collect();
                problems.extend(crate::k8s::pod_security_baseline::violations(&objects));
                problems.extend(bounds::check_bounds(&manifests, plan, &self.bounds));
                problems.extend(exposure::check_exposure(
                    &manifests,
                    spec,
                    &self.ingress_annotations,
                ));
                let (footprint, over_ceiling) = match Footprint::of(&objects, &CONTAINER_LIMITS) {
                    Ok(footprint) => (footprint, footprint.exceeds(&self.ceiling)),
                    Err(found) => {
                        problems.extend(found);
                        (Footprint::default(), None)
                    }
                };
                RenderReport {
                    manifests,
                    footprint,
                    problems,
                    over_ceiling,
                    render_detail: None,
                }
            }
            Err(err) => RenderReport {
                render_detail: Some(err.detail()),
                ..fail(format!("rendering the chart failed: {}", err.short()))
            },
        }
    }
}

/// Key of the values the host adds to every render, over whatever the plan put there.
pub const HOST_VALUES_KEY: &str = "storeplane";

/// `values` with the host's own under [`HOST_VALUES_KEY`]: the operator's settings and the
/// store's identity, so any chart (bundled or embedded) can use them without the plugin
/// copying them: `storeId`, `namespace`, `hostname`, `tls`, `ingressClass`, `storageClass`
/// (empty for the cluster's default) and `credentialsSecret`.
pub fn with_host_values(
    values: &serde_json::Map<String, serde_json::Value>,
    spec: &StoreSpec,
) -> serde_json::Map<String, serde_json::Value> {
    let mut values = values.clone();
    values.insert(
        HOST_VALUES_KEY.to_owned(),
        serde_json::json!({
            "storeId": spec.store_id,
            "namespace": spec.namespace,
            "hostname": spec.hostname,
            "tls": spec.tls,
            "ingressClass": spec.ingress_class.clone().unwrap_or_default(),
            "storageClass": spec.storage_class.clone().unwrap_or_default(),
            "credentialsSecret": spec.credentials_secret,
        }),
    );
    values
}

impl PlanValidator for Conformance {
    fn validate<'a>(
        &'a self,
        info: &'a EngineInfo,
        plans: &'a [(StoreSpec, DeploymentPlan)],
    ) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>> {
        Box::pin(async move {
            // One line per problem, naming the sample stores that have it.
            let mut found: Vec<(String, Vec<String>)> = Vec::new();
            let mut containers = std::collections::BTreeSet::new();
            for (spec, plan) in plans {
                let report = self.render_and_check(info, spec, plan).await;
                containers.extend(grants::container_names(&report.manifests));
                // Validation answers the administrator uploading the plugin: helm's own words.
                let problems = match report.render_detail {
                    Some(detail) => vec![format!("rendering the chart failed: {detail}")],
                    None => report.problems,
                };
                for problem in problems {
                    match found.iter_mut().find(|(p, _)| *p == problem) {
                        Some((_, stores)) => stores.push(spec.store_id.clone()),
                        None => found.push((problem, vec![spec.store_id.clone()])),
                    }
                }
            }
            let mut problems: Vec<String> = found
                .into_iter()
                .map(|(problem, stores)| format!("{problem} (sample store {})", stores.join(", ")))
                .collect();
            if !plans.is_empty() {
                problems.extend(grants::unused_grants(info, &containers));
            }
            problems
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_values_override_what_the_plan_put_under_their_key() {
        let spec = crate::plugins::samples::sample_spec("1a2b3c4d", serde_json::json!({}), true);
        let mut plan = serde_json::Map::new();
        plan.insert("replicas".into(), serde_json::json!(2));
        plan.insert(
            HOST_VALUES_KEY.into(),
            serde_json::json!({"hostname": "evil.example.com"}),
        );
        let values = with_host_values(&plan, &spec);
        assert_eq!(values["replicas"], 2);
        let host = &values[HOST_VALUES_KEY];
        assert_eq!(host["hostname"], spec.hostname.as_str());
        assert_eq!(host["storeId"], "1a2b3c4d");
        assert_eq!(host["namespace"], spec.namespace.as_str());
        assert_eq!(host["tls"], true);
        assert_eq!(host["credentialsSecret"], spec.credentials_secret.as_str());
    }
}
