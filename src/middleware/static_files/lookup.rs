//! Finding the file to send: runs on the thread pool (path resolution, `stat` and `open`
//! may wait for the disk), and checks that what is opened lies under the root.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::encoding::Coding;

/// A file up to this size is read whole while it is opened, and leaves in the same write as
/// the response head; a larger one is sent with `sendfile(2)`.
pub(super) const SMALL: u64 = 16 * 1024;

/// What to look for.
#[derive(Debug)]
pub(super) struct Wanted {
    /// Below the root: plain names only.
    pub(super) rel: PathBuf,
    pub(super) trailing_slash: bool,
    /// The index file of a directory, if served.
    pub(super) index: Option<String>,
    /// Codings the client accepts, preferred first (empty: the file itself).
    pub(super) codings: Vec<Coding>,
    /// Whether to look for precompressed variants at all (for `Vary`).
    pub(super) precompressed: bool,
    /// Whether a small file's bytes are wanted (a `GET`).
    pub(super) read_small: bool,
}

/// What was found.
#[derive(Debug)]
pub(super) enum Lookup {
    /// Nothing here (the wrapped app answers).
    Missing,
    /// A symlink (or the index, or a variant) that resolves outside the root: refused.
    Outside,
    /// A directory asked for without its trailing slash: redirect to it.
    AddSlash,
    /// A regular file.
    Found(Found),
}

/// A file opened for sending.
#[derive(Debug)]
pub(super) struct Found {
    pub(super) file: File,
    /// Of what is sent (the variant when there is one).
    pub(super) len: u64,
    pub(super) modified: SystemTime,
    /// The variant's coding, if a precompressed variant is sent.
    pub(super) coding: Option<Coding>,
    /// Whether any variant exists (the response then varies by `Accept-Encoding`).
    pub(super) has_variants: bool,
    /// The file's own path (its extension gives the `Content-Type`).
    pub(super) path: PathBuf,
    /// The whole content, for a small file and `read_small`.
    pub(super) small: Option<Vec<u8>>,
}

/// Looks `w` up under `root` (canonical). Blocking: call it on the thread pool.
pub(super) fn lookup(root: &Path, w: &Wanted) -> io::Result<Lookup> {
    let Some(mut path) = resolve(root, &root.join(&w.rel))? else {
        return Ok(Lookup::Missing);
    };
    if !path.starts_with(root) {
        return Ok(Lookup::Outside);
    }
    if std::fs::metadata(&path)?.is_dir() {
        let Some(index) = &w.index else {
            return Ok(Lookup::Missing);
        };
        if !w.trailing_slash {
            return Ok(Lookup::AddSlash);
        }
        match resolve(root, &path.join(index))? {
            Some(p) if p.starts_with(root) => path = p,
            Some(_) => return Ok(Lookup::Outside),
            None => return Ok(Lookup::Missing),
        }
    }
    let variants = variants(root, &path, w)?;
    let has_variants = !variants.is_empty();
    let chosen = w
        .codings
        .iter()
        .find_map(|c| variants.iter().find(|(v, _)| v == c));
    let (coding, open_path) = match chosen {
        Some((c, p)) => (Some(*c), p.as_path()),
        None => (None, path.as_path()),
    };
    let Some(file) = open_under(root, open_path)? else {
        return Ok(Lookup::Missing);
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Lookup::Missing);
    }
    let small = if w.read_small && meta.len() <= SMALL {
        let mut buf = Vec::with_capacity(meta.len() as usize);
        (&file).take(SMALL).read_to_end(&mut buf)?;
        Some(buf)
    } else {
        None
    };
    Ok(Lookup::Found(Found {
        len: small.as_ref().map_or(meta.len(), |b| b.len() as u64),
        modified: meta.modified()?,
        file,
        coding,
        has_variants,
        path,
        small,
    }))
}

