//! Each GPU kernel alone against a straightforward CPU computation, on odd shapes (sizes that are
//! not multiples of the tiles nor of 4). Runs natively on whatever adapter wgpu finds; CI has
//! Mesa's lavapipe (mesa-vulkan-drivers). No adapter at all is a failure, not a skip.

mod common;

use std::sync::OnceLock;

use wiseft::random::XorShift;
use wiseft::clip::config::Activation;
use wiseft::engine::gpu::ops::{KernelRunner, MatmulKernel};
use wiseft::merge::Alpha;

fn runner() -> &'static KernelRunner {
    static RUNNER: OnceLock<KernelRunner> = OnceLock::new();
    RUNNER.get_or_init(|| {
        // Without any adapter the error says to install mesa-vulkan-drivers.
        pollster::block_on(KernelRunner::new()).unwrap_or_else(|e| panic!("{e}"))
    })
}

fn block<T>(f: impl std::future::Future<Output = wiseft::Result<T>>) -> T {
    pollster::block_on(f).unwrap()
}

/// Deterministic values in [-scale, scale) (xorshift), so failures reproduce.
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = XorShift::seeded(seed);
    (0..n).map(|_| (rng.unit() * 2.0 - 1.0) * scale).collect()
}

fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(err <= tol * (1.0 + w.abs()), "{what}: element {i}: got {g}, want {w} (error {err:e})");
    }
}

fn erf(x: f64) -> f64 {
    // erf by its Taylor series / continued fraction is overkill here: the test only needs an
    // erf good to 1e-12, which the series gives for |x| ≤ 3 and 1 − ε beyond.
    if x.abs() > 6.0 {
        return x.signum();
    }
    if x.abs() < 3.0 {
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc asymptotic via continued fraction (Lentz), good for |x| ≥ 3.
        let z = x.abs();
        let mut f = 0.0;
        for k in (1..200).rev() {
            f = (k as f64 / 2.0) / (z + f);
        }
        let erfc = (-z * z).exp() / std::f64::consts::PI.sqrt() / (z + f);
        x.signum() * (1.0 - erfc)
    }
}

fn act_ref(x: f64, act: Option<Activation>) -> f64 {
    match act {
        None => x,
        Some(Activation::QuickGelu) => x / (1.0 + (-1.702 * x).exp()),
        Some(Activation::Gelu) => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
        Some(Activation::GeluTanh) => 0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh()),
    }
}

#[allow(clippy::too_many_arguments)]
fn matmul_ref(x: &[f32], w: &[f32], bias: Option<&[f32]>, residual: Option<&[f32]>, m: usize, n: usize, k: usize, act: Option<Activation>) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s: f64 = (0..k).map(|t| x[i * k + t] as f64 * w[j * k + t] as f64).sum();
            if let Some(b) = bias {
                s += b[j] as f64;
            }
            s = act_ref(s, act);
            if let Some(r) = residual {
                s += r[i * n + j] as f64;
            }
            out[i * n + j] = s;
        }
    }
    out
}

fn check_matmul(m: usize, n: usize, k: usize, bias: bool, residual: bool, act: Option<Activation>, kernel: MatmulKernel) {
    let seed = (m * 1000 + n * 10 + k) as u64;
    let x = values(m * k, seed, 1.0);
    let w = values(n * k, seed + 1, 1.0);
    let b = bias.then(|| values(n, seed + 2, 0.5));
    let r = residual.then(|| values(m * n, seed + 3, 2.0));
    let got = block(runner().matmul(&x, &w, b.as_deref(), r.as_deref(), (m, n, k), act, kernel));
    let want = matmul_ref(&x, &w, b.as_deref(), r.as_deref(), m, n, k, act);
    // f32 accumulation over k terms of size ≤ 1.
    let tol = 2e-6 * (k as f64).sqrt().max(1.0);
    assert_close(&got, &want, tol, &format!("matmul {m}×{n}×{k} bias={bias} residual={residual} {act:?} {kernel:?}"));
}

#[test]
fn matmul_odd_shapes_scalar() {
    for &(m, n, k) in &[(1, 1, 1), (7, 13, 5), (33, 65, 17), (130, 30, 74), (2, 3, 33), (64, 64, 64), (31, 33, 30)] {
        check_matmul(m, n, k, false, false, None, MatmulKernel::Auto);
        check_matmul(m, n, k, true, false, None, MatmulKernel::Scalar);
    }
}

#[test]
fn matmul_vec4_loads() {
    for &(m, n, k) in &[(1, 1, 4), (7, 13, 8), (33, 65, 36), (130, 30, 64), (50, 77, 192), (17, 5, 100)] {
        check_matmul(m, n, k, true, false, None, MatmulKernel::Vec4);
        check_matmul(m, n, k, false, true, None, MatmulKernel::Vec4);
    }
}

