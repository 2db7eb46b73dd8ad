//! MNIST-1D, generated in-process the same as the reference Python package.
//!
//! [`generate`] reproduces `mnist1d.data.make_dataset(args)` of the `mnist1d` package, version
//! 0.0.2.post1, with numpy 2.4 and scipy 1.17: each sample is one of ten 12-point digit
//! templates, zero-padded, dilated, scaled, translated, filled with noise, sheared and resampled.
//! The samples are then shuffled, standardised over the whole dataset and split into train and
//! test. With the default [`Mnist1dArgs`] it returns 4000 train and 1000 test signals of 40
//! points.
//!
//! The random stream is numpy's legacy `RandomState` ([`NumpyRandomState`]), and the numerics
//! repeat numpy's and scipy's floating-point operations in their order. The output matches the
//! package to within 1e-12. On x86_64 Linux it matches bit for bit the reference values in
//! `fixtures/mnist1d.json`, which numpy 2.4.6 and scipy 1.17.1 computed on an AVX-512 CPU.

mod numeric;
mod rng;
mod templates;
mod transform;

pub use rng::NumpyRandomState;
pub use templates::{TEMPLATE_POINTS, Templates};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{Dataset, Split};

/// Number of classes, one per digit template.
pub const NUM_CLASSES: usize = 10;

/// Parameters of the generator, the fields of the package's `get_dataset_args()`.
///
/// [`Default`] gives the package defaults. Lengths are in samples (points) of the signal at the
/// stage where they apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mnist1dArgs {
    /// Number of samples over both splits. Each class gets `num_samples / 10` samples, rounded
    /// down. Default 5000.
    pub num_samples: usize,
    /// Fraction of the shuffled samples in the train split: the first
    /// `floor(total * train_split)` samples. Default 0.8.
    pub train_split: f64,
    /// Length added to `padding.1` to give the length of the dilated signal. Default 12, the
    /// template length.
    pub template_len: usize,
    /// Inclusive range `(min, max)` of the number of zeros appended to each template. Default
    /// `(36, 60)`.
    pub padding: (usize, usize),
    /// Width of the amplitude scaling: each signal is multiplied by a factor drawn uniformly
    /// from `1 ± scale_coeff / 2`. Default 0.4.
    pub scale_coeff: f64,
    /// Circular shifts are drawn uniformly from `0..max_translation` samples of the dilated
    /// signal. Default 48.
    pub max_translation: usize,
    /// Standard deviation of the white noise that is smoothed by a Gaussian of sigma 2 samples
    /// and fills the zero padding. Default 0.25.
    pub corr_noise_scale: f64,
    /// Standard deviation of the white Gaussian noise added to every point. Default 0.02.
    pub iid_noise_scale: f64,
    /// Width of the shear: a ramp from `-c / 2` to `c / 2` is subtracted, with `c` drawn
    /// uniformly from `±shear_scale / 2`. Default 0.75.
    pub shear_scale: f64,
    /// Whether to permute the points of every sample with one shared random permutation.
    /// Default false.
    pub shuffle_seq: bool,
    /// Number of points in each output sample. Default 40.
    pub final_seq_length: usize,
    /// Seed of numpy's legacy generator, as `np.random.seed(seed)`. Default 42.
    pub seed: u32,
}

impl Default for Mnist1dArgs {
    fn default() -> Self {
        Self {
            num_samples: 5000,
            train_split: 0.8,
            template_len: 12,
            padding: (36, 60),
            scale_coeff: 0.4,
            max_translation: 48,
            corr_noise_scale: 0.25,
            iid_noise_scale: 2e-2,
            shear_scale: 0.75,
            shuffle_seq: false,
            final_seq_length: 40,
            seed: 42,
        }
    }
}

