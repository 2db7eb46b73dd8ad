//! Input normalisation with statistics of the train split.

use std::iter;

use serde::{Deserialize, Serialize};

use crate::{Dataset, Split};

/// Transformation that [`Dataset::normalise`] applies to the inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalisation {
    /// Inputs are left as loaded (`none`).
    None,
    /// Each channel is shifted to zero mean and scaled to unit standard deviation
    /// (`per-channel`).
    PerChannel,
    /// The mean image is subtracted from every image and nothing is scaled
    /// (`per-pixel-mean`). He et al. 2016, "Deep Residual Learning for Image Recognition",
    /// section 4.2, preprocess CIFAR-10 this way.
    PerPixelMean,
}

/// Statistics of the train split that [`Dataset::normalise`] applied to both splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum NormalisationStats {
    /// Nothing was applied.
    None,
    /// Mean and population standard deviation of each channel. Each value became
    /// `(x - mean[c]) / std[c]`, except that a channel with zero standard deviation was only
    /// shifted.
    PerChannel {
        /// Mean of each channel.
        mean: Vec<f64>,
        /// Population standard deviation of each channel.
        std: Vec<f64>,
    },
    /// Mean of each value position over the train samples, in the layout of one sample. Each
    /// value became `x - mean[i]`.
    PerPixelMean {
        /// Mean image, `sample_size` values.
        mean: Vec<f64>,
    },
}

impl Dataset {
    /// Normalises both splits with statistics computed on the train split only, so that no
    /// information from the test split leaks into training.
    ///
    /// Channels are the first axis of a sample with two or more axes, such as
    /// `[channels, height, width]`. A sample with one axis is one channel. Sums are
    /// accumulated in `f64`, and the normalised values are rounded to `f32`.
    ///
    /// # Panics
    ///
    /// Panics if the train split is empty, if samples have no values, or if the splits have
    /// different sample shapes.
    pub fn normalise(&mut self, normalisation: Normalisation) -> NormalisationStats {
        if normalisation == Normalisation::None {
            return NormalisationStats::None;
        }
        assert!(
            !self.train.is_empty(),
            "cannot normalise dataset {}: the train split is empty",
            self.name
        );
        assert!(
            self.train.sample_size() > 0,
            "cannot normalise dataset {}: sample shape {:?} has no values",
            self.name,
            self.train.sample_shape
        );
        assert_eq!(
            self.train.sample_shape, self.test.sample_shape,
            "cannot normalise dataset {}: the splits have different sample shapes",
            self.name
        );

        let (shift, scale, stats) = match normalisation {
            Normalisation::None => unreachable!("handled above"),
            Normalisation::PerChannel => {
                let (mean, std) = channel_stats(&self.train);
                let plane = plane_size(&self.train.sample_shape);
                let spread = |values: &[f64]| -> Vec<f64> {
                    values
                        .iter()
                        .flat_map(|&value| iter::repeat_n(value, plane))
                        .collect()
                };
                // A constant channel keeps its scale instead of becoming NaN or infinite.
                let divisors: Vec<f64> = std
                    .iter()
                    .map(|&deviation| if deviation > 0.0 { deviation } else { 1.0 })
                    .collect();
                let shift = spread(&mean);
                let scale = spread(&divisors);
                (
                    shift,
                    Some(scale),
                    NormalisationStats::PerChannel { mean, std },
                )
            }
            Normalisation::PerPixelMean => {
                let mean = pixel_mean(&self.train);
                (
                    mean.clone(),
                    None,
                    NormalisationStats::PerPixelMean { mean },
                )
            }
        };

        for split in [&mut self.train, &mut self.test] {
            apply(split, &shift, scale.as_deref());
        }
        stats
    }
}

/// Returns the number of values in one channel of a sample with shape `sample_shape`.
fn plane_size(sample_shape: &[usize]) -> usize {
    match sample_shape {
        [_, rest @ ..] if !rest.is_empty() => rest.iter().product(),
        _ => sample_shape.iter().product(),
    }
}

/// Returns the mean and population standard deviation of each channel of `split`.
fn channel_stats(split: &Split) -> (Vec<f64>, Vec<f64>) {
    let plane = plane_size(&split.sample_shape);
    let num_channels = split.sample_size() / plane;
    let count = (split.len() * plane) as f64;

    let mut sums = vec![0.0f64; num_channels];
    for sample in split.inputs.chunks_exact(split.sample_size()) {
        for (sum, values) in sums.iter_mut().zip(sample.chunks_exact(plane)) {
            *sum += values.iter().map(|&value| f64::from(value)).sum::<f64>();
        }
    }
    let mean: Vec<f64> = sums.iter().map(|sum| sum / count).collect();

    // A second pass over the deviations avoids the cancellation of E[x^2] - E[x]^2.
    let mut squares = vec![0.0f64; num_channels];
    for sample in split.inputs.chunks_exact(split.sample_size()) {
        let channels = squares
            .iter_mut()
            .zip(&mean)
            .zip(sample.chunks_exact(plane));
        for ((square, &mean), values) in channels {
            *square += values
                .iter()
                .map(|&value| (f64::from(value) - mean).powi(2))
                .sum::<f64>();
        }
    }
    let std = squares
        .iter()
        .map(|square| (square / count).sqrt())
        .collect();
    (mean, std)
}

