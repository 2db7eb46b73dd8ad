//! Random crops and horizontal flips of images.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Random translation by padding and cropping, and random horizontal flips, of
/// `[channels, height, width]` images.
///
/// He et al. 2016, "Deep Residual Learning for Image Recognition", section 4.2, train on
/// CIFAR-10 with "4 pixels are padded on each side, and a 32x32 crop is randomly sampled from
/// the padded image or its horizontal flip": [`Augmentation::HE_2016`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augmentation {
    /// Number of zero pixels added on each side of the image before the crop. 0 disables
    /// the crop.
    pub pad: usize,
    /// Whether to flip the image horizontally with probability 0.5.
    pub flip: bool,
}

impl Augmentation {
    /// No augmentation: [`apply`](Self::apply) copies the sample.
    pub const NONE: Self = Self {
        pad: 0,
        flip: false,
    };

    /// The augmentation of He et al. 2016 for CIFAR-10: pad 4, random flip.
    pub const HE_2016: Self = Self { pad: 4, flip: true };

    /// Writes a randomly cropped and possibly flipped copy of `sample` into `out`.
    ///
    /// The image is padded with `pad` zeros on each side, and a window of the original
    /// `height x width` is cut out at a row offset and a column offset each drawn uniformly
    /// from `0..=2 * pad`. When `flip` is set, the window is mirrored left to right with
    /// probability 0.5. This gives the same distribution as cropping the flipped padded
    /// image, because the column offset is symmetric. Zero is the mean of normalised inputs,
    /// so apply the augmentation after [`Dataset::normalise`](crate::Dataset::normalise).
    ///
    /// The random draws are the row offset, the column offset (both only when `pad > 0`) and
    /// the flip (only when `flip`), in this order, so the same `rng` state gives the same
    /// output.
    ///
    /// # Panics
    ///
    /// Panics if `shape` is not `[channels, height, width]` or `sample` and `out` do not
    /// have `channels * height * width` values.
    pub fn apply<R: Rng + ?Sized>(
        &self,
        sample: &[f32],
        shape: &[usize],
        out: &mut [f32],
        rng: &mut R,
    ) {
        let &[channels, height, width] = shape else {
            panic!("augmentation needs a [channels, height, width] shape, got {shape:?}");
        };
        let size = channels * height * width;
        assert_eq!(sample.len(), size, "sample length for shape {shape:?}");
        assert_eq!(out.len(), size, "output length for shape {shape:?}");
        if size == 0 {
            return;
        }

        let (row_offset, column_offset) = if self.pad > 0 {
            let max_offset = 2 * self.pad;
            let row_offset = rng.random_range(0..=max_offset);
            let column_offset = rng.random_range(0..=max_offset);
            (row_offset, column_offset)
        } else {
            (0, 0)
        };
        let flip = self.flip && rng.random_bool(0.5);

        // Output row y shows source row y + row_shift, and likewise for columns. Positions
        // whose source lies outside the image are padding and stay zero.
        let row_shift = row_offset as isize - self.pad as isize;
        let column_shift = column_offset as isize - self.pad as isize;
        let first_column = (-column_shift).clamp(0, width as isize) as usize;
        let end_column = (width as isize - column_shift).clamp(0, width as isize) as usize;
        let columns = first_column..end_column;

        for (index, out_row) in out.chunks_exact_mut(width).enumerate() {
            let channel = index / height;
            let source_row = (index % height) as isize + row_shift;
            out_row.fill(0.0);
            if !columns.is_empty() && (0..height as isize).contains(&source_row) {
                let row_start = (channel * height + source_row as usize) * width;
                let start = row_start + (first_column as isize + column_shift) as usize;
                out_row[columns.clone()].copy_from_slice(&sample[start..start + columns.len()]);
            }
            if flip {
                out_row.reverse();
            }
        }
    }

