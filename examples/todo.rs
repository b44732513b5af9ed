//! A small JSON API: a todo list, with its tests in this file (no socket needed).
//!
//! ```text
//! cargo run --example todo -- --bind 127.0.0.1:8000
//! curl -s localhost:8000/todos -H 'Content-Type: application/json' -d '{"title":"milk"}'
//! curl -s 'localhost:8000/todos?done=false'
//! curl -s -X PATCH localhost:8000/todos/1 -H 'Content-Type: application/json' -d '{"done":true}'
//! curl -s -X DELETE localhost:8000/todos/1
//! cargo test --example todo
//! ```
//!
//! | route | methods |
//! |---|---|
//! | `/todos` | `GET` (list; `?done=true` or `false` filters), `POST` (create) |
//! | `/todos/{id}` | `GET`, `PATCH` (update), `DELETE` |
//! | `/todos/last` | `GET`: redirects to the last todo this client created (a cookie) |
//!
//! Routing is `matchit`'s; the list is shared by every connection of a process behind a
//! `Mutex` (held only while no green thread can yield: never across I/O). Under `-w N`
//! each worker process has its own list: state shared between workers belongs in a
//! database or another service.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use greenlight::wsgi::{app_fn, Body, Cookie, Environ, HttpError, StartResponse};
use serde::{Deserialize, Serialize};

/// The largest request body accepted (a bigger one gets 413).
const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Todo {
    id: u64,
    title: String,
    done: bool,
}

/// What a client sends to create a todo.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTodo {
    title: String,
    #[serde(default)]
    done: bool,
}

/// What a client sends to change one: only the fields given change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Changes {
    title: Option<String>,
    done: Option<bool>,
}

#[derive(Clone, Copy)]
enum Route {
    Todos,
    Last,
    Todo,
}

/// The app: a router and the shared list.
struct Todos {
    router: matchit::Router<Route>,
    list: Mutex<List>,
}

#[derive(Default)]
struct List {
    next_id: u64,
    items: BTreeMap<u64, Todo>,
}

impl Todos {
    fn new() -> Todos {
        let mut router = matchit::Router::new();
        router.insert("/todos", Route::Todos).unwrap();
        router.insert("/todos/last", Route::Last).unwrap();
        router.insert("/todos/{id}", Route::Todo).unwrap();
        Todos {
            router,
            list: Mutex::new(List::default()),
        }
    }

