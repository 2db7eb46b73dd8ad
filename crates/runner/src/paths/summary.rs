//! Path gradients aggregated over seeds, and `summary.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use model::Variant;

use super::{PathGradient, PathsResults, path_length_fractions, relative_log_counts};

/// The network a path gradient was measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Trained, batch norm with running statistics.
    Trained,
    /// At initialisation, batch norm with the statistics of the batch.
    Init,
}

impl State {
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Trained => "trained",
            State::Init => "at init",
        }
    }
}

/// The path gradients of one variant, depth and state, over seeds.
#[derive(Debug, Clone)]
pub(crate) struct PathRow {
    pub variant: Variant,
    pub depth: usize,
    pub state: State,
    /// Runs with at least one finite, positive magnitude.
    pub runs: usize,
    /// Index `k`: gradient magnitude of one path of length `k`, mean over runs. `None` where no
    /// run has a finite, positive value.
    pub magnitude: Vec<Option<f64>>,
    /// Index `k`: share of the total gradient carried by all paths of length `k`, mean over
    /// runs. Sums to 1.
    pub share: Vec<f64>,
}

/// Aggregates the runs per variant and depth (variants in [`Variant::ALL`] order, then depths
/// ascending), trained before at initialisation. Groups without a usable run are left out.
pub(crate) fn path_rows(results: &PathsResults) -> Vec<PathRow> {
    let mut groups: BTreeMap<(Variant, usize), Vec<&super::RunPathGradients>> = BTreeMap::new();
    for run in &results.runs {
        groups
            .entry((run.variant, run.depth))
            .or_default()
            .push(run);
    }
    let mut rows = Vec::new();
    for ((variant, depth), runs) in groups {
        for state in [State::Trained, State::Init] {
            let measured = runs.iter().map(|run| match state {
                State::Trained => &run.trained,
                State::Init => &run.init,
            });
            if let Some(row) = aggregate(variant, depth, state, measured) {
                rows.push(row);
            }
        }
    }
    rows
}

fn aggregate<'a>(
    variant: Variant,
    depth: usize,
    state: State,
    runs: impl Iterator<Item = &'a Vec<PathGradient>>,
) -> Option<PathRow> {
    let mut magnitude_sums = vec![0.0; depth + 1];
    let mut magnitude_counts = vec![0_usize; depth + 1];
    let mut share_sums = vec![0.0; depth + 1];
    let mut count = 0;
    for gradients in runs {
        let Some(shares) = gradient_shares(gradients, depth) else {
            continue;
        };
        for gradient in gradients.iter().filter(|g| g.path_length <= depth) {
            if let Some(magnitude) = usable(gradient) {
                magnitude_sums[gradient.path_length] += magnitude;
                magnitude_counts[gradient.path_length] += 1;
            }
        }
        for (sum, share) in share_sums.iter_mut().zip(shares) {
            *sum += share;
        }
        count += 1;
    }
    if count == 0 {
        return None;
    }
    let magnitude = magnitude_sums
        .iter()
        .zip(&magnitude_counts)
        .map(|(&sum, &n)| (n > 0).then(|| sum / n as f64))
        .collect();
    let share = share_sums.iter().map(|sum| sum / count as f64).collect();
    Some(PathRow {
        variant,
        depth,
        state,
        runs: count,
        magnitude,
        share,
    })
}

/// Returns a magnitude that a log scale can show: finite and positive.
fn usable(gradient: &PathGradient) -> Option<f64> {
    gradient
        .magnitude
        .filter(|magnitude| magnitude.is_finite() && *magnitude > 0.0)
}

