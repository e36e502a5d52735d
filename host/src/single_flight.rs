//! One fetch per resource at a time: callers for the same key queue behind the
//! first, then find its result in the cache it filled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Per-key async locks that disappear when nobody holds or waits for them.
#[derive(Default)]
pub struct SingleFlight {
    keys: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl SingleFlight {
    /// Runs `work` while holding `key`'s lock.
    pub async fn run<T>(&self, key: &str, work: impl Future<Output = T>) -> T {
        let lock = {
            let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            keys.entry(key.to_owned()).or_default().clone()
        };
        let out = {
            let _held = lock.lock().await;
            work.await
        };
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        // Ours plus the map's: nobody else is waiting, so forget the key.
        if Arc::strong_count(&lock) <= 2 {
            keys.remove(key);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_at_a_time_per_key() {
        let flight = Arc::new(SingleFlight::default());
        let running = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (flight, running) = (flight.clone(), running.clone());
                tokio::spawn(async move {
                    flight
                        .run("k", async {
                            assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0);
                            tokio::task::yield_now().await;
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        assert!(flight.keys.lock().expect("lock").is_empty());
    }
}
