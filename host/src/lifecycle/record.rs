//! The provisioning record each store keeps (in `stores.progress`): the plan it was planned
//! with (pinned plugin version and digest), the pipeline steps already done and the setup
//! steps already run, and during an upgrade where the upgrade (or its rollback) stands. A
//! resumed, restarted or retried job reads it to continue at the first unfinished step; it
//! holds no secret values (plans never contain any).

use serde::{Deserialize, Serialize};

use crate::plugins::DeploymentPlan;
use crate::plugins::model::SetupStep;

/// The provisioning pipeline, in order (README, "Provisioning").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Plan,
    Namespace,
    Guard,
    Credentials,
    Render,
    Apply,
    Wait,
    Setup,
    Ready,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::Plan,
        Step::Namespace,
        Step::Guard,
        Step::Credentials,
        Step::Render,
        Step::Apply,
        Step::Wait,
        Step::Setup,
        Step::Ready,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Namespace => "namespace",
            Self::Guard => "guard",
            Self::Credentials => "credentials",
            Self::Render => "render",
            Self::Apply => "apply",
            Self::Wait => "wait",
            Self::Setup => "setup",
            Self::Ready => "ready",
        }
    }

    /// 1-based position in the pipeline.
    pub fn index(self) -> i32 {
        Self::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i32::try_from(i + 1).unwrap_or(0))
    }

    /// Whether the step talks to the cluster (and so passes through the circuit breaker).
    pub fn uses_cluster(self) -> bool {
        !matches!(self, Self::Plan | Self::Render | Self::Ready)
    }
}

/// The steps of a delete job.
pub const DELETE_STEPS: [&str; 2] = ["delete-namespace", "wait-gone"];

/// The steps of an upgrade, in order: plan the new version and preview the change (refusing
/// what Kubernetes cannot do), size the quota for old and new side by side, add new secrets,
/// apply, wait, run the upgrade steps and new setup steps, remove what is no longer
/// rendered, switch the store's record to the new plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeStep {
    Preview,
    ResizeQuota,
    AddCredentials,
    ApplyNew,
    WaitNew,
    Migrate,
    Prune,
    Switch,
}

impl UpgradeStep {
    pub const ALL: [Self; 8] = [
        Self::Preview,
        Self::ResizeQuota,
        Self::AddCredentials,
        Self::ApplyNew,
        Self::WaitNew,
        Self::Migrate,
        Self::Prune,
        Self::Switch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preview => "preview",
            Self::ResizeQuota => "resize-quota",
            Self::AddCredentials => "add-credentials",
            Self::ApplyNew => "apply-new",
            Self::WaitNew => "wait-new",
            Self::Migrate => "migrate",
            Self::Prune => "prune",
            Self::Switch => "switch",
        }
    }

    /// Whether the store's objects may have changed once this step began (a failure from
    /// here on needs the old objects back).
    pub fn touches_workloads(self) -> bool {
        !matches!(
            self,
            Self::Preview | Self::ResizeQuota | Self::AddCredentials
        )
    }
}

/// The steps of rolling a failed upgrade back: the quota for both plans, the old objects
/// applied and the new version's additions deleted, a wait for the old workloads, the quota
/// of the old plan and `ready` with the failure recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackStep {
    RollbackQuota,
    RollbackApply,
    RollbackWait,
    RollbackFinish,
}

impl RollbackStep {
    pub const ALL: [Self; 4] = [
        Self::RollbackQuota,
        Self::RollbackApply,
        Self::RollbackWait,
        Self::RollbackFinish,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RollbackQuota => "rollback-quota",
            Self::RollbackApply => "rollback-apply",
            Self::RollbackWait => "rollback-wait",
            Self::RollbackFinish => "rollback-finish",
        }
    }
}

/// The steps of suspending and of resuming a store.
pub const SUSPEND_STEPS: [&str; 2] = ["scale-down", "release-quota"];
pub const RESUME_STEPS: [&str; 3] = ["restore-quota", "scale-up", "wait-ready"];

/// An upgrade in progress: where it goes and how far it got.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpgradeRecord {
    /// The engine version and exact plugin (digest) asked for.
    pub to_version: String,
    pub to_digest: String,
    /// The store's options after the upgrade (its current ones unless a resize changes them).
    pub to_options: serde_json::Value,
    /// The rollout this upgrade belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<i64>,
    /// The new plan, once planned.
    pub plan: Option<PinnedPlan>,
    /// The new version's upgrade steps, asked for when planning.
    pub upgrade_steps: Vec<SetupStep>,
    pub done: Vec<UpgradeStep>,
    /// Names of upgrade steps and new setup steps that finished.
    pub steps_done: Vec<String>,
    /// Set when the upgrade failed: the store goes back to its current plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackRecord>,
}

