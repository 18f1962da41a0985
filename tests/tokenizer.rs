//! Token ids against open_clip's `tokenize` (tests/fixtures/reference/tokens.json).

mod common;

use serde::Deserialize;
use wiseft::clip::tokenizer::{Tokenizer, CONTEXT_LENGTH};

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

#[test]
fn ids_equal_open_clip() {
    let text = std::fs::read_to_string(common::fixture("reference/tokens.json")).unwrap();
    let cases: Vec<Case> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 20, "fixture has {} cases", cases.len());
    let tokenizer = Tokenizer::shared();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let got = tokenizer.tokenize(&c.text, CONTEXT_LENGTH);
            (got != c.ids).then(|| format!("{:?}\n  got  {:?}\n  want {:?}", c.text, got, c.ids))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} texts differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn long_text_is_cut_with_end_token_last() {
    let tokenizer = Tokenizer::shared();
    let ids = tokenizer.tokenize(&"word ".repeat(200), CONTEXT_LENGTH);
    assert_eq!(ids.len(), CONTEXT_LENGTH);
    assert_eq!(ids[0], tokenizer.start_of_text());
    assert_eq!(ids[CONTEXT_LENGTH - 1], tokenizer.end_of_text());
}

#[test]
fn empty_text_is_start_and_end() {
    let tokenizer = Tokenizer::shared();
    let ids = tokenizer.tokenize("", CONTEXT_LENGTH);
    assert_eq!(&ids[..3], &[tokenizer.start_of_text(), tokenizer.end_of_text(), 0]);
}
