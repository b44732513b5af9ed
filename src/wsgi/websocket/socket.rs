//! The socket after the handshake: tungstenite's framing over the upgraded connection,
//! with reads that wait on the socket and can be ended by a queue, the idle alarm or a
//! server stop.
//!
//! Waiting never reads on spec: a read takes only bytes already received (`try_read`);
//! when there are none, it checks the other sources, then parks until the socket is
//! readable or a waker (a queue's put, the alarm) calls. tungstenite is told
//! `WouldBlock` when another source is ready and keeps a partial frame for the next read,
//! so no frame byte is ever consumed and dropped.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::error::ProtocolError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::Utf8Bytes;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Error as WsError, Message as WsMessage};

use super::{CloseStatus, Message, WebSocketOptions};
use crate::green::alarm::Alarm;
use crate::net::IoWaker;
use crate::queue::Queue;
use crate::wsgi::Upgraded;

/// Why the last read gave up before data came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    None,
    /// Another source (a queue) is ready.
    Woken,
    /// Nothing came within the idle timeout (or a close's wait for its answer).
    Idle,
    /// The server is stopping: it closed our read side.
    Stopping,
}

/// A wait that ended because another source became ready.
struct Woken;

/// The idle limit, kept by an alarm (on an in-memory connection reads never wait and
/// there is none).
struct Idle {
    timeout: Option<Duration>,
    last: Instant,
    /// A hard deadline: a close waiting for its answer.
    until: Option<Instant>,
    alarm: Option<Alarm>,
}

impl Idle {
    fn deadline(&self) -> Option<Instant> {
        let quiet = self.timeout.map(|t| self.last + t);
        match (quiet, self.until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the deadline passed; otherwise makes sure the alarm rings by then. Data
    /// only moves the deadline later, so an alarm set earlier just rings early, once.
    fn expired(&mut self) -> bool {
        let (Some(deadline), Some(alarm)) = (self.deadline(), self.alarm.as_mut()) else {
            return false;
        };
        if alarm.take_fired() || !alarm.is_set() {
            if Instant::now() >= deadline {
                return true;
            }
            alarm.set(deadline);
        }
        false
    }
}

/// The connection and its idle state: what tungstenite reads from and writes to.
struct Link<'e, 'a> {
    io: Upgraded<'e, 'a>,
    idle: Idle,
}

impl<'e, 'a> Link<'e, 'a> {
    fn pipe<'w>(&'w mut self, ready: &'w dyn Fn() -> bool) -> Pipe<'w, 'e, 'a> {
        Pipe {
            link: self,
            ready,
            interrupt: Interrupt::None,
        }
    }
}

/// One call's view of the link: reads wait as the module doc says.
struct Pipe<'w, 'e, 'a> {
    link: &'w mut Link<'e, 'a>,
    ready: &'w dyn Fn() -> bool,
    interrupt: Interrupt,
}

impl Read for Pipe<'_, '_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let link = &mut *self.link;
        loop {
            if let Some(n) = link.io.try_read(buf)? {
                if n == 0 && link.io.is_stopping() {
                    self.interrupt = Interrupt::Stopping;
                    return Err(io::Error::other("the server is stopping"));
                }
                link.idle.last = Instant::now();
                return Ok(n);
            }
            if (self.ready)() {
                self.interrupt = Interrupt::Woken;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if link.idle.expired() {
                self.interrupt = Interrupt::Idle;
                return Err(io::ErrorKind::TimedOut.into());
            }
            link.io.wait_readable();
        }
    }
}

impl Write for Pipe<'_, '_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.link.io.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.link.io.flush()
    }
}

fn never() -> bool {
    false
}

/// What [`WebSocket::recv_or`] returns: a message from the client, or an item from the
/// queue.
///
/// ```
/// use greenlight::wsgi::{Incoming, Message};
/// let i: Incoming<u8> = Incoming::Message(Message::from("hi"));
/// assert!(matches!(i, Incoming::Message(Message::Text(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<T> {
    /// A message from the client.
    Message(Message),
    /// An item taken from the queue.
    Item(T),
}

