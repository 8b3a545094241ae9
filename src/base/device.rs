//! Which device a run computes on, chosen by `--backend auto|cpu|wgpu` and recorded in its
//! outputs. The wgpu adapter is probed once per process: Vulkan first, then the platform's own
//! API (Metal on macOS, DirectX 12 on Windows), never OpenGL (wgpu's automatic choice falls to
//! it without a Vulkan driver, and it is unusably slow); a missing adapter or a failing driver
//! is a reason to use the CPU, given in words the user can act on, never a panic.

use std::sync::OnceLock;

use burn::tensor::Device;
use burn::tensor::wgpu::{WgpuBackend, wgpu};
use serde::Serialize;

/// The `--backend` flag.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// wgpu where it pays (a hardware adapter), else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// burn's wgpu backend on Vulkan (falls back to the CPU, with a warning, without an
    /// adapter).
    Wgpu,
}

/// A wgpu adapter that came up.
#[derive(Clone, Debug)]
pub struct WgpuAdapter {
    /// burn's device on it.
    pub device: Device,
    /// Adapter name, API and type, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
    pub name: String,
    /// A CPU (software) adapter such as lavapipe: real wgpu code path, no speed.
    pub software: bool,
    /// Largest buffer a kernel may bind, bytes (batches are cut to fit it).
    pub max_binding_bytes: u64,
    /// Most cubes (workgroups) one launch may have along a dimension.
    pub max_cubes: u32,
}

static PROBE: OnceLock<Result<WgpuAdapter, String>> = OnceLock::new();

/// Keeps the adapter probe quiet where there is no display server: Mesa's device-selection
/// Vulkan layer asks Wayland for the display's GPU, and libwayland prints `error:
/// XDG_RUNTIME_DIR is invalid or not set in the environment.` once per driver, on runs that
/// succeed. Without `XDG_RUNTIME_DIR` there is no display to select for, so the layer is
/// switched off (`NODEVICE_SELECT=1`, its own off switch); wgpu still enumerates every adapter
/// and picks by its power preference. A user's own `NODEVICE_SELECT` is left alone.
///
/// Call it first thing in `main`, before any thread starts: it sets an environment variable.
pub fn quiet_probe_environment() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none()
        && std::env::var_os("NODEVICE_SELECT").is_none()
    {
        // SAFETY: called at the start of `main`, before the process has a second thread, so no
        // other thread can read the environment while it is written.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

/// The graphics APIs tried, in order, on the platform this binary was built for: Vulkan
/// everywhere, then Metal on macOS (Apple silicon has no Vulkan driver) or DirectX 12 on Windows.
pub fn graphics_apis() -> Vec<(WgpuBackend, &'static str)> {
    let mut apis = vec![(WgpuBackend::Vulkan, "Vulkan")];
    if cfg!(target_os = "macos") {
        apis.push((WgpuBackend::Metal, "Metal"));
    }
    if cfg!(target_os = "windows") {
        apis.push((WgpuBackend::Dx12, "DirectX 12"));
    }
    apis
}

/// What to install when no API came up, for this platform.
fn remedy() -> &'static str {
    if cfg!(target_os = "macos") {
        "Metal needs macOS 10.13+ on a Mac with a GPU"
    } else if cfg!(target_os = "windows") {
        "install your GPU vendor's driver (it brings Vulkan and DirectX 12)"
    } else {
        "install a Vulkan driver: your GPU vendor's, or Mesa's (Debian/Ubuntu: \
         mesa-vulkan-drivers libvulkan1; lavapipe runs on the CPU)"
    }
}

/// The first wgpu adapter of [`graphics_apis`], or why there is none (probed once per process).
pub fn wgpu_adapter() -> Result<&'static WgpuAdapter, &'static str> {
    PROBE
        .get_or_init(|| {
            let mut why = Vec::new();
            for (api, name) in graphics_apis() {
                match probe(api) {
                    Ok(a) => return Ok(a),
                    Err(e) => why.push(format!("{name}: {e}")),
                }
            }
            Err(format!(
                "no wgpu adapter ({}); {}",
                why.join("; "),
                remedy()
            ))
        })
        .as_ref()
        .map_err(String::as_str)
}

/// One graphics API's adapter, or why it did not come up.
fn probe(api: WgpuBackend) -> Result<WgpuAdapter, String> {
    let init =
        std::panic::catch_unwind(|| Device::wgpu_options().graphics_api(api).init_with_setup());
    match init {
        Ok(Ok((device, setup))) => {
            let info = setup.adapter.get_info();
            let limits = setup.device.limits();
            Ok(WgpuAdapter {
                max_binding_bytes: limits
                    .max_storage_buffer_binding_size
                    .min(limits.max_buffer_size),
                max_cubes: limits.max_compute_workgroups_per_dimension,
                device,
                name: format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type),
                software: info.device_type == wgpu::DeviceType::Cpu,
            })
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the wgpu runtime panicked while starting".into()),
    }
}

