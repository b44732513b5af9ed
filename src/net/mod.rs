//! Listeners and streams: gunicorn's bind specs, built with socket2.
//!
//! | spec                 | meaning                                              |
//! |----------------------|------------------------------------------------------|
//! | `127.0.0.1:8000`     | an IPv4 address and port (a host name is resolved)   |
//! | `[::1]:8000`         | an IPv6 address and port                             |
//! | `:8000`              | all IPv4 interfaces (`0.0.0.0:8000`)                  |
//! | `localhost`          | a host with gunicorn's default port 8000             |
//! | `unix:/run/app.sock` | a unix socket (a stale file is replaced, removed on stop) |
//! | `fd://3`             | an inherited listening descriptor                    |
//!
//! When the process was started by systemd socket activation (`LISTEN_FDS` and
//! `LISTEN_PID` naming this process), [`bind_all`] uses those descriptors instead.
//!
//! `may::net::TcpListener::bind` sets `SO_REUSEPORT`, so binding a busy port would silently
//! succeed and split the traffic with another process. Listeners here are built with socket2
//! instead: a busy address is an error that says so.
//!
//! For outbound connections, [`TcpStream`] and [`UnixStream`] connect, read and write
//! without blocking the worker thread, and [`lookup_host`] resolves names on the thread
//! pool.

mod allow;
mod connect;
pub(crate) mod idle;
mod limits;
mod listener;
mod sendfile;
mod stream;
mod tls;

pub use allow::{AllowList, AllowListError};
pub use connect::{lookup_host, lookup_host_timeout, TcpStream, ToAddrs, UnixStream};
pub use limits::{connection_capacity, raise_open_files_limit};
pub(crate) use listener::Acceptor;
pub use listener::{bind, bind_all, BindOptions, BindSpec, Listener};
#[cfg(test)]
pub(crate) use sendfile::temp_file;
pub(crate) use stream::IoWaker;
pub(crate) use stream::SocketRef;
pub use stream::{Addr, Stream};
pub use tls::{Handshake, TlsConfig, TlsStream};
