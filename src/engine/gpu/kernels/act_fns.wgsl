// The MLP non-linearities, shared by the matmul epilogue and the element-wise kernel.
// Codes: 0 none, 1 quick_gelu x·σ(1.702x), 2 gelu (exact, erf), 3 gelu (tanh approximation).

// erfc(z) for z ≥ 0 (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 in erf). Computed as erfc, not
// 1 − erf, so that gelu of negative inputs keeps its relative accuracy.
fn erfc_pos(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return poly * exp(-z * z);
}

fn gelu_erf(x: f32) -> f32 {
    let z = abs(x) * 0.70710678118654752;
    let c = erfc_pos(z);
    // 1 + erf(x/√2): 2 − erfc for x ≥ 0, erfc(|z|) for x < 0.
    let one_plus_erf = select(c, 2.0 - c, x >= 0.0);
    return 0.5 * x * one_plus_erf;
}

fn gelu_tanh(x: f32) -> f32 {
    let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
    return 0.5 * x * (1.0 + tanh(u));
}

fn quick_gelu(x: f32) -> f32 {
    return x * (1.0 / (1.0 + exp(-1.702 * x)));
}

fn activate(x: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return quick_gelu(x); }
        case 2u: { return gelu_erf(x); }
        case 3u: { return gelu_tanh(x); }
        default: { return x; }
    }
}
