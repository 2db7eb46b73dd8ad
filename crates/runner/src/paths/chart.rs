//! Charts of a path analysis against path length: the distribution of path lengths, the
//! gradient magnitude per path, and the share of the total gradient.

use model::Variant;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::PathsResults;
use super::summary::{PathRow, State};
use crate::charts::{
    AXIS_DESC_SIZE, CAPTION_SIZE, Chart, DASH, DOT, DOT_GAP, DrawResult, GAP, Key, LABEL_SIZE,
    LEGEND_HEIGHT, TITLE_SIZE, depth_colour, draw_legend, format_log_tick, log_ticks, sweep_title,
    text_style, variant_colour,
};

/// Lines with more points than this are drawn without markers.
const MAX_MARKED_POINTS: usize = 41;

/// Height of every chart in this module, in pixels.
const HEIGHT: u32 = 620;

/// Width in pixels of a chart with one panel, and of each further panel.
const PANEL_WIDTH: u32 = 600;
const FIRST_PANEL_WIDTH: u32 = 900;

/// Fraction of paths against path length, one line per depth of the sweep.
pub(crate) struct PathLengths {
    title: String,
    /// Depths ascending, with their fractions `(k, C(n, k) / 2^n)`.
    lines: Vec<(usize, Vec<(usize, f64)>)>,
}

impl PathLengths {
    pub(crate) fn new(results: &PathsResults) -> Self {
        let lines = results
            .distributions
            .iter()
            .map(|distribution| {
                let points = distribution.fractions.iter().copied().enumerate().collect();
                (distribution.depth, points)
            })
            .collect();
        Self {
            title: format!(
                "Distribution of path lengths, {}",
                sweep_title(&results.sweep)
            ),
            lines,
        }
    }

    fn depths(&self) -> Vec<usize> {
        self.lines.iter().map(|(depth, _)| *depth).collect()
    }
}

impl Chart for PathLengths {
    const NAME: &'static str = "path_lengths";
    const SIZE: (u32, u32) = (FIRST_PANEL_WIDTH, HEIGHT);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let area = root.titled(&self.title, text_style(TITLE_SIZE))?;
        let height = area.dim_in_pixel().1 as i32;
        let (area, legend_area) = area.split_vertically(height - LEGEND_HEIGHT);
        let depths = self.depths();
        let entries: Vec<(Key, String)> = depths
            .iter()
            .map(|&depth| {
                let label = format!("n = {depth} blocks");
                (Key::Line(depth_colour(&depths, depth)), label)
            })
            .collect();
        draw_legend(&legend_area, &entries)?;

        let max_length = depths.iter().copied().max().unwrap_or(1).max(1);
        let max_fraction = self
            .lines
            .iter()
            .flat_map(|(_, points)| points)
            .map(|&(_, fraction)| fraction)
            .fold(0.0, f64::max);
        let y_max = if max_fraction > 0.0 {
            max_fraction * 1.1
        } else {
            1.0
        };
        let mut chart = ChartBuilder::on(&area)
            .caption(
                "C(n, k) of the 2^n paths through n residual blocks have length k",
                text_style(CAPTION_SIZE),
            )
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0..max_length, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("path length k (residual branches on the path)")
            .y_desc("fraction of paths")
            .axis_desc_style(text_style(AXIS_DESC_SIZE))
            .label_style(text_style(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;
        for (depth, points) in &self.lines {
            let colour = depth_colour(&depths, *depth);
            chart.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?;
            if points.len() <= MAX_MARKED_POINTS {
                let markers = points.iter().map(|&p| Circle::new(p, 3, colour.filled()));
                chart.draw_series(markers)?;
            }
        }
        Ok(())
    }
}

/// One line of a gradient panel.
struct GradientLine {
    depth: usize,
    state: State,
    /// `(k, value)` for the lengths with a value.
    points: Vec<(usize, f64)>,
}

/// One panel per residual variant, one line per depth and state.
struct GradientPanels {
    title: String,
    /// Depths with measurements, ascending.
    depths: Vec<usize>,
    panels: Vec<(Variant, Vec<GradientLine>)>,
    /// Fraction of paths of each length per depth, drawn dotted on the share chart.
    fractions: Vec<(usize, Vec<(usize, f64)>)>,
}

/// The quantity a gradient chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantity {
    /// Gradient magnitude of one path, on a log scale.
    Magnitude,
    /// Share of the total gradient carried by all paths of a length.
    Share,
}

