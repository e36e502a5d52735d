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
        let entry = {
            let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            let lock = keys.entry(key.to_owned()).or_default().clone();
            Entry {
                flight: self,
                key,
                lock,
            }
        };
        let _held = entry.lock.lock().await;
        work.await
    }
}

/// One caller's hold on a key; dropping it (done or cancelled: a client
/// gone, a deadline) forgets the key once nobody else holds or waits for it.
struct Entry<'a> {
    flight: &'a SingleFlight,
    key: &'a str,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        let mut keys = self.flight.keys.lock().unwrap_or_else(|e| e.into_inner());
        // Ours plus the map's: nobody else is waiting, so forget the key.
        if Arc::strong_count(&self.lock) <= 2 {
            keys.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_run_forgets_its_key() {
        let flight = SingleFlight::default();
        let started = tokio::sync::Notify::new();
        let stuck = flight.run("k", async {
            started.notify_one();
            std::future::pending::<()>().await
        });
        tokio::select! {
            _ = stuck => unreachable!("pending never finishes"),
            _ = started.notified() => {}
        }
        assert!(flight.keys.lock().expect("lock").is_empty());
        let ran = tokio::time::timeout(Duration::from_secs(30), flight.run("k", async { 7 }));
        assert_eq!(ran.await.expect("the key is free again"), 7);
        assert!(flight.keys.lock().expect("lock").is_empty());
    }
}
