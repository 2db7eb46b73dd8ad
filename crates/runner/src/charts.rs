//! Charts drawn from stored results, each written as SVG and PNG.
//!
//! - `degradation`: final training and test error against depth, one line per variant
//!   (He et al. 2016, "Deep Residual Learning for Image Recognition", Fig. 6; Prince,
//!   "Understanding Deep Learning", Fig. 11.2).
//! - `activations_at_init`: standard deviation of each activation `h_k` at initialisation at the
//!   deepest depth (Prince, "Understanding Deep Learning", Fig. 11.6).
//! - `training_curves`: training and test error against epoch, one panel per variant.
//! - `gradients_at_init`: norms of the loss gradient with respect to each layer's weight and
//!   each activation at initialisation, at the deepest depth.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (`assets/DejaVuSans.ttf`, license in
//! `assets/DejaVuSans-LICENSE.txt`), so the PNGs look the same on every machine.

mod activations;
mod curves;
mod degradation;
mod gradients;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use model::Variant;
use plotters::backend::{BitMapBackend, SVGBackend};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::config::{DatasetName, Family, SweepConfig};
use crate::results::{SweepResults, write_atomic};
use crate::table::{ensure_finished_runs, format_significant, summary_rows};

/// DejaVu Sans 2.37 (Bitstream Vera license), registered as plotters' `sans-serif` family.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Font family of every text on the charts.
pub(crate) const FONT_FAMILY: &str = "sans-serif";

/// Font sizes in pixels.
pub(crate) const TITLE_SIZE: u32 = 24;
pub(crate) const CAPTION_SIZE: u32 = 19;
pub(crate) const AXIS_DESC_SIZE: u32 = 16;
pub(crate) const LABEL_SIZE: u32 = 14;
pub(crate) const LEGEND_SIZE: u32 = 14;

/// Draws every chart of a sweep into `charts_dir` (created if needed), each as SVG and PNG,
/// written atomically. Returns the written paths.
///
/// Only finished runs are drawn. Fails when there is none, or when a chart cannot be drawn or
/// written.
pub fn draw_charts(results: &SweepResults, charts_dir: &Path) -> Result<Vec<PathBuf>> {
    ensure_finished_runs(results, charts_dir)?;
    register_font()?;
    std::fs::create_dir_all(charts_dir)
        .with_context(|| format!("failed to create {}", charts_dir.display()))?;

    let rows = summary_rows(results);
    let sweep = &results.manifest.sweep;
    let mut paths = Vec::new();
    let degradation = degradation::Degradation::new(sweep, &rows);
    paths.extend(write_chart(&degradation, charts_dir)?);
    let activations = activations::Activations::new(sweep, &rows);
    paths.extend(write_chart(&activations, charts_dir)?);
    let curves = curves::TrainingCurves::new(sweep, &rows);
    paths.extend(write_chart(&curves, charts_dir)?);
    let gradients = gradients::Gradients::new(sweep, &rows);
    paths.extend(write_chart(&gradients, charts_dir)?);
    Ok(paths)
}

/// Registers the embedded font once per process. Plotters' `ab_glyph` text needs it before any
/// text is measured or drawn, by the SVG backend as well.
pub(crate) fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT).is_ok()
    });
    if !registered {
        bail!(
            "the embedded font assets/DejaVuSans.ttf is not a valid TrueType font: \
             restore the file and rebuild"
        );
    }
    Ok(())
}

/// A chart that can be drawn on any plotters backend.
pub(crate) trait Chart {
    /// File name without extension.
    const NAME: &'static str;
    /// Width and height in pixels.
    const SIZE: (u32, u32);

