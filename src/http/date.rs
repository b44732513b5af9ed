//! The `Date` header value, formatted once a second and shared by all threads.

/// An IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (29 bytes).
pub type HttpDate = [u8; 29];

/// The current date, from a global cache refreshed at most once a second.
pub fn now() -> HttpDate {
    todo!()
}
