//! Constructors for verdicts, so a rule reads as what it decides.

use crate::{Action, Verdict};

impl Verdict {
    fn new(action: Action, reason: String) -> Self {
        Verdict {
            action,
            rule: String::new(),
            reason,
            advisories: Vec::new(),
        }
    }

    /// Lets the version through.
    pub fn allow() -> Self {
        Self::new(Action::Allow, String::new())
    }

    /// Lets the version through and records `reason` (shown to operators, audited).
    pub fn warn(reason: impl Into<String>) -> Self {
        Self::new(Action::Warn, reason.into())
    }

    /// Refuses the version; `reason` reaches the developer's client.
    pub fn block(reason: impl Into<String>) -> Self {
        Self::new(Action::Block, reason.into())
    }

    /// `warn` or `block` with the reason, as a setting like `action: warn` says.
    pub fn act(action: Action, reason: impl Into<String>) -> Self {
        Self::new(action, reason.into())
    }

    /// Names the rule (the host uses the policy's name when this is left empty).
    pub fn rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = rule.into();
        self
    }

    /// Attaches the advisory ids behind the verdict.
    pub fn advisories(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.advisories = ids.into_iter().map(Into::into).collect();
        self
    }

    pub fn is_block(&self) -> bool {
        self.action == Action::Block
    }
}