#[test]
fn matmul_fused_epilogue() {
    for act in [Some(Activation::QuickGelu), Some(Activation::Gelu), Some(Activation::GeluTanh)] {
        check_matmul(33, 65, 17, true, false, act, MatmulKernel::Scalar);
        check_matmul(33, 65, 20, true, false, act, MatmulKernel::Vec4);
    }
    // Residual add into the output (out_proj and fc2 of every layer).
    check_matmul(130, 30, 74, true, true, None, MatmulKernel::Scalar);
    check_matmul(26, 30, 74, true, true, None, MatmulKernel::Auto);
}

#[test]
fn layer_norm_matches() {
    for &(rows, width) in &[(1, 1), (5, 30), (3, 18), (26, 30), (2, 300)] {
        let x: Vec<f32> = values(rows * width, width as u64, 3.0).iter().map(|v| v + 0.7).collect();
        let w = values(width, 7, 1.0);
        let b = values(width, 8, 1.0);
        let got = block(runner().layer_norm(&x, &w, &b, width, 1e-5));
        let mut want = Vec::new();
        for r in x.chunks(width) {
            let mean = r.iter().map(|&v| v as f64).sum::<f64>() / width as f64;
            let var = r.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / width as f64;
            for (c, &v) in r.iter().enumerate() {
                want.push((v as f64 - mean) / (var + 1e-5).sqrt() * w[c] as f64 + b[c] as f64);
            }
        }
        assert_close(&got, &want, 1e-5, &format!("layer_norm {rows}×{width}"));
    }
}

#[test]
fn softmax_rows() {
    for &(rows, width) in &[(3, 1), (4, 77), (2, 200)] {
        let x = values(rows * width, width as u64 + 11, 8.0);
        let got = block(runner().softmax(&x, width));
        let mut want = Vec::new();
        for r in x.chunks(width) {
            let m = r.iter().fold(f64::MIN, |a, &v| a.max(v as f64));
            let s: f64 = r.iter().map(|&v| (v as f64 - m).exp()).sum();
            want.extend(r.iter().map(|&v| (v as f64 - m).exp() / s));
        }
        assert_close(&got, &want, 1e-6, &format!("softmax {rows}×{width}"));
    }
}

#[test]
fn l2_normalize_rows() {
    let width = 20;
    let mut x = values(3 * width, 5, 2.0);
    x[2 * width..].iter_mut().for_each(|v| *v = 0.0);
    let got = block(runner().l2_normalize(&x, width));
    let mut want = Vec::new();
    for r in x.chunks(width) {
        let n = r.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
        want.extend(r.iter().map(|&v| if n > 0.0 { v as f64 / n } else { 0.0 }));
    }
    assert_close(&got, &want, 1e-6, "l2_normalize");
}

#[allow(clippy::too_many_arguments)]
fn attention_ref(q: &[f32], k: &[f32], v: &[f32], batch: usize, seq: usize, heads: usize, d: usize, causal: bool) -> Vec<f64> {
    let width = heads * d;
    let mut out = vec![0.0; batch * seq * width];
    let scale = (d as f64).powf(-0.5);
    for b in 0..batch {
        for h in 0..heads {
            for i in 0..seq {
                let at = |t: &[f32], j: usize, c: usize| t[(b * seq + j) * width + h * d + c] as f64;
                let keys = if causal { i + 1 } else { seq };
                let scores: Vec<f64> = (0..keys).map(|j| (0..d).map(|c| at(q, i, c) * at(k, j, c)).sum::<f64>() * scale).collect();
                let m = scores.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
                let sum: f64 = e.iter().sum();
                for c in 0..d {
                    out[(b * seq + i) * width + h * d + c] = (0..keys).map(|j| e[j] * at(v, j, c)).sum::<f64>() / sum;
                }
            }
        }
    }
    out
}

#[test]
fn attention_heads_of_six_with_and_without_causal_mask() {
    for &(batch, seq, heads, d) in &[(2, 26, 5, 6), (3, 7, 3, 6), (1, 1, 2, 4), (2, 77, 2, 8), (1, 70, 1, 64)] {
        for causal in [false, true] {
            let n = batch * seq * heads * d;
            let q = values(n, 1 + seq as u64, 1.5);
            let k = values(n, 2 + seq as u64, 1.5);
            let v = values(n, 3 + seq as u64, 1.0);
            let got = block(runner().attention(&q, &k, &v, (batch, seq, heads, d), causal));
            let want = attention_ref(&q, &k, &v, batch, seq, heads, d, causal);
            assert_close(&got, &want, 2e-6, &format!("attention b{batch} t{seq} h{heads} d{d} causal={causal}"));
        }
    }
}

