//! Maven through gatehouse, end to end with the real `mvn`.
//!
//! Each test serves its own fake repository, starts `gatehouse serve` in
//! front of it with the maven adapter and the deny-list policy, and runs
//! `mvn dependency:get` with a `settings.xml` whose mirror points every
//! repository at gatehouse. Maven's own plugins come from Debian's packaged
//! repository (`/usr/share/maven-repo`, see `.ci/run`), so nothing but the
//! artifacts under test goes through the mirror.

use std::path::{Path, PathBuf};

use sha1::{Digest as _, Sha1};

use crate::fake_maven::{FakeMaven, jar_bytes};
use crate::support::{Gatehouse, Ran, Setup, real_client, run_client};

const DEBIAN_REPOSITORY: &str = "/usr/share/maven-repo";
const DEPENDENCY_PLUGIN: &str = "org.apache.maven.plugins:maven-dependency-plugin:3.5.0";

/// The real mvn, with the dependency plugin from Debian's repository.
fn mvn() -> Option<PathBuf> {
    let install = "apt-get install maven libmaven-dependency-plugin-java junit4";
    let plugin =
        Path::new(DEBIAN_REPOSITORY).join("org/apache/maven/plugins/maven-dependency-plugin/3.5.0");
    let mvn = real_client("mvn", &["--version"], install)?;
    if plugin.is_dir() {
        return Some(mvn);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing ({install})",
        plugin.display()
    );
    eprintln!("skipping: {} is missing ({install})", plugin.display());
    None
}

/// The maven adapter and a deny list of `entries` in front of `repository`.
fn gatehouse(repository: &FakeMaven, entries: &[&str]) -> Gatehouse {
    let quoted: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
    Gatehouse::start(Setup {
        policies: vec!["deny-list"],
        adapters: vec!["maven"],
        gate_policy: format!(
            "policies:\n  default:\n    deny-list:\n      packages: [{}]\n",
            quoted.join(", ")
        ),
        upstreams: vec![("maven".into(), repository.url())],
        extra_config: String::new(),
    })
}

/// A local repository and a settings.xml that mirrors everything to gatehouse.
struct Client {
    dir: tempfile::TempDir,
    mvn: PathBuf,
}

impl Client {
    fn new(mvn: PathBuf, gatehouse: &Gatehouse) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = format!(
            r#"<settings>
  <localRepository>{repo}</localRepository>
  <mirrors>
    <mirror><id>gatehouse</id><mirrorOf>*,!debian</mirrorOf><url>{url}/maven/</url></mirror>
  </mirrors>
  <profiles>
    <profile>
      <id>debian-plugins</id>
      <pluginRepositories>
        <pluginRepository><id>debian</id><url>file://{DEBIAN_REPOSITORY}</url></pluginRepository>
      </pluginRepositories>
    </profile>
  </profiles>
  <activeProfiles><activeProfile>debian-plugins</activeProfile></activeProfiles>
</settings>
"#,
            repo = dir.path().join("repo").display(),
            url = gatehouse.url,
        );
        std::fs::write(dir.path().join("settings.xml"), settings).expect("settings.xml");
        Client { dir, mvn }
    }

    /// `mvn -B -s settings.xml {dependency plugin}:{goal} {args}` in the client's folder.
    async fn mvn(&self, goal: &str, args: &[&str]) -> Ran {
        let mut command = tokio::process::Command::new(&self.mvn);
        command
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("MAVEN_OPTS")
            .args(["-B", "-s"])
            .arg(self.dir.path().join("settings.xml"))
            .arg(format!("{DEPENDENCY_PLUGIN}:{goal}"))
            .args(args);
        run_client(
            command,
            &format!("mvn dependency:{goal} {}", args.join(" ")),
        )
        .await
    }

    /// `mvn dependency:get` of `coordinates`, without transitive dependencies.
    async fn get(&self, coordinates: &str) -> Ran {
        let artifact = format!("-Dartifact={coordinates}");
        self.mvn("get", &[&artifact, "-Dtransitive=false"]).await
    }

    /// `mvn dependency:resolve` in a project depending on `org.example:demo:{requirement}`.
    async fn resolve(&self, requirement: &str) -> Ran {
        let pom = format!(
            "<project><modelVersion>4.0.0</modelVersion><groupId>test</groupId><artifactId>app</artifactId><version>1</version><packaging>pom</packaging><dependencies><dependency><groupId>org.example</groupId><artifactId>demo</artifactId><version>{requirement}</version></dependency></dependencies></project>\n"
        );
        std::fs::write(self.dir.path().join("pom.xml"), pom).expect("pom.xml");
        self.mvn("resolve", &[]).await
    }

    /// The jar of `version` in the local repository, if mvn stored one.
    fn jar(&self, version: &str) -> Option<Vec<u8>> {
        let path = self.dir.path().join(format!(
            "repo/org/example/demo/{version}/demo-{version}.jar"
        ));
        std::fs::read(path).ok()
    }
}

