//! `fer merge`: the shards of a sharded `fer batch` gathered into one output.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct MergeArgs {
    /// The --out of the sharded batch: OUT.shard-I-of-N (and their .json records) are read, OUT is written.
    out: PathBuf,
}

pub fn run(args: MergeArgs) -> Result<i32> {
    let summary = fer::batch::merge(&args.out)?;
    eprintln!("{}", summary.to_text(&args.out));
    Ok(0)
}
