//! Marsaglia's xorshift64 (shifts 13, 7, 17): the benchmark's random weights and every test's data
//! come from this one generator, deterministic so that a failure reproduces.

pub struct XorShift(u64);

impl XorShift {
    /// The state as given; `state` must not be 0 (xorshift would then stay at 0).
    pub fn from_state(state: u64) -> Self {
        assert_ne!(state, 0, "xorshift needs a non-zero state");
        XorShift(state)
    }

    /// Any seed, 0 included: multiplied by the 64-bit golden ratio and made odd, so that nearby
    /// seeds give unrelated sequences and the state is never 0.
    pub fn seeded(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
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
