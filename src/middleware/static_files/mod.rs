//! [`SharedData`]: static files under URL prefixes, as werkzeug's `SharedDataMiddleware`
//! and whitenoise serve them.

mod conditional;
mod encoding;
mod lookup;
mod path;
mod range;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use self::conditional::{Conditions, Validators, Verdict};
use self::lookup::{Found, Lookup, Wanted};
use self::range::ByteRange;
use crate::green::threadpool::spawn_blocking;
use crate::http::date;
use crate::wsgi::{App, Body, Environ, HttpError, IntoResponse, StartResponse};

/// Serves the files under directories for URL prefixes (`/static/` from `./public`), and
/// passes every other request, and requests for files that do not exist, to the app it
/// wraps: werkzeug's `SharedDataMiddleware`, with whitenoise's habits.
///
/// - **Methods**: `GET` and `HEAD`; any other on an existing file is a 405 with `Allow`.
/// - **Bodies**: files up to 16 KiB are read when opened and leave with the head in one
///   write; larger ones are sent with `sendfile(2)` ([`Body::file`]): memory stays flat
///   however large the file. `open`, `stat` and those small reads run on the
///   [thread pool](crate::threadpool), so a slow disk never stalls a worker thread there.
/// - **Headers**: `Content-Type` by extension (`mime_guess`; `text/*` with
///   `charset=utf-8`), a weak `ETag` from size and modification time, `Last-Modified`,
///   `Accept-Ranges: bytes`, `Cache-Control` (`no-cache` unless [`max_age`](Self::max_age)).
/// - **Conditional requests** (RFC 9110 §13.2.2): `If-None-Match` (lists, `*`, weak
///   comparison) and `If-Modified-Since` (in any of the three HTTP date forms) give a 304,
///   `If-None-Match` winning when both are sent; `If-Match` and `If-Unmodified-Since` give
///   a 412 when they fail (`If-Match` only passes with `*`: the tags are weak).
/// - **Ranges**: one range, `bytes=a-b`, `a-` or `-n`, gives a 206 with `Content-Range`, one
///   that starts past the end a 416 with `Content-Range: bytes */LEN`. Several ranges are
///   answered with the whole file (a 200, as RFC 9110 allows). `If-Range` takes a date
///   (the weak tag cannot pass its strong comparison), else the whole file is sent.
/// - **Precompressed variants**: `app.js.br` or `app.js.gz` beside `app.js` is sent instead
///   when `Accept-Encoding` accepts it (q-values honoured, `br` preferred on a tie), with
///   `Content-Encoding`, the variant's own `ETag`, and `Vary: Accept-Encoding` whenever a
///   variant exists. Requests with `Range` get the file itself.
/// - **Directories**: `dir/` serves `dir/index.html` ([`index`](Self::index)); `dir`
///   redirects there (301).
/// - **No way out of the root**: a path with a `..` segment (also percent-encoded, as
///   `%2e%2e`), an encoded separator (`%2f`, `%5c`), a backslash, NUL, a hidden name
///   (`.git`, `.env`; see [`allow_hidden`](Self::allow_hidden)), or a symlink (or index,
///   or variant) resolving outside the canonical root is answered 404, and never reaches the
///   app. What is opened is checked again through `/proc/self/fd`, so a directory swapped
///   for a symlink between the check and the `open` is caught too.
///
/// ```
/// use greenlight::middleware::SharedData;
/// use greenlight::testing::{TestClient, TestRequest};
/// use greenlight::wsgi::{Body, Environ, StartResponse};
///
/// fn app(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
///     start.status(200);
///     Body::from("the app\n")
/// }
///
/// let dir = std::env::temp_dir().join(format!("shared-data-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("hello.txt"), "0123456789abcdefghij")?;
///
/// let app = SharedData::new(app)
///     .mount("/static/", &dir)?
///     .max_age(std::time::Duration::from_secs(3600));
/// let client = TestClient::new(app);
///
/// let r = client.get("/static/hello.txt");
/// assert_eq!(r.status(), 200);
/// assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
/// assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
///
/// let part = client.request(TestRequest::get("/static/hello.txt").header("Range", "bytes=10-19"));
/// assert_eq!((part.status(), part.text()), (206, "abcdefghij".to_owned()));
///
/// let etag = r.header("etag").unwrap().to_owned();
/// let again = client.request(TestRequest::get("/static/hello.txt").header("If-None-Match", &etag));
/// assert_eq!(again.status(), 304);
///
/// assert_eq!(client.get("/static/../../etc/passwd").status(), 404);
/// assert_eq!(client.get("/elsewhere").text(), "the app\n");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct SharedData<A> {
    app: A,
    /// Longest prefix first.
    mounts: Vec<Mount>,
    cache_control: String,
    index: Option<String>,
    precompressed: bool,
    allow_hidden: bool,
}

struct Mount {
    /// Without its trailing `/` (empty for `/`).
    prefix: String,
    /// Canonical.
    root: Arc<PathBuf>,
}

