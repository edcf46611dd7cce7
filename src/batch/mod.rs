//! `fer batch`: every face of every image and video under the given paths, in
//! parallel, as CSV, JSONL or Parquet rows. Output written to a file goes first
//! to `<out>.partial`, one whole file's rows at a time, and is renamed to `<out>`
//! only when the batch is complete: a crash or Ctrl-C never leaves a corrupt
//! output, and `--resume` picks up the partial file, keeping the files whose rows
//! are all there. A sharded run (`--shard I/N`, or a Slurm array) does its share
//! of the inputs into `<out>.shard-I-of-N`; `fer merge` gathers the shards.
//!
//! The files: `config` (the job), `files_from` (`--files-from`), `shard` (who
//! does what), `read` (one unit into rows), `output` (rows as CSV or JSON
//! lines), `columnar` (rows as Parquet), `resume`, `record` (a shard's run
//! record), `run` (the whole batch), `memory` (a batch's rows in memory, for
//! the Python binding) and `merge` (`fer merge`).

pub mod columnar;
mod config;
mod files_from;
mod memory;
mod merge;
mod output;
mod read;
pub mod record;
mod resume;
mod run;
pub mod shard;

pub use config::{BatchConfig, BatchSummary, ShardChoice};
pub use files_from::read_file_list;
pub use memory::rows_in_memory;
pub use merge::{merge, MergeSummary};
pub use output::{csv_header, format_rows, row_from_json, OutputFormat, Row, Status};
pub use read::{
    annotated_name, classify, collect_inputs, process_unit, rows_of_reading, video_frames,
};
pub use resume::{parse_key, read_previous, LineKey, Previous};
pub use run::run;
pub use shard::{Input, Shard, Unit};
