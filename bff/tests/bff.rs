//! The BFF end to end, as a browser uses it: HTTP/JSON with a session
//! cookie and the CSRF header, through the real identity, command and query
//! services, the relay, Kafka and the projection workers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_bff::config::Config;
use lms_projections::billing::BillingProjection;
use lms_projections::course_catalog::CourseCatalogProjection;
use lms_projections::roster::RosterProjection;
use lms_projections::student_dashboard::StudentDashboardProjection;
use lms_testkit::background::Background;
use lms_testkit::identity::IdentityServer;
use lms_testkit::pipeline::{Harness, Worker};
use lms_testkit::query::QueryServer;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::net::TcpListener;
use uuid::Uuid;

/// Everything behind the BFF, and the BFF on a random port.
struct Lms {
    bff: Background<std::io::Result<()>>,
    base: String,
    identity: IdentityServer,
    query: QueryServer,
    workers: Vec<Worker>,
    harness: Harness,
}

impl Lms {
    async fn start(tune: impl FnOnce(&mut Config)) -> Lms {
        Self::start_with(tune, |_| {}).await
    }

    async fn start_with(
        tune: impl FnOnce(&mut Config),
        tune_identity: impl FnOnce(&mut lms_identity::config::Config),
    ) -> Lms {
        let harness = Harness::start().await;
        let workers = vec![
            harness.start_worker(Arc::new(CourseCatalogProjection)),
            harness.start_worker(Arc::new(RosterProjection)),
            harness.start_worker(Arc::new(StudentDashboardProjection)),
            harness.start_worker(Arc::new(BillingProjection)),
        ];
        let query = QueryServer::start_with(
            &harness.db,
            lms_query::config::Config {
                redis_prefix: harness.config.redis_prefix.clone(),
                // A worker's first records wait for its group to form.
                read_your_writes_timeout_ms: 30_000,
                ..Default::default()
            },
        )
        .await;
        let mut identity_config = IdentityServer::trusted_config();
        tune_identity(&mut identity_config);
        let identity = IdentityServer::start_with(&harness.db, identity_config).await;
        let mut config = Config {
            identity_endpoint: format!("http://{}", identity.addr),
            commands_endpoint: format!("http://{}", harness.server.addr),
            query_endpoint: format!("http://{}", query.addr),
            redis_url: lms_testkit::redis::url().into(),
            redis_prefix: harness.config.redis_prefix.clone(),
            ..Config::default()
        };
        tune(&mut config);
        let redis = lms_testkit::redis::connect().await;
        let state = lms_bff::server::state(&config, redis).expect("state");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let bff = Background::spawn(|stop| lms_bff::server::serve(state, listener, None, stop));
        Lms {
            bff,
            base,
            identity,
            query,
            workers,
            harness,
        }
    }

    fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            cookie: None,
            csrf: None,
            set_cookie: String::new(),
        }
    }

    async fn stop(self) {
        self.bff.stop("bff").await.expect("bff ends cleanly");
        for worker in self.workers {
            worker.stop().await;
        }
        self.query.stop().await;
        self.identity.stop().await;
        self.harness.stop().await;
    }
}

/// A browser: keeps the session cookie and the CSRF token it was given.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
    /// The last `Set-Cookie` the BFF sent.
    set_cookie: String,
}

struct Reply {
    status: u16,
    content_type: String,
    body: Value,
}

impl Reply {
    fn reason(&self) -> &str {
        self.body["reason"].as_str().unwrap_or_default()
    }
}

impl Browser {
    async fn send(&mut self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("lms_session={cookie}"));
        }
        if let Some(csrf) = &self.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the BFF answers");
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str().unwrap().to_string();
            let pair = value.split(';').next().unwrap_or_default();
            if let Some(id) = pair.strip_prefix("lms_session=") {
                self.cookie = Some(id.to_string()).filter(|id| !id.is_empty());
            }
            self.set_cookie = value;
        }
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let Some(csrf) = body["csrf_token"].as_str() {
            self.csrf = Some(csrf.to_string());
        }
        Reply {
            status,
            content_type,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    async fn post(&mut self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body)).await
    }

    /// Signs up a fresh account; returns its email and password.
    async fn sign_up(&mut self, name: &str) -> (String, String) {
        let email = format!("{name}-{}@example.test", Uuid::now_v7().simple());
        let password = format!("pw-{}", Uuid::now_v7().simple());
        let reply = self
            .post(
                "/api/auth/signup",
                json!({"email": email, "password": password, "display_name": name}),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        (email, password)
    }
}

