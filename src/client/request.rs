//! A request being built: method, URL, headers, timeout; sent with a body or without.

use std::fmt;
use std::time::{Duration, Instant};

use ureq::http::{Method, Request, Uri};

use super::error::{Error, ErrorKind};
use super::redirect::{next_hop, Hop};
use super::response::Response;
use super::transport::host_and_port;
use super::Client;

/// A request to send: made by [`Client::get`] and friends, finished by [`RequestBuilder::call`]
/// (no body) or one of the `send` methods.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use greenlight::wsgi::{Body, WsgiServer};
/// let server = WsgiServer::new("127.0.0.1:0", |env: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
///     let token = env.get("HTTP_X_TOKEN").unwrap_or("none").to_owned();
///     let query = env.query().to_owned();
///     start.status("200 OK");
///     Body::from(format!("{token} {query}"))
/// })
/// .start()
/// .unwrap();
///
/// let response = greenlight::client::get(&format!("http://{}/search", server.local_addr()))
///     .header("X-Token", "t0k3n")
///     .query("q", "green threads")
///     .timeout(Duration::from_secs(10))
///     .call()
///     .unwrap();
/// assert_eq!(response.text().unwrap(), "t0k3n q=green+threads");
/// # server.stop_now();
/// ```
#[must_use = "a request does nothing until it is sent with call() or send()"]
pub struct RequestBuilder {
    client: Client,
    method: String,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: &str, url: &str) -> RequestBuilder {
        RequestBuilder {
            client,
            method: method.to_owned(),
            url: url.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            timeout: None,
        }
    }

    /// Adds a header (a repeated name adds another value). An invalid name or value is
    /// reported as [`ErrorKind::InvalidRequest`] when the request is sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = greenlight::client::get("http://127.0.0.1:1/")
    ///     .header("Accept", "application/json")
    ///     .header("Authorization", "Bearer secret");
    /// # drop(request);
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a query parameter to the URL, form-encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = greenlight::client::get("http://127.0.0.1:1/search").query("q", "a&b");
    /// # drop(request);
    /// ```
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Bounds this request as a whole, response body included (the client's overall
    /// [`timeout`](super::ClientBuilder::timeout) for this request).
    ///
    /// # Examples
    ///
    /// ```
    /// let request = greenlight::client::get("http://127.0.0.1:1/")
    ///     .timeout(std::time::Duration::from_millis(500));
    /// # drop(request);
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Sends the request without a body and waits for the response head. The body is
    /// read from the [`Response`].
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::wsgi::{Body, WsgiServer};
    /// let server = WsgiServer::new("127.0.0.1:0", |_: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
    ///     start.status("204 No Content");
    ///     Body::empty()
    /// })
    /// .start()
    /// .unwrap();
    /// let url = format!("http://{}/", server.local_addr());
    /// assert_eq!(greenlight::client::get(&url).call().unwrap().status(), 204);
    /// # server.stop_now();
    /// ```
    pub fn call(self) -> Result<Response, Error> {
        self.run(None)
    }

    /// Sends the request with `body` (bytes or a string), with its `Content-Length`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenlight::client::post("http://127.0.0.1:1/").send(vec![1, 2, 3]).unwrap_err();
    /// assert_eq!(err.kind(), greenlight::client::ErrorKind::Connect);
    /// ```
    pub fn send(self, body: impl AsRef<[u8]>) -> Result<Response, Error> {
        self.run(Some(body.as_ref()))
    }

    /// Sends `pairs` as an `application/x-www-form-urlencoded` body.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenlight::client::post("http://127.0.0.1:1/login")
    ///     .send_form(&[("user", "ada"), ("password", "x&y")])
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), greenlight::client::ErrorKind::Connect);
    /// ```
    pub fn send_form(self, pairs: &[(&str, &str)]) -> Result<Response, Error> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.default_header("Content-Type", "application/x-www-form-urlencoded")
            .run(Some(body.as_bytes()))
    }

    /// Sends `value` serialized as JSON, with `Content-Type: application/json` unless one
    /// was set.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Order { item: &'static str, count: u32 }
    /// let err = greenlight::client::post("http://127.0.0.1:1/orders")
    ///     .send_json(&Order { item: "tea", count: 2 })
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), greenlight::client::ErrorKind::Connect);
    /// ```
    #[cfg(feature = "json")]
    pub fn send_json<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<Response, Error> {
        let body = serde_json::to_vec(value).map_err(|e| {
            Error::new(ErrorKind::InvalidRequest, "cannot serialize the JSON body").with_source(e)
        })?;
        self.default_header("Content-Type", "application/json")
            .run(Some(body.as_slice()))
    }

    fn default_header(self, name: &str, value: &str) -> Self {
        if self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            self
        } else {
            self.header(name, value)
        }
    }

    /// The URL with the added query parameters.
    fn full_url(&self) -> String {
        if self.query.is_empty() {
            return self.url.clone();
        }
        let (base, fragment) = match self.url.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (self.url.as_str(), None),
        };
        let mut url = base.to_owned();
        url.push(if base.contains('?') { '&' } else { '?' });
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        pairs.extend_pairs(&self.query);
        url.push_str(&pairs.finish());
        if let Some(f) = fragment {
            url.push('#');
            url.push_str(f);
        }
        url
    }

    /// Sends the request, following redirects (see [`super::redirect`]) within the
    /// client's limit and the overall deadline.
    fn run(self, body: Option<&[u8]>) -> Result<Response, Error> {
        let method = Method::from_bytes(self.method.as_bytes()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidRequest,
                format!("{:?} is not a valid method", self.method),
            )
        })?;
        let limit = self.timeout.or(self.client.timeout);
        let deadline = limit.map(|t| Instant::now() + t);
        let mut hop = Hop {
            method,
            url: self.full_url(),
            headers: self.headers,
            body,
        };
        let mut followed = 0;
        loop {
            let response = send_once(&self.client, &hop, deadline)?;
            if self.client.max_redirects == 0 {
                return Ok(response);
            }
            let location = response.header("location");
            let Some(next) = next_hop(&hop, response.status(), location)? else {
                return Ok(response);
            };
            if followed == self.client.max_redirects {
                return Err(Error::new(
                    ErrorKind::TooManyRedirects,
                    format!("{}: more than {followed} redirects", self.url),
                ));
            }
            followed += 1;
            response.discard();
            hop = next;
        }
    }
}

