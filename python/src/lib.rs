//! `prefdissect._native`: the engine behind the Python package, through the same library calls
//! the CLI makes, so a notebook and `prefdissect fit` give the same numbers bit for bit.
//!
//! Plain Python values cross the boundary (lists of floats and strings); `prefdissect/__init__.py`
//! turns them into numpy arrays and pandas frames, so this crate needs neither. Every compute
//! call runs on a worker thread with the GIL released while the calling thread watches for
//! Ctrl-C: a KeyboardInterrupt asks the engine to stop at its next block
//! (`prefdissect::base::cancel`) and nothing is written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use prefdissect::analyse::fitted::FittedWeights;
use prefdissect::analyse::tables::{SCENARIO_MEAN, similarity, similarity_in};
use prefdissect::analyse::{fold_average, probability_of_preferred};
use prefdissect::base::cancel;
use prefdissect::base::device::BackendChoice;
use prefdissect::base::error::Error;
use prefdissect::bootstrap::{BootstrapRequest, bootstrap as run_bootstrap};
use prefdissect::cli::fit::{
    FitJob, FitMode, FitOutcome, FitRequest, Solution, fit_in_memory, run_fit,
};
use prefdissect::load::{Dataset as Data, Selection};
use prefdissect::solve::settings::{Estimator, FitConfig};