impl GradientPanels {
    fn new(results: &PathsResults, rows: &[PathRow], quantity: Quantity) -> Self {
        let mut panels: Vec<(Variant, Vec<GradientLine>)> = Vec::new();
        for row in rows {
            let points: Vec<(usize, f64)> = match quantity {
                Quantity::Magnitude => row
                    .magnitude
                    .iter()
                    .enumerate()
                    .filter_map(|(k, magnitude)| magnitude.map(|m| (k, m)))
                    .collect(),
                Quantity::Share => row.share.iter().copied().enumerate().collect(),
            };
            let line = GradientLine {
                depth: row.depth,
                state: row.state,
                points,
            };
            // Rows come sorted by variant.
            match panels.last_mut() {
                Some((variant, lines)) if *variant == row.variant => lines.push(line),
                _ => panels.push((row.variant, vec![line])),
            }
        }
        let mut depths: Vec<usize> = rows.iter().map(|row| row.depth).collect();
        depths.sort_unstable();
        depths.dedup();
        let fractions = results
            .distributions
            .iter()
            .filter(|distribution| depths.contains(&distribution.depth))
            .map(|distribution| {
                let points = distribution.fractions.iter().copied().enumerate().collect();
                (distribution.depth, points)
            })
            .collect();
        let quantity_name = match quantity {
            Quantity::Magnitude => "Gradient magnitude per path",
            Quantity::Share => "Share of the total gradient",
        };
        Self {
            title: format!(
                "{quantity_name} against path length, {}",
                sweep_title(&results.sweep)
            ),
            depths,
            panels,
            fractions,
        }
    }

    fn size(&self) -> (u32, u32) {
        let extra_panels = self.panels.len().saturating_sub(1) as u32;
        (FIRST_PANEL_WIDTH + PANEL_WIDTH * extra_panels, HEIGHT)
    }

    fn max_length(&self) -> usize {
        self.depths.iter().copied().max().unwrap_or(1).max(1)
    }

