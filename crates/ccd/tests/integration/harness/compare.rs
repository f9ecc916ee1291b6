//! One compile through ccd and the same compile by the bare compiler, from
//! the same state of the outputs, compared: exit code, stdout, stderr and
//! the files they leave.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::counts::{Moved, Outcome};
use super::env::{Env, stderr};

/// A comparison to run, made by [`Env::like_bare`]. Options: what ccd's
/// run must be ([`outcome`](Self::outcome), [`hit`](Self::hit),
/// [`miss`](Self::miss); counted), [`counted`](Self::counted),
/// [`in_dir`](Self::in_dir), [`bare_args`](Self::bare_args), a prepared
/// `ccd` [`command`](Self::command), which files and from which state
/// ([`keep_outputs`](Self::keep_outputs),
/// [`changed_files`](Self::changed_files)),
/// [`stderr_filter`](Self::stderr_filter). Then [`run`](Self::run) (panics
/// on a difference) or [`differences`](Self::differences).
#[must_use = "nothing is compiled until `run` or `differences`"]
pub struct LikeBare<'e> {
    env: &'e Env,
    compiler: String,
    args: Vec<String>,
    bare_args: Option<Vec<String>>,
    dir: PathBuf,
    command: Option<Command>,
    files: Files,
    expect: Option<Outcome>,
    count: bool,
    stderr_filter: Option<fn(&str) -> String>,
}

/// Which files are compared, and from which state each run starts.
enum Files {
    /// These (relative to the directory), removed before each run.
    Removed(Vec<String>),
    /// These, put back as they were before ccd's run for the bare one.
    Kept(Vec<String>),
    /// Every file under the directory either run created or changed; the
    /// directory is put back as it was for the bare run.
    Changed,
}

/// What the comparison found, the bare compiler's output included.
pub struct Compared {
    /// ccd's output.
    pub out: Output,
    pub bare: Output,
    /// How far the counters moved over ccd's run, when it was counted.
    moved: Option<Moved>,
    /// The compared files ccd left, by name relative to the directory.
    pub files: BTreeMap<String, Vec<u8>>,
    /// How long ccd's run and the bare one took.
    pub took: Duration,
    pub bare_took: Duration,
}

impl Compared {
    /// How far ccd's run moved the counters.
    #[track_caller]
    pub fn moved(&self) -> Moved {
        self.moved
            .expect("the comparison was not counted (`outcome` or `counted`)")
    }

    /// The content ccd left in `name` (relative to the directory).
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }
}

/// One way ccd's run differed from the bare compiler's.
pub enum Difference {
    ExitCode(Option<i32>, Option<i32>),
    Stdout(Vec<u8>, Vec<u8>),
    Stderr(String, String),
    /// A file's content after ccd's run and after the bare one (`None`:
    /// there was none).
    File {
        name: String,
        ours: Option<Vec<u8>>,
        bare: Option<Vec<u8>>,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Difference::ExitCode(o, b) => write!(f, "exit code: ccd {o:?}, compiler {b:?}"),
            Difference::Stdout(o, b) => write!(
                f,
                "stdout differs:\n--- ccd\n{}--- compiler\n{}",
                String::from_utf8_lossy(o),
                String::from_utf8_lossy(b)
            ),
            Difference::Stderr(o, b) => {
                write!(f, "stderr differs:\n--- ccd\n{o}--- compiler\n{b}")
            }
            Difference::File { name, ours, bare } => match (ours, bare) {
                (None, _) => write!(f, "{name}: ccd left none, the compiler wrote one"),
                (_, None) => write!(f, "{name}: ccd left one, the compiler wrote none"),
                (Some(o), Some(b)) => write!(
                    f,
                    "{name} differs from the compiler's ({} vs {} bytes)",
                    o.len(),
                    b.len()
                ),
            },
        }
    }
}