/// An engine error as the Python exception a user expects: `OSError` for files, `ValueError`
/// for bad input or settings, both with the CLI's message.
fn to_py(e: Error) -> PyErr {
    match e {
        Error::Io { .. } | Error::MissingFile { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// Runs `job` on a worker thread with the GIL released; Ctrl-C stops it at its next block and
/// raises KeyboardInterrupt here.
fn interruptible<T: Send + 'static>(
    py: Python<'_>,
    job: impl FnOnce() -> prefdissect::Result<T> + Send + 'static,
) -> PyResult<T> {
    cancel::reset();
    let handle = std::thread::spawn(job);
    while !handle.is_finished() {
        py.detach(|| std::thread::sleep(Duration::from_millis(20)));
        if let Err(interrupt) = py.check_signals() {
            cancel::request();
            let _ = py.detach(|| handle.join());
            cancel::reset();
            return Err(interrupt);
        }
    }
    let result = handle
        .join()
        .map_err(|_| PyRuntimeError::new_err("the engine panicked (a bug: please report it)"))?;
    result.map_err(to_py)
}

/// A loaded, checked data set.
#[pyclass(module = "prefdissect._native", frozen)]
struct Dataset {
    inner: Data,
}

#[pymethods]
impl Dataset {
    /// Judge names, in fit order.
    #[getter]
    fn judges(&self) -> Vec<String> {
        self.inner.judges.iter().map(|j| j.name.clone()).collect()
    }

    /// Group names, in fit order (sorted by name).
    #[getter]
    fn groups(&self) -> Vec<String> {
        self.inner.groups.iter().map(|g| g.name.clone()).collect()
    }

    /// Property names, in feature order.
    #[getter]
    fn properties(&self) -> Vec<String> {
        self.inner.annotations.names.clone()
    }

    /// Number of pairs (rows), dropped ones included.
    #[getter]
    fn n_pairs(&self) -> usize {
        self.inner.annotations.n_samples()
    }

    /// Where the data came from.
    #[getter]
    fn source(&self) -> String {
        self.inner.source.display().to_string()
    }
}

/// Loads a pairs table (.parquet/.csv) or the authors' directory.
#[pyfunction]
#[pyo3(signature = (path, judges=None, groups=None))]
fn load(
    path: PathBuf,
    judges: Option<Vec<String>>,
    groups: Option<Vec<String>>,
) -> PyResult<Dataset> {
    let selection = Selection { judges, groups };
    let inner = Data::load(&path, &selection).map_err(to_py)?;
    Ok(Dataset { inner })
}

/// Keeps the selected judges and groups of a loaded data set (by name, in the given order).
fn select(data: &Data, judges: Option<Vec<String>>, groups: Option<Vec<String>>) -> PyResult<Data> {
    let mut out = data.clone();
    if let Some(names) = judges {
        out.judges = pick("judges", &names, &data.judges, |j| &j.name)?;
    }
    if let Some(names) = groups {
        out.groups = pick("groups", &names, &data.groups, |g| &g.name)?;
    }
    Ok(out)
}

/// The items named `names`, in that order; an unknown name is a `ValueError` naming `setting`.
fn pick<T: Clone>(
    setting: &str,
    names: &[String],
    items: &[T],
    name: impl Fn(&T) -> &String,
) -> PyResult<Vec<T>> {
    names
        .iter()
        .map(|n| {
            items.iter().find(|i| name(i) == n).cloned().ok_or_else(|| {
                PyValueError::new_err(format!(
                    "setting `{setting}`: `{n}` is not one of the data set's {setting}"
                ))
            })
        })
        .collect()
}

/// Settings from a preset name (`paper`, `fast`, `map`), a JSON object in a config file's
/// schema, or a config file's path; then the keyword arguments on top.
fn config(
    spec: &str,
    estimator: Option<&str>,
    folds: Option<usize>,
    seed: Option<u64>,
) -> PyResult<FitConfig> {
    let mut cfg = if ["paper", "fast", "map"].contains(&spec) {
        FitConfig::preset(spec).map_err(to_py)?
    } else if spec.trim_start().starts_with('{') {
        serde_json::from_str(spec)
            .map_err(|e| PyValueError::new_err(format!("setting `config`: {e}")))?
    } else {
        FitConfig::read(std::path::Path::new(spec)).map_err(to_py)?
    };
    if let Some(e) = estimator {
        let parsed: Estimator =
            serde_json::from_value(serde_json::Value::from(e)).map_err(|_| {
                PyValueError::new_err(format!(
                    "setting `estimator`: `{e}` is not one of posterior-mean, map"
                ))
            })?;
        cfg.estimator = Some(parsed);
    }
    if folds.is_some() {
        cfg.folds = folds;
    }
    if let Some(seed) = seed {
        cfg.seed = Some(seed);
    }
    Ok(cfg)
}

fn backend(name: &str) -> PyResult<BackendChoice> {
    match name {
        "auto" => Ok(BackendChoice::Auto),
        "cpu" => Ok(BackendChoice::Cpu),
        "wgpu" => Ok(BackendChoice::Wgpu),
        _ => Err(PyValueError::new_err(format!(
            "setting `backend`: `{name}` is not one of auto, cpu, wgpu"
        ))),
    }
}

/// A finished fit: fold-mean weights per (judge, group), the per-property diagnostics, and the
/// files `fit --out` would write.
#[pyclass(module = "prefdissect._native", frozen)]
struct Fit {
    judges: Vec<String>,
    groups: Vec<String>,
    properties: Vec<String>,
    /// judges × groups × K, the fold means (NaN where a group was not fitted for a judge).
    weights: Vec<f64>,
    /// Long rows: (judge, group, property index, sd, mcse, rhat, ess).
    diagnostics: Vec<(usize, usize, usize, f64, f64, f64, f64)>,
    files: Vec<(String, String)>,
    warnings: Vec<String>,
    estimator: String,
}

impl Fit {
    fn from_outcome(outcome: FitOutcome) -> Fit {
        let design = &outcome.design;
        let k = outcome.data.annotations.names.len();
        let judges: Vec<String> = outcome.data.judges.iter().map(|j| j.name.clone()).collect();
        let groups: Vec<String> = design.groups.iter().map(|g| g.name.clone()).collect();
        let per_fit = outcome.solution.weights();
        let mut weights = vec![f64::NAN; judges.len() * groups.len() * k];
        for e in fold_average(design, &per_fit) {
            let at = (e.judge * groups.len() + e.group) * k;
            weights[at..at + k].copy_from_slice(&e.weights[..k]);
        }
        // Per (judge, group, property): sd averaged over folds, the MCSE of the fold mean,
        // the worst R-hat and the smallest ESS of its folds.
        let mut acc: BTreeMap<(usize, usize), Vec<[f64; 5]>> = BTreeMap::new();
        if let Solution::Posterior(s) = &outcome.solution {
            for (f, fit) in design.fits.iter().zip(&s.fits) {
                let rows = acc
                    .entry((f.judge, f.group))
                    .or_insert_with(|| vec![[0.0, 0.0, f64::NAN, f64::NAN, 0.0]; k]);
                for (p, row) in rows.iter_mut().enumerate() {
                    row[0] += fit.sd[p];
                    row[1] += fit.mcse[p] * fit.mcse[p];
                    row[2] = row[2].max(fit.rhat[p]);
                    row[3] = row[3].min(fit.ess_bulk[p]);
                    row[4] += 1.0;
                }
            }
        }
        let mut diagnostics = Vec::new();
        for j in 0..judges.len() {
            for g in 0..groups.len() {
                for p in 0..k {
                    let d = acc.get(&(j, g)).map(|rows| {
                        let [sd, mcse2, rhat, ess, n] = rows[p];
                        (sd / n, mcse2.sqrt() / n, rhat, ess)
                    });
                    let (sd, mcse, rhat, ess) =
                        d.unwrap_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN));
                    diagnostics.push((j, g, p, sd, mcse, rhat, ess));
                }
            }
        }
        let estimator = match outcome.solution {
            Solution::Posterior(_) => "posterior-mean",
            Solution::Map(_) => "map",
        };
        Fit {
            judges,
            groups,
            properties: outcome.data.annotations.names.clone(),
            weights,
            diagnostics,
            files: outcome.files,
            warnings: outcome.warnings,
            estimator: estimator.into(),
        }
    }

    fn fitted(&self) -> FittedWeights {
        let k = self.properties.len();
        let mut weights = BTreeMap::new();
        for (j, judge) in self.judges.iter().enumerate() {
            for (g, group) in self.groups.iter().enumerate() {
                let at = (j * self.groups.len() + g) * k;
                let mut w = [0f64; prefdissect::base::features::MAX_K];
                w[..k].copy_from_slice(&self.weights[at..at + k]);
                weights.insert((group.clone(), judge.clone()), w);
            }
        }
        FittedWeights {
            dir: PathBuf::from("<in memory>"),
            groups: self.groups.clone(),
            judges: self.judges.clone(),
            weights,
            properties: self.properties.clone(),
        }
    }
}

