//! Giving freed memory back to the system between two large pieces of work in one process
//! (the two analyses of `memform diff`): mimalloc keeps the pages a finished analysis freed
//! for a while, in the heaps of the threads that freed them, and the next analysis would
//! grow the resident set beside them.

/// Returns the memory mimalloc holds free to the system, now: the calling thread's heap and
/// the heaps of threads that have ended. Nothing else is touched; a program whose global
/// allocator is not mimalloc loses nothing but the call.
pub fn return_freed_memory() {
    // SAFETY: mi_collect has no preconditions; it may be called from any thread.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
