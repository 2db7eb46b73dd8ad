//! Compares the MNIST-1D generator with fixtures/mnist1d.json, which
//! scripts/mnist1d_fixture.py writes with the Python package mnist1d 0.0.2.post1.

use data::mnist1d::{Mnist1d, Mnist1dArgs, NUM_CLASSES, TEMPLATE_POINTS, generate};
use serde::{Deserialize, Deserializer};

/// Largest accepted absolute difference from a reference value.
const TOLERANCE: f64 = 1e-12;

const FIXTURE_JSON: &str = include_str!("../fixtures/mnist1d.json");

/// A reference value, stored as its shortest round-trip decimal string and parsed with the
/// correctly rounded `str::parse`, so that a bit-exact result shows a difference of 0.
#[derive(Debug, Clone, Copy)]
struct Exact(f64);

impl<'de> Deserialize<'de> for Exact {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map(Exact).map_err(serde::de::Error::custom)
    }
}

#[derive(Deserialize)]
struct Fixture {
    templates: FixtureTemplates,
    cases: Vec<FixtureCase>,
}

#[derive(Deserialize)]
struct FixtureTemplates {
    x: Vec<Vec<Exact>>,
    t: Vec<Exact>,
    y: Vec<u8>,
}

/// Part of one `make_dataset(args)` result.
#[derive(Deserialize)]
struct FixtureCase {
    name: String,
    args: Mnist1dArgs,
    t: Vec<Exact>,
    train_rows: Vec<usize>,
    x_train_rows: Vec<Vec<Exact>>,
    test_rows: Vec<usize>,
    x_test_rows: Vec<Vec<Exact>>,
    y_train: Vec<u8>,
    y_test: Vec<u8>,
    train_class_counts: Vec<usize>,
    test_class_counts: Vec<usize>,
}

fn load_fixture() -> Fixture {
    serde_json::from_str(FIXTURE_JSON).expect("fixtures/mnist1d.json is invalid")
}

fn generate_case(case: &FixtureCase) -> Mnist1d {
    generate(&case.args).unwrap_or_else(|error| panic!("case {}: {error}", case.name))
}

/// Largest absolute difference between generated and reference values, and where it occurs.
#[derive(Debug, Default)]
struct MaxDifference {
    value: f64,
    location: String,
}

impl MaxDifference {
    fn update(&mut self, actual: f64, expected: f64, location: impl FnOnce() -> String) {
        let difference = (actual - expected).abs();
        // A NaN difference must fail too, so it replaces any finite maximum.
        if difference > self.value || difference.is_nan() {
            self.value = difference;
            self.location = location();
        }
    }
}

/// Returns the largest difference between the stored `rows` of `x` and their reference values.
fn max_row_difference(
    x: &[f64],
    row_len: usize,
    rows: &[usize],
    reference: &[Vec<Exact>],
    split: &str,
) -> MaxDifference {
    assert_eq!(
        rows.len(),
        reference.len(),
        "{split}: row indices and rows differ in number"
    );
    let mut max = MaxDifference::default();
    for (&row, expected_row) in rows.iter().zip(reference) {
        assert_eq!(expected_row.len(), row_len, "{split} row {row} length");
        let actual_row = &x[row * row_len..(row + 1) * row_len];
        for (point, (&actual, &Exact(expected))) in actual_row.iter().zip(expected_row).enumerate()
        {
            max.update(actual, expected, || {
                format!("{split} row {row} point {point}: {actual} vs {expected}")
            });
        }
    }
    max
}

#[test]
fn fixture_default_case_uses_default_args() {
    let fixture = load_fixture();
    let default_case = &fixture.cases[0];
    assert_eq!(default_case.name, "default");
    assert_eq!(default_case.args, Mnist1dArgs::default());
}

