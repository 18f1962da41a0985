//! Helpers shared by the unit tests (built for `cargo test` only). The integration tests under
//! `tests/` cannot see this module; theirs are in `tests/common`.

/// Marsaglia's xorshift64 (shifts 13, 7, 17): deterministic, so that a failing test reproduces.
/// The state is used as given; callers that start from a small seed mix it themselves.
pub struct XorShift(u64);

impl XorShift {
    /// `state` must not be 0 (xorshift would then stay at 0).
    pub fn from_state(state: u64) -> Self {
        assert_ne!(state, 0, "xorshift needs a non-zero state");
        XorShift(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The top 24 bits as an `f32` in [0, 1) (every such value is exact).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

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
