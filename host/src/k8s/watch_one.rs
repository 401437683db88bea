//! Waiting, by watching one object by name (not polling), until a condition on it holds: read
//! it, and while the condition does not hold, watch it from that version; a watch that ends,
//! breaks or expires is followed by a fresh read. Used for "the namespace is gone" and "the
//! quota is enforced".

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, WatchEvent, WatchParams};
use serde::de::DeserializeOwned;

use super::cluster::Cluster;
use super::error::{Result, retrying, within};

impl Cluster {
    /// Waits up to `limit` until `done` holds for object `name` (`None`: it does not exist);
    /// `Ok(false)` when time ran out, an error when `done` says so or the cluster fails.
    pub(super) async fn watch_one<K>(
        &self,
        api: &Api<K>,
        name: &str,
        limit: Duration,
        done: impl Fn(Option<&K>) -> Result<bool>,
    ) -> Result<bool>
    where
        K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    {
        let deadline = tokio::time::Instant::now() + limit;
        let fields = format!("metadata.name={name}");
        loop {
            let current =
                retrying(|| within(self.call_timeout, async { Ok(api.get_opt(name).await?) }))
                    .await?;
            if done(current.as_ref())? {
                return Ok(true);
            }
            let version = current
                .and_then(|c| c.meta().resource_version.clone())
                .unwrap_or_default();
            let params = WatchParams::default().fields(&fields).timeout(30);
            let stream = within(self.call_timeout, async {
                Ok(api.watch(&params, &version).await?)
            })
            .await?;
            let mut stream = std::pin::pin!(stream);
            loop {
                let Ok(next) = tokio::time::timeout_at(deadline, stream.next()).await else {
                    return Ok(false);
                };
                match next {
                    Some(Ok(WatchEvent::Added(object) | WatchEvent::Modified(object))) => {
                        if done(Some(&object))? {
                            return Ok(true);
                        }
                    }
                    Some(Ok(WatchEvent::Deleted(_))) => {
                        if done(None)? {
                            return Ok(true);
                        }
                    }
                    Some(Ok(WatchEvent::Bookmark(_))) => {}
                    // Expired, broken or ended: read again and re-watch.
                    Some(Ok(WatchEvent::Error(_)) | Err(_)) | None => break,
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
        }
    }
}
