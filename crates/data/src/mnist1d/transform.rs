//! The random transformation that turns a digit template into one sample, a port of
//! `mnist1d.transform.transform` (mnist1d 0.0.2.post1).

use super::Mnist1dArgs;
use super::numeric::{gaussian_filter_sigma_2, interp, linspace};
use super::rng::NumpyRandomState;

/// Offset added to the template before padding (`eps` in `transform`). The correlated noise
/// replaces exact zeros only, and the offset keeps the zeros of the template itself from being
/// replaced.
const TEMPLATE_OFFSET: f64 = 1e-8;

/// Transforms `template` into one sample of `args.final_seq_length` points.
///
/// The steps and their random draws follow `transform`: zero padding, dilation to
/// `template_len + padding.1` points, scaling, circular translation, correlated noise in the
/// zero padding, i.i.d. noise, shear, and resampling to the final length.
pub(super) fn transform(
    template: &[f64],
    args: &Mnist1dArgs,
    rng: &mut NumpyRandomState,
) -> Vec<f64> {
    let padded = pad(template, args.padding, rng);
    let mut signal = interpolate(&padded, args.dilated_len());
    scale(&mut signal, args.scale_coeff, rng);
    translate(&mut signal, args.max_translation, rng);
    add_noise(
        &mut signal,
        args.corr_noise_scale,
        args.iid_noise_scale,
        rng,
    );
    shear(&mut signal, args.shear_scale, rng);
    interpolate(&signal, args.final_seq_length)
}

/// Resamples `values`, taken as evenly spaced over `[0, 1]`, at `len` evenly spaced points by
/// linear interpolation (`interpolate`, which calls scipy's `interp1d(kind="linear")`).
pub(super) fn interpolate(values: &[f64], len: usize) -> Vec<f64> {
    let knots = linspace(0.0, 1.0, values.len());
    let positions = linspace(0.0, 1.0, len);
    interp(&positions, &knots, values)
}

/// Appends to the offset template a number of zeros drawn uniformly from
/// `padding.0..=padding.1` (`pad`).
fn pad(template: &[f64], padding: (usize, usize), rng: &mut NumpyRandomState) -> Vec<f64> {
    let (min, max) = padding;
    let num_zeros = min + (rng.random_sample() * (max - min + 1) as f64) as usize;
    let mut padded: Vec<f64> = template
        .iter()
        .map(|value| value + TEMPLATE_OFFSET)
        .collect();
    padded.resize(template.len() + num_zeros, 0.0);
    padded
}

/// Multiplies the signal by a factor drawn uniformly from `1 ± scale_coeff / 2`.
fn scale(signal: &mut [f64], scale_coeff: f64, rng: &mut NumpyRandomState) {
    let factor = 1.0 + scale_coeff * (rng.random_sample() - 0.5);
    for value in signal {
        *value *= factor;
    }
}

/// Shifts the signal circularly to the right by `choice(max_translation)` samples
/// (`translate`).
fn translate(signal: &mut [f64], max_translation: usize, rng: &mut NumpyRandomState) {
    let shift = rng.bounded(max_translation as u64) as usize;
    // `concatenate([x[-k:], x[:-k]])` leaves the signal unchanged when k is 0 or at least its
    // length, because the slices then cover the whole signal and nothing.
    if shift < signal.len() {
        signal.rotate_right(shift);
    }
}

/// Fills the exact zeros of the signal with smoothed Gaussian noise of standard deviation
/// `corr_noise_scale` before smoothing, then adds white Gaussian noise of standard deviation
/// `iid_noise_scale` to every point (`corr_noise_like` and `iid_noise_like`).
fn add_noise(
    signal: &mut [f64],
    corr_noise_scale: f64,
    iid_noise_scale: f64,
    rng: &mut NumpyRandomState,
) {
    let white: Vec<f64> = (0..signal.len())
        .map(|_| corr_noise_scale * rng.standard_normal())
        .collect();
    let correlated = gaussian_filter_sigma_2(&white);
    for (value, noise) in signal.iter_mut().zip(correlated) {
        if *value == 0.0 {
            *value = noise;
        }
    }
    for value in signal.iter_mut() {
        *value += iid_noise_scale * rng.standard_normal();
    }
}

/// Subtracts `c * linspace(-0.5, 0.5, len)` with `c` drawn uniformly from
/// `±shear_scale / 2` (`shear`).
fn shear(signal: &mut [f64], shear_scale: f64, rng: &mut NumpyRandomState) {
    let coeff = shear_scale * (rng.random_sample() - 0.5);
    let ramp = linspace(-0.5, 0.5, signal.len());
    for (value, position) in signal.iter_mut().zip(ramp) {
        *value -= coeff * position;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolate_keeps_end_points() {
        let resampled = interpolate(&[1.0, 3.0, -2.0], 5);
        assert_eq!(resampled, [1.0, 2.0, 3.0, 0.5, -2.0]);
    }

    #[test]
    fn pad_appends_zeros_in_range() {
        let template = [0.0, 1.0, 0.0];
        let mut rng = NumpyRandomState::new(42);
        for _ in 0..100 {
            let padded = pad(&template, (2, 4), &mut rng);
            let num_zeros = padded.len() - template.len();
            assert!((2..=4).contains(&num_zeros), "{num_zeros} zeros");
            assert_eq!(padded[0], TEMPLATE_OFFSET);
            assert!(padded[template.len()..].iter().all(|&value| value == 0.0));
        }
    }

    #[test]
    fn pad_draws_like_numpy() {
        // rand() of RandomState(42) is 0.3745..., so 36 + int(0.3745 * 25) = 45 zeros.
        let mut rng = NumpyRandomState::new(42);
        let padded = pad(&[1.0; 12], (36, 60), &mut rng);
        assert_eq!(padded.len(), 12 + 45);
    }

    #[test]
    fn translate_rotates_right() {
        // choice(48) of RandomState(42) is 38.
        let mut signal: Vec<f64> = (0..72).map(f64::from).collect();
        translate(&mut signal, 48, &mut NumpyRandomState::new(42));
        assert_eq!(signal[38], 0.0);
        assert_eq!(signal[0], 34.0);
    }

    #[test]
    fn translate_beyond_length_is_identity() {
        // choice(48) of RandomState(42) is 38, longer than the 10-point signal.
        let mut signal: Vec<f64> = (0..10).map(f64::from).collect();
        let original = signal.clone();
        translate(&mut signal, 48, &mut NumpyRandomState::new(42));
        assert_eq!(signal, original);
    }

    #[test]
    fn add_noise_fills_only_zeros() {
        let mut signal = vec![0.0; 30];
        signal[10] = 5.0;
        add_noise(&mut signal, 0.25, 0.0, &mut NumpyRandomState::new(3));
        assert_eq!(signal[10], 5.0);
        assert!(signal.iter().filter(|&&value| value == 0.0).count() == 0);
    }

    #[test]
    fn shear_is_zero_at_centre() {
        let mut signal = vec![1.0; 5];
        shear(&mut signal, 0.75, &mut NumpyRandomState::new(42));
        assert_eq!(signal[2], 1.0);
        assert!((signal[0] + signal[4] - 2.0).abs() <= 1e-15);
    }
}