/// Which kind of device was selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// The CPU.
    Cpu,
    /// wgpu.
    Wgpu,
}

/// The outcome of a selection: the device, what to print and record, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Selected {
    /// CPU or wgpu.
    pub kind: BackendKind,
    /// The burn device (Flex for the CPU).
    #[serde(skip)]
    pub device: Device,
    /// The wgpu adapter, when wgpu was selected.
    pub adapter: Option<String>,
    /// Why this one (auto's reasoning or a fallback), if anything is worth saying.
    pub note: Option<String>,
    /// A fallback the user should hear about (printed as a warning).
    pub warning: Option<String>,
}

impl Selected {
    /// `cpu` or `wgpu: ADAPTER`, for messages and records.
    pub fn label(&self) -> String {
        match (&self.kind, &self.adapter) {
            (BackendKind::Wgpu, Some(a)) => format!("wgpu: {a}"),
            _ => "cpu".into(),
        }
    }

    fn cpu(note: Option<String>, warning: Option<String>) -> Selected {
        Selected {
            kind: BackendKind::Cpu,
            device: Device::flex(),
            adapter: None,
            note,
            warning,
        }
    }

    fn wgpu(a: &WgpuAdapter, note: Option<String>) -> Selected {
        Selected {
            kind: BackendKind::Wgpu,
            device: a.device.clone(),
            adapter: Some(a.name.clone()),
            note,
            warning: None,
        }
    }
}

/// What the work is, for `auto`'s choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Generic tensor work (the rerankers): wgpu pays on a hardware adapter.
    Tensor,
    /// The dissection engine's solvers over this many lane blocks (16 fits or chains each; 0
    /// when unknown, which `auto` treats as small).
    Engine {
        /// Lane blocks of the largest batch the run solves at once.
        blocks: usize,
    },
}

/// Lane blocks below which `auto` keeps the engine on the CPU. A block is one workgroup of the
/// wgpu kernels, so a smaller batch cannot give each compute unit of a GPU (132 SMs on an
/// H100) one workgroup, and every solver step pays a launch's latency for a fraction of the
/// card. Derived from the kernels' shape, not measured: the GPU-figures issue sets it.
pub const AUTO_MIN_ENGINE_BLOCKS: usize = 132;

/// Selects a device for `choice`.
///
/// `auto`: the rerankers use a hardware wgpu adapter when there is one; the engine does when
/// there is one and the batch has at least [`AUTO_MIN_ENGINE_BLOCKS`] lane blocks (a smaller
/// batch is not even probed for: starting a wgpu runtime costs time). `wgpu` without an
/// adapter falls back to the CPU with a warning. A software adapter (lavapipe) is used only
/// when asked for by name.
pub fn select(choice: BackendChoice, workload: Workload) -> Selected {
    match choice {
        BackendChoice::Cpu => Selected::cpu(None, None),
        BackendChoice::Wgpu => match wgpu_adapter() {
            Ok(a) => Selected::wgpu(a, None),
            Err(why) => Selected::cpu(None, Some(format!("{why}; using the CPU"))),
        },
        BackendChoice::Auto => {
            if let Workload::Engine { blocks } = workload
                && blocks < AUTO_MIN_ENGINE_BLOCKS
            {
                return Selected::cpu(
                    Some(format!(
                        "auto: {blocks} lane blocks (16 fits or chains each) cannot fill a GPU \
                         (the threshold is {AUTO_MIN_ENGINE_BLOCKS}); the CPU"
                    )),
                    None,
                );
            }
            match wgpu_adapter() {
                Err(why) => Selected::cpu(Some(format!("auto: {why}; the CPU")), None),
                Ok(a) if a.software => Selected::cpu(
                    Some(format!(
                        "auto: the wgpu adapter {} is a software one; the CPU",
                        a.name
                    )),
                    None,
                ),
                Ok(a) => Selected::wgpu(a, Some("auto: a hardware adapter".into())),
            }
        }
    }
}

/// [`select`] for tensor work, printing a fallback warning on stderr; the device and its label.
pub fn tensor_device(choice: BackendChoice) -> (Device, String) {
    let s = select(choice, Workload::Tensor);
    if let Some(w) = &s.warning {
        eprintln!("warning: {w}");
    }
    (s.device.clone(), s.label())
}
