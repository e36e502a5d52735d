//! Human reviews of packages, recorded through the admin API and published to
//! the `review` policy through the host's store namespace.
//!
//! Each review (score 0.0–5.0, reviewer, comment) is kept in `reviews.json`;
//! the store key `reviews/{ecosystem}/{package}[/{version}]` (read by guests
//! as `gatehouse/reviews/...`) holds `{"score": mean, "reviews": count}` over
//! every review of that package or version.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::capabilities::store::{HOST_NAMESPACE, KvStore};
use crate::ecosystem::{canonical_ecosystem, named_package};
use crate::state_file::{self, StateFileError};

/// One review as stored and listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    pub ecosystem: String,
    pub package: String,
    /// The version reviewed; the whole package when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub score: f64,
    pub reviewer: String,
    #[serde(default)]
    pub comment: String,
    pub time: String,
}

/// What `POST /api/v1/admin/reviews` accepts.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    pub ecosystem: String,
    pub package: String,
    #[serde(default)]
    pub version: Option<String>,
    pub score: f64,
    /// Defaults to the admin token's name.
    #[serde(default)]
    pub reviewer: Option<String>,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] StateFileError),
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct File {
    reviews: Vec<Review>,
}

/// The review records and their published summaries.
pub struct Reviews {
    path: PathBuf,
    list: Mutex<Vec<Review>>,
    store: Arc<KvStore>,
}

impl Reviews {
    /// Opens `path` and publishes every summary into `store`.
    pub fn open(path: &Path, store: Arc<KvStore>) -> Result<Self, StateFileError> {
        let file: File = state_file::load(path)?;
        let reviews = Reviews {
            path: path.to_owned(),
            list: Mutex::new(Vec::new()),
            store,
        };
        for review in &file.reviews {
            reviews.publish(&file.reviews, review);
        }
        *reviews.list.lock().unwrap_or_else(|e| e.into_inner()) = file.reviews;
        Ok(reviews)
    }

    /// Reviews of `package` in `ecosystem` (all when both are absent).
    pub fn list(&self, ecosystem: Option<&str>, package: Option<&str>) -> Vec<Review> {
        let ecosystem = ecosystem.and_then(canonical_ecosystem);
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| ecosystem.is_none_or(|e| r.ecosystem == e))
            .filter(|r| {
                package.is_none_or(|p| r.package == gatehouse_osv::normalize_name(&r.ecosystem, p))
            })
            .cloned()
            .collect()
    }

    /// Validates, stores and publishes a review.
    pub fn add(&self, new: NewReview, reviewer: &str) -> Result<Review, ReviewError> {
        let invalid = |message: String| ReviewError::Invalid(message);
        let (ecosystem, package) = named_package(&new.ecosystem, &new.package).map_err(invalid)?;
        if !(0.0..=5.0).contains(&new.score) {
            return Err(invalid(format!(
                "score must be between 0.0 and 5.0, not {}",
                new.score
            )));
        }
        let review = Review {
            ecosystem: ecosystem.to_owned(),
            package,
            version: new
                .version
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            score: new.score,
            reviewer: new
                .reviewer
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| reviewer.to_owned()),
            comment: new.comment,
            time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        };
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = list.clone();
        next.push(review.clone());
        state_file::save(
            &self.path,
            &File {
                reviews: next.clone(),
            },
        )?;
        self.publish(&next, &review);
        *list = next;
        Ok(review)
    }

    /// Writes the summary for `review`'s key, over every review in `all`.
    fn publish(&self, all: &[Review], review: &Review) {
        let same: Vec<f64> = all
            .iter()
            .filter(|r| {
                r.ecosystem == review.ecosystem
                    && r.package == review.package
                    && r.version == review.version
            })
            .map(|r| r.score)
            .collect();
        let mean = same.iter().sum::<f64>() / same.len().max(1) as f64;
        let key = match &review.version {
            Some(version) => format!("reviews/{}/{}/{version}", review.ecosystem, review.package),
            None => format!("reviews/{}/{}", review.ecosystem, review.package),
        };
        let summary = serde_json::json!({ "score": mean, "reviews": same.len() });
        if let Err(error) =
            self.store
                .set(HOST_NAMESPACE, &key, summary.to_string().into_bytes(), None)
        {
            tracing::error!(%key, %error, "publishing a review summary failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(score: f64, version: Option<&str>) -> NewReview {
        NewReview {
            ecosystem: "pypi".into(),
            package: "Django_Extras".into(),
            version: version.map(str::to_owned),
            score,
            reviewer: None,
            comment: "read the diff".into(),
        }
    }

    #[test]
    fn publishes_the_mean_per_key_and_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("reviews.json");
        let store = Arc::new(KvStore::default());
        let reviews = Reviews::open(&path, store.clone()).expect("open");
        reviews.add(review(4.0, Some("1.0")), "ops").expect("valid");
        reviews.add(review(3.0, Some("1.0")), "ops").expect("valid");
        reviews.add(review(1.0, None), "ops").expect("valid");
        let key = "reviews/PyPI/django-extras/1.0";
        let summary = |store: &KvStore, key: &str| -> serde_json::Value {
            serde_json::from_slice(&store.get(HOST_NAMESPACE, key).expect("published"))
                .expect("json")
        };
        assert_eq!(
            summary(&store, key),
            serde_json::json!({"score": 3.5, "reviews": 2})
        );
        assert_eq!(summary(&store, "reviews/PyPI/django-extras")["score"], 1.0);
        let fresh = Arc::new(KvStore::default());
        let reopened = Reviews::open(&path, fresh.clone()).expect("reopen");
        assert_eq!(summary(&fresh, key)["reviews"], 2);
        assert_eq!(reopened.list(Some("PyPI"), Some("django.extras")).len(), 3);
        assert_eq!(reopened.list(None, None)[0].reviewer, "ops");
    }

    #[test]
    fn refuses_scores_out_of_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reviews = Reviews::open(
            &dir.path().join("reviews.json"),
            Arc::new(KvStore::default()),
        )
        .expect("open");
        assert!(reviews.add(review(5.5, None), "ops").is_err());
        assert!(reviews.add(review(f64::NAN, None), "ops").is_err());
        assert!(reviews.list(None, None).is_empty());
    }
}
