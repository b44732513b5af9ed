//! The opening handshake (RFC 6455 §4.2): checks, `Sec-WebSocket-Accept`, subprotocol.

use super::{WebSocket, WebSocketOptions};
use crate::wsgi::{Environ, HttpError};

/// Whether a comma-separated header value holds `token` (any case).
fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// 426 for a request that is not a WebSocket handshake (or speaks another version).
fn upgrade_required(message: &'static str) -> HttpError {
    HttpError::new(426, message)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Version", "13")
}

/// What a valid handshake asks for: the client's key and the subprotocol chosen.
struct Handshake {
    key: String,
    protocol: Option<String>,
}

fn check(env: &Environ<'_>, options: &WebSocketOptions) -> Result<Handshake, HttpError> {
    if !has_token(env.get("HTTP_UPGRADE"), "websocket")
        || !has_token(env.get("HTTP_CONNECTION"), "upgrade")
    {
        return Err(upgrade_required(
            "this resource is a WebSocket: send `Upgrade: websocket` and `Connection: Upgrade`",
        ));
    }
    if env.get("REQUEST_METHOD") != Some("GET") {
        return Err(HttpError::bad_request(
            "a WebSocket handshake must be a GET request",
        ));
    }
    if env.get("SERVER_PROTOCOL") != Some("HTTP/1.1") {
        return Err(HttpError::bad_request(
            "a WebSocket handshake must be an HTTP/1.1 request",
        ));
    }
    if env.get("HTTP_SEC_WEBSOCKET_VERSION").map(str::trim) != Some("13") {
        return Err(upgrade_required(
            "unsupported WebSocket version: send `Sec-WebSocket-Version: 13`",
        ));
    }
    let key = env.get("HTTP_SEC_WEBSOCKET_KEY").unwrap_or("").trim();
    let decoded = data_encoding::BASE64.decode(key.as_bytes());
    if decoded.map_or(true, |k| k.len() != 16) {
        return Err(HttpError::bad_request(
            "Sec-WebSocket-Key must be 16 bytes in base64",
        ));
    }
    // Compared exactly: RFC 6455 §4.1 has the client fail the connection unless the
    // answer is one of the values it sent, as sent (a case-insensitive match answered in
    // our spelling made python-websockets give up).
    let offered = env.get("HTTP_SEC_WEBSOCKET_PROTOCOL").unwrap_or("");
    let protocol = options
        .protocols
        .iter()
        .find(|p| offered.split(',').any(|t| t.trim() == p.as_str()))
        .cloned();
    Ok(Handshake {
        key: key.to_owned(),
        protocol,
    })
}

impl<'a> Environ<'a> {
    /// Whether the request asks for a WebSocket (`Upgrade: websocket`): to serve a page
    /// and its socket at one address.
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    /// let req = TestRequest::get("/").header("Upgrade", "WebSocket");
    /// assert!(req.environ(|env| env.is_websocket()).unwrap());
    /// ```
    pub fn is_websocket(&self) -> bool {
        has_token(self.get("HTTP_UPGRADE"), "websocket")
    }

