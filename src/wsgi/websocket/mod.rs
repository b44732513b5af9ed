//! WebSocket (RFC 6455) inside an ordinary handler: [`Environ::websocket`](super::Environ::websocket) checks the
//! handshake, answers `101 Switching Protocols` and returns a blocking [`WebSocket`].
//!
//! Framing is [`tungstenite`]'s (masking, fragmentation, control frames, UTF-8 checks,
//! size limits); this module adds the handshake, the waits (a green thread parks on its
//! socket, woken by data, by a [`Queue`](crate::queue::Queue) it also waits on, by its
//! idle alarm or by a server stop), and the closing rules:
//!
//! | what happens                               | close frame sent          | [`CloseStatus`] |
//! |--------------------------------------------|---------------------------|-----------------|
//! | the client sends a close                   | echoed (its code)         | its code, `by_peer` |
//! | [`WebSocket::close`]                       | yours; waits for the reply (bounded) | yours |
//! | a protocol error (an unmasked frame, a bad opcode, a fragmented ping...) | 1002 | 1002 |
//! | a text message that is not UTF-8          | 1007                      | 1007 |
//! | a frame or message over the limit          | 1009                      | 1009 |
//! | no byte from the client for the idle timeout | 1001 "idle timeout"     | 1001 |
//! | the server stops                           | 1001 "server stopping"    | 1001 |
//! | the handler returns with the socket open   | 1000                      | -   |
//! | the client vanishes without a close        | none                      | 1006 |
//!
//! After a close the connection ends when the handler returns (logged as `101`).
//! Extensions (permessage-deflate) are not offered: tungstenite has no support for them;
//! clients fall back to uncompressed messages.

mod handshake;
mod socket;

use std::time::Duration;

pub use socket::{Incoming, WebSocket};

/// A WebSocket message: UTF-8 text or binary data (pings, pongs and closes are handled
/// by [`WebSocket`] itself).
///
/// ```
/// use greenlight::wsgi::Message;
/// let m = Message::from("hi");
/// assert_eq!(m.as_text(), Some("hi"));
/// assert_eq!(Message::from(vec![1u8, 2]).as_bytes(), &[1, 2]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (always valid UTF-8).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Message {
    /// The text, for a text message.
    ///
    /// ```
    /// assert_eq!(greenlight::wsgi::Message::Binary(vec![]).as_text(), None);
    /// ```
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t),
            Message::Binary(_) => None,
        }
    }

    /// The payload's bytes, text or binary.
    ///
    /// ```
    /// assert_eq!(greenlight::wsgi::Message::from("ab").as_bytes(), b"ab");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The payload's length in bytes.
    ///
    /// ```
    /// assert_eq!(greenlight::wsgi::Message::from("abc").len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    ///
    /// ```
    /// assert!(greenlight::wsgi::Message::from("").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::Text(text.to_owned())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Message {
        Message::Binary(data)
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Message {
        Message::Binary(data.to_vec())
    }
}

/// How a WebSocket ended: the close code and reason, and who closed it.
///
/// Codes (RFC 6455 §7.4): 1000 normal, 1001 going away, 1002 protocol error, 1005 (the
/// peer's close had no code), 1006 (no close frame: the connection was lost), 1007 invalid
/// UTF-8, 1009 too big.
///
/// ```
/// use greenlight::wsgi::CloseStatus;
/// let s = CloseStatus { code: 1000, reason: "bye".into(), by_peer: true };
/// assert_eq!(s.to_string(), "1000 bye (closed by the peer)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseStatus {
    /// The close code.
    pub code: u16,
    /// The reason given with it (may be empty).
    pub reason: String,
    /// Whether the client closed (or vanished), rather than this end.
    pub by_peer: bool,
}

impl std::fmt::Display for CloseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = if self.by_peer { "the peer" } else { "us" };
        write!(f, "{} {} (closed by {who})", self.code, self.reason)
    }
}

