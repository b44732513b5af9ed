//! Logging that never blocks a green thread.
//!
//! A green thread must not do blocking file I/O: it would stall every other green thread on
//! its worker. So a [`LogSink`] is only a handle on a bounded queue of lines; a plain OS
//! thread per sink takes everything queued, writes it in one go and flushes.
//!
//! - [`LogSink::write_line`] formats nothing and never waits: when the queue is full
//!   (the writer cannot keep up) the line is dropped and counted, and once the writer
//!   catches up it writes `N log lines dropped: writer too slow` into the same sink.
//!   Memory stays bounded.
//! - [`init`] installs a [`log`] facade logger writing gunicorn-style error-log lines
//!   (`[2026-11-23 19:36:00 +0000] [PID] [INFO] message`, UTC) to a file or stderr at a
//!   level (gunicorn's `--error-logfile` and `--log-level`), unless the program installed its own logger first (env_logger,
//!   tracing's, ...), which is then kept.
//! - [`flush`] waits until everything queued so far is written (for shutdown and tests).
//! - [`reopen_all`] reopens every file sink, for log rotation (`SIGUSR1`).
//!
//! ```
//! use greenlight::logging::LogSink;
//!
//! let path = std::env::temp_dir().join(format!("greenlight-doc-{}.log", std::process::id()));
//! let sink = LogSink::open_path(&path)?;
//! sink.write_line("GET / 200".to_owned());
//! sink.flush();
//! assert_eq!(std::fs::read_to_string(&path)?, "GET / 200\n");
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam::channel::{self, Receiver, Sender, TrySendError};

/// How many lines a sink queues before it starts dropping them.
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

/// The writer writes out its buffer when it grows past this, even within a batch.
const WRITE_CHUNK: usize = 64 * 1024;

/// The most messages the writer takes before writing out and checking for dropped lines.
const MAX_BATCH: usize = 4096;

enum Msg {
    Line(String),
    /// Write out everything before this, then answer.
    Flush(Sender<()>),
    /// Write out everything before this, then reopen a file sink.
    Reopen,
}

/// Where a writer thread writes.
enum Target {
    Stdout,
    Stderr,
    File { path: PathBuf, file: File },
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

impl Target {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Target::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Target::Stderr => io::stderr().lock().write_all(bytes),
            Target::File { file, .. } => file.write_all(bytes),
        }
    }

    fn reopen(&mut self) -> io::Result<()> {
        if let Target::File { path, file } = self {
            *file = open_append(path)?;
        }
        Ok(())
    }
}

/// The sending end of one sink's queue, shared by the sink's handles. Its writer thread
/// holds only `dropped`, so when the last handle goes the channel disconnects and the
/// writer drains and exits.
struct SinkQueue {
    tx: Sender<Msg>,
    dropped: Arc<AtomicU64>,
    name: String,
    is_file: bool,
}

/// Every live sink, for [`flush`] and [`reopen_all`].
static REGISTRY: Mutex<Vec<Weak<SinkQueue>>> = Mutex::new(Vec::new());

fn live_sinks() -> Vec<Arc<SinkQueue>> {
    let registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    registry.iter().filter_map(Weak::upgrade).collect()
}

/// A destination for log lines: stdout, stderr or a file, written by its own OS thread.
///
/// Cloning is cheap (a reference count); all clones feed the same queue and writer. The
/// writer thread ends once every handle is dropped and the queue is drained; call
/// [`LogSink::flush`] or [`flush`] before the process exits so that nothing queued is lost.
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<SinkQueue>,
}

impl fmt::Debug for LogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogSink")
            .field("target", &self.shared.name)
            .finish()
    }
}

impl LogSink {
    /// A sink writing to the process's stdout.
    ///
    /// # Errors
    ///
    /// When the writer thread cannot be started.
    pub fn open_stdout() -> io::Result<LogSink> {
        Self::start(Target::Stdout, DEFAULT_CAPACITY, None)
    }

    /// A sink writing to the process's stderr.
    ///
    /// # Errors
    ///
    /// When the writer thread cannot be started.
    pub fn open_stderr() -> io::Result<LogSink> {
        Self::start(Target::Stderr, DEFAULT_CAPACITY, None)
    }

    /// A sink appending to the file at `path`, created if missing. The file is opened
    /// here, so a bad path is reported at once.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened for appending, or the writer thread cannot start.
    pub fn open_path(path: impl AsRef<Path>) -> io::Result<LogSink> {
        Self::open_path_with_capacity(path.as_ref(), DEFAULT_CAPACITY, None)
    }

