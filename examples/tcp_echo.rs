//! gevent's echoserver on `StreamServer`: every connection echoes what it receives, in a
//! green thread of its own. Takes the gunicorn-style flags (`--bind`, `--backlog`,
//! `--worker-connections`, `--graceful-timeout`, ...).
//!
//! ```sh
//! cargo run --release --example tcp_echo -- --bind 127.0.0.1:7000
//! nc 127.0.0.1 7000
//! ```
use std::io::{Read, Write};

use greenlight::net::{Addr, BindOptions, TlsConfig};
use greenlight::server::{Conn, ServerOptions, StreamServer};
use greenlight::Config;

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
    greenlight::configure(greenlight::RuntimeConfig {
        workers: config.threads,
        stack_size: config.stack_size,
    });
    let mut server = StreamServer::new(config.binds.clone(), echo).options(ServerOptions {
        bind: BindOptions {
            backlog: config.backlog,
            reuse_port: config.reuse_port,
        },
        max_connections: config.worker_connections,
        graceful_timeout: config.graceful_timeout,
        ..ServerOptions::default()
    });
    if let (Some(cert), Some(key)) = (&config.certfile, &config.keyfile) {
        match TlsConfig::from_pem_files(cert, key, config.ca_certs.as_deref()) {
            Ok(tls) => server = server.tls(tls),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    let result = server.serve_forever();
    if let Err(e) = &result {
        log::error!("{e}");
    }
    greenlight::logging::flush();
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}