/// A WebSocket connection, from [`Environ::websocket`](crate::wsgi::Environ::websocket).
///
/// Blocking-style: [`recv`](Self::recv) parks the green thread until a message comes (or
/// the socket closes: `None`), [`send`](Self::send) until the frame is written. Pings are
/// answered with pongs, fragments joined, text checked as UTF-8, limits enforced, and
/// the closing handshake done, as the [module table](crate::wsgi::websocket) says. To
/// wait for the client *or* for messages from other green threads (a chat room), use
/// [`recv_or`](Self::recv_or) with a [`Queue`].
///
/// Dropping an open socket sends a close (1000). The socket borrows the request's
/// connection: it lives inside the handler, which returns when it is done.
///
/// ```
/// use greenlight::testing::TestClient;
/// use greenlight::wsgi::{app_fn, Body, HttpError, Message};
///
/// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
///     let mut ws = env.websocket()?;
///     while let Some(message) = ws.recv() {
///         match message {
///             Message::Text(t) => ws.send_text(&t.to_uppercase())?,
///             Message::Binary(b) => ws.send_binary(&b)?,
///         }
///     }
///     assert_eq!(ws.close_status().map(|s| s.code), Some(1000));
///     Ok(Body::empty())
/// });
/// let mut request = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".to_vec();
/// request.extend_from_slice(b"\x81\x82\0\0\0\0hi\x88\x82\0\0\0\0\x03\xe8");
/// let r = TestClient::new(app).send(&request, false);
/// assert_eq!(r.body(), b"\x81\x02HI\x88\x02\x03\xe8");
/// ```
pub struct WebSocket<'e, 'a> {
    link: Link<'e, 'a>,
    ctx: WebSocketContext,
    close_timeout: Duration,
    protocol: Option<String>,
    status: Option<CloseStatus>,
    waker: Option<IoWaker>,
    /// [`recv_or`](Self::recv_or) looks at the queue first (it took a message last).
    favour_queue: bool,
}

impl<'e, 'a> WebSocket<'e, 'a> {
    pub(super) fn new(
        mut io: Upgraded<'e, 'a>,
        options: &WebSocketOptions,
        protocol: Option<String>,
    ) -> Self {
        let config = WebSocketConfig::default()
            .read_buffer_size(options.read_buffer_size)
            // Frames go out as they are made (writes park; they never pile up).
            .write_buffer_size(0)
            .max_message_size(Some(options.max_message_size))
            .max_frame_size(Some(options.max_frame_size));
        let waker = io.waker();
        let alarm = waker
            .clone()
            .map(|w| Alarm::new(Arc::new(move || w.wake())));
        // A stop closes our read side (the next read sees the end, and we say 1001); a
        // full server never sheds us. `false` (already closed) shows on the first read.
        io.set_waiting();
        WebSocket {
            link: Link {
                io,
                idle: Idle {
                    timeout: options.idle_timeout,
                    last: Instant::now(),
                    until: None,
                    alarm,
                },
            },
            ctx: WebSocketContext::new(Role::Server, Some(config)),
            close_timeout: options.close_timeout,
            protocol,
            status: None,
            waker,
            favour_queue: true,
        }
    }

    /// The subprotocol chosen in the handshake, if any (see
    /// [`WebSocketOptions::protocols`](crate::wsgi::WebSocketOptions::protocols)).
    ///
    /// ```
    /// # use greenlight::testing::TestClient;
    /// # use greenlight::wsgi::{app_fn, Body, HttpError};
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     let ws = env.websocket()?;
    ///     assert_eq!(ws.protocol(), None); // none asked for by the app
    ///     Ok(Body::empty())
    /// });
    /// # let r = TestClient::new(app).send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    /// #   Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    /// #   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: x\r\n\r\n", false);
    /// # assert_eq!(r.status(), 101);
    /// ```
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// How the socket ended, once it has (`None` while it is open).
    ///
    /// ```
    /// # use greenlight::testing::TestClient;
    /// # use greenlight::wsgi::{app_fn, Body, HttpError};
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     let mut ws = env.websocket()?;
    ///     assert!(ws.close_status().is_none());
    ///     while ws.recv().is_some() {}
    ///     let status = ws.close_status().unwrap();
    ///     assert_eq!((status.code, status.by_peer), (1006, true)); // gone without a close
    ///     Ok(Body::empty())
    /// });
    /// # let r = TestClient::new(app).send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    /// #   Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    /// #   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", false);
    /// # assert_eq!(r.status(), 101);
    /// ```
    pub fn close_status(&self) -> Option<&CloseStatus> {
        self.status.as_ref()
    }

