//! Training and test error against epoch, one panel per variant and one line per depth.

use std::collections::BTreeMap;

use model::Variant;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    AXIS_DESC_SIZE, CAPTION_SIZE, Chart, DASH, DrawResult, GAP, Key, LABEL_SIZE, LEGEND_HEIGHT,
    TITLE_SIZE, depth_colour, draw_legend, percent_axis_max, sweep_title, text_style,
    variant_colour,
};
use crate::config::SweepConfig;
use crate::results::{RunRecord, RunStatus};
use crate::table::SummaryRow;

/// Mean errors (%) of one variant and depth per epoch.
struct DepthCurve {
    depth: usize,
    /// `(epoch, training error %)`, mean over the runs that reached the epoch.
    train_error: Vec<(usize, f64)>,
    /// `(epoch, test error %)`, mean over the runs that reached the epoch.
    test_error: Vec<(usize, f64)>,
    /// `(epoch, training error %)` at the last recorded epoch of each diverged run.
    diverged_ends: Vec<(usize, f64)>,
}

impl DepthCurve {
    fn new(depth: usize, runs: &[&RunRecord]) -> Self {
        // Sums of training and test errors and run count per epoch.
        let mut sums: BTreeMap<usize, (f64, f64, usize)> = BTreeMap::new();
        for metrics in runs.iter().flat_map(|run| &run.metrics) {
            if !(metrics.train_error.is_finite() && metrics.test_error.is_finite()) {
                continue;
            }
            let sum = sums.entry(metrics.epoch).or_default();
            sum.0 += metrics.train_error;
            sum.1 += metrics.test_error;
            sum.2 += 1;
        }
        let mean = |sum: f64, count: usize| sum / count as f64 * 100.0;
        let train_error = sums
            .iter()
            .map(|(&epoch, &(train, _, count))| (epoch, mean(train, count)))
            .collect();
        let test_error = sums
            .iter()
            .map(|(&epoch, &(_, test, count))| (epoch, mean(test, count)))
            .collect();

        let diverged_ends = runs
            .iter()
            .filter(|run| run.summary.status == RunStatus::Diverged)
            .filter_map(|run| run.metrics.last())
            .filter(|metrics| metrics.train_error.is_finite())
            .map(|metrics| (metrics.epoch, metrics.train_error * 100.0))
            .collect();
        Self {
            depth,
            train_error,
            test_error,
            diverged_ends,
        }
    }
}

struct Panel {
    variant: Variant,
    curves: Vec<DepthCurve>,
}

/// One panel per variant with finished runs, in a grid of two columns.
pub(super) struct TrainingCurves {
    title: String,
    /// Last epoch of any run.
    last_epoch: usize,
    /// Depths with finished runs, ascending. A depth's colour depends on its position here.
    depths: Vec<usize>,
    panels: Vec<Panel>,
}

impl TrainingCurves {
    pub(super) fn new(sweep: &SweepConfig, rows: &[SummaryRow]) -> Self {
        let mut panels: Vec<Panel> = Vec::new();
        for row in rows.iter().filter(|row| !row.runs.is_empty()) {
            let curve = DepthCurve::new(row.depth, &row.runs);
            // Rows come sorted by variant, then depth.
            match panels.last_mut() {
                Some(panel) if panel.variant == row.variant => panel.curves.push(curve),
                _ => panels.push(Panel {
                    variant: row.variant,
                    curves: vec![curve],
                }),
            }
        }
        let mut depths: Vec<usize> = panels
            .iter()
            .flat_map(|panel| panel.curves.iter().map(|curve| curve.depth))
            .collect();
        depths.sort_unstable();
        depths.dedup();
        let last_epoch = rows
            .iter()
            .flat_map(|row| &row.runs)
            .flat_map(|run| run.metrics.last())
            .map(|metrics| metrics.epoch)
            .max()
            .unwrap_or(0);
        Self {
            title: format!("Training curves, {}", sweep_title(sweep)),
            last_epoch,
            depths,
            panels,
        }
    }

    /// Returns the colour of a depth: viridis from dark (shallow) to light (deep).
    fn depth_colour(&self, depth: usize) -> RGBColor {
        depth_colour(&self.depths, depth)
    }

    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &Panel,
        percent_max: f64,
    ) -> DrawResult<DB> {
        let caption_colour = variant_colour(panel.variant);
        let caption_style = text_style(CAPTION_SIZE).color(&caption_colour);
        let mut chart = ChartBuilder::on(area)
            .caption(panel.variant.name(), caption_style)
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0..self.last_epoch.max(1), 0.0..percent_max)?;
        chart
            .configure_mesh()
            .x_desc("epoch (0: at initialisation)")
            .y_desc("error (%)")
            .y_label_formatter(&|percent| format!("{percent:.0}"))
            .axis_desc_style(text_style(AXIS_DESC_SIZE))
            .label_style(text_style(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;

        for curve in &panel.curves {
            let colour = self.depth_colour(curve.depth);
            let style = colour.stroke_width(2);
            chart.draw_series(LineSeries::new(curve.train_error.clone(), style))?;
            let dashed = DashedLineSeries::new(curve.test_error.clone(), DASH, GAP, style);
            chart.draw_series(dashed)?;
            let crosses = curve
                .diverged_ends
                .iter()
                .map(|&end| Cross::new(end, 7, style));
            chart.draw_series(crosses)?;
        }
        Ok(())
    }

    /// Returns the legend entries: one per depth, then the line styles.
    fn legend_entries(&self) -> Vec<(Key, String)> {
        let mut entries: Vec<(Key, String)> = self
            .depths
            .iter()
            .map(|&depth| {
                (
                    Key::Line(self.depth_colour(depth)),
                    format!("depth {depth}"),
                )
            })
            .collect();
        entries.push((Key::Line(BLACK), "training error".to_string()));
        entries.push((Key::Dashed(BLACK), "test error".to_string()));
        let mut curves = self.panels.iter().flat_map(|panel| &panel.curves);
        if curves.any(|curve| !curve.diverged_ends.is_empty()) {
            entries.push((Key::Cross(BLACK), "diverged run, last epoch".to_string()));
        }
        entries
    }
}

impl Chart for TrainingCurves {
    const NAME: &'static str = "training_curves";
    const SIZE: (u32, u32) = (1200, 900);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let area = root.titled(&self.title, text_style(TITLE_SIZE))?;
        let height = area.dim_in_pixel().1 as i32;
        let (area, legend_area) = area.split_vertically(height - LEGEND_HEIGHT);
        draw_legend(&legend_area, &self.legend_entries())?;

        let columns = if self.panels.len() > 1 { 2 } else { 1 };
        let grid_rows = self.panels.len().div_ceil(columns).max(1);
        let cells = area.split_evenly((grid_rows, columns));

        let max_error = self
            .panels
            .iter()
            .flat_map(|panel| &panel.curves)
            .flat_map(|curve| curve.train_error.iter().chain(&curve.test_error))
            .map(|&(_, percent)| percent)
            .fold(0.0, f64::max);
        let percent_max = percent_axis_max(max_error);
        for (panel, cell) in self.panels.iter().zip(&cells) {
            self.draw_panel(cell, panel, percent_max)?;
        }
        Ok(())
    }
}
