//! CLIP's byte-level BPE tokenizer, giving the same ids as open_clip's `tokenize`.
//!
//! The BPE itself and the original vocabulary come from `instant-clip-tokenizer`; what is added here
//! is open_clip's text cleaning (ftfy's fixes, HTML unescaping, whitespace folding, lower case) and its
//! padding/truncation rule, without which ids differ for entities, curly quotes, ligatures, fullwidth
//! or decomposed characters.

use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

/// CLIP's context length.
pub const CONTEXT_LENGTH: usize = 77;

pub struct Tokenizer {
    bpe: instant_clip_tokenizer::Tokenizer,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokenizer {
    pub fn new() -> Self {
        Self { bpe: instant_clip_tokenizer::Tokenizer::new() }
    }

    /// A process-wide instance: building the merge table takes tens of milliseconds.
    pub fn shared() -> &'static Tokenizer {
        static SHARED: OnceLock<Tokenizer> = OnceLock::new();
        SHARED.get_or_init(Tokenizer::new)
    }

    pub fn start_of_text(&self) -> u32 {
        self.bpe.start_of_text().to_u16() as u32
    }

    pub fn end_of_text(&self) -> u32 {
        self.bpe.end_of_text().to_u16() as u32
    }

    /// BPE ids of the cleaned text, without start/end tokens.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut tokens = Vec::new();
        self.bpe.encode(&clean(text), &mut tokens);
        tokens.into_iter().map(|t| t.to_u16() as u32).collect()
    }

    /// open_clip's `tokenize`: start token, ids, end token; cut to `context_length` with the end token
    /// kept last; padded with zeros.
    pub fn tokenize(&self, text: &str, context_length: usize) -> Vec<u32> {
        let mut ids = Vec::with_capacity(context_length);
        ids.push(self.start_of_text());
        ids.extend(self.encode(text));
        ids.push(self.end_of_text());
        if ids.len() > context_length {
            ids.truncate(context_length);
            if let Some(last) = ids.last_mut() {
                *last = self.end_of_text();
            }
        }
        ids.resize(context_length, 0);
        ids
    }
}

/// open_clip's `_clean_lower`: ftfy.fix_text, html.unescape twice, whitespace folded, lower case.
pub fn clean(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = html_escape::decode_html_entities(&html_escape::decode_html_entities(&fixed).into_owned()).into_owned();
    unescaped.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// The parts of ftfy's `fix_text` that change ordinary (not mis-decoded) text: Latin ligatures and
/// fullwidth/halfwidth forms to their plain letters, curly quotes to straight ones, control
/// characters removed, then NFC.
fn fix_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c as u32 {
            // Latin ligatures (ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ, Ĳ ĳ, Ǳ…ǌ): their compatibility decomposition.
            0xFB00..=0xFB06 | 0x0132 | 0x0133 | 0x01C4..=0x01CC | 0x01F1..=0x01F3 => out.extend(c.nfkc()),
            // Fullwidth ASCII and the ideographic space.
            0xFF01..=0xFF5E => out.push(char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)),
            0x3000 => out.push(' '),
            // Halfwidth katakana/hangul and fullwidth symbols.
            0xFF61..=0xFFEE => out.extend(c.nfkc()),
            // Curly single and double quotes.
            0x02BC | 0x2018..=0x201B => out.push('\''),
            0x201C..=0x201F => out.push('"'),
            // Control characters other than tab and line breaks.
            0x00..=0x08 | 0x0B | 0x0E..=0x1F | 0x7F | 0x80..=0x9F => {}
            _ => out.push(c),
        }
    }
    out.nfc().collect()
}

/// Where the end-of-text token sits: the first `eos_token_id`, or, for HF's legacy id 2, the largest
/// id (argmax), as transformers pools.
pub fn pooled_position(ids: &[u32], eos_token_id: u32) -> usize {
    let found = if eos_token_id == 2 {
        ids.iter().enumerate().fold(None, |best: Option<(usize, u32)>, (i, &v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        }).map(|(i, _)| i)
    } else {
        ids.iter().position(|&v| v == eos_token_id)
    };
    found.unwrap_or(ids.len().saturating_sub(1))
}
