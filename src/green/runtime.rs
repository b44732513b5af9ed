//! Runtime configuration: worker threads and green-thread stack size.
//!
//! `may` reads its configuration when the first coroutine starts, so it must be set once,
//! before anything is spawned. [`configure`] does that and refuses (with a warning) any
//! later attempt to change it.
//!
//! # Stack size
//!
//! A green thread's stack is fixed: an overflow hits a guard page and **kills the whole
//! process**. Stacks are `mmap`ed lazily, so a generous size costs address space, not
//! resident memory: only the pages a handler really touches count in RSS.
//! [`DEFAULT_STACK_SIZE`](crate::config::DEFAULT_STACK_SIZE) is chosen from measurement (see the README's "Stack size" section).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::DEFAULT_STACK_SIZE;

/// How the green-thread runtime is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Worker OS threads that run green threads; 0 means one per core.
    pub workers: usize,
    /// Stack size of each green thread, in bytes.
    pub stack_size: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: 0,
            stack_size: DEFAULT_STACK_SIZE,
        }
    }
}

static CONFIGURED: AtomicBool = AtomicBool::new(false);

/// Ended green threads whose stacks `may` keeps for reuse (a new green thread then needs
/// no `mmap`). Each kept stack stays resident with the pages it touched (a few KiB), so
/// the pool is bounded: idle connections hibernate without a green thread, and their
/// stacks must not all stay behind in the pool.
const POOL_CAPACITY: usize = 256;

/// Applies `cfg` to the runtime. Only the first call has an effect; later calls return
/// `false` and log a warning, because `may` cannot be reconfigured once started.
///
/// # Examples
///
/// ```
/// use greenlight::{configure, RuntimeConfig};
/// configure(RuntimeConfig { workers: 2, ..Default::default() });
/// ```
pub fn configure(cfg: RuntimeConfig) -> bool {
    if CONFIGURED.swap(true, Ordering::SeqCst) {
        log::debug!("runtime already configured; ignoring {cfg:?}");
        return false;
    }
    let workers = if cfg.workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.workers
    };
    let words = (cfg.stack_size / std::mem::size_of::<usize>()).max(0x400);
    // An even word count keeps may from filling the whole stack to track its usage.
    let words = words & !1;
    may::config()
        .set_workers(workers)
        .set_stack_size(words)
        .set_pool_capacity(POOL_CAPACITY);
    // Pinning each worker to a core hurts when several processes (workers) share a box.
    may::config().set_worker_pin(false);
    true
}

/// Applies the default configuration if nothing was configured yet.
pub(crate) fn ensure_configured() {
    if !CONFIGURED.load(Ordering::SeqCst) {
        configure(RuntimeConfig::default());
    }
}