    /// Accepts a WebSocket handshake with the default [`WebSocketOptions`]; see
    /// [`websocket_with`](Self::websocket_with).
    ///
    /// ```
    /// use greenlight::testing::TestClient;
    /// use greenlight::wsgi::{app_fn, Body, HttpError};
    ///
    /// // An echo: every message goes back as it came.
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     let mut ws = env.websocket()?;
    ///     while let Some(message) = ws.recv() {
    ///         ws.send(message)?;
    ///     }
    ///     Ok(Body::empty())
    /// });
    /// let client = TestClient::new(app);
    /// let mut request = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    ///     Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    ///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".to_vec();
    /// request.extend_from_slice(b"\x81\x82\0\0\0\0hi"); // "hi", masked with a zero key
    /// request.extend_from_slice(b"\x88\x82\0\0\0\0\x03\xe8"); // close 1000
    /// let r = client.send(&request, false);
    /// assert_eq!(r.status(), 101);
    /// assert_eq!(r.header("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    /// assert_eq!(r.body(), b"\x81\x02hi\x88\x02\x03\xe8"); // the echo, the close answered
    /// assert_eq!(client.get("/chat").status(), 426); // not a handshake
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`websocket_with`](Self::websocket_with).
    pub fn websocket(&self) -> Result<WebSocket<'_, 'a>, HttpError> {
        self.websocket_with(&WebSocketOptions::default())
    }

    /// Checks the WebSocket handshake (RFC 6455 §4.2.1), answers `101 Switching
    /// Protocols` (with `Sec-WebSocket-Accept` and the chosen subprotocol) and returns the
    /// socket. The connection stays the handler's until it returns.
    ///
    /// ```
    /// use greenlight::testing::TestClient;
    /// use greenlight::wsgi::{app_fn, Body, HttpError, WebSocketOptions};
    ///
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     let mut ws = env.websocket_with(&WebSocketOptions::new().protocols(&["v2", "v1"]))?;
    ///     let chosen = ws.protocol().unwrap_or("none").to_owned();
    ///     ws.send_text(&chosen)?;
    ///     Ok(Body::empty())
    /// });
    /// let r = TestClient::new(app).send(
    ///     b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
    ///       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    ///       Sec-WebSocket-Protocol: v1, v2\r\n\r\n",
    ///     false,
    /// );
    /// assert_eq!(r.header("sec-websocket-protocol"), Some("v2"));
    /// assert!(r.body().starts_with(b"\x81\x02v2"));
    /// ```
    ///
    /// # Errors
    ///
    /// A request that is no handshake, or a bad one, as an [`HttpError`] to return from
    /// the handler: 426 (with `Upgrade: websocket` and `Sec-WebSocket-Version: 13`) when
    /// `Upgrade`/`Connection` do not ask for a WebSocket or the version is not 13; 400
    /// for a method other than GET, a protocol other than HTTP/1.1, or a
    /// `Sec-WebSocket-Key` that is not 16 bytes in base64; 400 for a request with a body;
    /// the status of [`RequestError::Disconnected`](crate::wsgi::RequestError) if the
    /// client left before the `101` went out.
    pub fn websocket_with(
        &self,
        options: &WebSocketOptions,
    ) -> Result<WebSocket<'_, 'a>, HttpError> {
        let Handshake { key, protocol } = check(self, options)?;
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut headers = vec![
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept.as_str()),
        ];
        if let Some(p) = &protocol {
            headers.push(("Sec-WebSocket-Protocol", p));
        }
        let io = self
            .upgrade(&headers)
            .map_err(|e| HttpError::new(e.status(), e.to_string()))?;
        Ok(WebSocket::new(io, options, protocol))
    }
}

#[cfg(test)]
mod tests {
    use super::has_token;

    #[test]
    fn tokens() {
        assert!(has_token(Some("keep-alive, Upgrade"), "upgrade"));
        assert!(!has_token(Some("upgraded"), "upgrade"));
        assert!(!has_token(None, "upgrade"));
    }

    #[test]
    fn the_subprotocol_chosen_is_one_the_client_sent_as_sent() {
        use crate::testing::TestClient;
        use crate::wsgi::{app_fn, Body, HttpError, WebSocketOptions};
        let app = app_fn(|env, _start| -> Result<Body, HttpError> {
            let o = WebSocketOptions::new().protocols(&["v2", "chat"]);
            env.websocket_with(&o)?;
            Ok(Body::empty())
        });
        let client = TestClient::new(app);
        for (offered, chosen) in [
            ("V2, chat", Some("chat")),
            ("V2", None),
            ("x, v2", Some("v2")),
        ] {
            let r = client.send(
                format!(
                    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                     Sec-WebSocket-Protocol: {offered}\r\n\r\n"
                )
                .as_bytes(),
                false,
            );
            assert_eq!(r.status(), 101);
            assert_eq!(r.header("sec-websocket-protocol"), chosen, "{offered}");
        }
        // Not a handshake: 426, whose Upgrade is named in Connection (RFC 9110 §7.8).
        let r = client.get("/");
        assert_eq!((r.status(), r.header("upgrade")), (426, Some("websocket")));
        let connection = r.header("connection").unwrap_or("");
        assert!(has_token(Some(connection), "upgrade"), "{connection:?}");
    }
}
