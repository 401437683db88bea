//! Waiting for a store's workloads to be ready, by watching (not polling) its Deployments,
//! StatefulSets and Pods; failing fast when a pod cannot be created (admission refused it) or
//! cannot start for good (an image that does not exist, a wrong pod spec, a container that
//! keeps crashing after 5 restarts), and after a grace period when it waits for a node (a
//! cluster autoscaler adding one) or an image pull that may heal (a registry's 429), with the
//! reason; a time-out names the last warning (a failing probe, a volume that cannot be
//! mounted) about a pod that is not ready.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt as _};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde::de::DeserializeOwned;

use super::cluster::Cluster;
use super::error::{KubeError, Result, retrying, within};

/// Container states that will not heal by waiting: the pod spec or the image reference is
/// wrong.
const FATAL_WAITING: &[&str] = &[
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Image pull failures that waiting cannot fix (the image or the right to it does not
/// exist); anything else (a registry's 429, a timeout) is retried by the kubelet.
const PERMANENT_PULL_ERRORS: &[&str] = &[
    "not found",
    "manifest unknown",
    "unauthorized",
    "denied",
    "invalid reference format",
];

/// Restarts after which a crash-looping container is given up on (the kubelet's back-off
/// has then reached minutes: 10 s, 20 s, 40 s, 80 s, 160 s).
const CRASH_RESTARTS: i32 = 5;

/// How long a Deployment's `ReplicaFailure` must stand before it fails the wait: long enough
/// for the controllers to replace a condition left from the last attempt, short enough to
/// fail a refused store at once in human terms.
const REFUSAL_SETTLE: Duration = Duration::from_secs(2);

/// How much of a warning event's message a time-out repeats.
const WARNING_MESSAGE_CHARS: usize = 300;

/// A workload to wait for: `Deployment` or `StatefulSet`, and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: String,
    pub name: String,
}

/// How waiting ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// A pod cannot start; the reason names the pod and the cause.
    Failed(String),
    /// Still not ready after the time limit; says what is missing.
    TimedOut(String),
}

/// What the watches have seen so far.
#[derive(Debug, Default)]
struct Seen {
    deployments: BTreeMap<String, Deployment>,
    statefulsets: BTreeMap<String, StatefulSet>,
    pods: BTreeMap<String, Pod>,
    /// Warning events: a StatefulSet controller reports pods admission refused only there.
    events: BTreeMap<String, Event>,
    /// Events from before this (a failed attempt before a retry) are history.
    events_since: Option<k8s_openapi::jiff::Timestamp>,
    /// When each pod was first seen waiting for a node or an image (it may heal).
    trouble_since: BTreeMap<String, Instant>,
    /// Since when a Deployment's `ReplicaFailure` has been seen without a break.
    refused_since: Option<Instant>,
}

/// A pod that has not started, and whether that can heal.
enum Trouble {
    /// Waiting may fix it (a node being added, a registry throttling); says why.
    Healing(String),
    Fatal(String),
}

enum Change {
    Deployment(WatchEvent<Deployment>),
    StatefulSet(WatchEvent<StatefulSet>),
    Pod(WatchEvent<Pod>),
    Event(WatchEvent<Event>),
    /// One of the watches ended (server timeout, expiry): list and watch again.
    Ended,
}