fn assert_problem(reply: &Reply, status: u16, reason: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(reply.reason(), reason, "{:?}", reply.body);
    assert_eq!(reply.body["status"], status);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_student_and_an_instructor_use_the_lms_through_the_bff() {
    let lms = Lms::start(|_| {}).await;

    // An instructor: signs up (cookie flags), an admin grants the role,
    // and the next login carries it.
    let mut teacher = lms.browser();
    let (email, password) = teacher.sign_up("teacher").await;
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(teacher.set_cookie.contains(flag), "{}", teacher.set_cookie);
    }
    let session = teacher.get("/api/session").await;
    assert_eq!(session.status, 200);
    let teacher_id = session.body["user_id"].as_str().unwrap().to_string();
    let grant = format!("/api/admin/users/{teacher_id}/roles");
    let refused = teacher.post(&grant, json!({"role": "instructor"})).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let admin = lms.identity.bootstrap_admin("root").await;
    let mut root = lms.browser();
    let signed_in = root
        .post(
            "/api/auth/login",
            json!({"email": admin.email, "password": admin.password}),
        )
        .await;
    assert_eq!(signed_in.status, 200, "{:?}", signed_in.body);
    let granted = root.post(&grant, json!({"role": "instructor"})).await;
    assert_eq!(granted.status, 200, "{:?}", granted.body);
    assert_eq!(granted.body["aggregate_id"], teacher_id.as_str());
    let wrong = teacher
        .post(
            "/api/auth/login",
            json!({"email": email, "password": "not it at all"}),
        )
        .await;
    assert_problem(&wrong, 401, "INVALID_CREDENTIALS");
    let login = teacher
        .post(
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(login.status, 200);
    assert!(login.body["roles"]
        .as_array()
        .unwrap()
        .contains(&json!("instructor")));

    // Creating: the CSRF header is required; bad fields are named.
    let course = json!({"title": "Event sourcing in the browser", "capacity": 2});
    let csrf = teacher.csrf.take();
    let refused = teacher.post("/api/courses", course.clone()).await;
    assert_problem(&refused, 403, "CSRF_TOKEN_INVALID");
    teacher.csrf = Some("forged".into());
    let refused = teacher.post("/api/courses", course.clone()).await;
    assert_problem(&refused, 403, "CSRF_TOKEN_INVALID");
    teacher.csrf = csrf;
    let invalid = teacher
        .post("/api/courses", json!({"title": " ", "capacity": 2}))
        .await;
    assert_problem(&invalid, 400, "INVALID_ARGUMENT");
    let fields: Vec<&str> = invalid.body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title"]);
    let malformed = teacher.post("/api/courses", json!({"title": 5})).await;
    assert_problem(&malformed, 400, "INVALID_REQUEST");

    let created = teacher.post("/api/courses", course).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let course_id = created.body["created_id"].as_str().unwrap().to_string();
    // The page after creating shows the new course's (empty) roster: the
    // course's own position is waited for in the catalog the roster checks.
    let roster = teacher
        .get(&format!(
            "/api/courses/{course_id}/roster?after={}",
            created.body["position"].as_str().unwrap()
        ))
        .await;
    assert_eq!(roster.status, 200, "{:?}", roster.body);
    assert_eq!(roster.body, json!([]));
    let module = teacher
        .post(
            &format!("/api/courses/{course_id}/modules"),
            json!({"title": "Basics"}),
        )
        .await;
    let module_id = module.body["created_id"].as_str().unwrap().to_string();
    let lesson = teacher
        .post(
            &format!("/api/courses/{course_id}/modules/{module_id}/lessons"),
            json!({"title": "Commands and events"}),
        )
        .await;
    let lesson_id = lesson.body["created_id"].as_str().unwrap().to_string();
    let published = teacher
        .post(&format!("/api/courses/{course_id}/publish"), json!({}))
        .await;
    assert_eq!(published.status, 200, "{:?}", published.body);
    // Read-your-writes across the hop: the page after the click shows it.
    let position = published.body["position"].as_str().unwrap().to_string();
    let page = teacher
        .get(&format!("/api/courses/{course_id}?after={position}"))
        .await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    assert_eq!(page.body["status"], "published");
    assert_eq!(page.body["lesson_count"], 1);
    let outline = teacher
        .get(&format!(
            "/api/courses/{course_id}/outline?after={position}"
        ))
        .await;
    assert_eq!(outline.status, 200, "{:?}", outline.body);
    assert_eq!(outline.body["modules"][0]["module_id"], module_id.as_str());
    assert_eq!(outline.body["modules"][0]["title"], "Basics");
    assert_eq!(
        outline.body["modules"][0]["lessons"],
        json!([{"lesson_id": lesson_id, "title": "Commands and events", "position": 0}])
    );

    // A student finds it, enrolls, completes the lesson.
    let mut student = lms.browser();
    student.sign_up("student").await;
    let listed = student
        .get(&format!(
            "/api/courses?title=in%20the%20browser&after={position}"
        ))
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["courses"][0]["course_id"], course_id.as_str());
    let enrolled = student
        .post(&format!("/api/courses/{course_id}/enrollment"), json!({}))
        .await;
    assert_eq!(enrolled.status, 201, "{:?}", enrolled.body);
    let enrollment_id = enrolled.body["aggregate_id"].as_str().unwrap().to_string();
    let again = student
        .post(&format!("/api/courses/{course_id}/enrollment"), json!({}))
        .await;
    assert_problem(&again, 409, "ALREADY_ENROLLED");
    let done = student
        .post(
            &format!("/api/enrollments/{enrollment_id}/lessons/{lesson_id}/complete"),
            json!({}),
        )
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    let position = done.body["position"].as_str().unwrap();
    let dashboard = student
        .get(&format!("/api/dashboard?after={position}"))
        .await;
    assert_eq!(dashboard.status, 200, "{:?}", dashboard.body);
    assert_eq!(
        dashboard.body[0]["course_title"],
        "Event sourcing in the browser"
    );
    assert_eq!(
        (
            &dashboard.body[0]["lessons_completed"],
            &dashboard.body[0]["percent_complete"]
        ),
        (&json!(1), &json!(100))
    );
    let finished = student
        .post(
            &format!("/api/enrollments/{enrollment_id}/complete"),
            json!({}),
        )
        .await;
    assert_eq!(finished.status, 200, "{:?}", finished.body);
    let dashboard = student
        .get(&format!(
            "/api/dashboard?after={}",
            finished.body["position"].as_str().unwrap()
        ))
        .await;
    assert_eq!(dashboard.body[0]["status"], "completed");
    let bad = student.get("/api/dashboard?after=nonsense").await;
    assert_problem(&bad, 400, "INVALID_REQUEST");
    assert_eq!(bad.body["violations"][0]["field"], "after");

    // Rosters are the teacher's.
    let refused = student
        .get(&format!("/api/courses/{course_id}/roster"))
        .await;
    assert_problem(&refused, 403, "NOT_COURSE_INSTRUCTOR");
    let roster = teacher
        .get(&format!(
            "/api/courses/{course_id}/roster?after={}",
            enrolled.body["position"].as_str().unwrap()
        ))
        .await;
    assert_eq!(roster.status, 200, "{:?}", roster.body);
    assert_eq!(roster.body.as_array().unwrap().len(), 1);

    // Billing: a trial, a paid activation with its invoice, a cancellation.
    let none = student.get("/api/subscription").await;
    assert_problem(&none, 404, "SUBSCRIPTION_NOT_FOUND");
    let trial = student
        .post("/api/subscription/trial", json!({"plan": "basic"}))
        .await;
    assert_eq!(trial.status, 200, "{:?}", trial.body);
    let subscription = student
        .get(&format!(
            "/api/subscription?after={}",
            trial.body["position"].as_str().unwrap()
        ))
        .await;
    assert_eq!(subscription.body["status"], "trialing");
    let declined = student
        .post(
            "/api/subscription/activate",
            json!({"plan": "pro", "payment_method": "pm_card_declined"}),
        )
        .await;
    assert_eq!(declined.status, 409, "{:?}", declined.body);
    let activated = student
        .post(
            "/api/subscription/activate",
            json!({"plan": "pro", "payment_method": "pm_card_visa"}),
        )
        .await;
    assert_eq!(activated.status, 200, "{:?}", activated.body);
    let invoices = student
        .get(&format!(
            "/api/invoices?after={}",
            activated.body["position"].as_str().unwrap()
        ))
        .await;
    assert_eq!(invoices.status, 200, "{:?}", invoices.body);
    assert_eq!(invoices.body["invoices"].as_array().unwrap().len(), 1);
    // Another's invoices are refused by the query service, not hidden.
    let student_id = student.get("/api/session").await.body["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let others = teacher
        .get(&format!("/api/invoices?student_id={student_id}"))
        .await;
    assert_problem(&others, 403, "NOT_YOUR_DATA");
    let cancelled = student
        .post("/api/subscription/cancel", json!({"reason": "done"}))
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);

    // Logging out ends the session: the old cookie is nobody.
    let old_cookie = student.cookie.clone();
    let out = student.post("/api/auth/logout", json!({})).await;
    assert_eq!(out.status, 204);
    assert!(
        student.set_cookie.contains("Max-Age=0"),
        "{}",
        student.set_cookie
    );
    student.cookie = old_cookie;
    let gone = student.get("/api/session").await;
    assert_problem(&gone, 401, "SESSION_REQUIRED");

    lms.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn other_origins_anonymous_callers_and_the_api_document() {
    let web = std::env::temp_dir().join(format!("lms-web-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>LMS</title>").unwrap();
    std::fs::write(web.join("assets/app-1234.js"), "console.log(1)").unwrap();
    let web_dir = web.to_string_lossy().into_owned();
    let lms = Lms::start(|c| c.web_dir = web_dir).await;
    let http = reqwest::Client::new();
    // A login posted from another site is refused before it reaches identity.
    let response = http
        .post(format!("{}/api/auth/login", lms.base))
        .header("origin", "https://evil.test")
        .json(&json!({"email": "a@example.test", "password": "whatever-it-is"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "CROSS_ORIGIN");
    // No CORS headers for anyone.
    let preflight = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/courses", lms.base),
        )
        .header("origin", "https://evil.test")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let mut anonymous = lms.browser();
    let reply = anonymous.get("/api/dashboard").await;
    assert_problem(&reply, 401, "SESSION_REQUIRED");
    anonymous.cookie = Some("made-up".into());
    let reply = anonymous.get("/api/courses").await;
    assert_problem(&reply, 401, "SESSION_REQUIRED");
    let reply = anonymous.get("/api/nothing-here").await;
    assert_problem(&reply, 404, "NO_SUCH_ROUTE");

    let document = anonymous.get("/openapi.json").await;
    assert_eq!(document.status, 200);
    assert_eq!(document.body["openapi"], "3.1.0");
    for path in [
        "/api/auth/login",
        "/api/courses",
        "/api/dashboard",
        "/api/invoices",
    ] {
        assert!(document.body["paths"].get(path).is_some(), "{path}");
    }
    assert!(document.body["components"]["schemas"]
        .get("Problem")
        .is_some());
    // Generated clients name operations by id: each is unique.
    let mut ids: Vec<&str> = document.body["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "repeated operationIds");
    let health = http
        .get(format!("{}/healthz", lms.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // The web app: its files, index.html for the SPA's own paths (never
    // for /api), hashed assets cached for good, pages under a strict CSP.
    for path in ["/", "/courses/some-id", "/students/x/invoices"] {
        let page = http
            .get(format!("{}{path}", lms.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{path}");
        let csp = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.headers()["cache-control"], "no-cache");
        assert!(page.text().await.unwrap().contains("<title>LMS</title>"));
    }
    let asset = http
        .get(format!("{}/assets/app-1234.js", lms.base))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 200);
    assert!(asset.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let missing = http
        .get(format!("{}/assets/nope.js", lms.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    lms.stop().await;
    std::fs::remove_dir_all(web).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_refresh_the_session_once_and_keep_it() {
    // Every request finds the token about to expire, so each one refreshes.
    let lms = Lms::start(|config| config.refresh_margin_secs = 100_000).await;
    let mut student = lms.browser();
    student.sign_up("busy").await;
    let first = student.get("/api/session").await;
    assert_eq!(first.status, 200);
    let requests = (0..8).map(|_| {
        let http = student.http.clone();
        let url = format!("{}/api/me", student.base);
        let cookie = format!("lms_session={}", student.cookie.clone().unwrap());
        async move {
            http.get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // Had two refreshes used one refresh token, identity would have
    // revoked the family and this would be 401.
    let after = student.get("/api/me").await;
    assert_eq!(after.status, 200, "{:?}", after.body);
    lms.stop().await;
}

/// The web app (web/e2e, Playwright driving Debian's Chromium) against this
/// whole stack: the BFF serves the built SPA on a port of its own, over a
/// database, topics and Redis prefix of this test's. It needs `npm ci` and
/// `npm run build` in web/ and /usr/bin/chromium; the test command sets
/// those up and runs it by name.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the built web app and Chromium: scripts/test.sh runs it"]
async fn the_web_app_passes_its_browser_tests() {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let dist = web.join("dist");
    assert!(
        dist.join("index.html").is_file(),
        "no built web app in {}: run `npm ci && npm run build` in web/",
        dist.display()
    );
    let web_dir = dist.to_string_lossy().into_owned();
    let lms = Lms::start(|c| c.web_dir = web_dir).await;
    let admin = lms.identity.bootstrap_admin("admin").await;
    let screenshots = std::env::var("LMS_SCREENSHOTS")
        .unwrap_or_else(|_| web.join("screenshots").to_string_lossy().into_owned());
    let base = lms.base.clone();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("npx")
            .args(["--no-install", "playwright", "test"])
            .current_dir(&web)
            .env("LMS_WEB_URL", &base)
            .env("LMS_ADMIN_EMAIL", &admin.email)
            .env("LMS_ADMIN_PASSWORD", &admin.password)
            .env("LMS_SCREENSHOTS", &screenshots)
            .status()
    })
    .await
    .expect("the Playwright run")
    .expect("npx starts (Node.js and web/node_modules)");
    assert!(status.success(), "the browser tests failed: {status}");
    lms.stop().await;
}

/// schemathesis (from PyPI) sends requests generated from `/openapi.json`,
/// valid and not, as a signed-in student: no answer may be a 5xx, or break
/// the document (status, content type, body schema). Needs the Python venv
/// the test command makes (`LMS_PYTHON`); the test command runs it by name.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs schemathesis in the venv: scripts/test.sh runs it"]
async fn the_api_holds_its_document() {
    let python = std::env::var("LMS_PYTHON").expect(
        "LMS_PYTHON: the venv's python (scripts/infra.sh python-venv -r scripts/python-requirements.txt)",
    );
    let schemathesis = std::path::Path::new(&python).with_file_name("schemathesis");
    let lms = Lms::start(|_| {}).await;
    let mut student = lms.browser();
    student.sign_up("fuzzed").await;
    let cookie = format!("lms_session={}", student.cookie.clone().unwrap());
    let csrf = student.csrf.clone().unwrap();
    let base = lms.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(schemathesis)
            // Its cache (.schemathesis/) goes with the build, not the tree.
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .args(["run", &format!("{base}/openapi.json")])
            .args(["--url", &base])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            // Logging out would end the session the rest runs in.
            .args(["--exclude-path", "/api/auth/logout"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", "25", "--workers", "2"])
            .args(["--header", &format!("Cookie: {cookie}")])
            .args(["--header", &format!("X-CSRF-Token: {csrf}")])
            .args(["--no-color"])
            .output()
    })
    .await
    .expect("the schemathesis run")
    .expect("schemathesis starts");
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "schemathesis found failures (above)"
    );
    lms.stop().await;
}

/// Logins through the BFF (as if behind an ingress on loopback that names
/// the browser in `X-Forwarded-For`), each for a new account so that only
/// the per-address limit can refuse; how many went through before a 429.
async fn logins_before_the_limit(lms: &Lms, browser_address: &str) -> usize {
    let http = reqwest::Client::new();
    for n in 0..10 {
        let email = format!("nobody-{}@example.test", Uuid::now_v7().simple());
        let response = http
            .post(format!("{}/api/auth/login", lms.base))
            .header("x-forwarded-for", browser_address)
            .json(&json!({"email": email, "password": "a wrong password"}))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            429 => return n,
            401 => {}
            other => panic!("login answered {other}"),
        }
    }
    10
}

#[tokio::test(flavor = "multi_thread")]
async fn the_login_limit_counts_the_browser_not_the_bff() {
    let limited = |identity: &mut lms_identity::config::Config| {
        identity.login_address_burst = 3;
        identity.login_address_every_secs = 3600;
        // The BFF's network (loopback here).
        identity.trusted_proxies = "127.0.0.1".into();
    };
    // Behind a trusted ingress, every browser has its own budget.
    let lms = Lms::start_with(|c| c.trusted_proxies = "127.0.0.1".into(), limited).await;
    assert_eq!(logins_before_the_limit(&lms, "203.0.113.7").await, 3);
    assert_eq!(logins_before_the_limit(&lms, "203.0.113.8").await, 3);
    lms.stop().await;

    // A BFF that trusts no proxy names its peer, whatever the request
    // claims: a new claimed address buys no new attempts.
    let lms = Lms::start_with(|_| {}, limited).await;
    assert_eq!(logins_before_the_limit(&lms, "203.0.113.7").await, 3);
    assert_eq!(logins_before_the_limit(&lms, "203.0.113.8").await, 0);
    lms.stop().await;
}