    /// Whether the socket has ended (see [`close_status`](Self::close_status)).
    ///
    /// ```
    /// # use greenlight::testing::TestClient;
    /// # use greenlight::wsgi::{app_fn, Body, HttpError};
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     let mut ws = env.websocket()?;
    ///     ws.close(1000, "bye")?;
    ///     assert!(ws.is_closed());
    ///     Ok(Body::empty())
    /// });
    /// # let r = TestClient::new(app).send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    /// #   Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    /// #   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", false);
    /// # assert_eq!(r.body(), b"\x88\x05\x03\xe8bye");
    /// ```
    pub fn is_closed(&self) -> bool {
        self.status.is_some()
    }

    /// The next message from the client; `None` once the socket has closed (see
    /// [`close_status`](Self::close_status) for how). See the type's example.
    ///
    /// ```
    /// # use greenlight::testing::TestClient;
    /// # use greenlight::wsgi::{app_fn, Body, HttpError, Message};
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     let mut ws = env.websocket()?;
    ///     assert_eq!(ws.recv(), Some(Message::from("hi")));
    ///     assert_eq!(ws.recv(), None);
    ///     Ok(Body::empty())
    /// });
    /// # let mut req = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    /// #   Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    /// #   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".to_vec();
    /// # req.extend_from_slice(b"\x81\x82\0\0\0\0hi");
    /// # assert_eq!(TestClient::new(app).send(&req, false).status(), 101);
    /// ```
    pub fn recv(&mut self) -> Option<Message> {
        loop {
            if let Ok(message) = self.receive(&never)? {
                return Some(message);
            }
        }
    }

    /// The next message from the client or the next item from `queue`, whichever comes
    /// first; `None` once the socket has closed. When both are there, they take turns
    /// (neither a busy client nor a busy queue starves the other); a closed, empty queue
    /// is ignored.
    ///
    /// The green thread parks on the socket and is woken by a put on `queue`: there is no
    /// polling, and no read is ever abandoned half-way (see the module notes), so a
    /// connection can relay what other connections put on its queue (the chat example).
    ///
    /// ```
    /// use greenlight::queue::Queue;
    /// # use greenlight::testing::TestClient;
    /// # use greenlight::wsgi::{app_fn, Body, HttpError, Incoming, Message};
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     let mut ws = env.websocket()?;
    ///     let outbox = Queue::bounded(16);
    ///     outbox.put("from another green thread".to_owned()).unwrap();
    ///     while let Some(event) = ws.recv_or(&outbox) {
    ///         match event {
    ///             Incoming::Item(text) => ws.send_text(&text)?,
    ///             Incoming::Message(m) => ws.send(m)?,
    ///         }
    ///     }
    ///     Ok(Body::empty())
    /// });
    /// # let r = TestClient::new(app).send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    /// #   Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    /// #   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", false);
    /// # assert!(r.body().starts_with(b"\x81\x19from another"));
    /// ```
    pub fn recv_or<T>(&mut self, queue: &Queue<T>) -> Option<Incoming<T>> {
        let waker = self.waker.clone();
        let _watch = queue.watch(Arc::new(move || {
            if let Some(w) = &waker {
                w.wake();
            }
        }));
        if std::mem::take(&mut self.favour_queue) {
            if let Ok(item) = queue.try_get() {
                return Some(Incoming::Item(item));
            }
        }
        loop {
            match self.receive(&|| !queue.is_empty())? {
                Ok(message) => {
                    self.favour_queue = true;
                    return Some(Incoming::Message(message));
                }
                Err(Woken) => {
                    if let Ok(item) = queue.try_get() {
                        return Some(Incoming::Item(item));
                    }
                }
            }
        }
    }