fn name_of(meta: &kube::api::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

/// Records one event; `false` when the watch reported an error (expired: list again).
fn apply_event<K: kube::Resource>(map: &mut BTreeMap<String, K>, event: WatchEvent<K>) -> bool {
    match event {
        WatchEvent::Added(obj) | WatchEvent::Modified(obj) => {
            map.insert(name_of(obj.meta()), obj);
            true
        }
        WatchEvent::Deleted(obj) => {
            map.remove(&name_of(obj.meta()));
            true
        }
        WatchEvent::Bookmark(_) => true,
        WatchEvent::Error(_) => false,
    }
}

impl Seen {
    fn missing(&self, workloads: &[Workload]) -> Vec<String> {
        workloads
            .iter()
            .filter(|w| !self.is_ready(w))
            .map(|w| format!("{}/{}", w.kind, w.name))
            .collect()
    }

    fn is_ready(&self, workload: &Workload) -> bool {
        match workload.kind.as_str() {
            // A rolling update runs the new pods beside the old ones, which stay ready until
            // the new ones are available: ready counts include old pods. Done is as `kubectl
            // rollout status` says: every replica updated, no old one left, the updated ones
            // available.
            "Deployment" => self.deployments.get(&workload.name).is_some_and(|d| {
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let generation = d.metadata.generation.unwrap_or(0);
                d.status.as_ref().is_some_and(|s| {
                    let updated = s.updated_replicas.unwrap_or(0);
                    s.observed_generation.unwrap_or(0) >= generation
                        && updated >= want
                        && s.replicas.unwrap_or(0) <= updated
                        && s.available_replicas.unwrap_or(0) >= updated
                        && s.ready_replicas.unwrap_or(0) >= want
                })
            }),
            // The controller records a new generation before it replaces any pod, while the
            // old pods are still ready: only updated replicas, and the update revision being
            // the current one, say the roll-out is done (as `kubectl rollout status`).
            "StatefulSet" => self.statefulsets.get(&workload.name).is_some_and(|d| {
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let generation = d.metadata.generation.unwrap_or(0);
                d.status.as_ref().is_some_and(|s| {
                    s.observed_generation.unwrap_or(0) >= generation
                        && s.updated_replicas.unwrap_or(0) >= want
                        && s.ready_replicas.unwrap_or(0) >= want
                        && (s.update_revision.is_none() || s.update_revision == s.current_revision)
                })
            }),
            _ => false,
        }
    }

    /// The first workload whose controller cannot create its pods (the ReplicaSet's
    /// `ReplicaFailure` condition, copied onto the Deployment: a quota, LimitRange or Pod
    /// Security refusal, once it has stood for `REFUSAL_SETTLE`), or the first pod that cannot
    /// start, with why.
    fn failure(&mut self, now: Instant) -> Option<String> {
        let refused = self.deployments.values().find_map(|d| {
            // "status unknown for quota" heals once the quota controller catches up (the
            // ReplicaSet controller keeps trying); anything else admission says stays.
            let condition = d.status.as_ref()?.conditions.iter().flatten().find(|c| {
                c.type_ == "ReplicaFailure"
                    && c.status == "True"
                    && !c
                        .message
                        .as_deref()
                        .is_some_and(|m| m.contains("status unknown for quota"))
            })?;
            Some(format!(
                "Deployment {} cannot create its pods ({}): {}",
                name_of(&d.metadata),
                condition.reason.as_deref().unwrap_or("ReplicaFailure"),
                condition.message.as_deref().unwrap_or("no message")
            ))
        });
        // A refusal must stand for a moment: right after an apply the Deployment can still
        // carry the last attempt's (a ReplicaSet being scaled down keeps its condition until
        // its controller syncs), e.g. when a rollback brings back the template that ran.
        match refused {
            Some(reason) => {
                let since = *self.refused_since.get_or_insert(now);
                if now.duration_since(since) >= REFUSAL_SETTLE {
                    return Some(reason);
                }
            }
            None => self.refused_since = None,
        }
        // A StatefulSet controller reports a pod admission refused only as a Warning event.
        let refused = self.events.values().find_map(|e| {
            // Events written through events.k8s.io carry `eventTime` and no `lastTimestamp`;
            // one with no time at all is treated as old, so a retry is not failed by history.
            let at = event_time(e).or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
            let recent = match (&self.events_since, at) {
                (Some(since), Some(at)) => at >= *since,
                (None, _) => true,
                (Some(_), None) => false,
            };
            let message = e.message.as_deref().unwrap_or_default();
            (recent
                && e.reason.as_deref() == Some("FailedCreate")
                && e.involved_object.kind.as_deref() == Some("StatefulSet")
                && !message.contains("status unknown for quota"))
            .then(|| {
                format!(
                    "StatefulSet {} cannot create its pods (FailedCreate): {message}",
                    e.involved_object.name.as_deref().unwrap_or_default()
                )
            })
        });
        if refused.is_some() {
            return refused;
        }
        // A container that keeps crashing says little by itself: the pod's last warning (a
        // failing startup probe that got it killed, say) tells why.
        self.pods
            .iter()
            .find_map(|(name, pod)| match trouble(pod)? {
                Trouble::Fatal(reason) => Some(match self.last_warning_about(&[name.as_str()]) {
                    Some(warning) => format!("{reason}; last warning: {warning}"),
                    None => reason,
                }),
                Trouble::Healing(_) => None,
            })
    }

    /// The `matchLabels` of a workload's pod selector.
    fn selector(&self, workload: &Workload) -> Option<&BTreeMap<String, String>> {
        let selector = match workload.kind.as_str() {
            "Deployment" => {
                &self
                    .deployments
                    .get(&workload.name)?
                    .spec
                    .as_ref()?
                    .selector
            }
            "StatefulSet" => {
                &self
                    .statefulsets
                    .get(&workload.name)?
                    .spec
                    .as_ref()?
                    .selector
            }
            _ => return None,
        };
        selector.match_labels.as_ref()
    }

    /// Names of the pods of `workloads` not ready yet (a pod's labels hold one's whole
    /// selector).
    fn unready_pods(&self, workloads: &[Workload]) -> Vec<&str> {
        let selectors: Vec<&BTreeMap<String, String>> = workloads
            .iter()
            .filter(|w| !self.is_ready(w))
            .filter_map(|w| self.selector(w))
            .collect();
        self.pods
            .iter()
            .filter(|(_, pod)| !pod_ready(pod))
            .filter(|(_, pod)| {
                let labels = pod.metadata.labels.as_ref();
                selectors.iter().any(|selector| {
                    selector
                        .iter()
                        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
                })
            })
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Why the pods of `workloads` are not ready, for a time-out's reason: the last Warning
    /// event about one of them — a failing probe ("pod web-1, container web: Readiness probe
    /// failed: HTTP probe failed with statuscode: 403"), a volume the kubelet cannot mount
    /// (`FailedMount`), ... (events of pods gone are history) — or else what the first one's
    /// `Ready` condition says (`ReadinessGatesNotReady: corresponding condition of pod
    /// readiness gate …`).
    fn why_unready(&self, workloads: &[Workload]) -> Option<String> {
        let unready = self.unready_pods(workloads);
        if let Some(warning) = self.last_warning_about(&unready) {
            return Some(warning);
        }
        unready.iter().find_map(|name| {
            let condition = self
                .pods
                .get(*name)?
                .status
                .as_ref()?
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "Ready" && c.status != "True")?;
            let reason = condition.reason.as_deref().unwrap_or("NotReady");
            let message = cut(condition.message.as_deref().unwrap_or_default());
            Some(format!("pod {name}: {reason}: {message}"))
        })
    }

    /// The last Warning event about one of `pods`, with the pod and container it names
    /// ("pod web-1, container web: Readiness probe failed: …"), cut; not `BackOff` ("Back-off
    /// restarting failed container …"), which the kubelet repeats and which says nothing of why.
    fn last_warning_about(&self, pods: &[&str]) -> Option<String> {
        let e = self
            .events
            .values()
            .filter(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() != Some("BackOff")
                    && e.involved_object.kind.as_deref() == Some("Pod")
                    && pods.contains(&e.involved_object.name.as_deref().unwrap_or_default())
            })
            .max_by_key(|e| event_time(e))?;
        let container = e
            .involved_object
            .field_path
            .as_deref()
            .and_then(|p| p.strip_prefix("spec.containers{"))
            .and_then(|p| p.strip_suffix('}'))
            .map(|c| format!(", container {c}"))
            .unwrap_or_default();
        // An `exec` probe's message holds what its command printed (up to 10 KiB).
        let message = cut(e.message.as_deref().unwrap_or_default());
        let pod = e.involved_object.name.as_deref().unwrap_or_default();
        Some(format!("pod {pod}{container}: {message}"))
    }

    /// The first pod that has been waiting for a node or an image longer than `grace`, with
    /// why; remembers since when each troubled pod has been waiting.
    fn stuck(&mut self, now: Instant, grace: Duration) -> Option<String> {
        let mut stuck = None;
        let mut troubled = BTreeMap::new();
        for (name, pod) in &self.pods {
            if let Some(Trouble::Healing(reason)) = trouble(pod) {
                let since = self.trouble_since.get(name).copied().unwrap_or(now);
                troubled.insert(name.clone(), since);
                if stuck.is_none() && now.duration_since(since) >= grace {
                    stuck = Some(format!(
                        "{reason}, for {} s",
                        now.duration_since(since).as_secs()
                    ));
                }
            }
        }
        self.trouble_since = troubled;
        stuck
    }
}

