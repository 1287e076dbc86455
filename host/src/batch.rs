//! `scicat-ingestor ingest`: a backlog of data files through one engine, in
//! parallel, each with the single-file semantics (exactly once, resume). It
//! shows progress, writes a report record per file as it finishes (memory
//! does not grow with the number of files), prints a summary, and stops
//! cleanly on Ctrl-C.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::engine::Ingestor;
use crate::ingest::{Outcome, Request};

/// The data files a folder is searched for unless `--glob` says otherwise.
pub const DEFAULT_GLOB: &str = "*.{nxs,hdf,hdf5,h5,nx5,nx}";

/// How long running files may take to finish after Ctrl-C.
const DRAIN: Duration = Duration::from_secs(60);

/// What to ingest and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub paths: Vec<PathBuf>,
    pub jobs: usize,
    pub glob: String,
    pub report: Option<PathBuf>,
    pub dry_run: bool,
}

/// How one file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ingested,
    Resumed,
    AlreadyThere,
    DryRun,
    Failed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ingested => "ingested",
            Kind::Resumed => "resumed",
            Kind::AlreadyThere => "already there",
            Kind::DryRun => "dry run",
            Kind::Failed => "failed",
        }
    }
}

/// The counts at the end (or at an interruption).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub total: usize,
    pub ingested: usize,
    pub resumed: usize,
    pub already_there: usize,
    pub dry_run: usize,
    /// `(file, one-line reason)`.
    pub failed: Vec<(String, String)>,
    pub not_started: usize,
    pub interrupted: bool,
    pub elapsed: Duration,
}

impl Summary {
    pub fn done(&self) -> usize {
        self.ingested + self.resumed + self.already_there + self.dry_run + self.failed.len()
    }

    /// The lines printed at the end.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} of {} file(s) in {:.1} s: {} ingested, {} resumed (datablock added), {} already there, {} failed",
            self.done(),
            self.total,
            self.elapsed.as_secs_f64(),
            self.ingested,
            self.resumed,
            self.already_there,
            self.failed.len()
        );
        if self.dry_run > 0 {
            out.push_str(&format!(", {} dry run(s)", self.dry_run));
        }
        if self.interrupted {
            out.push_str(&format!(
                "; interrupted: {} not started (run the same command again to finish)",
                self.not_started
            ));
        }
        for (file, reason) in &self.failed {
            out.push_str(&format!("\n  FAILED {file}: {reason}"));
        }
        if !self.failed.is_empty() {
            out.push_str("\nfix what the reasons say and run the same command again: it finishes the failed files and creates nothing twice");
        }
        out
    }
}

/// `*`, `?` and `{a,b}` on a file name.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    if let (Some(open), Some(close)) = (pattern.find('{'), pattern.find('}'))
        && open < close
    {
        let (head, rest) = pattern.split_at(open);
        let (alts, tail) = rest[1..].split_at(close - open - 1);
        return alts
            .split(',')
            .any(|a| glob_match(&format!("{head}{a}{}", &tail[1..]), name));
    }
    fn wild(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => wild(&p[1..], n) || (!n.is_empty() && wild(p, &n[1..])),
            (Some('?'), Some(_)) => wild(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => wild(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    wild(&p, &n)
}

/// The data files named by `paths`: files as given, folders searched
/// recursively (hidden folders skipped) for names matching `glob`. Sorted
/// per folder; a file named twice is listed once.
pub fn collect(paths: &[PathBuf], glob: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in paths {
        let md = std::fs::metadata(p)
            .with_context(|| format!("{}: no such file or folder", p.display()))?;
        if md.is_dir() {
            walk(p, glob, &mut out, &mut seen)?;
        } else {
            push_once(p.clone(), &mut out, &mut seen);
        }
    }
    Ok(out)
}

fn push_once(p: PathBuf, out: &mut Vec<PathBuf>, seen: &mut std::collections::HashSet<PathBuf>) {
    let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
    if seen.insert(key) {
        out.push(p);
    } else {
        log::warn!("{} is named more than once: ingested once", p.display());
    }
}

fn walk(
    dir: &Path,
    glob: &str,
    out: &mut Vec<PathBuf>,
    seen: &mut std::collections::HashSet<PathBuf>,
) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if !name.starts_with('.') {
                walk(&e.path(), glob, out, seen)?;
            }
        } else if glob_match(glob, &name) {
            push_once(e.path(), out, seen);
        }
    }
    Ok(())
}

/// One finished file, as the workers report it.
struct Done {
    file: String,
    result: Result<Outcome>,
    took: Duration,
}

/// The report file, written record by record.
struct Report {
    out: std::io::BufWriter<std::fs::File>,
    first: bool,
}

