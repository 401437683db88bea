//! Instance slots for plugin calls: wasmtime's pooling allocator, and the bound on concurrent
//! calls that keeps them within it.
//!
//! Every call instantiates its plugin afresh. With the default (on-demand) allocator each
//! instance maps and unmaps its linear memory, and those `mmap`/`munmap` calls serialise on the
//! process's address-space lock: two threads planned slower than one. The pooling allocator
//! reserves the memory of a fixed number of instances once and reuses it (resetting it between
//! calls, copy-on-write from the module's image), so calls on different threads no longer
//! contend. Its slots are a hard bound, so calls wait for a free slot instead of failing.

use std::sync::{Condvar, Mutex, PoisonError};

use wasmtime::{Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Plugin calls that may run at once. Calls are CPU-bound, so more than a few per core only
/// queue inside the pool; the rest wait in [`CallSlots::acquire`].
pub const CONCURRENT_CALLS: u32 = 32;

/// Core instances, memories and tables one component may hold (a Rust component for
/// `wasm32-wasip2`: the program, the WASI adapter and their shims; the built-in engines use
/// 3 core instances and 2 memories).
const CORE_INSTANCES_PER_CALL: u32 = 8;
const MEMORIES_PER_CALL: u32 = 4;
const TABLES_PER_CALL: u32 = 8;

/// Bytes of each memory and table a finished call leaves mapped for the next (a `plan` call
/// touches its 1 MiB stack and a few hundred KiB of heap).
const KEEP_RESIDENT: usize = 4 << 20;
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// The pooling allocator for [`CONCURRENT_CALLS`] calls whose memories may grow to
/// `memory_bytes` (the per-call limit; growth past it traps).
pub fn strategy(memory_bytes: usize) -> InstanceAllocationStrategy {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(CONCURRENT_CALLS)
        .total_core_instances(CONCURRENT_CALLS * CORE_INSTANCES_PER_CALL)
        .total_memories(CONCURRENT_CALLS * MEMORIES_PER_CALL)
        .total_tables(CONCURRENT_CALLS * TABLES_PER_CALL)
        .max_core_instances_per_component(CORE_INSTANCES_PER_CALL)
        .max_memories_per_component(MEMORIES_PER_CALL)
        .max_tables_per_component(TABLES_PER_CALL)
        .max_memory_size(memory_bytes)
        // Reset a finished call's memory by rewriting only the pages it dirtied (found with
        // Linux's PAGEMAP_SCAN, kernel 6.7+; elsewhere the low addresses are rewritten), up to
        // this much: the pages stay mapped, so the next call takes no page faults, and no
        // `madvise` makes the kernel flush the other threads' TLBs.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);
    InstanceAllocationStrategy::Pooling(pool)
}

/// A counting semaphore over the pool's slots, for synchronous callers (plugin calls run on
/// blocking threads).
#[derive(Debug)]
pub struct CallSlots {
    free: Mutex<u32>,
    released: Condvar,
}

impl Default for CallSlots {
    fn default() -> Self {
        Self {
            free: Mutex::new(CONCURRENT_CALLS),
            released: Condvar::new(),
        }
    }
}

/// One held slot; released when dropped.
#[derive(Debug)]
pub struct Slot<'a>(&'a CallSlots);

impl CallSlots {
    /// Waits for a free slot.
    pub fn acquire(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .released
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(PoisonError::into_inner);
        *free += 1;
        self.0.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn no_more_calls_than_slots_hold_one_at_once() {
        let slots = Arc::new(CallSlots::default());
        let (inside, most) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let threads: Vec<_> = (0..CONCURRENT_CALLS * 2)
            .map(|_| {
                let (slots, inside, most) = (slots.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    let _slot = slots.acquire();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        assert!(most.load(Ordering::SeqCst) <= CONCURRENT_CALLS);
        assert_eq!(
            *slots.free.lock().expect("lock"),
            CONCURRENT_CALLS,
            "all released"
        );
    }
}
