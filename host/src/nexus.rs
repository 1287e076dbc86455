//! NeXus (HDF5) access: opens a data file (retrying while it is still being
//! written), expands wildcard paths, and reads datasets, attributes, units and
//! array slices as typed values. The only module that talks to HDF5; HDF5's
//! own error stack is silenced and every failure is a one-line reason.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_void};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use hdf5::types::TypeDescriptor;
use hdf5::{Container, Dataset, File, Group, LocationType};
use hdf5_sys::h5::{H5_index_t, H5_iter_order_t, herr_t, hsize_t};
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5l::{H5L_info2_t, H5L_type_t, H5Literate2};
use hdf5_sys::h5o::H5O_token_t;
use hdf5_sys::h5p::H5P_DEFAULT;
use hdf5_sys::h5s::{H5S_seloper_t, H5Sclose, H5Screate_simple, H5Sselect_hyperslab};
use hdf5_sys::h5t::{
    H5T_order_t, H5T_str_t, H5Tget_order, H5Tget_size, H5Tget_strpad, H5Tis_variable_str,
    H5Treclaim,
};

/// A failure reading the file: one line, fit for the variable-failure warning.
pub type NxResult<T> = Result<T, String>;

// The value types live with the evaluator, which reads them through
// `scicat_evaluator::data::DataFile` (implemented in `nexus_view`).
pub use scicat_evaluator::data::{Array, Data, DatasetInfo, ElemType, Kind};

/// How many datasets a file keeps open after a read by path: more than a
/// schema names, few enough that their headers stay a small cache.
const OPEN_DATASETS: usize = 256;

/// An open, read-only NeXus file.
pub struct NexusFile {
    /// The groups a path lookup passed through, kept open (and so cached):
    /// each object's metadata leaves HDF5's cache when it closes (see
    /// [`open_read_only`]), and the next path through the same groups would
    /// read them again. Declared before `file` so they close first.
    passed: Mutex<HashMap<String, Group>>,
    /// The datasets read by path, kept open for the same reason: a variable
    /// asks for a dataset's kind, value and units, and each reopen would read
    /// its header from the file again. At most [`OPEN_DATASETS`], so a
    /// plugin reading every path of a large file cannot pin them all.
    opened: Mutex<HashMap<String, Dataset>>,
    file: File,
    path: PathBuf,
}

fn one_line(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    let s = s.lines().next().unwrap_or("").trim().to_string();
    if s.is_empty() {
        "unknown HDF5 error".into()
    } else {
        s
    }
}