impl Report {
    fn create(path: &Path) -> Result<Report> {
        let f = std::fs::File::create(path)
            .with_context(|| format!("cannot write the report {}", path.display()))?;
        let mut out = std::io::BufWriter::new(f);
        out.write_all(b"{\"files\": [\n")?;
        Ok(Report { out, first: true })
    }

    fn add(&mut self, record: &Value) -> Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        self.out
            .write_all(crate::logging::scrub(&record.to_string()).as_bytes())?;
        Ok(())
    }

    fn finish(mut self, s: &Summary) -> Result<()> {
        let summary = json!({
            "total": s.total,
            "ingested": s.ingested,
            "resumed": s.resumed,
            "already_there": s.already_there,
            "dry_run": s.dry_run,
            "failed": s.failed.len(),
            "not_started": s.not_started,
            "interrupted": s.interrupted,
            "seconds": s.elapsed.as_secs_f64(),
        });
        write!(self.out, "\n], \"summary\": {summary}}}\n")?;
        self.out.flush()?;
        Ok(())
    }
}

/// Progress on stderr: a bar redrawn in place on a terminal, a plain line
/// every few seconds otherwise.
struct Progress {
    tty: bool,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn new() -> Progress {
        let tty = std::io::stderr().is_terminal();
        crate::logging::set_bar_active(tty);
        Progress {
            tty,
            start: Instant::now(),
            last: Instant::now(),
        }
    }

    fn show(&mut self, s: &Summary, running: usize, force: bool) {
        let every = if self.tty {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        if !force && self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        let done = s.done();
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 {
            format!("{:.0} s", (s.total - done) as f64 / rate)
        } else {
            "?".into()
        };
        let text = format!(
            "{done}/{} files, {rate:.1} files/s, {} failed, {running} running, ETA {eta}",
            s.total,
            s.failed.len()
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let width = 30;
            let filled = (done * width).checked_div(s.total).unwrap_or(width);
            let _ = write!(
                err,
                "\r\x1b[2K[{}{}] {text}",
                "#".repeat(filled),
                ".".repeat(width - filled)
            );
        } else {
            let _ = writeln!(err, "progress: {text}");
        }
        let _ = err.flush();
    }

    fn end(&mut self) {
        if self.tty {
            let _ = writeln!(std::io::stderr());
            crate::logging::set_bar_active(false);
        }
    }
}

/// Catches Ctrl-C and SIGTERM: the first asks to stop taking new files, a
/// second one exits at once.
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Order matters: the conditional exit sees the flag the first
        // signal set, so only a second signal exits.
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone());
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    stop
}

/// Ingests `files` through `ingestor` with `opts.jobs` workers. Dry-run
/// results go to stdout as JSON lines.
pub fn run(ingestor: &Ingestor, files: Vec<PathBuf>, opts: &Options) -> Result<Summary> {
    let jobs = opts.jobs.max(1).min(files.len().max(1));
    let stop = stop_flag();
    let mut report = opts.report.as_deref().map(Report::create).transpose()?;
    let mut summary = Summary {
        total: files.len(),
        ..Default::default()
    };
    let next = AtomicUsize::new(0);
    let running = AtomicUsize::new(0);
    let mut progress = Progress::new();
    let started = Instant::now();
    let (tx, rx) = mpsc::channel::<Done>();
    let mut stdout = std::io::stdout().lock();
    let mut stopping_since: Option<Instant> = None;
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (files, next, running, stop) = (&files, &next, &running, &stop);
            scope.spawn(move || {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(path) = files.get(i) else { return };
                    running.fetch_add(1, Ordering::SeqCst);
                    let file = path.to_string_lossy().into_owned();
                    crate::logging::set_context(Some(file.clone()));
                    let req = Request {
                        nexus_file: file.clone(),
                        nexus_path: path.clone(),
                        done_writing_message_file: None,
                        dry_run: opts.dry_run,
                        fixed_builtins: Vec::new(),
                    };
                    let t = Instant::now();
                    // A panic in one file must not take the others down.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        ingestor.ingest(&req)
                    }))
                    .unwrap_or_else(|_| {
                        Err(anyhow::anyhow!(
                            "internal error (a bug): the ingestion panicked"
                        ))
                    });
                    crate::logging::set_context(None);
                    running.fetch_sub(1, Ordering::SeqCst);
                    if tx
                        .send(Done {
                            file,
                            result,
                            took: t.elapsed(),
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        drop(tx);
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(done) => {
                    let record = account(&mut summary, done, &mut stdout)?;
                    if let Some(r) = report.as_mut() {
                        r.add(&record)?;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            summary.elapsed = started.elapsed();
            if stop.load(Ordering::SeqCst) {
                let since = *stopping_since.get_or_insert_with(|| {
                    log::warn!(
                        "stopping: no new files are started; waiting for the {} running (at most {} s; press Ctrl-C again to quit now)",
                        running.load(Ordering::SeqCst),
                        DRAIN.as_secs()
                    );
                    Instant::now()
                });
                if since.elapsed() > DRAIN {
                    // The running files are abandoned: their claims are
                    // released when the process exits, and the next run
                    // finishes them.
                    summary.interrupted = true;
                    summary.not_started = summary.total - summary.done();
                    progress.end();
                    if let Some(r) = report.take() {
                        r.finish(&summary)?;
                    }
                    eprintln!("{}", crate::logging::scrub(&summary.render()));
                    std::process::exit(130);
                }
            }
            progress.show(&summary, running.load(Ordering::SeqCst), false);
        }
        Ok(())
    })?;
    summary.elapsed = started.elapsed();
    if stop.load(Ordering::SeqCst) {
        summary.interrupted = true;
        summary.not_started = summary.total - summary.done();
    }
    progress.show(&summary, 0, true);
    progress.end();
    if let Some(r) = report {
        r.finish(&summary)?;
    }
    Ok(summary)
}