    /// Returns the width and height in pixels: [`Chart::SIZE`], unless the chart's layout
    /// depends on its data.
    fn size(&self) -> (u32, u32) {
        Self::SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

pub(crate) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Draws `chart` as `<NAME>.svg` and `<NAME>.png` in `charts_dir`. Returns both paths.
pub(crate) fn write_chart<C: Chart>(chart: &C, charts_dir: &Path) -> Result<[PathBuf; 2]> {
    let size = chart.size();
    let (width, height) = size;
    let svg_path = charts_dir.join(format!("{}.svg", C::NAME));
    let png_path = charts_dir.join(format!("{}.png", C::NAME));

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        chart
            .draw(&root)
            .and_then(|()| root.present())
            .map_err(|error| anyhow!("failed to draw {}: {error}", svg_path.display()))?;
    }

    // 3 bytes per pixel: RGB.
    let mut rgb = vec![0_u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        chart
            .draw(&root)
            .and_then(|()| root.present())
            .map_err(|error| anyhow!("failed to draw {}: {error}", png_path.display()))?;
    }
    let png = encode_png(&rgb, width, height)
        .with_context(|| format!("failed to encode {}", png_path.display()))?;

    write_atomic(&svg_path, svg.as_bytes())?;
    write_atomic(&png_path, &png)?;
    Ok([svg_path, png_path])
}

/// Encodes an 8-bit RGB buffer as PNG bytes.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(bytes)
}

/// Returns the colour of a variant, the same on every chart.
pub(crate) fn variant_colour(variant: Variant) -> RGBColor {
    match variant {
        Variant::Plain => RGBColor(214, 39, 40),
        Variant::PlainBn => RGBColor(255, 127, 14),
        Variant::Residual => RGBColor(31, 119, 180),
        Variant::ResidualBn => RGBColor(44, 160, 44),
    }
}

/// Dash length and gap of dashed lines, in pixels.
pub(crate) const DASH: i32 = 6;
pub(crate) const GAP: i32 = 4;

/// Dash length and gap of dotted lines, in pixels.
pub(crate) const DOT: i32 = 2;
pub(crate) const DOT_GAP: i32 = 3;

/// Part of the viridis colour map used for depths: its last part is too light on white.
const COLOUR_MAP_END: f64 = 0.85;

/// Returns the colour of `depth` among `depths` (ascending): viridis from dark (shallow) to light
/// (deep).
pub(crate) fn depth_colour(depths: &[usize], depth: usize) -> RGBColor {
    let position = depths.iter().position(|&d| d == depth).unwrap_or(0);
    let fraction = if depths.len() > 1 {
        position as f64 / (depths.len() - 1) as f64
    } else {
        0.0
    };
    ViridisRGB::get_color(fraction * COLOUR_MAP_END)
}

/// Length in pixels of a line in a legend.
pub(crate) const LEGEND_LINE: i32 = 20;

/// Colour of reference lines and legend entries that belong to no variant or depth.
pub(crate) const REFERENCE_COLOUR: RGBColor = RGBColor(110, 110, 110);

/// Returns the dataset's name as written in chart titles.
pub(crate) fn dataset_title(dataset: DatasetName) -> &'static str {
    match dataset {
        DatasetName::Mnist1d => "MNIST-1D",
        DatasetName::Mnist => "MNIST",
        DatasetName::FashionMnist => "Fashion-MNIST",
        DatasetName::Cifar10 => "CIFAR-10",
    }
}

/// Returns the part of a chart title that names the sweep, e.g. `sweep "depth" (MNIST-1D,
/// width 256)` or `sweep "cnn" (Fashion-MNIST, CNN with 16 filters)`.
pub(crate) fn sweep_title(sweep: &SweepConfig) -> String {
    let network = match sweep.family {
        Family::Mlp => format!("width {}", sweep.width),
        Family::Cnn => format!("CNN with {} filters", sweep.width),
    };
    format!(
        "sweep \"{}\" ({}, {network})",
        sweep.name,
        dataset_title(sweep.dataset),
    )
}

pub(crate) fn text_style(size: u32) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(&BLACK)
}

