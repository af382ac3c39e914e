//! Where a tensor's memory lives.

use crate::{bail, Result};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda(usize),
}

impl Device {
    pub fn is_cuda(self) -> bool {
        matches!(self, Device::Cuda(_))
    }

    /// Parses `"cpu"`, `"cuda"` and `"cuda:N"`.
    pub fn parse(s: &str) -> Result<Device> {
        let s = s.trim();
        // ("cpu:N" names the CPU too, as PyTorch's tensors read it: `device="cpu:0"`)
        let cpu_index = s.strip_prefix("cpu:").map(|i| i.parse::<usize>().is_ok());
        if s == "cpu" || cpu_index == Some(true) {
            return Ok(Device::Cpu);
        }
        if s == "cuda" {
            return Ok(Device::Cuda(0));
        }
        if let Some(i) = s.strip_prefix("cuda:") {
            if let Ok(i) = i.parse::<usize>() {
                return Ok(Device::Cuda(i));
            }
        }
        bail!(
            Device,
            "unknown device {:?}: expected \"cpu\", \"cuda\" or \"cuda:N\"",
            s
        )
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}
