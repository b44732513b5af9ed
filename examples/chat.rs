//! A chat room (gevent-websocket's demo): the page at `/`, its WebSocket at `/ws`; every
//! line anyone sends reaches everyone in the room.
//!
//! ```sh
//! cargo run --release --example chat                 # open http://127.0.0.1:8000/ twice
//! ```
//!
//! Each connection's green thread waits on its socket *and* its inbox, a bounded green
//! [`Queue`], with [`WebSocket::recv_or`]: a line from its client is put on every
//! member's inbox; a line in its inbox goes out to its client. No thread polls, and an
//! idle member costs its socket and its queue. A member too slow to keep up (its inbox
//! full) misses lines rather than slowing the room down. The room lives in one process:
//! run one worker (the default). `/?name=alice` picks a name; `/?name=alice&say=hi`
//! also says `hi` once someone else is in the room (a two-browser demo in one page).
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use greenlight::queue::Queue;
use greenlight::wsgi::{app_fn, Body, Environ, HttpError, Incoming, Message, WebSocket};

/// Lines waiting for a slow member, at most.
const INBOX: usize = 64;

/// The members' inboxes. The lock is held to add, remove or copy the list, never
/// across a wait.
#[derive(Default)]
struct Room {
    members: Mutex<HashMap<u64, Queue<Arc<str>>>>,
}

impl Room {
    fn join(&'static self, inbox: Queue<Arc<str>>) -> Member {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        self.members.lock().unwrap().insert(id, inbox);
        Member { room: self, id }
    }

    fn size(&self) -> usize {
        self.members.lock().unwrap().len()
    }

    /// Puts `line` in every inbox that has room.
    fn broadcast(&self, line: &str) {
        let line: Arc<str> = line.into();
        let inboxes: Vec<Queue<Arc<str>>> =
            self.members.lock().unwrap().values().cloned().collect();
        for inbox in inboxes {
            let _ = inbox.try_put(line.clone()); // full: this member misses the line
        }
    }
}

/// A place in the room, given up when the connection ends (however it ends).
struct Member {
    room: &'static Room,
    id: u64,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.room.members.lock().unwrap().remove(&self.id);
        let left = self.room.size();
        self.room.broadcast(&format!("* someone left; {left} here"));
    }
}

fn room() -> &'static Room {
    static ROOM: OnceLock<Room> = OnceLock::new();
    ROOM.get_or_init(Room::default)
}

/// A name from `?name=`, letters and digits only, or a made-up one.
fn name(env: &Environ<'_>) -> String {
    let asked: String = env
        .query_param("name")
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .take(20)
        .collect();
    if asked.is_empty() {
        format!("guest{}", room().size() + 1)
    } else {
        asked
    }
}

fn chat(mut ws: WebSocket<'_, '_>, name: &str) -> std::io::Result<()> {
    let inbox = Queue::bounded(INBOX);
    let _member = room().join(inbox.clone());
    ws.send_text(&format!("* you are {name}"))?;
    room().broadcast(&format!("* {name} joined; {} here", room().size()));
    while let Some(event) = ws.recv_or(&inbox) {
        match event {
            Incoming::Message(Message::Text(line)) => {
                room().broadcast(&format!("{name}: {line}"));
            }
            Incoming::Message(Message::Binary(_)) => ws.close(1003, "text only")?,
            Incoming::Item(line) => ws.send_text(&line)?,
        }
    }
    Ok(())
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>greenlight chat</title>
<style>body{font:15px sans-serif;margin:1em}#log{border:1px solid #999;height:12em;
overflow:auto;padding:.3em;white-space:pre-wrap}#state{color:#777}</style></head>
<body><h3>greenlight chat <span id="state">connecting</span></h3>
<div id="log"></div>
<form id="f"><input id="line" autocomplete="off" size="40" autofocus> <button>send</button></form>
<script>
const params = new URLSearchParams(location.search);
const log = document.getElementById("log"), state = document.getElementById("state");
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const ws = new WebSocket(scheme + location.host + "/ws?" + params);
let said = false;
ws.onopen = () => state.textContent = "connected";
ws.onclose = e => state.textContent = "closed (" + e.code + ")";
ws.onmessage = e => {
  log.textContent += e.data + "\n";
  log.scrollTop = log.scrollHeight;
  const m = /; (\d+) here$/.exec(e.data);
  if (params.get("say") && !said && m && +m[1] >= 2) { said = true; ws.send(params.get("say")); }
};
document.getElementById("f").onsubmit = e => {
  e.preventDefault();
  const line = document.getElementById("line");
  if (line.value) { ws.send(line.value); line.value = ""; }
};
</script></body></html>
"#;

fn main() {
    greenlight::run!(app_fn(|env, start| -> Result<Body, HttpError> {
        match env.path() {
            "/" => {
                start
                    .status(200)
                    .header("Content-Type", "text/html; charset=utf-8");
                Ok(Body::from(PAGE))
            }
            "/ws" => {
                let name = name(env);
                chat(env.websocket()?, &name)?;
                Ok(Body::empty())
            }
            _ => Err(HttpError::not_found()),
        }
    }))
}