#[test]
fn activations() {
    let mut x = values(1000, 42, 6.0);
    x.extend([0.0, -0.0, 1e-8, -1e-8, 20.0, -20.0, 60.0, -60.0, 3.5, -3.5]);
    for act in [None, Some(Activation::QuickGelu), Some(Activation::Gelu), Some(Activation::GeluTanh)] {
        let got = block(runner().activation(&x, act));
        let want: Vec<f64> = x.iter().map(|&v| act_ref(v as f64, act)).collect();
        // Absolute 3e-7 plus a few ulps relative.
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            let err = (g as f64 - w).abs();
            assert!(err <= 3e-7 + 2e-6 * w.abs(), "{act:?}({}) = {g}, want {w} (error {err:e}) at {i}", x[i]);
        }
    }
}

#[test]
fn lerp_is_bit_exact_with_the_host_merge() {
    let n = 1003; // not a multiple of 4: the padded tail must not matter
    let a = values(n, 1, 0.2);
    let b = values(n, 2, 0.2);
    for alpha in [0.35, 0.0, 1.0, 0.5, 1.0 / 3.0].map(|x| Alpha::new(x).unwrap()) {
        let got = block(runner().lerp(&a, &b, alpha));
        let mut want = vec![0f32; n];
        wiseft::merge::lerp(&a, &b, alpha, &mut want);
        let diff = got.iter().zip(&want).filter(|(g, w)| g.to_bits() != w.to_bits()).count();
        assert_eq!(diff, 0, "α={alpha}: {diff} of {n} values differ from merge::lerp");
    }
}

#[test]
fn im2col_matches_the_patch_layout() {
    let (batch, c, size, patch) = (2, 3, 14, 4); // 14 is not a multiple of 4: the last pixels are dropped
    let pixels = values(batch * c * size * size, 9, 1.0);
    let got = block(runner().im2col(&pixels, (batch, c, size, patch)));
    let g = size / patch;
    let mut want = Vec::new();
    for b in 0..batch {
        for gy in 0..g {
            for gx in 0..g {
                for ch in 0..c {
                    for py in 0..patch {
                        for px in 0..patch {
                            want.push(pixels[((b * c + ch) * size + gy * patch + py) * size + gx * patch + px] as f64);
                        }
                    }
                }
            }
        }
    }
    assert_close(&got, &want, 0.0, "im2col");
}

#[test]
fn gather_rows_picks_rows() {
    let width = 18;
    let x = values(10 * width, 3, 1.0);
    let index = [9u32, 0, 4, 4];
    let got = block(runner().gather_rows(&x, &index, width));
    let want: Vec<f64> = index.iter().flat_map(|&r| x[r as usize * width..(r as usize + 1) * width].iter().map(|&v| v as f64)).collect();
    assert_close(&got, &want, 0.0, "gather_rows");
}

#[test]
fn adapter_is_described() {
    let a = runner().adapter();
    let text = a.describe();
    assert!(text.contains(&a.name), "{text}");
    if a.name.to_lowercase().contains("llvmpipe") {
        assert!(a.software && text.contains("software renderer"), "{text}");
    }
    eprintln!("adapter: {text}; {a:?}");
}

fn f16_round(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect()
}

#[test]
fn matmul_with_f16_weights() {
    if !runner().has_f16() {
        eprintln!("{}: no shader-f16, the f16 kernels are not used on this adapter", runner().adapter().name);
        return;
    }
    for &(m, n, k) in &[(1, 1, 4), (7, 13, 8), (33, 65, 36), (130, 30, 64), (50, 77, 192)] {
        let x = values(m * k, 5, 1.0);
        let w = values(n * k, 6, 1.0);
        let b = values(n, 7, 0.5);
        let got = block(runner().matmul(&x, &w, Some(&b), None, (m, n, k), Some(Activation::QuickGelu), MatmulKernel::F16));
        // The same product with the weights the device holds (rounded to f16), in f64.
        let want = matmul_ref(&x, &f16_round(&w), Some(&b), None, m, n, k, Some(Activation::QuickGelu));
        assert_close(&got, &want, 2e-6 * (k as f64).sqrt(), &format!("f16 matmul {m}×{n}×{k}"));
    }
}

#[test]
fn lerp_f16_rounds_once() {
    if !runner().has_f16() {
        eprintln!("{}: no shader-f16, the f16 kernels are not used on this adapter", runner().adapter().name);
        return;
    }
    let n = 1001;
    let (a, b) = (f16_round(&values(n, 1, 0.2)), f16_round(&values(n, 2, 0.2)));
    for alpha in [0.35, 0.0, 1.0].map(|x| Alpha::new(x).unwrap()) {
        let got = block(runner().lerp_f16(&a, &b, alpha));
        let mut merged = vec![0f32; n];
        wiseft::merge::lerp(&a, &b, alpha, &mut merged);
        let want = f16_round(&merged);
        let diff = got.iter().zip(&want).filter(|(g, w)| g.to_bits() != w.to_bits()).count();
        assert_eq!(diff, 0, "α={alpha}: {diff} of {n} values differ from f16(merge::lerp)");
    }
}
