//! Charts of a lesion study: test error against the deleted block, and against the number of
//! deleted blocks, one panel per depth and one line per variant.

use model::Variant;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::summary::LesionRow;
use crate::charts::{
    AXIS_DESC_SIZE, CAPTION_SIZE, Chart, DASH, DrawResult, GAP, Key, LABEL_SIZE, LEGEND_HEIGHT,
    REFERENCE_COLOUR, TITLE_SIZE, draw_legend, sweep_title, text_style, variant_colour,
};
use crate::config::SweepConfig;
use crate::table::{CHANCE_ERROR, Spread};

/// Lines with more points than this are drawn without markers.
const MAX_MARKED_POINTS: usize = 40;

/// Height in pixels of one row of panels, and of the title and legend together.
const ROW_HEIGHT: u32 = 420;
const FRAME_HEIGHT: u32 = 110;

/// Width in pixels of a chart with one column of panels, and with more.
const NARROW_WIDTH: u32 = 900;
const WIDE_WIDTH: u32 = 1350;

/// One variant's line in a panel: `(x, spread of the error)` ascending in `x`.
struct VariantLine {
    variant: Variant,
    points: Vec<(usize, Spread)>,
    /// Unlesioned test error, mean over seeds, drawn as a dashed reference line.
    reference: f64,
}

struct Panel {
    depth: usize,
    lines: Vec<VariantLine>,
}

/// Panels of one depth each, in a grid.
struct DepthPanels {
    title: String,
    /// Legend label of the shaded band.
    band: &'static str,
    x_desc: &'static str,
    panels: Vec<Panel>,
    /// Whether each variant's unlesioned error is drawn as a dashed line.
    references: bool,
}

impl DepthPanels {
    fn columns(&self) -> usize {
        match self.panels.len() {
            0 | 1 => 1,
            2 | 4 => 2,
            _ => 3,
        }
    }

    fn size(&self) -> (u32, u32) {
        let columns = self.columns();
        let rows = self.panels.len().div_ceil(columns).max(1) as u32;
        let width = if columns == 1 {
            NARROW_WIDTH
        } else {
            WIDE_WIDTH
        };
        (width, FRAME_HEIGHT + rows * ROW_HEIGHT)
    }

    fn variants(&self) -> Vec<Variant> {
        let mut variants: Vec<Variant> = self
            .panels
            .iter()
            .flat_map(|panel| panel.lines.iter().map(|line| line.variant))
            .collect();
        variants.sort_unstable();
        variants.dedup();
        variants
    }

    fn legend_entries(&self) -> Vec<(Key, String)> {
        let mut entries: Vec<(Key, String)> = self
            .variants()
            .into_iter()
            .map(|variant| (Key::Line(variant_colour(variant)), variant.to_string()))
            .collect();
        entries.push((Key::Band(REFERENCE_COLOUR), self.band.to_string()));
        if self.references {
            let reference = "no block deleted, mean over seeds".to_string();
            entries.push((Key::Dashed(BLACK), reference));
        }
        let chance = format!("chance level ({:.0}%)", CHANCE_ERROR * 100.0);
        entries.push((Key::Dashed(REFERENCE_COLOUR), chance));
        entries
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let area = root.titled(&self.title, text_style(TITLE_SIZE))?;
        let height = area.dim_in_pixel().1 as i32;
        let (area, legend_area) = area.split_vertically(height - LEGEND_HEIGHT);
        draw_legend(&legend_area, &self.legend_entries())?;
        let columns = self.columns();
        let rows = self.panels.len().div_ceil(columns).max(1);
        let cells = area.split_evenly((rows, columns));
        for (panel, cell) in self.panels.iter().zip(&cells) {
            self.draw_panel(cell, panel)?;
        }
        Ok(())
    }

    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &Panel,
    ) -> DrawResult<DB> {
        let x_values = panel.lines.iter().flat_map(|line| &line.points);
        let x_low = x_values.clone().map(|&(x, _)| x).min().unwrap_or(0);
        let x_high = x_values.map(|&(x, _)| x).max().unwrap_or(1).max(x_low + 1);
        let mut chart = ChartBuilder::on(area)
            .caption(format!("depth {}", panel.depth), text_style(CAPTION_SIZE))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x_low..x_high, 0.0..100.0)?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc("test error (%)")
            .y_label_formatter(&|percent| format!("{percent:.0}"))
            .axis_desc_style(text_style(AXIS_DESC_SIZE))
            .label_style(text_style(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;

        let chance = CHANCE_ERROR * 100.0;
        let chance_line = [(x_low, chance), (x_high, chance)];
        let style = REFERENCE_COLOUR.stroke_width(1);
        chart.draw_series(DashedLineSeries::new(chance_line, DASH, GAP, style))?;

        for line in &panel.lines {
            let colour = variant_colour(line.variant);
            if self.references {
                let reference = [
                    (x_low, line.reference * 100.0),
                    (x_high, line.reference * 100.0),
                ];
                let style = colour.mix(0.8).stroke_width(1);
                chart.draw_series(DashedLineSeries::new(reference, DASH, GAP, style))?;
            }
            // Min–max band: a polygon over several points, a bar at a single one.
            let upper = line.points.iter().map(|&(x, s)| (x, s.max * 100.0));
            let lower = line.points.iter().rev().map(|&(x, s)| (x, s.min * 100.0));
            if line.points.len() >= 2 {
                let band: Vec<(usize, f64)> = upper.chain(lower).collect();
                chart.draw_series(std::iter::once(Polygon::new(band, colour.mix(0.15))))?;
            } else {
                let bars = line.points.iter().map(|&(x, s)| {
                    let ends = vec![(x, s.min * 100.0), (x, s.max * 100.0)];
                    PathElement::new(ends, colour.mix(0.35).stroke_width(6))
                });
                chart.draw_series(bars)?;
            }
            let means: Vec<(usize, f64)> = line
                .points
                .iter()
                .map(|&(x, spread)| (x, spread.mean * 100.0))
                .collect();
            chart.draw_series(LineSeries::new(means.clone(), colour.stroke_width(2)))?;
            if means.len() <= MAX_MARKED_POINTS {
                let markers = means.iter().map(|&p| Circle::new(p, 3, colour.filled()));
                chart.draw_series(markers)?;
            }
        }
        Ok(())
    }
}

