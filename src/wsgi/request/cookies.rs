//! The request's cookies: `Environ::cookies` and `Environ::cookie`.

use std::borrow::Cow;

use cookie::Cookie;

use super::wsgi_bytes;
use crate::wsgi::Environ;

/// The cookies in a `Cookie` header value: `name=value` pieces split on `;`, values
/// percent-decoded where they decode to UTF-8 (else kept as sent). Pieces that are not
/// cookies (no `=`, an empty name) are skipped.
fn split(header: &str) -> impl Iterator<Item = Cookie<'_>> {
    header.split(';').filter_map(|piece| {
        let piece = piece.trim();
        if piece.is_empty() {
            return None;
        }
        Cookie::parse_encoded(piece)
            .or_else(|_| Cookie::parse(piece))
            .ok()
    })
}

impl<'a> Environ<'a> {
    /// The cookies the client sent, in order, from every `Cookie` header (`HTTP_COOKIE`,
    /// so a middleware's rewrite counts).
    ///
    /// Lenient, as browsers are: a piece that is not `name=value` is skipped, not an error.
    /// Values are percent-decoded (as [`Cookie::encoded`] writes them); one that does not
    /// decode to UTF-8 is given as sent. [`Cookie::value`] keeps surrounding quotes,
    /// [`Cookie::value_trimmed`] drops them.
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    ///
    /// let req = TestRequest::get("/").header("Cookie", "sid=abc123; theme=dark%20blue; junk");
    /// let cookies: Vec<(String, String)> = req
    ///     .environ(|env| {
    ///         env.cookies().map(|c| (c.name().to_owned(), c.value().to_owned())).collect()
    ///     })
    ///     .unwrap();
    /// assert_eq!(cookies, [("sid".into(), "abc123".into()), ("theme".into(), "dark blue".into())]);
    /// ```
    pub fn cookies(&self) -> impl Iterator<Item = Cookie<'_>> + '_ {
        let header = self.get("HTTP_COOKIE").unwrap_or("");
        // Raw non-ASCII bytes (held as latin-1 in the environ) are read as UTF-8.
        let (ascii, decoded) = match wsgi_bytes(header) {
            Cow::Borrowed(_) => (header, Vec::new()),
            Cow::Owned(b) => {
                let s = String::from_utf8_lossy(&b).into_owned();
                ("", split(&s).map(Cookie::into_owned).collect())
            }
        };
        split(ascii).chain(decoded)
    }

    /// The value of the first cookie named `name` (surrounding quotes dropped).
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    ///
    /// let req = TestRequest::get("/").header("Cookie", "a=1; b=\"two\"").header("Cookie", "c=3");
    /// req.environ(|env| {
    ///     assert_eq!(env.cookie("b").as_deref(), Some("two"));
    ///     assert_eq!(env.cookie("c").as_deref(), Some("3"));
    ///     assert_eq!(env.cookie("d"), None);
    /// })
    /// .unwrap();
    /// ```
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies()
            .find(|c| c.name() == name)
            .map(|c| c.value_trimmed().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestRequest;

    fn all(req: TestRequest) -> Vec<(String, String)> {
        req.environ(|env| {
            env.cookies()
                .map(|c| (c.name().to_owned(), c.value().to_owned()))
                .collect()
        })
        .unwrap()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn none_one_and_many_headers() {
        assert_eq!(all(TestRequest::get("/")), []);
        let req = TestRequest::get("/")
            .header("Cookie", "a=1;b=2")
            .header("X-Other", "x")
            .header("cookie", "c=3, d");
        assert_eq!(all(req), [p("a", "1"), p("b", "2"), p("c", "3, d")]);
    }

    #[test]
    fn lenient_on_bad_pairs() {
        let req = TestRequest::get("/").header("Cookie", ";; =x; noeq; ok=1 ; pct=%FF%zz; e=");
        assert_eq!(all(req), [p("ok", "1"), p("pct", "%FF%zz"), p("e", "")]);
    }

    #[test]
    fn raw_utf8_and_lookup() {
        let req = TestRequest::get("/").header("Cookie", "n=Jürgen; q=\"quoted\"; n=second");
        let got = req
            .environ(|env| (env.cookie("n"), env.cookie("q"), env.cookie("none")))
            .unwrap();
        assert_eq!(got, (Some("Jürgen".into()), Some("quoted".into()), None));
    }
}