/// The canonical path (symlinks resolved), or `None` when nothing is there.
fn resolve(root: &Path, path: &Path) -> io::Result<Option<PathBuf>> {
    debug_assert!(path.starts_with(root));
    match std::fs::canonicalize(path) {
        Ok(p) => Ok(Some(p)),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(
            e.raw_os_error(),
            Some(libc::ENOTDIR | libc::ENAMETOOLONG | libc::ELOOP)
        )
}

/// The precompressed variants beside `path` that are regular files under the root.
fn variants(root: &Path, path: &Path, w: &Wanted) -> io::Result<Vec<(Coding, PathBuf)>> {
    let mut found = Vec::new();
    if !w.precompressed {
        return Ok(found);
    }
    for c in Coding::ALL {
        let mut name = path.as_os_str().to_owned();
        name.push(c.suffix());
        if let Some(p) = resolve(root, Path::new(&name))? {
            if p.starts_with(root) && std::fs::metadata(&p)?.is_file() {
                found.push((c, p));
            }
        }
    }
    Ok(found)
}

/// Opens `path` for reading, and checks that the file opened is the one under the root
/// that was resolved: a path component swapped for a symlink meanwhile is caught by
/// asking the kernel where the descriptor leads. `O_NONBLOCK`: a FIFO swapped in cannot
/// hang the pool thread (regular files ignore it).
fn open_under(root: &Path, path: &Path) -> io::Result<Option<File>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    match std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        Ok(real) if !real.starts_with(root) => Ok(None),
        // Without /proc the canonical path checked before opening stands.
        _ => Ok(Some(file)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::TempDir;
    use super::*;
    use std::os::unix::fs::symlink;

    fn wanted(rel: &str) -> Wanted {
        Wanted {
            rel: rel.into(),
            trailing_slash: rel.is_empty() || rel.ends_with('/'),
            index: Some("index.html".into()),
            codings: vec![],
            precompressed: true,
            read_small: true,
        }
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let outside = TempDir::new("lookup-outside");
        std::fs::write(outside.0.join("secret"), "s").unwrap();
        let t = TempDir::new("lookup-root");
        let root = t.0.join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("ok.txt"), "ok").unwrap();
        symlink(outside.0.join("secret"), root.join("file-link")).unwrap();
        symlink(&outside.0, root.join("dir-link")).unwrap();
        symlink(root.join("ok.txt"), root.join("inside-link")).unwrap();
        std::fs::write(root.join("ok.txt.gz"), "gz").unwrap();
        symlink(outside.0.join("secret"), root.join("ok.txt.br")).unwrap();

        assert!(matches!(
            lookup(&root, &wanted("file-link")).unwrap(),
            Lookup::Outside
        ));
        assert!(matches!(
            lookup(&root, &wanted("dir-link/secret")).unwrap(),
            Lookup::Outside
        ));
        let Lookup::Found(f) = lookup(&root, &wanted("inside-link")).unwrap() else {
            panic!("a link inside the root is followed");
        };
        assert_eq!(f.small.as_deref(), Some(&b"ok"[..]));
        // The .br variant leads out of the root: never chosen, never counted.
        let mut w = wanted("ok.txt");
        w.codings = vec![Coding::Brotli, Coding::Gzip];
        let Lookup::Found(f) = lookup(&root, &w).unwrap() else {
            panic!()
        };
        assert_eq!(
            (f.coding, f.small.as_deref()),
            (Some(Coding::Gzip), Some(&b"gz"[..]))
        );
    }

    #[test]
    fn directories_and_missing_files() {
        let t = TempDir::new("lookup-dirs");
        std::fs::create_dir(t.0.join("docs")).unwrap();
        std::fs::create_dir(t.0.join("empty")).unwrap();
        std::fs::write(t.0.join("docs/index.html"), "<p>").unwrap();
        std::fs::write(t.0.join("big"), vec![1u8; SMALL as usize + 1]).unwrap();
        assert!(matches!(
            lookup(&t.0, &wanted("docs")).unwrap(),
            Lookup::AddSlash
        ));
        assert!(matches!(
            lookup(&t.0, &wanted("docs/")).unwrap(),
            Lookup::Found(_)
        ));
        assert!(matches!(
            lookup(&t.0, &wanted("empty/")).unwrap(),
            Lookup::Missing
        ));
        assert!(matches!(
            lookup(&t.0, &wanted("nope")).unwrap(),
            Lookup::Missing
        ));
        assert!(matches!(
            lookup(&t.0, &wanted("big/x")).unwrap(),
            Lookup::Missing
        ));
        let Lookup::Found(f) = lookup(&t.0, &wanted("big")).unwrap() else {
            panic!()
        };
        assert_eq!((f.len, f.small.is_none()), (SMALL + 1, true));
    }
}
