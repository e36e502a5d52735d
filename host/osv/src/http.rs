//! What every OSV download shares: a client that follows redirects only
//! within the origin it asked (a feed cannot send gatehouse elsewhere), and
//! bodies read up to a cap, so a hostile or broken source cannot fill memory
//! or disk.

use crate::OsvError;

/// Redirects followed within one origin before giving up.
const MAX_REDIRECTS: usize = 10;

/// The largest `all.zip` downloaded.
pub const ALL_ZIP_BYTES: u64 = 1 << 30;
/// The largest `modified_id.csv` read (a line per record of the ecosystem).
pub const LIST_BYTES: u64 = 64 << 20;
/// The largest single record (`{ID}.json`) or live-service answer read.
pub const ANSWER_BYTES: u64 = 8 << 20;

/// A client builder for OSV sources: redirects only to the same origin,
/// no proxy from the environment.
pub fn client_builder() -> reqwest::ClientBuilder {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !same_origin {
            let refused = format!(
                "redirect to {} refused: OSV sources are followed only within the origin asked",
                attempt.url()
            );
            attempt.error(refused)
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder().redirect(policy).no_proxy()
}

/// Reads `response`'s body, at most `cap` bytes, handing each chunk to `sink`;
/// a longer body is an error naming the cap.
pub async fn read_capped(
    mut response: reqwest::Response,
    url: &str,
    cap: u64,
    mut sink: impl FnMut(&[u8]) -> Result<(), OsvError>,
) -> Result<(), OsvError> {
    let too_large = || OsvError::TooLarge {
        url: url.to_owned(),
        cap,
    };
    if response.content_length().is_some_and(|len| len > cap) {
        return Err(too_large());
    }
    let mut read: u64 = 0;
    while let Some(chunk) = response.chunk().await.map_err(|source| OsvError::Http {
        url: url.to_owned(),
        source,
    })? {
        read += chunk.len() as u64;
        if read > cap {
            return Err(too_large());
        }
        sink(&chunk)?;
    }
    Ok(())
}

/// [`read_capped`] into memory.
pub async fn body_capped(
    response: reqwest::Response,
    url: &str,
    cap: u64,
) -> Result<Vec<u8>, OsvError> {
    let mut body = Vec::new();
    read_capped(response, url, cap, |chunk| {
        body.extend_from_slice(chunk);
        Ok(())
    })
    .await?;
    Ok(body)
}
