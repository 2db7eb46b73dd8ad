//! The resdepth runner: sweep configs, training, probes at initialisation, results and charts,
//! and the shattered-gradients experiment.

pub mod backend;
pub mod charts;
pub mod config;
pub mod logging;
pub mod memory;
pub mod probe;
pub mod results;
pub mod shard;
pub mod shattered;
pub mod sweep;
pub mod table;
pub mod train;