/// Returns one panel per depth, ascending, with one line per variant made by `points`. Rows
/// without points are left out.
fn depth_panels(
    rows: &[LesionRow],
    points: impl Fn(&LesionRow) -> Vec<(usize, Spread)>,
) -> Vec<Panel> {
    let mut depths: Vec<usize> = rows.iter().map(|row| row.depth).collect();
    depths.sort_unstable();
    depths.dedup();
    let mut panels = Vec::new();
    for depth in depths {
        let lines: Vec<VariantLine> = rows
            .iter()
            .filter(|row| row.depth == depth)
            .map(|row| VariantLine {
                variant: row.variant,
                points: points(row),
                reference: row.test_error.mean,
            })
            .filter(|line| !line.points.is_empty())
            .collect();
        if !lines.is_empty() {
            panels.push(Panel { depth, lines });
        }
    }
    panels
}

/// Test error against the index of the one deleted block.
pub(crate) struct SingleBlock(DepthPanels);

impl SingleBlock {
    pub(crate) fn new(sweep: &SweepConfig, rows: &[LesionRow]) -> Self {
        let panels = depth_panels(rows, |row| {
            let blocks = row.single_block.iter().enumerate();
            blocks.map(|(i, &spread)| (i + 1, spread)).collect()
        });
        Self(DepthPanels {
            title: format!(
                "Mean test error with one block deleted, {}",
                sweep_title(sweep)
            ),
            band: "min–max over seeds",
            x_desc: "deleted block",
            panels,
            references: true,
        })
    }
}

impl Chart for SingleBlock {
    const NAME: &'static str = "lesion_single_block";
    const SIZE: (u32, u32) = (NARROW_WIDTH, FRAME_HEIGHT + ROW_HEIGHT);

    fn size(&self) -> (u32, u32) {
        self.0.size()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        self.0.draw(root)
    }
}

/// Test error against the number of randomly deleted blocks, `0..=depth/2`.
pub(crate) struct BlocksDeleted(DepthPanels);

impl BlocksDeleted {
    pub(crate) fn new(sweep: &SweepConfig, rows: &[LesionRow]) -> Self {
        // Depth 1 has no random lesions: its line would be the single unlesioned point.
        let deep_rows: Vec<LesionRow> = rows.iter().filter(|row| row.depth >= 2).cloned().collect();
        let panels = depth_panels(&deep_rows, |row| row.blocks_deleted.clone());
        Self(DepthPanels {
            title: format!(
                "Mean test error with random blocks deleted, {}",
                sweep_title(sweep)
            ),
            band: "min–max over sets of blocks and seeds",
            x_desc: "blocks deleted",
            panels,
            references: false,
        })
    }
}

impl Chart for BlocksDeleted {
    const NAME: &'static str = "lesion_blocks_deleted";
    const SIZE: (u32, u32) = (NARROW_WIDTH, FRAME_HEIGHT + ROW_HEIGHT);

    fn size(&self) -> (u32, u32) {
        self.0.size()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        self.0.draw(root)
    }
}
