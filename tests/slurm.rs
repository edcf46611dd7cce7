//! A real Slurm on this machine: a single-node cluster (Debian's `slurmctld`
//! and `slurmd` 22.05, started as plain processes with their state under a
//! temporary folder and ports chosen free), running `deploy/slurm/submit.sh`:
//! an array job of N `fer batch` tasks and the merge as a dependent job. The
//! merged rows must equal a single `fer batch` for N = 1, 2 and 4, and a task
//! killed mid-run must resume. Without Slurm the test prints SKIPPED.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a job may take before the test gives up.
const JOB_TIMEOUT: Duration = Duration::from_secs(300);

fn find(program: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The daemons, stopped (by PID) when the test ends, pass or fail.
struct Cluster {
    daemons: Vec<Child>,
    conf: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

impl Cluster {
    fn start(dir: &Path, slurmctld: &Path, slurmd: &Path) -> Cluster {
        for sub in ["state", "spool", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let d = dir.display();
        let conf = dir.join("slurm.conf");
        std::fs::write(
            &conf,
            format!(
                "ClusterName=fertest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MailProg=/bin/true
MinJobAge=2
ReturnToService=2
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
NodeName=fernode NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=fernode Default=YES MaxTime=INFINITE State=UP
",
                ctld = free_port(),
                slurmd = free_port(),
            ),
        )
        .unwrap();
        let spawn = |program: &Path, extra: &[&str]| {
            Command::new(program)
                .args(["-D", "-f"])
                .arg(&conf)
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut cluster = Cluster {
            daemons: vec![spawn(slurmctld, &["-i"])],
            conf: conf.clone(),
        };
        std::thread::sleep(Duration::from_millis(500));
        cluster.daemons.push(spawn(slurmd, &["-N", "fernode"]));
        let started = Instant::now();
        loop {
            let state = cluster.client("sinfo", &["-h", "-o", "%t"]);
            if state.trim() == "idle" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the node did not become idle: {state}; logs in {d}/log"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        cluster
    }

    fn client(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(find(program).unwrap())
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until none of `jobs` is queued or running.
    fn wait(&self, jobs: &[&str]) {
        let started = Instant::now();
        loop {
            let queued = self.client("squeue", &["-h", "-j", &jobs.join(","), "-o", "%i %T"]);
            if queued.trim().is_empty() {
                return;
            }
            assert!(
                started.elapsed() < JOB_TIMEOUT,
                "jobs still queued: {queued}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Submit the array of `n` tasks and its merge; wait for both.
    fn run_submit(&self, dir: &Path, n: usize, out: &str, extra: &[&str]) {
        let submit = common::root().join("deploy/slurm/submit.sh");
        let result = Command::new("bash")
            .arg(&submit)
            .args([&n.to_string(), "list.txt", out])
            .args(extra)
            .current_dir(dir)
            .env("SLURM_CONF", &self.conf)
            .env("FER", env!("CARGO_BIN_EXE_fer"))
            .env(
                "PATH",
                format!(
                    "/usr/bin:/usr/sbin:{}",
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "submit.sh: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        let ids = String::from_utf8(result.stdout).unwrap();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        self.wait(&ids);
    }
}

fn logs(dir: &Path) -> String {
    let mut text = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "log") {
            text += &format!(
                "== {}\n{}\n",
                p.display(),
                std::fs::read_to_string(&p).unwrap_or_default()
            );
        }
    }
    text
}

#[test]
fn an_array_job_and_its_merge_equal_one_run_and_a_killed_task_resumes() {
    let (Some(slurmctld), Some(slurmd), Some(_)) =
        (find("slurmctld"), find("slurmd"), find("sbatch"))
    else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED slurm: no Slurm here; install it with `apt-get install --no-install-recommends slurmctld slurmd slurm-client` (.ci/install-deps does)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(&tmp.path().join("slurm"), &slurmctld, &slurmd);
    // The inputs: the shipped samples, a broken image and a 60-frame video,
    // listed in a file as a cluster user would.
    let work = tmp.path().join("work");
    common::batch_inputs(&work, 60, 20..30);
    // Each range of 16 frames starts a block of full-search frames (`fer::tracked`),
    // so that the tasks search each frame as the single run does.
    let chunk = ["--video-chunk", "16", "--search-every", "16"];
    let single = Command::new(env!("CARGO_BIN_EXE_fer"))
        .args(["batch", "--files-from", "list.txt", "--out", "single.csv"])
        .args(&chunk[2..])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(single.status.code(), Some(1), "one broken file");
    let want = common::rows_without_times(&work.join("single.csv"));
    assert_eq!(want.len(), 5 + 1 + 60);

    for n in [1, 2, 4] {
        let out = format!("rows-{n}.csv");
        cluster.run_submit(&work, n, &out, &chunk);
        assert!(
            work.join(&out).exists(),
            "no merged output for N = {n}\n{}",
            logs(&work)
        );
        assert_eq!(
            common::rows_without_times(&work.join(&out)),
            want,
            "N = {n}"
        );
    }

    // A task killed mid-run (as a node failure would) and run again by Slurm
    // picks up its rows: start task 1 of 2 by hand with the job script, kill it
    // once it has written rows, then submit the array.
    let script = common::root().join("deploy/slurm/fer-batch.sbatch");
    let partial = work.join("killed.csv.shard-1-of-2.partial");
    let mut task = Command::new("bash")
        .arg(&script)
        .args(["list.txt", "killed.csv"])
        .args(chunk)
        .current_dir(&work)
        .env("FER", env!("CARGO_BIN_EXE_fer"))
        .envs([
            ("SLURM_ARRAY_JOB_ID", "0"),
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ])
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::read_to_string(&partial).map_or(0, |t| t.lines().count()) < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the task wrote no rows"
        );
        assert!(
            task.try_wait().unwrap().is_none(),
            "the task ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL to the script and fer alike (their process group). The `--` is
    // needed: procps' kill reads `-KILL -PGID` as a signal and pid -1, everything.
    let group = format!("-{}", task.id());
    let killed = Command::new("kill")
        .args(["-s", "KILL", "--", &group])
        .status()
        .unwrap();
    assert!(killed.success());
    task.wait().unwrap();
    assert!(partial.exists() && !work.join("killed.csv.shard-1-of-2").exists());
    cluster.run_submit(&work, 2, "killed.csv", &chunk);
    let all_logs = logs(&work);
    assert!(all_logs.contains("resuming from"), "{all_logs}");
    assert_eq!(common::rows_without_times(&work.join("killed.csv")), want);
    drop(cluster);
}
