//! The host's rights inside a store namespace. Cluster-wide it may only manage namespaces and
//! bind one role, the store role (`STORE_ROLE`); right after creating a store's namespace it
//! binds that role to its own account there (a RoleBinding), and does everything else through
//! it. Who "its own account" is comes from the API server (SelfSubjectReview), so any
//! kubeconfig works. RBAC changes reach the API server's authorizer a moment after they are
//! stored, so the host asks (SelfSubjectAccessReview) until the binding is in effect.

use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use super::cluster::Cluster;
use super::error::{KubeError, Result, retrying, within};
use super::guard::{FIELD_MANAGER, STORE_LABEL};

/// Name of the RoleBinding the host creates in each store namespace.
pub const STORE_BINDING: &str = "storeplane";

/// How soon the host first asks again whether a new binding is in effect, and how long it
/// waits between questions at most: the authorizer usually catches up within milliseconds, so
/// the wait doubles from a short start.
const FIRST_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(500);

/// The RBAC subject of a Kubernetes user name: a ServiceAccount for
/// `system:serviceaccount:<namespace>:<name>`, otherwise a User.
fn subject_of(user: &str) -> Value {
    match user
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
    {
        Some((namespace, name)) => {
            json!({"kind": "ServiceAccount", "name": name, "namespace": namespace})
        }
        None => json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}),
    }
}

/// The RoleBinding giving `user` the store role `role` in `namespace`.
pub(super) fn store_binding(namespace: &str, store_id: &str, role: &str, user: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {
            "name": STORE_BINDING, "namespace": namespace,
            "labels": {STORE_LABEL: store_id, "app.kubernetes.io/managed-by": FIELD_MANAGER},
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [subject_of(user)],
    })
}

impl Cluster {
    /// The user name the API server knows this client as (asked once, then remembered).
    pub async fn own_user(&self) -> Result<String> {
        if let Some(user) = self.own_user.get() {
            return Ok(user.clone());
        }
        let api: Api<SelfSubjectReview> = Api::all(self.client.clone());
        let review = retrying(|| {
            within(self.call_timeout, async {
                Ok(api
                    .create(&PostParams::default(), &SelfSubjectReview::default())
                    .await?)
            })
        })
        .await?;
        let user = review
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                KubeError::Rejected("the API server did not say who this client is".into())
            })?;
        Ok(self.own_user.get_or_init(|| user).clone())
    }

    /// Binds the store role to the host in `namespace` and waits, up to `limit`, until the API
    /// server authorizes through it.
    pub async fn bind_store_role(
        &self,
        namespace: &str,
        store_id: &str,
        role: &str,
        limit: Duration,
    ) -> Result<()> {
        let user = self.own_user().await?;
        self.apply(namespace, &store_binding(namespace, store_id, role, &user))
            .await?;
        let started = Instant::now();
        let mut poll = FIRST_POLL;
        while !self.may_write_quota(namespace).await? {
            if started.elapsed() >= limit {
                return Err(KubeError::Transient(format!(
                    "the RoleBinding {STORE_BINDING} in namespace {namespace} (role {role}) is not in effect after {}s",
                    limit.as_secs()
                )));
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(MAX_POLL);
        }
        Ok(())
    }

    /// Whether the API server lets the host apply the store's quota in `namespace`: the first
    /// thing it does through the store role.
    async fn may_write_quota(&self, namespace: &str) -> Result<bool> {
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_owned()),
                    verb: Some("patch".into()),
                    resource: Some("resourcequotas".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = retrying(|| {
            within(self.call_timeout, async {
                Ok(api.create(&PostParams::default(), &review).await?)
            })
        })
        .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_account_is_bound_as_one_and_anyone_else_as_a_user() {
        let binding = store_binding(
            "store-a",
            "a",
            "storeplane-store",
            "system:serviceaccount:cp:storeplane",
        );
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "storeplane", "namespace": "cp"}])
        );
        assert_eq!(binding["roleRef"]["name"], "storeplane-store");
        assert_eq!(binding["metadata"]["namespace"], "store-a");
        let admin = store_binding("store-a", "a", "r", "kubernetes-admin");
        assert_eq!(admin["subjects"][0]["kind"], "User");
        assert_eq!(admin["subjects"][0]["name"], "kubernetes-admin");
    }
}
