//! Ports of the numpy 2.4 and scipy 1.17 routines that MNIST-1D generation calls.
//!
//! Each function performs the floating-point operations of its original in the same order, so
//! its results equal numpy's and scipy's bit for bit.

/// Block size below which numpy's pairwise summation adds sequentially (`PW_BLOCKSIZE`).
const PAIRWISE_BLOCK_SIZE: usize = 128;

/// Returns `num` evenly spaced values from `start` to `stop` inclusive, as `np.linspace`.
///
/// numpy computes `i * step + start` with `step = (stop - start) / (num - 1)` and then sets the
/// last value to `stop` exactly.
pub(crate) fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num <= 1 {
        // numpy multiplies `arange(num)` by `stop - start`, which is 0 for the one element.
        return (0..num)
            .map(|i| i as f64 * (stop - start) + start)
            .collect();
    }
    let delta = stop - start;
    let step = delta / (num - 1) as f64;
    let mut values: Vec<f64> = if step == 0.0 {
        // numpy divides first when the step underflows to zero.
        (0..num)
            .map(|i| i as f64 / (num - 1) as f64 * delta + start)
            .collect()
    } else {
        (0..num).map(|i| i as f64 * step + start).collect()
    };
    values[num - 1] = stop;
    values
}

/// Returns the sum of `values` in the order of numpy's pairwise summation, which
/// `np.sum`, `np.mean` and `np.std` use for a contiguous float64 reduction.
pub(crate) fn pairwise_sum(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 8 {
        let mut sum = 0.0;
        for value in values {
            sum += value;
        }
        sum
    } else if n <= PAIRWISE_BLOCK_SIZE {
        let mut partial = [0.0; 8];
        partial.copy_from_slice(&values[..8]);
        let unrolled_end = n - n % 8;
        for block in values[8..unrolled_end].chunks_exact(8) {
            for (sum, value) in partial.iter_mut().zip(block) {
                *sum += value;
            }
        }
        let mut sum = ((partial[0] + partial[1]) + (partial[2] + partial[3]))
            + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
        for value in &values[unrolled_end..] {
            sum += value;
        }
        sum
    } else {
        let half = n / 2;
        let split = half - half % 8;
        pairwise_sum(&values[..split]) + pairwise_sum(&values[split..])
    }
}

/// Returns the mean of `values`, as `np.mean`.
pub(crate) fn mean(values: &[f64]) -> f64 {
    pairwise_sum(values) / values.len() as f64
}

/// Returns the population standard deviation (`ddof = 0`) of `values`, as `np.std`.
pub(crate) fn std(values: &[f64]) -> f64 {
    let mean = mean(values);
    let squared_deviations: Vec<f64> = values
        .iter()
        .map(|value| {
            let deviation = value - mean;
            deviation * deviation
        })
        .collect();
    (pairwise_sum(&squared_deviations) / values.len() as f64).sqrt()
}

/// Interpolates the piecewise linear function through `(xp, fp)` at each of `x`, as
/// `np.interp(x, xp, fp)`, which scipy's `interp1d(kind="linear")` calls for 1-D float64 data.
///
/// `xp` must be strictly increasing and non-empty, and `fp` as long as `xp`. Points left of
/// `xp[0]` take `fp[0]`, points right of the last `xp` take the last `fp`, and points equal to
/// an `xp[j]` take `fp[j]` exactly.
pub(crate) fn interp(x: &[f64], xp: &[f64], fp: &[f64]) -> Vec<f64> {
    assert_eq!(xp.len(), fp.len(), "interp needs as many xp as fp values");
    let last = xp.len() - 1;
    x.iter()
        .map(|&value| {
            if value < xp[0] {
                return fp[0];
            }
            if value > xp[last] {
                return fp[last];
            }
            // Index j with xp[j] <= value < xp[j + 1], or `last` when value == xp[last].
            let j = xp.partition_point(|&knot| knot <= value) - 1;
            if j == last || xp[j] == value {
                return fp[j];
            }
            let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
            let result = slope * (value - xp[j]) + fp[j];
            if result.is_nan() {
                // numpy retries from the right knot when the left one gives NaN.
                let retry = slope * (value - xp[j + 1]) + fp[j + 1];
                if retry.is_nan() && fp[j] == fp[j + 1] {
                    return fp[j];
                }
                return retry;
            }
            result
        })
        .collect()
}

