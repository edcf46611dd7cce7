//! Running a batch: inputs listed and (when sharded) planned, a resumed output's
//! rows carried over, the units read in parallel, and the output moved into
//! place only when complete (Parquet converted from its JSON-lines spool then).

use super::columnar::{read_rows, write_rows, SETTINGS_KEY};
use super::config::{BatchConfig, BatchSummary};
use super::files_from::read_file_list;
use super::output::{csv_header, format_rows, row_from_json, OutputFormat, Row, Status};
use super::read::{collect_inputs, process_unit, video_frames};
use super::record::{RunRecord, Settings};
use super::resume::{read_previous, read_previous_from};
use super::shard::{whole_units, Plan, Unit};
use crate::atomic_file::tmp_path;
use crate::error::{FerError, Result};
use crate::fingerprint::file_fingerprint;
use crate::model::FaceModel;
use crate::workers::PipelinePool;
use rayon::prelude::*;
use std::cell::LazyCell;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The settings a run's rows depend on, for the run record and Parquet metadata.
fn settings_of(cfg: &BatchConfig, pool: &PipelinePool, classes: &[String]) -> Settings {
    Settings {
        model: cfg.model.to_string_lossy().into_owned(),
        model_hash: file_fingerprint(&cfg.model).map(|h| format!("{h:016x}")),
        classes: classes.to_vec(),
        pipeline: serde_json::to_value(pool.config()).unwrap_or_default(),
        format: cfg.format.name().into(),
        landmarks: cfg.landmarks,
        every: cfg.every,
        fer_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The work of this task: its units, where its rows go, and (sharded) its record.
struct Work {
    units: Vec<Unit>,
    out: Option<PathBuf>,
    record: Option<RunRecord>,
}

/// Plan this task's work; `settings` are only worked out (the model file read
/// and hashed) for a sharded run's record.
fn plan_work(
    cfg: &BatchConfig,
    settings: &LazyCell<Settings, impl FnOnce() -> Settings>,
) -> Result<Work> {
    let mut paths = cfg.inputs.clone();
    if let Some(list) = &cfg.files_from {
        paths.extend(read_file_list(list)?);
    }
    let inputs = collect_inputs(&paths);
    if inputs.is_empty() {
        tracing::warn!(
            "no image or video files under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let (Some(choice), Some(out)) = (cfg.shard, &cfg.out) else {
        return Ok(Work {
            units: whole_units(inputs),
            out: cfg.out.clone(),
            record: None,
        });
    };
    let shard = choice.shard;
    let started = Instant::now();
    let plan = Plan::new(inputs, cfg.every, cfg.video_chunk, &video_frames);
    let units = plan.units_of(shard);
    let weights = plan.weights(shard.count);
    let total: u64 = weights.iter().sum();
    let settings_hash = settings.hash();
    let slurm_job = std::env::var("SLURM_ARRAY_JOB_ID").ok().map(|j| {
        format!(
            "{j}_{}",
            std::env::var("SLURM_ARRAY_TASK_ID").unwrap_or_default()
        )
    });
    tracing::info!(
        "shard {shard} ({}): {} of {} work units, {:.1}% of the pixels; planned in {:.2} s",
        if choice.from_slurm {
            format!(
                "from the Slurm array task {}",
                slurm_job.as_deref().unwrap_or("?")
            )
        } else {
            "from --shard".to_string()
        },
        units.len(),
        plan.units.len(),
        100.0 * weights[shard.index] as f64 / total.max(1) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(Work {
        record: Some(RunRecord {
            run_id: RunRecord::run_id(&settings_hash, plan.fingerprint(), shard.count),
            settings_hash,
            shard: shard.index,
            shards: shard.count,
            units: units.len(),
            units_total: plan.units.len(),
            complete: false,
            rows: None,
            slurm_job,
            settings: (**settings).clone(),
        }),
        units,
        out: Some(shard.output_path(out)),
    })
}

/// Refuse to resume a shard's partial output that another run wrote.
fn check_resumable(record: &RunRecord, out: &Path) -> Result<()> {
    let path = RunRecord::path_for(out);
    if !path.exists() {
        return Err(FerError::Dataset {
            path: out.to_path_buf(),
            reason: format!(
                "cannot resume: its run record {} is missing; remove the shard's files or run without --resume",
                path.display()
            ),
        });
    }
    let previous = RunRecord::read(&path)?;
    if previous.run_id != record.run_id {
        return Err(FerError::Dataset {
            path: out.to_path_buf(),
            reason: format!(
                "cannot resume: it belongs to another run (run {}, settings {}; this run is {}, settings {}): the inputs, the shard count or the settings changed. Remove it or run without --resume",
                previous.run_id, previous.settings_hash, record.run_id, record.settings_hash
            ),
        });
    }
    Ok(())
}

/// Run the batch, calling `on_file` after each file (for progress) and
/// `on_total` once the number of units is known.
pub fn run(
    cfg: &BatchConfig,
    pool: &PipelinePool,
    model: &dyn FaceModel,
    on_file: &(dyn Fn() + Sync),
    on_total: &dyn Fn(usize),
) -> Result<BatchSummary> {
    cfg.check()?;
    if let Some(dir) = &cfg.annotate {
        std::fs::create_dir_all(dir).map_err(|e| FerError::io(dir, e))?;
    }
    let classes = model.classes().to_vec();
    // Needed only by a shard's record and Parquet's metadata.
    let settings = LazyCell::new(|| settings_of(cfg, pool, &classes));
    let Work {
        mut units,
        out,
        record,
    } = plan_work(cfg, &settings)?;
    let mut summary = BatchSummary::default();
    // Where rows go: a partial file renamed at the end, or stdout.
    let mut carried = Vec::new();
    let mut carried_rows = 0;
    let mut done_frames = HashSet::new();
    let (mut sink, partial): (Box<dyn Write>, Option<PathBuf>) = match &out {
        Some(out) => {
            let partial = tmp_path(out);
            let previous = [&partial, out].into_iter().find(|p| p.exists());
            if let (true, Some(prev)) = (cfg.resume, previous) {
                if let Some(record) = &record {
                    check_resumable(record, out)?;
                }
                let previous = if prev == out && cfg.format == OutputFormat::Parquet {
                    // A finished Parquet output: its rows, as the JSON lines of the spool.
                    let p = read_rows(out)?;
                    let lines = format_rows(&p.rows, &classes, OutputFormat::Jsonl, cfg.landmarks)?;
                    read_previous_from(&lines[..], out, cfg.format)?
                } else {
                    read_previous(prev, cfg.format)?
                };
                tracing::info!(
                    "resuming from {}: {} files and {} video frames already done",
                    prev.display(),
                    previous.files.len(),
                    previous.frames.len()
                );
                // A path whose whole rows are there is done: an image, a failure
                // (unreadable file, unopenable video, a listing error). A video's
                // frames count one by one (`done_frames`), so its ranges stay.
                units.retain(|u| !previous.files.contains(u.path().to_string_lossy().as_ref()));
                summary.resumed = previous.files.len();
                summary.errors += previous.errors;
                carried = previous.kept;
                carried_rows = previous.rows;
                done_frames = previous.frames;
            }
            if let Some(record) = &record {
                record.write(&RunRecord::path_for(out))?;
            }
            let f = std::fs::File::create(&partial).map_err(|e| FerError::io(&partial, e))?;
            (Box::new(std::io::BufWriter::new(f)), Some(partial))
        }
        None => (Box::new(std::io::stdout().lock()), None),
    };
    if carried.is_empty() && cfg.format == OutputFormat::Csv {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        w.write_record(csv_header(&classes, cfg.landmarks))
            .map_err(|e| FerError::param("csv", e.to_string()))?;
        carried = w
            .into_inner()
            .map_err(|e| FerError::param("csv", e.to_string()))?;
    }
    sink.write_all(&carried)
        .map_err(|e| FerError::io(partial.as_deref().unwrap_or(Path::new("<stdout>")), e))?;
    let (summary, written) = process(
        cfg,
        pool,
        model,
        &classes,
        units,
        &done_frames,
        sink,
        partial.as_deref(),
        summary,
        on_file,
        on_total,
    )?;
    if let (Some(partial), Some(out)) = (partial, &out) {
        if cfg.format == OutputFormat::Parquet {
            let mut metadata = HashMap::new();
            metadata.insert(
                SETTINGS_KEY.to_string(),
                serde_json::to_string(&*settings).unwrap_or_default(),
            );
            if let Some(r) = &record {
                metadata.insert("fer.run_id".into(), r.run_id.clone());
                metadata.insert("fer.shard".into(), format!("{}/{}", r.shard, r.shards));
            }
            spool_to_parquet(&partial, out, &classes, cfg.landmarks, &metadata)?;
        } else {
            std::fs::rename(&partial, out).map_err(|e| FerError::io(out, e))?;
        }
        if let Some(mut record) = record {
            record.complete = true;
            record.rows = Some(carried_rows + written);
            record.write(&RunRecord::path_for(out))?;
        }
    }
    Ok(summary)
}

/// Convert the JSON-lines spool `partial` into the Parquet file `out` (through
/// a temporary file), then remove the spool.
fn spool_to_parquet(
    partial: &Path,
    out: &Path,
    classes: &[String],
    landmarks: bool,
    metadata: &HashMap<String, String>,
) -> Result<()> {
    let file = std::fs::File::open(partial).map_err(|e| FerError::io(partial, e))?;
    let mut bad = None;
    let rows = std::io::BufReader::new(file)
        .lines()
        .map_while(|l| l.ok())
        .filter_map(|line| {
            let row = serde_json::from_str(&line)
                .ok()
                .and_then(|v| row_from_json(&v, classes));
            if row.is_none() {
                bad.get_or_insert(line);
            }
            row
        });
    let mut tmp = partial.as_os_str().to_owned();
    tmp.push(".parquet");
    let tmp = PathBuf::from(tmp);
    write_rows(&tmp, rows, classes, landmarks, metadata)?;
    if let Some(line) = bad {
        return Err(FerError::Dataset {
            path: partial.to_path_buf(),
            reason: format!("a spooled line is not a row: {line}"),
        });
    }
    std::fs::rename(&tmp, out).map_err(|e| FerError::io(out, e))?;
    std::fs::remove_file(partial).map_err(|e| FerError::io(partial, e))
}

/// Read every unit in parallel, writing each unit's rows whole as it completes.
/// Returns the summary and the number of rows written.
#[allow(clippy::too_many_arguments)]
fn process(
    cfg: &BatchConfig,
    pool: &PipelinePool,
    model: &dyn FaceModel,
    classes: &[String],
    units: Vec<Unit>,
    done: &HashSet<(String, u64)>,
    mut sink: Box<dyn Write>,
    partial: Option<&Path>,
    mut summary: BatchSummary,
    on_file: &(dyn Fn() + Sync),
    on_total: &dyn Fn(usize),
) -> Result<(BatchSummary, usize)> {
    on_total(units.len());
    let sink_name = partial.unwrap_or(Path::new("<stdout>")).to_path_buf();
    let mut written = 0;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Row>>(64);
    let write_result: Result<()> = std::thread::scope(|scope| {
        scope.spawn(move || {
            units.into_par_iter().for_each_with(tx, |tx, unit| {
                let rows = process_unit(&unit, pool, model, cfg, done);
                // The receiver only hangs up on a write error, which is reported below.
                let _ = tx.send(rows);
            });
        });
        for rows in rx {
            summary.files += 1;
            for r in &rows {
                match r.status {
                    Status::Ok => summary.faces += 1,
                    Status::NoFace => summary.no_face += 1,
                    Status::Error => {
                        summary.errors += 1;
                        tracing::warn!("{}", r.error.as_deref().unwrap_or(""));
                    }
                }
            }
            let bytes = format_rows(&rows, classes, cfg.format, cfg.landmarks)?;
            sink.write_all(&bytes)
                .and_then(|_| sink.flush())
                .map_err(|e| FerError::io(&sink_name, e))?;
            written += rows.len();
            on_file();
        }
        Ok(())
    });
    write_result?;
    drop(sink);
    Ok((summary, written))
}
