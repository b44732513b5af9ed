//! The server's per-request path on byte slices, for benchmarks (`benches/http.rs`,
//! `benches/allocs.rs`). Not a stable API.
//!
//! [`BytesConn::handle`] runs what the connection loop runs for a request without a body:
//! the head parsed with [`RequestHead::parse`], copied out of the read buffer, the
//! [`Environ`] built over it, the app called (panics caught), and the response head and
//! body encoded into the write buffer, which is then "flushed" into `out`. Only the socket
//! is missing. The storage is reused across calls, as a keep-alive connection reuses it.

use super::environ::ConnInfo;
use super::response::ResponseHead;
use super::server::{answer, app_outcome, call_app};
use super::{App, Environ, Input};
use crate::http::request::{BodyLength, HeadStatus, Limits, RequestHead};

/// One simulated keep-alive connection: the app and the per-connection storage.
pub struct BytesConn<A: App> {
    app: A,
    limits: Limits,
    info: ConnInfo,
    head: RequestHead,
    head_buf: Vec<u8>,
    wbuf: Vec<u8>,
    resp: std::cell::RefCell<ResponseHead>,
}

impl<A: App> BytesConn<A> {
    /// A connection from 127.0.0.1:40000 to 127.0.0.1:8000, with default limits.
    pub fn new(app: A) -> Self {
        BytesConn {
            app,
            limits: Limits::default(),
            info: ConnInfo {
                remote_addr: "127.0.0.1".to_owned(),
                remote_port: "40000".to_owned(),
                server_name: "127.0.0.1".to_owned(),
                server_port: "8000".to_owned(),
                scheme: "http",
                script_name: String::new(),
                ..ConnInfo::default()
            },
            head: RequestHead::new(),
            head_buf: Vec::new(),
            wbuf: Vec::with_capacity(1024),
            resp: Default::default(),
        }
    }

    /// Answers the request at the start of `request`, appending the response to `out`.
    /// Returns the bytes of `request` consumed and whether the connection would stay open.
    ///
    /// Errors: an incomplete or malformed head, or a request with a body (which needs a
    /// socket to be read from).
    pub fn handle(&mut self, request: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), String> {
        let n = match self.head.parse(request, &self.limits) {
            Ok(HeadStatus::Complete(n)) => n,
            Ok(HeadStatus::Partial) => return Err("incomplete request head".to_owned()),
            Err(e) => return Err(e.to_string()),
        };
        if self.head.body != BodyLength::Empty {
            return Err("requests with a body need a connection".to_owned());
        }
        self.head_buf.clear();
        self.head_buf.extend_from_slice(&request[..n]);
        self.resp.get_mut().clear();
        let body = {
            let mut env = Environ::new(&self.head_buf, &self.head, &self.info, Input::empty());
            call_app(&self.app, &mut env, &self.resp, &self.head, &self.head_buf)
        };
        let resp = self.resp.get_mut();
        let outcome = app_outcome(body, resp);
        let (_, _, keep_alive) = answer(
            out,
            &mut self.wbuf,
            &self.head,
            &self.head_buf,
            resp,
            outcome,
            self.head.keep_alive,
        )
        .map_err(|e| e.to_string())?;
        out.extend_from_slice(&self.wbuf);
        self.wbuf.clear();
        Ok((n, keep_alive))
    }
}