#[pymethods]
impl Fit {
    #[getter]
    fn judges(&self) -> Vec<String> {
        self.judges.clone()
    }

    #[getter]
    fn groups(&self) -> Vec<String> {
        self.groups.clone()
    }

    #[getter]
    fn properties(&self) -> Vec<String> {
        self.properties.clone()
    }

    #[getter]
    fn estimator(&self) -> String {
        self.estimator.clone()
    }

    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// The fold-mean weights, flat in (judge, group, property) order.
    fn weights_flat(&self) -> Vec<f64> {
        self.weights.clone()
    }

    /// Columns of the long table: judge, group, property, weight, probability, sd, mcse, rhat, ess.
    fn long_columns(&self) -> BTreeMap<&'static str, Vec<PyObjectish>> {
        let k = self.properties.len();
        let mut cols: BTreeMap<&'static str, Vec<PyObjectish>> = BTreeMap::new();
        for &(j, g, p, sd, mcse, rhat, ess) in &self.diagnostics {
            let w = self.weights[(j * self.groups.len() + g) * k + p];
            let push = |cols: &mut BTreeMap<&'static str, Vec<PyObjectish>>, name, v| {
                cols.entry(name).or_default().push(v)
            };
            push(&mut cols, "judge", PyObjectish::Str(self.judges[j].clone()));
            push(&mut cols, "group", PyObjectish::Str(self.groups[g].clone()));
            push(
                &mut cols,
                "property",
                PyObjectish::Str(self.properties[p].clone()),
            );
            push(&mut cols, "weight", PyObjectish::F(w));
            push(
                &mut cols,
                "probability",
                PyObjectish::F(probability_of_preferred(w)),
            );
            push(&mut cols, "sd", PyObjectish::F(sd));
            push(&mut cols, "mcse", PyObjectish::F(mcse));
            push(&mut cols, "rhat", PyObjectish::F(rhat));
            push(&mut cols, "ess", PyObjectish::F(ess));
        }
        cols
    }

    /// Writes exactly what `prefdissect fit --out OUT` writes (each file atomically).
    fn save(&self, py: Python<'_>, out: PathBuf) -> PyResult<()> {
        let files = self.files.clone();
        py.detach(|| {
            let _lock = prefdissect::base::lock::OutLock::acquire(&out)?;
            prefdissect::report::write_all(&out, &files)
        })
        .map_err(to_py)
    }

    /// The paper's similarity of every pair of judges per group, and the scenario mean:
    /// columns judge_a, judge_b, group, similarity.
    fn similarity_columns(&self) -> BTreeMap<&'static str, Vec<PyObjectish>> {
        let fw = self.fitted();
        let mut cols: BTreeMap<&'static str, Vec<PyObjectish>> = BTreeMap::new();
        let mut push = |a: &str, b: &str, g: &str, s: f64| {
            cols.entry("judge_a")
                .or_default()
                .push(PyObjectish::Str(a.into()));
            cols.entry("judge_b")
                .or_default()
                .push(PyObjectish::Str(b.into()));
            cols.entry("group")
                .or_default()
                .push(PyObjectish::Str(g.into()));
            cols.entry("similarity")
                .or_default()
                .push(PyObjectish::F(s));
        };
        for (i, a) in self.judges.iter().enumerate() {
            for b in &self.judges[i + 1..] {
                for g in &self.groups {
                    push(a, b, g, similarity_in(&fw, g, a, b));
                }
                push(a, b, SCENARIO_MEAN, similarity(&fw, a, b));
            }
        }
        cols
    }
}

