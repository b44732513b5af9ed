//! The query string, decoded: `Environ::query_pairs`, `query_param`, `query_params_all`.

use std::borrow::Cow;

use super::wsgi_bytes;
use crate::wsgi::Environ;

/// The decoded `name=value` pairs of a query string, in order: see
/// [`Environ::query_pairs`].
pub struct QueryPairs<'e> {
    inner: Pairs<'e>,
}

enum Pairs<'e> {
    /// Over the environ's `QUERY_STRING` (ASCII, the usual case).
    Borrowed(form_urlencoded::Parse<'e>),
    /// Decoded from a query with raw non-ASCII bytes.
    Owned(std::vec::IntoIter<(String, String)>),
}

impl<'e> Iterator for QueryPairs<'e> {
    type Item = (Cow<'e, str>, Cow<'e, str>);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Pairs::Borrowed(p) => p.next(),
            Pairs::Owned(p) => p.next().map(|(k, v)| (Cow::Owned(k), Cow::Owned(v))),
        }
    }
}

impl std::fmt::Debug for QueryPairs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueryPairs { .. }")
    }
}

impl<'a> Environ<'a> {
    /// The query string's `name=value` pairs, decoded: `+` is a space, `%XX` escapes are
    /// percent-decoded, and the bytes are read as UTF-8 (invalid sequences become `�`).
    /// A piece without `=` is a name with an empty value; empty pieces are skipped.
    ///
    /// It reads `QUERY_STRING` (so a middleware's rewrite counts), whose characters stand
    /// for bytes as in PEP 3333. The query is not the form: a POST's body is read with
    /// [`Environ::form`].
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    ///
    /// let req = TestRequest::get("/search?q=J%C3%BCrgen+M&tag=a&tag=b&empty");
    /// let pairs: Vec<(String, String)> = req
    ///     .environ(|env| env.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    ///     .unwrap();
    /// assert_eq!(pairs[0], ("q".to_owned(), "Jürgen M".to_owned()));
    /// assert_eq!(pairs.len(), 4);
    /// assert_eq!(pairs[3], ("empty".to_owned(), String::new()));
    /// ```
    pub fn query_pairs(&self) -> QueryPairs<'_> {
        let inner = match wsgi_bytes(self.query()) {
            Cow::Borrowed(b) => Pairs::Borrowed(form_urlencoded::parse(b)),
            Cow::Owned(b) => Pairs::Owned(
                form_urlencoded::parse(&b)
                    .into_owned()
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
        };
        QueryPairs { inner }
    }

    /// The first value of query parameter `name` (decoded as by
    /// [`query_pairs`](Environ::query_pairs)), or `None` if there is none.
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    ///
    /// let req = TestRequest::get("/?name=J%C3%BCrgen&x=a+b&x=c");
    /// req.environ(|env| {
    ///     assert_eq!(env.query_param("name").as_deref(), Some("Jürgen"));
    ///     assert_eq!(env.query_param("x").as_deref(), Some("a b"));
    ///     assert_eq!(env.query_params_all("x"), ["a b", "c"]);
    ///     assert_eq!(env.query_param("missing"), None);
    /// })
    /// .unwrap();
    /// ```
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Every value of query parameter `name`, in order (`?tag=a&tag=b`).
    pub fn query_params_all(&self, name: &str) -> Vec<Cow<'_, str>> {
        self.query_pairs()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestRequest;

    fn pairs(target: &str) -> Vec<(String, String)> {
        TestRequest::get(target)
            .environ(|env| {
                env.query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn pairs_are_decoded() {
        assert_eq!(pairs("/"), []);
        assert_eq!(pairs("/?"), []);
        assert_eq!(
            pairs("/?a=1&b=x+y&c=%2B%26%3D&&d&=e"),
            [
                p("a", "1"),
                p("b", "x y"),
                p("c", "+&="),
                p("d", ""),
                p("", "e")
            ]
        );
        assert_eq!(pairs("/?n=J%C3%BCrgen"), [p("n", "Jürgen")]);
        // Bad UTF-8 and bad escapes: lossy, never an error.
        assert_eq!(pairs("/?n=%FF%zz%4"), [p("n", "\u{fffd}%zz%4")]);
    }

    #[test]
    fn raw_non_ascii_bytes_are_utf8() {
        // A client that sends UTF-8 unescaped: the environ holds it as latin-1.
        let req = TestRequest::get("/?n=Jürgen&k=\u{e9}");
        let got = req
            .environ(|env| {
                (
                    env.query_param("n").map(|v| v.into_owned()),
                    env.query_param("k").map(|v| v.into_owned()),
                )
            })
            .unwrap();
        assert_eq!(got, (Some("Jürgen".to_owned()), Some("é".to_owned())));
    }

    #[test]
    fn middleware_rewrites_count() {
        let got = TestRequest::get("/?a=1")
            .environ(|env| {
                env.set("QUERY_STRING", "a=2&a=3");
                (
                    env.query_param("a").unwrap().into_owned(),
                    env.query_params_all("a").len(),
                )
            })
            .unwrap();
        assert_eq!(got, ("2".to_owned(), 2));
    }
}