impl<A: App> SharedData<A> {
    /// Wraps `app`; [`mount`](Self::mount) directories on it.
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// # fn app(_: &mut Environ<'_>, start: StartResponse<'_>) -> Body { start.status(404); Body::empty() }
    /// let app = greenlight::middleware::SharedData::new(app).mount("/", ".")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(app: A) -> SharedData<A> {
        SharedData {
            app,
            mounts: Vec::new(),
            cache_control: "no-cache".to_owned(),
            index: Some("index.html".to_owned()),
            precompressed: true,
            allow_hidden: false,
        }
    }

    /// Serves the files under `dir` for paths under `prefix` (`/static/x.css` is
    /// `dir/x.css`; `/` serves everything). The longest matching prefix wins. Fails when
    /// `dir` is not a directory (its canonical path is taken now, so the server's working
    /// directory may change later).
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// # fn app(_: &mut Environ<'_>, start: StartResponse<'_>) -> Body { start.status(404); Body::empty() }
    /// use greenlight::middleware::SharedData;
    /// let app = SharedData::new(app).mount("/static/", "src")?.mount("/docs", "docs")?;
    /// assert!(SharedData::new(|_: &mut Environ<'_>, s: StartResponse<'_>| Body::empty())
    ///     .mount("/x/", "Cargo.toml")
    ///     .is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn mount(mut self, prefix: &str, dir: impl AsRef<Path>) -> io::Result<SharedData<A>> {
        let root = std::fs::canonicalize(dir.as_ref())?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        let prefix = format!("/{}", prefix.trim_matches('/'));
        let prefix = prefix.trim_end_matches('/').to_owned();
        self.mounts.push(Mount {
            prefix,
            root: Arc::new(root),
        });
        self.mounts
            .sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        Ok(self)
    }

    /// Lets caches keep files for `age` without asking again (`Cache-Control: public,
    /// max-age=N`): for files whose names change with their content (`app.3f9a1c.js`). The
    /// default, `no-cache`, has caches revalidate each time (a 304 when unchanged).
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// # fn app(_: &mut Environ<'_>, start: StartResponse<'_>) -> Body { start.status(404); Body::empty() }
    /// use std::time::Duration;
    /// let app = greenlight::middleware::SharedData::new(app)
    ///     .mount("/assets/", "src")?
    ///     .max_age(Duration::from_secs(365 * 24 * 3600));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_age(mut self, age: Duration) -> SharedData<A> {
        self.cache_control = format!("public, max-age={}", age.as_secs());
        self
    }

    /// The file served for a directory's URL (`dir/`); `None`: directories are not served
    /// (the app answers). Default `index.html`.
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// # fn app(_: &mut Environ<'_>, start: StartResponse<'_>) -> Body { start.status(404); Body::empty() }
    /// let app = greenlight::middleware::SharedData::new(app).mount("/", "docs")?.index(None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn index(mut self, name: Option<&str>) -> SharedData<A> {
        self.index = name.map(str::to_owned);
        self
    }

    /// Whether precompressed variants (`file.br`, `file.gz`) are looked for. Default on.
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// # fn app(_: &mut Environ<'_>, start: StartResponse<'_>) -> Body { start.status(404); Body::empty() }
    /// let app = greenlight::middleware::SharedData::new(app).precompressed(false);
    /// ```
    pub fn precompressed(mut self, on: bool) -> SharedData<A> {
        self.precompressed = on;
        self
    }

    /// Whether names starting with `.` are served (`/.well-known/...`). Default off: a
    /// served directory's `.git` or `.env` stays private.
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// # fn app(_: &mut Environ<'_>, start: StartResponse<'_>) -> Body { start.status(404); Body::empty() }
    /// let app = greenlight::middleware::SharedData::new(app).allow_hidden(true);
    /// ```
    pub fn allow_hidden(mut self, on: bool) -> SharedData<A> {
        self.allow_hidden = on;
        self
    }

    /// The mount whose prefix `path` is under, and the rest of the path.
    fn matching<'p>(&self, path: &'p str) -> Option<(&Mount, &'p str)> {
        self.mounts.iter().find_map(|m| {
            let rest = path.strip_prefix(m.prefix.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((m, rest))
        })
    }
}

/// What the middleware does with a request under a mount.
enum Served {
    Answer(Body),
    FallThrough,
}

impl<A: App> App for SharedData<A> {
    fn call(&self, env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        let served = match self.matching(env.path()) {
            Some((mount, rest)) => {
                let rest = rest.to_owned();
                self.serve(mount, &rest, env, &start)
            }
            None => Served::FallThrough,
        };
        match served {
            Served::Answer(body) => body,
            Served::FallThrough => self.app.call(env, start),
        }
    }
}