/// Returns the share of the total gradient carried by the paths of each length `0..=depth`:
/// `C(depth, k)` times the magnitude per path, normalised to sum 1. Lengths without a usable
/// magnitude get 0. `None` when no length has one.
///
/// Computed in log space, because `C(depth, k)` and the magnitudes each span hundreds of orders
/// of magnitude in deep networks.
pub(crate) fn gradient_shares(gradients: &[PathGradient], depth: usize) -> Option<Vec<f64>> {
    let log_counts = relative_log_counts(depth);
    let mut log_weights = vec![f64::NEG_INFINITY; depth + 1];
    for gradient in gradients.iter().filter(|g| g.path_length <= depth) {
        if let Some(magnitude) = usable(gradient) {
            let k = gradient.path_length;
            log_weights[k] = magnitude.ln() + log_counts[k];
        }
    }
    let max = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return None;
    }
    let weights: Vec<f64> = log_weights.iter().map(|w| (w - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    Some(weights.iter().map(|w| w / total).collect())
}

/// Returns the shortest range `first..=last` of indices whose shares sum to at least `mass`.
/// Among equally short ranges, it returns the one with the largest sum.
pub(crate) fn shortest_range(shares: &[f64], mass: f64) -> (usize, usize) {
    // Rounding can leave a total a little below `mass` when `mass` is 1.
    const TOLERANCE: f64 = 1e-12;
    let mut prefix = vec![0.0; shares.len() + 1];
    for (i, share) in shares.iter().enumerate() {
        prefix[i + 1] = prefix[i] + share;
    }
    let mut best = (0, shares.len().saturating_sub(1));
    let mut best_len = usize::MAX;
    let mut best_sum = f64::NEG_INFINITY;
    for first in 0..shares.len() {
        for last in first..shares.len() {
            let sum = prefix[last + 1] - prefix[first];
            if sum + TOLERANCE < mass {
                continue;
            }
            let len = last - first + 1;
            if len < best_len || (len == best_len && sum > best_sum) {
                best = (first, last);
                best_len = len;
                best_sum = sum;
            }
            break;
        }
    }
    best
}

/// Returns the mean of `k` weighted by `shares[k]`.
pub(crate) fn mean_length(shares: &[f64]) -> f64 {
    let total: f64 = shares.iter().sum();
    let weighted: f64 = shares.iter().enumerate().map(|(k, s)| k as f64 * s).sum();
    weighted / total
}

/// Returns the index of the largest share.
fn largest_share(shares: &[f64]) -> usize {
    let mut best = 0;
    for (k, share) in shares.iter().enumerate() {
        if *share > shares[best] {
            best = k;
        }
    }
    best
}

fn format_range((first, last): (usize, usize)) -> String {
    match first == last {
        true => first.to_string(),
        false => format!("{first}–{last}"),
    }
}

/// Returns `summary.md`: per variant, depth and state, where the gradient mass lies.
pub(crate) fn markdown(results: &PathsResults, rows: &[PathRow]) -> String {
    let mut text = String::new();
    writeln!(text, "# Path gradients, sweep {}\n", results.sweep.name).unwrap();
    writeln!(
        text,
        "Gradient of the loss at the first block's input h_0, carried by the paths of each \
         length k (the number of residual branches a path goes through), on the first {} test \
         samples. Each length is measured on {} random sets of k blocks, or on all sets where \
         there are fewer. The paths of length k carry C(n, k) x (magnitude per path) of the \
         total, a share averaged over seeds. Trained networks run batch norm in eval mode, \
         networks at initialisation in train mode. \"Shortest range\" is the shortest range \
         of path lengths holding that share of the total gradient. The last two columns give \
         the same ranges for the number of paths, C(n, k) / 2^n, for comparison. A run whose \
         gradient is zero at every length (a network that outputs the same logits for every \
         input) is left out of its row and of the runs it counts.\n",
        results.samples, results.draws
    )
    .unwrap();
    text.push_str(
        "| variant | depth n | network | runs | largest share at length | mean length \
         | shortest range, 50 % of gradient | shortest range, 90 % of gradient \
         | 50 % of paths | 90 % of paths |\n",
    );
    text.push_str("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let fractions = path_length_fractions(row.depth);
        writeln!(
            text,
            "| {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} |",
            row.variant,
            row.depth,
            row.state.name(),
            row.runs,
            largest_share(&row.share),
            mean_length(&row.share),
            format_range(shortest_range(&row.share, 0.5)),
            format_range(shortest_range(&row.share, 0.9)),
            format_range(shortest_range(&fractions, 0.5)),
            format_range(shortest_range(&fractions, 0.9)),
        )
        .unwrap();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(path_length: usize, magnitude: f64) -> PathGradient {
        PathGradient {
            path_length,
            sets: 1,
            magnitude: Some(magnitude),
        }
    }

    #[test]
    fn shares_weight_magnitudes_by_path_counts() {
        // Four blocks: 1, 4, 6, 4, 1 paths, with magnitudes 8, 4, 2, 1, 0.5 per path.
        let gradients: Vec<PathGradient> = [8.0, 4.0, 2.0, 1.0, 0.5]
            .iter()
            .enumerate()
            .map(|(k, &m)| gradient(k, m))
            .collect();
        let shares = gradient_shares(&gradients, 4).unwrap();
        let weights = [8.0, 16.0, 12.0, 4.0, 0.5];
        let total: f64 = weights.iter().sum();
        for (k, (share, weight)) in shares.iter().zip(weights).enumerate() {
            assert!((share - weight / total).abs() < 1e-12, "k = {k}: {share}");
        }
    }

    #[test]
    fn unusable_magnitudes_get_no_share() {
        let gradients = vec![
            gradient(0, 1.0),
            PathGradient {
                path_length: 1,
                sets: 1,
                magnitude: None,
            },
            gradient(2, 0.0),
        ];
        let shares = gradient_shares(&gradients, 2).unwrap();
        assert_eq!(shares, vec![1.0, 0.0, 0.0]);
        let none = vec![gradient(0, 0.0)];
        assert_eq!(gradient_shares(&none, 2), None);
    }

    #[test]
    fn shortest_range_holds_the_mass() {
        let shares = [0.05, 0.1, 0.4, 0.3, 0.1, 0.05];
        assert_eq!(shortest_range(&shares, 0.5), (2, 3));
        assert_eq!(shortest_range(&shares, 0.9), (1, 4));
        assert_eq!(shortest_range(&shares, 0.4), (2, 2));
        assert_eq!(shortest_range(&shares, 1.0), (0, 5));
        // Ties in length go to the larger sum.
        assert_eq!(shortest_range(&[0.3, 0.2, 0.5], 0.5), (2, 2));
    }

    #[test]
    fn binomial_range_is_minimal() {
        let fractions = path_length_fractions(54);
        let (first, last) = shortest_range(&fractions, 0.5);
        let sum = |first: usize, last: usize| fractions[first..=last].iter().sum::<f64>();
        assert!(first <= 27, "{first}–{last}");
        assert!(last >= 27, "{first}–{last}");
        assert!(sum(first, last) >= 0.5, "{first}–{last}");
        assert!(sum(first + 1, last) < 0.5, "{first}–{last} is not minimal");
        assert!(sum(first, last - 1) < 0.5, "{first}–{last} is not minimal");
        assert!((mean_length(&fractions) - 27.0).abs() < 1e-9);
    }
}
