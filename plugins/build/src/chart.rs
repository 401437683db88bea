//! Packages a Helm chart directory into the `.tgz` an engine embeds (what `helm package`
//! makes: a gzipped tar with the chart under one directory), at build time, so the embedded
//! chart is never stale. No dependencies: ustar headers, and gzip made of stored
//! (uncompressed) deflate blocks, which every gzip reader accepts. In an engine's `build.rs`:
//!
//! ```ignore
//! fn main() {
//!     storeplane_wasm_build::chart::package_chart_for_build("chart", "my-engine");
//! }
//! ```
//! and in the engine: `include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz"))`.

use std::path::Path;

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn tar_entry(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    header[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    header[136..147].copy_from_slice(b"00000000000");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(0).to_le_bytes());
    out
}

fn add_dir(tar: &mut Vec<u8>, dir: &Path, prefix: &str) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let inner = format!("{prefix}/{name}");
        if path.is_dir() {
            add_dir(tar, &path, &inner);
        } else {
            let data =
                std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            tar_entry(tar, &inner, &data);
        }
    }
}

/// The chart in directory `dir` as a `.tgz` whose entries sit under `name/`.
pub fn package_chart(dir: &Path, name: &str) -> Vec<u8> {
    let mut tar = Vec::new();
    add_dir(&mut tar, dir, name);
    tar.extend_from_slice(&[0u8; 1024]);
    gzip_stored(&tar)
}

/// For a build script: packages `dir` (relative to the crate) as chart `name` into
/// `$OUT_DIR/chart.tgz`, rebuilt whenever a file under `dir` changes.
pub fn package_chart_for_build(dir: &str, name: &str) {
    println!("cargo:rerun-if-changed={dir}");
    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    std::fs::write(
        Path::new(&out).join("chart.tgz"),
        package_chart(Path::new(dir), name),
    )
    .unwrap_or_else(|err| panic!("writing chart.tgz: {err}"));
}
