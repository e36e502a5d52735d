//! The `upstream` interface: an adapter's metadata fetches, through the cache,
//! each raced against the call's deadline.

use crate::bindings::adapter::gatehouse::plugin::upstream::{FetchError, Fetched, Host};
use crate::capabilities::CallScope;
use crate::capabilities::upstream;
use crate::runtime::guest::GuestState;

impl Host for GuestState {
    async fn base(&mut self) -> wasmtime::Result<String> {
        self.check_deadline()?;
        let CallScope::Adapter { upstream, .. } = &self.scope else {
            return Err(wasmtime::Error::msg("upstream is only for adapters"));
        };
        Ok(upstream.base.as_str().trim_end_matches('/').to_owned())
    }

    async fn fetch(
        &mut self,
        url: String,
        accept: Option<String>,
    ) -> wasmtime::Result<Result<Fetched, FetchError>> {
        let CallScope::Adapter { upstream, .. } = self.scope.clone() else {
            return Err(wasmtime::Error::msg("upstream is only for adapters"));
        };
        let result = self
            .host_call(upstream.fetch(&url, accept.as_deref()))
            .await?;
        match result.as_ref().map(|f| f.stamp.clone()) {
            Ok(Some(stamp)) => self.trace.stamps.push(stamp),
            _ => self.trace.reusable = false,
        }
        Ok(match result {
            Ok(f) => Ok(Fetched {
                status: f.status,
                headers: f.headers,
                body: f.body.to_vec(),
                url: f.url,
                stale: f.stale,
            }),
            Err(error) => {
                tracing::debug!(component = &*self.component, %error, "upstream fetch failed");
                Err(match error {
                    upstream::FetchError::Forbidden(m) => FetchError::Forbidden(m),
                    upstream::FetchError::Unreachable(m) => FetchError::Unreachable(m),
                    upstream::FetchError::Timeout(m) => FetchError::Timeout(m),
                    upstream::FetchError::TooLarge(m) => FetchError::TooLarge(m),
                })
            }
        })
    }
}
