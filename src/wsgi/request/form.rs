//! `application/x-www-form-urlencoded` bodies: `Environ::form` and [`Form`].

use super::MediaType;
use crate::wsgi::{Environ, RequestError};

const URLENCODED: &str = "application/x-www-form-urlencoded";

/// A url-encoded form: its decoded `name=value` pairs, in the order they came.
///
/// ```
/// use greenlight::testing::TestRequest;
///
/// let req = TestRequest::new("POST", "/")
///     .header("Content-Type", "application/x-www-form-urlencoded")
///     .body("name=J%C3%BCrgen+M&tag=a&tag=b");
/// let form = req.environ(|env| env.form(1024)).unwrap().unwrap();
/// assert_eq!(form.get("name"), Some("Jürgen M"));
/// assert_eq!(form.get_all("tag").collect::<Vec<_>>(), ["a", "b"]);
/// assert_eq!(form.iter().count(), 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Decodes a url-encoded body (`+` is a space, `%XX` escapes, UTF-8 read lossily).
    pub fn parse(body: &[u8]) -> Form {
        Form {
            pairs: form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'f>(&'f self, name: &'f str) -> impl Iterator<Item = &'f str> + 'f {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` has a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl IntoIterator for Form {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.pairs.into_iter()
    }
}

impl<'a> Environ<'a> {
    /// Reads the body as an `application/x-www-form-urlencoded` form, at most `max_bytes`
    /// of it.
    ///
    /// Only the body counts: the query string is [`Environ::query_pairs`], as werkzeug keeps
    /// `args` apart from `form`. A request with no body and no `Content-Type` (a GET) has
    /// an empty form.
    ///
    /// ```
    /// use greenlight::wsgi::{Body, Environ, HttpError, StartResponse};
    ///
    /// fn login(env: &mut Environ<'_>, start: StartResponse<'_>) -> Result<Body, HttpError> {
    ///     let form = env.form(64 * 1024)?; // 413, 415 or 400 through `?`
    ///     let user = form.get("user").ok_or(HttpError::bad_request("no user"))?;
    ///     start.status(200);
    ///     Ok(Body::from(format!("hello {user}")))
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RequestError::UnsupportedMediaType`] for a body of another type (a multipart
    /// form is read with [`Environ::multipart`]), [`RequestError::TooLarge`] for a body
    /// over `max_bytes`, and what reading the body can meet ([`Input::read_body`]).
    ///
    /// [`Input::read_body`]: crate::wsgi::Input::read_body
    pub fn form(&self, max_bytes: usize) -> Result<Form, RequestError> {
        let essence = self
            .get("CONTENT_TYPE")
            .map(|ct| MediaType::parse(ct).essence);
        if essence.as_deref().is_some_and(|e| e != URLENCODED) {
            return Err(RequestError::UnsupportedMediaType(format!(
                "expected {URLENCODED}, got {}",
                essence.unwrap_or_default()
            )));
        }
        let body = self.input().read_body(max_bytes)?;
        if essence.is_none() && !body.is_empty() {
            return Err(RequestError::UnsupportedMediaType(format!(
                "expected {URLENCODED}, got a body without Content-Type"
            )));
        }
        Ok(Form::parse(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestRequest;

    fn form_of(req: TestRequest, max: usize) -> Result<Form, RequestError> {
        req.environ(|env| env.form(max)).unwrap()
    }

    fn post(ct: &str, body: &str) -> TestRequest {
        TestRequest::new("POST", "/?q=query")
            .header("Content-Type", ct)
            .body(body)
    }

    #[test]
    fn forms_are_decoded_and_apart_from_the_query() {
        let f = form_of(post(URLENCODED, "a=1&b=x+y%21&a=2&c"), 100).unwrap();
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.get_all("a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(f.get("b"), Some("x y!"));
        assert_eq!(f.get("c"), Some(""));
        assert_eq!(f.get("q"), None);
        assert_eq!(f.len(), 4);
        let ct = "Application/X-WWW-Form-Urlencoded; charset=UTF-8";
        assert_eq!(
            form_of(post(ct, "k=%FF"), 100).unwrap().get("k"),
            Some("\u{fffd}")
        );
        let chunked = TestRequest::new("POST", "/")
            .header("Content-Type", URLENCODED)
            .chunks(["a=", "1&b", "=2"]);
        let f = form_of(chunked, 100).unwrap();
        assert_eq!(f.into_iter().collect::<Vec<_>>().len(), 2);
    }

    #[test]
    fn a_get_has_an_empty_form() {
        assert!(form_of(TestRequest::get("/?a=1"), 100).unwrap().is_empty());
    }

    #[test]
    fn wrong_type_too_large_or_truncated() {
        let e = form_of(post("application/json", "{}"), 100).unwrap_err();
        assert!(matches!(e, RequestError::UnsupportedMediaType(_)), "{e}");
        let bare = TestRequest::new("POST", "/").body("a=1");
        let e = form_of(bare, 100).unwrap_err();
        assert!(matches!(e, RequestError::UnsupportedMediaType(_)), "{e}");
        let e = form_of(post(URLENCODED, "a=12345"), 5).unwrap_err();
        assert!(matches!(e, RequestError::TooLarge { limit: 5 }), "{e}");
        let cut = post(URLENCODED, "a=1").header("Content-Length", "10");
        let e = form_of(cut, 100).unwrap_err();
        assert!(matches!(e, RequestError::Disconnected), "{e}");
    }
}
