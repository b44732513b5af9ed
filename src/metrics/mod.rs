//! Counting what a worker process serves, in memory its master can read.
//!
//! Each worker counts into a [`WorkerCounters`]: plain atomics (no lock, no allocation per
//! request; each OS thread writes a shard of its own) in a shared memory segment the
//! master created for that worker before starting it (a `memfd` mapped `MAP_SHARED` by
//! both, its descriptor inherited across the worker's `exec`). The master reads every
//! worker's segment when it is scraped, and when a worker ends, folds its last counts
//! into a retired total: counters stay monotonic across restarts, whatever killed the
//! worker (even `SIGKILL`: the counts are in the master's memory too, not in a message
//! the worker had to send).
//!
//! This module is below every other layer: the connection code (`wsgi/`) counts through
//! a [`Recorder`]; `deploy/` creates the segments, serves the Prometheus text
//! ([`text::render`]) and sends statsd.

mod counters;
mod shm;
pub(crate) mod statsd;
pub(crate) mod text;

pub(crate) use counters::{ExitCause, Recorder, Totals, WorkerCounters, BUCKETS, CLASSES, METHODS};
pub(crate) use shm::Mapping;
