//! The GPU backend: burn-wgpu computes what Flex computes, and a sweep trains on it.
//!
//! Built with `--features runner/wgpu`. Without a GPU, Mesa's lavapipe (Debian
//! `mesa-vulkan-drivers`) provides a software Vulkan adapter, which wgpu then picks by default.
//! Where other adapters exist, `CUBECL_WGPU_DEFAULT_DEVICE=Cpu` selects it.
#![cfg(feature = "wgpu")]

use std::path::Path;
use std::process::Command;

use burn::tensor::{Device, DeviceKind, Distribution, Int, Tensor};
use model::{CnnConfig, InitScheme, MlpConfig, Mode, Network, Shortcut, Variant};
use runner::train::cross_entropy;

fn wgpu_device() -> Device {
    Device::wgpu(DeviceKind::DefaultDevice)
}

fn values(tensor: Tensor<2>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

/// Returns the logits and the stem's weight gradient norm of `network` on `device`.
fn logits_and_gradient(
    network: Network,
    inputs: &[f32],
    shape: [usize; 2],
    device: &Device,
) -> (Vec<f32>, f64) {
    let inputs = Tensor::<2>::from_data(
        burn::tensor::TensorData::new(inputs.to_vec(), shape),
        device,
    );
    let targets = Tensor::<1, Int>::arange(0..shape[0] as i64, device).remainder_scalar(10);
    let logits = network.forward(inputs, Mode::Train);
    let loss = cross_entropy(logits.clone(), targets);
    let grads = loss.backward();
    let norms = network.weight_norms(&grads);
    (values(logits.detach()), norms[0].grad_norm)
}

fn max_difference(expected: &[f32], actual: &[f32]) -> f32 {
    expected
        .iter()
        .zip(actual)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn wgpu_matches_flex_on_both_families() {
    let flex = Device::flex().autodiff();
    let wgpu = wgpu_device().autodiff();

    let cnn = CnnConfig {
        in_channels: 1,
        image_size: [12, 12],
        base_width: 4,
        blocks_per_stage: 1,
        num_classes: 10,
        variant: Variant::ResidualBn,
        shortcut: Shortcut::ZeroPad,
        init: InitScheme::KaimingNormal,
    };
    let mlp = MlpConfig {
        input_size: 144,
        width: 32,
        depth: 4,
        num_classes: 10,
        variant: Variant::ResidualBn,
        init: InitScheme::KaimingNormal,
    };
    let inputs = Tensor::<2>::random([16, 144], Distribution::Normal(0.0, 1.0), &Device::flex());
    let inputs = values(inputs);

    type Build<'a> = Box<dyn Fn(&Device) -> Network + 'a>;
    let cases: [(&str, Build); 2] = [
        ("cnn", Box::new(|device| cnn.init(7, device).into())),
        ("mlp", Box::new(|device| mlp.init(7, device).into())),
    ];
    for (family, build) in cases {
        let (flex_logits, flex_grad) = logits_and_gradient(build(&flex), &inputs, [16, 144], &flex);
        let (wgpu_logits, wgpu_grad) = logits_and_gradient(build(&wgpu), &inputs, [16, 144], &wgpu);
        let difference = max_difference(&flex_logits, &wgpu_logits);
        assert!(difference < 1e-3, "{family}: logits differ by {difference}");
        let relative = (flex_grad - wgpu_grad).abs() / flex_grad;
        assert!(
            relative < 1e-3,
            "{family}: stem gradient norm {flex_grad} vs {wgpu_grad}"
        );
    }
}

#[test]
fn sweep_trains_on_wgpu() {
    let folder = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/smoke.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_resdepth"))
        .args([
            "sweep",
            config.to_str().unwrap(),
            "--backend",
            "wgpu",
            "--quiet",
            "--no-charts",
        ])
        .arg("--results")
        .arg(folder.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("8 runs completed"), "{stdout}");
}
