//! Steps shared by the analyses of a finished sweep's trained networks (`lesion`, `paths`):
//! finding the completed runs and their weights, and drawing random sets of blocks.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::Family;
use crate::results::{RunRecord, RunStatus, SweepDir, SweepResults};
use crate::train::MODEL_FILE;

/// A completed run and the path of its trained network.
pub(crate) struct TrainedRun {
    pub record: RunRecord,
    /// The run folder's [`MODEL_FILE`], checked to exist.
    pub model_path: PathBuf,
}

/// Maximum number of files named in an error message. Further ones are counted.
const MAX_LISTED_RUNS: usize = 5;

/// Reads a finished sweep and returns it with its completed runs, in manifest order: all of
/// them, or only those of the residual variants when `residual_only` is set.
///
/// Fails, before anything is computed or written, when `sweep_dir` is not a sweep's results
/// folder, when no such run completed, when one of them has no stored network (runs trained
/// before weights were stored), or when it is not a sweep of MLPs.
pub(crate) fn completed_runs(
    sweep_dir: &Path,
    residual_only: bool,
) -> Result<(SweepResults, Vec<TrainedRun>)> {
    let dir = SweepDir::new(sweep_dir);
    let mut results = dir.load()?;
    if results.manifest.sweep.family != Family::Mlp {
        bail!(
            "{} holds a sweep of convolutional networks; lesion and path analyses take MLP \
             sweeps, whose blocks all map width -> width",
            sweep_dir.display()
        );
    }
    let records = std::mem::take(&mut results.runs);
    let kind = if residual_only { "residual " } else { "" };
    let records: Vec<RunRecord> = records
        .into_iter()
        .filter(|run| !residual_only || run.config.variant.has_shortcut())
        .collect();
    let diverged = records
        .iter()
        .filter(|run| run.summary.status == RunStatus::Diverged)
        .count();
    let completed: Vec<RunRecord> = records
        .into_iter()
        .filter(|run| run.summary.status == RunStatus::Completed)
        .collect();
    if completed.is_empty() {
        let hint = match (residual_only, diverged > 0) {
            (true, _) => "the analysis needs trained runs of the variant residual or residual-bn",
            (false, true) => "every finished run diverged; lower training.learning_rate",
            (false, false) => "run the sweep first",
        };
        bail!(
            "no completed {kind}runs were found in {} ({diverged} diverged, {} planned runs \
             not finished): {hint}",
            sweep_dir.display(),
            results.missing.len(),
        );
    }

    if !results.missing.is_empty() {
        tracing::warn!(
            sweep = %sweep_dir.display(),
            unfinished = results.missing.len(),
            "the sweep has unfinished runs; they are left out of the analysis (rerun the sweep \
             to finish them)"
        );
    }

    let mut runs = Vec::with_capacity(completed.len());
    let mut without_weights = Vec::new();
    for record in completed {
        let model_path = dir.run(&record.summary.run_id).join(MODEL_FILE);
        if !model_path.is_file() {
            without_weights.push(model_path.clone());
        }
        runs.push(TrainedRun { record, model_path });
    }
    if !without_weights.is_empty() {
        let mut listed: Vec<String> = without_weights
            .iter()
            .take(MAX_LISTED_RUNS)
            .map(|path| path.display().to_string())
            .collect();
        if without_weights.len() > MAX_LISTED_RUNS {
            listed.push(format!(
                "and {} more",
                without_weights.len() - MAX_LISTED_RUNS
            ));
        }
        bail!(
            "{} of {} completed runs in {} have no trained network ({} not found: {}). They \
             were trained before weights were stored: delete their run folders and rerun the \
             sweep, or rerun the sweep into a new results folder, to retrain them",
            without_weights.len(),
            runs.len(),
            sweep_dir.display(),
            MODEL_FILE,
            listed.join(", ")
        );
    }
    Ok((results, runs))
}

/// Returns the random generator for the block sets of one run.
///
/// It depends on the analysis seed, the depth and the run's seed but not on the variant, so every
/// variant of one depth and seed gets the same sets of blocks and the variants are compared on
/// equal terms.
pub(crate) fn block_set_rng(seed: u64, depth: usize, run_seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((depth as u64) << 32) ^ run_seed);
    rng
}

/// Returns `draws` sets of `size` blocks out of `0..depth`, each sorted ascending.
///
/// When there are at most `draws` such sets, every one of them is returned once, in
/// lexicographic order, so that short and nearly full sets are measured exactly.
///
/// # Panics
///
/// If `size > depth`.
pub(crate) fn block_sets(
    depth: usize,
    size: usize,
    draws: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<usize>> {
    assert!(size <= depth, "a set of {size} blocks out of {depth}");
    let fits = crate::paths::binomial(depth, size).is_some_and(|count| count <= draws as u128);
    if fits {
        return all_block_sets(depth, size);
    }
    (0..draws)
        .map(|_| {
            let mut set = rand::seq::index::sample(rng, depth, size).into_vec();
            set.sort_unstable();
            set
        })
        .collect()
}

/// Returns every set of `size` blocks out of `0..depth`, in lexicographic order.
fn all_block_sets(depth: usize, size: usize) -> Vec<Vec<usize>> {
    let mut sets = Vec::new();
    let mut set: Vec<usize> = (0..size).collect();
    loop {
        sets.push(set.clone());
        // Advance the rightmost index that can still move right, and reset those after it.
        let Some(position) = (0..size).rev().find(|&i| set[i] < depth - size + i) else {
            return sets;
        };
        set[position] += 1;
        for i in position + 1..size {
            set[i] = set[i - 1] + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_sets_when_few() {
        let mut rng = block_set_rng(0, 4, 0);
        let sets = block_sets(4, 2, 10, &mut rng);
        let expected = vec![
            vec![0, 1],
            vec![0, 2],
            vec![0, 3],
            vec![1, 2],
            vec![1, 3],
            vec![2, 3],
        ];
        assert_eq!(sets, expected);
        assert_eq!(block_sets(4, 0, 10, &mut rng), vec![Vec::<usize>::new()]);
        assert_eq!(block_sets(4, 4, 10, &mut rng), vec![vec![0, 1, 2, 3]]);
    }

    #[test]
    fn random_sets_are_seeded() {
        let draw = |seed: u64| {
            let mut rng = block_set_rng(seed, 54, 1);
            block_sets(54, 20, 10, &mut rng)
        };
        let sets = draw(7);
        assert_eq!(sets.len(), 10);
        for set in &sets {
            assert_eq!(set.len(), 20);
            assert!(set.windows(2).all(|pair| pair[0] < pair[1]), "{set:?}");
            assert!(set.iter().all(|&block| block < 54), "{set:?}");
        }
        assert_eq!(draw(7), sets);
        assert_ne!(draw(8), sets);
    }
}
