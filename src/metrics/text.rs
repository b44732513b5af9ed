//! The Prometheus text exposition format (version 0.0.4) of the master's totals.

use std::fmt::Write as _;

use super::{Totals, BUCKETS, CLASSES, METHODS};

/// The `Content-Type` of [`render`]'s output.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `cause` label's values of `greenlight_worker_restarts_total`.
pub(crate) const CAUSES: [&str; 5] = ["exit", "signal", "timeout", "overflow", "max-requests"];

/// Everything one scrape shows.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scrape {
    /// Every worker's counts, the retired ones' included; gauges of the live ones.
    pub(crate) totals: Totals,
    /// Workers replaced, by `CAUSES` index.
    pub(crate) restarts: [u64; CAUSES.len()],
    /// Live workers: (worker number, seconds since its last heartbeat).
    pub(crate) heartbeats: Vec<(u64, f64)>,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Seconds from microseconds, as a Prometheus float.
fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

/// The exposition of `s`.
pub(crate) fn render(s: &Scrape) -> String {
    let t = &s.totals;
    let mut out = String::with_capacity(4096);
    requests(&mut out, t);
    histogram(&mut out, t);
    let gauges = [
        (
            "greenlight_requests_in_flight",
            "Requests whose handler is running.",
            t.in_flight.max(0) as u64,
        ),
        (
            "greenlight_connections_open",
            "Client connections open.",
            t.connections_open,
        ),
        (
            "greenlight_connections_idle",
            "Keep-alive connections waiting for their next request.",
            t.connections_idle,
        ),
        (
            "greenlight_green_threads",
            "Green threads alive in the workers (connections, greenlets, server tasks).",
            t.green_threads,
        ),
        (
            "greenlight_workers",
            "Worker processes running.",
            s.heartbeats.len() as u64,
        ),
    ];
    for (name, help, v) in gauges {
        single(&mut out, name, "gauge", help, v);
    }
    let counters = [
        (
            "greenlight_received_bytes_total",
            "Bytes received from clients (HTTP, after TLS).",
            t.received_bytes,
        ),
        (
            "greenlight_sent_bytes_total",
            "Bytes sent to clients (HTTP, before TLS).",
            t.sent_bytes,
        ),
        (
            "greenlight_watchdog_warnings_total",
            "Worker threads found running one request's code longer than --max-blocking-time.",
            t.watchdog_warnings,
        ),
    ];
    for (name, help, v) in counters {
        single(&mut out, name, "counter", help, v);
    }
    family(
        &mut out,
        "greenlight_worker_restarts_total",
        "counter",
        "Workers that ended unplanned and were replaced, by cause.",
    );
    for (cause, n) in CAUSES.iter().zip(s.restarts) {
        let _ = writeln!(
            out,
            "greenlight_worker_restarts_total{{cause=\"{cause}\"}} {n}"
        );
    }
    let name = "greenlight_worker_heartbeat_age_seconds";
    family(
        &mut out,
        name,
        "gauge",
        "Seconds since each worker's last heartbeat.",
    );
    for (id, age) in &s.heartbeats {
        let _ = writeln!(out, "{name}{{worker=\"{id}\"}} {age:.3}");
    }
    out
}

fn requests(out: &mut String, t: &Totals) {
    let name = "greenlight_requests_total";
    family(
        out,
        name,
        "counter",
        "Requests answered, by method and status class.",
    );
    for (m, method) in METHODS.iter().enumerate() {
        for (c, class) in CLASSES.iter().enumerate() {
            match t.requests_of(m, c) {
                0 => {}
                n => {
                    let _ = writeln!(out, "{name}{{method=\"{method}\",status=\"{class}\"}} {n}");
                }
            }
        }
    }
}

fn histogram(out: &mut String, t: &Totals) {
    let name = "greenlight_request_duration_seconds";
    family(
        out,
        name,
        "histogram",
        "Time from a request's first byte to its answer being written.",
    );
    let mut cumulative = 0;
    for (i, (_, le)) in BUCKETS.iter().enumerate() {
        cumulative += t.buckets[i];
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    cumulative += t.buckets[BUCKETS.len()];
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(out, "{name}_sum {}", seconds(t.duration_us));
    let _ = writeln!(out, "{name}_count {cumulative}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_count_is_the_last() {
        let mut s = Scrape::default();
        s.totals.buckets[0] = 2;
        s.totals.buckets[3] = 1;
        s.totals.buckets[BUCKETS.len()] = 1;
        s.totals.requests[1] = 4;
        s.totals.duration_us = 1_500_000;
        s.restarts[1] = 1;
        s.heartbeats = vec![(3, 0.25)];
        let text = render(&s);
        for line in [
            "greenlight_request_duration_seconds_bucket{le=\"0.005\"} 2",
            "greenlight_request_duration_seconds_bucket{le=\"0.05\"} 3",
            "greenlight_request_duration_seconds_bucket{le=\"10\"} 3",
            "greenlight_request_duration_seconds_bucket{le=\"+Inf\"} 4",
            "greenlight_request_duration_seconds_count 4",
            "greenlight_request_duration_seconds_sum 1.5",
            "greenlight_requests_total{method=\"GET\",status=\"2xx\"} 4",
            "greenlight_worker_restarts_total{cause=\"signal\"} 1",
            "greenlight_worker_heartbeat_age_seconds{worker=\"3\"} 0.250",
            "greenlight_workers 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
