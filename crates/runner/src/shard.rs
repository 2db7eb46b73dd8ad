//! Splitting a sweep's runs into shards, one per process, for clusters.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, Result, bail};

use crate::config::RunConfig;

/// Shard `index` of `count` (0-based): the runs one process trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Every run, in one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Returns the shard of this Slurm array task, from `SLURM_ARRAY_TASK_ID` and
    /// `SLURM_ARRAY_TASK_COUNT` (the array must be numbered 0 to count - 1).
    pub fn from_slurm_env() -> Result<Shard> {
        let read = |name: &str| -> Result<usize> {
            let value = std::env::var(name).with_context(|| {
                format!("{name} is not set: --shard slurm needs a Slurm job array")
            })?;
            value.parse().with_context(|| {
                format!("invalid {name}={value:?}: expected a non-negative integer")
            })
        };
        let index = read("SLURM_ARRAY_TASK_ID")?;
        let count = read("SLURM_ARRAY_TASK_COUNT")?;
        Shard::new(index, count).with_context(
            || "invalid Slurm array: number the tasks 0 to N-1, for example `sbatch --array=0-7`",
        )
    }

    /// Returns shard `index` of `count`, or an error unless `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 || index >= count {
            bail!("invalid shard {index}/{count}: expected I/N with N >= 1 and 0 <= I < N");
        }
        Ok(Shard { index, count })
    }

    /// Returns the runs of this shard.
    ///
    /// Runs are ordered by estimated cost (depth, then id) and dealt out in turn, so every shard
    /// gets a similar mix of deep and shallow runs. The split depends only on the runs, so all
    /// shards of one config agree on it and together cover every run exactly once.
    pub fn select(&self, runs: Vec<RunConfig>) -> Vec<RunConfig> {
        let mut ordered: Vec<(String, RunConfig)> =
            runs.into_iter().map(|run| (run.id(), run)).collect();
        ordered.sort_by(|(id_a, a), (id_b, b)| b.depth.cmp(&a.depth).then(id_a.cmp(id_b)));
        ordered
            .into_iter()
            .enumerate()
            .filter(|(position, _)| position % self.count == self.index)
            .map(|(_, (_, run))| run)
            .collect()
    }
}

impl FromStr for Shard {
    type Err = anyhow::Error;

    /// Parses `I/N` (0-based) or `slurm` (from the Slurm array environment).
    fn from_str(text: &str) -> Result<Shard> {
        if text == "slurm" {
            return Shard::from_slurm_env();
        }
        let Some((index, count)) = text.split_once('/') else {
            bail!("invalid shard {text:?}: expected I/N, for example 0/4, or `slurm`");
        };
        let parse = |part: &str| -> Result<usize> {
            part.trim()
                .parse()
                .with_context(|| format!("invalid shard {text:?}: expected I/N, for example 0/4"))
        };
        Shard::new(parse(index)?, parse(count)?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SweepConfig;
    use std::path::Path;

    fn runs() -> Vec<RunConfig> {
        let text = "[dataset]\nname = \"mnist1d\"\n[model]\nfamily = \"mlp\"\nwidth = 8\n\
                    [sweep]\nvariants = [\"plain\", \"residual-bn\"]\ndepths = [1, 2, 4, 8, 16]\n\
                    seeds = [0, 1, 2]\n[training]\nlearning_rate = 0.1\nbatch_size = 10\n\
                    num_epochs = 1\n";
        SweepConfig::parse(text, Path::new("shard.toml"))
            .unwrap()
            .runs()
    }

    #[test]
    fn shards_cover_every_run_once() {
        let all: Vec<String> = runs().iter().map(RunConfig::id).collect();
        for count in 1..=7 {
            let mut covered: Vec<String> = (0..count)
                .flat_map(|index| Shard::new(index, count).unwrap().select(runs()))
                .map(|run| run.id())
                .collect();
            assert_eq!(covered.len(), all.len(), "{count} shards");
            covered.sort();
            covered.dedup();
            assert_eq!(
                covered.len(),
                all.len(),
                "{count} shards: a run appears twice"
            );
        }
    }

    #[test]
    fn shards_balance_depth() {
        let depth_sum = |index| {
            let shard = Shard::new(index, 3).unwrap();
            shard
                .select(runs())
                .iter()
                .map(|run| run.depth)
                .sum::<usize>()
        };
        let sums = [depth_sum(0), depth_sum(1), depth_sum(2)];
        let max = *sums.iter().max().unwrap();
        let min = *sums.iter().min().unwrap();
        // 30 runs with depths summing to 186: each shard gets 62, give or take one deep run.
        assert!(max - min <= 16, "depth sums per shard {sums:?}");
    }

    #[test]
    fn shard_parses_and_rejects() {
        assert_eq!(
            "2/5".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 5 }
        );
        for text in ["5/5", "1/0", "a/3", "3", "-1/3"] {
            let error = text.parse::<Shard>().unwrap_err().to_string();
            assert!(error.contains("invalid shard"), "{text}: {error}");
        }
    }
}
