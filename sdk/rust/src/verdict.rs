//! Constructors for verdicts, so a rule reads as what it decides, and the
//! `action: warn|block` setting that picks one.

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
    pub fn act(action: impl Into<Action>, reason: impl Into<String>) -> Self {
        Self::new(action.into(), reason.into())
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

    /// Whether the verdict refuses the version.
    pub fn is_block(&self) -> bool {
        self.action == Action::Block
    }
}

/// What a rule does to a version it matches, as a setting says it:
/// `action: warn` or `action: block`. Any other value (`allow` included) is
/// refused, so a misspelling fails the batch rather than turning the rule off.
#[derive(serde::Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnMatch {
    Warn,
    /// The default: the strict choice.
    #[default]
    Block,
}

impl From<OnMatch> for Action {
    fn from(on_match: OnMatch) -> Self {
        match on_match {
            OnMatch::Warn => Action::Warn,
            OnMatch::Block => Action::Block,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_match_reads_warn_and_block_only() {
        let read = |json: &str| serde_json::from_str::<OnMatch>(json).map_err(drop);
        assert_eq!(read(r#""warn""#), Ok(OnMatch::Warn));
        assert_eq!(read(r#""block""#), Ok(OnMatch::Block));
        for refused in [r#""allow""#, r#""Block""#, r#""deny""#, "null"] {
            assert_eq!(read(refused), Err(()), "{refused}");
        }
        assert_eq!(OnMatch::default(), OnMatch::Block);
        assert_eq!(Verdict::act(OnMatch::Warn, "r").action, Action::Warn);
        assert_eq!(Verdict::act(Action::Block, "r").action, Action::Block);
    }
}
