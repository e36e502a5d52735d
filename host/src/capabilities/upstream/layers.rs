//! What image layers held, remembered by digest: a layer is named by its
//! content, so what was read out of it never goes stale, and a manifest
//! judged again (its tag revalidated) does not fetch its layers again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use gatehouse_archive::Member;

/// At most this many bytes of files are remembered, oldest forgotten first.
const REMEMBERED_BYTES: usize = 64 << 20;

/// Files read out of layers, by layer digest and the paths asked for.
#[derive(Default)]
pub struct LayerMemo(Mutex<Remembered>);

#[derive(Default)]
struct Remembered {
    files: HashMap<String, Arc<Vec<Member>>>,
    order: VecDeque<String>,
    bytes: usize,
}

fn size(files: &[Member]) -> usize {
    files.iter().map(|f| f.path.len() + f.contents.len()).sum()
}

impl LayerMemo {
    pub fn key(sha256: &str, paths: &[String]) -> String {
        format!("{sha256}\n{}", paths.join("\n"))
    }

    pub fn get(&self, key: &str) -> Option<Arc<Vec<Member>>> {
        self.lock().files.get(key).cloned()
    }

    pub fn put(&self, key: String, files: Arc<Vec<Member>>) {
        let mut remembered = self.lock();
        let added = size(&files);
        if added > REMEMBERED_BYTES || remembered.files.contains_key(&key) {
            return;
        }
        while remembered.bytes + added > REMEMBERED_BYTES {
            let Some(oldest) = remembered.order.pop_front() else {
                break;
            };
            if let Some(gone) = remembered.files.remove(&oldest) {
                remembered.bytes -= size(&gone);
            }
        }
        remembered.bytes += added;
        remembered.order.push_back(key.clone());
        remembered.files.insert(key, files);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(bytes: usize) -> Arc<Vec<Member>> {
        Arc::new(vec![Member {
            path: String::new(),
            contents: vec![0; bytes],
        }])
    }

    #[test]
    fn the_oldest_layers_are_forgotten_past_the_budget() {
        let memo = LayerMemo::default();
        let paths = ["var/lib/dpkg/status".to_owned()];
        let (a, b) = (LayerMemo::key("a", &paths), LayerMemo::key("b", &paths));
        memo.put(a.clone(), files(REMEMBERED_BYTES / 2));
        memo.put(b.clone(), files(REMEMBERED_BYTES / 2));
        assert!(memo.get(&a).is_some() && memo.get(&b).is_some());
        memo.put(LayerMemo::key("c", &paths), files(1));
        assert!(memo.get(&a).is_none(), "the oldest stays past the budget");
        assert!(memo.get(&b).is_some());
        memo.put(LayerMemo::key("huge", &paths), files(REMEMBERED_BYTES + 1));
        assert!(memo.get(&LayerMemo::key("huge", &paths)).is_none());
    }
}
