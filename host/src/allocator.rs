//! Giving freed memory back to the operating system.
//!
//! Start-up registers the engine plugins: it loads or compiles them, plans their sample
//! stores and renders their charts. That allocates and frees megabytes, and glibc keeps freed
//! memory in its heaps, which only shrink from their top. Measured on a warm start (release
//! build), [`release_freed`] after start-up returns 1.2 MiB of the main heap's 3.8 MiB.

/// Returns the free pages of every malloc arena to the operating system (glibc's
/// `malloc_trim`); a no-op with other allocators. Costs a walk over the free lists: call it
/// after bursts of work, not per request.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `malloc_trim` takes no pointer and only releases pages glibc's allocator holds
    // free; every live allocation stays where it is.
    unsafe {
        libc::malloc_trim(0);
    }
}
