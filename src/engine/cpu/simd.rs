//! Four f32 lanes for the CPU engine's kernels (`gemm.rs`, `activation.rs`): wasm `simd128` in the
//! browser, a plain array elsewhere.
//!
//! Natively candle's threaded GEMM is faster, so there the array version only serves the tests,
//! which then check the same blocking and the same arithmetic that the browser runs: every lane
//! operation is the IEEE one, rounded once (simd128 has no fused multiply-add), in the same order.
//! The one exception is the threaded build (`scripts/build-threaded.sh`), which also has relaxed
//! SIMD: its GEMM multiplies and adds in one fused instruction ([`F32x4::add_mul_relaxed`]).

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct F32x4(v128);

    impl F32x4 {
        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            Self(f32x4_splat(x))
        }

        /// # Safety
        /// `p..p+4` must be readable.
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            Self(v128_load(p as *const v128))
        }

        /// # Safety
        /// `p..p+4` must be writable.
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            v128_store(p as *mut v128, self.0)
        }

        #[inline(always)]
        pub fn add(self, b: Self) -> Self {
            Self(f32x4_add(self.0, b.0))
        }

        #[inline(always)]
        pub fn sub(self, b: Self) -> Self {
            Self(f32x4_sub(self.0, b.0))
        }

        #[inline(always)]
        pub fn mul(self, b: Self) -> Self {
            Self(f32x4_mul(self.0, b.0))
        }

        #[inline(always)]
        pub fn div(self, b: Self) -> Self {
            Self(f32x4_div(self.0, b.0))
        }

        /// Lane-wise clamp to [lo, hi].
        #[inline(always)]
        pub fn clamp(self, lo: f32, hi: f32) -> Self {
            Self(f32x4_pmin(f32x4_pmax(self.0, f32x4_splat(lo)), f32x4_splat(hi)))
        }

        /// Rounded to the nearest integer, ties to even.
        #[inline(always)]
        pub fn round(self) -> Self {
            Self(f32x4_nearest(self.0))
        }

        /// 2^self for lanes holding integers in [-126, 127].
        #[inline(always)]
        pub fn pow2_of_integer(self) -> Self {
            Self(i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(self.0), i32x4_splat(127)), 23))
        }

        /// self + a·b in one instruction where the machine fuses it (relaxed SIMD).
        #[cfg(target_feature = "relaxed-simd")]
        #[inline(always)]
        pub fn relaxed_madd(self, a: Self, b: Self) -> Self {
            Self(f32x4_relaxed_madd(a.0, b.0, self.0))
        }

        /// The four lanes added, as (0 + 1) + (2 + 3).
        #[inline(always)]
        pub fn sum(self) -> f32 {
            (f32x4_extract_lane::<0>(self.0) + f32x4_extract_lane::<1>(self.0))
                + (f32x4_extract_lane::<2>(self.0) + f32x4_extract_lane::<3>(self.0))
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    #[derive(Clone, Copy)]
    pub struct F32x4([f32; 4]);

    impl F32x4 {
        #[inline(always)]
        fn map(self, f: impl Fn(f32) -> f32) -> Self {
            Self(self.0.map(f))
        }

        #[inline(always)]
        fn zip(self, b: Self, f: impl Fn(f32, f32) -> f32) -> Self {
            Self(core::array::from_fn(|i| f(self.0[i], b.0[i])))
        }

        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            Self([x; 4])
        }

        /// # Safety
        /// `p..p+4` must be readable.
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            Self(core::ptr::read_unaligned(p as *const [f32; 4]))
        }

        /// # Safety
        /// `p..p+4` must be writable.
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            core::ptr::write_unaligned(p as *mut [f32; 4], self.0)
        }

        #[inline(always)]
        pub fn add(self, b: Self) -> Self {
            self.zip(b, |x, y| x + y)
        }

        #[inline(always)]
        pub fn sub(self, b: Self) -> Self {
            self.zip(b, |x, y| x - y)
        }

        #[inline(always)]
        pub fn mul(self, b: Self) -> Self {
            self.zip(b, |x, y| x * y)
        }

        #[inline(always)]
        pub fn div(self, b: Self) -> Self {
            self.zip(b, |x, y| x / y)
        }

        /// Lane-wise clamp to [lo, hi].
        #[inline(always)]
        pub fn clamp(self, lo: f32, hi: f32) -> Self {
            // simd128's pmin/pmax: `b < a ? b : a`, NaN passes through.
            self.map(|x| if x < lo { lo } else { x }).map(|x| if hi < x { hi } else { x })
        }

        /// Rounded to the nearest integer, ties to even.
        #[inline(always)]
        pub fn round(self) -> Self {
            self.map(f32::round_ties_even)
        }

        /// 2^self for lanes holding integers in [-126, 127].
        #[inline(always)]
        pub fn pow2_of_integer(self) -> Self {
            self.map(|n| f32::from_bits(((n as i32 + 127) as u32) << 23))
        }

        /// The four lanes added, as (0 + 1) + (2 + 3).
        #[inline(always)]
        pub fn sum(self) -> f32 {
            (self.0[0] + self.0[1]) + (self.0[2] + self.0[3])
        }
    }
}

pub use lanes::F32x4;

impl F32x4 {
    #[inline(always)]
    pub fn zero() -> Self {
        Self::splat(0.0)
    }

    /// self + a·b, the product rounded before the sum.
    #[inline(always)]
    pub fn add_mul(self, a: Self, b: Self) -> Self {
        self.add(a.mul(b))
    }

    /// self + a·b, fused (rounded once) where the build has relaxed SIMD and the CPU a fused
    /// multiply-add, else as [`Self::add_mul`]: relaxed SIMD leaves that choice to the machine.
    /// Only the GEMM uses it, where one instruction instead of two is 25 % more GFLOP/s in V8 on x64
    /// (docs/BENCHMARKS.md) and the rounding differs from the unfused sum by an ulp or so per term.
    #[inline(always)]
    pub fn add_mul_relaxed(self, a: Self, b: Self) -> Self {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128", target_feature = "relaxed-simd"))]
        return self.relaxed_madd(a, b);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128", target_feature = "relaxed-simd")))]
        return self.add_mul(a, b);
    }
}
