//! Password hashing on a small, fixed pool of worker threads.
//!
//! One argon2id hash needs 19 MiB. Run on tokio's blocking pool, a login flood hashed on
//! hundreds of threads at once and the allocator kept every freed buffer (9.9 GB RSS after
//! 15 s). Here at most `workers` hashes run at once, each in its worker's own buffer; at most
//! `queue` requests wait, and any more are refused at once ([`HashBusy`]) so the API answers
//! 503 with `Retry-After` instead of piling work up. A worker's buffer is mapped straight from
//! the kernel and unmapped once the worker has been idle for [`RELEASE_AFTER`], so the
//! process returns to its idle footprint after a burst.
//!
//! Unknown e-mails are verified against a decoy hash made with the same parameters, on the
//! same workers, so a failed login costs the same whether or not the account exists.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use super::AuthError;

/// How long a worker keeps its 19 MiB buffer after its last hash.
pub(super) const RELEASE_AFTER: Duration = Duration::from_secs(5);

/// The pool is at capacity: every worker is busy and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is at capacity; try again in a moment")]
pub struct HashBusy;

/// Why a hashing request did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(transparent)]
    Busy(#[from] HashBusy),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// A fixed set of hashing threads with a bounded queue. Dropping it stops the workers.
#[derive(Debug)]
pub struct HashingPool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<QueueState>,
    wake: Condvar,
    capacity: usize,
}

#[derive(Debug, Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    closed: bool,
}

#[derive(Debug)]
enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<Result<String, AuthError>>,
    },
    /// Verify `password` against `hash`, or against the decoy when there is none.
    Verify {
        password: String,
        hash: Option<String>,
        reply: oneshot::Sender<bool>,
    },
}

impl HashingPool {
    /// Starts `workers` threads (at least one) that accept up to `queue` waiting requests.
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Self> {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(QueueState::default()),
            wake: Condvar::new(),
            capacity: queue,
        });
        for index in 0..workers {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || worker(&shared))?;
        }
        Ok(Self { shared })
    }

    /// A new argon2id hash of `password` (PHC string).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password, reply })?;
        Ok(answer
            .await
            .map_err(|_| AuthError::Hash("hashing worker stopped".into()))??)
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) it is checked against a
    /// decoy at the same cost and never matches.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, HashBusy> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password,
            hash,
            reply,
        })?;
        Ok(answer.await.unwrap_or(false))
    }

    fn submit(&self, job: Job) -> Result<(), HashBusy> {
        let mut state = self.shared.lock();
        if state.closed || state.jobs.len() >= self.shared.capacity {
            return Err(HashBusy);
        }
        state.jobs.push_back(job);
        drop(state);
        self.shared.wake.notify_one();
        Ok(())
    }
}

impl Drop for HashingPool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next job; `None` after [`RELEASE_AFTER`] without one (`Err` once closed).
    fn next(&self) -> Result<Option<Job>, ()> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Ok(Some(job));
            }
            if state.closed {
                return Err(());
            }
            let (next, timeout) = self
                .wake
                .wait_timeout(state, RELEASE_AFTER)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            if timeout.timed_out() && state.jobs.is_empty() && !state.closed {
                return Ok(None);
            }
        }
    }
}

fn worker(shared: &Shared) {
    let mut scratch: Option<Scratch> = None;
    loop {
        match shared.next() {
            Err(()) => return,
            // Idle: give the buffer back to the kernel.
            Ok(None) => scratch = None,
            Ok(Some(job)) => {
                let buffer = match scratch.take().map_or_else(Scratch::new, Ok) {
                    Ok(buffer) => scratch.insert(buffer),
                    Err(err) => {
                        tracing::error!(error = %err, "could not map a password-hashing buffer");
                        answer_without_buffer(job);
                        continue;
                    }
                };
                run(buffer, job);
            }
        }
    }
}

fn run(scratch: &mut Scratch, job: Job) {
    match job {
        Job::Hash { password, reply } => {
            let _ = reply.send(hash_with(scratch, password.as_bytes()));
        }
        Job::Verify {
            password,
            hash,
            reply,
        } => {
            let matches = match hash {
                Some(hash) => verify_with(scratch, password.as_bytes(), &hash),
                None => {
                    // Same work as a real check; the result is thrown away.
                    let decoy = decoy(scratch);
                    let _ = verify_with(scratch, password.as_bytes(), decoy);
                    false
                }
            };
            let _ = reply.send(matches);
        }
    }
}

fn answer_without_buffer(job: Job) {
    match job {
        Job::Hash { reply, .. } => {
            let _ = reply.send(Err(AuthError::Hash("no memory for hashing".into())));
        }
        Job::Verify { reply, .. } => {
            let _ = reply.send(false);
        }
    }
}

fn decoy(scratch: &mut Scratch) -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(decoy) = DECOY.get() {
        return decoy;
    }
    let random: [u8; 16] = rand::random();
    let made = hash_with(scratch, hex::encode(random).as_bytes()).unwrap_or_default();
    DECOY.get_or_init(|| made)
}

