//! Final training and test error against depth, one line per variant.

use std::ops::Range;

use model::Variant;
use plotters::coord::Shift;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{
    AXIS_DESC_SIZE, CAPTION_SIZE, Chart, DASH, DrawResult, GAP, Key, LABEL_SIZE, LEGEND_HEIGHT,
    REFERENCE_COLOUR, TITLE_SIZE, draw_legend, percent_axis_max, sweep_title, text_style,
    variant_colour,
};
use crate::config::{Family, SweepConfig};
use crate::table::{CHANCE_ERROR, Spread, SummaryRow};

/// The final errors of one variant and depth with finished runs.
struct DepthPoint {
    depth: usize,
    train_error: Spread,
    test_error: Spread,
    diverged: usize,
}

struct VariantLine {
    variant: Variant,
    /// Depths ascending.
    points: Vec<DepthPoint>,
}

/// Two panels, final training error and final test error against depth.
pub(super) struct Degradation {
    title: String,
    /// Axis label, naming the unit of depth: blocks (MLP) or weighted layers (CNN).
    depth_axis_label: &'static str,
    /// Depths with at least one finished run, ascending.
    depths: Vec<usize>,
    lines: Vec<VariantLine>,
}

impl Degradation {
    pub(super) fn new(sweep: &SweepConfig, rows: &[SummaryRow]) -> Self {
        let mut lines: Vec<VariantLine> = Vec::new();
        for row in rows {
            let (Some(train_error), Some(test_error)) =
                (row.final_train_error, row.final_test_error)
            else {
                continue;
            };
            let point = DepthPoint {
                depth: row.depth,
                train_error,
                test_error,
                diverged: row.diverged(),
            };
            // Rows come sorted by variant, then depth.
            match lines.last_mut() {
                Some(line) if line.variant == row.variant => line.points.push(point),
                _ => lines.push(VariantLine {
                    variant: row.variant,
                    points: vec![point],
                }),
            }
        }
        let mut depths: Vec<usize> = lines
            .iter()
            .flat_map(|line| line.points.iter().map(|point| point.depth))
            .collect();
        depths.sort_unstable();
        depths.dedup();
        Self {
            title: format!("Final error against depth, {}", sweep_title(sweep)),
            depth_axis_label: match sweep.family {
                Family::Mlp => "depth (blocks, log scale)",
                Family::Cnn => "depth (weighted layers, log scale)",
            },
            depths,
            lines,
        }
    }

    fn any_diverged(&self) -> bool {
        let mut points = self.lines.iter().flat_map(|line| &line.points);
        points.any(|point| point.diverged > 0)
    }

