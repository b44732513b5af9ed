//! How many connections one process can hold: each takes a descriptor and a green thread
//! (whose stack is a memory map plus a guard page).

use std::io;

/// Descriptors kept for what is not a connection: listeners, log files, pipes, epoll.
const RESERVED_FDS: u64 = 64;
/// Memory maps kept for the program itself (libraries, heap, thread stacks).
const RESERVED_MAPS: u64 = 4096;
/// Memory maps a green thread's stack takes (the stack and its guard page).
const MAPS_PER_CONNECTION: u64 = 2;

/// Raises this process's soft limit on open files to its hard limit, as nginx and Go do
/// at start (the soft limit is often 1,024 while the hard one is far higher), and returns
/// the soft limit now in force.
///
/// ```
/// let n = greenlight::net::raise_open_files_limit().unwrap();
/// assert!(n >= 64);
/// ```
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own, nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own, nothing else.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    Ok(lim.rlim_cur)
}

/// The kernel's limit on memory maps per process (`vm.max_map_count`), if readable.
fn max_map_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The most connections this process can serve at once: its open-file limit (raised to
/// the hard limit first) and its memory-map limit, less what the rest of the program
/// needs. A server's default connection limit.
///
/// ```
/// assert!(greenlight::net::connection_capacity() >= 1);
/// ```
pub fn connection_capacity() -> usize {
    let files = raise_open_files_limit().unwrap_or(1024);
    let by_files = files.saturating_sub(RESERVED_FDS);
    let by_maps = max_map_count().map_or(u64::MAX, |m| {
        m.saturating_sub(RESERVED_MAPS) / MAPS_PER_CONNECTION
    });
    by_files.min(by_maps).clamp(1, usize::MAX as u64) as usize
}

#[cfg(test)]
mod tests {
    #[test]
    fn capacity_fits_the_limits() {
        let files = super::raise_open_files_limit().unwrap();
        let cap = super::connection_capacity() as u64;
        assert!(cap >= 1 && cap <= files, "{cap} of {files}");
    }
}
