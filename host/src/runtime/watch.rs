//! Hot reload: watches the adapters and policies directories and the
//! gate-policy file, and reloads (debounced) when any of them changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::{Layout, Runtime};

/// Quiet time after the last event before reloading (an editor or `cp` writes in bursts).
const DEBOUNCE: Duration = Duration::from_millis(100);
/// A steady stream of events still reloads this soon after the first one.
const MAX_DELAY: Duration = Duration::from_millis(400);

/// True for paths whose change means a reload: a component file or the gate-policy file.
fn relevant(layout: &Layout, path: &Path) -> bool {
    let in_component_dir = path
        .parent()
        .is_some_and(|dir| dir == layout.adapters_dir || dir == layout.policies_dir);
    (in_component_dir && path.extension().is_some_and(|e| e == "wasm"))
        || path.file_name() == layout.gate_policy.file_name()
}

/// Starts watching; the returned watcher must be kept alive.
// At start-up, before serving.
#[allow(clippy::disallowed_methods)]
pub fn watch(runtime: Arc<Runtime>) -> anyhow::Result<notify::RecommendedWatcher> {
    let layout = absolute(&runtime.layout);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let filter = layout.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !event.kind.is_access() && event.paths.iter().any(|p| relevant(&filter, p)) {
            let _ = tx.send(());
        }
    })?;
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
            // Let the burst settle, but never wait past MAX_DELAY.
            let deadline = tokio::time::Instant::now() + MAX_DELAY;
            while let Ok(Some(())) = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + DEBOUNCE),
                rx.recv(),
            )
            .await
            {}
            runtime.reload().await;
        }
    });
    Ok(watcher)
}

/// The layout with absolute paths, as the watcher reports them.
fn absolute(layout: &Layout) -> Layout {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    Layout {
        adapters_dir: abs(&layout.adapters_dir),
        policies_dir: abs(&layout.policies_dir),
        gate_policy: abs(&layout.gate_policy),
    }
}
