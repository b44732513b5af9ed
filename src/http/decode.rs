//! The chunked transfer-coding decoder (RFC 9112 §7.1), a state machine fed byte slices.

use std::ops::Range;

use super::Error;

/// What one [`ChunkedDecoder::decode`] call found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Body bytes: this range of the input (inside the consumed part).
    Data(Range<usize>),
    /// The consumed bytes were framing only; call again with more input.
    More,
    /// The body ended (last chunk and trailers consumed); what follows is the next request.
    End,
}

/// Decodes a chunked body incrementally.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        todo!()
    }

    /// Decodes from `input`: returns how many bytes were consumed and what they held.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Chunk), Error> {
        let _ = input;
        todo!()
    }

    /// Whether the whole body (trailers included) has been decoded.
    pub fn is_done(&self) -> bool {
        todo!()
    }
}