    /// Returns the x range: the depths with a margin on each side, in log scale.
    fn depth_range(&self) -> Range<f64> {
        let low = *self.depths.first().unwrap_or(&1) as f64;
        let high = *self.depths.last().unwrap_or(&1) as f64;
        // A quarter octave of margin, or half an octave each side of a single depth.
        let margin = if low == high {
            2_f64.sqrt()
        } else {
            2_f64.powf(0.25)
        };
        low / margin..high * margin
    }

    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        split: Split,
        percent_max: f64,
    ) -> DrawResult<DB> {
        let depth_range = self.depth_range();
        let depth_ticks: Vec<f64> = self.depths.iter().map(|&depth| depth as f64).collect();
        let mut chart = ChartBuilder::on(area)
            .caption(split.caption(), text_style(CAPTION_SIZE))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(65)
            .build_cartesian_2d(
                depth_range.clone().log_scale().with_key_points(depth_ticks),
                0.0..percent_max,
            )?;
        chart
            .configure_mesh()
            .x_desc(self.depth_axis_label)
            .y_desc(split.axis_desc())
            .x_label_formatter(&|depth| format!("{depth:.0}"))
            .y_label_formatter(&|percent| format!("{percent:.0}"))
            .axis_desc_style(text_style(AXIS_DESC_SIZE))
            .label_style(text_style(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;

        if self.any_diverged() {
            draw_chance_line(&mut chart, depth_range)?;
        }
        for line in &self.lines {
            draw_variant(&mut chart, line, split)?;
        }
        Ok(())
    }

    fn legend_entries(&self) -> Vec<(Key, String)> {
        let mut entries: Vec<(Key, String)> = self
            .lines
            .iter()
            .map(|line| {
                let colour = variant_colour(line.variant);
                (Key::Line(colour), line.variant.name().to_string())
            })
            .collect();
        if self.any_diverged() {
            let chance_percent = CHANCE_ERROR * 100.0;
            let chance = format!("chance level ({chance_percent:.0}%)");
            entries.push((Key::Dashed(REFERENCE_COLOUR), chance));
            let diverged = "diverged run (counted at chance)".to_string();
            entries.push((Key::Cross(REFERENCE_COLOUR), diverged));
        }
        entries
    }
}

/// A panel's chart: depth on a log axis with the depths as ticks, error in %.
type DepthChart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<WithKeyPoints<LogCoord<f64>>, RangedCoordf64>>;

/// Draws a dashed line at chance level across the panel.
fn draw_chance_line<DB: DrawingBackend>(
    chart: &mut DepthChart<'_, DB>,
    depth_range: Range<f64>,
) -> DrawResult<DB> {
    let chance_percent = CHANCE_ERROR * 100.0;
    let chance_line = [
        (depth_range.start, chance_percent),
        (depth_range.end, chance_percent),
    ];
    let style = REFERENCE_COLOUR.stroke_width(1);
    chart.draw_series(DashedLineSeries::new(chance_line, DASH, GAP, style))?;
    Ok(())
}

/// Draws one variant: the min–max band, the line of means with markers, and a cross at chance
/// level for each depth with diverged runs.
fn draw_variant<DB: DrawingBackend>(
    chart: &mut DepthChart<'_, DB>,
    line: &VariantLine,
    split: Split,
) -> DrawResult<DB> {
    let colour = variant_colour(line.variant);
    let percent = |point: &DepthPoint| {
        let spread = split.spread(point);
        (point.depth as f64, spread.mean * 100.0)
    };

    // Min–max band over seeds: a polygon across depths, a bar at a single depth.
    if line.points.len() >= 2 {
        let upper = line
            .points
            .iter()
            .map(|point| (point.depth as f64, split.spread(point).max * 100.0));
        let lower = line
            .points
            .iter()
            .rev()
            .map(|point| (point.depth as f64, split.spread(point).min * 100.0));
        let band: Vec<(f64, f64)> = upper.chain(lower).collect();
        chart.draw_series(std::iter::once(Polygon::new(band, colour.mix(0.15))))?;
    } else {
        let bars = line.points.iter().map(|point| {
            let spread = split.spread(point);
            let depth = point.depth as f64;
            let ends = vec![(depth, spread.min * 100.0), (depth, spread.max * 100.0)];
            PathElement::new(ends, colour.mix(0.35).stroke_width(6))
        });
        chart.draw_series(bars)?;
    }

    let means = line.points.iter().map(percent);
    chart.draw_series(LineSeries::new(means, colour.stroke_width(2)))?;
    let markers = line
        .points
        .iter()
        .map(|point| Circle::new(percent(point), 4, colour.filled()));
    chart.draw_series(markers)?;

    // Crosses at chance level, shifted a little per variant so that they do not overlap.
    let index = Variant::ALL
        .iter()
        .position(|&variant| variant == line.variant);
    let shift = 2_f64.powf((index.unwrap_or(0) as f64 - 1.5) * 0.04);
    let chance_percent = CHANCE_ERROR * 100.0;
    let crosses = line
        .points
        .iter()
        .filter(|point| point.diverged > 0)
        .map(|point| {
            let depth = point.depth as f64 * shift;
            Cross::new((depth, chance_percent), 7, colour.stroke_width(2))
        });
    chart.draw_series(crosses)?;
    Ok(())
}

/// The final error a panel shows: training or test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    Train,
    Test,
}

impl Split {
    fn spread(self, point: &DepthPoint) -> Spread {
        match self {
            Split::Train => point.train_error,
            Split::Test => point.test_error,
        }
    }

    fn caption(self) -> &'static str {
        match self {
            Split::Train => "Training error: mean over seeds, shaded min–max",
            Split::Test => "Test error: mean over seeds, shaded min–max",
        }
    }

    fn axis_desc(self) -> &'static str {
        match self {
            Split::Train => "final training error (%)",
            Split::Test => "final test error (%)",
        }
    }
}

impl Chart for Degradation {
    const NAME: &'static str = "degradation";
    const SIZE: (u32, u32) = (1200, 550);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let area = root.titled(&self.title, text_style(TITLE_SIZE))?;
        let height = area.dim_in_pixel().1 as i32;
        let (area, legend_area) = area.split_vertically(height - LEGEND_HEIGHT);
        draw_legend(&legend_area, &self.legend_entries())?;
        let panels = area.split_evenly((1, 2));

        let max_error = self
            .lines
            .iter()
            .flat_map(|line| &line.points)
            .map(|point| point.train_error.max.max(point.test_error.max))
            .fold(0.0, f64::max);
        let percent_max = percent_axis_max(max_error * 100.0);
        self.draw_panel(&panels[0], Split::Train, percent_max)?;
        self.draw_panel(&panels[1], Split::Test, percent_max)?;
        Ok(())
    }
}
