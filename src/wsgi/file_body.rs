//! Sending a [`Body::file`](super::Body::file): `sendfile(2)` where the stream allows it,
//! else pieces read on the thread pool and written like any produced body.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

use super::io::{ConnIo, Transport};
use super::response::ChunkIter;
use crate::green::threadpool::spawn_blocking;
use crate::green::yield_now;

/// The most one `sendfile(2)` call is asked to send: a call whose pages are not cached
/// reads them from disk on the worker thread, so each call is kept short (on a loopback
/// socket the send buffer takes less than this anyway).
const SENDFILE_PIECE: u64 = 1 << 20;
/// A client that takes everything at once never makes the sender park: it yields to the
/// other green threads on its worker after this many bytes.
const YIELD_EVERY: u64 = 16 << 20;
/// The most read from the file at once on the fallback path.
const READ_PIECE: u64 = 64 * 1024;

/// What sending a file body came to.
pub(super) enum FileSent {
    /// Sent with `sendfile(2)`: the bytes sent, and whether that was all of them.
    Done(u64, bool),
    /// The stream cannot `sendfile` (TLS, in-memory): send these pieces instead.
    Fallback(ChunkIter),
}

/// Sends `len` bytes of `file` from `offset`, after what is queued (the head).
pub(super) fn send<T: Transport>(
    io: &mut ConnIo<T>,
    file: File,
    offset: u64,
    len: u64,
) -> io::Result<FileSent> {
    io.flush()?;
    let mut sent = 0u64;
    while sent < len {
        let piece = (len - sent).min(SENDFILE_PIECE) as usize;
        match io.transport_mut().send_file(&file, offset + sent, piece) {
            Ok(0) => {
                log::error!(
                    "file body ended after {sent} of its {len} bytes (the file shrank?); closing"
                );
                return Ok(FileSent::Done(sent, false));
            }
            Ok(n) => {
                io.count_sent(n);
                if (sent + n as u64) / YIELD_EVERY != sent / YIELD_EVERY {
                    yield_now();
                }
                sent += n as u64;
            }
            Err(e) if sent == 0 && e.kind() == io::ErrorKind::Unsupported => {
                return Ok(FileSent::Fallback(pieces(file, offset, len)));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(FileSent::Done(sent, true))
}

/// `len` bytes of `file` from `offset` as pieces, each read on the thread pool (a read that
/// misses the page cache waits for the disk there, not on a worker thread).
pub(super) fn pieces(file: File, offset: u64, len: u64) -> ChunkIter {
    Box::new(FilePieces {
        file: Arc::new(file),
        at: offset,
        end: offset.saturating_add(len),
    })
}

struct FilePieces {
    file: Arc<File>,
    at: u64,
    end: u64,
}

impl Iterator for FilePieces {
    type Item = io::Result<Bytes>;

    fn next(&mut self) -> Option<io::Result<Bytes>> {
        if self.at >= self.end {
            return None;
        }
        let (file, at, n) = (
            self.file.clone(),
            self.at,
            (self.end - self.at).min(READ_PIECE),
        );
        let read = spawn_blocking(move || -> io::Result<Vec<u8>> {
            let mut buf = vec![0u8; n as usize];
            let mut got = 0;
            while got < buf.len() {
                match file.read_at(&mut buf[got..], at + got as u64) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(got);
            Ok(buf)
        });
        let buf = match read {
            Ok(Ok(buf)) if buf.is_empty() => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file is shorter than the range sent",
            )),
            Ok(r) => r,
            Err(e) => Err(io::Error::other(e)),
        };
        Some(buf.map(|b| {
            self.at += b.len() as u64;
            Bytes::from(b)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::temp_file;
    use crate::wsgi::io::MemStream;

    #[test]
    fn a_memory_stream_falls_back_to_pieces_of_the_range() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let mut io = ConnIo::new(MemStream::default(), 64);
        io.out().extend_from_slice(b"HEAD");
        let Ok(FileSent::Fallback(chunks)) = send(&mut io, temp_file(&data), 5, 150_000) else {
            panic!("expected the fallback");
        };
        assert_eq!(
            io.transport_mut().output().as_slice(),
            b"HEAD",
            "head flushed first"
        );
        let pieces: Vec<Bytes> = chunks.map(Result::unwrap).collect();
        assert!(pieces.iter().all(|p| p.len() as u64 <= READ_PIECE));
        assert!(pieces.concat() == data[5..150_005]);
    }

    #[test]
    fn a_short_file_ends_the_pieces_with_an_error() {
        let mut chunks = pieces(temp_file(b"abc"), 1, 10);
        assert_eq!(&chunks.next().unwrap().unwrap()[..], b"bc");
        let e = chunks.next().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
