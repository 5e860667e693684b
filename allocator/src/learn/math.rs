//! The little floating-point arithmetic the learner needs, which `core` lacks (no `powf`,
//! `log2`, `abs` or `round` without `std`): ELO's expected score and the softmax's powers of 10.

/// ELO's expected score of a player rated `a` against one rated `b`.
pub(super) fn expected_score(a: i32, b: i32) -> f64 {
    1.0 / (1.0 + pow10((b - a) as f64 / 400.0))
}

/// 10^x, for |x| up to about 300 (the core has no `powf`).
pub(super) fn pow10(x: f64) -> f64 {
    exp2(x * core::f64::consts::LOG2_10)
}

/// 2^x within about 1e-7 relative, for |x| < 1000: the integer part in the exponent bits, the
/// fraction by a polynomial (Taylor series of e^(f ln 2) to the 10th power, f in [0, 1)).
pub(super) fn exp2(x: f64) -> f64 {
    let x = x.clamp(-1000.0, 1000.0);
    let mut n = x as i64;
    if (n as f64) > x {
        n -= 1;
    }
    let f = (x - n as f64) * core::f64::consts::LN_2;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..=10 {
        term *= f / i as f64;
        sum += term;
    }
    let e = n + 1023;
    if e <= 0 {
        return 0.0;
    }
    if e >= 2047 {
        return f64::INFINITY;
    }
    sum * f64::from_bits((e as u64) << 52)
}

/// log2(x) for x > 0, to about 1e-6: the exponent bits plus a series for the mantissa.
pub(super) fn log2(x: f64) -> f64 {
    if x <= 0.0 {
        return -1000.0;
    }
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52)); // in [1, 2)
                                                                     // ln(m) = 2 atanh((m - 1) / (m + 1)), a fast series for m in [1, 2).
    let y = (m - 1.0) / (m + 1.0);
    let (y2, mut term, mut sum) = (y * y, y, 0.0);
    for i in 0..12 {
        sum += term / (2 * i + 1) as f64;
        term *= y2;
    }
    e as f64 + 2.0 * sum * core::f64::consts::LOG2_E
}

pub(super) fn abs(x: f64) -> f64 {
    if x < 0.0 {
        -x
    } else {
        x
    }
}

pub(super) fn round(x: f64) -> i32 {
    if x < 0.0 {
        (x - 0.5) as i32
    } else {
        (x + 0.5) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_math_helpers_agree_with_std() {
        for x in [-30.5, -3.0, -0.25, 0.0, 0.5, 1.0, 7.3, 40.0] {
            let (a, b) = (exp2(x), 2f64.powf(x));
            assert!((a - b).abs() <= b * 1e-9, "exp2({x}) = {a}, std {b}");
        }
        for x in [1e-6, 0.3, 1.0, 1.5, 3.0, 1000.0, 123456789.0] {
            let (a, b) = (log2(x), x.log2());
            assert!((a - b).abs() < 1e-6, "log2({x}) = {a}, std {b}");
        }
        assert!((expected_score(1500, 1500) - 0.5).abs() < 1e-12);
        assert!((expected_score(1900, 1500) - 10.0 / 11.0).abs() < 1e-9);
        assert_eq!((round(2.5), round(-2.5), round(0.4)), (3, -3, 0));
    }
}
