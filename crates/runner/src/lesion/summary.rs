//! Lesion errors aggregated over seeds and sets of blocks, and `summary.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use model::Variant;

use super::{LesionResults, RunLesion};
use crate::table::{CHANCE_ERROR, Spread};

/// The lesion errors of one variant and depth. Errors are fractions.
#[derive(Debug, Clone)]
pub(crate) struct LesionRow {
    pub variant: Variant,
    pub depth: usize,
    pub runs: usize,
    /// Test error with no block deleted, over seeds.
    pub test_error: Spread,
    /// Index `i`: test error with block `i + 1` deleted, over seeds.
    pub single_block: Vec<Spread>,
    /// Test error with one block deleted, over blocks and seeds. `None` at depth 0.
    pub single_block_overall: Option<Spread>,
    /// `(k, error)` for `k = 0..=depth/2` deleted blocks, over sets of blocks and seeds. `k = 0`
    /// is the unlesioned network.
    pub blocks_deleted: Vec<(usize, Spread)>,
}

impl LesionRow {
    /// Returns the error with `depth / 2` blocks deleted, if `depth >= 2`.
    pub(crate) fn half_deleted(&self) -> Option<Spread> {
        let half = self.depth / 2;
        let last = self.blocks_deleted.last()?;
        (half > 0 && last.0 == half).then_some(last.1)
    }
}

/// Aggregates the runs per variant and depth, variants in [`Variant::ALL`] order, then depths
/// ascending.
pub(crate) fn lesion_rows(results: &LesionResults) -> Vec<LesionRow> {
    let mut groups: BTreeMap<(Variant, usize), Vec<&RunLesion>> = BTreeMap::new();
    for run in &results.runs {
        groups
            .entry((run.variant, run.depth))
            .or_default()
            .push(run);
    }
    groups
        .into_iter()
        .filter_map(|((variant, depth), runs)| aggregate(variant, depth, &runs))
        .collect()
}

fn aggregate(variant: Variant, depth: usize, runs: &[&RunLesion]) -> Option<LesionRow> {
    let errors: Vec<f64> = runs.iter().map(|run| run.test_error).collect();
    let test_error = Spread::of(&errors)?;

    let single_block = (0..depth)
        .filter_map(|block| {
            let errors: Vec<f64> = runs
                .iter()
                .filter_map(|run| run.single_block.get(block).copied())
                .collect();
            Spread::of(&errors)
        })
        .collect();
    let all_single: Vec<f64> = runs
        .iter()
        .flat_map(|run| run.single_block.iter().copied())
        .collect();

    let mut by_count: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    by_count.insert(0, errors);
    for run in runs {
        for random in &run.random {
            let errors = by_count.entry(random.blocks_deleted).or_default();
            errors.extend(&random.test_errors);
        }
    }
    let blocks_deleted = by_count
        .into_iter()
        .filter_map(|(k, errors)| Spread::of(&errors).map(|spread| (k, spread)))
        .collect();

    Some(LesionRow {
        variant,
        depth,
        runs: runs.len(),
        test_error,
        single_block,
        single_block_overall: Spread::of(&all_single),
        blocks_deleted,
    })
}

fn percent(value: f64) -> String {
    format!("{:.1}", value * 100.0)
}

/// Formats a spread in %: `12.3 (10.1–14.5)`, or only the mean when it has no spread.
fn spread_cell(spread: Option<Spread>) -> String {
    match spread {
        None => "–".to_string(),
        Some(spread) if spread.min == spread.max => percent(spread.mean),
        Some(spread) => format!(
            "{} ({}–{})",
            percent(spread.mean),
            percent(spread.min),
            percent(spread.max)
        ),
    }
}

