//! Entry points for the fuzz targets in `fuzz/` into parsers that are not public API.
//!
//! Compiled only with the `fuzzing` feature, which nothing but the fuzz crate enables:
//! these are thin wrappers, not a stable interface.

use crate::http::RequestHead;
use crate::wsgi::{ConnInfo, Environ, Input};

/// The PROXY protocol v1/v2 parser and its types, as the server uses them.
pub use crate::http::proxy::{
    parse as parse_proxy, ProxyHeader, ProxyStatus, V1_MAX, V2_MAX, V2_SIGNATURE,
};

/// An environ over a parsed head, as the server builds one before calling the app (with
/// no body), so that middleware such as
/// [`ProxyFix`](crate::middleware::ProxyFix) can be run over fuzzed headers.
pub fn environ<'a>(buf: &'a [u8], head: &'a RequestHead, conn: &'a ConnInfo) -> Environ<'a> {
    Environ::new(buf, head, conn, Input::empty())
}
