//! The admin console in a real browser: Debian's chromium driven through
//! chromedriver (WebDriver) with fantoccini, in front of a gatehouse whose
//! deny list blocks a package that the real npm then tries to install from
//! the suite's fake registry.
//!
//! Every step waits on what the page shows (WebDriver waits), never on a
//! clock. Each page is saved as a 1280x800 screenshot under
//! `target/tmp/console-screenshots/` (the README describes them). Without
//! chromium, chromedriver or npm the test is skipped, unless CI is set.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_npm::FakeNpm;
use crate::npm::{Mode, Project, assert_blocked_with_reason, deny, four_versions, gatehouse, npm};
use crate::support::{ADMIN_TOKEN, Gatehouse, Ran, eventually, real_client};

/// How long one step may take on a busy machine.
const WAIT: Duration = Duration::from_secs(90);
/// The package the deny list blocks at [`VERSION`].
const PACKAGE: &str = "consoled";
const VERSION: &str = "1.2.0";
const INSTALL: &str = "apt-get install chromium chromium-driver";
const COOKIE: &str = "gatehouse_console";

/// Where the screenshots go: `target/tmp/console-screenshots/`.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

/// chromedriver on a free port, stopped (with its browsers) when dropped.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    async fn start(program: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        let ready = eventually(WAIT, || async {
            let answer = Gatehouse::client().get(&status).send().await;
            match answer {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|status| status["value"]["ready"] == true),
                Err(_) => false,
            }
        })
        .await;
        assert!(ready.is_some(), "chromedriver did not become ready");
        driver
    }

    /// A headless session of `chromium` (a path, or a name on PATH) with a
    /// 1280x800 window.
    async fn browser(&self, chromium: &Path) -> Client {
        let chromium = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(chromium))
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| chromium.to_owned());
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,800"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sign in; a blocked npm install shows on the overview and in the audit;
/// an exception made on the package's page lets the same install pass, and
/// revoking it blocks it again. A write without the CSRF token is refused,
/// a wrong token cannot sign in and is audited, and signing out ends the
/// session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_browser_manages_an_exception_for_a_blocked_npm_install() {
    let Some(npm) = npm() else {
        return;
    };
    let Some(chromium) = real_client("chromium", &["--version"], INSTALL) else {
        return;
    };
    let Some(chromedriver) = real_client("chromedriver", &["--version"], INSTALL) else {
        return;
    };
    let driver = Chromedriver::start(&chromedriver).await;
    let browser = driver.browser(&chromium).await;
    // The flow runs as a task so that the browser is closed whatever happens.
    let flow = tokio::spawn(flow(browser.clone(), npm));
    let ended = flow.await;
    let _ = browser.close().await;
    if let Err(failed) = ended {
        std::panic::resume_unwind(failed.into_panic());
    }
}

