//! Kernel arguments that are structs (each mirrors a `struct` of the `.cu` sources, field for
//! field, `repr(C)`; the NVRTC test compares their sizes with the PTX parameter sizes) and the
//! launch geometry helpers. Nothing here needs a GPU.

use crate::layout::Layout;
use crate::{bail, Result};

/// `DM_MAX_DIMS` of common.cuh.
pub const MAX_DIMS: usize = 8;
/// `DM_BLOCK` of common.cuh: threads per block of the one-block-per-row kernels.
pub const ROW_BLOCK: u32 = 256;
/// `DM_MT` of optim.cu: tensors per fused optimizer launch.
pub const OPTIM_TENSORS: usize = 16;
/// `DM_AMP_MT` of amp.cu: gradients per unscale launch.
pub const AMP_TENSORS: usize = 32;

/// `DmLayout`: a strided view as the elementwise kernels index it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmLayout {
    pub ndim: i32,
    pub pad: i32,
    pub offset: i64,
    pub shape: [i64; MAX_DIMS],
    pub stride: [i64; MAX_DIMS],
}

impl DmLayout {
    /// A contiguous run of `n` elements from `offset` (one dim: one division per element).
    pub fn contiguous(n: usize, offset: usize) -> DmLayout {
        let mut l = DmLayout {
            ndim: 1,
            pad: 0,
            offset: offset as i64,
            shape: [1; MAX_DIMS],
            stride: [0; MAX_DIMS],
        };
        l.shape[0] = n.max(1) as i64;
        l.stride[0] = 1;
        l
    }

    /// The kernel form of a layout: size-1 dims dropped and dims that are contiguous with
    /// each other merged, so common views need few divisions and any view of up to 8
    /// non-mergeable dims fits.
    pub fn from_layout(l: &Layout) -> Result<DmLayout> {
        let dims = l.merged_dims();
        if dims.len() > MAX_DIMS {
            bail!(
                Shape,
                "CUDA kernels index at most {MAX_DIMS} non-mergeable dims; the view {:?} with strides {:?} has {}",
                l.shape,
                l.strides,
                dims.len()
            );
        }
        if dims.is_empty() {
            return Ok(DmLayout::contiguous(1, l.offset));
        }
        let mut out = DmLayout::contiguous(1, l.offset);
        out.ndim = dims.len() as i32;
        for (d, (n, s)) in dims.into_iter().enumerate() {
            out.shape[d] = n as i64;
            out.stride[d] = s as i64;
        }
        Ok(out)
    }
}

/// `ConvGeom` of conv.cu (`c` is the channel count of one group).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: i32,
    pub c: i32,
    pub groups: i32,
    pub h: i32,
    pub w: i32,
    pub kh: i32,
    pub kw: i32,
    pub sh: i32,
    pub sw: i32,
    pub ph: i32,
    pub pw: i32,
    pub dh: i32,
    pub dw: i32,
    pub ho: i32,
    pub wo: i32,
}

/// `AttnGeom` of attention.cu: `ops::nn::attention::AttentionSpec` as the kernels read it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AttnGeom {
    pub b: i64,
    pub hq: i64,
    pub hk: i64,
    pub l: i64,
    pub s: i64,
    pub e: i64,
    pub ev: i64,
    pub mask_strides: [i64; 4],
    pub scale: f64,
    pub dropout_p: f64,
    pub seed: u64,
    pub causal: i32,
    pub has_mask: i32,
}

/// `PoolGeom` of pool.cu (`planes` = N * C).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolGeom {
    pub planes: i64,
    pub h: i32,
    pub w: i32,
    pub ho: i32,
    pub wo: i32,
    pub kh: i32,
    pub kw: i32,
    pub sh: i32,
    pub sw: i32,
    pub ph: i32,
    pub pw: i32,
    pub dh: i32,
    pub dw: i32,
    pub count_include_pad: i32,
    pub pad: i32,
}

/// The optimizer configs optim.cu takes as they are (`repr(C)` in `optim`).
pub use crate::optim::{AdamConfig, SgdConfig};

/// The head of optim.cu's tensor lists: how many parameters one launch updates, their sizes,
/// and the device addresses of the parameters and their gradients.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParamList {
    pub count: i32,
    pub pad: i32,
    pub numel: [i64; OPTIM_TENSORS],
    pub param: [u64; OPTIM_TENSORS],
    pub grad: [u64; OPTIM_TENSORS],
}

/// `AdamList` of optim.cu: up to 16 parameters and their states.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdamList {
    pub head: ParamList,
    pub step: [i64; OPTIM_TENSORS],
    pub exp_avg: [u64; OPTIM_TENSORS],
    pub exp_avg_sq: [u64; OPTIM_TENSORS],
    pub max_exp_avg_sq: [u64; OPTIM_TENSORS],
}

