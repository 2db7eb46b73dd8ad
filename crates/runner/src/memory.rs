//! Memory checks made before a sweep starts.

use crate::config::{Family, SweepConfig};

/// Bytes of one `f32`.
const FLOAT_BYTES: f64 = 4.0;

/// Allowance for the process, the dataset and the allocator, per run.
const RUN_OVERHEAD_BYTES: f64 = 64.0 * 1024.0 * 1024.0;

/// Returns an estimate of the peak memory of one run of `config` at `depth`, in bytes.
///
/// For an MLP it counts four copies of the parameters (values, gradients, momentum, the
/// optimizer's update), four `[batch, width]` tensors per layer kept by autodiff for the
/// backward pass, three `[1000, width]` tensors for evaluation, and a fixed overhead. It is an
/// estimate: for width 100 and depth 64 it gives 180 MiB where the measured peak resident size
/// of a run was 100 MiB (burn 0.22.1, Flex). For a CNN it counts the same four copies of the
/// parameters and four feature maps per convolution for the backward pass: 1.9 GB for the
/// 56-layer Fashion-MNIST run with a probe batch of 256, measured at 1.5 GB.
pub fn estimate_run_bytes(config: &SweepConfig, depth: usize) -> f64 {
    let batch = config.training.batch_size.max(config.probe_batch_size) as f64;
    if config.family == Family::Cnn {
        return estimate_cnn_bytes(config, depth, batch);
    }
    let width = config.width as f64;
    let input = config.dataset.sample_size() as f64;
    let classes = config.dataset.num_classes() as f64;
    let layers = depth as f64 + 2.0;
    let params = input * width + depth as f64 * (width * width + width) + width * classes;
    let activations = 4.0 * batch * width * layers;
    let evaluation = 3.0 * 1000.0 * width;
    FLOAT_BYTES * (4.0 * params + activations + evaluation) + RUN_OVERHEAD_BYTES
}

/// Estimates a CNN run of `layers` weighted layers (`6n + 2`) whose largest batch is `batch`.
fn estimate_cnn_bytes(config: &SweepConfig, layers: usize, batch: f64) -> f64 {
    let shape = config.dataset.sample_shape();
    let (channels, pixels) = (shape[0] as f64, (shape[1] * shape[2]) as f64);
    let width = config.width as f64;
    let blocks = (layers.saturating_sub(2) / 6) as f64;
    // Each stage halves the pixels per map and doubles the filters: a stage's maps hold 1, 1/2
    // and 1/4 of the first stage's values.
    let first_stage_map = width * pixels;
    let maps_per_sample = first_stage_map * (1.0 + 2.0 * blocks * (1.0 + 0.5 + 0.25));
    let activations = 4.0 * batch * maps_per_sample;
    let evaluation = 3.0 * 1000.0 * first_stage_map;
    let kernel = 9.0 * width * width;
    let params = 9.0 * channels * width + 2.0 * blocks * kernel * (1.0 + 4.0 + 16.0);
    FLOAT_BYTES * (4.0 * params + activations + evaluation) + RUN_OVERHEAD_BYTES
}

/// Returns the machine's physical memory in bytes, where the platform reports it
/// (`MemTotal` of `/proc/meminfo` on Linux), else `None`.
pub fn total_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(width: usize, depth: usize) -> SweepConfig {
        let text = format!(
            "[dataset]\nname = \"mnist1d\"\n[model]\nfamily = \"mlp\"\nwidth = {width}\n\
             [sweep]\nvariants = [\"plain\"]\ndepths = [{depth}]\nseeds = [0]\n\
             [training]\nlearning_rate = 0.1\nbatch_size = 100\nnum_epochs = 1\n"
        );
        SweepConfig::parse(&text, Path::new("memory.toml")).unwrap()
    }

    #[test]
    fn reference_run_is_small() {
        // Width 100, depth 64: 0.65 M parameters.
        let bytes = estimate_run_bytes(&config(100, 64), 64);
        let mib = bytes / (1024.0 * 1024.0);
        assert!(mib > 100.0, "estimate {mib} MiB");
        assert!(mib < 300.0, "estimate {mib} MiB");
    }

    #[test]
    fn huge_width_is_huge() {
        // Width 100 000: 10^10 weights per layer, 160 GB for four copies.
        let bytes = estimate_run_bytes(&config(100_000, 1), 1);
        assert!(bytes > 1.6e11, "estimate {bytes} bytes");
    }

    #[test]
    fn cnn_estimate_covers_the_measured_peak() {
        // The 56-layer residual-bn run of this config peaked at 1 496 768 KiB resident (probe
        // batch 256, burn 0.22.1, Flex, measured with /usr/bin/time -v).
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/fashion-cnn-depth.toml");
        let config = SweepConfig::load(&path).unwrap();
        let measured = 1_496_768.0 * 1024.0;
        let estimate = estimate_run_bytes(&config, 56);
        assert!(estimate > measured, "estimate {estimate} bytes");
        assert!(estimate < 2.0 * measured, "estimate {estimate} bytes");
        assert!(estimate_run_bytes(&config, 20) < estimate);
    }

    #[test]
    fn total_memory_is_read() {
        if cfg!(target_os = "linux") {
            let total = total_bytes().expect("/proc/meminfo has MemTotal");
            assert!(total > 1 << 28, "total {total} bytes");
        }
    }
}
