//! The `upstream` interface: an adapter's metadata fetches, through the cache,
//! each raced against the call's deadline; what they read is recorded in the
//! call's [`Trace`], so its outcome can be reused while that stays current.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use super::{AdapterUpstream, FetchStamp};
use crate::bindings::Digest;
use crate::bindings::adapter::gatehouse::plugin::upstream::{
    self, FetchError, Fetched, Host, LayerFile,
};
use crate::capabilities::Call;
use gatehouse_archive::ArchiveLimits;

/// What an adapter call read upstream, recorded while it ran.
#[derive(Debug)]
pub struct Trace {
    pub stamps: Vec<FetchStamp>,
    /// False once the call read something that cannot be checked for
    /// staleness (an uncached or stale upstream answer, a failure, the store).
    pub reusable: bool,
}

impl Default for Trace {
    /// Nothing read yet: reusable.
    fn default() -> Self {
        Trace {
            stamps: Vec::new(),
            reusable: true,
        }
    }
}

/// The upstream one adapter call fetches from, and what it read.
pub struct UpstreamState {
    upstream: Arc<AdapterUpstream>,
    /// How far image layers are read (`limits.archive_*`).
    limits: ArchiveLimits,
    pub trace: Trace,
}

impl UpstreamState {
    pub fn new(upstream: Arc<AdapterUpstream>, limits: ArchiveLimits) -> Self {
        UpstreamState {
            upstream,
            limits,
            trace: Trace::default(),
        }
    }
}

/// One call's view of its upstream state; a policy's call has none.
pub struct UpstreamView<'a> {
    pub call: &'a Call,
    pub state: Option<&'a mut UpstreamState>,
}

impl UpstreamView<'_> {
    fn state(&mut self) -> wasmtime::Result<&mut UpstreamState> {
        self.state
            .as_deref_mut()
            .ok_or_else(|| wasmtime::Error::msg("upstream is only for adapters"))
    }
}

struct HasUpstream;

impl HasData for HasUpstream {
    type Data<'a> = UpstreamView<'a>;
}

/// Adds the `upstream` interface to `linker`, each call's view from `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> UpstreamView<'_>,
) -> wasmtime::Result<()> {
    upstream::add_to_linker::<T, HasUpstream>(linker, get)
}

impl Host for UpstreamView<'_> {
    async fn base(&mut self) -> wasmtime::Result<String> {
        self.call.check_deadline()?;
        let state = self.state()?;
        Ok(state
            .upstream
            .base
            .as_str()
            .trim_end_matches('/')
            .to_owned())
    }

    async fn fetch(
        &mut self,
        url: String,
        accept: Option<String>,
    ) -> wasmtime::Result<Result<Fetched, FetchError>> {
        let call = self.call;
        let state = self.state()?;
        let upstream = state.upstream.clone();
        let result = call
            .host_call(upstream.fetch(&url, accept.as_deref()))
            .await?;
        match result.as_ref().map(|f| f.stamp.clone()) {
            Ok(Some(stamp)) => state.trace.stamps.push(stamp),
            _ => state.trace.reusable = false,
        }
        Ok(match result {
            Ok(f) => Ok(Fetched {
                status: f.status,
                headers: f.headers,
                body: f.body.to_vec(),
                url: f.url,
                stale: f.stale,
            }),
            Err(error) => Err(failed(call, error)),
        })
    }

    async fn layer_files(
        &mut self,
        url: String,
        digest: Digest,
        paths: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<LayerFile>, FetchError>> {
        let call = self.call;
        let state = self.state()?;
        if digest.algorithm != "sha256" {
            return Ok(Err(FetchError::Forbidden(format!(
                "{url}: layers are verified by sha256, not {}",
                digest.algorithm
            ))));
        }
        // A layer is named by its digest: what it holds never goes stale.
        let (upstream, limits) = (state.upstream.clone(), state.limits);
        let read = call
            .host_call(upstream.layer_files(&url, &digest.hex, paths, limits))
            .await?;
        Ok(match read {
            Ok(members) => Ok(members
                .iter()
                .map(|member| LayerFile {
                    path: member.path.clone(),
                    contents: member.contents.clone(),
                })
                .collect()),
            Err(error) => Err(failed(call, error)),
        })
    }
}

/// An upstream failure as the adapter is told it.
fn failed(call: &Call, error: super::FetchError) -> FetchError {
    tracing::debug!(component = &*call.component, %error, "upstream fetch failed");
    match error {
        super::FetchError::Forbidden(m) => FetchError::Forbidden(m),
        super::FetchError::Unreachable(m) => FetchError::Unreachable(m),
        super::FetchError::Timeout(m) => FetchError::Timeout(m),
        super::FetchError::TooLarge(m) => FetchError::TooLarge(m),
    }
}
