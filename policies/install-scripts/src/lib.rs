//! `install-scripts`: flags versions that run code at install time (npm's
//! `preinstall`, `install` and `postinstall` hooks), the usual way a malicious
//! package gets onto developer and CI machines.
//!
//! Settings:
//! - `action`: `warn` (the default) or `block`.
//! - `allow`: package names trusted to run install scripts (`esbuild`,
//!   `@scope/name`).
//!
//! Unknown keys are refused: a misspelt `action` would silently fall back to `warn`.

use std::collections::HashMap;

use gatehouse_sdk::text::excerpt;
use gatehouse_sdk::{Context, OnMatch, Policy, Verdict, VersionFacts, serde_json};

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub action: OnMatch,
    pub allow: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            action: OnMatch::Warn,
            allow: Vec::new(),
        }
    }
}

/// The hooks a package manager runs by itself when installing.
const INSTALL_HOOKS: [&str; 3] = ["preinstall", "install", "postinstall"];

/// Longest script command quoted in a reason, in characters.
const COMMAND_CHARS: usize = 80;

pub struct InstallScripts;

impl Policy for InstallScripts {
    type Settings = Settings;

    fn check(settings: &Settings, _: &Context, facts: &VersionFacts) -> Verdict {
        let hooks: Vec<&str> = INSTALL_HOOKS
            .into_iter()
            .filter(|hook| facts.install_scripts.iter().any(|s| s == hook))
            .collect();
        if hooks.is_empty() || settings.allow.contains(&facts.name) {
            return Verdict::allow();
        }
        let commands = commands(&facts.raw, &hooks);
        let advice = match settings.action {
            OnMatch::Warn => {
                "review what it runs, or install with --ignore-scripts; if it is trusted, ask for it to be added to the install-scripts allow list"
            }
            OnMatch::Block => {
                "use a version without install scripts, or if the package is trusted, ask the platform team to add it to the install-scripts allow list"
            }
        };
        Verdict::act(
            settings.action,
            format!(
                "{} {} runs {} at install time{commands}, on every machine that installs it; {advice}",
                facts.name,
                facts.version,
                hooks.join(", ")
            ),
        )
    }
}

/// ` (postinstall: `node install.js`)` from the raw metadata's `scripts`, or
/// nothing when the metadata does not say.
fn commands(raw: &str, hooks: &[&str]) -> String {
    #[derive(serde::Deserialize)]
    struct Scripts {
        scripts: HashMap<String, String>,
    }
    let Ok(Scripts { scripts }) = serde_json::from_str::<Scripts>(raw) else {
        return String::new();
    };
    let shown: Vec<String> = hooks
        .iter()
        .filter_map(|hook| {
            let command = scripts.get(*hook)?.trim();
            Some(format!("{hook}: `{}`", excerpt(command, COMMAND_CHARS)))
        })
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(" ({})", shown.join("; "))
    }
}

gatehouse_sdk::export_policy!(InstallScripts, reads: [raw("scripts")]);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use gatehouse_sdk::Action;
    use gatehouse_sdk::testing::{evaluate, facts};

    fn scripted(name: &str, hooks: &[&str], raw: &str) -> VersionFacts {
        let mut f = facts("npm", name, "1.0.0");
        f.install_scripts = hooks.iter().map(|h| h.to_string()).collect();
        f.raw = raw.into();
        f
    }

    fn judge(settings: &str, f: VersionFacts) -> Verdict {
        evaluate::<InstallScripts>(settings, &[f])
            .expect("evaluates")
            .remove(0)
    }

    #[test]
    fn install_hooks_warn_by_default_and_show_the_command() {
        let v = judge(
            "",
            scripted(
                "esbuild",
                &["postinstall"],
                r#"{"scripts": {"postinstall": "node install.js", "test": "jest"}}"#,
            ),
        );
        assert_eq!(v.action, Action::Warn);
        assert_eq!(
            v.reason,
            "esbuild 1.0.0 runs postinstall at install time (postinstall: `node install.js`), on every machine that installs it; review what it runs, or install with --ignore-scripts; if it is trusted, ask for it to be added to the install-scripts allow list"
        );
    }

    #[test]
    fn block_and_allow_list() {
        let settings = r#"{"action": "block", "allow": ["esbuild"]}"#;
        assert_eq!(
            judge(settings, scripted("esbuild", &["postinstall"], "{}")).action,
            Action::Allow
        );
        let v = judge(settings, scripted("evil", &["preinstall", "install"], "{}"));
        assert_eq!(v.action, Action::Block);
        assert!(
            v.reason
                .starts_with("evil 1.0.0 runs preinstall, install at install time, on every"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn other_scripts_do_not_count() {
        assert_eq!(
            judge("", scripted("lib", &["prepare", "test"], "{}")).action,
            Action::Allow
        );
        assert_eq!(
            judge("", facts("npm", "lib", "1.0.0")).action,
            Action::Allow
        );
    }

    #[test]
    fn long_commands_are_cut() {
        let raw = format!(r#"{{"scripts": {{"install": "{}"}}}}"#, "x".repeat(200));
        let v = judge("", scripted("big", &["install"], &raw));
        assert!(
            v.reason.contains(&format!("`{}…`", "x".repeat(80))),
            "{}",
            v.reason
        );
    }

    #[test]
    fn misspelt_settings_fail() {
        assert!(evaluate::<InstallScripts>(r#"{"acton": "block"}"#, &[]).is_err());
        assert!(evaluate::<InstallScripts>(r#"{"action": "deny"}"#, &[]).is_err());
    }
}
