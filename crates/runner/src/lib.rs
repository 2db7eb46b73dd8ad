//! The resdepth runner: sweep configs, training, probes at initialisation, results and charts,
//! the shattered-gradients experiment, and the analyses of trained networks (lesions, path
//! lengths).

mod analysis;
pub mod backend;
pub mod bench;
pub mod charts;
pub mod config;
pub mod lesion;
pub mod logging;
pub mod memory;
pub mod paths;
pub mod probe;
pub mod results;
pub mod shard;
pub mod shattered;
pub mod sweep;
pub mod table;
pub mod train;