    /// Applies [`apply`](Self::apply) to each sample of a row-major batch `inputs` with
    /// sample shape `shape`, in order, drawing from one `rng`.
    ///
    /// # Panics
    ///
    /// Panics if `shape` is not `[channels, height, width]`, if `inputs` is not a whole
    /// number of samples, or if `out` has another length than `inputs`.
    pub fn apply_batch<R: Rng + ?Sized>(
        &self,
        inputs: &[f32],
        shape: &[usize],
        out: &mut [f32],
        rng: &mut R,
    ) {
        let size: usize = shape.iter().product();
        assert_eq!(out.len(), inputs.len(), "output length of the batch");
        assert!(
            size > 0 && inputs.len().is_multiple_of(size),
            "batch of {} values is not a whole number of {shape:?} samples",
            inputs.len()
        );
        for (sample, out) in inputs.chunks_exact(size).zip(out.chunks_exact_mut(size)) {
            self.apply(sample, shape, out, rng);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Shape of the test image: non-square, so that swapped axes fail.
    const SHAPE: [usize; 3] = [2, 5, 6];

    /// Returns an image of shape [`SHAPE`] whose values `1..=60` are all distinct and
    /// non-zero, so that every window of the padded image is distinct.
    fn image() -> Vec<f32> {
        (1..=60).map(|value| value as f32).collect()
    }

    /// Returns `image` padded with `pad` zeros on each side, `[2, 5 + 2 pad, 6 + 2 pad]`.
    fn padded(image: &[f32], pad: usize) -> Vec<f32> {
        let [channels, height, width] = SHAPE;
        let (padded_height, padded_width) = (height + 2 * pad, width + 2 * pad);
        let mut padded = vec![0.0; channels * padded_height * padded_width];
        for c in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    let target = (c * padded_height + y + pad) * padded_width + x + pad;
                    padded[target] = image[(c * height + y) * width + x];
                }
            }
        }
        padded
    }

    /// Returns the `[2, 5, 6]` window of `padded` at `(row_offset, column_offset)`, mirrored
    /// left to right when `flip`.
    fn window(
        padded: &[f32],
        pad: usize,
        row_offset: usize,
        column_offset: usize,
        flip: bool,
    ) -> Vec<f32> {
        let [channels, height, width] = SHAPE;
        let (padded_height, padded_width) = (height + 2 * pad, width + 2 * pad);
        let mut window = Vec::with_capacity(channels * height * width);
        for c in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    let column = if flip { width - 1 - x } else { x };
                    let source = (c * padded_height + y + row_offset) * padded_width
                        + column
                        + column_offset;
                    window.push(padded[source]);
                }
            }
        }
        window
    }

    /// Returns the `(row_offset, column_offset, flip)` whose window equals `out`, if any.
    fn find_window(out: &[f32], pad: usize) -> Option<(usize, usize, bool)> {
        let padded = padded(&image(), pad);
        let mut matches = Vec::new();
        for row_offset in 0..=2 * pad {
            for column_offset in 0..=2 * pad {
                for flip in [false, true] {
                    if window(&padded, pad, row_offset, column_offset, flip) == out {
                        matches.push((row_offset, column_offset, flip));
                    }
                }
            }
        }
        assert!(
            matches.len() <= 1,
            "output matches several windows: {matches:?}"
        );
        matches.pop()
    }

    #[test]
    fn none_copies_without_drawing() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let untouched = rng.clone();
        let mut out = vec![-1.0; 60];
        Augmentation::NONE.apply(&image(), &SHAPE, &mut out, &mut rng);
        assert_eq!(out, image());
        assert_eq!(rng, untouched);
    }

    #[test]
    fn flip_mirrors_each_row() {
        let augmentation = Augmentation { pad: 0, flip: true };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mirrored: Vec<f32> = image()
            .chunks_exact(6)
            .flat_map(|row| row.iter().rev().copied())
            .collect();
        assert_eq!(mirrored[..6], [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
        let mut num_flipped = 0;
        let mut out = vec![0.0; 60];
        for draw in 0..1000 {
            augmentation.apply(&image(), &SHAPE, &mut out, &mut rng);
            if out == mirrored {
                num_flipped += 1;
            } else {
                assert_eq!(
                    out,
                    image(),
                    "draw {draw} is neither the image nor its mirror"
                );
            }
        }
        // Binomial(1000, 0.5) has standard deviation 15.8, so this allows 4.4 deviations.
        assert!(
            (430..=570).contains(&num_flipped),
            "{num_flipped} of 1000 flipped"
        );
    }

    #[test]
    fn crop_is_window_of_padded_image() {
        let pad = 2;
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut out = vec![0.0; 60];
        for draw in 0..200 {
            Augmentation { pad, flip: true }.apply(&image(), &SHAPE, &mut out, &mut rng);
            assert!(find_window(&out, pad).is_some(), "draw {draw}: {out:?}");
        }
    }

    #[test]
    fn crop_fills_padding_with_zeros() {
        // Offsets (0, 0) put the top-left corner of the padded image into the output.
        let padded = padded(&image(), 4);
        let corner = window(&padded, 4, 0, 0, false);
        assert_eq!(corner[..6], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(corner[4 * 6 + 4], 1.0);
    }

    #[test]
    fn crop_offsets_cover_all_positions() {
        let pad = 4;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = [[0usize; 9]; 9];
        let mut num_flipped = 0;
        let mut out = vec![0.0; 60];
        for draw in 0..8100 {
            Augmentation::HE_2016.apply(&image(), &SHAPE, &mut out, &mut rng);
            let Some((row_offset, column_offset, flip)) = find_window(&out, pad) else {
                panic!("draw {draw} is no window of the padded image: {out:?}");
            };
            counts[row_offset][column_offset] += 1;
            num_flipped += usize::from(flip);
        }
        // Each of the 81 offsets has probability 1/81: mean 100 and standard deviation 9.9
        // over 8100 draws, so this allows 5 deviations.
        for (row_offset, row) in counts.iter().enumerate() {
            for (column_offset, &count) in row.iter().enumerate() {
                assert!(
                    (50..=150).contains(&count),
                    "offset ({row_offset}, {column_offset}) drawn {count} times"
                );
            }
        }
        // Binomial(8100, 0.5) has standard deviation 45.
        assert!(
            (3825..=4275).contains(&num_flipped),
            "{num_flipped} of 8100 flipped"
        );
    }

    #[test]
    fn crop_can_leave_image_entirely() {
        // With pad 7 around a 5x6 image, the extreme offsets show only padding.
        let augmentation = Augmentation {
            pad: 7,
            flip: false,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut out = vec![0.0; 60];
        let mut num_empty = 0;
        for draw in 0..2000 {
            augmentation.apply(&image(), &SHAPE, &mut out, &mut rng);
            let valid = out.iter().all(|&value| (0.0..=60.0).contains(&value));
            assert!(
                valid,
                "draw {draw} has values outside the padded image: {out:?}"
            );
            num_empty += usize::from(out.iter().all(|&value| value == 0.0));
        }
        assert!(num_empty > 0, "no draw fell outside the image");
        assert!(num_empty < 2000, "every draw fell outside the image");
    }

    #[test]
    fn apply_is_deterministic_per_seed() {
        let draw = |seed: u64| -> Vec<f32> {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let inputs: Vec<f32> = image().repeat(20);
            let mut out = vec![0.0; inputs.len()];
            Augmentation::HE_2016.apply_batch(&inputs, &SHAPE, &mut out, &mut rng);
            out
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
    }

    #[test]
    fn apply_batch_matches_apply() {
        let inputs: Vec<f32> = (0..3)
            .flat_map(|shift| image().into_iter().map(move |v| v + shift as f32))
            .collect();
        let mut batch_rng = ChaCha8Rng::seed_from_u64(7);
        let mut batch_out = vec![0.0; inputs.len()];
        Augmentation::HE_2016.apply_batch(&inputs, &SHAPE, &mut batch_out, &mut batch_rng);

        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut out = vec![0.0; 60];
        for (index, sample) in inputs.chunks_exact(60).enumerate() {
            Augmentation::HE_2016.apply(sample, &SHAPE, &mut out, &mut rng);
            assert_eq!(
                out[..],
                batch_out[index * 60..(index + 1) * 60],
                "sample {index}"
            );
        }
    }

    #[test]
    fn augmentation_serde_fields() {
        let json = serde_json::to_string(&Augmentation::HE_2016).unwrap();
        assert_eq!(json, r#"{"pad":4,"flip":true}"#);
        let parsed: Augmentation = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed, Augmentation::HE_2016);
        assert!(serde_json::from_str::<Augmentation>(r#"{"pad":4,"flip":true,"x":1}"#).is_err());
    }

    #[test]
    #[should_panic(expected = "augmentation needs a [channels, height, width] shape, got [60]")]
    fn apply_panics_on_flat_shape() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut out = vec![0.0; 60];
        Augmentation::HE_2016.apply(&image(), &[60], &mut out, &mut rng);
    }

    #[test]
    #[should_panic(expected = "sample length")]
    fn apply_panics_on_wrong_length() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut out = vec![0.0; 60];
        Augmentation::HE_2016.apply(&image()[..59], &SHAPE, &mut out, &mut rng);
    }
}
