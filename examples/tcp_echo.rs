//! gevent's echoserver on `StreamServer`: every connection echoes what it receives, in a
//! green thread of its own. Takes the gunicorn-style flags (`--bind`, `--backlog`,
//! `--worker-connections`, `--graceful-timeout`, `--certfile`, ...), turned into
//! `StreamServer`'s plain options by the conversions `ServerOptions::from(&config)` and
//! `RuntimeConfig::from(&config)`.
//!
//! ```sh
//! cargo run --release --example tcp_echo -- --bind 127.0.0.1:7000
//! nc 127.0.0.1 7000
//! ```
use std::io::{Read, Write};

use greenlight::config::Config;
use greenlight::net::{Addr, TlsConfig};
use greenlight::server::{Conn, ServerOptions, StreamServer};
use greenlight::RuntimeConfig;

fn echo(mut conn: Conn, peer: Addr) {
    log::debug!("{peer} connected");
    let mut buf = [0u8; 4096];
    loop {
        if !conn.set_idle() {
            return;
        }
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !conn.set_busy() || conn.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn main() {
    let config = Config::from_args();
    if let Err(e) = greenlight::logging::init(&config.error_logfile, config.log_level) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    greenlight::configure(RuntimeConfig::from(&config));
    let mut server =
        StreamServer::new(config.binds.clone(), echo).options(ServerOptions::from(&config));
    let tls = config
        .tls_files()
        .map_err(greenlight::Error::from)
        .and_then(|files| files.as_ref().map(TlsConfig::try_from).transpose());
    match tls {
        Ok(Some(tls)) => server = server.tls(tls),
        Ok(None) => {}
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
    let result = server.serve_forever();
    if let Err(e) = &result {
        log::error!("{e}");
    }
    greenlight::logging::flush();
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}
