//! The statistics the α rules are made of: accuracy, mean prediction entropy, top-1 agreement,
//! the normal CDF Φ and its inverse (probit), and a least-squares line. All in f64, each written
//! the way scripts/alpha_rules.py writes it, so the two agree to rounding.

/// Index of the largest probability; the first of equals (as `numpy.argmax`).
pub fn top1(probs: &[f64]) -> usize {
    probs.iter().enumerate().fold(0, |best, (i, &p)| if p > probs[best] { i } else { best })
}

/// Fraction of pictures whose top-1 class is their label.
pub fn accuracy(probs: &[Vec<f64>], labels: &[usize]) -> f64 {
    let correct = probs.iter().zip(labels).filter(|(p, &y)| top1(p) == y).count();
    correct as f64 / probs.len() as f64
}

/// Number of pictures whose top-1 class is their label.
pub fn correct(probs: &[Vec<f64>], labels: &[usize]) -> usize {
    probs.iter().zip(labels).filter(|(p, &y)| top1(p) == y).count()
}

/// −Σ p ln p of one picture (natural log; 0·ln 0 = 0).
pub fn entropy(probs: &[f64]) -> f64 {
    -probs.iter().filter(|&&p| p > 0.0).map(|&p| p * p.ln()).sum::<f64>()
}

/// Mean entropy over pictures.
pub fn mean_entropy(probs: &[Vec<f64>]) -> f64 {
    probs.iter().map(|p| entropy(p)).sum::<f64>() / probs.len() as f64
}

/// Fraction of pictures on which two models have the same top-1 class.
pub fn agreement(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    let same = a.iter().zip(b).filter(|(x, y)| top1(x) == top1(y)).count();
    same as f64 / a.len() as f64
}

/// Φ, the standard normal CDF.
pub fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Φ⁻¹ on (0, 1): Acklam's rational approximation (relative error 1.2e-9), then one Halley step
/// on Φ(x) − p, which brings it to full double precision.
pub fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
    const B: [f64; 5] = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
    const C: [f64; 6] = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
    const D: [f64; 4] = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    };
    let e = phi(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// `p` clipped to [ε, 1 − ε] (so that its probit is finite).
pub fn clip(p: f64, eps: f64) -> f64 {
    p.clamp(eps, 1.0 - eps)
}

/// y ≈ slope·x + intercept by least squares. With no spread in x (every pair of models agrees
/// equally often on the task set) the slope is undefined: then slope 1 and the mean offset.
pub fn fit_line(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxx: f64 = x.iter().map(|v| (v - mx) * (v - mx)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    if sxx <= 1e-12 * n {
        return (1.0, my - mx);
    }
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probit_inverts_phi() {
        for &p in &[1e-6, 0.01, 0.02425, 0.1, 0.5, 0.7, 0.975, 0.999999] {
            assert!((phi(probit(p)) - p).abs() < 1e-14 * p.max(1e-2), "p = {p}");
        }
        assert!((probit(0.975) - 1.959963984540054).abs() < 1e-12);
        assert_eq!(probit(0.5), 0.0);
    }

    #[test]
    fn entropy_of_uniform_is_ln_c() {
        assert!((entropy(&[0.25; 4]) - 4f64.ln()).abs() < 1e-15);
        assert_eq!(entropy(&[1.0, 0.0]), 0.0);
    }

    #[test]
    fn a_flat_x_falls_back_to_slope_one() {
        assert_eq!(fit_line(&[1.0, 1.0], &[2.0, 4.0]), (1.0, 2.0));
        let (a, b) = fit_line(&[0.0, 1.0, 2.0], &[1.0, 3.0, 5.0]);
        assert!((a - 2.0).abs() < 1e-15 && (b - 1.0).abs() < 1e-15);
    }
}
