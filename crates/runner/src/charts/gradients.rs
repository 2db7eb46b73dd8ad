//! Gradient norms at initialisation against layer: weights and activations.

use model::Variant;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    AXIS_DESC_SIZE, CAPTION_SIZE, Chart, DrawResult, Key, LABEL_SIZE, LEGEND_HEIGHT, TITLE_SIZE,
    draw_legend, format_log_tick, log_ticks, sweep_title, text_style, variant_colour,
};
use crate::config::SweepConfig;
use crate::table::SummaryRow;

/// A panel's line: layer index and gradient norm (geometric mean over seeds) per variant.
type Lines = Vec<(Variant, Vec<(usize, f64)>)>;

/// Two panels at the deepest depth with finished runs: the gradient norm of each linear layer's
/// weight, and of each activation `h_k`, one line per variant, on log scales.
pub(super) struct Gradients {
    title: String,
    depth: usize,
    weight_lines: Lines,
    activation_lines: Lines,
}

/// Returns the finite positive values of `values` with their indices.
fn points(values: &[Option<f64>]) -> Vec<(usize, f64)> {
    let present = values.iter().enumerate();
    present
        .filter_map(|(layer, value)| value.map(|value| (layer, value)))
        .collect()
}

impl Gradients {
    pub(super) fn new(sweep: &SweepConfig, rows: &[SummaryRow]) -> Self {
        let finished = rows.iter().filter(|row| !row.runs.is_empty());
        let depth = finished.map(|row| row.depth).max().unwrap_or(1);
        let deepest = rows
            .iter()
            .filter(|row| row.depth == depth && !row.runs.is_empty());

        let mut weight_lines = Vec::new();
        let mut activation_lines = Vec::new();
        for row in deepest {
            let weights = points(&row.weight_grad_norm);
            if !weights.is_empty() {
                weight_lines.push((row.variant, weights));
            }
            let activations = points(&row.activation_grad_norm);
            if !activations.is_empty() {
                activation_lines.push((row.variant, activations));
            }
        }
        Self {
            title: format!(
                "Gradient norms at initialisation, depth {depth}, {}",
                sweep_title(sweep)
            ),
            depth,
            weight_lines,
            activation_lines,
        }
    }

    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        lines: &Lines,
        caption: &str,
        x_desc: &str,
        x_max: usize,
    ) -> DrawResult<DB> {
        let values = lines
            .iter()
            .flat_map(|(_, points)| points)
            .map(|&(_, norm)| norm);
        let low = values.clone().fold(f64::INFINITY, f64::min);
        let high = values.fold(f64::NEG_INFINITY, f64::max);
        let range = if low.is_finite() && high.is_finite() {
            low / 2.0..high * 2.0
        } else {
            0.1..10.0
        };
        let ticks = log_ticks(range.start, range.end);
        let mut chart = ChartBuilder::on(area)
            .caption(caption, text_style(CAPTION_SIZE))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(75)
            .build_cartesian_2d(0..x_max, range.log_scale().with_key_points(ticks))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("gradient norm (log scale)")
            .y_label_formatter(&format_log_tick)
            .axis_desc_style(text_style(AXIS_DESC_SIZE))
            .label_style(text_style(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;
        for (variant, points) in lines {
            let colour = variant_colour(*variant);
            chart.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?;
        }
        Ok(())
    }
}

impl Chart for Gradients {
    const NAME: &'static str = "gradients_at_init";
    const SIZE: (u32, u32) = (1200, 550);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let area = root.titled(&self.title, text_style(TITLE_SIZE))?;
        let height = area.dim_in_pixel().1 as i32;
        let (area, legend_area) = area.split_vertically(height - LEGEND_HEIGHT);
        let mut variants: Vec<Variant> = self.weight_lines.iter().map(|(v, _)| *v).collect();
        for (variant, _) in &self.activation_lines {
            if !variants.contains(variant) {
                variants.push(*variant);
            }
        }
        let entries: Vec<(Key, String)> = variants
            .iter()
            .map(|&variant| {
                (
                    Key::Line(variant_colour(variant)),
                    variant.name().to_string(),
                )
            })
            .collect();
        draw_legend(&legend_area, &entries)?;

        let panels = area.split_evenly((1, 2));
        self.draw_panel(
            &panels[0],
            &self.weight_lines,
            "Loss gradient w.r.t. each layer's weight",
            "linear layer (0: stem, last: head)",
            self.depth + 1,
        )?;
        self.draw_panel(
            &panels[1],
            &self.activation_lines,
            "Loss gradient w.r.t. each activation h_k",
            "layer k (0: stem output, k: output of block k)",
            self.depth,
        )?;
        Ok(())
    }
}
