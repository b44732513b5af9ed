//! A worker's counters in shared memory: a `memfd` the master creates and maps, whose
//! descriptor the worker inherits and maps too.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use super::WorkerCounters;

const SIZE: usize = std::mem::size_of::<WorkerCounters>();

/// [`WorkerCounters`] in a `MAP_SHARED` mapping, unmapped on drop.
pub(crate) struct Mapping {
    ptr: NonNull<WorkerCounters>,
}

// SAFETY: the mapping is only reached through `&WorkerCounters`, whose fields are atomics.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Mapping {
    /// A fresh, zeroed segment (stamped with this build's layout), and a descriptor of it
    /// without close-on-exec, for the next worker to inherit (the caller closes it once
    /// the worker started).
    pub(crate) fn create() -> io::Result<(Mapping, OwnedFd)> {
        // SAFETY: memfd_create takes a NUL-terminated name and flags.
        let fd = check(unsafe {
            libc::memfd_create(c"greenlight-metrics".as_ptr(), libc::MFD_CLOEXEC)
        })?;
        // SAFETY: memfd_create returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: ftruncate on a descriptor `fd` keeps open; the new bytes read as zero.
        check(unsafe { libc::ftruncate(fd.as_raw_fd(), SIZE as libc::off_t) })?;
        let map = Mapping::map(&fd)?;
        map.init();
        // dup(2) leaves close-on-exec off on the copy: the worker inherits it.
        // SAFETY: dup of an open descriptor; the result is new and owned by nobody else.
        let child = check(unsafe { libc::dup(fd.as_raw_fd()) })?;
        // SAFETY: as above.
        Ok((map, unsafe { OwnedFd::from_raw_fd(child) }))
    }

    /// Maps the segment the master passed as `fd` (closed here): it must be large enough
    /// and stamped by this build.
    pub(crate) fn open(fd: OwnedFd) -> io::Result<Mapping> {
        // SAFETY: fstat fills the `stat` it is given; all-zero bytes are a valid `stat`.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above, on a descriptor `fd` keeps open.
        check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        if (st.st_size as usize) < SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "segment too small",
            ));
        }
        let map = Mapping::map(&fd)?;
        if !map.is_valid() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "segment of another layout (a master of another build?)",
            ));
        }
        Ok(map)
    }

    fn map(fd: &OwnedFd) -> io::Result<Mapping> {
        // SAFETY: a new shared mapping of SIZE bytes of a file at least that large; the
        // kernel picks the address. It outlives the descriptor.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast()).ok_or_else(io::Error::last_os_error)?;
        Ok(Mapping { ptr })
    }

    /// Keeps the mapping for the rest of the process.
    pub(crate) fn leak(self) -> &'static WorkerCounters {
        let ptr = self.ptr;
        std::mem::forget(self);
        // SAFETY: never unmapped now; page-aligned, sized and valid for any bit pattern.
        unsafe { ptr.as_ref() }
    }
}

impl std::ops::Deref for Mapping {
    type Target = WorkerCounters;

    fn deref(&self) -> &WorkerCounters {
        // SAFETY: mapped (page-aligned, SIZE bytes) until drop; atomics only, so any bytes
        // another process writes are a valid value.
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, no longer referenced (borrows
        // of it end with `self`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), SIZE) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn two_mappings_of_one_segment_see_each_others_counts() {
        let (master, fd) = Mapping::create().unwrap();
        let worker = Mapping::open(fd).unwrap();
        worker.connections_open.store(5, Relaxed);
        assert_eq!(master.snapshot().connections_open, 5);
        drop(worker);
        assert_eq!(master.snapshot().connections_open, 5);
    }
}