/// A cell of a column handed to Python: text or a float.
#[derive(Clone, Debug)]
enum PyObjectish {
    Str(String),
    F(f64),
}

impl<'py> IntoPyObject<'py> for PyObjectish {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = std::convert::Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(match self {
            PyObjectish::Str(s) => s.into_pyobject(py)?.into_any(),
            PyObjectish::F(v) => v.into_pyobject(py)?.into_any(),
        })
    }
}

/// Fits every selected judge × group × fold of `ds` in memory.
#[pyfunction]
#[pyo3(signature = (ds, estimator=None, config="fast", judges=None, groups=None, folds=None, seed=None, backend_name="auto", progress=false))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn fit(
    py: Python<'_>,
    ds: &Dataset,
    estimator: Option<&str>,
    config: &str,
    judges: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    folds: Option<usize>,
    seed: Option<u64>,
    backend_name: &str,
    progress: bool,
) -> PyResult<Fit> {
    let cfg = self::config(config, estimator, folds, seed)?;
    let choice = backend(backend_name)?;
    let data = select(&ds.inner, judges, groups)?;
    let label = data.source.display().to_string();
    let (outcome, failure) = interruptible(py, move || {
        let job = FitJob {
            config: &cfg,
            backend: choice,
            progress,
            data_label: &label,
            load_seconds: 0.0,
        };
        fit_in_memory(data, job)
    })?;
    let mut fit = Fit::from_outcome(outcome);
    if let Some(e) = failure {
        fit.warnings.push(e.to_string());
    }
    Ok(fit)
}

/// A bootstrap's estimator settings and parameters, as `prefdissect bootstrap --seed SEED`
/// makes them: the `map` preset for the MAP, `fast` for the posterior mean, unless `config`.
fn bootstrap_settings(
    estimator: &str,
    config: Option<&str>,
    replicates: usize,
    seed: u64,
    level: f64,
) -> PyResult<(FitConfig, prefdissect::bootstrap::ValidBootstrapParams)> {
    let preset = config.unwrap_or(if estimator == "map" { "map" } else { "fast" });
    let mut cfg = self::config(preset, Some(estimator), None, None)?;
    cfg.seed = Some(seed);
    // The bootstrap fits each group whole: a preset's folds would only earn a warning.
    cfg.folds = None;
    let params = prefdissect::bootstrap::BootstrapParams::new()
        .replicates(replicates)
        .seed(seed)
        .level(level)
        .check()
        .map_err(to_py)?;
    Ok((cfg, params))
}

/// Bootstrap intervals of every (judge, group) model: the rows of `bootstrap_ci.csv`, as CSV
/// text (the caller parses it). The data set must come from a file (the engine reloads it).
#[pyfunction]
#[pyo3(signature = (ds, replicates=1000, seed=0, estimator="map", config=None, level=0.95, backend_name="auto", progress=false))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn bootstrap_csv(
    py: Python<'_>,
    ds: &Dataset,
    replicates: usize,
    seed: u64,
    estimator: &str,
    config: Option<&str>,
    level: f64,
    backend_name: &str,
    progress: bool,
) -> PyResult<String> {
    let (cfg, params) = bootstrap_settings(estimator, config, replicates, seed, level)?;
    let choice = backend(backend_name)?;
    let source = source_of(ds)?;
    let selection = selection_of(ds);
    interruptible(py, move || {
        // The engine's bootstrap writes its files to an OUT; a private one, removed after.
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = std::env::temp_dir().join(format!(
            "prefdissect-bootstrap-{}-{run}",
            std::process::id()
        ));
        let req = BootstrapRequest {
            data: source,
            out: out.clone(),
            selection,
            config: cfg,
            params,
            resume: false,
            progress,
            stop_after_chunks: None,
            shard: None,
            merging: false,
            backend: choice,
        };
        let result =
            run_bootstrap(&req).map(|o| prefdissect::bootstrap::output::render_csv(&o.rows));
        let _ = std::fs::remove_dir_all(&out);
        result
    })
}