/// [`hash_with`] in a buffer of its own, for one-off use outside the pool.
pub(super) fn hash_once(password: &str) -> Result<String, AuthError> {
    let mut scratch = Scratch::new().map_err(|err| AuthError::Hash(err.to_string()))?;
    hash_with(&mut scratch, password.as_bytes())
}

/// An argon2id hash with default parameters (19 MiB, 2 passes), computed in `scratch`.
fn hash_with(scratch: &mut Scratch, password: &[u8]) -> Result<String, AuthError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|err| AuthError::Hash(err.to_string()))?;
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon
        .hash_password_into_with_memory(password, &salt_bytes, &mut out, scratch.blocks())
        .map_err(|err| AuthError::Hash(err.to_string()))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|err| AuthError::Hash(err.to_string()))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|err| AuthError::Hash(err.to_string()))?),
    };
    Ok(phc.to_string())
}

/// Checks `password` against a PHC string; a malformed hash never matches. Hashes made with
/// more memory than the scratch buffer holds (none made by this host) fall back to the
/// library's own allocation.
fn verify_with(scratch: &mut Scratch, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(expected), Some(salt)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.hash,
        parsed.salt,
    ) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let Ok(version) = version else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    let computed = if params.block_count() <= Scratch::BLOCKS {
        argon.hash_password_into_with_memory(password, salt, &mut out, scratch.blocks())
    } else {
        argon.hash_password_into(password, salt, &mut out)
    };
    // `Output`'s equality is constant-time.
    computed.is_ok() && Output::new(&out).is_ok_and(|out| out == expected)
}

/// A worker's argon2 memory: anonymous pages mapped for it alone, unmapped when dropped.
struct Scratch {
    map: memmap2::MmapMut,
}

impl Scratch {
    /// Blocks for the default parameters (19 MiB).
    const BLOCKS: usize = Params::DEFAULT_M_COST as usize;

    fn new() -> std::io::Result<Self> {
        let map = memmap2::MmapMut::map_anon(Self::BLOCKS * std::mem::size_of::<Block>())?;
        Ok(Self { map })
    }

    #[allow(unsafe_code)]
    fn blocks(&mut self) -> &mut [Block] {
        let bytes: &mut [u8] = &mut self.map;
        // SAFETY: the mapping is page-aligned (≥ the 64-byte alignment of `Block`), its length
        // is exactly `BLOCKS` blocks, `Block` is a plain array of `u64` for which every bit
        // pattern (including the kernel's zero fill) is valid, and the returned slice borrows
        // `self` mutably, so nothing else can reach the memory while it is in use.
        unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<Block>(), Self::BLOCKS) }
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch")
            .field("bytes", &self.map.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn hashes_verify_with_the_library_and_the_pool() {
        let pool = HashingPool::new(1, 4).unwrap_or_else(|_| unreachable!());
        runtime().block_on(async {
            let hash = pool.hash("correct horse".into()).await.unwrap_or_default();
            assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
            // Interoperable with the argon2 library's own PHC hashing and verifying, which made
            // every hash stored before the pool existed.
            use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
            let parsed = PasswordHash::new(&hash).unwrap_or_else(|_| unreachable!());
            assert!(
                Argon2::default()
                    .verify_password(b"correct horse", &parsed)
                    .is_ok()
            );
            let salt =
                SaltString::encode_b64(b"0123456789abcdef").unwrap_or_else(|_| unreachable!());
            let library = Argon2::default()
                .hash_password(b"battery staple", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(super::hash_once("battery staple").is_ok_and(|h| h.starts_with("$argon2id$")));
            assert_eq!(
                pool.verify("battery staple".into(), Some(library.clone()))
                    .await,
                Ok(true)
            );
            assert_eq!(pool.verify("wrong".into(), Some(library)).await, Ok(false));
            assert_eq!(
                pool.verify("x".into(), Some("not a hash".into())).await,
                Ok(false)
            );
            assert_eq!(
                pool.verify("x".into(), None).await,
                Ok(false),
                "the decoy never matches"
            );
        });
    }

    #[test]
    fn a_full_queue_is_refused_at_once_instead_of_growing() {
        let pool = HashingPool::new(1, 2).unwrap_or_else(|_| unreachable!());
        runtime().block_on(async {
            let mut answers = Vec::new();
            let mut refused = 0;
            for _ in 0..8 {
                let (reply, answer) = oneshot::channel();
                let job = Job::Verify {
                    password: "p".into(),
                    hash: None,
                    reply,
                };
                match pool.submit(job) {
                    Ok(()) => answers.push(answer),
                    Err(HashBusy) => refused += 1,
                }
            }
            // One job may already be with the worker: 2 or 3 were accepted, the rest refused.
            assert!((5..=6).contains(&refused), "refused {refused} of 8");
            for answer in answers {
                assert_eq!(answer.await, Ok(false));
            }
            // Once drained, the pool accepts again.
            assert_eq!(pool.verify("p".into(), None).await, Ok(false));
        });
    }
}
