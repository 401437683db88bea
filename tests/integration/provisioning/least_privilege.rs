//! The control plane's own Kubernetes account, with exactly the rights and admission policies
//! its chart installs (rendered by helm into the fake), tries each escalation an attacker who
//! took over the host would try. Each is refused with a 403 naming the rule: RBAC where the
//! ClusterRole grants nothing, the escalation check where a binding would grant more than the
//! host holds, and the chart's ValidatingAdmissionPolicies where RBAC alone cannot tell a store
//! namespace from any other.

use serde_json::{Value, json};
use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::{ADMIN_TOKEN, HOST_TOKEN, Settings};

use super::Rig;

struct Attempt {
    what: &'static str,
    method: reqwest::Method,
    path: String,
    body: Value,
    refusal: &'static str,
}

fn attempt(
    what: &'static str,
    method: reqwest::Method,
    path: &str,
    body: Value,
    refusal: &'static str,
) -> Attempt {
    Attempt {
        what,
        method,
        path: path.to_owned(),
        body,
        refusal,
    }
}

fn host_job() -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "own-the-node"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
               "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
               "containers": [{"name": "c", "image": "busybox", "command": ["sh"],
                               "volumeMounts": [{"name": "root", "mountPath": "/host"}]}]}}}})
}

fn binding(namespace: &str, role: &str, subject: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
           "metadata": {"name": "escalate", "namespace": namespace},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": [subject]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_account_cannot_reach_past_store_namespaces() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let store = "store-mine";
    rig.cluster_with_namespace(store).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", rig.fake.addr);
    let send = |token: &'static str, method: reqwest::Method, path: String, body: Value| {
        let request = http
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(token);
        let request = match method.as_str() {
            "PATCH" => request
                .header("content-type", "application/merge-patch+json")
                .body(body.to_string()),
            "POST" | "PUT" => request.json(&body),
            _ => request,
        };
        async move {
            let answer = request.send().await.expect("request");
            let code = answer.status().as_u16();
            (code, answer.json::<Value>().await.unwrap_or_default())
        }
    };
    // A pod to exec into in kube-system, as an administrator creates it.
    let (code, _) = send(
        ADMIN_TOKEN,
        reqwest::Method::POST,
        "/api/v1/namespaces/kube-system/pods".into(),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "coredns"},
               "spec": {"containers": [{"name": "coredns", "image": "coredns/coredns:1.12.0"}]}}),
    )
    .await;
    assert_eq!(code, 201);

    let me = json!({"kind": "ServiceAccount", "name": "storeplane", "namespace": "storeplane"});
    let store_default = json!({"kind": "ServiceAccount", "name": "default", "namespace": store});
    let attempts = [
        attempt(
            "mint a token Secret in kube-system",
            reqwest::Method::POST,
            "/api/v1/namespaces/kube-system/secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                   "metadata": {"name": "steal", "annotations": {"kubernetes.io/service-account.name": "namespace-controller"}}}),
            r#"cannot create resource "secrets" in API group "" in the namespace "kube-system""#,
        ),
        attempt(
            "read every Secret in the cluster",
            reqwest::Method::GET,
            "/api/v1/secrets",
            Value::Null,
            r#"cannot list resource "secrets" in API group "" at the cluster scope"#,
        ),
        attempt(
            "exec into a kube-system pod",
            reqwest::Method::GET,
            "/api/v1/namespaces/kube-system/pods/coredns/exec?command=sh&stdout=true",
            Value::Null,
            r#"cannot get resource "pods/exec" in API group "" in the namespace "kube-system""#,
        ),
        attempt(
            "run a hostPath Job in kube-system",
            reqwest::Method::POST,
            "/apis/batch/v1/namespaces/kube-system/jobs",
            host_job(),
            r#"cannot create resource "jobs" in API group "batch" in the namespace "kube-system""#,
        ),
        attempt(
            "run a hostPath Job in default",
            reqwest::Method::POST,
            "/apis/batch/v1/namespaces/default/jobs",
            host_job(),
            r#"cannot create resource "jobs" in API group "batch" in the namespace "default""#,
        ),
        attempt(
            "bind cluster-admin cluster-wide",
            reqwest::Method::POST,
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "escalate"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                   "subjects": [me.clone()]}),
            r#"cannot create resource "clusterrolebindings""#,
        ),
        attempt(
            "bind cluster-admin in its own store namespace",
            reqwest::Method::POST,
            &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{store}/rolebindings"),
            binding(store, "cluster-admin", me.clone()),
            "is attempting to grant RBAC permissions not currently held",
        ),
        attempt(
            "bind its store role in kube-system",
            reqwest::Method::POST,
            "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings",
            binding("kube-system", "storeplane-store", me.clone()),
            "only writes in namespaces labelled app.kubernetes.io/managed-by=storeplane",
        ),
        attempt(
            "give a store's pods its store role",
            reqwest::Method::POST,
            &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{store}/rolebindings"),
            binding(store, "storeplane-store", store_default),
            "only binds its store role, storeplane-store, to itself",
        ),
        attempt(
            "label kube-system as a store namespace",
            reqwest::Method::PATCH,
            "/api/v1/namespaces/kube-system",
            json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "storeplane"}}}),
            "only writes namespaces named store-*",
        ),
        attempt(
            "delete kube-system",
            reqwest::Method::DELETE,
            "/api/v1/namespaces/kube-system",
            Value::Null,
            "only changes or deletes namespaces it created",
        ),
        attempt(
            "create a namespace that is not a store's",
            reqwest::Method::POST,
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "kube-evil", "labels": {"app.kubernetes.io/managed-by": "storeplane",
                                "pod-security.kubernetes.io/enforce": "baseline"}}}),
            "only writes namespaces named store-*",
        ),
        attempt(
            "let a store namespace run privileged pods",
            reqwest::Method::PATCH,
            &format!("/api/v1/namespaces/{store}"),
            json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}),
            "enforce Pod Security baseline or restricted",
        ),
    ];
    for attempt in attempts {
        let (code, status) = send(HOST_TOKEN, attempt.method, attempt.path, attempt.body).await;
        let message = status["message"].as_str().unwrap_or_default();
        assert_eq!(code, 403, "{}: {status}", attempt.what);
        assert_eq!(status["reason"], "Forbidden", "{}: {status}", attempt.what);
        assert!(
            message.contains(attempt.refusal),
            "{}: {message:?} should contain {:?}",
            attempt.what,
            attempt.refusal
        );
    }
    assert!(
        rig.fake
            .object("v1", "Namespace", "", "kube-system")
            .is_some_and(|ns| ns
                .pointer("/metadata/labels/app.kubernetes.io~1managed-by")
                .is_none())
    );

    // The same account does its work in the store namespace: the refusals above are the rules,
    // not a host that can do nothing.
    let (code, status) = send(
        HOST_TOKEN,
        reqwest::Method::POST,
        format!("/api/v1/namespaces/{store}/secrets"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "store-credentials"}}),
    )
    .await;
    assert_eq!(code, 201, "{status}");
    let (code, status) = send(
        HOST_TOKEN,
        reqwest::Method::PATCH,
        format!("/api/v1/namespaces/{store}"),
        json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}),
    )
    .await;
    assert_eq!(code, 200, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_before_the_store_role_still_shows_its_credentials() {
    // A store an older build provisioned has no binding of the store role in its namespace
    // (that build held cluster-wide rights): reading its credentials binds it, as provisioning
    // does, instead of failing with the API server's 403.
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = super::create_store(&host, &owner, "older", "woocommerce").await;
    super::wait_status(
        &host,
        &owner,
        &id,
        "ready",
        std::time::Duration::from_secs(60),
    )
    .await;
    let namespace = format!("store-{id}");
    let removed = reqwest::Client::new()
        .delete(format!(
            "http://{}/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings/storeplane",
            rig.fake.addr
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("delete the binding");
    assert_eq!(removed.status().as_u16(), 200);
    let credentials = host
        .get(
            &format!("/api/v1/stores/{id}/credentials"),
            Some(&owner.token),
        )
        .await;
    let trail: Vec<String> = rig
        .fake
        .authorizations()
        .into_iter()
        .filter(|d| {
            d.attributes.namespace == namespace
                && matches!(
                    d.attributes.resource.as_str(),
                    "secrets" | "rolebindings" | "selfsubjectaccessreviews"
                )
        })
        .map(|d| {
            format!(
                "{} {:?} {}",
                d.allowed, d.attributes.verb, d.attributes.resource
            )
        })
        .collect();
    assert_eq!(
        credentials.status.as_u16(),
        200,
        "{}\n{trail:#?}\n{}",
        credentials.body,
        host.logs().join("\n")
    );
    assert!(
        rig.fake
            .object(
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                &namespace,
                "storeplane"
            )
            .is_some(),
        "bound again"
    );
    let refused = rig
        .fake
        .authorizations()
        .into_iter()
        .any(|d| !d.allowed && d.attributes.resource == "secrets");
    assert!(
        refused,
        "the first read really was refused (the binding was gone)"
    );
}
