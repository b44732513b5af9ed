//! A WebSocket echo at `/`: every message goes back to its sender as it came.
//!
//! ```sh
//! cargo run --release --example websocket            # ws://127.0.0.1:8000/
//! python3 -m websockets ws://127.0.0.1:8000/         # type lines, see them echoed
//! ```
//!
//! The usual flags work (`-b`, `-w`, `--certfile`/`--keyfile` for `wss://`...). A request
//! that is not a WebSocket handshake gets `426 Upgrade Required`.
use greenlight::wsgi::{app_fn, Body, HttpError};

fn main() {
    greenlight::run!(app_fn(|env, _start| -> Result<Body, HttpError> {
        let mut ws = env.websocket()?;
        while let Some(message) = ws.recv() {
            ws.send(message)?;
        }
        Ok(Body::empty())
    }))
}