impl Env {
    /// `ccd <compiler> args...` and `<compiler> args...`, both in the work
    /// directory, each starting with `files` (relative to the directory)
    /// removed; see [`LikeBare`] for the options.
    pub fn like_bare(&self, compiler: &str, args: &[&str], files: &[&str]) -> LikeBare<'_> {
        LikeBare {
            env: self,
            compiler: compiler.to_string(),
            args: strings(args),
            bare_args: None,
            dir: self.work.clone(),
            command: None,
            files: Files::Removed(strings(files)),
            expect: None,
            count: false,
            stderr_filter: None,
        }
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl LikeBare<'_> {
    /// The compile through ccd must be `expect` (counted).
    pub fn outcome(mut self, expect: Outcome) -> Self {
        self.expect = Some(expect);
        self.count = true;
        self
    }

    /// The compile through ccd must be a hit.
    pub fn hit(self) -> Self {
        self.outcome(Outcome::Hit)
    }

    /// The compile through ccd must be a miss.
    pub fn miss(self) -> Self {
        self.outcome(Outcome::Miss)
    }

    /// Count how far ccd's run moves the counters ([`Compared::moved`]).
    /// Not by default: a status request waits for the daemon's stores.
    pub fn counted(mut self) -> Self {
        self.count = true;
        self
    }

    /// Both run in `dir`, and the files are relative to it.
    pub fn in_dir(mut self, dir: &Path) -> Self {
        self.dir = dir.to_path_buf();
        self
    }

    /// The bare compiler gets `args` instead.
    pub fn bare_args(mut self, args: &[&str]) -> Self {
        self.bare_args = Some(strings(args));
        self
    }

    /// `cmd` (a `ccd` command prepared by the caller, e.g. with more
    /// environment) runs the compile through ccd; the bare compiler gets
    /// the environment's variables only.
    pub fn command(mut self, cmd: Command) -> Self {
        self.command = Some(cmd);
        self
    }

    /// Both runs start from the files as they are now (ccd's run may find
    /// outputs of an earlier compile) instead of none.
    pub fn keep_outputs(mut self) -> Self {
        self.files = match self.files {
            Files::Removed(names) | Files::Kept(names) => Files::Kept(names),
            Files::Changed => Files::Changed,
        };
        self
    }

    /// Compares every file either run creates or changes under the
    /// directory; both start from the directory as it is now.
    pub fn changed_files(mut self) -> Self {
        self.files = Files::Changed;
        self
    }

    /// Compares stderr through `filter` (for names that differ on every
    /// run, such as the driver's temporary files).
    pub fn stderr_filter(mut self, filter: fn(&str) -> String) -> Self {
        self.stderr_filter = Some(filter);
        self
    }

    /// Runs both and panics on any difference (or an unexpected outcome).
    #[track_caller]
    pub fn run(self) -> Compared {
        let what = self.what();
        let expect = self.expect;
        let (c, diffs) = self.differences();
        if !diffs.is_empty() {
            let mut msg = format!("{what}: ccd differs from the bare compiler:");
            for d in &diffs {
                msg.push('\n');
                msg.push_str(&d.to_string());
            }
            let stderr_shown = diffs.iter().any(|d| matches!(d, Difference::Stderr(..)));
            if !stderr_shown {
                msg.push_str(&format!("\nstderr of both:\n{}", stderr(&c.out)));
            }
            panic!("{msg}");
        }
        if let Some(expect) = expect {
            c.moved().assert_outcome(expect, &what, &c.out);
        }
        c
    }

    fn what(&self) -> String {
        let mut w = format!("{} {:?}", self.compiler, self.args);
        if let Some(b) = &self.bare_args {
            w.push_str(&format!(" (bare: {b:?})"));
        }
        if self.dir != self.env.work {
            w.push_str(&format!(" in {}", self.dir.display()));
        }
        w
    }

