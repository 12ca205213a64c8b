//! The `CURRENT` view (docs/format/manifest.md#current): the file's exact content, and the
//! manifest it names with whether that manifest exists beside it.
//!
//! The content pattern is `cairn_base::filename::parse_current`'s (`MANIFEST-NNNNNN` and a
//! newline); anything else is corruption, reported with the same words `read_current` uses. The
//! read is bounded by `cairn_manifest::MAX_CURRENT_BYTES`, so a hostile file costs nothing.

use std::path::Path;

use cairn::{Error, RealFs, Vfs};
use cairn_base::filename::{manifest_path, parse_current};
use cairn_manifest::MAX_CURRENT_BYTES;

use super::View;
use crate::args::DumpArgs;
use crate::commands::CliError;
use crate::output::{JsonObject, hex_encode};

/// Dumps the `CURRENT` file `args.path`.
pub(super) fn dump(view: &mut View<'_>, args: &DumpArgs) -> Result<(), CliError> {
    let file = RealFs.open(&args.path)?;
    let size_bytes = file.size_bytes();
    view.file(&args.path, args.kind, size_bytes)?;
    if size_bytes > MAX_CURRENT_BYTES {
        let what = format!("CURRENT is {size_bytes} bytes, longer than any manifest name");
        return Err(Error::corruption(&args.path, 0, what).into());
    }
    // At most MAX_CURRENT_BYTES, checked above.
    let mut content = vec![0u8; size_bytes as usize];
    file.read_exact_at(&mut content, 0)?;
    let escaped = format!("\"{}\"", content.escape_ascii());
    let Some(file_num) = parse_current(&content) else {
        view.emit(|| format!("content: {escaped}"), || content_json(&content).boolean("valid", false))?;
        let what = "CURRENT does not hold `MANIFEST-NNNNNN` and a newline";
        return Err(Error::corruption(&args.path, 0, what).into());
    };
    let dir = args.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let manifest = manifest_path(dir, file_num);
    let exists = RealFs.exists(&manifest)?;
    let name = format!("MANIFEST-{file_num}");
    view.emit(
        || {
            let state = if exists { "exists" } else { "missing" };
            format!("content: {escaped}\nmanifest: {name} ({state}: {})", manifest.display())
        },
        || {
            let obj = content_json(&content).boolean("valid", true);
            obj.string("manifest", &name).number("manifest_file_num", file_num.0).boolean("manifest_exists", exists)
        },
    )?;
    Ok(())
}

/// `{"type":"current","content":…` with the content as a JSON string, or `content_hex` when it
/// is not UTF-8.
fn content_json(content: &[u8]) -> JsonObject {
    let obj = JsonObject::new().string("type", "current");
    match std::str::from_utf8(content) {
        Ok(text) => obj.string("content", text),
        Err(_) => obj.string("content_hex", &hex_encode(content)),
    }
}