    /// The next message, or `Err(Woken)` when `ready` turned true first.
    fn receive(&mut self, ready: &dyn Fn() -> bool) -> Option<Result<Message, Woken>> {
        loop {
            if self.status.is_some() {
                return None;
            }
            let mut pipe = self.link.pipe(ready);
            let result = self.ctx.read(&mut pipe);
            let interrupt = pipe.interrupt;
            match result {
                Ok(WsMessage::Text(t)) => return Some(Ok(Message::Text(t.as_str().to_owned()))),
                Ok(WsMessage::Binary(b)) => return Some(Ok(Message::Binary(b.into()))),
                Ok(WsMessage::Close(frame)) => {
                    self.flush_quietly(); // the echo of the close
                    self.status = Some(match frame {
                        Some(f) => CloseStatus {
                            code: f.code.into(),
                            reason: f.reason.as_str().to_owned(),
                            by_peer: true,
                        },
                        None => peer_status(1005, ""),
                    });
                }
                // A ping's pong goes out now, not with the next message.
                Ok(_) => self.flush_quietly(),
                Err(WsError::Io(e))
                    if interrupt == Interrupt::Woken && e.kind() == io::ErrorKind::WouldBlock =>
                {
                    return Some(Err(Woken));
                }
                Err(e) => self.fail(e, interrupt),
            }
        }
    }

    /// Ends the socket after a read failed: says why to the client when it can.
    fn fail(&mut self, e: WsError, interrupt: Interrupt) {
        let (code, reason) = match (&e, interrupt) {
            (_, Interrupt::Stopping) => (1001, "server stopping".to_owned()),
            (_, Interrupt::Idle) => (1001, "idle timeout".to_owned()),
            (WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake), _) => {
                self.status = Some(peer_status(1006, "closed without a close frame"));
                return;
            }
            (WsError::Io(_) | WsError::ConnectionClosed | WsError::AlreadyClosed, _) => {
                self.status = Some(peer_status(1006, &e.to_string()));
                return;
            }
            (WsError::Protocol(p), _) => (1002, p.to_string()),
            (WsError::Utf8(_), _) => (1007, "invalid UTF-8 in a text message".to_owned()),
            (WsError::Capacity(c), _) => (1009, c.to_string()),
            _ => (1011, e.to_string()),
        };
        let _ = self.send_close(code, &reason);
        self.status = Some(CloseStatus {
            code,
            reason,
            by_peer: false,
        });
    }

    fn flush_quietly(&mut self) {
        let _ = self.ctx.flush(&mut self.link.pipe(&never));
    }

    fn send_close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: Utf8Bytes::from(truncate(reason, 123)),
        };
        match self.ctx.close(&mut self.link.pipe(&never), Some(frame)) {
            // A server's close ends the exchange once it is written.
            Err(WsError::ConnectionClosed) => Ok(()),
            r => r,
        }
    }
}

/// Sending.
impl WebSocket<'_, '_> {
    /// Sends a message (text or binary; `&str`, `String`, `Vec<u8>` and `&[u8]` convert).
    /// Fails with `NotConnected` once the socket has closed, or with the write's error
    /// (the socket is then closed, 1006).
    ///
    /// ```
    /// # use greenlight::testing::TestClient;
    /// # use greenlight::wsgi::{app_fn, Body, HttpError};
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     let mut ws = env.websocket()?;
    ///     ws.send("text")?;
    ///     ws.send(vec![0u8, 1])?;
    ///     Ok(Body::empty())
    /// });
    /// # let r = TestClient::new(app).send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    /// #   Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    /// #   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", false);
    /// # assert!(r.body().starts_with(b"\x81\x04text\x82\x02\0\x01"));
    /// ```
    pub fn send(&mut self, message: impl Into<Message>) -> io::Result<()> {
        self.write(match message.into() {
            Message::Text(t) => WsMessage::Text(t.into()),
            Message::Binary(b) => WsMessage::Binary(b.into()),
        })
    }