/// Settings for [`Environ::websocket_with`](super::Environ::websocket_with): subprotocols,
/// limits, timeouts. The defaults suit browsers and many idle connections.
///
/// ```
/// use std::time::Duration;
/// use greenlight::wsgi::WebSocketOptions;
/// let options = WebSocketOptions::new()
///     .protocols(&["chat.v2", "chat"])
///     .max_message_size(64 << 10)
///     .idle_timeout(Some(Duration::from_secs(60)));
/// assert_eq!(options.get_max_message_size(), 64 << 10);
/// ```
#[derive(Debug, Clone)]
pub struct WebSocketOptions {
    protocols: Vec<String>,
    max_message_size: usize,
    max_frame_size: usize,
    idle_timeout: Option<Duration>,
    close_timeout: Duration,
    read_buffer_size: usize,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            protocols: Vec::new(),
            max_message_size: 4 << 20,
            max_frame_size: 4 << 20,
            idle_timeout: Some(Duration::from_secs(300)),
            close_timeout: Duration::from_secs(5),
            read_buffer_size: 4096,
        }
    }
}

impl WebSocketOptions {
    /// The defaults: no subprotocol; messages and frames up to 4 MiB; 300 s idle timeout;
    /// 5 s for the client's answer to a close; 4 KiB read buffer.
    ///
    /// ```
    /// let o = greenlight::wsgi::WebSocketOptions::new();
    /// assert_eq!(o.get_max_frame_size(), 4 << 20);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The subprotocols this app speaks, preferred first: the first one the client also
    /// offers (`Sec-WebSocket-Protocol`) is chosen and sent back; none is chosen if the
    /// client offers none of them (the client then decides whether to go on).
    ///
    /// ```
    /// let o = greenlight::wsgi::WebSocketOptions::new().protocols(&["chat"]);
    /// # let _ = o;
    /// ```
    pub fn protocols(mut self, protocols: &[&str]) -> Self {
        self.protocols = protocols.iter().map(|p| p.to_string()).collect();
        self
    }

    /// The largest message accepted (all its fragments together); a larger one closes the
    /// socket with 1009.
    ///
    /// ```
    /// let o = greenlight::wsgi::WebSocketOptions::new().max_message_size(1 << 20);
    /// assert_eq!(o.get_max_message_size(), 1 << 20);
    /// ```
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The limit set by [`max_message_size`](Self::max_message_size).
    ///
    /// ```
    /// assert_eq!(greenlight::wsgi::WebSocketOptions::new().get_max_message_size(), 4 << 20);
    /// ```
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The largest frame payload accepted; a larger one closes the socket with 1009.
    ///
    /// ```
    /// let o = greenlight::wsgi::WebSocketOptions::new().max_frame_size(64 << 10);
    /// assert_eq!(o.get_max_frame_size(), 64 << 10);
    /// ```
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// The limit set by [`max_frame_size`](Self::max_frame_size).
    ///
    /// ```
    /// assert_eq!(greenlight::wsgi::WebSocketOptions::new().get_max_frame_size(), 4 << 20);
    /// ```
    pub fn get_max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// How long the client may send nothing at all (`None`: forever); then the socket
    /// closes with 1001 "idle timeout". Any byte counts, pings and pongs included: a
    /// client that wants a quiet socket kept open pings within this time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = greenlight::wsgi::WebSocketOptions::new().idle_timeout(Some(Duration::from_secs(30)));
    /// # let _ = o;
    /// ```
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long [`WebSocket::close`] waits for the client's close frame.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = greenlight::wsgi::WebSocketOptions::new().close_timeout(Duration::from_secs(1));
    /// # let _ = o;
    /// ```
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// The read buffer, allocated once per socket: larger reads fewer times, smaller costs
    /// less per idle connection.
    ///
    /// ```
    /// let o = greenlight::wsgi::WebSocketOptions::new().read_buffer_size(16 << 10);
    /// # let _ = o;
    /// ```
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(256);
        self
    }
}
