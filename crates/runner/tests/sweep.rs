//! End-to-end tests of the `resdepth` binary on small sweeps of the built-in MNIST-1D.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const SMOKE_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../experiments/smoke.toml");

fn resdepth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resdepth"))
        .args(args)
        .output()
        .expect("resdepth starts")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn sweep(config: &Path, results: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "sweep",
        config.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    resdepth(&args)
}

/// Finished run folders (named by run id, no `.partial-` suffix) under `runs`.
fn run_folders(sweep_dir: &Path) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = fs::read_dir(sweep_dir.join("runs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .contains(".partial-")
        })
        .collect();
    folders.sort();
    folders
}

/// `metrics.jsonl` of a run without the wall-clock field, which differs between runs.
fn metrics_without_time(run: &Path) -> Vec<Value> {
    let text = fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).unwrap();
            value.as_object_mut().unwrap().remove("elapsed_seconds");
            value
        })
        .collect()
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("sweep.toml");
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn smoke_sweep_writes_results_layout() {
    let results = tempfile::tempdir().unwrap();
    let output = sweep(Path::new(SMOKE_CONFIG), results.path(), &[]);
    assert!(output.status.success(), "sweep failed: {}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("8 runs completed"), "stdout: {stdout}");

    let sweep_dir = results.path().join("smoke");
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(sweep_dir.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(manifest["run_ids"].as_array().unwrap().len(), 8);

    let runs = run_folders(&sweep_dir);
    assert_eq!(runs.len(), 8);
    for run in &runs {
        for file in ["config.json", "init.json", "metrics.jsonl", "summary.json"] {
            assert!(
                run.join(file).is_file(),
                "{} missing in {}",
                file,
                run.display()
            );
        }
        let metrics = metrics_without_time(run);
        assert_eq!(metrics.len(), 3, "epochs 0, 1, 2 in {}", run.display());
        let summary: Value =
            serde_json::from_str(&fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["status"], "completed");
        let error = summary["final_train_error"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&error), "train error {error}");
        let init: Value =
            serde_json::from_str(&fs::read_to_string(run.join("init.json")).unwrap()).unwrap();
        let depth = if run.to_string_lossy().contains("-d001-") {
            1
        } else {
            3
        };
        assert_eq!(init["activations"].as_array().unwrap().len(), depth + 1);
        assert_eq!(init["weight_grads"].as_array().unwrap().len(), depth + 2);
        let activation_grads = init["activation_grads"].as_array().unwrap();
        assert_eq!(activation_grads.len(), depth + 1);
        assert!(activation_grads[0]["grad_norm"].as_f64().unwrap() > 0.0);
        assert_eq!(init["probe_batch_size"], 200);
    }

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(sweep_dir.join("sweep.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "sweep.json mode {mode:o}");
    }

    let charts = sweep_dir.join("charts");
    for name in [
        "degradation",
        "activations_at_init",
        "training_curves",
        "gradients_at_init",
    ] {
        let svg = fs::read_to_string(charts.join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg"),
            "{name}.svg does not start with <svg"
        );
        assert!(
            svg.trim_end().ends_with("</svg>"),
            "{name}.svg is not closed"
        );
        let png = fs::read(charts.join(format!("{name}.png"))).unwrap();
        assert_eq!(
            &png[..8],
            b"\x89PNG\r\n\x1a\n",
            "{name}.png has no PNG signature"
        );
    }
    let table = fs::read_to_string(charts.join("summary.md")).unwrap();
    for variant in ["plain", "plain-bn", "residual", "residual-bn"] {
        assert!(table.contains(variant), "summary.md lacks {variant}");
    }
}

#[test]
fn rerun_skips_finished_and_redoes_partial() {
    let results = tempfile::tempdir().unwrap();
    let first = sweep(Path::new(SMOKE_CONFIG), results.path(), &[]);
    assert!(first.status.success(), "sweep failed: {}", stderr(&first));
    let sweep_dir = results.path().join("smoke");
    let runs = run_folders(&sweep_dir);
    let victim = runs[0].clone();
    let expected = metrics_without_time(&victim);

    // Make the first run look interrupted: its finished folder gone, a partial one left behind.
    let run_id = victim.file_name().unwrap().to_string_lossy().into_owned();
    let partial = sweep_dir
        .join("runs")
        .join(format!("{run_id}.partial-4242"));
    fs::rename(&victim, &partial).unwrap();
    fs::remove_file(partial.join("summary.json")).unwrap();

    let second = sweep(Path::new(SMOKE_CONFIG), results.path(), &[]);
    assert!(second.status.success(), "rerun failed: {}", stderr(&second));
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("8 runs completed"), "stdout: {stdout}");
    assert!(
        stdout.contains("(1 trained now, 7 already finished)"),
        "stdout: {stdout}"
    );
    assert!(!partial.exists(), "partial folder was not removed");
    assert_eq!(metrics_without_time(&victim), expected);
}

#[test]
fn killed_sweep_resumes_to_same_results() {
    let scratch = tempfile::tempdir().unwrap();
    let config = write_config(
        scratch.path(),
        r#"
name = "killed"
[dataset]
name = "mnist1d"
[model]
family = "mlp"
width = 32
[sweep]
variants = ["plain", "residual-bn"]
depths = [2, 4, 6]
seeds = [0]
[training]
learning_rate = 0.05
batch_size = 100
num_epochs = 15
"#,
    );
    let results = scratch.path().join("results");
    let sweep_dir = results.join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_resdepth"))
        .args([
            "sweep",
            config.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ])
        .args(["--quiet", "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill the sweep once at least one run has finished, while later ones are in flight.
    let started = Instant::now();
    while !sweep_dir.join("runs").is_dir() || run_folders(&sweep_dir).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no run finished in 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished_before_kill = run_folders(&sweep_dir);
    assert!(
        finished_before_kill.len() < 6,
        "the sweep ended before it was killed"
    );
    for run in &finished_before_kill {
        assert!(
            run.join("summary.json").is_file(),
            "{} has no summary",
            run.display()
        );
    }

    let resumed = sweep(&config, &results, &[]);
    assert!(
        resumed.status.success(),
        "resume failed: {}",
        stderr(&resumed)
    );
    assert_eq!(run_folders(&sweep_dir).len(), 6);

    // The same sweep from scratch, with two jobs, gives identical metrics.
    let fresh = scratch.path().join("fresh");
    let output = sweep(&config, &fresh, &["--jobs", "2"]);
    assert!(
        output.status.success(),
        "fresh sweep failed: {}",
        stderr(&output)
    );
    for run in run_folders(&sweep_dir) {
        let twin = fresh.join("killed/runs").join(run.file_name().unwrap());
        assert_eq!(
            metrics_without_time(&run),
            metrics_without_time(&twin),
            "{}",
            run.display()
        );
    }
}

#[test]
fn deep_residual_without_bn_diverges() {
    let scratch = tempfile::tempdir().unwrap();
    let config = write_config(
        scratch.path(),
        r#"
name = "diverge"
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
num_epochs = 3
"#,
    );
    let results = scratch.path().join("results");
    let output = sweep(&config, &results, &[]);
    assert!(
        output.status.success(),
        "a diverged run alone must not fail: {}",
        stderr(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("1 diverged"), "stdout: {stdout}");

    let run = &run_folders(&results.join("diverge"))[0];
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["status"], "diverged");
    assert_eq!(summary["diverged_epoch"], 1);
    assert!(summary["final_train_error"].is_null());
    assert!(results.join("diverge/charts/degradation.svg").is_file());

    let failing = sweep(
        &config,
        &scratch.path().join("again"),
        &["--fail-on-divergence"],
    );
    assert_eq!(failing.status.code(), Some(3));
    // A rerun trains nothing but still reports the diverged run.
    let rerun = sweep(
        &config,
        &scratch.path().join("again"),
        &["--fail-on-divergence"],
    );
    assert_eq!(rerun.status.code(), Some(3), "{}", stderr(&rerun));
}

#[test]
fn run_folder_without_summary_is_retrained() {
    let results = tempfile::tempdir().unwrap();
    let first = sweep(Path::new(SMOKE_CONFIG), results.path(), &[]);
    assert!(first.status.success(), "sweep failed: {}", stderr(&first));
    let run = run_folders(&results.path().join("smoke"))[0].clone();
    let expected = metrics_without_time(&run);
    fs::remove_file(run.join("summary.json")).unwrap();

    let second = sweep(Path::new(SMOKE_CONFIG), results.path(), &[]);
    assert!(second.status.success(), "rerun failed: {}", stderr(&second));
    assert!(run.join("summary.json").is_file());
    assert_eq!(metrics_without_time(&run), expected);
}

#[test]
fn concurrent_sweeps_share_one_folder() {
    let scratch = tempfile::tempdir().unwrap();
    let config = write_config(
        scratch.path(),
        r#"
name = "shared"
[dataset]
name = "mnist1d"
[model]
family = "mlp"
width = 32
[sweep]
variants = ["plain", "residual-bn"]
depths = [1, 2, 3, 4]
seeds = [0]
[training]
learning_rate = 0.05
batch_size = 100
num_epochs = 6
"#,
    );
    let results = scratch.path().join("results");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_resdepth"))
            .args([
                "sweep",
                config.to_str().unwrap(),
                "--results",
                results.to_str().unwrap(),
            ])
            .args(["--quiet", "--jobs", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [spawn(), spawn()];
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a sweep failed: {}",
            stderr(&output)
        );
    }

    let sweep_dir = results.join("shared");
    let entries: Vec<String> = fs::read_dir(sweep_dir.join("runs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 8, "runs/ holds {entries:?}");
    let fresh = scratch.path().join("fresh");
    let single = sweep(&config, &fresh, &[]);
    assert!(
        single.status.success(),
        "single sweep failed: {}",
        stderr(&single)
    );
    for run in run_folders(&sweep_dir) {
        for file in ["config.json", "init.json", "metrics.jsonl", "summary.json"] {
            assert!(
                run.join(file).is_file(),
                "{} missing in {}",
                file,
                run.display()
            );
        }
        let twin = fresh.join("shared/runs").join(run.file_name().unwrap());
        assert_eq!(
            metrics_without_time(&run),
            metrics_without_time(&twin),
            "{}",
            run.display()
        );
    }
}

#[test]
fn oversized_network_is_rejected() {
    let scratch = tempfile::tempdir().unwrap();
    let config = write_config(
        scratch.path(),
        &config_with("width = 16", "width = 1000000"),
    );
    let results = scratch.path().join("results");
    let output = sweep(&config, &results, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("model.width"),
        "{}",
        stderr(&output)
    );
    assert!(!results.exists());
}

#[test]
fn plot_redraws_charts_from_results() {
    let results = tempfile::tempdir().unwrap();
    let output = sweep(Path::new(SMOKE_CONFIG), results.path(), &[]);
    assert!(output.status.success(), "sweep failed: {}", stderr(&output));
    let sweep_dir = results.path().join("smoke");
    let charts = sweep_dir.join("charts");
    let original = fs::read_to_string(charts.join("summary.md")).unwrap();
    fs::remove_dir_all(&charts).unwrap();

    let plot = resdepth(&["plot", sweep_dir.to_str().unwrap()]);
    assert!(plot.status.success(), "plot failed: {}", stderr(&plot));
    assert!(charts.join("degradation.png").is_file());
    assert_eq!(
        fs::read_to_string(charts.join("summary.md")).unwrap(),
        original
    );

    let not_results = resdepth(&["plot", results.path().to_str().unwrap()]);
    assert!(!not_results.status.success());
    assert!(
        stderr(&not_results).contains("sweep.json"),
        "{}",
        stderr(&not_results)
    );
}

/// Returns a valid config with one line replaced, for the bad-input cases.
fn config_with(from: &str, to: &str) -> String {
    let valid = r#"
name = "bad"
[dataset]
name = "mnist1d"
[model]
family = "mlp"
width = 16
[sweep]
variants = ["plain"]
depths = [1]
seeds = [0]
[training]
learning_rate = 0.05
batch_size = 100
num_epochs = 1
"#;
    assert!(valid.contains(from), "{from} not in the valid config");
    valid.replacen(from, to, 1)
}

#[test]
fn bad_configs_are_rejected_without_writing() {
    let cases = [
        (
            config_with("width = 16", "width = 16\ncolour = 3"),
            "colour",
        ),
        (config_with("width = 16", "width = \"wide\""), "width"),
        (
            config_with("depths = [1]", "depths = [0]"),
            "sweep.depths[0] = 0",
        ),
        (config_with("seeds = [0]", "seeds = []"), "sweep.seeds"),
        (
            config_with("learning_rate = 0.05", "learning_rate = -0.1"),
            "training.learning_rate = -0.1",
        ),
        (
            config_with("learning_rate = 0.05", "learning_rate = 0.0"),
            "training.learning_rate = 0",
        ),
        (
            config_with("variants = [\"plain\"]", "variants = [\"dense\"]"),
            "\"dense\"",
        ),
        (
            config_with("name = \"mnist1d\"", "name = \"imagenet\""),
            "\"imagenet\"",
        ),
        (config_with("num_epochs = 1\n", ""), "num_epochs"),
        (
            config_with(
                "width = 16",
                "width = 16\ninit = { normal = { weight_variance = -2.0, bias_variance = 0.0 } }",
            ),
            "model.init.normal.weight_variance = -2",
        ),
    ];
    for (text, expected) in cases {
        let scratch = tempfile::tempdir().unwrap();
        let config = write_config(scratch.path(), &text);
        let results = scratch.path().join("results");
        let output = sweep(&config, &results, &[]);
        let message = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(1),
            "expected failure for {expected}: {message}"
        );
        assert!(
            message.contains("sweep.toml"),
            "message does not name the file: {message}"
        );
        assert!(
            message.contains(expected),
            "message does not name {expected}: {message}"
        );
        assert!(
            !results.exists(),
            "results written for a bad config ({expected})"
        );
    }

    let scratch = tempfile::tempdir().unwrap();
    let missing = scratch.path().join("missing.toml");
    let output = sweep(&missing, &scratch.path().join("results"), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("missing.toml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_flags_are_rejected() {
    let scratch = tempfile::tempdir().unwrap();
    let results = scratch.path().join("results");
    let output = sweep(Path::new(SMOKE_CONFIG), &results, &["--jobs", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--jobs"), "{}", stderr(&output));
    let output = sweep(Path::new(SMOKE_CONFIG), &results, &["--backend", "tpu"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("tpu"), "{}", stderr(&output));
    assert!(!results.exists());
}

#[test]
fn concurrent_shards_equal_unsharded_sweep() {
    let scratch = tempfile::tempdir().unwrap();
    let config = write_config(
        scratch.path(),
        r#"
name = "sharded"
[dataset]
name = "mnist1d"
[model]
family = "mlp"
width = 16
[sweep]
variants = ["plain", "plain-bn", "residual-bn"]
depths = [1, 2, 3]
seeds = [0, 1]
[training]
learning_rate = 0.05
batch_size = 100
num_epochs = 2
"#,
    );
    let results = scratch.path().join("results");
    let children: Vec<_> = (0..3)
        .map(|index| {
            Command::new(env!("CARGO_BIN_EXE_resdepth"))
                .args([
                    "sweep",
                    config.to_str().unwrap(),
                    "--results",
                    results.to_str().unwrap(),
                ])
                .args([
                    "--quiet",
                    "--jobs",
                    "1",
                    "--no-charts",
                    "--shard",
                    &format!("{index}/3"),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a shard failed: {}",
            stderr(&output)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("6 runs completed"), "stdout: {stdout}");
    }
    let sweep_dir = results.join("sharded");
    assert!(
        !sweep_dir.join("charts").exists(),
        "--no-charts drew charts"
    );

    let plot = resdepth(&["plot", sweep_dir.to_str().unwrap()]);
    assert!(plot.status.success(), "plot failed: {}", stderr(&plot));

    let whole = scratch.path().join("whole");
    let output = sweep(&config, &whole, &[]);
    assert!(
        output.status.success(),
        "unsharded sweep failed: {}",
        stderr(&output)
    );
    let sharded_runs = run_folders(&sweep_dir);
    let whole_runs = run_folders(&whole.join("sharded"));
    let names = |runs: &[PathBuf]| -> Vec<String> {
        runs.iter()
            .map(|run| run.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&sharded_runs), names(&whole_runs));
    for (sharded, unsharded) in sharded_runs.iter().zip(&whole_runs) {
        let summary: Value =
            serde_json::from_str(&fs::read_to_string(sharded.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["status"], "completed", "{}", sharded.display());
        assert_eq!(
            metrics_without_time(sharded),
            metrics_without_time(unsharded)
        );
    }
    let partials = fs::read_dir(sweep_dir.join("runs"))
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            name.to_string_lossy().contains(".partial-")
        })
        .count();
    assert_eq!(partials, 0);
}