impl Mnist1dArgs {
    /// Checks the arguments and returns an error naming the first invalid field.
    ///
    /// Rejected are fewer samples than classes, a `train_split` outside `(0, 1)` or one that
    /// leaves a split empty, `padding.0 > padding.1`, a zero dilated length, `max_translation`
    /// or `final_seq_length`, and infinite or NaN scales. The package accepts some of these
    /// and then fails inside numpy or returns an empty split or NaN signals.
    pub fn validate(&self) -> Result<(), Mnist1dError> {
        check_at_least("num_samples", self.num_samples, NUM_CLASSES)?;

        if !(self.train_split > 0.0 && self.train_split < 1.0) {
            return Err(Mnist1dError::InvalidTrainSplit {
                train_split: self.train_split,
            });
        }
        let num_train = self.num_train();
        let num_total = self.num_total();
        if num_train == 0 || num_train == num_total {
            return Err(Mnist1dError::EmptySplit {
                train_split: self.train_split,
                num_total,
                num_train,
            });
        }

        let (min, max) = self.padding;
        if min > max {
            return Err(Mnist1dError::InvalidPadding { min, max });
        }
        check_at_least("template_len + padding.1", self.dilated_len(), 1)?;
        check_at_least("max_translation", self.max_translation, 1)?;
        check_at_least("final_seq_length", self.final_seq_length, 1)?;

        let scales = [
            ("scale_coeff", self.scale_coeff),
            ("corr_noise_scale", self.corr_noise_scale),
            ("iid_noise_scale", self.iid_noise_scale),
            ("shear_scale", self.shear_scale),
        ];
        for (field, value) in scales {
            if !value.is_finite() {
                return Err(Mnist1dError::NonFinite { field, value });
            }
        }
        Ok(())
    }

    /// Returns the number of generated samples, `num_samples` rounded down to a multiple of 10.
    fn num_total(&self) -> usize {
        self.num_samples / NUM_CLASSES * NUM_CLASSES
    }

    /// Returns the size of the train split, `int(num_total * train_split)` as the package
    /// computes it.
    fn num_train(&self) -> usize {
        (self.num_total() as f64 * self.train_split) as usize
    }

    /// Returns the length of the signal after dilation.
    fn dilated_len(&self) -> usize {
        self.template_len + self.padding.1
    }
}

fn check_at_least(field: &'static str, value: usize, min: usize) -> Result<(), Mnist1dError> {
    if value < min {
        return Err(Mnist1dError::TooSmall { field, value, min });
    }
    Ok(())
}

/// Invalid [`Mnist1dArgs`].
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Mnist1dError {
    /// A count or length is below its minimum.
    #[error("invalid {field} {value}: must be at least {min}")]
    TooSmall {
        field: &'static str,
        value: usize,
        min: usize,
    },
    /// `train_split` is not strictly between 0 and 1.
    #[error("invalid train_split {train_split}: must be strictly between 0 and 1")]
    InvalidTrainSplit { train_split: f64 },
    /// `train_split` puts all samples into one split.
    #[error(
        "invalid train_split {train_split} for {num_total} samples: it gives {num_train} train \
         samples, but both splits must be non-empty"
    )]
    EmptySplit {
        train_split: f64,
        num_total: usize,
        num_train: usize,
    },
    /// `padding.0` exceeds `padding.1`.
    #[error("invalid padding ({min}, {max}): the minimum must not exceed the maximum")]
    InvalidPadding { min: usize, max: usize },
    /// A scale is infinite or NaN.
    #[error("invalid {field} {value}: must be finite")]
    NonFinite { field: &'static str, value: f64 },
}

/// A generated MNIST-1D dataset, the dictionary `make_dataset` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Mnist1d {
    /// Train signals, row-major `[num_train, final_seq_length]`, standardised together with
    /// the test signals to zero mean and unit standard deviation (`x`).
    pub x_train: Vec<f64>,
    /// Train labels, the digits `0..10` (`y`).
    pub y_train: Vec<u8>,
    /// Test signals, row-major `[num_test, final_seq_length]` (`x_test`).
    pub x_test: Vec<f64>,
    /// Test labels (`y_test`).
    pub y_test: Vec<u8>,
    /// Time axis of the signals, `final_seq_length` values: the template time axis resampled
    /// like the signals and divided by their standard deviation before standardisation (`t`).
    pub t: Vec<f64>,
    /// The digit templates the signals were generated from (`templates`).
    pub templates: Templates,
}

