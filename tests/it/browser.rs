//! A real headless Chromium, driven over the W3C WebDriver protocol by
//! Debian's `chromedriver` (`.ci/run` installs `chromium` and
//! `chromium-driver`): a small client over plain HTTP, enough for the
//! console's tests and `scripts/console_screenshots.sh`.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::worker_support::KillOnDrop;

/// The key WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's codes for the keys the keyboard tests press.
pub const TAB: &str = "\u{E004}";
pub const SHIFT: &str = "\u{E008}";
pub const ENTER: &str = "\u{E007}";
pub const SPACE: &str = " ";

/// How long a wait for the page gives up after: an upper bound, never a
/// measurement.
const PATIENCE: Duration = Duration::from_secs(20);

pub struct Browser {
    driver: String,
    session: String,
    http: reqwest::Client,
    // Declared last: chromedriver outlives the session's deletion in Drop.
    _chromedriver: KillOnDrop,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium at a
    /// laptop's width.
    pub async fn start() -> Self {
        let port = free_port();
        let chromedriver = KillOnDrop(
            Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver runs (apt-get install chromium chromium-driver)"),
        );
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("the HTTP client builds");
        let driver = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{driver}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == json!(true)
            {
                break;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "chromedriver never became ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let created: Value = http
            .post(format!("{driver}/session"))
            .json(&json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1366,900",
                             "--no-proxy-server"]
                }
            }}}))
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("a JSON answer");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        Self {
            driver,
            session,
            http,
            _chromedriver: chromedriver,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.driver, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("a JSON answer");
        answer["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn goto(&self, url: &str) {
        let answer = self.post("/url", json!({ "url": url })).await;
        assert!(answer.is_null(), "navigating to {url}: {answer}");
    }

    /// The element `css` selects, once it is there.
    pub async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self
                .post("/element", json!({ "using": "css selector", "value": css }))
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(
                started.elapsed() < PATIENCE,
                "no element {css:?} on the page: {found}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        let answer = self.post(&format!("/element/{id}/click"), json!({})).await;
        assert!(answer.is_null(), "clicking {css}: {answer}");
    }

    pub async fn clear(&self, css: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/clear"), json!({})).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        let answer = self
            .post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
        assert!(answer.is_null(), "typing into {css}: {answer}");
    }

    /// The rendered text of `css`.
    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.command(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::GET,
            &format!("/element/{id}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// Waits until the text of `css` contains `wanted`; returns the text.
    pub async fn wait_for_text(&self, css: &str, wanted: &str) -> String {
        let started = Instant::now();
        loop {
            let text = self.text(css).await;
            if text.contains(wanted) {
                return text;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{css:?} never showed {wanted:?}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses `keys` one after another on whatever has the focus, as a
    /// person at the keyboard does (WebDriver's key codes: `TAB`, `ENTER`,
    /// `SPACE`, `ESCAPE`, or plain characters).
    pub async fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|k| {
                let k = k.to_string();
                [
                    json!({ "type": "keyDown", "value": k }),
                    json!({ "type": "keyUp", "value": k }),
                ]
            })
            .collect();
        self.keys(json!(actions)).await;
    }

    /// Performs WebDriver key actions (`keyDown`, `keyUp`) in order.
    async fn keys(&self, actions: Value) {
        let answer = self
            .post(
                "/actions",
                json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
            )
            .await;
        assert!(answer.is_null(), "pressing keys: {answer}");
    }

    /// Presses Tab (or Shift+Tab) until the focus is on `css`, and fails
    /// when it never gets there: the element is out of the keyboard's reach.
    pub async fn tab_to(&self, css: &str, backwards: bool) {
        let focused = format!(
            "arguments[arguments.length - 1](document.activeElement !== null
               && document.activeElement.matches({}))",
            json!(css)
        );
        for _ in 0..80 {
            if self.run_async(&focused).await == json!(true) {
                return;
            }
            let tab = json!({ "type": "keyDown", "value": TAB });
            let untab = json!({ "type": "keyUp", "value": TAB });
            let actions = if backwards {
                json!([{ "type": "keyDown", "value": SHIFT }, tab, untab, { "type": "keyUp", "value": SHIFT }])
            } else {
                json!([tab, untab])
            };
            self.keys(actions).await;
        }
        panic!("Tab never reached {css:?}");
    }

    /// Runs `script` in the page; it calls `arguments[arguments.length -
    /// 1]` with its result.
    pub async fn run_async(&self, script: &str) -> Value {
        self.post("/execute/async", json!({ "script": script, "args": [] }))
            .await
    }

    /// The window as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        base64_decode(encoded.as_str().expect("a screenshot is base64 text"))
    }

    /// Resizes the window, so a screenshot holds the whole page.
    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }))
            .await;
    }
}

impl Drop for Browser {
    /// Ends the session, so Chromium exits with it; a blocking request on
    /// a plain socket, as Drop cannot await.
    fn drop(&mut self) {
        let Some(address) = self.driver.strip_prefix("http://") else {
            return;
        };
        if let Ok(mut stream) = TcpStream::connect(address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n",
                self.session
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
    {
        let value = ALPHABET
            .iter()
            .position(|a| *a == byte)
            .expect("base64 text") as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

#[test]
fn base64_decodes_what_webdriver_sends() {
    assert_eq!(base64_decode("aGVsbG8gd29ybGQ="), b"hello world");
    assert_eq!(base64_decode("iVBORw=="), [0x89, b'P', b'N', b'G']);
}
