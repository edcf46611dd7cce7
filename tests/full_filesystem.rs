//! Out of disk on a real full filesystem (RELIABILITY.md): a 1 MB tmpfs holding
//! earlier outputs, filled to the last byte. `fer batch`, `fer train`, `fer eval
//! --plot` and `fer live --jsonl`/`--record` each fail with an error naming the
//! file (`No space left on device`, or for the recording, which OpenCV writes
//! without reporting errors, the check that finds it incomplete), exit non-zero
//! without a panic, and leave the earlier file as it was; a half-written model or
//! picture is removed. Mounting needs root (or
//! CAP_SYS_ADMIN); without it the test prints SKIPPED and passes.

mod common;

use std::ffi::CString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Size of the filesystem.
const FS_BYTES: &str = "1m";

/// A tmpfs mounted for the test, unmounted when dropped.
struct SmallFs {
    _dir: tempfile::TempDir,
    at: PathBuf,
}

impl SmallFs {
    /// Mount a tmpfs of [`FS_BYTES`], or `None` when this process may not mount.
    fn mount() -> Option<SmallFs> {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().to_path_buf();
        let c = |s: &str| CString::new(s).unwrap();
        let target = c(at.to_str().unwrap());
        let options = c(&format!("size={FS_BYTES},mode=0700"));
        // SAFETY: valid NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                c("tmpfs").as_ptr(),
                target.as_ptr(),
                c("tmpfs").as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        (rc == 0).then_some(SmallFs { _dir: dir, at })
    }

    /// Write a filler file until the filesystem refuses another byte.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.at.join("filler")).unwrap();
        let block = vec![0u8; 4096];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                    break;
                }
            }
        }
        // The last partial block, byte by byte.
        while let Ok(1) = f.write(&block[..1]) {}
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let target = CString::new(self.at.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

fn fer(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fer"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Failed cleanly with exit status 2 or 1, naming `file` and `reason`, no panic.
fn failed_naming(out: &Output, file: &str, reason: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "{:?}: {stderr}",
        out.status
    );
    assert!(stderr.contains(file) && stderr.contains(reason), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn every_writer_on_a_full_filesystem_names_the_file_and_keeps_the_earlier_one() {
    let Some(shared) = common::shared_data(
        "every_writer_on_a_full_filesystem_names_the_file_and_keeps_the_earlier_one",
    ) else {
        return;
    };
    let Some(fs) = SmallFs::mount() else {
        println!("SKIPPED every_writer_on_a_full_filesystem_names_the_file_and_keeps_the_earlier_one: cannot mount a tmpfs here (needs root)");
        return;
    };
    let d = fs.at.as_path();
    let names = [
        "rows.csv",
        "model.safetensors",
        "confusion.png",
        "timeline.jsonl",
        "rec.avi",
    ];
    for name in names {
        std::fs::write(d.join(name), format!("an earlier {name}")).unwrap();
    }
    fs.fill();
    let ck = shared.join("ckplus48");
    let ck = ck.to_str().unwrap();
    let data = common::root().join("data");
    let video = shared.join("video/Megamind.avi");
    let video = video.to_str().unwrap();
    let no_space = "No space left on device";

    let out = fer(d, &["batch", data.to_str().unwrap(), "--out", "rows.csv"]);
    failed_naming(&out, "rows.csv.partial", no_space);
    let classes = ["--classes", "happy,surprise", "--data", ck, "--no-detect"];
    let out = fer(
        d,
        &[
            &["train", "--epochs", "2", "--out", "model.safetensors"],
            &classes[..],
        ]
        .concat(),
    );
    failed_naming(&out, "model.safetensors.partial", no_space);
    let out = fer(
        d,
        &[&["eval", "--plot", "confusion.png"], &classes[..]].concat(),
    );
    failed_naming(&out, "confusion.png", no_space);
    let live = ["live", "--plain", "--max-frames", "30", "--source", video];
    let out = fer(d, &[&live[..], &["--jsonl", "timeline.jsonl"]].concat());
    failed_naming(&out, "timeline.jsonl", no_space);
    let out = fer(d, &[&live[..], &["--record", "rec.avi"]].concat());
    failed_naming(&out, "rec.partial.avi", "");

    for name in names {
        assert_eq!(
            std::fs::read_to_string(d.join(name)).unwrap(),
            format!("an earlier {name}"),
            "{name}"
        );
    }
    // What is left beside them: the partial rows and timeline (flushed, for
    // `--resume` and for reading), the partial recording (named in the error);
    // the half-written model and picture are removed.
    let mut left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "rec.partial.avi",
            "rows.csv.partial",
            "timeline.jsonl.partial"
        ]
    );
}
