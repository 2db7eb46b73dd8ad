//! End-to-end tests of `resdepth shattered` and of `resdepth plot` on its results.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const TINY_CONFIG: &str = r#"
name = "tiny"
seeds = [0, 1]
max_distance = 16

[model]
width = 32
init = "kaiming-normal"
variants = ["plain", "residual-bn"]
hidden_layers = [1, 3]

[inputs]
count = 64
"#;

const CHARTS: [&str; 4] = [
    "gradients",
    "autocorrelation",
    "autocorrelation_mean_subtracted",
    "gradient_std",
];

fn resdepth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resdepth"))
        .args(args)
        .output()
        .expect("resdepth starts")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("shattered.toml");
    fs::write(&path, text).unwrap();
    path
}

fn shattered(config: &Path, results: &Path) -> Output {
    resdepth(&[
        "shattered",
        config.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
    ])
}

#[test]
fn tiny_experiment_writes_results_and_redraws() {
    let folder = tempfile::tempdir().unwrap();
    let config = write_config(folder.path(), TINY_CONFIG);
    let results = folder.path().join("results");
    let output = shattered(&config, &results);
    assert!(
        output.status.success(),
        "shattered failed: {}",
        stderr(&output)
    );

    let dir = results.join("tiny");
    let json: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("shattered.json")).unwrap()).unwrap();
    assert_eq!(json["config"]["name"], "tiny");
    assert_eq!(json["config"]["inputs"]["count"], 64);
    assert_eq!(json["inputs"].as_array().unwrap().len(), 64);
    let networks = json["networks"].as_array().unwrap();
    assert_eq!(
        networks.len(),
        2 * 2 * 2,
        "variants x hidden layers x seeds"
    );
    for network in networks {
        assert_eq!(network["gradients"].as_array().unwrap().len(), 64);
        let hidden_layers = network["hidden_layers"].as_u64().unwrap();
        assert_eq!(network["depth"].as_u64().unwrap(), hidden_layers - 1);
    }
    let aggregates = json["aggregates"].as_array().unwrap();
    assert_eq!(aggregates.len(), 2 * 2, "variants x hidden layers");
    for aggregate in aggregates {
        assert_eq!(aggregate["networks"], 2);
        for form in ["autocorrelation", "autocorrelation_mean_subtracted"] {
            let mean = aggregate[form]["mean"].as_array().unwrap();
            assert_eq!(mean.len(), 17, "{form}: r(m) for m = 0..=16");
            let at_zero = mean[0].as_f64().unwrap();
            assert!((at_zero - 1.0).abs() < 1e-9, "{form}: r(0) = {at_zero}");
        }
        assert!(aggregate["gradient_std"]["mean"].as_f64().unwrap() > 0.0);
    }

    let charts = dir.join("charts");
    for name in CHARTS {
        let svg = fs::read_to_string(charts.join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.trim_end().ends_with("</svg>"),
            "{name}.svg is not closed"
        );
        let png = fs::read(charts.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png is not a PNG");
    }
    let summary = fs::read_to_string(charts.join("summary.md")).unwrap();
    assert!(summary.contains("| plain | 3 |"), "summary.md: {summary}");
    assert!(
        summary.contains("| residual-bn | 1 |"),
        "summary.md: {summary}"
    );

    // `plot` redraws everything from shattered.json alone.
    fs::remove_dir_all(&charts).unwrap();
    let output = resdepth(&["plot", dir.to_str().unwrap()]);
    assert!(output.status.success(), "plot failed: {}", stderr(&output));
    for name in CHARTS {
        assert!(charts.join(format!("{name}.svg")).is_file(), "{name}.svg");
        assert!(charts.join(format!("{name}.png")).is_file(), "{name}.png");
    }
    let redrawn = fs::read_to_string(charts.join("summary.md")).unwrap();
    assert_eq!(redrawn, summary);
}

#[test]
fn bad_config_is_rejected_before_writing() {
    let folder = tempfile::tempdir().unwrap();
    let config = write_config(
        folder.path(),
        &TINY_CONFIG.replace("width = 32", "width = 0"),
    );
    let results = folder.path().join("results");
    let output = shattered(&config, &results);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains(config.to_str().unwrap()), "{message}");
    assert!(message.contains("model.width = 0"), "{message}");
    assert!(!results.exists(), "results written for an invalid config");
}

#[test]
fn plot_without_results_names_both_files() {
    let folder = tempfile::tempdir().unwrap();
    let output = resdepth(&["plot", folder.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("sweep.json"), "{message}");
    assert!(message.contains("shattered.json"), "{message}");
}
