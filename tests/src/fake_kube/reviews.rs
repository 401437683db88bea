//! The self-review APIs every authenticated user may call (`system:basic-user`):
//! `SelfSubjectReview` (who am I, `authentication.k8s.io/v1`) and `SelfSubjectAccessReview`
//! (may I, `authorization.k8s.io/v1`), answered from the same RBAC objects and with the same
//! propagation delay as real requests. An access review is not itself an authorization
//! decision, so it is not recorded among them.

use serde_json::{Value, json};

use super::authz::{self, Attributes, Identity};
use super::objects::ApiError;
use super::state::{FakeState, lock};

/// Answers a POST of the review `plural` with `body`.
pub fn review(
    state: &FakeState,
    who: &Identity,
    plural: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    match plural {
        "selfsubjectreviews" => Ok(json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "SelfSubjectReview",
            "metadata": {},
            "status": {"userInfo": {"username": who.user, "groups": who.groups}},
        })),
        "selfsubjectaccessreviews" => {
            let attributes = body
                .pointer("/spec/resourceAttributes")
                .ok_or_else(|| {
                    ApiError::new(
                        422,
                        "Invalid",
                        "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
                    )
                })?;
            let text = |key: &str| {
                attributes
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let what = Attributes {
                verb: text("verb"),
                group: text("group"),
                resource: text("resource"),
                subresource: text("subresource"),
                namespace: text("namespace"),
                name: text("name"),
            };
            let pending = |kind: &str, ns: &str, name: &str| state.binding_pending(kind, ns, name);
            let allowed = authz::allowed(&lock(&state.objects), who, &what, &pending);
            let mut answer = body.clone();
            answer["apiVersion"] = json!("authorization.k8s.io/v1");
            answer["kind"] = json!("SelfSubjectAccessReview");
            answer["status"] = json!({"allowed": allowed});
            Ok(answer)
        }
        other => Err(ApiError::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({other})"),
        )),
    }
}