/// Whether `pod` is running, not being deleted, and `Ready`.
pub(super) fn pod_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod.status.as_ref().is_some_and(|s| {
            s.phase.as_deref() == Some("Running")
                && s.conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

/// `message` cut at `WARNING_MESSAGE_CHARS` characters.
fn cut(message: &str) -> String {
    match message.char_indices().nth(WARNING_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

/// When an event last happened: `lastTimestamp`, or `eventTime` for one written through
/// events.k8s.io.
fn event_time(event: &Event) -> Option<k8s_openapi::jiff::Timestamp> {
    event
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
}

/// Why `pod` has not started, if it has not: waiting for a node or an image pull that may
/// heal, or a cause that will not.
fn trouble(pod: &Pod) -> Option<Trouble> {
    let name = name_of(&pod.metadata);
    let status = pod.status.as_ref()?;
    let unschedulable = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    });
    if let Some(condition) = unschedulable {
        return Some(Trouble::Healing(format!(
            "pod {name} cannot be scheduled: {}",
            condition.message.as_deref().unwrap_or("Unschedulable")
        )));
    }
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .find_map(|c| {
            let waiting = c.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref()?;
            let message = waiting.message.as_deref().unwrap_or_default();
            let text = format!(
                "pod {name}: container {} is in {reason}{}",
                c.name,
                if message.is_empty() {
                    String::new()
                } else {
                    format!(" ({message})")
                }
            );
            match reason {
                r if FATAL_WAITING.contains(&r) => Some(Trouble::Fatal(text)),
                "ErrImagePull" | "ImagePullBackOff" => {
                    let lower = message.to_ascii_lowercase();
                    if PERMANENT_PULL_ERRORS.iter().any(|m| lower.contains(m)) {
                        Some(Trouble::Fatal(text))
                    } else {
                        Some(Trouble::Healing(text))
                    }
                }
                "CrashLoopBackOff" if c.restart_count >= CRASH_RESTARTS => {
                    let exit = c
                        .last_state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .map(|t| {
                            format!(
                                ", last exit code {} ({})",
                                t.exit_code,
                                t.reason.as_deref().unwrap_or("unknown")
                            )
                        })
                        .unwrap_or_default();
                    Some(Trouble::Fatal(format!(
                        "{text} after {} restarts{exit}",
                        c.restart_count
                    )))
                }
                _ => None,
            }
        })
}

type ChangeStream = Pin<Box<dyn Stream<Item = Result<Change>> + Send>>;

impl Cluster {
    /// Deletes the pods in `namespace` that cannot start (their controllers make new ones);
    /// returns their names.
    pub async fn delete_failed_pods(&self, namespace: &str) -> Result<Vec<String>> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pods = retrying(|| {
            within(self.call_timeout, async {
                Ok(api.list(&ListParams::default()).await?)
            })
        })
        .await?;
        let mut deleted = Vec::new();
        for pod in pods.items {
            let name = name_of(&pod.metadata);
            let crashing = pod
                .status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
                .any(|c| {
                    c.state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .and_then(|w| w.reason.as_deref())
                        == Some("CrashLoopBackOff")
                });
            if trouble(&pod).is_none() && !crashing {
                continue;
            }
            retrying(|| {
                within(self.call_timeout, async {
                    match api.delete(&name, &kube::api::DeleteParams::default()).await {
                        Ok(_) => Ok(()),
                        Err(err) => match KubeError::from(err) {
                            KubeError::NotFound(_) => Ok(()),
                            other => Err(other),
                        },
                    }
                })
            })
            .await?;
            deleted.push(name);
        }
        Ok(deleted)
    }

    /// Lists then watches `K` in `namespace`, filling `into`; returns the watch stream.
    async fn list_and_watch<K>(
        &self,
        namespace: &str,
        into: &mut BTreeMap<String, K>,
        wrap: fn(WatchEvent<K>) -> Change,
    ) -> Result<ChangeStream>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let list = retrying(|| {
            within(self.call_timeout, async {
                Ok(api.list(&ListParams::default()).await?)
            })
        })
        .await?;
        let version = list.metadata.resource_version.clone().unwrap_or_default();
        into.clear();
        for item in list.items {
            into.insert(name_of(item.meta()), item);
        }
        let params = WatchParams::default().timeout(60).disable_bookmarks();
        let stream = within(self.call_timeout, async {
            Ok(api.watch(&params, &version).await?)
        })
        .await?;
        let ended = futures::stream::once(async { Ok(Change::Ended) });
        Ok(Box::pin(
            stream
                .map(move |event| event.map(wrap).map_err(KubeError::from))
                .chain(ended),
        ))
    }

    /// Waits until every workload in `workloads` is ready, a pod fails to start, or `limit`
    /// passes. Cluster errors are returned (transient ones heal by calling again).
    pub async fn wait_ready(
        &self,
        namespace: &str,
        workloads: &[Workload],
        limit: Duration,
        grace: Duration,
    ) -> Result<Readiness> {
        let deadline = tokio::time::Instant::now() + limit;
        // Refusals reported while the objects were applied, just before, count; those of an
        // earlier attempt do not.
        let mut seen = Seen {
            events_since: k8s_openapi::jiff::Timestamp::now()
                .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(5))
                .ok(),
            ..Seen::default()
        };
        loop {
            let streams = vec![
                self.list_and_watch(namespace, &mut seen.deployments, Change::Deployment)
                    .await?,
                self.list_and_watch(namespace, &mut seen.statefulsets, Change::StatefulSet)
                    .await?,
                self.list_and_watch(namespace, &mut seen.pods, Change::Pod)
                    .await?,
                self.list_and_watch(namespace, &mut seen.events, Change::Event)
                    .await?,
            ];
            let mut changes = futures::stream::select_all(streams);
            loop {
                if let Some(reason) = seen.failure(std::time::Instant::now()) {
                    return Ok(Readiness::Failed(reason));
                }
                if let Some(reason) = seen.stuck(std::time::Instant::now(), grace) {
                    return Ok(Readiness::Failed(reason));
                }
                let missing = seen.missing(workloads);
                if missing.is_empty() {
                    return Ok(Readiness::Ready);
                }
                // Wake up when a troubled pod's grace or a refusal's settling time ends, even
                // if nothing changes.
                let wake = seen
                    .trouble_since
                    .values()
                    .map(|since| *since + grace)
                    .chain(seen.refused_since.map(|since| since + REFUSAL_SETTLE))
                    .min()
                    .map(tokio::time::Instant::from_std)
                    .map_or(deadline, |w| w.min(deadline));
                let Ok(next) = tokio::time::timeout_at(wake, changes.next()).await else {
                    if tokio::time::Instant::now() < deadline {
                        continue;
                    }
                    let why = seen
                        .why_unready(workloads)
                        .map(|reason| format!(" ({reason})"))
                        .unwrap_or_default();
                    return Ok(Readiness::TimedOut(format!(
                        "not ready: {}{why}",
                        missing.join(", ")
                    )));
                };
                let still_watching = match next {
                    Some(Ok(Change::Deployment(e))) => apply_event(&mut seen.deployments, e),
                    Some(Ok(Change::StatefulSet(e))) => apply_event(&mut seen.statefulsets, e),
                    Some(Ok(Change::Pod(e))) => apply_event(&mut seen.pods, e),
                    Some(Ok(Change::Event(e))) => apply_event(&mut seen.events, e),
                    Some(Ok(Change::Ended)) | None => false,
                    Some(Err(err)) => return Err(err),
                };
                if !still_watching {
                    break;
                }
            }
        }
    }
}