impl<A: App> SharedData<A> {
    /// Looks the file up (on the thread pool) and answers for it.
    fn serve(
        &self,
        mount: &Mount,
        rest: &str,
        env: &Environ<'_>,
        start: &StartResponse<'_>,
    ) -> Served {
        let refuse = |e: HttpError| Served::Answer(e.into_response(env, start));
        let raw = env.get("REQUEST_URI").unwrap_or("");
        let Some(rel) =
            path::relative(rest, self.allow_hidden).filter(|_| !path::encodes_separator(raw))
        else {
            return refuse(HttpError::not_found());
        };
        let ranged = env.get("HTTP_RANGE").is_some();
        let wanted = Wanted {
            rel: rel.path,
            trailing_slash: rel.trailing_slash,
            index: self.index.clone(),
            codings: match self.precompressed && !ranged {
                true => encoding::accepted(env.get("HTTP_ACCEPT_ENCODING")),
                false => Vec::new(),
            },
            precompressed: self.precompressed,
            read_small: env.method() == "GET",
        };
        let root = mount.root.clone();
        match spawn_blocking(move || lookup::lookup(&root, &wanted)) {
            Ok(Ok(Lookup::Found(f))) => Served::Answer(self.respond(f, env, start)),
            Ok(Ok(Lookup::Missing)) => Served::FallThrough,
            Ok(Ok(Lookup::Outside)) => {
                log::debug!(
                    "static file {rest:?} resolves outside {}",
                    mount.root.display()
                );
                refuse(HttpError::not_found())
            }
            Ok(Ok(Lookup::AddSlash)) => {
                let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
                let q = if query.is_empty() {
                    String::new()
                } else {
                    format!("?{query}")
                };
                Served::Answer(start.redirect(301, format!("{path}/{q}")))
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::PermissionDenied => {
                refuse(HttpError::new(403, "Forbidden"))
            }
            Ok(Err(e)) => refuse(HttpError::internal("static file lookup failed").with_source(e)),
            Err(e) => refuse(HttpError::internal("static file lookup failed").with_source(e)),
        }
    }

    /// The answer for a found file: 405, 304, 412, 416, 206 or 200.
    fn respond(&self, f: Found, env: &Environ<'_>, start: &StartResponse<'_>) -> Body {
        let method = env.method();
        if method != "GET" && method != "HEAD" {
            return HttpError::method_not_allowed(&["GET", "HEAD"]).into_response(env, start);
        }
        let v = Validators::new(f.len, f.modified, f.coding.map(|c| c.name()));
        let conditions = Conditions {
            if_match: env.get("HTTP_IF_MATCH"),
            if_none_match: env.get("HTTP_IF_NONE_MATCH"),
            if_modified_since: env.get("HTTP_IF_MODIFIED_SINCE"),
            if_unmodified_since: env.get("HTTP_IF_UNMODIFIED_SINCE"),
        };
        match v.evaluate(&conditions) {
            Verdict::Send => {}
            Verdict::NotModified => {
                start.status(304);
                self.validator_headers(&v, &f, start);
                return Body::empty();
            }
            Verdict::Failed => {
                return HttpError::new(412, "Precondition Failed").into_response(env, start)
            }
        }
        let range = match env.get("HTTP_RANGE") {
            Some(h)
                if env
                    .get("HTTP_IF_RANGE")
                    .map_or(true, |d| v.if_range_holds(d)) =>
            {
                range::parse(h, f.len)
            }
            _ => ByteRange::Whole,
        };
        let range = match range {
            ByteRange::Unsatisfiable => {
                return HttpError::new(416, "Range Not Satisfiable")
                    .header("Content-Range", format!("bytes */{}", f.len))
                    .into_response(env, start);
            }
            ByteRange::Part(r) => {
                let last = r.end - 1;
                start.status(206).header(
                    "Content-Range",
                    format!("bytes {}-{last}/{}", r.start, f.len),
                );
                r
            }
            ByteRange::Whole => {
                start.status(200);
                0..f.len
            }
        };
        start.header("Content-Type", content_type(&f.path));
        if let Some(c) = f.coding {
            start.header("Content-Encoding", c.name());
        }
        self.validator_headers(&v, &f, start);
        match f.small {
            Some(bytes) => {
                Body::from(Bytes::from(bytes).slice(range.start as usize..range.end as usize))
            }
            None => Body::file(f.file, range),
        }
    }

    /// The headers a 200, a 206 and a 304 share.
    fn validator_headers(&self, v: &Validators, f: &Found, start: &StartResponse<'_>) {
        start
            .header("ETag", v.etag.clone())
            .header("Last-Modified", latin(&date::format(v.modified)))
            .header("Cache-Control", self.cache_control.clone())
            .header("Accept-Ranges", "bytes");
        if f.has_variants {
            start.header("Vary", "Accept-Encoding");
        }
    }
}

/// The `Content-Type` for a file's name: by its extension, `text/*` in UTF-8.
fn content_type(path: &Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    if mime.type_() == mime_guess::mime::TEXT && mime.get_param("charset").is_none() {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.to_string()
    }
}

fn latin(date: &date::HttpDate) -> String {
    date.iter().map(|&c| c as char).collect()
}

#[cfg(test)]
mod tests;
