//! `summary.md`: the autocorrelation at two distances and the gradient std, per variant and
//! number of hidden layers.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::compute::SeriesSpread;
use super::results::{DepthAggregate, ShatteredResults};
use crate::results::write_atomic;
use crate::table::{Spread, format_significant};

/// Distances, in grid steps, at which the table shows the autocorrelation. With the default
/// grid (step 1/64) they are the neighbouring input and a quarter of the input's unit.
pub const TABLE_DISTANCES: [usize; 2] = [1, 16];

/// Writes `summary.md` into `charts_dir` atomically and returns its path.
pub fn write_summary(results: &ShatteredResults, charts_dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(charts_dir)
        .with_context(|| format!("failed to create {}", charts_dir.display()))?;
    let path = charts_dir.join("summary.md");
    write_atomic(&path, markdown_table(results).as_bytes())?;
    Ok(path)
}

fn markdown_table(results: &ShatteredResults) -> String {
    let config = &results.config;
    let step = config.inputs.step();
    let mut text = String::new();
    writeln!(text, "# Shattered gradients: {}\n", config.name).unwrap();
    writeln!(
        text,
        "Networks from one input to one output, width {}, at initialisation, {} seeds. dy/dx at \
         {} inputs on [{}, {}) (step {}). r(m) is the autocorrelation of dy/dx at a distance \
         of m inputs, raw (sum of g[n+m] g[n] over sum of g[n]^2) and with the mean of dy/dx \
         subtracted first. Each cell is the mean over seeds (min–max); gradient std is the \
         standard deviation of dy/dx over the inputs.\n",
        config.width,
        config.seeds.len(),
        config.inputs.count,
        config.inputs.low,
        config.inputs.high,
        format_significant(step),
    )
    .unwrap();

    let mut header = String::from("| variant | hidden layers |");
    let mut rule = String::from("|---|---:|");
    for form in ["", " mean-subtracted"] {
        for distance in TABLE_DISTANCES {
            let at = format_significant(distance as f64 * step);
            write!(header, " r({distance}){form}, distance {at} |").unwrap();
            rule.push_str("---:|");
        }
    }
    header.push_str(" gradient std |");
    rule.push_str("---:|");
    writeln!(text, "{header}\n{rule}").unwrap();

    for aggregate in &results.aggregates {
        let mut row = format!("| {} | {} |", aggregate.variant, aggregate.hidden_layers);
        for series in [
            &aggregate.autocorrelation,
            &aggregate.autocorrelation_mean_subtracted,
        ] {
            for distance in TABLE_DISTANCES {
                write!(row, " {} |", correlation_cell(series.as_ref(), distance)).unwrap();
            }
        }
        write!(row, " {} |", std_cell(aggregate)).unwrap();
        writeln!(text, "{row}").unwrap();
    }
    text
}

/// Formats `r(distance)`: `0.853 (0.62–0.95)`, only the mean for one seed, `–` where it is
/// undefined or beyond the computed distances.
fn correlation_cell(series: Option<&SeriesSpread>, distance: usize) -> String {
    let Some(series) = series else {
        return "–".to_string();
    };
    let Some(&mean) = series.mean.get(distance) else {
        return "–".to_string();
    };
    if series.count == 1 {
        return format!("{mean:.3}");
    }
    let (min, max) = (series.min[distance], series.max[distance]);
    format!("{mean:.3} ({min:.2}–{max:.2})")
}

/// Formats the gradient std with three significant digits, and its range over seeds.
fn std_cell(aggregate: &DepthAggregate) -> String {
    match aggregate.gradient_std {
        None => "–".to_string(),
        Some(Spread { mean, min, max }) if min == max => format_significant(mean),
        Some(Spread { mean, min, max }) => format!(
            "{} ({}–{})",
            format_significant(mean),
            format_significant(min),
            format_significant(max)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(count: usize) -> SeriesSpread {
        SeriesSpread {
            count,
            mean: vec![1.0, 0.5],
            min: vec![1.0, 0.25],
            max: vec![1.0, 0.75],
        }
    }

    #[test]
    fn correlation_cells() {
        assert_eq!(correlation_cell(Some(&series(3)), 1), "0.500 (0.25–0.75)");
        assert_eq!(correlation_cell(Some(&series(1)), 1), "0.500");
        assert_eq!(correlation_cell(Some(&series(3)), 16), "–");
        assert_eq!(correlation_cell(None, 1), "–");
    }
}
