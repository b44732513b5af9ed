//! JSON request bodies: `Environ::json` (feature `json`).

use serde::de::DeserializeOwned;

use super::MediaType;
use crate::wsgi::{Environ, RequestError};

/// Whether a media type's essence is JSON: `application/json` or `application/*+json`.
fn is_json(essence: &str) -> bool {
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

impl<'a> Environ<'a> {
    /// Reads the body, at most `max_bytes` of it, as JSON into a `T`.
    ///
    /// The `Content-Type` must be `application/json` or `application/<something>+json`.
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    /// use greenlight::wsgi::RequestError;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Point { x: i32, y: i32 }
    ///
    /// let req = TestRequest::new("POST", "/")
    ///     .header("Content-Type", "application/json")
    ///     .body(r#"{"x": 1, "y": -2}"#);
    /// let p: Point = req.environ(|env| env.json(1024)).unwrap().unwrap();
    /// assert_eq!((p.x, p.y), (1, -2));
    ///
    /// let bad = TestRequest::new("POST", "/")
    ///     .header("Content-Type", "application/json")
    ///     .body(r#"{"x": 1"#);
    /// let e = bad.environ(|env| env.json::<Point>(1024)).unwrap().unwrap_err();
    /// assert_eq!(e.status(), 400);
    /// ```
    ///
    /// # Errors
    ///
    /// [`RequestError::UnsupportedMediaType`] for another (or no) `Content-Type`,
    /// [`RequestError::Malformed`] with serde's message for JSON that does not parse or does
    /// not fit `T`, [`RequestError::TooLarge`] for a body over `max_bytes`, and what
    /// reading the body can meet ([`Input::read_body`]).
    ///
    /// [`Input::read_body`]: crate::wsgi::Input::read_body
    pub fn json<T: DeserializeOwned>(&self, max_bytes: usize) -> Result<T, RequestError> {
        let ct = self.get("CONTENT_TYPE").unwrap_or("");
        let essence = MediaType::parse(ct).essence;
        if !is_json(&essence) {
            let got = if ct.is_empty() { "none" } else { &essence };
            return Err(RequestError::UnsupportedMediaType(format!(
                "expected application/json, got {got}"
            )));
        }
        let body = self.input().read_body(max_bytes)?;
        serde_json::from_slice(&body).map_err(|e| RequestError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestRequest;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Item {
        name: String,
        tags: Vec<String>,
    }

    fn json_of(ct: Option<&str>, body: &str, max: usize) -> Result<Item, RequestError> {
        let mut req = TestRequest::new("POST", "/").body(body);
        if let Some(ct) = ct {
            req = req.header("Content-Type", ct);
        }
        req.environ(|env| env.json(max)).unwrap()
    }

    #[test]
    fn json_bodies() {
        let body = r#"{"name": "Jürgen", "tags": ["a"]}"#;
        let want = Item {
            name: "Jürgen".into(),
            tags: vec!["a".into()],
        };
        assert_eq!(json_of(Some("application/json"), body, 100).unwrap(), want);
        let ct = "Application/Problem+JSON; charset=utf-8";
        assert_eq!(json_of(Some(ct), body, 100).unwrap(), want);
        for ct in [None, Some("text/plain"), Some("application/jsonx")] {
            let e = json_of(ct, body, 100).unwrap_err();
            assert!(matches!(e, RequestError::UnsupportedMediaType(_)), "{e}");
        }
        let e = json_of(Some("application/json"), body, 10).unwrap_err();
        assert!(matches!(e, RequestError::TooLarge { limit: 10 }), "{e}");
        let e = json_of(Some("application/json"), r#"{"name": 1}"#, 100).unwrap_err();
        match e {
            RequestError::Malformed(m) => assert!(m.contains("invalid type"), "{m}"),
            e => panic!("{e}"),
        }
    }
}