/// Returns the upper end of a percent axis that shows `max_percent`: the next multiple of 10
/// above it, at most 100 and at least 10.
pub(crate) fn percent_axis_max(max_percent: f64) -> f64 {
    if !max_percent.is_finite() {
        return 100.0;
    }
    let rounded = (max_percent / 10.0).floor() * 10.0 + 10.0;
    rounded.clamp(10.0, 100.0)
}

/// Returns tick values for a log axis over `[low, high]`: 1, 2 and 5 times powers of ten.
///
/// When that gives more than 12 ticks, only powers of ten are kept, thinned to at most 10. When
/// it gives fewer than two, 1 to 9 times powers of ten are used, and `low` and `high` when even
/// that gives fewer than two.
pub(crate) fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    let ticks_with = |mantissas: &[f64], decade_step: i32| {
        let first = low.log10().floor() as i32;
        let last = high.log10().ceil() as i32;
        let mut ticks = Vec::new();
        for exponent in (first..=last).filter(|e| e.rem_euclid(decade_step) == 0) {
            for mantissa in mantissas {
                let tick = mantissa * 10_f64.powi(exponent);
                if (low..=high).contains(&tick) {
                    ticks.push(tick);
                }
            }
        }
        ticks
    };
    let ticks = ticks_with(&[1.0, 2.0, 5.0], 1);
    if ticks.len() > 12 {
        let decades = (high / low).log10().ceil() as i32;
        let decade_step = (decades + 9) / 10;
        return ticks_with(&[1.0], decade_step.max(1));
    }
    if ticks.len() < 2 {
        let mantissas: Vec<f64> = (1..10).map(f64::from).collect();
        let ticks = ticks_with(&mantissas, 1);
        if ticks.len() < 2 {
            return vec![low, high];
        }
        return ticks;
    }
    ticks
}

/// Formats a log-axis tick without trailing zeros: `0.2`, `10`, `1e9`, `2.5e-3`.
pub(crate) fn format_log_tick(value: &f64) -> String {
    let text = format_significant(*value);
    let (mantissa, exponent) = match text.split_once('e') {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (text.as_str(), None),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    match exponent {
        Some(exponent) => format!("{mantissa}e{exponent}"),
        None => mantissa.to_string(),
    }
}

/// Height in pixels of the legend strip below a chart's panels: room for two rows.
pub(crate) const LEGEND_HEIGHT: i32 = 50;

/// The symbol of a legend entry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key {
    Line(RGBColor),
    Dashed(RGBColor),
    Dotted(RGBColor),
    Cross(RGBColor),
    /// A shaded band, for example a min–max range.
    Band(RGBColor),
}