impl NexusFile {
    /// Opens the file read-only, once.
    pub fn open(path: &Path) -> NxResult<Self> {
        if !path.exists() {
            return Err(format!("{}: no such file", path.display()));
        }
        // A folder, a device or a pipe would hang or never end (HDF5 and the
        // checksum would read it forever): only regular files are data files.
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return Err(format!(
                "{}: not a regular file (a folder, a device or a pipe): give a data file",
                path.display()
            ));
        }
        let file = if path.to_str().is_some() {
            open_read_only(path)
        } else {
            // The hdf5 crate takes only UTF-8 names, but a data file may be
            // named with any bytes: open it here and let HDF5 open it again
            // through the descriptor's /proc link, which is plain ASCII.
            let held = std::fs::File::open(path)
                .map_err(|e| format!("{}: cannot open: {e}", path.display()))?;
            let via = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&held));
            open_read_only(Path::new(&via))
        }
        .map_err(|e| format!("{}: cannot open as HDF5: {}", path.display(), one_line(e)))?;
        Ok(NexusFile {
            passed: Mutex::default(),
            opened: Mutex::default(),
            file,
            path: path.to_path_buf(),
        })
    }

    /// Opens the file, retrying `max_tries` times in all with `delay(retry)`
    /// between tries (a file still being written can fail to open). A file
    /// that does not exist fails at once.
    pub fn open_with_retry(
        path: &Path,
        max_tries: u32,
        delay: impl Fn(usize) -> Duration,
    ) -> NxResult<Self> {
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::open(path) {
                Ok(f) => return Ok(f),
                Err(e)
                    if !path.exists()
                        || !std::fs::metadata(path).is_ok_and(|m| m.is_file())
                        || tries >= max_tries.max(1) =>
                {
                    if tries > 1 {
                        return Err(format!("{e} (gave up after {tries} tries)"));
                    }
                    return Err(e);
                }
                Err(e) => {
                    let wait = delay(tries as usize - 1);
                    log::warn!(
                        "{e}; try {tries} of {max_tries}, retrying in {:.0} s",
                        wait.as_secs_f64()
                    );
                    std::thread::sleep(wait);
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn norm(path: &str) -> String {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        format!("/{}", parts.join("/"))
    }

    /// What is at `path`, with a precise reason when nothing is.
    pub fn kind(&self, path: &str) -> NxResult<Kind> {
        let path = Self::norm(path);
        if path == "/" {
            return Ok(Kind::Group);
        }
        if self.opened().contains_key(&path) {
            return Ok(Kind::Dataset);
        }
        let mut group: Group = (*self.file).clone();
        let mut at = String::new();
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for (i, seg) in parts.iter().enumerate() {
            let parent = if at.is_empty() { "/" } else { at.as_str() };
            if !group.link_exists(seg) {
                return Err(format!("no object `{seg}` in {parent}"));
            }
            at.push('/');
            at.push_str(seg);
            let t = group
                .loc_type_by_name(seg)
                .map_err(|_| format!("{at} is a broken link"))?;
            let last = i + 1 == parts.len();
            match t {
                LocationType::Group if !last => {
                    group = self.pass_through(&at, &group, seg)?;
                }
                LocationType::Group => return Ok(Kind::Group),
                LocationType::Dataset if last => return Ok(Kind::Dataset),
                LocationType::Dataset => {
                    return Err(format!("{at} is a dataset, not a group"));
                }
                _ if last => return Ok(Kind::Other),
                _ => return Err(format!("{at} is not a group")),
            }
        }
        Ok(Kind::Group)
    }

    /// Group `seg` of `parent` (at path `at`), opened once per file.
    fn pass_through(&self, at: &str, parent: &Group, seg: &str) -> NxResult<Group> {
        let passed = || self.passed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = passed().get(at) {
            return Ok(g.clone());
        }
        // Opened without the lock held: HDF5 has its own.
        let g = parent.group(seg).map_err(one_line)?;
        Ok(passed().entry(at.to_string()).or_insert(g).clone())
    }

    fn opened(&self) -> std::sync::MutexGuard<'_, HashMap<String, Dataset>> {
        self.opened.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dataset(&self, path: &str) -> NxResult<Dataset> {
        let norm = Self::norm(path);
        if let Some(ds) = self.opened().get(&norm) {
            return Ok(ds.clone());
        }
        let ds = match self.kind(path)? {
            // Opened without the lock held: HDF5 has its own.
            Kind::Dataset => self.file.dataset(path).map_err(one_line)?,
            Kind::Group => return Err(format!("{norm} is a group, not a dataset")),
            Kind::Other => return Err(format!("{norm} is not a dataset")),
        };
        let mut opened = self.opened();
        if opened.len() < OPEN_DATASETS {
            opened.insert(norm, ds.clone());
        }
        Ok(ds)
    }

    fn group(&self, path: &str) -> NxResult<Group> {
        match self.kind(path)? {
            Kind::Group if Self::norm(path) == "/" => Ok((*self.file).clone()),
            Kind::Group => self.file.group(path).map_err(one_line),
            _ => Err(format!("{} is not a group", Self::norm(path))),
        }
    }

    /// Children of a group in name order, with their kind.
    pub fn children(&self, path: &str) -> NxResult<Vec<(String, Kind)>> {
        let g = self.group(path)?;
        let mut names = g.member_names().map_err(one_line)?;
        names.sort();
        Ok(names
            .into_iter()
            .map(|n| {
                let k = kind_of(g.loc_type_by_name(&n));
                (n, k)
            })
            .collect())
    }

    /// Expands a path whose segments may hold `*` patterns into the existing
    /// paths it names, in name order. A segment that is `*` matches every
    /// child; any other segment with a `*` is a regular expression searched in
    /// the child's name.
    pub fn expand(&self, pattern: &str) -> NxResult<Vec<String>> {
        let parts: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
        if !parts.iter().any(|p| p.contains('*')) {
            self.kind(pattern)?;
            return Ok(vec![Self::norm(pattern)]);
        }
        let mut paths = Vec::new();
        self.each_match(pattern, &mut |path, _| {
            paths.push(path.to_string());
            Ok(())
        })?;
        Ok(paths)
    }

    /// Reads every dataset a wildcard path names, in the order of
    /// [`NexusFile::expand`]: the same values as `read` on each expanded path,
    /// but each one is opened from its already-open parent group during the
    /// one pass over the groups.
    pub fn read_each(&self, pattern: &str) -> NxResult<Vec<Array>> {
        let mut out = Vec::new();
        self.each_match(pattern, &mut |path, found| {
            out.push(match found {
                Found::Dataset(ds) => {
                    read_container(&ds, false, None).map_err(|e| format!("{path}: {e}"))?
                }
                // Not a dataset: the slow path words the reason (group,
                // broken link, ...) exactly as a direct read would.
                _ => self.read(path)?,
            });
            Ok(())
        })?;
        Ok(out)
    }

    /// Walks the groups a wildcard path visits once, depth first in name
    /// order, calling `on(path, object)` for each object the last segment
    /// names, opened from its parent. Fails when nothing matches.
    fn each_match(&self, pattern: &str, on: &mut MatchFn) -> NxResult<()> {
        let segs = pattern
            .split('/')
            .filter(|s| !s.is_empty())
            .map(Segment::parse)
            .collect::<NxResult<Vec<_>>>()?;
        let root: Group = (*self.file).clone();
        let mut found = 0usize;
        let mut count = |path: &str, f: Found| {
            found += 1;
            on(path, f)
        };
        walk(&segs, &root, "", &mut count)?;
        if found == 0 {
            return Err(format!("nothing in the file matches {pattern}"));
        }
        Ok(())
    }

    /// Type and shape of the dataset at `path`.
    pub fn info(&self, path: &str) -> NxResult<DatasetInfo> {
        let ds = self.dataset(path)?;
        Ok(DatasetInfo {
            elem: elem_type(&ds)?,
            shape: ds.shape(),
        })
    }

    /// Reads the whole dataset at `path`.
    pub fn read(&self, path: &str) -> NxResult<Array> {
        let ds = self.dataset(path)?;
        read_container(&ds, false, None).map_err(|e| format!("{}: {e}", Self::norm(path)))
    }

    /// Reads the block `start .. start+count` (one pair per dimension) of the
    /// dataset at `path`, so that large arrays can be streamed.
    pub fn read_slice(&self, path: &str, start: &[u64], count: &[u64]) -> NxResult<Array> {
        let ds = self.dataset(path)?;
        let shape = ds.shape();
        if start.len() != shape.len() || count.len() != shape.len() {
            return Err(format!(
                "{}: has {} dimensions, the slice gives {} starts and {} counts",
                Self::norm(path),
                shape.len(),
                start.len(),
                count.len()
            ));
        }
        for (d, ((s, c), n)) in start.iter().zip(count).zip(&shape).enumerate() {
            if s.saturating_add(*c) > *n as u64 {
                return Err(format!(
                    "{}: slice {s}..{} is outside dimension {d} of length {n}",
                    Self::norm(path),
                    s + c
                ));
            }
        }
        read_container(&ds, false, Some((start, count)))
            .map_err(|e| format!("{}: {e}", Self::norm(path)))
    }

    /// Attribute names of the object at `path`.
    pub fn attribute_names(&self, path: &str) -> NxResult<Vec<String>> {
        let mut names = match self.kind(path)? {
            Kind::Group => self.group(path)?.attr_names(),
            Kind::Dataset => self.dataset(path)?.attr_names(),
            Kind::Other => return Err(format!("{} has no attributes", Self::norm(path))),
        }
        .map_err(one_line)?;
        names.sort();
        Ok(names)
    }

    /// Reads attribute `name` of the object at `path`.
    pub fn read_attribute(&self, path: &str, name: &str) -> NxResult<Array> {
        let attr = match self.kind(path)? {
            Kind::Group => self.group(path)?.attr(name),
            Kind::Dataset => self.dataset(path)?.attr(name),
            Kind::Other => return Err(format!("{} has no attributes", Self::norm(path))),
        }
        .map_err(|_| format!("{} has no attribute `{name}`", Self::norm(path)))?;
        read_container(&attr, true, None).map_err(|e| format!("{}@{name}: {e}", Self::norm(path)))
    }

    /// Shape and in-memory element size of the dataset at `path` (or of its
    /// attribute `attr`), for checking a read before doing it: 8 bytes for
    /// numbers, 1 for booleans, the length of a fixed-length string, `None`
    /// for variable-length strings (known only once read).
    pub fn sizing(&self, path: &str, attr: Option<&str>) -> NxResult<(Vec<usize>, Option<usize>)> {
        let c: Container = match attr {
            None => (*self.dataset(path)?).clone(),
            Some(name) => match self.kind(path)? {
                Kind::Group => (*self.group(path)?.attr(name).map_err(one_line)?).clone(),
                Kind::Dataset => (*self.dataset(path)?.attr(name).map_err(one_line)?).clone(),
                Kind::Other => return Err(format!("{} has no attributes", Self::norm(path))),
            },
        };
        let size = match c.dtype().map_err(one_line)?.to_descriptor() {
            Ok(TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n)) => Some(n),
            Ok(TypeDescriptor::VarLenAscii | TypeDescriptor::VarLenUnicode) => None,
            Ok(TypeDescriptor::Boolean) => Some(1),
            _ => Some(8),
        };
        Ok((c.shape(), size))
    }

    /// The `units` attribute of the dataset at `path`, if it has one.
    pub fn units(&self, path: &str) -> Option<String> {
        let ds = self.dataset(path).ok()?;
        let attr = ds.attr("units").ok()?;
        match read_container(&attr, true, None).ok()?.data {
            Data::Strings(v) => v.into_iter().next(),
            _ => None,
        }
    }
}

/// Opens `path` read-only. Each object's metadata leaves HDF5's cache when
/// the object is closed: a wildcard over 10,000 groups otherwise fills the
/// cache with every group's headers (each lookup then slower, and closing the
/// file a third of the walk's time), while nothing is read twice in a walk.
/// HDF5 refuses that setting for a file this process already has open
/// without it (a writer in the same process): then the file opens as before,
/// and any failure is worded by that plain open.
fn open_read_only(path: &Path) -> hdf5::Result<File> {
    File::with_options()
        .with_fapl(|p| p.evict_on_close(true))
        .open(path)
        .or_else(|_| File::open(path))
}

/// What [`NexusFile::each_match`] calls for each match: its path and the
/// object, opened from its parent.
type MatchFn<'a> = dyn FnMut(&str, Found) -> NxResult<()> + 'a;

/// A child opened once, by name, from its parent group: one lookup and one
/// object-header read tell both what it is and give the open object.
enum Found {
    Group(Group),
    Dataset(Dataset),
    /// Anything else, or a link that leads nowhere.
    Other,
}

/// Opens child `name` of `group`; `None` when it is missing or a link that
/// leads nowhere (HDF5's error stack is silenced, the failure is the answer).
fn open_child(group: &Group, name: &str) -> Option<Found> {
    let cname = std::ffi::CString::new(name).ok()?;
    hdf5::sync::sync(|| {
        // SAFETY: `group` is an open group and `cname` a NUL-terminated name;
        // the HDF5 lock is held (`sync`).
        let id = unsafe { hdf5_sys::h5o::H5Oopen(group.id(), cname.as_ptr(), H5P_DEFAULT) };
        found(id)
    })
}

/// Opens the object a hard link of `group` points at, by its address: no
/// second lookup of the name in a group of thousands of links.
fn open_token(group: &Group, token: H5O_token_t) -> Option<Found> {
    hdf5::sync::sync(|| {
        // SAFETY: `group` is an open group and `token` came from one of its
        // hard links; the HDF5 lock is held (`sync`).
        let id = unsafe { hdf5_sys::h5o::H5Oopen_by_token(group.id(), token) };
        found(id)
    })
}

/// Wraps a handle from H5Oopen*, `None` for a failed open. The caller holds
/// the HDF5 lock.
fn found(id: hid_t) -> Option<Found> {
    if id < 0 {
        return None;
    }
    // SAFETY: `id` is a new object handle, owned by what wraps it.
    Some(match unsafe { hdf5_sys::h5i::H5Iget_type(id) } {
        hdf5_sys::h5i::H5I_type_t::H5I_GROUP => {
            unsafe { hdf5::from_id::<Group>(id) }.map_or(Found::Other, Found::Group)
        }
        hdf5_sys::h5i::H5I_type_t::H5I_DATASET => {
            unsafe { hdf5::from_id::<Dataset>(id) }.map_or(Found::Other, Found::Dataset)
        }
        _ => {
            // SAFETY: `id` came from H5Oopen* and nothing else owns it.
            unsafe { hdf5_sys::h5o::H5Oclose(id) };
            Found::Other
        }
    })
}

/// A link of a group: its name and, for a hard link whose name is valid
/// UTF-8, the address of its object (anything else is opened by name, as
/// before, so soft and external links resolve, and a name the lossy
/// conversion changed fails to open exactly as it did).
type Link = (String, Option<H5O_token_t>);

/// The links of `group` in name order, from one iteration over its link
/// storage.
fn links(group: &Group) -> NxResult<Vec<Link>> {
    extern "C" fn collect(
        _group: hid_t,
        name: *const c_char,
        info: *const H5L_info2_t,
        data: *mut c_void,
    ) -> herr_t {
        // SAFETY: `data` is the `Vec<Link>` handed to H5Literate2 below, which
        // outlives the call; HDF5 passes a NUL-terminated name and the link's
        // info, both valid during the callback, and never calls concurrently.
        let (out, name, info) =
            unsafe { (&mut *data.cast::<Vec<Link>>(), CStr::from_ptr(name), &*info) };
        let (name, exact) = match name.to_str() {
            Ok(s) => (s.to_string(), true),
            Err(_) => (name.to_string_lossy().into_owned(), false),
        };
        let mut u = info.u;
        // SAFETY: a hard link's info holds a token in the union.
        let token =
            (exact && info.type_ == H5L_type_t::H5L_TYPE_HARD).then(|| unsafe { *u.token() });
        out.push((name, token));
        0
    }
    let mut out: Vec<Link> = Vec::new();
    let rc = hdf5::sync::sync(|| {
        // SAFETY: `group` is an open group, `collect` matches H5L_iterate2_t
        // and `out` lives across the call; the HDF5 lock is held.
        unsafe {
            H5Literate2(
                group.id(),
                H5_index_t::H5_INDEX_NAME,
                H5_iter_order_t::H5_ITER_NATIVE,
                std::ptr::null_mut(),
                Some(collect),
                (&mut out as *mut Vec<Link>).cast(),
            )
        }
    });
    if rc < 0 {
        // The reason worded as before, from the hdf5 crate's own iteration.
        return Err(group
            .member_names()
            .map_or_else(one_line, |_| "cannot list the group".into()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// One segment of a path pattern.
enum Segment {
    Literal(String),
    Any,
    Pattern(regex::Regex),
}

impl Segment {
    fn parse(seg: &str) -> NxResult<Segment> {
        Ok(if seg == "*" {
            Segment::Any
        } else if seg.contains('*') {
            Segment::Pattern(regex::Regex::new(seg).map_err(|e| {
                format!(
                    "path segment `{seg}` is not a valid pattern: {}",
                    one_line(e)
                )
            })?)
        } else {
            Segment::Literal(seg.to_string())
        })
    }
}

fn kind_of(t: hdf5::Result<LocationType>) -> Kind {
    match t {
        Ok(LocationType::Group) => Kind::Group,
        Ok(LocationType::Dataset) => Kind::Dataset,
        _ => Kind::Other,
    }
}

/// The matches of `segs` below `group` (at `base`). Each child is opened
/// once, by name, from its open parent (never walked to from the root), and a
/// group is closed once its subtree is done, so the cost per visited group
/// does not grow with the file.
fn walk(segs: &[Segment], group: &Group, base: &str, on: &mut MatchFn) -> NxResult<()> {
    let Some((seg, rest)) = segs.split_first() else {
        return Ok(());
    };
    let mut visit = |name: &str, found: Found| -> NxResult<()> {
        let path = format!("{base}/{name}");
        match found {
            _ if rest.is_empty() => on(&path, found),
            Found::Group(child) => walk(rest, &child, &path, on),
            _ => Ok(()),
        }
    };
    match seg {
        // A missing object or a broken link is no match, not an error.
        Segment::Literal(name) => {
            if let Some(found) = open_child(group, name) {
                visit(name, found)?;
            }
        }
        Segment::Any | Segment::Pattern(_) => {
            for (name, token) in links(group)? {
                if let Segment::Pattern(re) = seg
                    && !re.is_match(&name)
                {
                    continue;
                }
                let child = match token {
                    Some(t) => open_token(group, t),
                    None => open_child(group, &name),
                };
                visit(&name, child.unwrap_or(Found::Other))?;
            }
        }
    }
    Ok(())
}

fn elem_type(c: &Container) -> NxResult<ElemType> {
    let d = c.dtype().map_err(one_line)?;
    let desc = d.to_descriptor();
    Ok(match desc {
        Ok(TypeDescriptor::Integer(_)) | Ok(TypeDescriptor::Unsigned(_)) => ElemType::Integer,
        Ok(TypeDescriptor::Float(_)) => ElemType::Float,
        Ok(TypeDescriptor::Boolean) => ElemType::Bool,
        Ok(
            TypeDescriptor::FixedAscii(_)
            | TypeDescriptor::FixedUnicode(_)
            | TypeDescriptor::VarLenAscii
            | TypeDescriptor::VarLenUnicode,
        ) => ElemType::String,
        Ok(other) => ElemType::Other(format!("{other}")),
        Err(_) => ElemType::Other("unsupported".into()),
    })
}

/// Owns a dataspace id and closes it.
struct Space(hid_t);
impl Drop for Space {
    fn drop(&mut self) {
        // SAFETY: the id is a dataspace this wrapper owns alone (made by
        // H5Screate_simple, H5Scopy or H5[AD]get_space), closed once here.
        unsafe {
            H5Sclose(self.0);
        }
    }
}

fn space_of(c: &Container, attr: bool) -> NxResult<Space> {
    // SAFETY: `c` is an open dataset or attribute; the returned id (checked
    // below) is owned by the `Space`.
    let id = unsafe {
        if attr {
            hdf5_sys::h5a::H5Aget_space(c.id())
        } else {
            hdf5_sys::h5d::H5Dget_space(c.id())
        }
    };
    if id < 0 {
        return Err("cannot read the dataspace".into());
    }
    Ok(Space(id))
}

/// One raw read of `n` elements of type `mem_type` into `buf`.
fn raw_read(
    c: &Container,
    attr: bool,
    mem_type: hid_t,
    sel: Option<(&Space, &Space)>,
    buf: *mut c_void,
) -> NxResult<()> {
    // SAFETY: the caller sized `buf` for the selection's element count in
    // `mem_type`, and holds the HDF5 lock (`read_container`).
    let rc = unsafe {
        if attr {
            hdf5_sys::h5a::H5Aread(c.id(), mem_type, buf)
        } else {
            let (m, f) = sel.map_or(
                (hdf5_sys::h5s::H5S_ALL, hdf5_sys::h5s::H5S_ALL),
                |(m, f)| (m.0, f.0),
            );
            hdf5_sys::h5d::H5Dread(c.id(), mem_type, m, f, H5P_DEFAULT, buf)
        }
    };
    if rc < 0 {
        Err("HDF5 could not read the values (unsupported type or corrupt data)".into())
    } else {
        Ok(())
    }
}

/// Reads a dataset (whole or a hyperslab) or an attribute as typed values.
fn read_container(c: &Container, attr: bool, slice: Option<(&[u64], &[u64])>) -> NxResult<Array> {
    hdf5::sync::sync(|| read_container_locked(c, attr, slice))
}

fn read_container_locked(
    c: &Container,
    attr: bool,
    slice: Option<(&[u64], &[u64])>,
) -> NxResult<Array> {
    let dtype = c.dtype().map_err(one_line)?;
    let desc = dtype
        .to_descriptor()
        .map_err(|_| "unsupported HDF5 data type".to_string())?;
    let full_shape = c.shape();
    // Selection: a memory space of the slice shape and a file space with the
    // hyperslab selected.
    let (shape, spaces) = match slice {
        None => (full_shape, None),
        Some((start, count)) => {
            let fspace = space_of(c, false)?;
            let st: Vec<hsize_t> = start.to_vec();
            let ct: Vec<hsize_t> = count.to_vec();
            // SAFETY: `fspace` is a dataspace we own; `st` and `ct` have one
            // entry per dimension (checked against the rank above).
            let rc = unsafe {
                H5Sselect_hyperslab(
                    fspace.0,
                    H5S_seloper_t::H5S_SELECT_SET,
                    st.as_ptr(),
                    std::ptr::null(),
                    ct.as_ptr(),
                    std::ptr::null(),
                )
            };
            if rc < 0 {
                return Err("invalid slice".into());
            }
            // SAFETY: `ct` holds `ct.len()` extents; a null max means "same".
            let mspace =
                unsafe { H5Screate_simple(ct.len() as i32, ct.as_ptr(), std::ptr::null()) };
            if mspace < 0 {
                return Err("invalid slice".into());
            }
            (
                count.iter().map(|&c| c as usize).collect(),
                Some((Space(mspace), fspace)),
            )
        }
    };
    // A crafted shape can have more elements than memory has bytes: its
    // product must not wrap into a small buffer HDF5 then overruns.
    let n: usize = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|n| n.checked_mul(16).is_some())
        .ok_or_else(|| format!("its shape {shape:?} has more elements than memory can hold"))?;
    let sel = spaces.as_ref().map(|(m, f)| (m, f));
    let data = if n == 0 {
        match desc {
            TypeDescriptor::Float(_) => Data::Floats(vec![]),
            TypeDescriptor::Boolean => Data::Bools(vec![]),
            TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => Data::Ints(vec![]),
            _ => Data::Strings(vec![]),
        }
    } else {
        match desc {
            TypeDescriptor::Integer(_) => {
                let mut v = vec![0i64; n];
                let t = *hdf5::globals::H5T_NATIVE_INT64;
                raw_read(c, attr, t, sel, v.as_mut_ptr().cast())?;
                Data::Ints(v)
            }
            TypeDescriptor::Unsigned(_) => {
                let mut v = vec![0u64; n];
                let t = *hdf5::globals::H5T_NATIVE_UINT64;
                raw_read(c, attr, t, sel, v.as_mut_ptr().cast())?;
                if v.iter().all(|&x| x <= i64::MAX as u64) {
                    Data::Ints(v.into_iter().map(|x| x as i64).collect())
                } else {
                    Data::Floats(v.into_iter().map(|x| x as f64).collect())
                }
            }
            TypeDescriptor::Float(_) => {
                let mut v = vec![0f64; n];
                let t = *hdf5::globals::H5T_NATIVE_DOUBLE;
                raw_read(c, attr, t, sel, v.as_mut_ptr().cast())?;
                Data::Floats(v)
            }
            TypeDescriptor::Boolean => {
                // Read in the file's own enum type and interpret the bytes.
                // SAFETY: `dtype` is an open datatype for the whole scope.
                let size = unsafe { H5Tget_size(dtype.id()) };
                // SAFETY: as above.
                let big = unsafe { H5Tget_order(dtype.id()) } == H5T_order_t::H5T_ORDER_BE;
                let mut bytes = vec![0u8; n * size];
                raw_read(c, attr, dtype.id(), sel, bytes.as_mut_ptr().cast())?;
                Data::Bools(
                    bytes
                        .chunks(size.max(1))
                        .map(|b| {
                            let lsb = if big { b[b.len() - 1] } else { b[0] };
                            b.iter().any(|&x| x != 0) && (size > 1 || lsb != 0)
                        })
                        .collect(),
                )
            }
            TypeDescriptor::FixedAscii(_)
            | TypeDescriptor::FixedUnicode(_)
            | TypeDescriptor::VarLenAscii
            | TypeDescriptor::VarLenUnicode => {
                Data::Strings(read_strings(c, attr, dtype.id(), n, sel, &spaces)?)
            }
            TypeDescriptor::Enum(e) => {
                return Err(format!(
                    "enumerated type ({} members) is not supported",
                    e.members.len()
                ));
            }
            other => return Err(format!("HDF5 type {other} is not supported")),
        }
    };
    Ok(Array { data, shape })
}

/// Strings in the file's own string type (so fixed/variable length and the
/// ASCII/UTF-8 character sets all read the same way); invalid UTF-8 is
/// replaced, padding is stripped.
fn read_strings(
    c: &Container,
    attr: bool,
    ftype: hid_t,
    n: usize,
    sel: Option<(&Space, &Space)>,
    spaces: &Option<(Space, Space)>,
) -> NxResult<Vec<String>> {
    // SAFETY: `ftype` is the open file datatype of `c`.
    let variable = unsafe { H5Tis_variable_str(ftype) } > 0;
    if variable {
        let mut ptrs: Vec<*mut c_char> = vec![std::ptr::null_mut(); n];
        raw_read(c, attr, ftype, sel, ptrs.as_mut_ptr().cast())?;
        let out = ptrs
            .iter()
            .map(|&p| {
                if p.is_null() {
                    String::new()
                } else {
                    // SAFETY: HDF5 filled `p` with a NUL-terminated string it
                    // allocated; it stays valid until H5Treclaim below.
                    String::from_utf8_lossy(unsafe { CStr::from_ptr(p) }.to_bytes()).into_owned()
                }
            })
            .collect();
        // Give HDF5 back the strings it allocated.
        let reclaim_space = match spaces {
            // SAFETY: `m` is a dataspace we own; the copy is owned by `Space`.
            Some((m, _)) => Space(unsafe { hdf5_sys::h5s::H5Scopy(m.0) }),
            None => space_of(c, attr)?,
        };
        // SAFETY: `ptrs` holds exactly what H5[AD]read put there for this
        // type and space, and is not used after.
        unsafe {
            H5Treclaim(
                ftype,
                reclaim_space.0,
                H5P_DEFAULT,
                ptrs.as_mut_ptr().cast(),
            );
        }
        Ok(out)
    } else {
        // SAFETY: `ftype` is the open file datatype of `c`.
        let size = unsafe { H5Tget_size(ftype) };
        // SAFETY: as above.
        let pad = unsafe { H5Tget_strpad(ftype) };
        let mut bytes = vec![0u8; n * size];
        raw_read(c, attr, ftype, sel, bytes.as_mut_ptr().cast())?;
        Ok(bytes
            .chunks(size.max(1))
            .map(|b| {
                let b = match pad {
                    H5T_str_t::H5T_STR_NULLTERM => {
                        &b[..b.iter().position(|&x| x == 0).unwrap_or(b.len())]
                    }
                    H5T_str_t::H5T_STR_SPACEPAD => {
                        let end = b
                            .iter()
                            .rposition(|&x| x != b' ' && x != 0)
                            .map_or(0, |i| i + 1);
                        &b[..end]
                    }
                    _ => {
                        let end = b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
                        &b[..end]
                    }
                };
                String::from_utf8_lossy(b).into_owned()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdf5::types::VarLenUnicode;

    fn put_str(g: &Group, name: &str, value: &str) {
        let v: VarLenUnicode = value.parse().unwrap();
        g.new_dataset::<VarLenUnicode>()
            .shape(())
            .create(name)
            .unwrap()
            .write_scalar(&v)
            .unwrap();
    }

    /// Entries in the open file's metadata cache.
    fn cached_entries(f: &NexusFile) -> i32 {
        let (mut max, mut clean, mut size, mut n) = (0, 0, 0, 0);
        // SAFETY: an open file id and four out-pointers to live locals.
        let rc = hdf5::sync::sync(|| unsafe {
            hdf5_sys::h5f::H5Fget_mdc_size(f.file.id(), &mut max, &mut clean, &mut size, &mut n)
        });
        assert!(rc >= 0);
        n
    }

    #[test]
    fn a_wildcard_walk_leaves_the_metadata_cache_as_small_as_it_found_it() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("groups.nxs");
        {
            let file = File::create(&p).unwrap();
            let entry = file.create_group("entry").unwrap();
            for i in 0..400 {
                let g = entry.create_group(&format!("user_{i:03}")).unwrap();
                put_str(&g, "name", &format!("user {i}"));
                put_str(&g, "email", &format!("u{i}@example.org"));
            }
        }
        let f = NexusFile::open(&p).unwrap();
        let before = cached_entries(&f);
        let names = f.read_each("/entry/user_*/name").unwrap();
        assert_eq!(names.len(), 400);
        assert_eq!(names[399].data, Data::Strings(vec!["user 399".into()]));
        // Every group's headers would stay cached (over a thousand entries):
        // the walk's cost per group would grow with the file.
        let after = cached_entries(&f);
        assert!(
            after <= before + 20,
            "{before} entries before, {after} after"
        );
        // What left the cache is read again when asked for.
        assert_eq!(
            f.read("/entry/user_007/name").unwrap().data,
            Data::Strings(vec!["user 7".into()])
        );
    }

    /// Datasets of the file open in this process.
    fn open_datasets(f: &NexusFile) -> isize {
        // SAFETY: an open file id.
        hdf5::sync::sync(|| unsafe {
            hdf5_sys::h5f::H5Fget_obj_count(f.file.id(), hdf5_sys::h5f::H5F_OBJ_DATASET)
        })
    }

    #[test]
    fn datasets_read_by_path_stay_open_up_to_the_bound_and_read_the_same() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("many.nxs");
        {
            let file = File::create(&p).unwrap();
            let entry = file.create_group("entry").unwrap();
            for i in 0..OPEN_DATASETS + 44 {
                put_str(&entry, &format!("d{i:03}"), &format!("value {i}"));
            }
        }
        let f = NexusFile::open(&p).unwrap();
        // Kind, value and units of one variable: one dataset kept open.
        assert_eq!(f.kind("/entry/d000").unwrap(), Kind::Dataset);
        let first = f.read("/entry//d000").unwrap();
        assert_eq!(f.read("/entry/d000").unwrap().data, first.data);
        assert_eq!(f.units("/entry/d000"), None);
        assert_eq!(open_datasets(&f), 1);
        // A reader of every path (a plugin, say) cannot pin them all.
        for i in 0..OPEN_DATASETS + 44 {
            assert_eq!(
                f.read(&format!("/entry/d{i:03}")).unwrap().data,
                Data::Strings(vec![format!("value {i}")])
            );
        }
        assert_eq!(open_datasets(&f), OPEN_DATASETS as isize);
        // A group is not taken for a cached dataset, nor the other way.
        assert!(f.read("/entry").unwrap_err().contains("is a group"));
    }

    #[test]
    fn wildcards_follow_soft_links_and_skip_dangling_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("links.nxs");
        {
            let file = File::create(&p).unwrap();
            let entry = file.create_group("entry").unwrap();
            put_str(&entry.create_group("user_a").unwrap(), "name", "A");
            entry.link_soft("/entry/user_a", "user_b").unwrap();
            entry.link_soft("/nowhere", "user_c").unwrap();
            put_str(&entry.create_group("user_d").unwrap(), "name", "D");
            // A soft link as the last segment: read through the link.
            entry.link_soft("/entry/user_d/name", "user_e").unwrap();
        }
        let f = NexusFile::open(&p).unwrap();
        assert_eq!(
            f.expand("/entry/user_*/name").unwrap(),
            [
                "/entry/user_a/name",
                "/entry/user_b/name",
                "/entry/user_d/name"
            ]
        );
        let read: Vec<Data> = f
            .read_each("/entry/user_*[abd]/name")
            .unwrap()
            .into_iter()
            .map(|a| a.data)
            .collect();
        assert_eq!(read, ["A", "A", "D"].map(|s| Data::Strings(vec![s.into()])));
        assert_eq!(
            f.read_each("/entry/user_*[de]").unwrap_err(),
            f.read("/entry/user_d").unwrap_err()
        );
        assert_eq!(
            f.read_each("/entry/user_*e").unwrap()[0].data,
            Data::Strings(vec!["D".into()])
        );
    }
}
