//! `dy/dx` against `x` for the first seed, one autoscaled panel per variant and depth.

use model::Variant;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    SMALL_LABEL_SIZE, experiment_title, hidden_layers_label, padded_range, sorted_hidden_layers,
};
use crate::charts::{Chart, DrawResult, TITLE_SIZE, text_style, variant_colour};
use crate::shattered::results::ShatteredResults;
use crate::table::format_significant;

/// Font size of a panel's caption, in pixels.
const PANEL_CAPTION_SIZE: u32 = 15;

/// One panel: the gradient of one network, `(x, dy/dx)` with finite values only.
struct Panel {
    variant: Variant,
    hidden_layers: usize,
    points: Vec<(f64, f64)>,
}

/// A grid of panels: one row per variant, one column per number of hidden layers.
pub(super) struct Gradients {
    title: String,
    /// Range of the inputs.
    x_range: (f64, f64),
    columns: usize,
    /// Row by row, in config variant order, then hidden layers ascending.
    panels: Vec<Panel>,
}

impl Gradients {
    pub(super) fn new(results: &ShatteredResults) -> Self {
        let config = &results.config;
        let hidden_layers = sorted_hidden_layers(config);
        let mut panels = Vec::new();
        for &variant in &config.variants {
            for &layers in &hidden_layers {
                let points = match results.first_seed(variant, layers) {
                    Some(network) => results
                        .inputs
                        .iter()
                        .zip(&network.gradients)
                        .filter(|(_, gradient)| gradient.is_finite())
                        .map(|(&x, &gradient)| (x, gradient as f64))
                        .collect(),
                    None => Vec::new(),
                };
                panels.push(Panel {
                    variant,
                    hidden_layers: layers,
                    points,
                });
            }
        }
        let seed = config.seeds.first().copied().unwrap_or(0);
        Self {
            title: format!(
                "dy/dx against x at initialisation, seed {seed}, {}",
                experiment_title(config)
            ),
            x_range: (config.inputs.low, config.inputs.high),
            columns: hidden_layers.len().max(1),
            panels,
        }
    }

    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &Panel,
    ) -> DrawResult<DB> {
        let colour = variant_colour(panel.variant);
        let caption = format!(
            "{}, {}",
            panel.variant,
            hidden_layers_label(panel.hidden_layers)
        );
        let (y_low, y_high) = padded_range(panel.points.iter().map(|&(_, y)| y), (-1.0, 1.0));
        let (x_low, x_high) = self.x_range;
        // Plotters places ticks at multiples of a step, so a tick meant to be 0 can come out as
        // rounding noise like 3e-18: print anything that small against the range as 0.
        let y_tick = |value: &f64| match value.abs() < (y_high - y_low) * 1e-9 {
            true => "0".to_string(),
            false => format_significant(*value),
        };
        let mut chart = ChartBuilder::on(area)
            .caption(caption, text_style(PANEL_CAPTION_SIZE).color(&colour))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(62)
            .build_cartesian_2d(x_low..x_high, y_low..y_high)?;
        chart
            .configure_mesh()
            .x_labels(5)
            .y_labels(5)
            .y_label_formatter(&y_tick)
            .label_style(text_style(SMALL_LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;

        if panel.points.is_empty() {
            let centre = ((x_low + x_high) / 2.0, (y_low + y_high) / 2.0);
            let style = text_style(SMALL_LABEL_SIZE).pos(Pos::new(HPos::Center, VPos::Center));
            let message = Text::new("no finite dy/dx", centre, style);
            chart.draw_series(std::iter::once(message))?;
            return Ok(());
        }
        let line = LineSeries::new(panel.points.clone(), colour.stroke_width(1));
        chart.draw_series(line)?;
        Ok(())
    }
}

impl Chart for Gradients {
    const NAME: &'static str = "gradients";
    const SIZE: (u32, u32) = (1800, 1100);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let area = root.titled(&self.title, text_style(TITLE_SIZE))?;
        let rows = self.panels.len().div_ceil(self.columns).max(1);
        let cells = area.split_evenly((rows, self.columns));
        for (panel, cell) in self.panels.iter().zip(&cells) {
            self.draw_panel(cell, panel)?;
        }
        Ok(())
    }
}
