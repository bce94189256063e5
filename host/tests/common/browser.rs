//! A real headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromedriver`; `.ci/run` installs them), for the console's browser tests. Screenshots
//! go to `target/screenshots/`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long a page may take to show what a step waits for.
const PATIENCE: Duration = Duration::from_secs(20);

fn tool(env: &str, default: &str) -> String {
    let path = std::env::var(env).unwrap_or_else(|_| default.to_string());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: the browser tests need Debian's chromium and chromium-driver \
         (apt-get install chromium chromium-driver), or {env} set"
    );
    path
}

/// One browser session, with its chromedriver.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
    /// Prefix of this run's screenshot names (the backend).
    prefix: String,
}

impl Browser {
    /// A fresh headless Chromium at 1280×800 with an empty profile.
    pub async fn start(prefix: &str) -> Self {
        let chromium = tool("NOVA_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = tool("NOVA_CHROMEDRIVER", "/usr/bin/chromedriver");
        let mut driver = Command::new(chromedriver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        // ChromeDriver says where it listens once it does.
        let out = driver.stdout.take().unwrap();
        let port = BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.split("started successfully on port ")
                    .nth(1)
                    .and_then(|p| p.trim().trim_end_matches('.').parse::<u16>().ok())
            })
            .expect("chromedriver did not say its port");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            client,
            driver,
            _profile: profile,
            shots,
            prefix: prefix.to_string(),
        }
    }

    /// Wait until `css` matches an element, and return it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
    }

    /// Wait until the page's text includes `text`.
    pub async fn see(&self, text: &str) {
        let script = "return document.body.innerText.includes(arguments[0]);";
        let started = std::time::Instant::now();
        loop {
            let found = self
                .client
                .execute(script, vec![json!(text)])
                .await
                .unwrap();
            if found == json!(true) {
                return;
            }
            if started.elapsed() >= PATIENCE {
                // What the page looked like, for whoever reads the failure.
                self.shot("failure").await;
                panic!(
                    "the page never showed {text:?}; it shows: {}",
                    self.text("body").await
                );
            }
            // WebDriver has no "text appeared" event: look again after the page's next frame.
            self.client
                .execute_async("requestAnimationFrame(() => arguments[0]())", vec![])
                .await
                .unwrap();
        }
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let started = std::time::Instant::now();
        loop {
            // A page that redraws between the find and the read leaves a stale element:
            // find the new one.
            match self.find(css).await.text().await {
                Ok(text) => return text,
                Err(_) if started.elapsed() < PATIENCE => {}
                Err(e) => panic!("reading {css}: {e}"),
            }
        }
    }

    /// Wait until the first element matching `css` reads `want` (the page may still be
    /// drawing what a click changed).
    pub async fn wait_text(&self, css: &str, want: &str) {
        let started = std::time::Instant::now();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && el.text().await.is_ok_and(|t| t == want)
            {
                return;
            }
            if started.elapsed() >= PATIENCE {
                self.shot("failure").await;
                panic!("{css} never read {want:?}");
            }
            // As in `see`: look again after the page's next frame.
            self.client
                .execute_async("requestAnimationFrame(() => arguments[0]())", vec![])
                .await
                .unwrap();
        }
    }

    /// Type `value` into the field matching `css`, replacing what it held. A page that
    /// redraws the field meanwhile (its data arriving after the first draw) leaves a stale
    /// element or an empty new field: type into the new one until the field holds `value`.
    pub async fn fill(&self, css: &str, value: &str) {
        let started = std::time::Instant::now();
        loop {
            let input = self.find(css).await;
            let typed = match input.clear().await {
                Ok(()) => input.send_keys(value).await,
                Err(e) => Err(e),
            };
            let now = self.find(css).await.prop("value").await;
            match (typed, now) {
                (Ok(()), Ok(Some(now))) if now == value => return,
                (Err(e), _) | (_, Err(e)) if !e.is_stale_element_reference() => {
                    panic!("filling {css}: {e}")
                }
                _ if started.elapsed() < PATIENCE => {}
                (_, now) => panic!("{css} never held {value:?}: {now:?}"),
            }
        }
    }

    /// Press `key` in the element matching `css`.
    pub async fn press(&self, css: &str, key: fantoccini::key::Key) {
        self.find(css)
            .await
            .send_keys(&char::from(key).to_string())
            .await
            .unwrap();
    }

    /// Click the first element matching `css`; one the page redrew between the find and
    /// the click is found again.
    pub async fn click(&self, css: &str) {
        let started = std::time::Instant::now();
        loop {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(e) if e.is_stale_element_reference() && started.elapsed() < PATIENCE => {}
                Err(e) => panic!("clicking {css}: {e}"),
            }
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// A fresh page load of `url`, even when only its `#…` differs from the page shown (which
    /// the browser would otherwise treat as a move within the same page).
    pub async fn load(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.client.refresh().await.unwrap();
    }

    /// Save a screenshot as `target/screenshots/<prefix>-<name>.png`.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let path = self.shots.join(format!("{}-{name}.png", self.prefix));
        std::fs::write(&path, png).unwrap();
    }

    /// Screenshots at desktop (1280) and phone (390) width: `<name>` and `<name>-phone`,
    /// each scrolled to the element `id` when given. The window is left at desktop width.
    pub async fn shots(&self, name: &str, id: Option<&str>) {
        for (width, suffix) in [(1280, ""), (390, "-phone")] {
            self.client.set_window_size(width, 800).await.unwrap();
            if let Some(id) = id {
                self.client
                    .execute(
                        "document.getElementById(arguments[0]).scrollIntoView();",
                        vec![json!(id)],
                    )
                    .await
                    .unwrap();
            }
            self.shot(&format!("{name}{suffix}")).await;
        }
        self.client.set_window_size(1280, 800).await.unwrap();
    }

    /// What the page recorded as errors (script errors, rejections, CSP violations).
    pub async fn page_errors(&self) -> Vec<String> {
        let v = self
            .client
            .execute(
                "return window.novaConsoleErrors || ['no error log'];",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value(v).unwrap()
    }

    /// Every URL the page fetched (documents, scripts, styles, API calls).
    pub async fn fetched(&self) -> Vec<String> {
        let v = self
            .client
            .execute(
                "return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)];",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value(v).unwrap()
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
