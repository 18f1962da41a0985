//! CLIP as the tool needs it, independent of the compute back end: configuration, tokenizer,
//! image preprocessing, prompt templates and the zero-shot head.

pub mod config;
pub mod head;
pub mod preprocess;
pub mod templates;
pub mod tokenizer;
