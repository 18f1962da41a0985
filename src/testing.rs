//! Helpers shared by the unit tests (built for `cargo test` only). The integration tests under
//! `tests/` cannot see this module; theirs are in `tests/common`. Both use [`crate::random`].

pub use crate::random::XorShift;

/// Bytes from a hex string (test vectors written out in the source).
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The bytes of `tests/fixtures/{path}`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}