/// One request of a chain, within what is left of `deadline`.
fn send_once(client: &Client, hop: &Hop<'_>, deadline: Option<Instant>) -> Result<Response, Error> {
    let uri: Uri = hop
        .url
        .parse()
        .map_err(|e| Error::new(ErrorKind::InvalidUrl, format!("{:?}: {e}", hop.url)))?;
    host_and_port(&uri)?;
    let mut request = Request::builder().method(hop.method.clone()).uri(uri);
    for (name, value) in &hop.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let invalid = |e: ureq::http::Error| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("{} {}: {e}", hop.method, hop.url),
        )
    };
    let agent = client.agent();
    let left = match deadline {
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Some(left),
            _ => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("{}: timed out", hop.url),
                ))
            }
        },
        None => None,
    };
    let response = match hop.body {
        None => run_within(agent, request.body(()).map_err(invalid)?, left),
        Some(body) => run_within(agent, request.body(body).map_err(invalid)?, left),
    }?;
    Ok(Response::new(response, hop.url.clone()))
}

fn run_within<B: ureq::AsSendBody>(
    agent: &ureq::Agent,
    request: Request<B>,
    left: Option<Duration>,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let request = match left {
        Some(_) => agent
            .configure_request(request)
            .timeout_global(left)
            .build(),
        None => request,
    };
    agent.run(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(url: &str) -> RequestBuilder {
        RequestBuilder::new(Client::builder().platform_roots(false).build(), "GET", url)
    }

    #[test]
    fn query_parameters_are_appended_before_the_fragment() {
        assert_eq!(
            builder("http://h/p").query("a", "b c").full_url(),
            "http://h/p?a=b+c"
        );
        assert_eq!(
            builder("http://h/p?x=1#frag").query("a", "&").full_url(),
            "http://h/p?x=1&a=%26#frag"
        );
        assert_eq!(builder("http://h/p").full_url(), "http://h/p");
    }

    #[test]
    fn bad_input_is_reported_by_kind() {
        // Each fails before any connection is tried (nothing listens on port 1).
        let kind = |b: RequestBuilder| b.call().unwrap_err().kind();
        let h = "http://127.0.0.1:1/";
        assert_eq!(
            kind(builder(h).header("bad name", "v")),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            kind(builder(h).header("X", "a\r\nb")),
            ErrorKind::InvalidRequest
        );
        assert_eq!(kind(builder("mailto:someone")), ErrorKind::InvalidUrl);
        assert_eq!(kind(builder("http://")), ErrorKind::InvalidUrl);
        let mut bad_method = builder(h);
        bad_method.method = "GE T".into();
        assert_eq!(kind(bad_method), ErrorKind::InvalidRequest);
        assert_eq!(kind(builder(h)), ErrorKind::Connect);
    }

    #[test]
    fn default_headers_do_not_replace_the_callers() {
        let b = builder("http://h/")
            .header("content-type", "text/csv")
            .default_header("Content-Type", "application/json");
        assert_eq!(b.headers, vec![("content-type".into(), "text/csv".into())]);
    }
}