impl Mnist1d {
    /// Converts the signals to `f32` and wraps them in a [`Dataset`] named `mnist1d` with
    /// sample shape `[final_seq_length]`.
    pub fn into_dataset(self) -> Dataset {
        let sample_shape = vec![self.t.len()];
        let to_f32 = |values: Vec<f64>| values.into_iter().map(|value| value as f32).collect();
        Dataset {
            name: "mnist1d".to_string(),
            num_classes: NUM_CLASSES,
            train: Split {
                inputs: to_f32(self.x_train),
                labels: self.y_train,
                sample_shape: sample_shape.clone(),
            },
            test: Split {
                inputs: to_f32(self.x_test),
                labels: self.y_test,
                sample_shape,
            },
        }
    }
}

/// Generates the dataset of `make_dataset(args)`.
///
/// Draws from one [`NumpyRandomState`] seeded with `args.seed`: the samples class by class
/// (`num_samples / 10` per digit), then the shuffle of the samples, then the shuffle of the
/// points if `args.shuffle_seq`.
///
/// # Example
///
/// ```
/// use data::mnist1d::{Mnist1dArgs, generate};
///
/// let mnist1d = generate(&Mnist1dArgs::default())?;
/// assert_eq!(mnist1d.y_train.len(), 4000);
/// assert_eq!(mnist1d.x_test.len(), 1000 * 40);
/// # Ok::<(), data::mnist1d::Mnist1dError>(())
/// ```
pub fn generate(args: &Mnist1dArgs) -> Result<Mnist1d, Mnist1dError> {
    args.validate()?;
    let templates = Templates::new();
    let mut rng = NumpyRandomState::new(args.seed);
    let len = args.final_seq_length;
    let num_total = args.num_total();

    let mut signals = Vec::with_capacity(num_total * len);
    let mut labels = Vec::with_capacity(num_total);
    for digit in 0..NUM_CLASSES {
        for _ in 0..num_total / NUM_CLASSES {
            signals.extend(transform::transform(templates.digit(digit), args, &mut rng));
            labels.push(digit as u8);
        }
    }

    let order = rng.permutation(num_total);
    let mut x: Vec<f64> = Vec::with_capacity(num_total * len);
    for &index in &order {
        x.extend_from_slice(&signals[index * len..(index + 1) * len]);
    }
    let mut y: Vec<u8> = order.iter().map(|&index| labels[index]).collect();
    if args.shuffle_seq {
        let points = rng.permutation(len);
        for row in x.chunks_exact_mut(len) {
            let original = row.to_vec();
            for (value, &point) in row.iter_mut().zip(&points) {
                *value = original[point];
            }
        }
    }

    // numpy sums in memory order, and indexing the points with a permutation array leaves the
    // array column-major, so the statistics of shuffled points are summed point by point.
    let (x_mean, x_std) = if args.shuffle_seq {
        let column_major = transpose(&x, len);
        (numeric::mean(&column_major), numeric::std(&column_major))
    } else {
        (numeric::mean(&x), numeric::std(&x))
    };
    let dilated_t = transform::interpolate(&templates.t, args.dilated_len());
    let t = transform::interpolate(&dilated_t, len)
        .into_iter()
        .map(|value| value / x_std)
        .collect();
    for value in &mut x {
        *value = (*value - x_mean) / x_std;
    }

    let num_train = args.num_train();
    let x_test = x.split_off(num_train * len);
    let y_test = y.split_off(num_train);
    Ok(Mnist1d {
        x_train: x,
        y_train: y,
        x_test,
        y_test,
        t,
        templates,
    })
}