/// The file a data set was read from, for a job that reloads it (a shard on another machine).
fn source_of(ds: &Dataset) -> PyResult<PathBuf> {
    let source = ds.inner.source.clone();
    if !source.exists() {
        return Err(PyValueError::new_err(format!(
            "{}: a sharded job reads its data from a file every shard can open; this data set's \
             file is gone (from_pandas): write it with df.to_parquet(...) and load that",
            source.display()
        )));
    }
    Ok(source)
}

fn selection_of(ds: &Dataset) -> Selection {
    Selection {
        judges: Some(ds.inner.judges.iter().map(|j| j.name.clone()).collect()),
        groups: Some(ds.inner.groups.iter().map(|g| g.name.clone()).collect()),
    }
}

/// Fits shard `k` of `n` of the posterior job into `out` (resuming what an earlier attempt
/// left there): what `prefdissect fit --shard k/n --resume` does.
#[pyfunction]
#[pyo3(signature = (ds, out, k, n, estimator=None, config="fast", folds=None, seed=None, backend_name="auto"))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn fit_shard(
    py: Python<'_>,
    ds: &Dataset,
    out: PathBuf,
    k: usize,
    n: usize,
    estimator: Option<&str>,
    config: &str,
    folds: Option<usize>,
    seed: Option<u64>,
    backend_name: &str,
) -> PyResult<()> {
    let shard = prefdissect::design::Shard::parse(&format!("{k}/{n}")).map_err(to_py)?;
    let req = FitRequest {
        data: source_of(ds)?,
        out,
        selection: selection_of(ds),
        config: self::config(config, estimator, folds, seed)?,
        progress: false,
        backend: backend(backend_name)?,
    };
    interruptible(py, move || {
        run_fit(
            &req,
            FitMode::Shard {
                shard,
                resume: true,
            },
        )
        .map(|_| ())
    })
}

/// Bootstraps shard `k` of `n` into `out` (resuming what an earlier attempt left there).
#[pyfunction]
#[pyo3(signature = (ds, out, k, n, replicates=1000, seed=0, estimator="map", config=None, level=0.95, backend_name="auto"))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn bootstrap_shard(
    py: Python<'_>,
    ds: &Dataset,
    out: PathBuf,
    k: usize,
    n: usize,
    replicates: usize,
    seed: u64,
    estimator: &str,
    config: Option<&str>,
    level: f64,
    backend_name: &str,
) -> PyResult<()> {
    let shard = prefdissect::design::Shard::parse(&format!("{k}/{n}")).map_err(to_py)?;
    let (cfg, params) = bootstrap_settings(estimator, config, replicates, seed, level)?;
    let req = BootstrapRequest {
        data: source_of(ds)?,
        out,
        selection: selection_of(ds),
        config: cfg,
        params,
        resume: true,
        progress: false,
        stop_after_chunks: None,
        shard: Some(shard),
        merging: false,
        backend: backend(backend_name)?,
    };
    interruptible(py, move || run_bootstrap(&req).map(|_| ()))
}

/// `prefdissect merge --out OUT SHARD_DIR…`: the whole job's files from all its shards.
#[pyfunction]
fn merge(py: Python<'_>, out: PathBuf, shards: Vec<PathBuf>) -> PyResult<()> {
    if shards.is_empty() {
        return Err(PyValueError::new_err("setting `shards`: none given"));
    }
    let args = prefdissect::cli::merge::MergeArgs {
        out,
        shards,
        quiet: true,
    };
    interruptible(py, move || args.run())
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // As the CLI does first thing: the wgpu probe stays silent where there is no display
    // server (a notebook on a headless box).
    prefdissect::base::device::quiet_probe_environment();
    m.add_class::<Dataset>()?;
    m.add_class::<Fit>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap_csv, m)?)?;
    m.add_function(wrap_pyfunction!(fit_shard, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap_shard, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    Ok(())
}
