//! Writing a loose git object without compressing it: a zlib stream of stored blocks (RFC 1950/1951), which git
//! reads as any other. For large blobs of a checkpoint, where compressing would cost more than the step is worth.

use std::io::Write;
use std::path::Path;

use git2::Oid;

/// zlib's largest stored block.
const BLOCK: usize = 65_535;

/// The running Adler-32 checksum zlib ends a stream with.
struct Adler {
    a: u64,
    b: u64,
}

impl Default for Adler {
    fn default() -> Self {
        Adler { a: 1, b: 0 }
    }
}

impl Adler {
    fn update(&mut self, data: &[u8]) {
        let (mut a, mut b) = (self.a, self.b);
        // At most 5552 bytes between reductions keeps the sums from overflowing (zlib's NMAX, with room to spare in
        // 64 bits); four bytes a round lets the compiler keep them in registers.
        for chunk in data.chunks(5552) {
            let mut quads = chunk.chunks_exact(4);
            for q in &mut quads {
                let (x0, x1, x2, x3) = (u64::from(q[0]), u64::from(q[1]), u64::from(q[2]), u64::from(q[3]));
                b += 4 * a + 4 * x0 + 3 * x1 + 2 * x2 + x3;
                a += x0 + x1 + x2 + x3;
            }
            for &byte in quads.remainder() {
                a += u64::from(byte);
                b += a;
            }
            a %= 65_521;
            b %= 65_521;
        }
        (self.a, self.b) = (a, b);
    }

    fn value(&self) -> u32 {
        ((self.b << 16) | self.a) as u32
    }
}

/// Writes `parts` (one after the other) as a zlib stream of stored (uncompressed) blocks.
fn write_stored_stream(out: &mut impl Write, parts: &[&[u8]]) -> std::io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    out.write_all(&[0x78, 0x01])?;
    let mut adler = Adler::default();
    let mut left = total;
    let (mut part, mut at) = (0, 0);
    loop {
        let len = left.min(BLOCK);
        left -= len;
        out.write_all(&[u8::from(left == 0)])?;
        out.write_all(&(len as u16).to_le_bytes())?;
        out.write_all(&(!(len as u16)).to_le_bytes())?;
        let mut need = len;
        while need > 0 {
            let piece = &parts[part][at..];
            let take = piece.len().min(need);
            out.write_all(&piece[..take])?;
            adler.update(&piece[..take]);
            need -= take;
            at += take;
            if at == parts[part].len() {
                part += 1;
                at = 0;
            }
        }
        if left == 0 {
            break;
        }
    }
    out.write_all(&adler.value().to_be_bytes())
}

/// Writes blob `content` (whose id is `id`) into the object folder `objects`: into a temporary file, then moved into
/// place (a reader never sees half an object), read-only as git makes them.
pub fn write_stored(objects: &Path, id: Oid, content: &[u8]) -> std::io::Result<()> {
    let hex = id.to_string();
    let dir = objects.join(&hex[..2]);
    std::fs::create_dir_all(&dir)?;
    let header = format!("blob {}\0", content.len()).into_bytes();
    let temp = dir.join(format!("tmp_obj_openhands_{}", std::process::id()));
    let mut file = std::io::BufWriter::with_capacity(256 * 1024, std::fs::File::create(&temp)?);
    write_stored_stream(&mut file, &[&header, content])?;
    file.into_inner().map_err(|e| e.into_error())?;
    crate::platform::set_mode(&temp, 0o444)?;
    std::fs::rename(&temp, dir.join(&hex[2..]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn git_reads_a_stored_object_as_written() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(tmp.path()).unwrap();
        for content in [Vec::new(), b"hello\n".to_vec(), (0..200_000u32).map(|i| (i % 251) as u8).collect()] {
            let id = git2::Oid::hash_object(git2::ObjectType::Blob, &content).unwrap();
            super::write_stored(&repo.path().join("objects"), id, &content).unwrap();
            let blob = repo.find_blob(id).unwrap();
            assert_eq!(blob.content(), &content[..]);
            let out = std::process::Command::new("git")
                .args(["cat-file", "blob", &id.to_string()])
                .current_dir(tmp.path())
                .output()
                .unwrap();
            assert!(out.status.success() && out.stdout == content, "git reads it too");
        }
    }
}