/// Counts one finished file and gives its report record.
fn account(s: &mut Summary, done: Done, stdout: &mut impl Write) -> Result<Value> {
    let (kind, pid, datablock, error) = match done.result {
        Ok(Outcome::Created { pid, datablock }) => {
            (Kind::Ingested, Some(pid), Some(datablock), None)
        }
        Ok(Outcome::Resumed { pid, datablock }) => {
            (Kind::Resumed, Some(pid), Some(datablock), None)
        }
        Ok(Outcome::Exists { pid }) => (Kind::AlreadyThere, Some(pid), None, None),
        Ok(Outcome::DryRun(v)) => {
            let mut line = v;
            line["file"] = json!(done.file);
            writeln!(stdout, "{}", crate::logging::scrub(&line.to_string()))?;
            (Kind::DryRun, None, None, None)
        }
        Err(e) => {
            let reason = crate::logging::scrub(&format!("{e:#}")).replace(['\n', '\r'], " ");
            log::error!("{}: {reason}", done.file);
            (Kind::Failed, None, None, Some(reason))
        }
    };
    match kind {
        Kind::Ingested => s.ingested += 1,
        Kind::Resumed => s.resumed += 1,
        Kind::AlreadyThere => s.already_there += 1,
        Kind::DryRun => s.dry_run += 1,
        Kind::Failed => s
            .failed
            .push((done.file.clone(), error.clone().unwrap_or_default())),
    }
    Ok(json!({
        "path": done.file,
        "outcome": kind.name(),
        "pid": pid,
        "datablock": datablock,
        "error": error,
        "seconds": done.took.as_secs_f64(),
    }))
}

/// Refuses what cannot work before any file is touched.
pub fn check(opts: &Options) -> Result<()> {
    if opts.paths.is_empty() {
        bail!(
            "no data files: give files or folders, e.g. `scicat-ingestor ingest -c config.yml /data/443503/raw`"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_glob_is_the_data_extensions() {
        for x in crate::files::DATA_EXTENSIONS {
            assert!(glob_match(DEFAULT_GLOB, &format!("run.{x}")), "{x}");
        }
        let listed = DEFAULT_GLOB.matches(',').count() + 1;
        assert_eq!(listed, crate::files::DATA_EXTENSIONS.len());
    }

    #[test]
    fn globs_match_names() {
        assert!(glob_match(DEFAULT_GLOB, "run_1.nxs"));
        assert!(glob_match(DEFAULT_GLOB, "run_1.hdf"));
        assert!(!glob_match(DEFAULT_GLOB, "run_1.b2b"));
        assert!(!glob_match(DEFAULT_GLOB, "run_1.nxs.scicat.json"));
        assert!(glob_match("run_?.h5", "run_7.h5"));
        assert!(!glob_match("run_?.h5", "run_17.h5"));
        assert!(glob_match("*", "x"));
    }

    #[test]
    fn folders_are_searched_and_duplicates_dropped() {
        let d = tempfile::tempdir().unwrap();
        let raw = d.path().join("p/raw");
        std::fs::create_dir_all(&raw).unwrap();
        std::fs::create_dir_all(d.path().join("p/.hidden")).unwrap();
        for f in ["b.nxs", "a.hdf", "notes.txt"] {
            std::fs::write(raw.join(f), b"x").unwrap();
        }
        std::fs::write(d.path().join("p/.hidden/c.nxs"), b"x").unwrap();
        let got = collect(&[d.path().join("p"), raw.join("a.hdf")], DEFAULT_GLOB).unwrap();
        assert_eq!(got, [raw.join("a.hdf"), raw.join("b.nxs")]);
    }
}