    /// `-` for stdout, anything else a file path (see [`LogSink::open_path`]).
    ///
    /// # Errors
    ///
    /// As [`LogSink::open_path`].
    pub fn open(spec: &str) -> io::Result<LogSink> {
        if spec == "-" {
            Self::open_stdout()
        } else {
            Self::open_path(spec)
        }
    }

    /// The sink for `--access-logfile SPEC`: `-` is stdout (gunicorn's meaning).
    ///
    /// # Errors
    ///
    /// As [`LogSink::open_path`].
    pub fn for_access(spec: &str) -> io::Result<LogSink> {
        Self::open(spec)
    }

    /// The sink for `--error-logfile SPEC`: `-` is stderr (gunicorn's meaning).
    ///
    /// # Errors
    ///
    /// As [`LogSink::open_path`].
    pub fn for_errors(spec: &str) -> io::Result<LogSink> {
        if spec == "-" {
            Self::open_stderr()
        } else {
            Self::open_path(spec)
        }
    }

    fn open_path_with_capacity(
        path: &Path,
        capacity: usize,
        gate: Option<Receiver<()>>,
    ) -> io::Result<LogSink> {
        let file = open_append(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("opening log file {}: {e}", path.display()),
            )
        })?;
        let target = Target::File {
            path: path.to_owned(),
            file,
        };
        Self::start(target, capacity, gate)
    }

    /// Starts the writer thread. With a `gate`, the writer waits for it to close or send
    /// before writing anything (tests use it to fill the queue).
    fn start(target: Target, capacity: usize, gate: Option<Receiver<()>>) -> io::Result<LogSink> {
        let (tx, rx) = channel::bounded(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let (name, is_file) = match &target {
            Target::Stdout => ("stdout".to_owned(), false),
            Target::Stderr => ("stderr".to_owned(), false),
            Target::File { path, .. } => (path.display().to_string(), true),
        };
        let writer = Writer {
            target,
            name: name.clone(),
            buf: Vec::with_capacity(WRITE_CHUNK),
            dropped: dropped.clone(),
            failing: false,
        };
        std::thread::Builder::new()
            .name("greenlight-log".to_owned())
            .spawn(move || {
                if let Some(gate) = gate {
                    let _ = gate.recv();
                }
                writer.run(rx)
            })?;
        let shared = Arc::new(SinkQueue {
            tx,
            dropped,
            name,
            is_file,
        });
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        registry.retain(|w| w.strong_count() > 0);
        registry.push(Arc::downgrade(&shared));
        Ok(LogSink { shared })
    }

    /// Queues one line (a newline is added if it lacks one). Never blocks: when the queue
    /// is full the line is dropped and counted, and the count is written to this sink once
    /// the writer catches up. Safe to call from green threads.
    pub fn write_line(&self, line: String) {
        match self.shared.tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Blocks until every line queued on this sink before the call is written and flushed.
    ///
    /// This blocks the calling OS thread: use it at shutdown or from a plain thread, not
    /// from a green thread on the hot path.
    pub fn flush(&self) {
        let (tx, rx) = channel::bounded(1);
        if self.shared.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// Asks the writer to reopen its file (after the lines queued so far are written to
    /// the old one), for log rotation; no effect on stdout and stderr sinks. Errors are
    /// reported on stderr and the old file is kept.
    ///
    /// Returns without waiting for the reopen, but may wait while the queue is full: call it
    /// from a plain thread (a signal handler's), not a green thread.
    pub fn reopen(&self) {
        if self.shared.is_file {
            let _ = self.shared.tx.send(Msg::Reopen);
        }
    }
}

/// The writer thread's state.
struct Writer {
    target: Target,
    name: String,
    buf: Vec<u8>,
    dropped: Arc<AtomicU64>,
    /// A write failed and was reported; do not report again until a write succeeds.
    failing: bool,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        while let Ok(msg) = rx.recv() {
            self.handle(msg);
            for _ in 1..MAX_BATCH {
                match rx.try_recv() {
                    Ok(msg) => self.handle(msg),
                    Err(_) => break,
                }
            }
            self.report_dropped();
            self.write_out();
        }
        self.report_dropped();
        self.write_out();
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Line(line) => {
                self.buf.extend_from_slice(line.as_bytes());
                if !line.ends_with('\n') {
                    self.buf.push(b'\n');
                }
                if self.buf.len() >= WRITE_CHUNK {
                    self.write_out();
                }
            }
            Msg::Flush(reply) => {
                self.report_dropped();
                self.write_out();
                let _ = reply.send(());
            }
            Msg::Reopen => {
                self.write_out();
                if let Err(e) = self.target.reopen() {
                    eprintln!(
                        "greenlight: reopening log file {}: {e}; still writing to the old one",
                        self.name
                    );
                }
            }
        }
    }

    fn report_dropped(&mut self) {
        let n = self.dropped.swap(0, Ordering::Relaxed);
        if n > 0 {
            let line = format_error_line(
                UtcTime::now(),
                std::process::id(),
                log::Level::Warn,
                format_args!("{n} log lines dropped: writer too slow"),
            );
            self.buf.extend_from_slice(line.as_bytes());
        }
    }

    fn write_out(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        match self.target.write_all(&self.buf) {
            Ok(()) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    eprintln!(
                        "greenlight: writing log {}: {e}; lines are being lost",
                        self.name
                    );
                }
                self.failing = true;
            }
        }
        self.buf.clear();
    }
}