#[test]
fn signals_match_reference() {
    let fixture = load_fixture();
    for case in &fixture.cases {
        let data = generate_case(case);
        let row_len = case.args.final_seq_length;
        let splits = [
            ("train", &data.x_train, &case.train_rows, &case.x_train_rows),
            ("test", &data.x_test, &case.test_rows, &case.x_test_rows),
        ];
        for (split, x, rows, reference) in splits {
            let max = max_row_difference(x, row_len, rows, reference, split);
            println!(
                "case {}: max abs difference {:e} over {} {split} rows",
                case.name,
                max.value,
                rows.len()
            );
            assert!(
                max.value <= TOLERANCE,
                "case {}: max abs difference {:e} exceeds {TOLERANCE:e} at {}",
                case.name,
                max.value,
                max.location
            );
        }
    }
}

#[test]
fn time_axis_matches_reference() {
    let fixture = load_fixture();
    for case in &fixture.cases {
        let data = generate_case(case);
        assert_eq!(data.t.len(), case.t.len(), "case {}", case.name);
        let mut max = MaxDifference::default();
        for (point, (&actual, &Exact(expected))) in data.t.iter().zip(&case.t).enumerate() {
            max.update(actual, expected, || {
                format!("t[{point}]: {actual} vs {expected}")
            });
        }
        assert!(
            max.value <= TOLERANCE,
            "case {}: {}",
            case.name,
            max.location
        );
    }
}

#[test]
fn labels_match_reference() {
    let fixture = load_fixture();
    for case in &fixture.cases {
        let data = generate_case(case);
        assert_eq!(
            data.y_train, case.y_train,
            "case {}: train labels",
            case.name
        );
        assert_eq!(data.y_test, case.y_test, "case {}: test labels", case.name);
    }
}

#[test]
fn class_counts_match_reference() {
    let fixture = load_fixture();
    for case in &fixture.cases {
        let data = generate_case(case);
        assert_eq!(
            class_counts(&data.y_train),
            case.train_class_counts,
            "case {}: train class counts",
            case.name
        );
        assert_eq!(
            class_counts(&data.y_test),
            case.test_class_counts,
            "case {}: test class counts",
            case.name
        );
    }
}

#[test]
fn templates_match_reference() {
    let fixture = load_fixture();
    let data = generate(&Mnist1dArgs::default()).unwrap();
    assert_eq!(
        fixture.templates.y,
        (0..NUM_CLASSES as u8).collect::<Vec<_>>()
    );
    assert_eq!(fixture.templates.x.len(), NUM_CLASSES);
    let mut max = MaxDifference::default();
    for (digit, expected_row) in fixture.templates.x.iter().enumerate() {
        assert_eq!(expected_row.len(), TEMPLATE_POINTS, "digit {digit}");
        for (point, (&actual, &Exact(expected))) in data
            .templates
            .digit(digit)
            .iter()
            .zip(expected_row)
            .enumerate()
        {
            max.update(actual, expected, || {
                format!("digit {digit} point {point}: {actual} vs {expected}")
            });
        }
    }
    for (point, (&actual, &Exact(expected))) in data
        .templates
        .t
        .iter()
        .zip(&fixture.templates.t)
        .enumerate()
    {
        max.update(actual, expected, || {
            format!("t[{point}]: {actual} vs {expected}")
        });
    }
    assert!(max.value <= TOLERANCE, "{}", max.location);
}

/// Labels and class counts printed by mnist1d 0.0.2.post1 for the default arguments.
#[test]
fn default_labels_match_package_values() {
    let data = generate(&Mnist1dArgs::default()).unwrap();
    assert_eq!(data.y_train.len(), 4000);
    assert_eq!(data.y_test.len(), 1000);
    assert_eq!(
        data.y_train[..20],
        [2, 6, 4, 5, 6, 6, 6, 0, 3, 1, 6, 9, 4, 3, 4, 5, 1, 9, 0, 3]
    );
    assert_eq!(data.y_test[..10], [2, 6, 3, 9, 4, 3, 1, 9, 5, 2]);
    assert_eq!(
        class_counts(&data.y_train),
        [398, 396, 411, 394, 394, 402, 401, 404, 402, 398]
    );
}

fn class_counts(labels: &[u8]) -> Vec<usize> {
    let mut counts = vec![0; NUM_CLASSES];
    for &label in labels {
        counts[usize::from(label)] += 1;
    }
    counts
}