    /// Sends a text message.
    ///
    /// ```
    /// # use greenlight::testing::TestClient;
    /// # use greenlight::wsgi::{app_fn, Body, HttpError};
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     env.websocket()?.send_text("hello")?;
    ///     Ok(Body::empty())
    /// });
    /// # let r = TestClient::new(app).send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    /// #   Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    /// #   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", false);
    /// # assert!(r.body().starts_with(b"\x81\x05hello"));
    /// ```
    pub fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.write(WsMessage::Text(text.into()))
    }

    /// Sends a binary message.
    ///
    /// ```
    /// # use greenlight::testing::TestClient;
    /// # use greenlight::wsgi::{app_fn, Body, HttpError};
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     env.websocket()?.send_binary(&[1, 2, 3])?;
    ///     Ok(Body::empty())
    /// });
    /// # let r = TestClient::new(app).send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    /// #   Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    /// #   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", false);
    /// # assert!(r.body().starts_with(b"\x82\x03\x01\x02\x03"));
    /// ```
    pub fn send_binary(&mut self, data: &[u8]) -> io::Result<()> {
        self.write(WsMessage::Binary(data.to_vec().into()))
    }

    /// Sends a ping (at most 125 bytes of payload); the client's pong is read, and
    /// dropped, by later receives.
    ///
    /// ```
    /// # use greenlight::testing::TestClient;
    /// # use greenlight::wsgi::{app_fn, Body, HttpError};
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     env.websocket()?.ping(b"are you there?")?;
    ///     Ok(Body::empty())
    /// });
    /// # let r = TestClient::new(app).send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    /// #   Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    /// #   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", false);
    /// # assert!(r.body().starts_with(b"\x89\x0eare you there?"));
    /// ```
    pub fn ping(&mut self, payload: &[u8]) -> io::Result<()> {
        if payload.len() > 125 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a ping carries at most 125 bytes",
            ));
        }
        self.write(WsMessage::Ping(payload.to_vec().into()))
    }

    /// Closes the socket with `code` and `reason` (cut to 123 bytes): sends the close
    /// frame, then waits for the client's (reading and dropping what comes before it) for
    /// at most the [close timeout](crate::wsgi::WebSocketOptions::close_timeout). Codes:
    /// 1000-1003, 1007-1011 or 3000-4999. Closing a closed socket does nothing.
    ///
    /// ```
    /// # use greenlight::testing::TestClient;
    /// # use greenlight::wsgi::{app_fn, Body, HttpError};
    /// let app = app_fn(|env, _start| -> Result<Body, HttpError> {
    ///     let mut ws = env.websocket()?;
    ///     ws.close(4000, "done")?;
    ///     assert_eq!(ws.close_status().unwrap().code, 4000);
    ///     Ok(Body::empty())
    /// });
    /// # let r = TestClient::new(app).send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    /// #   Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    /// #   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", false);
    /// # assert_eq!(r.body(), b"\x88\x06\x0f\xa0done");
    /// ```
    pub fn close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        if !matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{code} is not a close code an endpoint may send"),
            ));
        }
        if let Err(e) = self.send_close(code, reason) {
            self.status = Some(peer_status(1006, &e.to_string()));
            return Err(into_io(e));
        }
        // The client's answer, within the close timeout.
        self.link.idle.until = Some(Instant::now() + self.close_timeout);
        if let Some(alarm) = self.link.idle.alarm.as_mut() {
            alarm.cancel();
        }
        while let Ok(m) = self.ctx.read(&mut self.link.pipe(&never)) {
            if let WsMessage::Close(_) = m {
                break;
            }
        }
        self.status = Some(CloseStatus {
            code,
            reason: truncate(reason, 123).to_owned(),
            by_peer: false,
        });
        Ok(())
    }

    fn write(&mut self, message: WsMessage) -> io::Result<()> {
        if let Some(status) = &self.status {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("the WebSocket is closed ({status})"),
            ));
        }
        let mut pipe = self.link.pipe(&never);
        let sent = match self.ctx.write(&mut pipe, message) {
            Ok(()) => self.ctx.flush(&mut pipe),
            Err(e) => Err(e),
        };
        sent.map_err(|e| {
            self.status = Some(peer_status(1006, &e.to_string()));
            into_io(e)
        })
    }
}

impl Drop for WebSocket<'_, '_> {
    fn drop(&mut self) {
        // Not while unwinding (a cancelled green thread must not write).
        if self.status.is_none() && !std::thread::panicking() {
            let _ = self.send_close(1000, "");
        }
    }
}

impl std::fmt::Debug for WebSocket<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("protocol", &self.protocol)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

fn peer_status(code: u16, reason: &str) -> CloseStatus {
    CloseStatus {
        code,
        reason: reason.to_owned(),
        by_peer: true,
    }
}

fn into_io(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        e => io::Error::other(e),
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
