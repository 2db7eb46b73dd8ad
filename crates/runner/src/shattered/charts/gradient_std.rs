//! Standard deviation of `dy/dx` over the inputs against the number of hidden layers.

use model::Variant;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{experiment_title, sorted_hidden_layers};
use crate::charts::{
    AXIS_DESC_SIZE, CAPTION_SIZE, Chart, DrawResult, Key, LABEL_SIZE, LEGEND_HEIGHT, TITLE_SIZE,
    draw_legend, format_log_tick, log_ticks, text_style, variant_colour,
};
use crate::shattered::results::ShatteredResults;

/// The std of one variant and depth over seeds; all three finite and positive.
struct Point {
    hidden_layers: usize,
    mean: f64,
    min: f64,
    max: f64,
}

/// One line per variant with a min–max band, on a log scale.
pub(super) struct GradientStd {
    title: String,
    max_hidden_layers: usize,
    /// Per variant, hidden layers ascending.
    lines: Vec<(Variant, Vec<Point>)>,
}

impl GradientStd {
    pub(super) fn new(results: &ShatteredResults) -> Self {
        let config = &results.config;
        let hidden_layers = sorted_hidden_layers(config);
        let positive = |value: f64| value.is_finite() && value > 0.0;
        let mut lines = Vec::new();
        for &variant in &config.variants {
            let points: Vec<Point> = hidden_layers
                .iter()
                .filter_map(|&layers| {
                    let spread = results.aggregate(variant, layers)?.gradient_std?;
                    let shown = positive(spread.mean) && positive(spread.min);
                    shown.then_some(Point {
                        hidden_layers: layers,
                        mean: spread.mean,
                        min: spread.min,
                        max: spread.max,
                    })
                })
                .collect();
            lines.push((variant, points));
        }
        Self {
            title: format!("Std of dy/dx over the inputs, {}", experiment_title(config)),
            max_hidden_layers: hidden_layers.last().copied().unwrap_or(1),
            lines,
        }
    }

    /// Returns the y range: the values with a factor of 2 of margin each side, or 0.1 to 10
    /// when there is none.
    fn std_range(&self) -> (f64, f64) {
        let points = self.lines.iter().flat_map(|(_, points)| points);
        let low = points
            .clone()
            .map(|point| point.min)
            .fold(f64::INFINITY, f64::min);
        let high = points
            .map(|point| point.max)
            .fold(f64::NEG_INFINITY, f64::max);
        if low.is_finite() && high.is_finite() {
            (low / 2.0, high * 2.0)
        } else {
            (0.1, 10.0)
        }
    }
}

impl Chart for GradientStd {
    const NAME: &'static str = "gradient_std";
    const SIZE: (u32, u32) = (1200, 700);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let area = root.titled(&self.title, text_style(TITLE_SIZE))?;
        let height = area.dim_in_pixel().1 as i32;
        let (area, legend_area) = area.split_vertically(height - LEGEND_HEIGHT);
        let entries: Vec<(Key, String)> = self
            .lines
            .iter()
            .map(|(variant, _)| (Key::Line(variant_colour(*variant)), variant.to_string()))
            .collect();
        draw_legend(&legend_area, &entries)?;

        let (low, high) = self.std_range();
        let ticks = log_ticks(low, high);
        let x_max = self.max_hidden_layers as f64 + 1.0;
        let mut chart = ChartBuilder::on(&area)
            .caption("Mean over seeds, shaded min–max", text_style(CAPTION_SIZE))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(75)
            .build_cartesian_2d(0.0..x_max, (low..high).log_scale().with_key_points(ticks))?;
        chart
            .configure_mesh()
            .x_desc("hidden layers")
            .y_desc("std of dy/dx (log scale)")
            .x_label_formatter(&|layers| format!("{layers:.0}"))
            .y_label_formatter(&format_log_tick)
            .axis_desc_style(text_style(AXIS_DESC_SIZE))
            .label_style(text_style(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;

        if self.lines.iter().all(|(_, points)| points.is_empty()) {
            let centre = (x_max / 2.0, (low * high).sqrt());
            let style = text_style(AXIS_DESC_SIZE).pos(Pos::new(HPos::Center, VPos::Center));
            let message = Text::new("no finite positive gradient std to show", centre, style);
            chart.draw_series(std::iter::once(message))?;
            return Ok(());
        }
        for (variant, points) in &self.lines {
            let colour = variant_colour(*variant);
            let x = |point: &Point| point.hidden_layers as f64;
            if points.len() >= 2 {
                let upper = points.iter().map(|point| (x(point), point.max));
                let lower = points.iter().rev().map(|point| (x(point), point.min));
                let band: Vec<(f64, f64)> = upper.chain(lower).collect();
                chart.draw_series(std::iter::once(Polygon::new(band, colour.mix(0.15))))?;
            }
            let means: Vec<(f64, f64)> =
                points.iter().map(|point| (x(point), point.mean)).collect();
            chart.draw_series(LineSeries::new(means.clone(), colour.stroke_width(2)))?;
            let markers = means
                .into_iter()
                .map(|point| Circle::new(point, 4, colour.filled()));
            chart.draw_series(markers)?;
        }
        Ok(())
    }
}
