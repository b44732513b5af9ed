//! Spare buffers: each OS thread keeps a few small read and write buffers that no
//! connection is using, for the next connection that needs one.
//!
//! A connection needs its read buffer only from the moment its request's bytes arrive
//! until its head is parsed (and while it reads a body), and its write buffer only while an
//! answer is written. A slow request (an app that waits on a database, or sleeps) spends
//! its time in neither, so busy connections give both back and share a few per thread
//! instead of holding one of each: 10,000 connections in a 100 ms request held about
//! 13 MiB of buffers (a 1 KiB read buffer and the last answer's write buffer each), all of
//! them empty.
//!
//! Only buffers of [`SIZE`] bytes are kept; a buffer grown past it (a pipelining client, a
//! large head or answer) stays with its connection until it goes idle. Each thread keeps
//! at most [`KEPT`] of each kind and frees the rest, so a burst of connections that close
//! or hibernate at once leaves no more behind.
//!
//! The buffers live in a `thread_local!` taken from and given back to within one call,
//! with no yield in between: a green thread that moved to another OS thread since it took a
//! buffer gives it back to that thread's spares, which is as good.

use std::cell::RefCell;

/// The size of a spare buffer, and of a connection's first read buffer: room for the heads
/// most clients send, and for most small answers.
pub(crate) const SIZE: usize = 1024;

/// How many spare buffers of each kind an OS thread keeps at most.
const KEPT: usize = 32;

struct Spares {
    /// Read buffers: `len() == SIZE` (initialized, so that reads can fill them).
    read: Vec<Vec<u8>>,
    /// Write buffers: empty, `capacity() == SIZE`.
    write: Vec<Vec<u8>>,
}

std::thread_local! {
    static SPARES: RefCell<Spares> = const {
        RefCell::new(Spares { read: Vec::new(), write: Vec::new() })
    };
}

/// A read buffer of [`SIZE`] bytes, a spare one if this thread has one.
#[inline]
pub(crate) fn read_buffer() -> Vec<u8> {
    take(|s| &mut s.read).unwrap_or_else(|| vec![0; SIZE])
}

/// An empty write buffer with room for [`SIZE`] bytes, a spare one if this thread has one.
#[inline]
pub(crate) fn write_buffer() -> Vec<u8> {
    take(|s| &mut s.write).unwrap_or_else(|| Vec::with_capacity(SIZE))
}

/// Keeps `buf` as a spare read buffer if it is one of [`SIZE`] bytes; frees it otherwise.
#[inline]
pub(crate) fn give_read(buf: Vec<u8>) {
    if buf.len() == SIZE && buf.capacity() == SIZE {
        keep(buf, |s| &mut s.read);
    }
}

/// Keeps `buf` (emptied) as a spare write buffer if it has room for exactly [`SIZE`]
/// bytes; frees it otherwise.
#[inline]
pub(crate) fn give_write(mut buf: Vec<u8>) {
    if buf.capacity() == SIZE {
        buf.clear();
        keep(buf, |s| &mut s.write);
    }
}

#[inline]
fn take(kind: fn(&mut Spares) -> &mut Vec<Vec<u8>>) -> Option<Vec<u8>> {
    // After the thread's spares were destroyed (a thread that ends), nothing is kept.
    SPARES
        .try_with(|s| kind(&mut s.borrow_mut()).pop())
        .ok()
        .flatten()
}

#[inline]
fn keep(buf: Vec<u8>, kind: fn(&mut Spares) -> &mut Vec<Vec<u8>>) {
    let _ = SPARES.try_with(|s| {
        let mut s = s.borrow_mut();
        let kept = kind(&mut s);
        if kept.len() < KEPT {
            if kept.capacity() == 0 {
                kept.reserve_exact(KEPT);
            }
            kept.push(buf);
        }
    });
}

/// How many spare (read, write) buffers this thread keeps.
#[cfg(test)]
pub(crate) fn kept() -> (usize, usize) {
    SPARES.with_borrow(|s| (s.read.len(), s.write.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_given_back_are_handed_out_again() {
        let read = read_buffer();
        assert_eq!((read.len(), read.capacity()), (SIZE, SIZE));
        let at = read.as_ptr();
        give_read(read);
        let again = read_buffer();
        assert_eq!(again.as_ptr(), at, "the same buffer, not a new one");
        assert_eq!(again.len(), SIZE);

        let mut write = write_buffer();
        assert!(write.is_empty() && write.capacity() == SIZE);
        write.extend_from_slice(b"an answer");
        let at = write.as_ptr();
        give_write(write);
        let again = write_buffer();
        assert_eq!((again.as_ptr(), again.len()), (at, 0), "kept emptied");
    }

    #[test]
    fn only_buffers_of_the_spare_size_are_kept_and_only_so_many() {
        let mut grown = write_buffer();
        let before = kept();
        give_read(vec![0; 4096]);
        give_read(vec![0; 100]);
        grown.extend_from_slice(&[b'x'; SIZE + 1]);
        give_write(grown);
        give_write(Vec::with_capacity(100));
        assert_eq!(kept(), before, "other sizes are freed");

        for _ in 0..KEPT + 10 {
            give_read(vec![0; SIZE]);
            give_write(Vec::with_capacity(SIZE));
        }
        assert_eq!(kept(), (KEPT, KEPT));
    }

    #[test]
    fn each_thread_keeps_its_own() {
        give_read(vec![0; SIZE]);
        let there = std::thread::spawn(|| {
            let none = kept();
            give_read(vec![0; SIZE]);
            (none, kept())
        });
        assert_eq!(there.join().unwrap(), ((0, 0), (1, 0)));
    }
}