/// Blocks until every line queued so far on every sink is written and flushed.
///
/// Blocks the calling OS thread; meant for shutdown and tests.
pub fn flush() {
    let markers: Vec<Receiver<()>> = live_sinks()
        .iter()
        .filter_map(|s| {
            let (tx, rx) = channel::bounded(1);
            s.tx.send(Msg::Flush(tx)).ok().map(|()| rx)
        })
        .collect();
    for rx in markers {
        let _ = rx.recv();
    }
}

/// A budget of log lines per second, for lines a client can cause (a refused request):
/// past it, lines are dropped and counted, so an attacker cannot flood the log or slow
/// the server down writing it.
///
/// ```
/// use greenlight::logging::LineBudget;
/// static REFUSED: LineBudget = LineBudget::new(2);
/// assert_eq!(REFUSED.take(), Some(0));
/// assert_eq!(REFUSED.take(), Some(0));
/// assert_eq!(REFUSED.take(), None); // over budget this second: drop the line
/// ```
pub struct LineBudget {
    per_second: u64,
    /// The current second (Unix time) and the lines logged in it, packed: second << 20 | n.
    window: AtomicU64,
    /// Lines dropped since the last one logged.
    dropped: AtomicU64,
}

impl LineBudget {
    /// A budget of `per_second` lines (at most 2^20 - 1).
    pub const fn new(per_second: u64) -> Self {
        LineBudget {
            per_second,
            window: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Takes one line from this second's budget: `Some(n)` to log it, `n` lines having
    /// been dropped since the last one logged (worth saying in the line); `None` to drop it.
    pub fn take(&self) -> Option<u64> {
        const BITS: u32 = 20;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut cur = self.window.load(Ordering::Relaxed);
        loop {
            let (sec, n) = (cur >> BITS, cur & ((1 << BITS) - 1));
            let next = if sec == now {
                if n >= self.per_second {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                cur + 1
            } else {
                (now << BITS) | 1
            };
            match self
                .window
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(self.dropped.swap(0, Ordering::Relaxed)),
                Err(seen) => cur = seen,
            }
        }
    }
}

/// Reopens every file sink (the lines queued before are written to the old files), for
/// log rotation: a `SIGUSR1` handler calls this after logrotate renamed the files.
///
/// See [`LogSink::reopen`]: call it from a plain thread.
pub fn reopen_all() {
    for sink in live_sinks() {
        LogSink { shared: sink }.reopen();
    }
}

/// Appends `s` to `out` as a JSON string literal: quotes, backslashes and every control
/// character escaped (`\u00XX`), and U+2028/U+2029 too, so a line stays one line and
/// embeds safely anywhere. Text that came from latin-1 bytes is emitted as its characters.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A UTC calendar time, for log timestamps (no time-zone database needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
}

impl UtcTime {
    /// The calendar time `secs` seconds after the Unix epoch.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::logging::UtcTime;
    /// let t = UtcTime::from_unix(1_700_000_000);
    /// assert_eq!(t.to_string(), "2023-11-14 22:13:20");
    /// ```
    pub fn from_unix(secs: u64) -> UtcTime {
        let rem = (secs % 86_400) as u32;
        let (year, month, day) = crate::time::civil_from_days(secs / 86_400);
        UtcTime {
            // At most 584 billion years: u64 seconds cannot reach past i64 years.
            year: year as i64,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    /// The current time (the epoch if the clock is before it).
    pub fn now() -> UtcTime {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        UtcTime::from_unix(secs)
    }
}

impl fmt::Display for UtcTime {
    /// `YYYY-MM-DD HH:MM:SS`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// gunicorn's name for a level.
fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "ERROR",
        log::Level::Warn => "WARNING",
        log::Level::Info => "INFO",
        log::Level::Debug => "DEBUG",
        log::Level::Trace => "TRACE",
    }
}

/// `[2026-11-23 19:36:00 +0000] [PID] [LEVEL] message\n`
fn format_error_line(time: UtcTime, pid: u32, level: log::Level, msg: fmt::Arguments) -> String {
    format!("[{time} +0000] [{pid}] [{}] {msg}\n", level_name(level))
}

/// The `log` facade logger [`init`] installs.
struct ErrorLogger {
    sink: LogSink,
    level: log::LevelFilter,
    pid: u32,
}

impl log::Log for ErrorLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        // The runtime's own info lines ("add fd to epoll select") are noise to an operator;
        // its warnings and errors are kept.
        let t = metadata.target();
        if (t == "may" || t.starts_with("may::")) && metadata.level() > log::Level::Warn {
            return false;
        }
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let line = format_error_line(UtcTime::now(), self.pid, record.level(), *record.args());
            self.sink.write_line(line);
        }
    }

    fn flush(&self) {
        self.sink.flush();
    }
}

