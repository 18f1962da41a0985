//! Photos from folders for `wiseft sweep` (native): `DIR/<label>/*.png|jpg|…` gives each photo its
//! label by its folder's name, as a folder upload does on the page; `DIR/<name>/<label>/*` also
//! puts it in the named set `<name>` (one task of several, with its own accuracy curve, as the
//! page's folders and samples laid out so); photos directly in `DIR` have no label. And the α grid
//! of `--alphas`.

use std::path::{Path, PathBuf};

use super::sweep_data::SweepSet;
use crate::error::{Error, Result};
use crate::merge::Alpha;

/// A photo file of a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPhoto {
    pub path: PathBuf,
    /// The file name (the page names a photo so too).
    pub name: String,
    /// Index into the labels, from the folder's name; `None` directly in the set's folder.
    pub label: Option<usize>,
    pub set: SweepSet,
    /// The named set, from `DIR/<name>/<label>/`.
    pub group: Option<String>,
}

const PHOTO_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "gif", "bmp", "webp", "jfif"];

fn is_photo(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| PHOTO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Lower case, `_` and `-` as spaces, one space, no leading article: how the page matches a folder
/// name to a label (www/truth.js).
fn norm(text: &str) -> String {
    let t = text.to_lowercase().replace(['_', '-'], " ");
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    for article in ["a ", "an ", "the "] {
        if let Some(rest) = t.strip_prefix(article) {
            return rest.to_string();
        }
    }
    t
}

/// The label a folder name stands for.
pub fn match_label(folder: &str, labels: &[String]) -> Option<usize> {
    let f = norm(folder);
    labels.iter().position(|l| norm(l) == f)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut list: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    list.sort();
    Ok(list)
}

fn sub_folders(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()).collect())
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The label folders' names of a set's directory (label candidates when none are given): its
/// folders, and for a folder that holds folders (a named set, `DIR/<name>/<label>/`) those.
pub fn folder_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for folder in sub_folders(dir)? {
        let inner = sub_folders(&folder)?;
        if inner.is_empty() {
            names.push(file_name(&folder));
        } else {
            names.extend(inner.iter().map(|p| file_name(p)));
        }
    }
    Ok(names)
}

/// The photos of one set, sorted by folder then file name. A folder named as a label holds that
/// label's photos; one that is none of the labels but holds folders is a named set whose folders
/// are labels; any other folder is an error naming it (the page asks the person to add it to the
/// labels). `set` = unlabeled ignores the folders' names (and named sets: their photos have no
/// label to count).
pub fn read_set(dir: &Path, set: SweepSet, labels: &[String]) -> Result<Vec<FolderPhoto>> {
    if !dir.is_dir() {
        return Err(Error::Invalid(format!("{}: not a folder", dir.display())));
    }
    let mut photos = Vec::new();
    let mut add = |path: PathBuf, label: Option<usize>, group: Option<&str>| {
        let name = file_name(&path);
        photos.push(FolderPhoto { path, name, label, set, group: group.map(str::to_string) });
    };
    let photos_in = |folder: &Path| -> Result<Vec<PathBuf>> { Ok(sorted_entries(folder)?.into_iter().filter(|p| p.is_file() && is_photo(p)).collect()) };
    let none_of_the_labels = |at: &Path, folder: &str| {
        Error::Invalid(format!("{}: folder `{folder}` is none of the labels ({})", at.display(), labels.join(", ")))
    };
    for entry in sorted_entries(dir)? {
        if entry.is_dir() {
            let folder = file_name(&entry);
            if set == SweepSet::Unlabeled {
                for file in photos_in(&entry)? {
                    add(file, None, None);
                }
                continue;
            }
            if let Some(label) = match_label(&folder, labels) {
                for file in photos_in(&entry)? {
                    add(file, Some(label), None);
                }
                continue;
            }
            let inner = sub_folders(&entry)?;
            if inner.is_empty() {
                return Err(none_of_the_labels(dir, &folder));
            }
            // A named set: its photos are in label folders; a photo directly in it has no label
            // the set could count, so it is refused rather than silently dropped.
            if let Some(loose) = photos_in(&entry)?.first() {
                return Err(Error::Invalid(format!(
                    "{}: named set `{folder}` holds photo `{}` outside its label folders (lay it out {folder}/<label>/{})",
                    dir.display(),
                    file_name(loose),
                    file_name(loose)
                )));
            }
            for sub in inner {
                let name = file_name(&sub);
                let label = match_label(&name, labels).ok_or_else(|| none_of_the_labels(&entry, &name))?;
                for file in photos_in(&sub)? {
                    add(file, Some(label), Some(&folder));
                }
            }
        } else if is_photo(&entry) {
            add(entry, None, None);
        }
    }
    if photos.is_empty() {
        return Err(Error::Invalid(format!("{}: no photos (PNG, JPEG, GIF, BMP, WebP) in it or in its label folders", dir.display())));
    }
    Ok(photos)
}

/// `--alphas`: `start:end:step` (0:1:0.05 → 21 values, each computed as start + k·step and
/// rounded to 12 decimals so that 0.05·k lands on the page's k/20) or a comma-separated list.
pub fn parse_alphas(spec: &str) -> Result<Vec<Alpha>> {
    let bad = |m: &str| Error::Invalid(format!("--alphas {spec}: {m}"));
    let num = |s: &str| s.trim().parse::<f64>().map_err(|_| bad(&format!("`{s}` is not a number")));
    let values: Vec<f64> = if spec.contains(':') {
        let parts: Vec<&str> = spec.split(':').collect();
        let [start, end, step] = parts[..] else { return Err(bad("want start:end:step")) };
        let (start, end, step) = (num(start)?, num(end)?, num(step)?);
        if !(step > 0.0) || end < start {
            return Err(bad("want a positive step and end ≥ start"));
        }
        let n = ((end - start) / step + 1e-9).floor() as usize;
        (0..=n).map(|k| ((start + k as f64 * step) * 1e12).round() / 1e12).collect()
    } else {
        spec.split(',').map(num).collect::<Result<_>>()?
    };
    if values.is_empty() {
        return Err(bad("no values"));
    }
    values.into_iter().map(|v| Alpha::new(v).map_err(|e| bad(&e.to_string()))).collect()
}
