//! A fake Maven repository on 127.0.0.1 for end-to-end tests: for each
//! version of an artifact a pom and a jar, each with a `.sha1` beside it, and
//! the artifact's `maven-metadata.xml`. A tampered version's jar differs from
//! what its `.sha1` says.
//!
//! ```ignore
//! let repo = FakeMaven::start("org.example", "demo", &[("1.0", false), ("1.1", true)]);
//! // upstream url: repo.url(); paths: repo.path("1.0", "jar")
//! ```

use sha1::{Digest as _, Sha1};

use crate::fake_http::{FakeHttp, Files, Listener};

/// A running fake repository; it stops when dropped.
#[derive(Debug)]
pub struct FakeMaven {
    server: FakeHttp,
    group: String,
    artifact: String,
}

/// The jar bytes of `version` as published.
pub fn jar_bytes(artifact: &str, version: &str) -> Vec<u8> {
    format!("not really a jar: {artifact} {version}\n").into_bytes()
}

impl FakeMaven {
    /// `versions`: (version, tampered), oldest first.
    pub fn start(group: &str, artifact: &str, versions: &[(&str, bool)]) -> Self {
        let dir = format!("/{}/{artifact}", group.replace('.', "/"));
        let mut files = Files::new();
        let mut add = |path: String, content_type: &'static str, body: Vec<u8>, sum_of: &[u8]| {
            let sha1 = hex::encode(Sha1::digest(sum_of));
            files.insert(format!("{path}.sha1"), ("text/plain", sha1.into_bytes()));
            files.insert(path, (content_type, body));
        };
        for (version, tampered) in versions {
            let pom = format!(
                "<project><modelVersion>4.0.0</modelVersion><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version><packaging>jar</packaging></project>\n"
            )
            .into_bytes();
            add(
                format!("{dir}/{version}/{artifact}-{version}.pom"),
                "text/xml",
                pom.clone(),
                &pom,
            );
            let jar = jar_bytes(artifact, version);
            let served = if *tampered {
                b"tampered on the way\n".to_vec()
            } else {
                jar.clone()
            };
            add(
                format!("{dir}/{version}/{artifact}-{version}.jar"),
                "application/java-archive",
                served,
                &jar,
            );
        }
        let listed: String = versions
            .iter()
            .map(|(v, _)| format!("<version>{v}</version>"))
            .collect();
        let newest = versions.last().map_or("", |(v, _)| v);
        let metadata = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata><groupId>{group}</groupId><artifactId>{artifact}</artifactId><versioning><latest>{newest}</latest><release>{newest}</release><versions>{listed}</versions><lastUpdated>20240101000000</lastUpdated></versioning></metadata>\n"
        )
        .into_bytes();
        add(
            format!("{dir}/maven-metadata.xml"),
            "text/xml",
            metadata.clone(),
            &metadata,
        );
        FakeMaven {
            server: Listener::bind().serve_files(files),
            group: group.into(),
            artifact: artifact.into(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The path of `version`'s file with `extension` (`jar`, `pom`, `jar.sha1` ...).
    pub fn path(&self, version: &str, extension: &str) -> String {
        format!(
            "/{}/{}/{version}/{}-{version}.{extension}",
            self.group.replace('.', "/"),
            self.artifact,
            self.artifact
        )
    }

    pub fn hits(&self, path: &str) -> usize {
        self.server.hits(path)
    }
}
