//! The backend a run's solvers use, chosen at run time from `--backend`: the fused CPU kernels,
//! or the fused wgpu kernel. One enum rather than a trait object, so the
//! solvers stay generic over [`GradientBackend`] and monomorphised for the CPU.

use super::GradientBackend;
use super::cpu::CpuBackend;
use super::wgpu::resident::FusedWgpuBackend;
use crate::base::device::{BackendChoice, BackendKind, Selected, Workload, select};
use crate::design::{Block, GroupDesign};

/// The selected engine backend.
#[derive(Clone, Debug)]
pub enum EngineBackend {
    /// `kernels/cpu_logistic.rs` and `kernels/cpu_curvature.rs`.
    Cpu(CpuBackend),
    /// `kernels/wgpu_logistic.rs` on the Vulkan adapter.
    Wgpu(FusedWgpuBackend),
}

impl EngineBackend {
    /// The backend for `choice` and the selection (adapter, note, warning) to report, for a
    /// run whose largest batch has `blocks` lane blocks (what `auto` decides on).
    pub fn select(choice: BackendChoice, blocks: usize) -> (EngineBackend, Selected) {
        let s = select(choice, Workload::Engine { blocks });
        let b = match s.kind {
            BackendKind::Cpu => EngineBackend::Cpu(CpuBackend),
            BackendKind::Wgpu => match crate::base::device::wgpu_adapter() {
                Ok(a) => EngineBackend::Wgpu(FusedWgpuBackend::new(a)),
                Err(_) => EngineBackend::Cpu(CpuBackend),
            },
        };
        (b, s)
    }

    /// Whether this is the wgpu path (whose failures fall back to the CPU).
    pub fn is_wgpu(&self) -> bool {
        matches!(self, EngineBackend::Wgpu(_))
    }

    /// Runs `work` on this backend; when it is wgpu and the work panics (a lost device or an
    /// exhausted adapter surfaces as a panic in the GPU runtime), runs it again on the CPU.
    /// Returns the result and whether it fell back.
    pub fn run_or_cpu<T>(&self, work: impl Fn(&EngineBackend) -> T) -> (T, bool) {
        if !self.is_wgpu() {
            return (work(self), false);
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(self))) {
            Ok(r) => (r, false),
            Err(_) => (work(&EngineBackend::Cpu(CpuBackend)), true),
        }
    }
}

impl GradientBackend for EngineBackend {
    fn name(&self) -> String {
        match self {
            EngineBackend::Cpu(b) => b.name(),
            EngineBackend::Wgpu(b) => b.name(),
        }
    }

    fn block_gradient(
        &self,
        group: &GroupDesign,
        block: &Block,
        w: &[f32],
        grad: &mut [f64],
        loss: Option<&mut [f64]>,
    ) {
        match self {
            EngineBackend::Cpu(b) => b.block_gradient(group, block, w, grad, loss),
            EngineBackend::Wgpu(b) => b.block_gradient(group, block, w, grad, loss),
        }
    }

    fn block_loss(&self, group: &GroupDesign, block: &Block, w: &[f32], loss: &mut [f64]) {
        match self {
            EngineBackend::Cpu(b) => b.block_loss(group, block, w, loss),
            EngineBackend::Wgpu(b) => b.block_loss(group, block, w, loss),
        }
    }

    fn fused_wgpu(&self) -> Option<&FusedWgpuBackend> {
        match self {
            EngineBackend::Cpu(_) => None,
            EngineBackend::Wgpu(b) => Some(b),
        }
    }

    fn block_curvature(&self, group: &GroupDesign, block: &Block, w: &[f32], hess: &mut [f64]) {
        match self {
            EngineBackend::Cpu(b) => b.block_curvature(group, block, w, hess),
            EngineBackend::Wgpu(b) => b.block_curvature(group, block, w, hess),
        }
    }
}
