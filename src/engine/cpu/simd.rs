//! Four f32 lanes for the Linear layers' GEMM (`gemm.rs`): wasm `simd128` in the browser, a plain array elsewhere.
//!
//! Natively candle's threaded GEMM is faster, so there the array version only serves the tests,
//! which then check the same blocking and the same rounding (a multiply and an add, each rounded:
//! simd128 has no fused multiply-add) that the browser runs.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct F32x4(v128);

    impl F32x4 {
        #[inline(always)]
        pub fn zero() -> Self {
            Self(f32x4_splat(0.0))
        }

        /// # Safety
        /// `p..p+4` must be readable.
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            Self(v128_load(p as *const v128))
        }

        /// self + a·b, the product rounded before the sum.
        #[inline(always)]
        pub fn add_mul(self, a: Self, b: Self) -> Self {
            Self(f32x4_add(self.0, f32x4_mul(a.0, b.0)))
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
        pub fn zero() -> Self {
            Self([0.0; 4])
        }

        /// # Safety
        /// `p..p+4` must be readable.
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> Self {
            Self(core::ptr::read_unaligned(p as *const [f32; 4]))
        }

        /// self + a·b, the product rounded before the sum.
        #[inline(always)]
        pub fn add_mul(self, a: Self, b: Self) -> Self {
            Self(core::array::from_fn(|i| self.0[i] + a.0[i] * b.0[i]))
        }

        /// The four lanes added, as (0 + 1) + (2 + 3).
        #[inline(always)]
        pub fn sum(self) -> f32 {
            (self.0[0] + self.0[1]) + (self.0[2] + self.0[3])
        }
    }
}

pub use lanes::F32x4;