/// Weights of the Gaussian kernel of standard deviation 2 samples and radius 8 (scipy's
/// default `truncate = 4.0`), for offsets `-8..=8`, as scipy 1.17.1's `_gaussian_kernel1d`
/// returns them with numpy 2.4.6 on an x86_64 CPU with AVX-512.
///
/// numpy's AVX-512 float64 `exp` rounds `exp(-1/8)` and `exp(-25/8)` one ulp away from the
/// correctly rounded values of `f64::exp`, so the weights are stored rather than computed to
/// keep the output bit-identical. The tests recompute them from the formula. On CPUs without
/// AVX-512, numpy calls libm's `exp` and the package's output differs from this port's by about
/// 1e-16.
const GAUSSIAN_KERNEL_SIGMA_2: [f64; 17] = {
    const HALF: [u64; 9] = [
        0x3f11_8aad_19e4_159b,
        0x3f3c_98b8_c5d0_dda5,
        0x3f62_2736_2b5f_c92d,
        0x3f81_f305_04e2_0207,
        0x3f9b_a4d4_125f_fd2a,
        0x3fb0_941b_71ce_ef37,
        0x3fbe_f909_3fc4_6e5a,
        0x3fc6_8856_f9ab_1982,
        0x3fc9_8862_a07a_e7b4,
    ];
    let mut weights = [0.0; 17];
    let mut i = 0;
    while i < HALF.len() {
        weights[i] = f64::from_bits(HALF[i]);
        weights[16 - i] = f64::from_bits(HALF[i]);
        i += 1;
    }
    weights
};

/// Smooths `input` with a Gaussian of standard deviation 2 samples, as scipy's
/// `gaussian_filter(input, 2)` for 1-D input (`mode="reflect"`, `truncate=4.0`).
///
/// Mode `reflect` extends the input by mirroring it about its edges, `d c b a | a b c d | d c b
/// a`, and repeats that for inputs shorter than the kernel radius.
pub(crate) fn gaussian_filter_sigma_2(input: &[f64]) -> Vec<f64> {
    correlate1d_symmetric_reflect(input, &GAUSSIAN_KERNEL_SIGMA_2)
}

/// Correlates `input` with the odd-length symmetric `kernel` in mode `reflect`, in the order of
/// the symmetric branch of scipy's `NI_Correlate1D`: the centre term first, then the outermost
/// pair of taps inwards, each pair summed before it is weighted.
///
/// Gaussian kernels always take that branch, because scipy takes it when mirrored taps differ by
/// at most `f64::EPSILON` and the Gaussian's mirrored taps are equal.
fn correlate1d_symmetric_reflect(input: &[f64], kernel: &[f64]) -> Vec<f64> {
    debug_assert!(kernel.len() % 2 == 1, "kernel length must be odd");
    let radius = kernel.len() / 2;
    let n = input.len() as i64;
    let padded: Vec<f64> = (-(radius as i64)..n + radius as i64)
        .map(|index| input[reflect_index(index, n)])
        .collect();
    (0..input.len())
        .map(|position| {
            let centre = position + radius;
            let mut sum = padded[centre] * kernel[radius];
            for offset in (1..=radius).rev() {
                sum +=
                    (padded[centre - offset] + padded[centre + offset]) * kernel[radius - offset];
            }
            sum
        })
        .collect()
}

