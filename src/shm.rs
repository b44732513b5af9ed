//! Shared memory between a master and its workers: a `memfd` the master creates and maps,
//! whose descriptor a worker inherits through `exec` and maps too.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// A type that may live in memory other processes write: made of atomics only, so that
/// any bytes (all zeros at first) are a valid value.
///
/// # Safety
///
/// Implement it only for a `#[repr(C)]` type whose fields are atomics (or arrays or
/// structs of them): every bit pattern must be a valid value, and every access shared.
pub(crate) unsafe trait Shareable: Sync {}

/// A `T` in a `MAP_SHARED` mapping of a `memfd`; unmapped on drop.
pub(crate) struct Segment<T: Shareable> {
    ptr: NonNull<T>,
}

// SAFETY: the mapping is reached only through `&T`, and `T: Shareable` is atomics only.
unsafe impl<T: Shareable> Send for Segment<T> {}
// SAFETY: as above.
unsafe impl<T: Shareable> Sync for Segment<T> {}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl<T: Shareable> Segment<T> {
    /// A new, zeroed segment named `name` (seen in `/proc/PID/fd`), and its descriptor
    /// (close-on-exec: see [`inheritable`]).
    pub(crate) fn create(name: &CStr) -> io::Result<(Segment<T>, OwnedFd)> {
        // SAFETY: memfd_create takes a NUL-terminated name and flags.
        let fd = check(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })?;
        // SAFETY: memfd_create returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let size = std::mem::size_of::<T>() as libc::off_t;
        // SAFETY: ftruncate on a descriptor `fd` keeps open; the new bytes read as zero.
        check(unsafe { libc::ftruncate(fd.as_raw_fd(), size) })?;
        Ok((Segment::map(&fd)?, fd))
    }

    /// Maps the segment behind `fd` (passed by the master), which must hold a whole `T`.
    pub(crate) fn open(fd: &OwnedFd) -> io::Result<Segment<T>> {
        // SAFETY: fstat fills the `stat` it is given; all-zero bytes are a valid `stat`.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above, on a descriptor `fd` keeps open.
        check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        if (st.st_size as usize) < std::mem::size_of::<T>() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "shared memory segment too small",
            ));
        }
        Segment::map(fd)
    }

    fn map(fd: &OwnedFd) -> io::Result<Segment<T>> {
        // SAFETY: a new shared mapping of a `T`'s size of a file at least that large; the
        // kernel picks the (page-aligned) address. It outlives the descriptor.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<T>(),
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
        Ok(Segment { ptr })
    }

    /// Keeps the mapping for the rest of the process.
    pub(crate) fn leak(self) -> &'static T {
        let ptr = self.ptr;
        std::mem::forget(self);
        // SAFETY: never unmapped now; page-aligned, sized, and valid for any bytes.
        unsafe { ptr.as_ref() }
    }
}

impl<T: Shareable> std::ops::Deref for Segment<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: mapped (page-aligned, a `T`'s size) until drop; `T: Shareable`, so any
        // bytes another process writes are a valid value.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Shareable> Drop for Segment<T> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, no longer referenced (borrows
        // of it end with `self`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), std::mem::size_of::<T>()) };
    }
}

/// A copy of `fd` without close-on-exec, for a worker about to start to inherit (the caller
/// closes it once the worker started).
pub(crate) fn inheritable(fd: &OwnedFd) -> io::Result<OwnedFd> {
    // dup(2) leaves close-on-exec off on the copy.
    // SAFETY: dup of an open descriptor; the result is new and owned by nobody else.
    let copy = check(unsafe { libc::dup(fd.as_raw_fd()) })?;
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}
