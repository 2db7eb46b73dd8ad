//! Standard deviation of the activations `h_k` at initialisation against layer index `k`.

use model::Variant;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    AXIS_DESC_SIZE, CAPTION_SIZE, Chart, DASH, DrawResult, GAP, LABEL_SIZE, LEGEND_LINE,
    LEGEND_SIZE, REFERENCE_COLOUR, TITLE_SIZE, format_log_tick, log_ticks, sweep_title, text_style,
    variant_colour,
};
use crate::config::SweepConfig;
use crate::table::SummaryRow;

/// Lines with more layers than this are drawn without point markers.
const MAX_MARKED_LAYERS: usize = 40;

/// One line per variant at the deepest depth with finished runs, on a log scale.
pub(super) struct Activations {
    title: String,
    /// Deepest depth with finished runs. The x axis runs over `0..=depth`.
    depth: usize,
    /// Layer index and std (geometric mean over seeds), finite and positive, per variant.
    lines: Vec<(Variant, Vec<(usize, f64)>)>,
    /// Growth of a residual stream whose variance doubles per block, from the residual
    /// variant's `h_0`.
    reference: Option<Vec<(usize, f64)>>,
}

impl Activations {
    pub(super) fn new(sweep: &SweepConfig, rows: &[SummaryRow]) -> Self {
        let finished = rows.iter().filter(|row| !row.runs.is_empty());
        let depth = finished.map(|row| row.depth).max().unwrap_or(1);

        let mut lines = Vec::new();
        for row in rows
            .iter()
            .filter(|row| row.depth == depth && !row.runs.is_empty())
        {
            let points: Vec<(usize, f64)> = row
                .activation_std
                .iter()
                .enumerate()
                .filter_map(|(layer, std)| std.map(|std| (layer, std)))
                .collect();
            if points.is_empty() {
                tracing::warn!(
                    "variant {} at depth {depth} has no finite positive activation std; \
                     it is left off the activation chart",
                    row.variant
                );
                continue;
            }
            lines.push((row.variant, points));
        }

        let residual_start = lines
            .iter()
            .find(|(variant, _)| *variant == Variant::Residual)
            .and_then(|(_, points)| points.first().copied())
            .filter(|&(layer, _)| layer == 0);
        let reference = residual_start.map(|(_, std_0)| {
            let growth = |layer: usize| std_0 * 2_f64.sqrt().powi(layer as i32);
            (0..=depth).map(|layer| (layer, growth(layer))).collect()
        });

        Self {
            title: format!(
                "Activation std at initialisation, depth {depth}, {}",
                sweep_title(sweep)
            ),
            depth,
            lines,
            reference,
        }
    }

    /// Returns the y range: the stds with a factor of 2 of margin each side (so that the axis
    /// always has at least two ticks), or 0.1 to 10 when there is none.
    fn std_range(&self) -> std::ops::Range<f64> {
        let values = self
            .lines
            .iter()
            .flat_map(|(_, points)| points)
            .chain(self.reference.iter().flatten())
            .map(|&(_, std)| std);
        let low = values.clone().fold(f64::INFINITY, f64::min);
        let high = values.fold(f64::NEG_INFINITY, f64::max);
        if low.is_finite() && high.is_finite() {
            low / 2.0..high * 2.0
        } else {
            0.1..10.0
        }
    }
}

impl Chart for Activations {
    const NAME: &'static str = "activations_at_init";
    const SIZE: (u32, u32) = (900, 600);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let area = root.titled(&self.title, text_style(TITLE_SIZE))?;
        let std_range = self.std_range();
        let ticks = log_ticks(std_range.start, std_range.end);
        let mut chart = ChartBuilder::on(&area)
            .caption(
                "Geometric mean over seeds, batch norm in train mode",
                text_style(CAPTION_SIZE),
            )
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(75)
            .build_cartesian_2d(
                0..self.depth,
                std_range.clone().log_scale().with_key_points(ticks),
            )?;
        chart
            .configure_mesh()
            .x_desc("layer k (0: stem output, k: output of block k)")
            .y_desc("std of activations h_k (log scale)")
            .y_label_formatter(&format_log_tick)
            .axis_desc_style(text_style(AXIS_DESC_SIZE))
            .label_style(text_style(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;

        if self.lines.is_empty() {
            let centre = (self.depth / 2, (std_range.start * std_range.end).sqrt());
            let style = text_style(AXIS_DESC_SIZE).pos(Pos::new(HPos::Center, VPos::Center));
            let message = Text::new("no finite positive activation std to show", centre, style);
            chart.draw_series(std::iter::once(message))?;
        }

        if let Some(reference) = &self.reference {
            let style = REFERENCE_COLOUR.stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new(reference.clone(), DASH, GAP, style))?
                .label("×√2 per block (variance doubles)")
                .legend(move |(x, y)| {
                    DashedPathElement::new(vec![(x, y), (x + LEGEND_LINE, y)], DASH, GAP, style)
                });
        }

        for (variant, points) in &self.lines {
            let colour = variant_colour(*variant);
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                .label(variant.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + LEGEND_LINE, y)], colour.stroke_width(2))
                });
            if points.len() <= MAX_MARKED_LAYERS {
                let markers = points
                    .iter()
                    .map(|&point| Circle::new(point, 3, colour.filled()));
                chart.draw_series(markers)?;
            }
        }

        if self.lines.is_empty() {
            return Ok(());
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(text_style(LEGEND_SIZE))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        Ok(())
    }
}