/// Maps an index outside `0..len` into it as scipy's `reflect` boundary mode does, which
/// repeats the input and its mirror image with period `2 * len`.
fn reflect_index(index: i64, len: i64) -> usize {
    let wrapped = index.rem_euclid(2 * len);
    let mirrored = if wrapped < len {
        wrapped
    } else {
        2 * len - 1 - wrapped
    };
    mirrored as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computes the normalised Gaussian kernel of standard deviation `sigma` samples over offsets
    /// `-radius..=radius` with the operations of scipy's `_gaussian_kernel1d(sigma, 0, radius)`.
    fn gaussian_kernel(sigma: f64, radius: usize) -> Vec<f64> {
        let exponent_scale = -0.5 / (sigma * sigma);
        let radius = radius as i64;
        let phi: Vec<f64> = (-radius..=radius)
            .map(|offset| (exponent_scale * (offset * offset) as f64).exp())
            .collect();
        let total = pairwise_sum(&phi);
        phi.iter().map(|value| value / total).collect()
    }

    #[test]
    fn linspace_matches_numpy() {
        // np.linspace(-5, 5, 12) / 6 and np.linspace(0, 1, 72)[1] from numpy 2.4.6.
        let t: Vec<f64> = linspace(-5.0, 5.0, 12).iter().map(|v| v / 6.0).collect();
        assert_eq!(t[0], -0.833_333_333_333_333_4);
        assert_eq!(t[1], -0.681_818_181_818_181_8);
        assert_eq!(t[11], 0.833_333_333_333_333_4);
        assert_eq!(linspace(0.0, 1.0, 72)[1], 0.014_084_507_042_253_521);
    }

    #[test]
    fn linspace_sets_last_value_to_stop() {
        let values = linspace(0.0, 0.3, 7);
        assert_eq!(values.len(), 7);
        assert_eq!(values[0], 0.0);
        assert_eq!(values[6], 0.3);
    }

    #[test]
    fn linspace_short() {
        assert!(linspace(0.0, 1.0, 0).is_empty());
        assert_eq!(linspace(2.0, 5.0, 1), [2.0]);
    }

    #[test]
    fn pairwise_sum_orders_like_numpy() {
        // Sequential summation returns 1.0 for this input. numpy's 8-way unrolled blocks keep
        // the small terms in separate partial sums, and `np.sum` returns 1.0000000000000016.
        let mut values = vec![1.0];
        values.extend(std::iter::repeat_n(1e-16, 15));
        assert_eq!(values.iter().sum::<f64>(), 1.0);
        assert_eq!(pairwise_sum(&values), 1.000_000_000_000_001_6);
    }

    #[test]
    fn pairwise_sum_recursive_split() {
        let values: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        assert_eq!(pairwise_sum(&values), 499_500.0);
        assert_eq!(pairwise_sum(&[]), 0.0);
    }

    #[test]
    fn std_of_known_values() {
        let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&values), 5.0);
        assert_eq!(std(&values), 2.0);
    }

    #[test]
    fn interp_inside_and_at_knots() {
        let xp = [0.0, 1.0, 3.0];
        let fp = [10.0, 20.0, 0.0];
        let result = interp(&[0.0, 0.5, 1.0, 2.0, 3.0], &xp, &fp);
        assert_eq!(result, [10.0, 15.0, 20.0, 10.0, 0.0]);
    }

    #[test]
    fn interp_outside_takes_edge_values() {
        let result = interp(&[-1.0, 4.0], &[0.0, 1.0, 3.0], &[10.0, 20.0, 0.0]);
        assert_eq!(result, [10.0, 0.0]);
    }

    #[test]
    fn interp_single_knot() {
        let result = interp(&[-1.0, 0.0, 1.0], &[0.0], &[7.0]);
        assert_eq!(result, [7.0, 7.0, 7.0]);
    }

    #[test]
    fn gaussian_kernel_constant_matches_formula() {
        // With the correctly rounded `f64::exp`, two weights come out one ulp off numpy's.
        let kernel = gaussian_kernel(2.0, 8);
        assert_eq!(kernel.len(), GAUSSIAN_KERNEL_SIGMA_2.len());
        for (offset, (computed, stored)) in kernel.iter().zip(GAUSSIAN_KERNEL_SIGMA_2).enumerate() {
            let one_ulp = stored * f64::EPSILON;
            let difference = (computed - stored).abs();
            assert!(
                difference <= one_ulp,
                "offset {offset}: {computed} vs {stored}"
            );
        }
    }

    #[test]
    fn gaussian_kernel_constant_matches_scipy() {
        // scipy.ndimage._filters._gaussian_kernel1d(2, 0, 8) from scipy 1.17.1, numpy 2.4.6.
        assert_eq!(GAUSSIAN_KERNEL_SIGMA_2[0], 6.691_628_957_263_553e-5);
        assert_eq!(GAUSSIAN_KERNEL_SIGMA_2[7], 0.176_035_758_884_790_34);
        assert_eq!(GAUSSIAN_KERNEL_SIGMA_2[8], 0.199_474_647_864_745);
        assert_eq!(GAUSSIAN_KERNEL_SIGMA_2[9], 0.176_035_758_884_790_34);
        assert_eq!(GAUSSIAN_KERNEL_SIGMA_2[16], 6.691_628_957_263_553e-5);
    }

    #[test]
    fn reflect_index_mirrors_about_edges() {
        let mapped: Vec<usize> = (-5..9).map(|index| reflect_index(index, 4)).collect();
        assert_eq!(mapped, [3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]);
        assert_eq!(reflect_index(-3, 1), 0);
    }

    #[test]
    fn gaussian_filter_keeps_constant_signal() {
        let smoothed = gaussian_filter_sigma_2(&[3.0; 20]);
        for value in smoothed {
            assert!((value - 3.0).abs() <= 1e-15, "value {value}");
        }
    }

    #[test]
    fn gaussian_filter_matches_scipy_impulse() {
        // scipy.ndimage.gaussian_filter1d(np.eye(1, 12, 2)[0], 2) from scipy 1.17.1. The
        // impulse at index 2 also reaches the left positions through its reflection at -3.
        let expected = [
            0.185_747_426_370_076_46,
            0.203_031_716_852_089_18,
            0.208_238_952_227_530_86,
            0.178_251_722_057_386_9,
            0.121_423_838_785_855_83,
            0.064_826_852_894_300_07,
            0.026_995_957_967_298_846,
            0.008_764_304_362_785_87,
            0.002_215_963_172_596_555,
            0.000_436_349_020_506_788_3,
            6.691_628_957_263_553e-5,
            0.0,
        ];
        let mut impulse = [0.0; 12];
        impulse[2] = 1.0;
        let smoothed = gaussian_filter_sigma_2(&impulse);
        assert_eq!(smoothed.len(), expected.len());
        for (index, (actual, expected)) in smoothed.iter().zip(expected).enumerate() {
            let difference = (actual - expected).abs();
            assert_eq!(difference, 0.0, "index {index}: {actual} vs {expected}");
        }
    }
}