/// Returns the row-major matrix `values` with `num_columns` columns in column-major order.
fn transpose(values: &[f64], num_columns: usize) -> Vec<f64> {
    let num_rows = values.len() / num_columns;
    (0..num_columns)
        .flat_map(|column| (0..num_rows).map(move |row| values[row * num_columns + column]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_args() -> Mnist1dArgs {
        Mnist1dArgs {
            num_samples: 200,
            ..Mnist1dArgs::default()
        }
    }

    #[test]
    fn default_args_validate() {
        assert_eq!(Mnist1dArgs::default().validate(), Ok(()));
    }

    #[test]
    fn validate_rejects_too_few_samples() {
        for num_samples in [0, 9] {
            let args = Mnist1dArgs {
                num_samples,
                ..Mnist1dArgs::default()
            };
            let error = args.validate().unwrap_err();
            assert_eq!(
                error,
                Mnist1dError::TooSmall {
                    field: "num_samples",
                    value: num_samples,
                    min: 10
                }
            );
            let expected = format!("invalid num_samples {num_samples}: must be at least 10");
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn validate_rejects_train_split_outside_open_interval() {
        for train_split in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            let args = Mnist1dArgs {
                train_split,
                ..Mnist1dArgs::default()
            };
            let error = args.validate().unwrap_err();
            assert!(
                matches!(error, Mnist1dError::InvalidTrainSplit { .. }),
                "train_split {train_split}: {error:?}"
            );
            let expected =
                format!("invalid train_split {train_split}: must be strictly between 0 and 1");
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn validate_rejects_empty_train_split() {
        let args = Mnist1dArgs {
            num_samples: 10,
            train_split: 0.05,
            ..Mnist1dArgs::default()
        };
        let error = args.validate().unwrap_err();
        assert_eq!(
            error,
            Mnist1dError::EmptySplit {
                train_split: 0.05,
                num_total: 10,
                num_train: 0
            }
        );
        assert_eq!(
            error.to_string(),
            "invalid train_split 0.05 for 10 samples: it gives 0 train samples, but both splits \
             must be non-empty"
        );
    }

    #[test]
    fn validate_rejects_inverted_padding() {
        let args = Mnist1dArgs {
            padding: (60, 36),
            ..Mnist1dArgs::default()
        };
        let error = args.validate().unwrap_err();
        assert_eq!(error, Mnist1dError::InvalidPadding { min: 60, max: 36 });
        assert_eq!(
            error.to_string(),
            "invalid padding (60, 36): the minimum must not exceed the maximum"
        );
    }

    #[test]
    fn validate_rejects_zero_lengths() {
        let cases = [
            (
                Mnist1dArgs {
                    template_len: 0,
                    padding: (0, 0),
                    ..Mnist1dArgs::default()
                },
                "template_len + padding.1",
            ),
            (
                Mnist1dArgs {
                    max_translation: 0,
                    ..Mnist1dArgs::default()
                },
                "max_translation",
            ),
            (
                Mnist1dArgs {
                    final_seq_length: 0,
                    ..Mnist1dArgs::default()
                },
                "final_seq_length",
            ),
        ];
        for (args, field) in cases {
            let error = args.validate().unwrap_err();
            assert_eq!(
                error,
                Mnist1dError::TooSmall {
                    field,
                    value: 0,
                    min: 1
                }
            );
            assert_eq!(
                error.to_string(),
                format!("invalid {field} 0: must be at least 1")
            );
        }
    }

    #[test]
    fn validate_rejects_non_finite_scales() {
        let defaults = Mnist1dArgs::default;
        let cases = [
            (
                "scale_coeff",
                Mnist1dArgs {
                    scale_coeff: f64::INFINITY,
                    ..defaults()
                },
            ),
            (
                "corr_noise_scale",
                Mnist1dArgs {
                    corr_noise_scale: f64::INFINITY,
                    ..defaults()
                },
            ),
            (
                "iid_noise_scale",
                Mnist1dArgs {
                    iid_noise_scale: f64::INFINITY,
                    ..defaults()
                },
            ),
            (
                "shear_scale",
                Mnist1dArgs {
                    shear_scale: f64::INFINITY,
                    ..defaults()
                },
            ),
        ];
        for (field, args) in cases {
            let error = args.validate().unwrap_err();
            assert_eq!(
                error,
                Mnist1dError::NonFinite {
                    field,
                    value: f64::INFINITY
                }
            );
            assert_eq!(
                error.to_string(),
                format!("invalid {field} inf: must be finite")
            );
        }
    }

    #[test]
    fn generate_returns_validation_error() {
        let args = Mnist1dArgs {
            num_samples: 0,
            ..Mnist1dArgs::default()
        };
        assert!(generate(&args).is_err());
    }

    #[test]
    fn args_deserialize_with_defaults() {
        let args: Mnist1dArgs = serde_json::from_str(r#"{"seed": 7, "padding": [1, 2]}"#).unwrap();
        let expected = Mnist1dArgs {
            seed: 7,
            padding: (1, 2),
            ..Mnist1dArgs::default()
        };
        assert_eq!(args, expected);
    }

    #[test]
    fn args_reject_unknown_fields() {
        let result = serde_json::from_str::<Mnist1dArgs>(r#"{"sead": 7}"#);
        assert!(result.is_err());
    }

    #[test]
    fn generate_shapes() {
        let data = generate(&small_args()).unwrap();
        assert_eq!(data.y_train.len(), 160);
        assert_eq!(data.y_test.len(), 40);
        assert_eq!(data.x_train.len(), 160 * 40);
        assert_eq!(data.x_test.len(), 40 * 40);
        assert_eq!(data.t.len(), 40);
    }

    #[test]
    fn generate_rounds_down_to_whole_classes() {
        let args = Mnist1dArgs {
            num_samples: 333,
            train_split: 0.7,
            ..Mnist1dArgs::default()
        };
        let data = generate(&args).unwrap();
        // int(330 * 0.7) is 230 because 330 * 0.7 is 230.99999999999997 in float64.
        assert_eq!(data.y_train.len(), 230);
        assert_eq!(data.y_test.len(), 100);
    }

    #[test]
    fn generate_standardises_all_samples() {
        let data = generate(&small_args()).unwrap();
        let all: Vec<f64> = data.x_train.iter().chain(&data.x_test).copied().collect();
        assert!(numeric::mean(&all).abs() <= 1e-12);
        assert!((numeric::std(&all) - 1.0).abs() <= 1e-12);
    }

    #[test]
    fn generate_is_deterministic_per_seed() {
        let first = generate(&small_args()).unwrap();
        let second = generate(&small_args()).unwrap();
        let other_seed = generate(&Mnist1dArgs {
            seed: 43,
            ..small_args()
        })
        .unwrap();
        assert_eq!(first, second);
        assert_ne!(first.x_train, other_seed.x_train);
    }

    #[test]
    fn generate_balances_classes() {
        let data = generate(&small_args()).unwrap();
        let mut counts = [0usize; NUM_CLASSES];
        for &label in data.y_train.iter().chain(&data.y_test) {
            counts[usize::from(label)] += 1;
        }
        assert_eq!(counts, [20; NUM_CLASSES]);
    }

    #[test]
    fn shuffle_seq_permutes_points_of_every_sample() {
        let plain = generate(&small_args()).unwrap();
        let shuffled = generate(&Mnist1dArgs {
            shuffle_seq: true,
            ..small_args()
        })
        .unwrap();
        assert_eq!(plain.y_train, shuffled.y_train);
        assert_eq!(plain.t, shuffled.t);
        let mut plain_row = plain.x_train[..40].to_vec();
        let mut shuffled_row = shuffled.x_train[..40].to_vec();
        assert_ne!(plain_row, shuffled_row);
        plain_row.sort_by(f64::total_cmp);
        shuffled_row.sort_by(f64::total_cmp);
        assert_eq!(plain_row, shuffled_row);
    }

    #[test]
    fn into_dataset_converts_to_f32() {
        let data = generate(&small_args()).unwrap();
        let first_value = data.x_train[0];
        let dataset = data.into_dataset();
        assert_eq!(dataset.name, "mnist1d");
        assert_eq!(dataset.num_classes, 10);
        assert_eq!(dataset.train.sample_shape, [40]);
        assert_eq!(dataset.test.sample_shape, [40]);
        assert_eq!(dataset.train.len(), 160);
        assert_eq!(dataset.test.len(), 40);
        assert_eq!(dataset.train.inputs[0], first_value as f32);
    }
}