static LOGGER: OnceLock<ErrorLogger> = OnceLock::new();

/// Installs the error log: a [`log`] facade logger writing to `error_logfile` (`-` =
/// stderr, anything else a file appended to) at `level`, in gunicorn's format
/// (`[2026-11-23 19:36:00 +0000] [PID] [INFO] message`, UTC). These are gunicorn's
/// `--error-logfile` and `--log-level`.
///
/// Logging then only formats the line and queues it (see [`LogSink::write_line`]), so it
/// is fine from green threads.
///
/// If the program already installed a logger (env_logger, a tracing bridge, ...), that one
/// is kept and this returns `Ok(())`; the same holds for a second call (the first
/// configuration stays).
///
/// # Errors
///
/// When the error log file cannot be opened.
///
/// # Examples
///
/// ```
/// greenlight::logging::init("-", log::LevelFilter::Info)?;
/// log::info!("Listening at: http://127.0.0.1:8000");
/// greenlight::logging::flush();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn init(error_logfile: &str, level: log::LevelFilter) -> io::Result<()> {
    if LOGGER.get().is_some() {
        return Ok(());
    }
    let mut sink = Some(LogSink::for_errors(error_logfile)?);
    let mut ours = false;
    let logger = LOGGER.get_or_init(|| {
        ours = true;
        ErrorLogger {
            sink: sink.take().expect("initialised once"),
            level,
            pid: std::process::id(),
        }
    });
    if ours && log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn temp_path(tag: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!(
            "greenlight-logging-{}-{tag}-{n}.log",
            std::process::id()
        ))
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn lines_arrive_in_order() {
        let path = temp_path("order");
        let sink = LogSink::open_path(&path).unwrap();
        let clone = sink.clone();
        for i in 0..20_000 {
            if i % 2 == 0 {
                sink.write_line(format!("line {i}"));
            } else {
                clone.write_line(format!("line {i}\n"));
            }
        }
        sink.flush();
        let expected: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(read(&path), expected);
        // More lines after a flush, and the global flush.
        sink.write_line("last".to_owned());
        flush();
        assert!(read(&path).ends_with("line 19999\nlast\n"));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn appends_to_an_existing_file() {
        let path = temp_path("append");
        std::fs::write(&path, "old\n").unwrap();
        let sink = LogSink::open(path.to_str().unwrap()).unwrap();
        sink.write_line("new".to_owned());
        sink.flush();
        assert_eq!(read(&path), "old\nnew\n");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn open_reports_a_bad_path() {
        let err = LogSink::open("/nonexistent-dir/greenlight/x.log").unwrap_err();
        assert!(err
            .to_string()
            .contains("/nonexistent-dir/greenlight/x.log"));
        assert!(LogSink::for_errors("/nonexistent-dir/x.log").is_err());
    }

    #[test]
    fn dash_means_stdout_or_stderr() {
        assert!(format!("{:?}", LogSink::for_access("-").unwrap()).contains("stdout"));
        assert!(format!("{:?}", LogSink::for_errors("-").unwrap()).contains("stderr"));
        assert!(format!("{:?}", LogSink::open("-").unwrap()).contains("stdout"));
        // Reopening a standard stream does nothing (and does not block).
        LogSink::open_stderr().unwrap().reopen();
    }

    #[test]
    fn a_full_queue_drops_and_reports() {
        let path = temp_path("dropped");
        let (open_gate, gate) = channel::bounded::<()>(0);
        let sink = LogSink::open_path_with_capacity(&path, 4, Some(gate)).unwrap();
        for i in 0..10 {
            sink.write_line(format!("line {i}")); // never blocks, even with a stalled writer
        }
        drop(open_gate);
        sink.flush();
        let text = read(&path);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..4], ["line 0", "line 1", "line 2", "line 3"]);
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[4].ends_with("[WARNING] 6 log lines dropped: writer too slow"),
            "{}",
            lines[4]
        );
        // The count is reported once.
        sink.write_line("after".to_owned());
        sink.flush();
        assert!(read(&path).ends_with("writer too slow\nafter\n"));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn reopen_after_rename_writes_a_new_file() {
        let path = temp_path("rotate");
        let rotated = path.with_extension("log.1");
        let sink = LogSink::open_path(&path).unwrap();
        sink.write_line("before".to_owned());
        sink.flush();
        std::fs::rename(&path, &rotated).unwrap();
        sink.write_line("queued before reopen".to_owned());
        sink.reopen();
        sink.write_line("after".to_owned());
        sink.flush();
        assert_eq!(read(&rotated), "before\nqueued before reopen\n");
        assert_eq!(read(&path), "after\n");

        // reopen_all reaches every file sink.
        std::fs::rename(&path, &rotated).unwrap();
        reopen_all();
        sink.write_line("again".to_owned());
        flush();
        assert_eq!(read(&path), "again\n");
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(&rotated).unwrap();
    }

    #[test]
    fn writer_ends_when_the_last_handle_goes() {
        let path = temp_path("end");
        let sink = LogSink::open_path(&path).unwrap();
        let weak = Arc::downgrade(&sink.shared);
        sink.write_line("x".to_owned());
        sink.flush();
        drop(sink);
        assert!(weak.upgrade().is_none());
        flush(); // skips the dead sink
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn utc_time() {
        let t = |s| UtcTime::from_unix(s).to_string();
        assert_eq!(t(0), "1970-01-01 00:00:00");
        assert_eq!(t(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(t(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(t(1_795_462_560), "2026-11-23 19:36:00");
        assert_eq!(t(4_107_542_399), "2100-02-28 23:59:59");
        assert_eq!(t(4_107_542_400), "2100-03-01 00:00:00");
        assert_eq!(t(253_402_300_799), "9999-12-31 23:59:59");
        assert!(UtcTime::now().year >= 2024);
    }

    #[test]
    fn error_line_format() {
        let line = format_error_line(
            UtcTime::from_unix(1_795_462_560),
            42,
            log::Level::Info,
            format_args!("Listening at: http://{}", "127.0.0.1:8000"),
        );
        assert_eq!(
            line,
            "[2026-11-23 19:36:00 +0000] [42] [INFO] Listening at: http://127.0.0.1:8000\n"
        );
        assert_eq!(level_name(log::Level::Warn), "WARNING");
    }

    #[test]
    fn logger_filters_and_formats() {
        use log::Log;
        let path = temp_path("logger");
        let logger = ErrorLogger {
            sink: LogSink::open_path(&path).unwrap(),
            level: log::LevelFilter::Info,
            pid: 7,
        };
        let record = |level, msg: &str| {
            logger.log(
                &log::Record::builder()
                    .level(level)
                    .args(format_args!("{msg}"))
                    .build(),
            )
        };
        record(log::Level::Debug, "hidden");
        record(log::Level::Info, "shown");
        record(log::Level::Error, "bad");
        logger.flush();
        let text = read(&path);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with('[') && lines[0].ends_with(" +0000] [7] [INFO] shown"));
        assert!(lines[1].ends_with("[7] [ERROR] bad"));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn init_installs_or_keeps_a_logger() {
        let path = temp_path("init");
        init(path.to_str().unwrap(), log::LevelFilter::Warn).unwrap();
        init("-", log::LevelFilter::Info).unwrap(); // a second call keeps the first
        let installed = std::ptr::addr_eq(
            log::logger() as *const dyn log::Log,
            LOGGER.get().unwrap() as *const ErrorLogger,
        );
        if installed {
            log::info!("below the level");
            log::warn!("init marker");
            flush();
            let text = read(&path);
            assert!(!text.contains("below the level"));
            assert!(text.contains("[WARNING] init marker"), "{text}");
        }
        let _ = std::fs::remove_file(&path);
    }
}
