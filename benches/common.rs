//! Requests and the app shared by the benches.

#![allow(dead_code)]

use greenlight::wsgi::{Body, Environ, StartResponse};

/// What `wrk -c100 http://127.0.0.1:8000/` sends.
pub const WRK_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n";

/// A browser's GET with 10 headers.
pub const BROWSER_GET: &[u8] = b"GET /articles/2024/greenlight?ref=home&page=2 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/\r\n\
Connection: keep-alive\r\n\
Cookie: session=8f3a2c91d0b74e5f; theme=dark; _ga=GA1.2.1234567890.1700000000\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Priority: u=0, i\r\n\
\r\n";

/// `examples/hello.rs`'s app.
pub fn hello(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    start
        .status("200 OK")
        .header("Content-Type", "text/plain; charset=utf-8");
    Body::from("Hello, World!\n")
}