/// Draws legend entries left to right in a strip below a chart's panels, wrapping to a new row when the
/// area's width is used up, so that no entry covers a curve.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(Key, String)],
) -> DrawResult<DB> {
    const SYMBOL_WIDTH: i32 = 24;
    const SYMBOL_GAP: i32 = 6;
    const ENTRY_GAP: i32 = 24;
    const ROW_HEIGHT: i32 = 22;
    const LEFT: i32 = 60;

    let style = text_style(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
    let width = area.dim_in_pixel().0 as i32;
    let (mut x, mut y) = (LEFT, ROW_HEIGHT / 2);
    for (key, label) in entries {
        let text_width = area.estimate_text_size(label, &style)?.0 as i32;
        let entry_width = SYMBOL_WIDTH + SYMBOL_GAP + text_width;
        if x > LEFT && x + entry_width > width {
            x = LEFT;
            y += ROW_HEIGHT;
        }
        let ends = vec![(x, y), (x + SYMBOL_WIDTH, y)];
        match *key {
            Key::Line(colour) => area.draw(&PathElement::new(ends, colour.stroke_width(2)))?,
            Key::Dashed(colour) => {
                let dashed = DashedPathElement::new(ends, DASH, GAP, colour.stroke_width(2));
                area.draw(&dashed)?
            }
            Key::Dotted(colour) => {
                let dotted = DashedPathElement::new(ends, DOT, DOT_GAP, colour.stroke_width(2));
                area.draw(&dotted)?
            }
            Key::Cross(colour) => {
                let centre = (x + SYMBOL_WIDTH / 2, y);
                area.draw(&Cross::new(centre, 6, colour.stroke_width(2)))?
            }
            Key::Band(colour) => {
                let corners = [(x, y - 6), (x + SYMBOL_WIDTH, y + 6)];
                area.draw(&Rectangle::new(corners, colour.mix(0.25).filled()))?
            }
        }
        let text_x = x + SYMBOL_WIDTH + SYMBOL_GAP;
        area.draw(&Text::new(label.clone(), (text_x, y), style.clone()))?;
        x += entry_width + ENTRY_GAP;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::results::{ActivationStats, RunStatus};
    use crate::table::tests::{synthetic_results, synthetic_run};

    const CHARTS: [(&str, u32, u32); 4] = [
        ("degradation", 1200, 550),
        ("activations_at_init", 900, 600),
        ("training_curves", 1200, 900),
        ("gradients_at_init", 1200, 550),
    ];

    /// Decodes a PNG file into its width, height and RGB bytes.
    fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
        let file = fs::File::open(path).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(file));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        pixels.truncate(info.buffer_size());
        (info.width, info.height, pixels)
    }

    fn distinct_colours(rgb: &[u8]) -> usize {
        let mut colours: Vec<&[u8]> = rgb.chunks(3).collect();
        colours.sort_unstable();
        colours.dedup();
        colours.len()
    }

    #[test]
    fn charts_written_as_svg_and_png() {
        let folder = tempfile::tempdir().unwrap();
        let charts_dir = folder.path().join("charts");
        let paths = draw_charts(&synthetic_results(), &charts_dir).unwrap();
        assert_eq!(paths.len(), 8);
        for (name, width, height) in CHARTS {
            let svg_path = charts_dir.join(format!("{name}.svg"));
            let png_path = charts_dir.join(format!("{name}.png"));
            assert!(paths.contains(&svg_path), "{name}.svg not returned");
            assert!(paths.contains(&png_path), "{name}.png not returned");

            let svg = fs::read_to_string(&svg_path).unwrap();
            assert!(
                svg.starts_with("<svg"),
                "{name}.svg starts with {:?}",
                &svg[..20]
            );
            assert!(svg.contains("plain"), "{name}.svg lacks the variant plain");
            assert!(
                svg.contains("residual"),
                "{name}.svg lacks the variant residual"
            );

            let (png_width, png_height, rgb) = decode_png(&png_path);
            assert_eq!(png_width, width, "{name}.png width");
            assert_eq!(png_height, height, "{name}.png height");
            assert!(
                distinct_colours(&rgb) > 10,
                "{name}.png has almost one colour"
            );
        }
    }

    #[test]
    fn svg_titles() {
        let folder = tempfile::tempdir().unwrap();
        draw_charts(&synthetic_results(), folder.path()).unwrap();
        let read = |name: &str| fs::read_to_string(folder.path().join(name)).unwrap();

        let degradation = read("degradation.svg");
        assert!(degradation.contains("Final error against depth"));
        assert!(degradation.contains("sweep &quot;synthetic&quot; (MNIST-1D, width 32)"));
        let activations = read("activations_at_init.svg");
        assert!(activations.contains("Activation std at initialisation, depth 32"));
        let curves = read("training_curves.svg");
        assert!(curves.contains("Training curves"));
    }

    #[test]
    fn no_runs_is_an_error() {
        let folder = tempfile::tempdir().unwrap();
        let mut results = synthetic_results();
        results.runs.clear();
        let charts_dir = folder.path().join("charts");
        let error = draw_charts(&results, &charts_dir).unwrap_err().to_string();
        assert!(error.contains("no finished runs were found in"), "{error}");
        assert!(
            error.contains(&folder.path().display().to_string()),
            "{error}"
        );
        assert!(!charts_dir.exists());
    }

    #[test]
    fn non_finite_std_does_not_panic() {
        let folder = tempfile::tempdir().unwrap();
        let mut results = synthetic_results();
        for run in &mut results.runs {
            for (k, stats) in run.init.activations.iter_mut().enumerate() {
                stats.std = [f64::NAN, f64::INFINITY, 0.0, -1.0][k % 4];
            }
        }
        let paths = draw_charts(&results, folder.path()).unwrap();
        assert_eq!(paths.len(), 8);
    }

    #[test]
    fn single_run_single_depth() {
        let folder = tempfile::tempdir().unwrap();
        let mut results = synthetic_results();
        results.manifest.sweep.variants = vec![Variant::Residual];
        results.manifest.sweep.depths = vec![8];
        results.manifest.sweep.seeds = vec![0];
        results.runs = vec![synthetic_run(Variant::Residual, 8, 0)];
        let paths = draw_charts(&results, folder.path()).unwrap();
        assert_eq!(paths.len(), 8);
    }

    #[test]
    fn all_diverged_variant() {
        let folder = tempfile::tempdir().unwrap();
        let mut results = synthetic_results();
        for run in &mut results.runs {
            if run.config.variant == Variant::Plain {
                run.summary.status = RunStatus::Diverged;
                run.summary.diverged_epoch = Some(0);
                run.summary.final_train_error = None;
                run.summary.final_test_error = None;
                run.metrics.truncate(1);
                run.init.activations = vec![ActivationStats {
                    layer: 0,
                    mean: 0.0,
                    std: f64::INFINITY,
                    mean_square: f64::INFINITY,
                }];
            }
        }
        let paths = draw_charts(&results, folder.path()).unwrap();
        assert_eq!(paths.len(), 8);
    }

    #[test]
    fn missing_runs_are_skipped() {
        let folder = tempfile::tempdir().unwrap();
        let mut results = synthetic_results();
        results.runs.retain(|run| run.config.depth != 32);
        results.missing = vec!["plain-d032-s0".into(), "plain-d032-s1".into()];
        let paths = draw_charts(&results, folder.path()).unwrap();
        assert_eq!(paths.len(), 8);
        let activations = fs::read_to_string(folder.path().join("activations_at_init.svg"));
        assert!(activations.unwrap().contains("depth 8"));
    }

    #[test]
    fn log_tick_labels() {
        assert_eq!(format_log_tick(&0.2), "0.2");
        assert_eq!(format_log_tick(&(3.0 * 0.1)), "0.3");
        assert_eq!(format_log_tick(&10.0), "10");
        assert_eq!(format_log_tick(&1e9), "1e9");
        assert_eq!(format_log_tick(&2.5e-3), "2.5e-3");
    }

    #[test]
    fn percent_axis_bounds() {
        assert_eq!(percent_axis_max(23.0), 30.0);
        assert_eq!(percent_axis_max(90.0), 100.0);
        assert_eq!(percent_axis_max(0.0), 10.0);
        assert_eq!(percent_axis_max(f64::NAN), 100.0);
    }

    #[test]
    fn log_ticks_ranges() {
        assert_eq!(log_ticks(0.5, 30.0), vec![0.5, 1.0, 2.0, 5.0, 10.0, 20.0]);
        let wide = log_ticks(0.1, 1e9);
        assert_eq!(wide.first(), Some(&0.1));
        assert!(wide.len() <= 11, "{wide:?}");
        let even = log_ticks(0.5, 3e9);
        assert_eq!(even.first(), Some(&1.0), "{even:?}");
        assert!(even.len() <= 10, "{even:?}");
        let narrow = log_ticks(1.1, 1.9);
        assert_eq!(narrow, vec![1.1, 1.9]);
        let short = log_ticks(1.5, 4.5);
        assert_eq!(short, vec![2.0, 3.0, 4.0]);
    }
}
