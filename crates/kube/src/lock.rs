//! One apply at a time per deploy set: a `coordination.k8s.io/v1` Lease, renewed while held.

use crate::applyset::ApplySet;
use crate::error::{from_kube, Action, Error, ErrorKind};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams};
use std::time::Duration;

/// How long a lease lasts without renewal: a killed holder's lock frees itself after this.
pub const LEASE_SECONDS: i32 = 30;

/// A held lock; renewed in the background until [`release`](Lock::release).
pub struct Lock {
    api: Api<Lease>,
    name: String,
    renew: tokio::task::JoinHandle<()>,
}

/// Who holds a lock, in words: `alice@laptop (pid 4242)`.
pub fn holder_identity() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host} (pid {})", std::process::id())
}

/// Is `holder` a berth on this host whose process is gone (killed, crashed)? Its lock can be
/// taken at once. A holder on another host, or a live process, is never second-guessed.
fn holder_is_gone(holder: &str) -> bool {
    let Some((who, pid)) = holder.rsplit_once(" (pid ") else {
        return false;
    };
    let Some(pid) = pid.strip_suffix(')').and_then(|p| p.parse::<i32>().ok()) else {
        return false;
    };
    let mine = holder_identity();
    let this_host = mine.rsplit_once(" (pid ").map(|(w, _)| w);
    let host_of = |w: &str| w.split_once('@').map(|(_, h)| h.to_string());
    if this_host.and_then(host_of) != host_of(who) || pid <= 0 {
        return false;
    }
    // Signal 0 checks existence; EPERM means it exists under another user.
    matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

fn lease_action<'a>(verb: &'a str, ns: &'a str, name: &str) -> Action<'a> {
    Action {
        verb,
        resource: "leases.coordination.k8s.io".into(),
        namespace: Some(ns),
        object: Some(format!("Lease/{name}")),
        origin: None,
    }
}

fn expired(lease: &Lease, now: Timestamp) -> bool {
    let Some(spec) = &lease.spec else { return true };
    if spec.holder_identity.as_deref().unwrap_or("").is_empty() {
        return true;
    }
    let seconds = spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS) as i64;
    match spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) {
        Some(t) => t.0.as_second() + seconds < now.as_second(),
        None => true,
    }
}

/// Renews the lease every third of its duration until aborted (failures are retried next time).
async fn renew(api: Api<Lease>, name: String) {
    loop {
        tokio::time::sleep(Duration::from_secs((LEASE_SECONDS / 3) as u64)).await;
        if let Ok(mut lease) = api.get(&name).await {
            if let Some(spec) = lease.spec.as_mut() {
                spec.renew_time = Some(MicroTime(Timestamp::now()));
            }
            let _ = api.replace(&name, &crate::post_params(), &lease).await;
        }
    }
}

/// The set is locked by `holder` and stayed so for `waited`: who, since when, what to do.
fn locked_error(
    set: &ApplySet,
    name: &str,
    lease: &Lease,
    holder: &str,
    waited: Duration,
) -> Error {
    let since = lease
        .spec
        .as_ref()
        .and_then(|s| s.acquire_time.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    Error::new(
        ErrorKind::Locked,
        format!("deploy set `{}` is locked by {holder} (since {since})", set.name),
    )
    .note(format!("Lease {}/{name}; waited {waited:?}", set.namespace))
    .hint(format!(
        "wait for that apply to finish, raise --lock-timeout, or if it is dead: berth unlock --name {} -n {}",
        set.name, set.namespace
    ))
}

impl Lock {
    /// Takes the set's lock, waiting up to `timeout` for another holder; `on_wait` hears who
    /// holds it (or whose lock was taken over because its process is gone).
    pub async fn acquire(
        client: &kube::Client,
        set: &ApplySet,
        timeout: Duration,
        on_wait: &(dyn Fn(&str) + Sync),
    ) -> Result<Lock, Error> {
        let api: Api<Lease> = Api::namespaced(client.clone(), &set.namespace);
        let name = set.lease_name();
        let me = holder_identity();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut told = false;
        loop {
            let now = Timestamp::now();
            let spec = LeaseSpec {
                holder_identity: Some(me.clone()),
                lease_duration_seconds: Some(LEASE_SECONDS),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                ..Default::default()
            };
            let current = api
                .get_opt(&name)
                .await
                .map_err(|e| from_kube(e, &lease_action("get", &set.namespace, &name)))?;
            let attempt = match &current {
                None => {
                    let lease = Lease {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
                            ..Default::default()
                        },
                        spec: Some(spec),
                    };
                    api.create(&crate::post_params(), &lease).await
                }
                Some(lease)
                    if expired(lease, now)
                        || lease
                            .spec
                            .as_ref()
                            .and_then(|s| s.holder_identity.as_deref())
                            .is_some_and(holder_is_gone) =>
                {
                    if !expired(lease, now) {
                        let holder = lease.spec.as_ref().and_then(|s| s.holder_identity.clone());
                        on_wait(&format!(
                            "took over the lock of {}: that process is gone from this host",
                            holder.unwrap_or_default()
                        ));
                    }
                    let mut lease = lease.clone();
                    lease.spec = Some(spec);
                    api.replace(&name, &crate::post_params(), &lease).await
                }
                Some(lease) => {
                    let holder = lease
                        .spec
                        .as_ref()
                        .and_then(|s| s.holder_identity.clone())
                        .unwrap_or_default();
                    if tokio::time::Instant::now() >= deadline {
                        return Err(locked_error(set, &name, lease, &holder, timeout));
                    }
                    if !told {
                        on_wait(&format!("waiting for the lock held by {holder}"));
                        told = true;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            match attempt {
                Ok(_) => break,
                // Someone else won the race: look again.
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(from_kube(e, &lease_action("write", &set.namespace, &name))),
            }
        }
        let renew = tokio::spawn(renew(api.clone(), name.clone()));
        Ok(Lock { api, name, renew })
    }

    /// Gives the lock up.
    pub async fn release(self) {
        self.renew.abort();
        let _ = self.api.delete(&self.name, &DeleteParams::default()).await;
    }
}

/// Breaks a set's lock; returns who held it.
pub async fn unlock(client: &kube::Client, set: &ApplySet) -> Result<Option<String>, Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &set.namespace);
    let name = set.lease_name();
    let lease = api
        .get_opt(&name)
        .await
        .map_err(|e| from_kube(e, &lease_action("get", &set.namespace, &name)))?;
    let Some(lease) = lease else { return Ok(None) };
    api.delete(&name, &DeleteParams::default())
        .await
        .map_err(|e| from_kube(e, &lease_action("delete", &set.namespace, &name)))?;
    Ok(lease.spec.and_then(|s| s.holder_identity))
}