/// `SgdList` of optim.cu (`momentum_buffer` entries are 0 without momentum).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SgdList {
    pub head: ParamList,
    pub initialized: [i32; OPTIM_TENSORS],
    pub momentum_buffer: [u64; OPTIM_TENSORS],
}

/// `AmpList` of amp.cu.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmpList {
    pub count: i32,
    pub pad: i32,
    pub numel: [i64; AMP_TENSORS],
    pub grad: [u64; AMP_TENSORS],
}

// SAFETY: plain-old-data `repr(C)` structs whose layout matches the kernels' structs (checked
// against the PTX parameter sizes by the NVRTC test); passed to kernels by value.
mod device_repr {
    use cudarc::driver::DeviceRepr;
    unsafe impl DeviceRepr for super::DmLayout {}
    unsafe impl DeviceRepr for super::ConvGeom {}
    unsafe impl DeviceRepr for super::PoolGeom {}
    unsafe impl DeviceRepr for super::AttnGeom {}
    unsafe impl DeviceRepr for super::AdamConfig {}
    unsafe impl DeviceRepr for super::AdamList {}
    unsafe impl DeviceRepr for super::SgdConfig {}
    unsafe impl DeviceRepr for super::SgdList {}
    unsafe impl DeviceRepr for super::AmpList {}
}

/// Grid and block sizes of one launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchDims {
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
}

/// Blocks needed for `n` threads of `per` each, capped (the kernels loop over the rest).
fn blocks(n: usize, per: u32, cap: u32) -> u32 {
    (n.div_ceil(per as usize).clamp(1, cap as usize)) as u32
}

impl LaunchDims {
    /// Grid-stride elementwise kernels over `n` elements.
    pub fn elementwise(n: usize) -> LaunchDims {
        LaunchDims {
            grid: (blocks(n, 256, 65_535), 1, 1),
            block: (256, 1, 1),
        }
    }

    /// One-block-per-row kernels (reductions, softmax, norms, cross-entropy).
    pub fn rows(rows: usize) -> LaunchDims {
        LaunchDims {
            grid: (blocks(rows, 1, 65_535), 1, 1),
            block: (ROW_BLOCK, 1, 1),
        }
    }

    /// Multi-tensor kernels: `blockIdx.y` picks the tensor, x blocks cover its elements.
    pub fn multi_tensor(count: usize, max_numel: usize) -> LaunchDims {
        LaunchDims {
            grid: (blocks(max_numel, 256, 1024), count.max(1) as u32, 1),
            block: (256, 1, 1),
        }
    }
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use std::mem::size_of;

    fn struct_sizes_match_the_kernel_headers() {
        assert_eq!(size_of::<DmLayout>(), 144);
        assert_eq!(size_of::<ConvGeom>(), 60);
        assert_eq!(size_of::<PoolGeom>(), 64);
        assert_eq!(size_of::<AttnGeom>(), 120);
        assert_eq!(size_of::<AdamConfig>(), 56);
        assert_eq!(size_of::<AdamList>(), 904);
        assert_eq!(size_of::<SgdConfig>(), 48);
        assert_eq!(size_of::<SgdList>(), 584);
        assert_eq!(size_of::<AmpList>(), 520);
    }

    fn layouts_merge_contiguous_dims() {
        let c = Layout::contiguous(&[2, 3, 4]);
        let d = DmLayout::from_layout(&c).unwrap();
        assert_eq!((d.ndim, d.shape[0], d.stride[0]), (1, 24, 1));
        let t = c.transpose(0, 2);
        let d = DmLayout::from_layout(&t).unwrap();
        assert_eq!(d.ndim, 3);
        assert_eq!(&d.shape[..3], &[4, 3, 2]);
        assert_eq!(&d.stride[..3], &[1, 4, 12]);
        let b = Layout::contiguous(&[3]).broadcast_to(&[2, 3]).unwrap();
        let d = DmLayout::from_layout(&b).unwrap();
        assert_eq!(
            (&d.shape[..2], &d.stride[..2]),
            (&[2i64, 3][..], &[0i64, 1][..])
        );
        let scalar = DmLayout::from_layout(&Layout::contiguous(&[])).unwrap();
        assert_eq!((scalar.ndim, scalar.shape[0]), (1, 1));
    }

    fn launch_dims_cover_their_work() {
        assert_eq!(LaunchDims::elementwise(0).grid.0, 1);
        assert_eq!(LaunchDims::elementwise(1025).grid.0, 5);
        assert_eq!(LaunchDims::elementwise(1 << 40).grid.0, 65_535);
        assert_eq!(LaunchDims::rows(7).grid.0, 7);
        assert_eq!(LaunchDims::multi_tensor(3, 10).grid, (1, 3, 1));
    }

    crate::self_test::cases!(
        struct_sizes_match_the_kernel_headers,
        layouts_merge_contiguous_dims,
        launch_dims_cover_their_work
    );
}
