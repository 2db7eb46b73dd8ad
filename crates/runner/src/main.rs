//! `resdepth`: depth sweeps of plain and residual networks, and their charts.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use model::{CnnConfig, Variant};
use runner::backend::{Backend, Engine};
use runner::bench::{BenchCase, time_case};
use runner::config::{Family, SweepConfig};
use runner::lesion::{LESION_FILE, LesionOptions, run_lesion};
use runner::paths::{PATHS_FILE, PathsOptions, run_paths};
use runner::results::SweepDir;
use runner::shard::Shard;
use runner::shattered::config::ShatteredConfig;
use runner::shattered::results::RESULTS_FILE;
use runner::shattered::{ShatteredOptions, run_shattered};
use runner::sweep::{SweepOptions, run_sweep};
use runner::{charts, lesion, logging, memory, paths, table};

/// Exit code when `--fail-on-divergence` is set and a run of the sweep diverged, in this
/// invocation or an earlier one.
const EXIT_DIVERGED: u8 = 3;

#[derive(Parser)]
#[command(
    name = "resdepth",
    version,
    about = "Depth sweeps of plain and residual networks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Parses a variant name (`plain`, `plain-bn`, `residual`, `residual-bn`), for clap.
fn parse_variant(text: &str) -> Result<Variant, String> {
    let variant = Variant::ALL
        .into_iter()
        .find(|variant| variant.name() == text);
    variant.ok_or_else(|| {
        format!("unknown variant {text:?}: expected plain, plain-bn, residual or residual-bn")
    })
}

/// Parses a count that must be at least 1, for clap.
fn parse_positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(value) => Ok(value),
        Err(_) => Err(format!("expected a positive integer, got {text:?}")),
    }
}

