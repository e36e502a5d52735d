//! `maven`: the gatehouse adapter for the Maven 2 repository layout (a
//! `<mirror>` in Maven's `settings.xml`, or a Gradle `maven { url }`).
//!
//! - `/{group}/{artifact}/maven-metadata.xml`: upstream's, rewritten without
//!   the blocked versions (one gate batch, ecosystem `Maven`, package name
//!   `group:artifact` as OSV spells them); its `.md5`/`.sha1`/`.sha256`/
//!   `.sha512` are computed over the rewritten bytes.
//! - `/{group}/{artifact}/{version}/{file}`: an artifact plan; the host's
//!   last-stop gate refuses a blocked version with 403 and the reason in the
//!   status line (Maven prints it), and verifies the bytes against the
//!   strongest checksum upstream publishes beside the file.
//! - checksum and signature siblings of a version's files: upstream's, for
//!   allowed versions only; 403 with the reason otherwise.
//!
//! - A version's own pom (the `.pom`, or the one inside its jar) is read for
//!   the host's artifact check (see [`pom`]).
//!
//! Settings: none. The logic lives in plain modules tested natively; this
//! file is the glue to the host's imports.

pub mod metadata;
pub mod pom;
pub mod route;
pub mod service;

use gatehouse_adapter_sdk::{Guest, Outcome, Request, WitHost};

pub use service::handle;

pub struct Maven;

impl Guest for Maven {
    fn handle(_settings: String, request: Request) -> Outcome {
        handle(&WitHost, &request)
    }
}

gatehouse_adapter_sdk::export_adapter!(Maven, manifest = pom::read);