/// Returns `summary.md`: per variant and depth, the test error unlesioned, with one block
/// deleted and with `depth / 2` blocks deleted.
pub(crate) fn markdown(results: &LesionResults, rows: &[LesionRow]) -> String {
    let mut text = String::new();
    writeln!(text, "# Lesion study, sweep {}\n", results.sweep.name).unwrap();
    writeln!(
        text,
        "Test error in %, batch norm in eval mode. A deleted block passes its input on \
         unchanged: a residual block keeps its shortcut and loses its branch, and a plain \
         block is replaced by the identity. \"No block deleted\": mean over seeds (min–max). \
         \"One block deleted\": every block deleted in turn, mean and max over blocks and \
         seeds, and the increase of the mean over the unlesioned error in percentage points. \
         \"depth/2 blocks deleted\": {} random sets of blocks per seed (every set where there \
         are fewer), mean over sets and seeds (min–max). Chance level is {:.0} %.\n",
        results.draws,
        CHANCE_ERROR * 100.0
    )
    .unwrap();
    text.push_str(
        "| variant | depth | runs | no block deleted | one block deleted, mean \
         | increase (points) | one block deleted, max | depth/2 blocks deleted |\n",
    );
    text.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let single = row.single_block_overall;
        let increase = single.map_or("–".to_string(), |spread| {
            // Rounded first, and + 0.0 turns -0.0 into 0.0, so that no "-0.0" is printed.
            let points = ((spread.mean - row.test_error.mean) * 1000.0).round() / 10.0 + 0.0;
            format!("{points:+.1}")
        });
        writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.variant,
            row.depth,
            row.runs,
            spread_cell(Some(row.test_error)),
            single.map_or("–".to_string(), |spread| percent(spread.mean)),
            increase,
            single.map_or("–".to_string(), |spread| percent(spread.max)),
            spread_cell(row.half_deleted()),
        )
        .unwrap();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lesion::RandomLesion;

    fn run(variant: Variant, seed: u64, test_error: f64, single_block: Vec<f64>) -> RunLesion {
        RunLesion {
            run_id: format!("{variant}-s{seed}"),
            variant,
            depth: 4,
            seed,
            test_error,
            random: vec![
                RandomLesion {
                    blocks_deleted: 1,
                    test_errors: vec![test_error + 0.01],
                },
                RandomLesion {
                    blocks_deleted: 2,
                    test_errors: vec![test_error + 0.02, test_error + 0.04],
                },
            ],
            single_block,
        }
    }

    #[test]
    fn rows_aggregate_over_seeds_and_sets() {
        let runs = vec![
            run(Variant::ResidualBn, 0, 0.30, vec![0.31, 0.32, 0.33, 0.34]),
            run(Variant::ResidualBn, 1, 0.32, vec![0.33, 0.34, 0.35, 0.40]),
            run(Variant::PlainBn, 0, 0.40, vec![0.90, 0.85, 0.88, 0.89]),
        ];
        let results = LesionResults {
            sweep: crate::table::tests::synthetic_results().manifest.sweep,
            draws: 2,
            seed: 0,
            runs,
        };
        let rows = lesion_rows(&results);
        assert_eq!(rows.len(), 2);
        // Variant::ALL order: plain-bn before residual-bn.
        assert_eq!(rows[0].variant, Variant::PlainBn);
        let residual = &rows[1];
        assert_eq!(residual.runs, 2);
        assert!((residual.test_error.mean - 0.31).abs() < 1e-12);
        assert!((residual.single_block[3].mean - 0.37).abs() < 1e-12);
        let overall = residual.single_block_overall.unwrap();
        assert!((overall.mean - 0.34).abs() < 1e-12);
        assert!((overall.max - 0.40).abs() < 1e-12);
        let counts: Vec<usize> = residual.blocks_deleted.iter().map(|(k, _)| *k).collect();
        assert_eq!(counts, vec![0, 1, 2]);
        let half = residual.half_deleted().unwrap();
        assert!((half.mean - 0.34).abs() < 1e-12, "{half:?}");
        assert!((half.min - 0.32).abs() < 1e-12, "{half:?}");
        assert!((half.max - 0.36).abs() < 1e-12, "{half:?}");

        let markdown = markdown(&results, &rows);
        assert!(markdown.contains("| residual-bn | 4 | 2 | 31.0 (30.0–32.0) | 34.0 | +3.0 |"));
        assert!(markdown.contains("| plain-bn | 4 | 1 | 40.0 | 88.0 | +48.0 | 90.0 |"));
    }
}