/// Returns the mean over the samples of `split` at each value position.
fn pixel_mean(split: &Split) -> Vec<f64> {
    let mut sums = vec![0.0f64; split.sample_size()];
    for sample in split.inputs.chunks_exact(split.sample_size()) {
        for (sum, &value) in sums.iter_mut().zip(sample) {
            *sum += f64::from(value);
        }
    }
    let count = split.len() as f64;
    sums.iter().map(|sum| sum / count).collect()
}

/// Replaces each value `x` at position `i` of a sample with `(x - shift[i]) / scale[i]`, or
/// with `x - shift[i]` when `scale` is `None`.
fn apply(split: &mut Split, shift: &[f64], scale: Option<&[f64]>) {
    let size = split.sample_size();
    for sample in split.inputs.chunks_exact_mut(size) {
        for (index, value) in sample.iter_mut().enumerate() {
            let centred = f64::from(*value) - shift[index];
            let normalised = match scale {
                Some(scale) => centred / scale[index],
                None => centred,
            };
            *value = normalised as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Returns a split of `num_samples` random `[3, 4, 5]` images whose channel `c` is drawn
    /// uniformly from `[c, 3c + 1)`, and whose value at row 0, column 0 is shifted by 2.
    fn random_split(rng: &mut ChaCha8Rng, num_samples: usize) -> Split {
        let mut inputs = Vec::with_capacity(num_samples * 60);
        for _ in 0..num_samples {
            for c in 0..3 {
                for index in 0..20 {
                    let low = c as f32;
                    let high = 3.0 * c as f32 + 1.0;
                    let offset = if index == 0 { 2.0 } else { 0.0 };
                    inputs.push(rng.random_range(low..high) + offset);
                }
            }
        }
        Split {
            inputs,
            labels: vec![0; num_samples],
            sample_shape: vec![3, 4, 5],
        }
    }

    fn random_dataset(seed: u64) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Dataset {
            name: "random".to_string(),
            num_classes: 1,
            train: random_split(&mut rng, 500),
            test: random_split(&mut rng, 100),
        }
    }

    /// Returns the mean and population standard deviation of `values`.
    fn mean_std(values: impl Iterator<Item = f32> + Clone) -> (f64, f64) {
        let count = values.clone().count() as f64;
        let mean = values.clone().map(f64::from).sum::<f64>() / count;
        let variance = values
            .map(|value| (f64::from(value) - mean).powi(2))
            .sum::<f64>()
            / count;
        (mean, variance.sqrt())
    }

    fn channel_values(split: &Split, channel: usize) -> impl Iterator<Item = f32> + Clone + '_ {
        split
            .inputs
            .chunks_exact(60)
            .flat_map(move |sample| sample[channel * 20..(channel + 1) * 20].iter().copied())
    }

    #[test]
    fn normalisation_serde_names() {
        let cases = [
            (Normalisation::None, "\"none\""),
            (Normalisation::PerChannel, "\"per-channel\""),
            (Normalisation::PerPixelMean, "\"per-pixel-mean\""),
        ];
        for (normalisation, json) in cases {
            assert_eq!(serde_json::to_string(&normalisation).unwrap(), json);
            let parsed: Normalisation = serde_json::from_str(json).unwrap();
            assert_eq!(parsed, normalisation);
        }
        assert!(serde_json::from_str::<Normalisation>("\"per_channel\"").is_err());
    }

    #[test]
    fn none_leaves_inputs_unchanged() {
        let mut dataset = random_dataset(1);
        let original = dataset.clone();
        assert_eq!(
            dataset.normalise(Normalisation::None),
            NormalisationStats::None
        );
        assert_eq!(dataset, original);
    }

    #[test]
    fn per_channel_standardises_train_split() {
        let mut dataset = random_dataset(2);
        let original = dataset.clone();
        let stats = dataset.normalise(Normalisation::PerChannel);
        let NormalisationStats::PerChannel { mean, std } = &stats else {
            panic!("{stats:?}");
        };
        for c in 0..3 {
            // The statistics are those of the original train split.
            let (expected_mean, expected_std) = mean_std(channel_values(&original.train, c));
            assert!(
                (mean[c] - expected_mean).abs() <= 1e-9,
                "channel {c}: {}",
                mean[c]
            );
            assert!(
                (std[c] - expected_std).abs() <= 1e-9,
                "channel {c}: {}",
                std[c]
            );

            let (train_mean, train_std) = mean_std(channel_values(&dataset.train, c));
            assert!(train_mean.abs() <= 1e-6, "channel {c}: mean {train_mean}");
            assert!(
                (train_std - 1.0).abs() <= 1e-6,
                "channel {c}: std {train_std}"
            );
        }
        // The channels differ, so one mean for all channels would fail the checks above.
        assert!(mean[2] - mean[0] > 3.0, "{mean:?}");
    }

    #[test]
    fn per_channel_applies_train_stats_to_test() {
        let mut dataset = random_dataset(3);
        let original = dataset.clone();
        let stats = dataset.normalise(Normalisation::PerChannel);
        let NormalisationStats::PerChannel { mean, std } = &stats else {
            panic!("{stats:?}");
        };
        for (index, (&before, &after)) in original
            .test
            .inputs
            .iter()
            .zip(&dataset.test.inputs)
            .enumerate()
        {
            let c = index % 60 / 20;
            let expected = ((f64::from(before) - mean[c]) / std[c]) as f32;
            assert_eq!(after, expected, "test value {index}");
        }
        // The test split has its own statistics, so its mean is near but not exactly 0.
        let (test_mean, _) = mean_std(channel_values(&dataset.test, 0));
        assert!(
            test_mean.abs() > 1e-6 && test_mean.abs() < 0.2,
            "{test_mean}"
        );
    }

    #[test]
    fn per_channel_keeps_constant_channel_finite() {
        let mut dataset = random_dataset(4);
        for sample in dataset.train.inputs.chunks_exact_mut(60) {
            sample[20..40].fill(0.5);
        }
        let stats = dataset.normalise(Normalisation::PerChannel);
        let NormalisationStats::PerChannel { std, .. } = &stats else {
            panic!("{stats:?}");
        };
        assert_eq!(std[1], 0.0);
        assert!(dataset.train.inputs.iter().all(|value| value.is_finite()));
        assert!(channel_values(&dataset.train, 1).all(|value| value == 0.0));
    }

    #[test]
    fn per_pixel_mean_centres_every_position() {
        let mut dataset = random_dataset(5);
        let original = dataset.clone();
        let stats = dataset.normalise(Normalisation::PerPixelMean);
        let NormalisationStats::PerPixelMean { mean } = &stats else {
            panic!("{stats:?}");
        };
        assert_eq!(mean.len(), 60);
        for index in 0..60 {
            let values = |split: &Split| -> Vec<f32> {
                split
                    .inputs
                    .chunks_exact(60)
                    .map(|sample| sample[index])
                    .collect()
            };
            let (original_mean, original_std) = mean_std(values(&original.train).into_iter());
            assert!(
                (mean[index] - original_mean).abs() <= 1e-9,
                "position {index}"
            );

            let (train_mean, train_std) = mean_std(values(&dataset.train).into_iter());
            assert!(
                train_mean.abs() <= 1e-6,
                "position {index}: mean {train_mean}"
            );
            // Only the mean is subtracted, so the spread stays.
            assert!((train_std - original_std).abs() <= 1e-5, "position {index}");
        }
        // Position 0 of each channel is shifted by 2, which one channel mean would not remove.
        assert!(mean[0] - mean[1] > 1.5, "{} {}", mean[0], mean[1]);
        for (index, (&before, &after)) in original
            .test
            .inputs
            .iter()
            .zip(&dataset.test.inputs)
            .enumerate()
        {
            let expected = (f64::from(before) - mean[index % 60]) as f32;
            assert_eq!(after, expected, "test value {index}");
        }
    }

    #[test]
    fn per_channel_treats_vector_as_one_channel() {
        let split = |inputs: Vec<f32>| Split {
            labels: vec![0; inputs.len() / 2],
            inputs,
            sample_shape: vec![2],
        };
        let mut dataset = Dataset {
            name: "vectors".to_string(),
            num_classes: 1,
            train: split(vec![1.0, 3.0, 5.0, 7.0]),
            test: split(vec![4.0, 4.0]),
        };
        let stats = dataset.normalise(Normalisation::PerChannel);
        let expected_std = 5.0f64.sqrt();
        assert_eq!(
            stats,
            NormalisationStats::PerChannel {
                mean: vec![4.0],
                std: vec![expected_std]
            }
        );
        assert_eq!(dataset.test.inputs, [0.0, 0.0]);
        assert_eq!(dataset.train.inputs[0], (-3.0 / expected_std) as f32);
    }

    #[test]
    #[should_panic(expected = "the train split is empty")]
    fn normalise_panics_on_empty_train_split() {
        let mut dataset = random_dataset(6);
        dataset.train = Split {
            inputs: Vec::new(),
            labels: Vec::new(),
            sample_shape: vec![3, 4, 5],
        };
        dataset.normalise(Normalisation::PerChannel);
    }
}
