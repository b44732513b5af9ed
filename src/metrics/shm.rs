//! A worker's counters in shared memory: a segment the master creates and maps, whose
//! descriptor the worker inherits and maps too (see [`crate::shm`]).

use std::io;
use std::os::fd::OwnedFd;

use super::WorkerCounters;
use crate::shm::{inheritable, Segment, Shareable};

// SAFETY: `WorkerCounters` is `repr(C)` and made of atomics only.
unsafe impl Shareable for WorkerCounters {}

/// [`WorkerCounters`] in a shared mapping, unmapped on drop.
pub(crate) type Mapping = Segment<WorkerCounters>;

impl Segment<WorkerCounters> {
    /// A fresh, zeroed segment (stamped with this build's layout), and a descriptor of it
    /// without close-on-exec, for the next worker to inherit (the caller closes it once
    /// the worker started).
    pub(crate) fn create_counters() -> io::Result<(Mapping, OwnedFd)> {
        let (map, fd) = Mapping::create(c"greenlight-metrics")?;
        map.init();
        Ok((map, inheritable(&fd)?))
    }

    /// Maps the segment the master passed as `fd` (closed here): it must be large enough
    /// and stamped by this build.
    pub(crate) fn open_counters(fd: OwnedFd) -> io::Result<Mapping> {
        let map = Mapping::open(&fd)?;
        if !map.is_valid() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "segment of another layout (a master of another build?)",
            ));
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn two_mappings_of_one_segment_see_each_others_counts() {
        let (master, fd) = Mapping::create_counters().unwrap();
        let worker = Mapping::open_counters(fd).unwrap();
        worker.connections_open.store(5, Relaxed);
        assert_eq!(master.snapshot().connections_open, 5);
        drop(worker);
        assert_eq!(master.snapshot().connections_open, 5);
    }
}
