//! Labels and prompt templates as a session (and the CLI) takes them: the one place that trims
//! labels, drops blank ones and resolves template sets.

use std::str::FromStr;

use crate::clip::templates;
use crate::error::{Error, Result};

/// A named set of templates, or the person's own list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateSet {
    /// "a photo of a {}." alone.
    #[default]
    Single,
    /// CLIP's 80 ImageNet templates.
    Imagenet80,
    /// Only the templates given with it.
    Custom,
}

impl TemplateSet {
    fn builtin(self) -> &'static [&'static str] {
        match self {
            Self::Single => templates::SINGLE,
            Self::Imagenet80 => templates::IMAGENET80,
            Self::Custom => &[],
        }
    }
}

impl FromStr for TemplateSet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "single" => Ok(Self::Single),
            "imagenet80" => Ok(Self::Imagenet80),
            "custom" => Ok(Self::Custom),
            other => Err(Error::Invalid(format!("unknown template set `{other}` (single, imagenet80, custom)"))),
        }
    }
}

/// The labels to classify into and the templates each is put in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompts {
    pub labels: Vec<String>,
    pub templates: Vec<String>,
}

impl Default for Prompts {
    fn default() -> Self {
        Self { labels: Vec::new(), templates: resolve_templates(None, &[]) }
    }
}

impl Prompts {
    /// Labels trimmed, blank ones dropped; templates as [`resolve_templates`] gives them.
    pub fn new<S: AsRef<str>>(labels: impl IntoIterator<Item = S>, set: Option<TemplateSet>, own: &[String]) -> Self {
        Self { labels: clean_labels(labels), templates: resolve_templates(set, own) }
    }

    /// How many prompts go through the text tower.
    pub fn count(&self) -> usize {
        self.labels.len() * self.templates.len()
    }
}

/// Labels trimmed, blank ones dropped (in order; duplicates are kept: they are the person's).
pub fn clean_labels<S: AsRef<str>>(raw: impl IntoIterator<Item = S>) -> Vec<String> {
    raw.into_iter().map(|l| l.as_ref().trim().to_string()).filter(|l| !l.is_empty()).collect()
}

/// The person's own templates (blank ones dropped), then the set's; CLIP's single template when
/// that leaves none.
pub fn resolve_templates(set: Option<TemplateSet>, own: &[String]) -> Vec<String> {
    let mut list: Vec<String> = own.iter().filter(|t| !t.trim().is_empty()).cloned().collect();
    list.extend(set.map_or(&[][..], TemplateSet::builtin).iter().map(|s| s.to_string()));
    if list.is_empty() {
        list.extend(templates::SINGLE.iter().map(|s| s.to_string()));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_and_blank_ones_dropped() {
        assert_eq!(clean_labels([" cat", "", "  ", "dog "]), vec!["cat", "dog"]);
    }

    #[test]
    fn templates_fall_back_to_the_single_one() {
        assert_eq!(resolve_templates(Some(TemplateSet::Custom), &[" ".into()]), vec!["a photo of a {}."]);
        assert_eq!(resolve_templates(None, &[]), vec!["a photo of a {}."]);
        assert_eq!(resolve_templates(Some(TemplateSet::Imagenet80), &[]).len(), 80);
        let own = vec!["a {} here".to_string()];
        assert_eq!(resolve_templates(Some(TemplateSet::Single), &own), vec!["a {} here", "a photo of a {}."]);
    }

    #[test]
    fn sets_by_name() {
        assert_eq!("imagenet80".parse::<TemplateSet>().unwrap(), TemplateSet::Imagenet80);
        assert!("x".parse::<TemplateSet>().unwrap_err().to_string().contains("single, imagenet80, custom"));
    }
}
