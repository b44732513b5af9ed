//! `ChunkedDecoder` on arbitrary bytes, fed whole and in pieces.
//!
//! The first byte says how many of the following bytes choose the piece sizes; the rest
//! is the body. Invariants: it never panics; every answer stays inside its input (data
//! ranges non-empty and ending at the consumed count, `More` consuming everything);
//! after `End` it stays at `End`; and the body, trailers, bytes left over and error are
//! the same whether the input comes whole, one byte at a time, or in the fuzzed pieces.
#![no_main]

use greenlight::http::{Chunk, ChunkedDecoder, ErrorKind};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
struct Decoded {
    body: Vec<u8>,
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
    /// What followed the body, if it ended.
    rest: Option<Vec<u8>>,
    /// The error that stopped decoding, if any.
    error: Option<ErrorKind>,
}

/// Decodes `input` in pieces whose sizes `sizes` gives (0 is taken as 1).
fn decode(input: &[u8], sizes: &mut dyn FnMut() -> usize) -> Decoded {
    let mut dec = ChunkedDecoder::new();
    let mut out = Decoded {
        body: Vec::new(),
        trailers: Vec::new(),
        rest: None,
        error: None,
    };
    let mut pos = 0;
    while pos < input.len() {
        let end = input.len().min(pos.saturating_add(sizes().max(1)));
        let piece = &input[pos..end];
        match dec.decode(piece) {
            Err(e) => {
                out.error = Some(e.kind());
                return out;
            }
            Ok((used, Chunk::Data(r))) => {
                assert!(
                    !r.is_empty() && r.end == used && used <= piece.len(),
                    "{r:?} {used}"
                );
                out.body.extend_from_slice(&piece[r]);
                pos += used;
            }
            Ok((used, Chunk::More)) => {
                assert_eq!(used, piece.len(), "More leaves bytes unread");
                pos += used;
            }
            Ok((used, Chunk::End)) => {
                assert!(used <= piece.len());
                pos += used;
                assert!(dec.is_done());
                assert_eq!(
                    dec.decode(&input[pos..]).map_err(|e| e.kind()),
                    Ok((0, Chunk::End))
                );
                out.trailers = dec
                    .trailers()
                    .map(|(n, v)| (n.to_vec(), v.to_vec()))
                    .collect();
                out.rest = Some(input[pos..].to_vec());
                return out;
            }
        }
    }
    assert!(!dec.is_done());
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let k = usize::from(k % 16).min(rest.len());
    let (split_bytes, input) = rest.split_at(k);

    let whole = decode(input, &mut || usize::MAX);
    let bytewise = decode(input, &mut || 1);
    assert_eq!(whole, bytewise, "whole vs one byte at a time");
    if !split_bytes.is_empty() {
        let mut i = 0;
        let split = decode(input, &mut || {
            i += 1;
            usize::from(split_bytes[(i - 1) % split_bytes.len()])
        });
        assert_eq!(whole, split, "whole vs pieces of sizes {split_bytes:?}");
    }
});