#[derive(clap::Args)]
struct SweepArgs {
    /// Sweep config (TOML), for example experiments/mnist1d-depth.toml.
    config: PathBuf,
    /// Folder that contains one results folder per sweep.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// Runs trained at once, one per core [default: number of cores].
    #[arg(long, short, value_parser = parse_positive)]
    jobs: Option<usize>,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Training step of MLP runs: `fused` (hand-written, on Flex only) or `autodiff` (burn's).
    #[arg(long, value_enum, default_value_t = Engine::Fused)]
    engine: Engine,
    /// Train only shard I of N (0-based, `I/N`), or `slurm` to take them from a Slurm job
    /// array. Shards can write into one results folder at the same time.
    #[arg(long, value_name = "I/N|slurm")]
    shard: Option<String>,
    /// Skip drawing charts (for shards: draw them once with `resdepth plot` at the end).
    #[arg(long)]
    no_charts: bool,
    /// Hide the progress bar; log one line per finished run instead (the default when
    /// stderr is not a terminal).
    #[arg(long, short)]
    quiet: bool,
    /// Exit with code 3 when any run of the sweep (of this shard) diverged.
    #[arg(long)]
    fail_on_divergence: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Train every run of a sweep config that has not finished yet, then draw its charts.
    Sweep(SweepArgs),
    /// Compute dy/dx of scalar networks at initialisation and its autocorrelation (shattered
    /// gradients), then draw the charts.
    Shattered {
        /// Shattered-gradients config (TOML), for example experiments/shattered-paper.toml.
        config: PathBuf,
        /// Folder that contains one results folder per experiment.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Hide the progress bar and log one line per variant and depth instead (the default
        /// when stderr is not a terminal).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Time training steps on one thread and print one JSON line per case, in the format of
    /// scripts/bench_pytorch.py. MLPs take MNIST-1D-shaped inputs, CNNs CIFAR-10-shaped ones.
    Bench {
        /// Network family: mlp or cnn.
        #[arg(long, value_enum, default_value_t = Family::Mlp)]
        family: Family,
        /// MLP hidden-layer widths, or CNN first-stage filters. Default: 100,256,1024 for
        /// MLPs, 16 for CNNs.
        #[arg(long, value_delimiter = ',', value_parser = parse_positive)]
        widths: Vec<usize>,
        /// MLP blocks, or CNN weighted layers (6n + 2). Default: 4,16,64 for MLPs, 20,56 for
        /// CNNs.
        #[arg(long, value_delimiter = ',', value_parser = parse_positive)]
        depths: Vec<usize>,
        /// Variants.
        #[arg(long, value_delimiter = ',', default_values = ["plain", "plain-bn", "residual", "residual-bn"], value_parser = parse_variant)]
        variants: Vec<Variant>,
        /// Samples per step.
        #[arg(long, default_value_t = 100, value_parser = parse_positive)]
        batch_size: usize,
        /// Steps per timed block; as many again run first as warm-up.
        #[arg(long, default_value_t = 20, value_parser = parse_positive)]
        steps: usize,
        /// Timed blocks; the median is reported.
        #[arg(long, default_value_t = 3, value_parser = parse_positive)]
        repeats: usize,
        /// Compute backend.
        #[arg(long, value_enum, default_value_t = Backend::Flex)]
        backend: Backend,
        /// Training step of MLPs: `fused` (hand-written, on Flex only) or `autodiff` (burn's).
        #[arg(long, value_enum, default_value_t = Engine::Fused)]
        engine: Engine,
    },
    /// Redraw the charts and tables of a sweep, a shattered-gradients experiment, a lesion
    /// study or a path analysis from its stored results, without training or measuring.
    Plot {
        /// A sweep's results folder (results/mnist1d-depth), or its lesion or paths folder
        /// (results/mnist1d-depth/lesion).
        results: PathBuf,
    },
    /// Delete blocks of each trained network of a finished sweep and measure the test error:
    /// each block in turn, and k random blocks for k = 1..depth/2 (Veit et al. 2016).
    Lesion {
        /// A sweep's results folder, for example results/mnist1d-depth.
        results: PathBuf,
        /// Random sets of blocks per number of deleted blocks.
        #[arg(long, default_value_t = LesionOptions::default().draws, value_parser = parse_positive)]
        draws: usize,
        /// Seed of the random sets of blocks.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Compute backend.
        #[arg(long, value_enum, default_value_t = Backend::Flex)]
        backend: Backend,
    },
    /// Measure the gradient that paths of each length carry through the residual networks of a
    /// finished sweep, trained and at initialisation (Veit et al. 2016).
    Paths {
        /// A sweep's results folder, for example results/mnist1d-depth.
        results: PathBuf,
        /// Random sets of blocks per path length.
        #[arg(long, default_value_t = PathsOptions::default().draws, value_parser = parse_positive)]
        draws: usize,
        /// Seed of the random sets of blocks.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Test samples in the batch the gradients are measured on (the first ones of the test
        /// split).
        #[arg(long, default_value_t = PathsOptions::default().samples, value_parser = parse_positive)]
        samples: usize,
        /// Compute backend.
        #[arg(long, value_enum, default_value_t = Backend::Flex)]
        backend: Backend,
    },
}

fn draw(dir: &SweepDir) -> Result<()> {
    let results = dir.load()?;
    if !results.missing.is_empty() {
        tracing::warn!(
            missing = results.missing.len(),
            "some runs of the sweep have not finished; charts show the finished ones"
        );
    }
    let mut written = charts::draw_charts(&results, &dir.charts())?;
    written.extend(table::write_tables(&results, &dir.charts())?);
    for path in written {
        tracing::info!(path = %path.display(), "wrote");
    }
    println!("charts and tables written to {}", dir.charts().display());
    Ok(())
}

/// Redraws whatever `dir` contains results of: a lesion study, a path analysis or a sweep.
fn plot(dir: &Path) -> Result<()> {
    let sweep = SweepDir::new(dir);
    let written = if dir.join(LESION_FILE).is_file() {
        lesion::redraw(dir)?
    } else if dir.join(RESULTS_FILE).is_file() {
        runner::shattered::redraw(dir)?
    } else if dir.join(PATHS_FILE).is_file() {
        paths::redraw(dir)?
    } else if sweep.manifest().is_file() {
        return draw(&sweep);
    } else {
        anyhow::bail!(
            "{} contains no results to plot: none of {}, {}, {} or {} was found",
            dir.display(),
            sweep.manifest().display(),
            dir.join(RESULTS_FILE).display(),
            dir.join(LESION_FILE).display(),
            dir.join(PATHS_FILE).display()
        );
    };
    report_written(&written);
    Ok(())
}

/// Logs each written file and prints the folders that received them.
fn report_written(written: &[PathBuf]) {
    for path in written {
        tracing::info!(path = %path.display(), "wrote");
    }
    let mut folders: Vec<&Path> = written.iter().filter_map(|path| path.parent()).collect();
    folders.dedup();
    for folder in folders {
        println!("results written to {}", folder.display());
    }
}

/// Rejects a sweep whose largest run would not fit in this machine's memory.
fn check_memory(config: &SweepConfig, jobs: usize) -> Result<()> {
    let Some(total) = memory::total_bytes() else {
        return Ok(());
    };
    let deepest = config.depths.iter().copied().max().unwrap_or(0);
    let per_run = memory::estimate_run_bytes(config, deepest);
    let concurrent = jobs.min(config.runs().len()) as f64;
    if per_run * concurrent > total as f64 {
        anyhow::bail!(
            "the sweep needs about {:.1} GiB ({} runs at once of about {:.1} GiB each at width {} \
             and depth {}), more than this machine's {:.1} GiB: reduce model.width, \
             sweep.depths or --jobs",
            per_run * concurrent / GIB,
            concurrent,
            per_run / GIB,
            config.width,
            deepest,
            total as f64 / GIB
        );
    }
    Ok(())
}

const GIB: f64 = (1u64 << 30) as f64;

fn shattered_command(config_path: PathBuf, results: PathBuf, quiet: bool) -> Result<ExitCode> {
    let config = ShatteredConfig::load(&config_path)?;
    let options = ShatteredOptions {
        results_root: results,
        quiet,
    };
    let dir = run_shattered(&config, &options)?;
    println!(
        "{}: {} networks; results and charts in {}",
        config.name,
        config.variants.len() * config.hidden_layers.len() * config.seeds.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn bench_command(
    family: Family,
    widths: &[usize],
    depths: &[usize],
    variants: &[Variant],
    batch_size: usize,
    steps: usize,
    repeats: usize,
    backend: Backend,
    engine: Engine,
) -> Result<ExitCode> {
    let (default_widths, default_depths): (&[usize], &[usize]) = match family {
        Family::Mlp => (&[100, 256, 1024], &[4, 16, 64]),
        Family::Cnn => (&[16], &[20, 56]),
    };
    let widths = if widths.is_empty() {
        default_widths
    } else {
        widths
    };
    let depths = if depths.is_empty() {
        default_depths
    } else {
        depths
    };
    if family == Family::Cnn
        && let Some(&depth) = depths
            .iter()
            .find(|&&d| CnnConfig::blocks_for_layers(d).is_none())
    {
        anyhow::bail!(
            "invalid value {depth} for --depths: a CNN has 6n + 2 weighted layers (8, 14, 20, \
             32, 44, 56, 110, ...)"
        );
    }
    let device = backend.device()?.autodiff();
    let engine = match family {
        Family::Mlp => engine.on(backend),
        Family::Cnn => Engine::Autodiff,
    };
    let framework = match engine {
        Engine::Fused => "resdepth-fused".to_string(),
        Engine::Autodiff => format!("resdepth-{}", backend.name()),
    };
    for &width in widths {
        for &depth in depths {
            for &variant in variants {
                let case = BenchCase {
                    family,
                    variant,
                    width,
                    depth,
                };
                let result = time_case(case, batch_size, steps, repeats, engine, &device);
                let mut line = serde_json::to_value(&result)?;
                line["framework"] = framework.clone().into();
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn sweep_command(args: SweepArgs) -> Result<ExitCode> {
    let config = SweepConfig::load(&args.config)?;
    let shattered = args.results.join(&config.name).join(RESULTS_FILE);
    if shattered.exists() {
        anyhow::bail!(
            "{} belongs to a shattered-gradients experiment: set another `name` in {}",
            shattered.display(),
            args.config.display()
        );
    }
    let shard = match &args.shard {
        Some(text) => text.parse::<Shard>()?,
        None => Shard::WHOLE,
    };
    let jobs = match args.jobs {
        Some(jobs) => jobs,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    args.backend.device()?;
    check_memory(&config, jobs)?;
    let options = SweepOptions {
        results_root: args.results,
        jobs,
        quiet: args.quiet,
        backend: args.backend,
        engine: args.engine,
        shard,
    };
    let outcome = run_sweep(&config, &options)?;

    let mut busy = String::new();
    if !outcome.busy.is_empty() {
        busy = format!(", {} being trained by another process", outcome.busy.len());
    }
    let mut name = config.name.clone();
    if shard != Shard::WHOLE {
        name = format!("{name} shard {shard}");
    }
    println!(
        "{}: {} runs completed, {} diverged, {} failed{busy} ({} trained now, {} already \
         finished); results in {}",
        name,
        outcome.completed,
        outcome.diverged.len(),
        outcome.failed.len(),
        outcome.trained,
        outcome.already_finished,
        outcome.dir.display()
    );
    for (run_id, error) in &outcome.failed {
        eprintln!("error: run {run_id} failed: {error}");
    }
    let finished = outcome.completed + outcome.diverged.len();
    let drawn = match finished {
        _ if args.no_charts => true,
        0 => true,
        _ => match draw(&SweepDir::new(&outcome.dir)) {
            Ok(()) => true,
            Err(error) => {
                eprintln!("error: failed to draw charts: {error:#}");
                false
            }
        },
    };
    if !outcome.failed.is_empty() || !drawn {
        return Ok(ExitCode::FAILURE);
    }
    if args.fail_on_divergence && !outcome.diverged.is_empty() {
        return Ok(ExitCode::from(EXIT_DIVERGED));
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Without a progress bar (quiet, or stderr not a terminal), log each finished run instead.
    let quiet = match &cli.command {
        Command::Sweep(args) => args.quiet,
        Command::Shattered { quiet, .. } => *quiet,
        Command::Plot { .. }
        | Command::Lesion { .. }
        | Command::Paths { .. }
        | Command::Bench { .. } => false,
    };
    // The analyses have no progress bar and log each measured run.
    let analysis = matches!(cli.command, Command::Lesion { .. } | Command::Paths { .. });
    let bar_hidden = quiet || analysis || !std::io::stderr().is_terminal();
    logging::init(if bar_hidden { "info" } else { "warn" });

    let result = match cli.command {
        Command::Sweep(args) => sweep_command(args),
        Command::Shattered {
            config,
            results,
            quiet,
        } => shattered_command(config, results, quiet),
        Command::Plot { results } => plot(&results).map(|()| ExitCode::SUCCESS),
        Command::Bench {
            family,
            widths,
            depths,
            variants,
            batch_size,
            steps,
            repeats,
            backend,
            engine,
        } => bench_command(
            family, &widths, &depths, &variants, batch_size, steps, repeats, backend, engine,
        ),
        Command::Lesion {
            results,
            draws,
            seed,
            backend,
        } => {
            let options = LesionOptions {
                draws,
                seed,
                backend,
            };
            run_lesion(&results, &options).map(|written| {
                report_written(&written);
                ExitCode::SUCCESS
            })
        }
        Command::Paths {
            results,
            draws,
            seed,
            samples,
            backend,
        } => {
            let options = PathsOptions {
                draws,
                seed,
                samples,
                backend,
            };
            run_paths(&results, &options).map(|written| {
                report_written(&written);
                ExitCode::SUCCESS
            })
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
