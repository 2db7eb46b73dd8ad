//! The ten digit templates that every MNIST-1D sample is generated from.

use super::NUM_CLASSES;
use super::numeric::{linspace, mean, std};

/// Number of points in each digit template.
pub const TEMPLATE_POINTS: usize = 12;

/// Hand-drawn digit shapes of `mnist1d.data.get_templates` (mnist1d 0.0.2.post1), one row per
/// digit, before standardisation.
const DIGIT_SHAPES: [[f64; TEMPLATE_POINTS]; NUM_CLASSES] = [
    [5.0, 6.0, 6.5, 6.75, 7.0, 7.0, 7.0, 7.0, 6.75, 6.5, 6.0, 5.0],
    [5.0, 3.0, 3.0, 3.4, 3.8, 4.2, 4.6, 5.0, 5.4, 5.8, 5.0, 5.0],
    [5.0, 6.0, 6.5, 6.5, 6.0, 5.25, 4.75, 4.0, 3.5, 3.5, 4.0, 5.0],
    [5.0, 6.0, 6.5, 6.5, 6.0, 5.0, 5.0, 6.0, 6.5, 6.5, 6.0, 5.0],
    [5.0, 4.4, 3.8, 3.2, 2.6, 2.6, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
    [5.0, 3.0, 3.0, 3.0, 3.0, 5.0, 6.0, 6.5, 6.5, 6.0, 4.5, 5.0],
    [5.0, 4.0, 3.5, 3.25, 3.0, 3.0, 3.0, 3.0, 3.25, 3.5, 4.0, 5.0],
    [5.0, 7.0, 7.0, 6.6, 6.2, 5.8, 5.4, 5.0, 4.6, 4.2, 5.0, 5.0],
    [5.0, 4.0, 3.5, 3.5, 4.0, 5.0, 5.0, 4.0, 3.5, 3.5, 4.0, 5.0],
    [5.0, 4.0, 3.5, 3.5, 4.0, 5.0, 5.0, 5.0, 5.0, 4.7, 4.3, 5.0],
];

/// Divisor applied to the standardised templates and to their time axis.
const TEMPLATE_DIVISOR: f64 = 6.0;

/// The digit templates, as `templates` in the dictionary `make_dataset` returns. Digit `d` has
/// label `d`.
#[derive(Debug, Clone, PartialEq)]
pub struct Templates {
    /// Template signals, row-major `[NUM_CLASSES, TEMPLATE_POINTS]`. Each row is standardised
    /// to zero mean and unit standard deviation, shifted to start at 0 and divided by 6.
    pub x: Vec<f64>,
    /// Time axis of the templates, `linspace(-5, 5, 12) / 6`, length `TEMPLATE_POINTS`.
    pub t: Vec<f64>,
}

impl Templates {
    /// Builds the templates with the operations of `get_templates`, in numpy's order.
    pub(super) fn new() -> Self {
        let mut x = Vec::with_capacity(NUM_CLASSES * TEMPLATE_POINTS);
        for shape in &DIGIT_SHAPES {
            // numpy takes the standard deviation of the already centred row.
            let row_mean = mean(shape);
            let centred: Vec<f64> = shape.iter().map(|value| value - row_mean).collect();
            let row_std = std(&centred);
            let standardised: Vec<f64> = centred.iter().map(|value| value / row_std).collect();
            let start = standardised[0];
            x.extend(
                standardised
                    .iter()
                    .map(|value| (value - start) / TEMPLATE_DIVISOR),
            );
        }
        let t = linspace(-5.0, 5.0, TEMPLATE_POINTS)
            .iter()
            .map(|value| value / TEMPLATE_DIVISOR)
            .collect();
        Self { x, t }
    }

    /// Returns the template signal of `digit`.
    pub fn digit(&self, digit: usize) -> &[f64] {
        &self.x[digit * TEMPLATE_POINTS..(digit + 1) * TEMPLATE_POINTS]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_start_and_end_at_zero() {
        let templates = Templates::new();
        for digit in 0..NUM_CLASSES {
            let row = templates.digit(digit);
            assert_eq!(row[0], 0.0, "digit {digit}");
            assert!(row[TEMPLATE_POINTS - 1].abs() <= 1e-15, "digit {digit}");
        }
    }

    #[test]
    fn templates_have_std_one_sixth() {
        let templates = Templates::new();
        for digit in 0..NUM_CLASSES {
            let row_std = std(templates.digit(digit));
            assert!(
                (row_std - 1.0 / 6.0).abs() <= 1e-15,
                "digit {digit}: std {row_std}"
            );
        }
    }

    #[test]
    fn template_time_axis() {
        let templates = Templates::new();
        assert_eq!(templates.t.len(), TEMPLATE_POINTS);
        assert_eq!(templates.t[0], -5.0 / 6.0);
        assert_eq!(templates.t[TEMPLATE_POINTS - 1], 5.0 / 6.0);
    }
}