#[tokio::test]
async fn mvn_gets_allowed_versions_and_a_range_passes_over_the_blocked_one() {
    let Some(mvn) = mvn() else {
        return;
    };
    let repository = FakeMaven::start(
        "org.example",
        "demo",
        &[("1.0", false), ("1.1", false), ("1.2", false)],
    );
    let gatehouse = gatehouse(&repository, &["org.example:demo@1.2"]);
    let client = Client::new(mvn, &gatehouse);

    let ran = client.get("org.example:demo:1.0").await;
    assert!(ran.success, "getting an allowed version works");
    assert_eq!(client.jar("1.0"), Some(jar_bytes("demo", "1.0")));

    let ran = client.resolve("[1.0,2.0)").await;
    assert!(ran.success, "a range resolves");
    assert_eq!(client.jar("1.1"), Some(jar_bytes("demo", "1.1")));
    assert_eq!(client.jar("1.2"), None, "the blocked 1.2 is never chosen");
    assert_eq!(repository.hits(&repository.path("1.2", "jar")), 0);
}

#[tokio::test]
async fn mvn_get_of_a_blocked_version_fails_with_the_reason() {
    let Some(mvn) = mvn() else {
        return;
    };
    let repository = FakeMaven::start("org.example", "demo", &[("1.0", false), ("1.2", false)]);
    let gatehouse = gatehouse(&repository, &["org.example:demo@1.2"]);
    let client = Client::new(mvn, &gatehouse);
    let ran = client.get("org.example:demo:1.2").await;
    assert!(!ran.success, "getting the blocked 1.2 must fail");
    for words in ["403", "deny-list", "is on the deny list"] {
        assert!(
            ran.output.contains(words),
            "mvn's output names the rule and reason ({words:?})"
        );
    }
    assert_eq!(client.jar("1.2"), None);
    assert_eq!(repository.hits(&repository.path("1.2", "jar")), 0);
}

#[tokio::test]
async fn a_tampered_jar_is_refused_and_not_cached() {
    let Some(mvn) = mvn() else {
        return;
    };
    let repository = FakeMaven::start("org.example", "demo", &[("1.0", true)]);
    let gatehouse = gatehouse(&repository, &[]);
    let client = Client::new(mvn, &gatehouse);
    let ran = client.get("org.example:demo:1.0").await;
    assert!(
        !ran.success,
        "a jar that fails its checksum must not install"
    );
    assert_eq!(client.jar("1.0"), None);
    let tampered = walk(&gatehouse.path("artifacts"))
        .into_iter()
        .filter(|path| std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(b"tampered")))
        .count();
    assert_eq!(tampered, 0, "nothing of the tampered jar is cached");
}

#[tokio::test]
async fn metadata_lists_only_allowed_versions_with_matching_checksums() {
    let repository = FakeMaven::start(
        "org.example",
        "demo",
        &[("1.0", false), ("1.1", false), ("1.2", false)],
    );
    let gatehouse = gatehouse(&repository, &["org.example:demo@1.2"]);
    let client = Gatehouse::client();
    let base = format!("{}/maven/org/example/demo", gatehouse.url);
    let get = |file: &str| client.get(format!("{base}/{file}")).send();
    let text = |file: &'static str| async move {
        get(file).await.expect("get").text().await.expect("text")
    };
    let xml = text("maven-metadata.xml").await;
    assert!(xml.contains("<version>1.1</version>"), "{xml}");
    assert!(!xml.contains("1.2"), "{xml}");
    assert!(xml.contains("<release>1.1</release>"), "{xml}");
    let sha1 = text("maven-metadata.xml.sha1").await;
    assert_eq!(sha1, hex::encode(Sha1::digest(xml.as_bytes())));
    let refused = get("1.2/demo-1.2.jar.sha1").await.expect("get");
    assert_eq!(refused.status(), 403);
    let traversal = get("..%2f..%2fsecret/demo-1.0.jar").await.expect("get");
    assert_eq!(traversal.status(), 404);
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}
