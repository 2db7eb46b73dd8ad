//! Autocorrelation of `dy/dx` against distance, one panel per variant, one line per depth.

use model::Variant;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{experiment_title, hidden_layers_label, sorted_hidden_layers};
use crate::charts::{
    AXIS_DESC_SIZE, CAPTION_SIZE, Chart, DrawResult, Key, LABEL_SIZE, LEGEND_HEIGHT,
    REFERENCE_COLOUR, TITLE_SIZE, depth_colour, draw_legend, text_style, variant_colour,
};
use crate::shattered::compute::SeriesSpread;
use crate::shattered::results::ShatteredResults;

/// The form of autocorrelation a chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// `r(m)` of `dy/dx` as computed.
    Raw,
    /// `r(m)` of `dy/dx` minus its mean over the inputs.
    MeanSubtracted,
}

/// `r(m)` of one depth: `(distance, value)` for the mean, minimum and maximum over seeds.
struct DepthLine {
    hidden_layers: usize,
    seeds: usize,
    mean: Vec<(f64, f64)>,
    min: Vec<(f64, f64)>,
    max: Vec<(f64, f64)>,
}

struct Panel {
    variant: Variant,
    /// Hidden layers ascending; depths without a defined autocorrelation are left out.
    lines: Vec<DepthLine>,
}

/// One panel per variant in a grid of two columns.
pub(super) struct Autocorrelation {
    title: String,
    caption: String,
    /// Largest distance shown, in input units.
    max_distance: f64,
    /// Every number of hidden layers of the config, ascending. A depth's colour depends on its
    /// position here.
    hidden_layers: Vec<usize>,
    panels: Vec<Panel>,
}

impl Autocorrelation {
    pub(super) fn new(results: &ShatteredResults, form: Form) -> Self {
        let config = &results.config;
        let step = config.inputs.step();
        let hidden_layers = sorted_hidden_layers(config);
        let points = |values: &[f64]| -> Vec<(f64, f64)> {
            let distances = (0..values.len()).map(|m| m as f64 * step);
            distances.zip(values.iter().copied()).collect()
        };
        let mut panels = Vec::new();
        for &variant in &config.variants {
            let mut lines = Vec::new();
            for &layers in &hidden_layers {
                let Some(aggregate) = results.aggregate(variant, layers) else {
                    continue;
                };
                let series: Option<&SeriesSpread> = match form {
                    Form::Raw => aggregate.autocorrelation.as_ref(),
                    Form::MeanSubtracted => aggregate.autocorrelation_mean_subtracted.as_ref(),
                };
                let Some(series) = series else {
                    continue;
                };
                lines.push(DepthLine {
                    hidden_layers: layers,
                    seeds: series.count,
                    mean: points(&series.mean),
                    min: points(&series.min),
                    max: points(&series.max),
                });
            }
            panels.push(Panel { variant, lines });
        }
        let (name, caption) = match form {
            Form::Raw => (
                "Autocorrelation of dy/dx",
                "r(m) = sum g[n+m] g[n] / sum g[n]^2; mean over seeds, shaded min–max",
            ),
            Form::MeanSubtracted => (
                "Autocorrelation of dy/dx minus its mean",
                "r(m) of g - mean(g); mean over seeds, shaded min–max",
            ),
        };
        Self {
            title: format!("{name}, {}", experiment_title(config)),
            caption: caption.to_string(),
            max_distance: config.max_distance as f64 * step,
            hidden_layers,
            panels,
        }
    }

    fn colour(&self, hidden_layers: usize) -> RGBColor {
        depth_colour(&self.hidden_layers, hidden_layers)
    }

    /// Returns the y range: -1 or the lowest band value rounded down to 0.1, whichever is
    /// higher, to 1.05.
    fn y_range(&self) -> (f64, f64) {
        let lowest = self
            .panels
            .iter()
            .flat_map(|panel| &panel.lines)
            .flat_map(|line| &line.min)
            .map(|&(_, value)| value)
            .fold(0.0, f64::min);
        let low = ((lowest * 10.0).floor() / 10.0).max(-1.0);
        (low, 1.05)
    }

    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &Panel,
    ) -> DrawResult<DB> {
        let caption_colour = variant_colour(panel.variant);
        let caption_style = text_style(CAPTION_SIZE).color(&caption_colour);
        let (y_low, y_high) = self.y_range();
        let mut chart = ChartBuilder::on(area)
            .caption(panel.variant.name(), caption_style)
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..self.max_distance, y_low..y_high)?;
        chart
            .configure_mesh()
            .x_desc("distance (input units)")
            .y_desc("r(m)")
            .y_label_formatter(&correlation_tick)
            .axis_desc_style(text_style(AXIS_DESC_SIZE))
            .label_style(text_style(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;

        let zero = [(0.0, 0.0), (self.max_distance, 0.0)];
        chart.draw_series(LineSeries::new(zero, REFERENCE_COLOUR.stroke_width(1)))?;
        for line in &panel.lines {
            let colour = self.colour(line.hidden_layers);
            if line.seeds > 1 {
                let band: Vec<(f64, f64)> = line
                    .max
                    .iter()
                    .chain(line.min.iter().rev())
                    .copied()
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(band, colour.mix(0.15))))?;
            }
        }
        for line in &panel.lines {
            let colour = self.colour(line.hidden_layers);
            chart.draw_series(LineSeries::new(line.mean.clone(), colour.stroke_width(2)))?;
        }
        Ok(())
    }

    fn legend_entries(&self) -> Vec<(Key, String)> {
        self.hidden_layers
            .iter()
            .map(|&layers| (Key::Line(self.colour(layers)), hidden_layers_label(layers)))
            .collect()
    }

    fn draw_grid<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let area = root.titled(&self.title, text_style(TITLE_SIZE))?;
        let area = area.titled(&self.caption, text_style(CAPTION_SIZE))?;
        let height = area.dim_in_pixel().1 as i32;
        let (area, legend_area) = area.split_vertically(height - LEGEND_HEIGHT);
        draw_legend(&legend_area, &self.legend_entries())?;

        let columns = if self.panels.len() > 1 { 2 } else { 1 };
        let rows = self.panels.len().div_ceil(columns).max(1);
        let cells = area.split_evenly((rows, columns));
        for (panel, cell) in self.panels.iter().zip(&cells) {
            self.draw_panel(cell, panel)?;
        }
        Ok(())
    }
}

/// Formats a tick of the correlation axis with one decimal, printing ticks that round to zero
/// as `0.0` rather than `-0.0`.
fn correlation_tick(value: &f64) -> String {
    let text = format!("{value:.1}");
    if text == "-0.0" {
        "0.0".to_string()
    } else {
        text
    }
}

impl Chart for Autocorrelation {
    const NAME: &'static str = "autocorrelation";
    const SIZE: (u32, u32) = (1200, 950);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        self.draw_grid(root)
    }
}

/// The mean-subtracted autocorrelation, drawn like [`Autocorrelation`] under its own name.
pub(super) struct MeanSubtracted(pub(super) Autocorrelation);

impl Chart for MeanSubtracted {
    const NAME: &'static str = "autocorrelation_mean_subtracted";
    const SIZE: (u32, u32) = Autocorrelation::SIZE;

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        self.0.draw_grid(root)
    }
}