    /// The list, locked. A std `Mutex` is right here because nothing yields while it is
    /// held; a poisoned lock (a handler panicked while holding it) is still usable.
    fn list(&self) -> MutexGuard<'_, List> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn handle(&self, env: &mut Environ<'_>, start: StartResponse<'_>) -> Result<Body, HttpError> {
        let found = self
            .router
            .at(env.path())
            .map_err(|_| HttpError::not_found())?;
        let route = *found.value;
        match (route, env.method()) {
            (Route::Todos, "GET") => self.index(env, start),
            (Route::Todos, "POST") => self.create(env, start),
            (Route::Last, "GET") => self.last(env, start),
            (Route::Todo, method) => {
                let id = found.params.get("id").and_then(|s| s.parse().ok());
                let id = id.ok_or_else(HttpError::not_found)?;
                match method {
                    "GET" => self.show(id, start),
                    "PATCH" => self.update(id, env, start),
                    "DELETE" => self.delete(id, start),
                    _ => Err(HttpError::method_not_allowed(&["GET", "PATCH", "DELETE"])),
                }
            }
            (Route::Todos, _) => Err(HttpError::method_not_allowed(&["GET", "POST"])),
            (Route::Last, _) => Err(HttpError::method_not_allowed(&["GET"])),
        }
    }

    /// `GET /todos[?done=true|false]`.
    fn index(&self, env: &Environ<'_>, start: StartResponse<'_>) -> Result<Body, HttpError> {
        let done = match env.query_param("done").as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(HttpError::bad_request(format!(
                    "done must be true or false, not {other:?}"
                )))
            }
        };
        let list = self.list();
        let todos: Vec<&Todo> = list
            .items
            .values()
            .filter(|t| done.map_or(true, |d| t.done == d))
            .collect();
        start.status(200);
        Ok(Body::json(&todos))
    }

    /// `POST /todos`: 201 with the new todo, its `Location`, and a cookie naming it.
    fn create(&self, env: &Environ<'_>, start: StartResponse<'_>) -> Result<Body, HttpError> {
        let new: NewTodo = env.json(MAX_BODY)?;
        if new.title.trim().is_empty() {
            return Err(HttpError::new(422, "the title is empty"));
        }
        let todo = {
            let mut list = self.list();
            list.next_id += 1;
            let todo = Todo {
                id: list.next_id,
                title: new.title,
                done: new.done,
            };
            list.items.insert(todo.id, todo.clone());
            todo
        };
        let last = Cookie::build(("last_todo", todo.id.to_string()))
            .path("/todos")
            .http_only(true);
        start
            .status(201)
            .header("Location", format!("/todos/{}", todo.id))
            .set_cookie(&last.build());
        Ok(Body::json(&todo))
    }

    /// `GET /todos/last`: 303 to the todo named by this client's cookie.
    fn last(&self, env: &Environ<'_>, start: StartResponse<'_>) -> Result<Body, HttpError> {
        let id = env.cookie("last_todo").ok_or_else(HttpError::not_found)?;
        let id: u64 = id
            .parse()
            .map_err(|_| HttpError::bad_request("bad cookie"))?;
        Ok(start.redirect(303, format!("/todos/{id}")))
    }

    fn show(&self, id: u64, start: StartResponse<'_>) -> Result<Body, HttpError> {
        let list = self.list();
        let todo = list.items.get(&id).ok_or_else(HttpError::not_found)?;
        start.status(200);
        Ok(Body::json(todo))
    }

    fn update(
        &self,
        id: u64,
        env: &Environ<'_>,
        start: StartResponse<'_>,
    ) -> Result<Body, HttpError> {
        // Read the body before taking the lock: reading may wait for the client.
        let changes: Changes = env.json(MAX_BODY)?;
        let mut list = self.list();
        let todo = list.items.get_mut(&id).ok_or_else(HttpError::not_found)?;
        if let Some(title) = changes.title {
            todo.title = title;
        }
        if let Some(done) = changes.done {
            todo.done = done;
        }
        start.status(200);
        Ok(Body::json(todo))
    }

    fn delete(&self, id: u64, start: StartResponse<'_>) -> Result<Body, HttpError> {
        self.list()
            .items
            .remove(&id)
            .ok_or_else(HttpError::not_found)?;
        start.status(204);
        Ok(Body::empty())
    }
}

/// The app: one `Todos` shared by every connection.
fn app() -> impl greenlight::wsgi::App {
    let todos = Arc::new(Todos::new());
    app_fn(move |env, start| todos.handle(env, start))
}

