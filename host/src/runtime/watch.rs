//! Hot reload: watches the adapters and policies directories and the
//! gate-policy file, and reloads (debounced) when anything there changes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::Runtime;

/// Quiet time after the last event before reloading (an editor or `cp` writes in bursts).
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Starts watching; the returned watcher must be kept alive.
pub fn watch(runtime: Arc<Runtime>) -> anyhow::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })?;
    let layout = &runtime.layout;
    let gate_dir = layout
        .gate_policy
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    for dir in [&layout.adapters_dir, &layout.policies_dir, &gate_dir] {
        std::fs::create_dir_all(dir)?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Drain the burst, then reload once.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            runtime.reload().await;
        }
    });
    Ok(watcher)
}