    fn legend_entries(&self, quantity: Quantity) -> Vec<(Key, String)> {
        let mut entries: Vec<(Key, String)> = self
            .depths
            .iter()
            .map(|&depth| {
                let colour = depth_colour(&self.depths, depth);
                (Key::Line(colour), format!("n = {depth} blocks"))
            })
            .collect();
        entries.push((Key::Line(BLACK), "trained (eval mode)".to_string()));
        let init = "at initialisation (train mode)".to_string();
        entries.push((Key::Dashed(BLACK), init));
        if quantity == Quantity::Share {
            let fraction = "fraction of paths, C(n, k) / 2^n".to_string();
            entries.push((Key::Dotted(BLACK), fraction));
        }
        entries
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        quantity: Quantity,
    ) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let area = root.titled(&self.title, text_style(TITLE_SIZE))?;
        let height = area.dim_in_pixel().1 as i32;
        let (area, legend_area) = area.split_vertically(height - LEGEND_HEIGHT);
        draw_legend(&legend_area, &self.legend_entries(quantity))?;
        let cells = area.split_evenly((1, self.panels.len().max(1)));
        for ((variant, lines), cell) in self.panels.iter().zip(&cells) {
            match quantity {
                Quantity::Magnitude => self.draw_magnitude_panel(cell, *variant, lines)?,
                Quantity::Share => self.draw_share_panel(cell, *variant, lines)?,
            }
        }
        Ok(())
    }

    fn draw_magnitude_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        variant: Variant,
        lines: &[GradientLine],
    ) -> DrawResult<DB> {
        let values = self.all_values(Quantity::Magnitude);
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // A factor of 2 of margin each side, so that the axis always has two ticks.
        let range = if low.is_finite() && high.is_finite() {
            low / 2.0..high * 2.0
        } else {
            0.1..10.0
        };
        let ticks = log_ticks(range.start, range.end);
        let caption_colour = variant_colour(variant);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{variant}: mean over sets of blocks and seeds"),
                text_style(CAPTION_SIZE).color(&caption_colour),
            )
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(75)
            .build_cartesian_2d(
                0..self.max_length(),
                range.log_scale().with_key_points(ticks),
            )?;
        chart
            .configure_mesh()
            .x_desc("path length k")
            .y_desc("gradient magnitude per path at h_0 (log scale)")
            .y_label_formatter(&format_log_tick)
            .axis_desc_style(text_style(AXIS_DESC_SIZE))
            .label_style(text_style(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;
        for line in lines {
            let colour = depth_colour(&self.depths, line.depth);
            let style = colour.stroke_width(2);
            match line.state {
                State::Trained => {
                    chart.draw_series(LineSeries::new(line.points.clone(), style))?;
                }
                State::Init => {
                    let dashed = DashedLineSeries::new(line.points.clone(), DASH, GAP, style);
                    chart.draw_series(dashed)?;
                }
            }
        }
        Ok(())
    }

    fn draw_share_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        variant: Variant,
        lines: &[GradientLine],
    ) -> DrawResult<DB> {
        let max_share = self
            .all_values(Quantity::Share)
            .into_iter()
            .fold(0.0, f64::max);
        let y_max = if max_share > 0.0 {
            max_share * 1.1
        } else {
            1.0
        };
        let caption_colour = variant_colour(variant);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{variant}: C(n, k) x magnitude per path, normalised"),
                text_style(CAPTION_SIZE).color(&caption_colour),
            )
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0..self.max_length(), 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("path length k")
            .y_desc("share of the total gradient at h_0")
            .axis_desc_style(text_style(AXIS_DESC_SIZE))
            .label_style(text_style(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;
        for (depth, points) in &self.fractions {
            let colour = depth_colour(&self.depths, *depth);
            let style = colour.mix(0.7).stroke_width(2);
            let dotted = DashedLineSeries::new(points.clone(), DOT, DOT_GAP, style);
            chart.draw_series(dotted)?;
        }
        for line in lines {
            let colour = depth_colour(&self.depths, line.depth);
            let style = colour.stroke_width(2);
            match line.state {
                State::Trained => {
                    chart.draw_series(LineSeries::new(line.points.clone(), style))?;
                }
                State::Init => {
                    let dashed = DashedLineSeries::new(line.points.clone(), DASH, GAP, style);
                    chart.draw_series(dashed)?;
                }
            }
        }
        Ok(())
    }

    /// Returns every value the chart of `quantity` draws, for the y range shared by its panels.
    fn all_values(&self, quantity: Quantity) -> Vec<f64> {
        let lines = self.panels.iter().flat_map(|(_, lines)| lines);
        let mut values: Vec<f64> = lines
            .flat_map(|line| &line.points)
            .map(|&(_, value)| value)
            .collect();
        if quantity == Quantity::Share {
            let fractions = self.fractions.iter().flat_map(|(_, points)| points);
            values.extend(fractions.map(|&(_, fraction)| fraction));
        }
        values
    }
}

/// Gradient magnitude per path against path length (log scale), one panel per residual variant.
pub(crate) struct GradientMagnitude(GradientPanels);

impl GradientMagnitude {
    pub(crate) fn new(results: &PathsResults, rows: &[PathRow]) -> Self {
        Self(GradientPanels::new(results, rows, Quantity::Magnitude))
    }
}

impl Chart for GradientMagnitude {
    const NAME: &'static str = "path_gradient_magnitude";
    const SIZE: (u32, u32) = (FIRST_PANEL_WIDTH, HEIGHT);

    fn size(&self) -> (u32, u32) {
        self.0.size()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        self.0.draw(root, Quantity::Magnitude)
    }
}

/// Share of the total gradient carried by the paths of each length, one panel per residual
/// variant, with the fraction of paths of each length for comparison.
pub(crate) struct GradientShare(GradientPanels);

impl GradientShare {
    pub(crate) fn new(results: &PathsResults, rows: &[PathRow]) -> Self {
        Self(GradientPanels::new(results, rows, Quantity::Share))
    }
}

impl Chart for GradientShare {
    const NAME: &'static str = "path_gradient_share";
    const SIZE: (u32, u32) = (FIRST_PANEL_WIDTH, HEIGHT);

    fn size(&self) -> (u32, u32) {
        self.0.size()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        self.0.draw(root, Quantity::Share)
    }
}