fn main() {
    greenlight::run!(app())
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight::testing::{TestClient, TestRequest};
    use serde_json::json;

    fn client() -> TestClient<impl greenlight::wsgi::App> {
        TestClient::new(app())
    }

    fn create(c: &TestClient<impl greenlight::wsgi::App>, title: &str, done: bool) -> Todo {
        let r = c.request(TestRequest::post("/todos").json(&json!({"title": title, "done": done})));
        assert_eq!(r.status(), 201, "{}", r.text());
        r.json()
    }

    #[test]
    fn an_empty_list_is_an_empty_json_array() {
        let r = client().get("/todos");
        assert_eq!(r.status(), 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.json::<Vec<Todo>>(), []);
    }

    #[test]
    fn create_answers_201_with_the_todo_and_its_location() {
        let c = client();
        let r = c.request(TestRequest::post("/todos").json(&json!({"title": "milk"})));
        assert_eq!(r.status(), 201);
        assert_eq!(r.header("location"), Some("/todos/1"));
        let todo: Todo = r.json();
        assert_eq!(
            todo,
            Todo {
                id: 1,
                title: "milk".into(),
                done: false
            }
        );
        assert_eq!(c.get("/todos/1").json::<Todo>(), todo);
    }

    #[test]
    fn the_list_filters_on_done() {
        let c = client();
        create(&c, "milk", false);
        create(&c, "eggs", true);
        create(&c, "bread", false);
        let open: Vec<Todo> = c.get("/todos?done=false").json();
        assert_eq!(
            open.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(),
            ["milk", "bread"]
        );
        let done: Vec<Todo> = c.get("/todos?done=true").json();
        assert_eq!(done.len(), 1);
        assert_eq!(c.get("/todos").json::<Vec<Todo>>().len(), 3);
        assert_eq!(c.get("/todos?done=maybe").status(), 400);
    }

    #[test]
    fn patch_changes_only_the_fields_given() {
        let c = client();
        create(&c, "milk", false);
        let r = c.request(TestRequest::patch("/todos/1").json(&json!({"done": true})));
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.json::<Todo>(),
            Todo {
                id: 1,
                title: "milk".into(),
                done: true
            }
        );
        let r = c.request(TestRequest::patch("/todos/9").json(&json!({"done": true})));
        assert_eq!(r.status(), 404);
    }

    #[test]
    fn delete_removes_then_404s() {
        let c = client();
        create(&c, "milk", false);
        let r = c.request(TestRequest::delete("/todos/1"));
        assert_eq!((r.status(), r.body()), (204, &b""[..]));
        assert_eq!(c.get("/todos/1").status(), 404);
        assert_eq!(c.request(TestRequest::delete("/todos/1")).status(), 404);
    }

    #[test]
    fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
        let c = client();
        assert_eq!(c.get("/nothing/here").status(), 404);
        assert_eq!(c.get("/todos/abc").status(), 404);
        let r = c.request(TestRequest::put("/todos"));
        assert_eq!(r.status(), 405);
        assert_eq!(r.header("allow"), Some("GET, POST"));
        let r = c.request(TestRequest::post("/todos/1"));
        assert_eq!(
            (r.status(), r.header("allow")),
            (405, Some("GET, PATCH, DELETE"))
        );
    }

    #[test]
    fn bad_json_is_400_and_another_type_415() {
        let c = client();
        let bad = TestRequest::post("/todos")
            .header("Content-Type", "application/json")
            .body("{\"title\": ");
        assert_eq!(c.request(bad).status(), 400);
        let wrong_field = TestRequest::post("/todos").json(&json!({"titel": "milk"}));
        assert_eq!(c.request(wrong_field).status(), 400);
        let form = TestRequest::post("/todos").form(&[("title", "milk")]);
        assert_eq!(c.request(form).status(), 415);
        let empty = TestRequest::post("/todos").json(&json!({"title": " "}));
        assert_eq!(c.request(empty).status(), 422);
        assert_eq!(c.get("/todos").json::<Vec<Todo>>(), []);
    }

    #[test]
    fn a_huge_body_is_413_whether_announced_or_chunked() {
        let c = client();
        let title = "x".repeat(MAX_BODY);
        let r = c.request(TestRequest::post("/todos").json(&json!({ "title": title })));
        assert_eq!(r.status(), 413);
        let pieces = vec![vec![b' '; 4096]; 8];
        let chunked = TestRequest::post("/todos")
            .header("Content-Type", "application/json")
            .chunks(pieces);
        assert_eq!(c.request(chunked).status(), 413);
    }

    #[test]
    fn the_last_created_todo_is_remembered_in_a_cookie() {
        let c = client();
        assert_eq!(c.get("/todos/last").status(), 404, "no cookie yet");
        create(&c, "milk", false);
        create(&c, "eggs", false);
        assert_eq!(c.cookie("last_todo").as_deref(), Some("2"));
        let r = c.get("/todos/last");
        assert_eq!((r.status(), r.header("location")), (303, Some("/todos/2")));
    }
}
