//! End-to-end tests of `resdepth lesion`, `resdepth paths` and `resdepth plot` on their results,
//! on a tiny sweep of the built-in MNIST-1D.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::Output;

use serde_json::Value;

fn resdepth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resdepth"))
        .args(args)
        .output()
        .expect("resdepth starts")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Writes `config` to `scratch/<name>.toml`, runs the sweep into `scratch/results` and returns
/// the sweep's results folder.
fn run_sweep(scratch: &Path, name: &str, config: &str) -> PathBuf {
    let config_path = scratch.join(format!("{name}.toml"));
    fs::write(&config_path, config).unwrap();
    let results = scratch.join("results");
    let output = resdepth(&[
        "sweep",
        path_arg(&config_path),
        "--results",
        path_arg(&results),
        "--quiet",
    ]);
    assert!(output.status.success(), "sweep failed: {}", stderr(&output));
    results.join(name)
}

const TINY_SWEEP: &str = r#"
name = "tiny"
[dataset]
name = "mnist1d"
[model]
family = "mlp"
width = 16
[sweep]
variants = ["plain-bn", "residual-bn"]
depths = [2, 4]
seeds = [0]
[training]
learning_rate = 0.05
batch_size = 100
num_epochs = 2
[probe]
batch_size = 100
"#;

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|_| panic!("{} missing", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn run_folders(sweep_dir: &Path) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = fs::read_dir(sweep_dir.join("runs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    folders.sort();
    folders
}

/// Checks that `<dir>/charts` has each chart as SVG and PNG, and a `summary.md` naming
/// `variant`.
fn assert_charts(dir: &Path, charts: &[&str], variant: &str) {
    let charts_dir = dir.join("charts");
    for name in charts {
        let svg = fs::read_to_string(charts_dir.join(format!("{name}.svg")))
            .unwrap_or_else(|_| panic!("{name}.svg missing in {}", charts_dir.display()));
        assert!(
            svg.starts_with("<svg"),
            "{name}.svg does not start with <svg"
        );
        assert!(
            svg.trim_end().ends_with("</svg>"),
            "{name}.svg is not closed"
        );
        let png = fs::read(charts_dir.join(format!("{name}.png"))).unwrap();
        assert_eq!(
            &png[..8],
            b"\x89PNG\r\n\x1a\n",
            "{name}.png has no PNG signature"
        );
    }
    let summary = fs::read_to_string(charts_dir.join("summary.md")).unwrap();
    assert!(summary.contains(variant), "summary.md lacks {variant}");
}

/// Deletes `<dir>/charts`, runs `resdepth plot <dir>` and checks that the charts and an identical
/// `summary.md` are back.
fn assert_redraws(dir: &Path, charts: &[&str], variant: &str) {
    let summary_path = dir.join("charts/summary.md");
    let summary = fs::read_to_string(&summary_path).unwrap();
    fs::remove_dir_all(dir.join("charts")).unwrap();
    let plot = resdepth(&["plot", path_arg(dir)]);
    assert!(plot.status.success(), "plot failed: {}", stderr(&plot));
    assert_charts(dir, charts, variant);
    assert_eq!(fs::read_to_string(&summary_path).unwrap(), summary);
}

const LESION_CHARTS: [&str; 2] = ["lesion_single_block", "lesion_blocks_deleted"];
const PATHS_CHARTS: [&str; 3] = [
    "path_lengths",
    "path_gradient_magnitude",
    "path_gradient_share",
];

#[test]
fn lesion_and_paths_on_tiny_sweep() {
    let scratch = tempfile::tempdir().unwrap();
    let sweep_dir = run_sweep(scratch.path(), "tiny", TINY_SWEEP);
    for run in run_folders(&sweep_dir) {
        assert!(
            run.join("model.bpk").is_file(),
            "model.bpk missing in {}",
            run.display()
        );
    }

    let lesion = resdepth(&["lesion", path_arg(&sweep_dir), "--draws", "2"]);
    assert!(
        lesion.status.success(),
        "lesion failed: {}",
        stderr(&lesion)
    );
    let lesion_dir = sweep_dir.join("lesion");
    let lesion_json = read_json(&lesion_dir.join("lesion.json"));
    let runs = lesion_json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    for run in runs {
        let depth = run["depth"].as_u64().unwrap() as usize;
        assert_eq!(run["single_block"].as_array().unwrap().len(), depth);
        assert_eq!(run["random"].as_array().unwrap().len(), depth / 2);
    }
    assert_charts(&lesion_dir, &LESION_CHARTS, "residual-bn");

    // The same seed draws the same sets of blocks.
    let again = resdepth(&["lesion", path_arg(&sweep_dir), "--draws", "2"]);
    assert!(
        again.status.success(),
        "lesion rerun failed: {}",
        stderr(&again)
    );
    assert_eq!(read_json(&lesion_dir.join("lesion.json")), lesion_json);

    let paths = resdepth(&[
        "paths",
        path_arg(&sweep_dir),
        "--draws",
        "2",
        "--samples",
        "50",
    ]);
    assert!(paths.status.success(), "paths failed: {}", stderr(&paths));
    let paths_dir = sweep_dir.join("paths");
    let paths_json = read_json(&paths_dir.join("paths.json"));
    assert_eq!(paths_json["samples"], 50);
    let runs = paths_json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "only the residual runs are measured");
    for run in runs {
        assert_eq!(run["variant"], "residual-bn");
        let depth = run["depth"].as_u64().unwrap() as usize;
        assert_eq!(run["trained"].as_array().unwrap().len(), depth + 1);
        assert_eq!(run["init"].as_array().unwrap().len(), depth + 1);
    }
    let distributions = paths_json["distributions"].as_array().unwrap();
    assert_eq!(
        distributions[0]["fractions"],
        serde_json::json!([0.25, 0.5, 0.25])
    );
    assert_charts(&paths_dir, &PATHS_CHARTS, "residual-bn");

    assert_redraws(&lesion_dir, &LESION_CHARTS, "residual-bn");
    assert_redraws(&paths_dir, &PATHS_CHARTS, "residual-bn");

    // A folder without results of any kind.
    let empty = scratch.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let plot = resdepth(&["plot", path_arg(&empty)]);
    assert_eq!(plot.status.code(), Some(1));
    for file in ["sweep.json", "lesion.json", "paths.json"] {
        assert!(
            stderr(&plot).contains(file),
            "{file} not named: {}",
            stderr(&plot)
        );
    }
    for command in ["lesion", "paths"] {
        let output = resdepth(&[command, path_arg(&empty)]);
        assert_eq!(output.status.code(), Some(1), "{command}");
        assert!(
            stderr(&output).contains("sweep.json"),
            "{}",
            stderr(&output)
        );
        assert!(
            !empty.join(command).exists(),
            "{command} wrote into {}",
            empty.display()
        );
    }

    let zero_draws = resdepth(&["lesion", path_arg(&sweep_dir), "--draws", "0"]);
    assert_eq!(zero_draws.status.code(), Some(2));
    assert!(
        stderr(&zero_draws).contains("--draws"),
        "{}",
        stderr(&zero_draws)
    );
}

#[test]
fn runs_without_weights_are_rejected() {
    let scratch = tempfile::tempdir().unwrap();
    let sweep_dir = run_sweep(scratch.path(), "tiny", TINY_SWEEP);
    let run = run_folders(&sweep_dir)
        .into_iter()
        .find(|run| run.to_string_lossy().contains("residual-bn-d004"))
        .unwrap();
    let model = run.join("model.bpk");

    // A run trained before weights were stored.
    let stored = fs::read(&model).unwrap();
    fs::remove_file(&model).unwrap();
    for command in ["lesion", "paths"] {
        let output = resdepth(&[command, path_arg(&sweep_dir)]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{command}: {message}");
        assert!(message.contains(&model.display().to_string()), "{message}");
        assert!(message.contains("delete their run folders"), "{message}");
        assert!(!sweep_dir.join(command).exists(), "{command} wrote results");
    }

    // A damaged file.
    fs::write(&model, &stored[..stored.len() / 2]).unwrap();
    for command in ["lesion", "paths"] {
        let output = resdepth(&[command, path_arg(&sweep_dir)]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{command}: {message}");
        assert!(message.contains(&model.display().to_string()), "{message}");
        assert!(message.contains("damaged"), "{message}");
        assert!(!sweep_dir.join(command).exists(), "{command} wrote results");
    }
}

#[test]
fn sweep_without_completed_runs_is_rejected() {
    let scratch = tempfile::tempdir().unwrap();
    // Residual networks without batch norm at depth 64 diverge in the first epoch.
    let sweep_dir = run_sweep(
        scratch.path(),
        "diverged",
        r#"
name = "diverged"
[dataset]
name = "mnist1d"
[model]
family = "mlp"
width = 32
[sweep]
variants = ["residual"]
depths = [64]
seeds = [0]
[training]
learning_rate = 0.05
batch_size = 100
num_epochs = 2
[probe]
batch_size = 100
"#,
    );
    let lesion = resdepth(&["lesion", path_arg(&sweep_dir)]);
    assert_eq!(lesion.status.code(), Some(1));
    let message = stderr(&lesion);
    assert!(message.contains("no completed runs"), "{message}");
    assert!(message.contains("1 diverged"), "{message}");
    assert!(!sweep_dir.join("lesion").exists());

    let paths = resdepth(&["paths", path_arg(&sweep_dir)]);
    assert_eq!(paths.status.code(), Some(1));
    let message = stderr(&paths);
    assert!(message.contains("no completed residual runs"), "{message}");
    assert!(!sweep_dir.join("paths").exists());
}
