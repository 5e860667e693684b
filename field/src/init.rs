//! Initial values of entries never written: uniform in `[-scale, scale]`, a deterministic
//! function of the seed, the block id and the position in the block (SplitMix64), so a block
//! that has never been stored reads the same every time and in every process.

/// SplitMix64's finaliser: a well-mixed 64-bit function of a 64-bit input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills a block's floats with their initial values.
pub fn fill(seed: u64, scale: f32, block: u64, out: &mut [f32]) {
    if scale == 0.0 {
        out.fill(0.0);
        return;
    }
    let base = mix(seed ^ mix(block));
    for (i, v) in out.iter_mut().enumerate() {
        // 24 random bits give a uniform float in [0, 1) exactly.
        let u = (mix(base.wrapping_add(i as u64)) >> 40) as f32 / (1u32 << 24) as f32;
        *v = scale * (2.0 * u - 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_values_are_deterministic_bounded_and_vary() {
        let (mut a, mut b, mut c) = (vec![0f32; 512], vec![0f32; 512], vec![0f32; 512]);
        fill(1, 0.5, 10, &mut a);
        fill(1, 0.5, 10, &mut b);
        fill(1, 0.5, 11, &mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|v| v.abs() <= 0.5));
        let mean = a.iter().sum::<f32>() / 512.0;
        assert!(mean.abs() < 0.1, "mean {mean}");
        fill(1, 0.0, 10, &mut a);
        assert!(a.iter().all(|&v| v == 0.0));
    }
}