/// A rollback in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RollbackRecord {
    /// Why the upgrade failed.
    pub reason: String,
    /// The upgrade step it failed at.
    pub failed_at: String,
    /// Whether the store's objects may have changed (else only the record goes back).
    pub touched: bool,
    pub done: Vec<RollbackStep>,
}

/// Where a store's current job is, for `GET /stores/:id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub step: String,
    pub index: i32,
    pub of: i32,
}

/// The progress of a store at `current_step` (a step name of any job).
pub fn progress_of(current_step: Option<&str>) -> Option<Progress> {
    let step = current_step?;
    let provision: Vec<&str> = Step::ALL.iter().map(|s| s.as_str()).collect();
    let upgrade: Vec<&str> = UpgradeStep::ALL.iter().map(|s| s.as_str()).collect();
    let rollback: Vec<&str> = RollbackStep::ALL.iter().map(|s| s.as_str()).collect();
    [
        &provision[..],
        &DELETE_STEPS[..],
        &upgrade[..],
        &rollback[..],
        &SUSPEND_STEPS[..],
        &RESUME_STEPS[..],
    ]
    .into_iter()
    .find_map(|steps| {
        let at = steps.iter().position(|s| *s == step)?;
        Some(Progress {
            step: step.to_owned(),
            index: i32::try_from(at + 1).unwrap_or(0),
            of: i32::try_from(steps.len()).unwrap_or(0),
        })
    })
}

/// The plan a store was planned with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PinnedPlan {
    pub plugin_version: String,
    pub plugin_digest: String,
    pub plan: DeploymentPlan,
}

/// What is done of a store's provisioning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProvisionRecord {
    pub plan: Option<PinnedPlan>,
    pub done: Vec<Step>,
    /// Names of setup steps that finished successfully.
    pub setup_done: Vec<String>,
    /// The upgrade under way, if any (the store is `upgrading`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeRecord>,
}

impl ProvisionRecord {
    /// The record in `value`; an unreadable one starts over (every step is idempotent).
    pub fn from_value(value: &serde_json::Value) -> Self {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub fn is_done(&self, step: Step) -> bool {
        self.done.contains(&step)
    }

    pub fn mark_done(&mut self, step: Step) {
        if !self.is_done(step) {
            self.done.push(step);
        }
    }

    /// A new plan replaces the old one: everything from the guard step (the quota is sized
    /// from the plan) on runs again, except the credentials.
    pub fn replan(&mut self, plan: PinnedPlan) {
        self.plan = Some(plan);
        // The guard step runs again: the quota is sized from what the new plan renders.
        self.done
            .retain(|s| matches!(s, Step::Namespace | Step::Credentials));
        self.done.push(Step::Plan);
        self.setup_done.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_names_the_step_and_its_position() {
        assert_eq!(
            progress_of(Some("wait")),
            Some(Progress {
                step: "wait".into(),
                index: 7,
                of: 9
            })
        );
        assert_eq!(
            progress_of(Some("wait-gone")).map(|p| (p.index, p.of)),
            Some((2, 2))
        );
        assert_eq!(progress_of(None), None);
    }

    #[test]
    fn replanning_keeps_the_namespace_and_credentials_and_forgets_the_rest() {
        let mut record = ProvisionRecord::default();
        for step in Step::ALL {
            record.mark_done(step);
        }
        record.setup_done.push("install".into());
        let plan = PinnedPlan {
            plugin_version: "2.0.0".into(),
            plugin_digest: "d".into(),
            plan: DeploymentPlan {
                values: serde_json::Map::new(),
                setup: Vec::new(),
                endpoints: Vec::new(),
                ready_when: Vec::new(),
                admin_login: None,
            },
        };
        record.replan(plan);
        assert_eq!(
            record.done,
            vec![Step::Namespace, Step::Credentials, Step::Plan]
        );
        assert!(record.setup_done.is_empty());
        let round_trip = ProvisionRecord::from_value(&record.to_value());
        assert_eq!(round_trip, record);
    }
}