    /// Runs both; what ccd did and how it differed from the bare compiler
    /// (empty: not at all). The outcome is not checked here.
    pub fn differences(self) -> (Compared, Vec<Difference>) {
        let LikeBare {
            env,
            compiler,
            args,
            bare_args,
            dir,
            command,
            files,
            expect: _,
            count,
            stderr_filter,
        } = self;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let bare_args: Vec<&str> = match &bare_args {
            Some(b) => b.iter().map(String::as_str).collect(),
            None => args.clone(),
        };

        // The state each run starts from.
        let start: BTreeMap<String, Vec<u8>> = match &files {
            Files::Removed(names) => {
                remove(&dir, names);
                BTreeMap::new()
            }
            Files::Kept(names) => read(&dir, names),
            Files::Changed => tree(&dir),
        };
        let state = |start: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
            match &files {
                Files::Removed(names) | Files::Kept(names) => read(&dir, names),
                Files::Changed => changes(start, &tree(&dir)),
            }
        };

        env.settle();
        let mut cmd = command.unwrap_or_else(|| env.ccd());
        cmd.current_dir(&dir).arg(&compiler).args(&args);
        let mut run = || {
            let t = Instant::now();
            let out = cmd.output().unwrap();
            (out, t.elapsed())
        };
        let ((out, took), moved) = if count {
            let (r, m) = env.counting(run);
            (r, Some(m))
        } else {
            (run(), None)
        };
        let ours = state(&start);

        // Back to the starting state.
        match &files {
            Files::Removed(names) => remove(&dir, names),
            Files::Kept(names) => {
                for n in names {
                    let p = dir.join(n);
                    let _ = std::fs::remove_file(&p);
                    if let Some(b) = start.get(n) {
                        let _ = std::fs::write(&p, b);
                    }
                }
            }
            Files::Changed => {
                for n in ours.keys() {
                    let p = dir.join(n);
                    match start.get(n) {
                        Some(b) => std::fs::write(&p, b).unwrap(),
                        None => std::fs::remove_file(&p).unwrap(),
                    }
                }
            }
        }
        let t = Instant::now();
        let bare = env.bare_in(&dir, &compiler, &bare_args);
        let bare_took = t.elapsed();
        let theirs = state(&start);

        let mut diffs = Vec::new();
        if out.status.code() != bare.status.code() {
            diffs.push(Difference::ExitCode(out.status.code(), bare.status.code()));
        }
        if out.stdout != bare.stdout {
            diffs.push(Difference::Stdout(out.stdout.clone(), bare.stdout.clone()));
        }
        let filter = |s: String| match stderr_filter {
            Some(f) => f(&s),
            None => s,
        };
        let (e1, e2) = (filter(stderr(&out)), filter(stderr(&bare)));
        if e1 != e2 {
            diffs.push(Difference::Stderr(e1, e2));
        }
        let names: std::collections::BTreeSet<&String> = match &files {
            Files::Removed(names) | Files::Kept(names) => names.iter().collect(),
            Files::Changed => ours.keys().chain(theirs.keys()).collect(),
        };
        for name in names {
            let (o, b) = (ours.get(name), theirs.get(name));
            if o != b {
                diffs.push(Difference::File {
                    name: name.clone(),
                    ours: o.cloned(),
                    bare: b.cloned(),
                });
            }
        }
        let c = Compared {
            out,
            bare,
            moved,
            files: ours,
            took,
            bare_took,
        };
        (c, diffs)
    }
}

fn remove(dir: &Path, names: &[String]) {
    for n in names {
        let _ = std::fs::remove_file(dir.join(n));
    }
}

/// The files of `names` that exist, with their content.
fn read(dir: &Path, names: &[String]) -> BTreeMap<String, Vec<u8>> {
    names
        .iter()
        .filter_map(|n| Some((n.clone(), std::fs::read(dir.join(n)).ok()?)))
        .collect()
}

/// Every file under `dir` with its content, by relative name.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(dir, dir, &mut m);
    m
}

/// The files of `now` created or changed since `start`.
fn changes(
    start: &BTreeMap<String, Vec<u8>>,
    now: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<String, Vec<u8>> {
    now.iter()
        .filter(|(p, c)| start.get(*p) != Some(*c))
        .map(|(p, c)| (p.clone(), c.clone()))
        .collect()
}