async fn flow(browser: Client, npm: PathBuf) {
    let registry = FakeNpm::start(vec![four_versions(PACKAGE)]);
    let spec = format!("{PACKAGE}@{VERSION}");
    let gatehouse = gatehouse(&registry, deny(&[&spec]), Mode::Deprecate);
    let console = Console::new(&browser, &gatehouse).await;
    std::fs::create_dir_all(screenshots()).expect("screenshot directory");

    let (_, blocked) = install(&gatehouse, &npm, &spec).await;
    assert_blocked_with_reason(&blocked, &spec);

    // Not signed in: every page leads to the sign-in form.
    console.open("/console/audit").await;
    console.wait_for("#token").await;
    console.shot("sign-in").await;

    // A wrong token cannot sign in, and the refusal is audited.
    console.sign_in("not-the-admin-token").await;
    let problem = console.wait_for("#sign-in-problem").await;
    let said = problem.text().await.expect("text");
    assert!(said.contains("not valid"), "{said}");
    let failures = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?event=auth-failure")
        .await;
    assert!(
        failures["records"]
            .as_array()
            .expect("records")
            .iter()
            .any(|r| r["reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("/console/sign-in"))),
        "{failures}"
    );

    console.sign_in(ADMIN_TOKEN).await;
    console.wait_for("nav[aria-label='Console']").await;
    let cookie = browser
        .get_named_cookie(COOKIE)
        .await
        .expect("a session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    let session = cookie.value().to_owned();

    // The overview: the block in the charts and among the packages blocked most.
    console.visit("/console/").await;
    console
        .wait_for_xpath(&format!(
            "//section[@aria-labelledby='top-blocked']//a[.='{PACKAGE}']"
        ))
        .await;
    let blocks = console.wait_for("#chart-blocked .total").await;
    let blocks = blocks.text().await.expect("text");
    assert!(!blocks.starts_with("0 "), "{blocks}");
    console
        .wait_for_xpath("//section[@aria-labelledby='top-blocked']//td[.='deny-list']")
        .await;
    console.shot("overview").await;
    console.fits_a_phone("overview").await;

    // The audit, through its filter form; one record in full; the chain.
    console.visit("/console/audit").await;
    console.type_into("#package", PACKAGE).await;
    console.choose("#action", "block").await;
    console.click("#filter").await;
    // The answer (not the form as typed) has the filter selected.
    console
        .wait_for_xpath("//select[@id='action']/option[@value='block' and @selected]")
        .await;
    console
        .wait_for_xpath(&format!("//tbody//td[.='{VERSION}']"))
        .await;
    console.shot("audit").await;
    console.click("a[aria-label^='Record']").await;
    console.wait_for_xpath("//h2[.='Verdicts']").await;
    console
        .wait_for_xpath("//tr[td[.='deny-list']]/td[contains(., 'is on the deny list')]")
        .await;
    console.labelled_and_secret().await;
    console.shot("audit-record").await;
    console.visit("/console/audit?verify=1").await;
    let chain = console.wait_for("#chain-state").await;
    let chain = chain.text().await.expect("text");
    assert!(chain.contains("link up"), "{chain}");

    // The package's page: its versions, and a 1-hour exception.
    let package_page = format!("/console/package?ecosystem=npm&name={PACKAGE}");
    console.visit(&package_page).await;
    console
        .wait_for_xpath(&format!("//tr[td[.='{VERSION}']]//span[.='block']"))
        .await;
    let rules = console.wait_for("#rules").await;
    assert_eq!(
        rules.prop("value").await.expect("value").as_deref(),
        Some("deny-list")
    );
    console.type_into("#versions", VERSION).await;
    console.type_into("#reason", "vetted in the console").await;
    console.choose("#expires_in", "1h").await;
    console.click("#create-exception").await;
    console
        .wait_for_xpath("//tr[td[.='vetted in the console']]//span[.='active']")
        .await;
    console.shot("package").await;
    console.fits_a_phone("package").await;

    let (project, passed) = install(&gatehouse, &npm, &spec).await;
    assert!(
        passed.success,
        "the exception lets {spec} in:\n{}",
        passed.output
    );
    assert_eq!(project.installed_version(PACKAGE).as_deref(), Some(VERSION));

    // A write whose form lost its CSRF token, or carries a forged one, is
    // refused (403) and changes nothing. (The page's own script cannot send
    // one by fetch: the console's CSP allows no connections.)
    for forge in ["token.remove()", "token.value = 'forged'"] {
        console.visit(&package_page).await;
        browser
            .execute(
                &format!(
                    "const form = document.querySelector('form[action=\"/console/exceptions\"]'); \
                     const token = form.querySelector('[name=csrf]'); {forge}; \
                     form.querySelector('#reason').value = 'forged'; form.submit();"
                ),
                vec![],
            )
            .await
            .expect("script");
        console.wait_for_xpath("//h1[.='Forbidden']").await;
        let problem = console.wait_for("p.problem").await;
        let said = problem.text().await.expect("text");
        assert!(said.contains("CSRF"), "{forge}: {said}");
    }
    let listed = gatehouse.admin_json("/api/v1/admin/exceptions").await;
    assert_eq!(
        listed["exceptions"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // Exceptions and reviews; revoking blocks the version again.
    console.visit("/console/exceptions").await;
    console
        .wait_for_xpath("//td[.='vetted in the console']")
        .await;
    console.shot("exceptions").await;
    console.click("button[aria-label^='Revoke']").await;
    console.wait_for_xpath("//p[.='No exceptions.']").await;
    let (_, blocked) = install(&gatehouse, &npm, &spec).await;
    assert_blocked_with_reason(&blocked, &spec);

    // The policies in effect.
    console.visit("/console/policies").await;
    console
        .wait_for_xpath("//section[h2[.='deny-list']]//span[.='enforce']")
        .await;
    console.shot("policies").await;

    // Signing out ends the session: the old cookie no longer opens a page.
    console.click("#sign-out").await;
    console.wait_for("#token").await;
    console.open("/console/").await;
    console.wait_for("#token").await;
    let replayed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/console/", gatehouse.url))
        .header("cookie", format!("{COOKIE}={session}"))
        .send()
        .await
        .expect("request");
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert_eq!(replayed.headers()["location"], "/console/sign-in");
}

/// `npm install spec` in a new project (its own cache: nothing is reused).
async fn install(gatehouse: &Gatehouse, npm: &Path, spec: &str) -> (Project, Ran) {
    let project = Project::new(gatehouse);
    let ran = project.npm(npm, &["install", spec]).await;
    (project, ran)
}

/// The browser on one gatehouse's console.
struct Console<'a> {
    browser: &'a Client,
    gatehouse: &'a Gatehouse,
    /// What the window's frame adds to the page's width and height.
    frame: (u32, u32),
}

impl<'a> Console<'a> {
    /// The console of `gatehouse` in `browser`, its page sized 1280x800.
    async fn new(browser: &'a Client, gatehouse: &'a Gatehouse) -> Self {
        let frame = browser
            .execute(
                "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]",
                vec![],
            )
            .await
            .expect("script");
        let pixels = |axis: usize| {
            frame[axis]
                .as_u64()
                .and_then(|pixels| u32::try_from(pixels).ok())
                .unwrap_or(0)
        };
        let console = Console {
            browser,
            gatehouse,
            frame: (pixels(0), pixels(1)),
        };
        console.viewport(1280, 800).await;
        console
    }

    async fn open(&self, path: &str) {
        self.browser
            .goto(&format!("{}{path}", self.gatehouse.url))
            .await
            .expect("navigates");
    }

    /// Opens a signed-in page and checks it: its heading, labelled controls,
    /// no token anywhere in it.
    async fn visit(&self, path: &str) {
        self.open(path).await;
        self.wait_for("main h1").await;
        self.labelled_and_secret().await;
    }

    async fn sign_in(&self, token: &str) {
        self.type_into("#token", token).await;
        self.wait_for("#sign-in")
            .await
            .click()
            .await
            .expect("clicked");
    }

    async fn wait_for(&self, css: &str) -> Element {
        self.wait(Locator::Css(css)).await
    }

    async fn wait_for_xpath(&self, xpath: &str) -> Element {
        self.wait(Locator::XPath(xpath)).await
    }

    async fn wait(&self, locator: Locator<'_>) -> Element {
        self.browser
            .wait()
            .at_most(WAIT)
            .for_element(locator)
            .await
            .unwrap_or_else(|e| panic!("{locator:?}: {e}"))
    }

    async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("clicked");
    }

    async fn choose(&self, css: &str, value: &str) {
        let select = self.wait_for(css).await;
        select.select_by_value(value).await.expect("selected");
    }

    async fn type_into(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.expect("cleared");
        field.send_keys(text).await.expect("typed");
    }

    /// Every control has a label, and neither the admin token nor its hash
    /// is anywhere in the page.
    async fn labelled_and_secret(&self) {
        let unlabelled = self
            .browser
            .execute(
                "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')] \
                 .filter(control => !control.labels || control.labels.length === 0) \
                 .map(control => control.name)",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(unlabelled, json!([]), "controls without a label");
        let source = self.browser.source().await.expect("source");
        assert!(!source.contains(ADMIN_TOKEN), "the page shows the token");
        assert!(
            !source.contains(&gatehouse::auth::hash_token(ADMIN_TOKEN)),
            "the page shows the token's hash"
        );
    }

    /// Sizes the window so that the page itself gets `width` x `height`.
    async fn viewport(&self, width: u32, height: u32) {
        self.browser
            .set_window_size(width + self.frame.0, height + self.frame.1)
            .await
            .expect("resized");
    }

    /// At a phone's width the page needs no sideways scrolling (wide tables
    /// scroll inside their own box); saved as `{name}-phone.png`, then back
    /// to 1280x800.
    async fn fits_a_phone(&self, name: &str) {
        self.viewport(390, 844).await;
        let widths = self
            .browser
            .execute(
                "return [window.innerWidth, document.documentElement.scrollWidth - document.documentElement.clientWidth]",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(widths[0], 390, "the page's width");
        assert!(
            widths[1].as_i64().is_some_and(|pixels| pixels <= 0),
            "the page is wider than the window by {} px",
            widths[1]
        );
        self.shot(&format!("{name}-phone")).await;
        self.viewport(1280, 800).await;
    }

    /// Saves the page as `target/tmp/console-screenshots/{name}.png`.
    async fn shot(&self, name: &str) {
        let png = self.browser.screenshot().await.expect("a screenshot");
        std::fs::write(screenshots().join(format!("{name}.png")), png).expect("saved");
    }
}
