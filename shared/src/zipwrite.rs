//! A minimal, deterministic zip writer.
//!
//! Written here rather than taken from a zip crate because a reproducible
//! artifact needs full control of every byte (fixed timestamps and modes, no
//! extra fields beyond zip64) and because entries are compressed in parallel
//! and then written raw, which general-purpose writers do not offer.
//! Reading is left to the `zip` crate, so the two implementations check
//! each other in the tests.

use crate::hash::for_each_chunk;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use std::io::{self, Read, Seek, SeekFrom, Write};

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EXTRA_ID: u16 = 0x0001;
const MAX32: u64 = 0xFFFF_FFFF;
/// Deflate level 6, the default of Info-ZIP `zip` and zlib.
const LEVEL: u32 = 6;
/// General purpose flag bit 11: names are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
/// 1980-01-01 00:00:00, the earliest DOS date: every entry gets it, so the
/// zip does not depend on when or where it was built.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;
/// Regular file, rw-r--r--, in the high 16 bits of the external attributes.
const EXTERNAL_ATTRS: u32 = 0o100_644 << 16;
/// "Made by" Unix (3), spec version 4.5.
const VERSION_MADE_BY: u16 = (3 << 8) | 45;

pub(crate) const METHOD_STORED: u16 = 0;
pub(crate) const METHOD_DEFLATED: u16 = 8;

/// One entry's data, compressed and ready to write.
pub(crate) struct Encoded {
    pub method: u16,
    pub crc: u32,
    pub uncompressed: u64,
    pub data: Vec<u8>,
}

/// Compresses `bytes` with deflate, or keeps them stored when deflate does
/// not make them smaller (images, fonts), as Info-ZIP does.
pub(crate) fn encode(bytes: &[u8]) -> Encoded {
    let crc = crc32fast::hash(bytes);
    let mut enc = DeflateEncoder::new(
        Vec::with_capacity(bytes.len() / 2 + 64),
        Compression::new(LEVEL),
    );
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    let deflated = enc.finish().expect("writing to a Vec cannot fail");
    if deflated.len() < bytes.len() {
        Encoded {
            method: METHOD_DEFLATED,
            crc,
            uncompressed: bytes.len() as u64,
            data: deflated,
        }
    } else {
        Encoded {
            method: METHOD_STORED,
            crc,
            uncompressed: bytes.len() as u64,
            data: bytes.to_vec(),
        }
    }
}

struct CentralEntry {
    name: String,
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
}

/// Writes entries in the order given, then the central directory.
pub(crate) struct ZipWriter<W: Write + Seek> {
    out: W,
    pos: u64,
    entries: Vec<CentralEntry>,
}

impl<W: Write + Seek> ZipWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            pos: 0,
            entries: Vec::new(),
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn local_header(
        name: &str,
        method: u16,
        crc: u32,
        comp: u64,
        uncomp: u64,
        zip64: bool,
    ) -> Vec<u8> {
        let mut h = Vec::with_capacity(30 + name.len() + 20);
        h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        h.extend_from_slice(&(if zip64 { 45u16 } else { 20u16 }).to_le_bytes());
        h.extend_from_slice(&FLAG_UTF8.to_le_bytes());
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&DOS_TIME.to_le_bytes());
        h.extend_from_slice(&DOS_DATE.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        let (c32, u32_) = if zip64 {
            (MAX32 as u32, MAX32 as u32)
        } else {
            (comp as u32, uncomp as u32)
        };
        h.extend_from_slice(&c32.to_le_bytes());
        h.extend_from_slice(&u32_.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(if zip64 { 20u16 } else { 0u16 }).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        if zip64 {
            h.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&uncomp.to_le_bytes());
            h.extend_from_slice(&comp.to_le_bytes());
        }
        h
    }

    /// Adds an entry whose data is already compressed.
    pub fn add_encoded(&mut self, name: &str, enc: &Encoded) -> io::Result<()> {
        check_name(name)?;
        let comp = enc.data.len() as u64;
        let zip64 = comp >= MAX32 || enc.uncompressed >= MAX32;
        let offset = self.pos;
        let header = Self::local_header(name, enc.method, enc.crc, comp, enc.uncompressed, zip64);
        self.put(&header)?;
        self.put(&enc.data)?;
        self.entries.push(CentralEntry {
            name: name.to_owned(),
            method: enc.method,
            crc: enc.crc,
            compressed: comp,
            uncompressed: enc.uncompressed,
            offset,
        });
        Ok(())
    }

    /// Adds an entry by streaming `reader` through deflate straight into the
    /// output, then going back to fill in the header. For large files, so
    /// they are never held in memory. `size_hint` (the size from `stat`)
    /// decides whether the header reserves zip64 fields.
    pub fn add_streamed<R: Read>(
        &mut self,
        name: &str,
        reader: R,
        size_hint: u64,
    ) -> io::Result<()> {
        check_name(name)?;
        // Deflate never grows data by more than a small fraction, so a file
        // this far below 4 GiB cannot need zip64 sizes.
        let zip64 = size_hint >= MAX32 - (MAX32 >> 6);
        let offset = self.pos;
        let header = Self::local_header(name, METHOD_DEFLATED, 0, 0, 0, zip64);
        self.put(&header)?;
        let data_start = self.pos;
        let mut crc = crc32fast::Hasher::new();
        let (uncomp, counted) = {
            let mut enc = DeflateEncoder::new(
                CountingWriter {
                    inner: &mut self.out,
                    count: 0,
                },
                Compression::new(LEVEL),
            );
            let uncomp = for_each_chunk(reader, |chunk| {
                crc.update(chunk);
                enc.write_all(chunk)
            })?;
            (uncomp, enc.finish()?.count)
        };
        self.pos = data_start + counted;
        let crc = crc.finalize();
        if !zip64 && (counted >= MAX32 || uncomp >= MAX32) {
            return Err(io::Error::other(format!(
                "{name} grew past 4 GiB while it was being bundled; bundle a build directory nothing is writing to"
            )));
        }
        let patched = Self::local_header(name, METHOD_DEFLATED, crc, counted, uncomp, zip64);
        self.out.seek(SeekFrom::Start(offset))?;
        self.out.write_all(&patched)?;
        self.out.seek(SeekFrom::Start(self.pos))?;
        self.entries.push(CentralEntry {
            name: name.to_owned(),
            method: METHOD_DEFLATED,
            crc,
            compressed: counted,
            uncompressed: uncomp,
            offset,
        });
        Ok(())
    }

    /// Writes the central directory and end records; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        let cd_start = self.pos;
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            let mut extra = Vec::new();
            let uncomp32 = if e.uncompressed >= MAX32 {
                extra.extend_from_slice(&e.uncompressed.to_le_bytes());
                MAX32 as u32
            } else {
                e.uncompressed as u32
            };
            let comp32 = if e.compressed >= MAX32 {
                extra.extend_from_slice(&e.compressed.to_le_bytes());
                MAX32 as u32
            } else {
                e.compressed as u32
            };
            let offset32 = if e.offset >= MAX32 {
                extra.extend_from_slice(&e.offset.to_le_bytes());
                MAX32 as u32
            } else {
                e.offset as u32
            };
            let zip64 = !extra.is_empty();
            let mut h = Vec::with_capacity(46 + e.name.len() + 28);
            h.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            h.extend_from_slice(&VERSION_MADE_BY.to_le_bytes());
            h.extend_from_slice(&(if zip64 { 45u16 } else { 20u16 }).to_le_bytes());
            h.extend_from_slice(&FLAG_UTF8.to_le_bytes());
            h.extend_from_slice(&e.method.to_le_bytes());
            h.extend_from_slice(&DOS_TIME.to_le_bytes());
            h.extend_from_slice(&DOS_DATE.to_le_bytes());
            h.extend_from_slice(&e.crc.to_le_bytes());
            h.extend_from_slice(&comp32.to_le_bytes());
            h.extend_from_slice(&uncomp32.to_le_bytes());
            h.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            let extra_len = if zip64 { 4 + extra.len() } else { 0 };
            h.extend_from_slice(&(extra_len as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // comment length
            h.extend_from_slice(&0u16.to_le_bytes()); // disk number
            h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            h.extend_from_slice(&EXTERNAL_ATTRS.to_le_bytes());
            h.extend_from_slice(&offset32.to_le_bytes());
            h.extend_from_slice(e.name.as_bytes());
            if zip64 {
                h.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
                h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
                h.extend_from_slice(&extra);
            }
            self.put(&h)?;
        }
        let cd_size = self.pos - cd_start;
        let count = entries.len() as u64;
        let needs64 = count >= 0xFFFF || cd_size >= MAX32 || cd_start >= MAX32;
        if needs64 {
            let z64_start = self.pos;
            let mut r = Vec::with_capacity(76);
            r.extend_from_slice(&ZIP64_EOCD_SIG.to_le_bytes());
            r.extend_from_slice(&44u64.to_le_bytes());
            r.extend_from_slice(&VERSION_MADE_BY.to_le_bytes());
            r.extend_from_slice(&45u16.to_le_bytes());
            r.extend_from_slice(&0u32.to_le_bytes());
            r.extend_from_slice(&0u32.to_le_bytes());
            r.extend_from_slice(&count.to_le_bytes());
            r.extend_from_slice(&count.to_le_bytes());
            r.extend_from_slice(&cd_size.to_le_bytes());
            r.extend_from_slice(&cd_start.to_le_bytes());
            r.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
            r.extend_from_slice(&0u32.to_le_bytes());
            r.extend_from_slice(&z64_start.to_le_bytes());
            r.extend_from_slice(&1u32.to_le_bytes());
            self.put(&r)?;
        }
        let mut r = Vec::with_capacity(22);
        r.extend_from_slice(&EOCD_SIG.to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes());
        let count16 = count.min(0xFFFF) as u16;
        r.extend_from_slice(&count16.to_le_bytes());
        r.extend_from_slice(&count16.to_le_bytes());
        r.extend_from_slice(&(cd_size.min(MAX32) as u32).to_le_bytes());
        r.extend_from_slice(&(cd_start.min(MAX32) as u32).to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes());
        self.put(&r)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn check_name(name: &str) -> io::Result<()> {
    if name.len() > u16::MAX as usize {
        return Err(io::Error::other(format!("zip entry name too long: {name}")));
    }
    Ok(())
}

struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read_back(bytes: Vec<u8>) -> Vec<(String, Vec<u8>, u32)> {
        let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        (0..z.len())
            .map(|i| {
                let mut f = z.by_index(i).unwrap();
                let mut v = Vec::new();
                f.read_to_end(&mut v).unwrap();
                (f.name().unwrap().into_owned(), v, f.unix_mode().unwrap())
            })
            .collect()
    }

    #[test]
    fn encoded_and_streamed_entries_read_back() {
        let text = b"hello hello hello hello hello hello".repeat(100);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        let e = encode(&text);
        assert_eq!(e.method, METHOD_DEFLATED);
        w.add_encoded("a/text.txt", &e).unwrap();
        let n = encode(&noise);
        assert_eq!(n.method, METHOD_STORED, "incompressible data is stored");
        w.add_encoded("noise.bin", &n).unwrap();
        w.add_streamed("big/streamed.txt", &text[..], text.len() as u64)
            .unwrap();
        w.add_encoded("empty", &encode(b"")).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let entries = read_back(bytes);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].0, "a/text.txt");
        assert_eq!(entries[0].1, text);
        assert_eq!(entries[0].2, 0o100644);
        assert_eq!(entries[1].1, noise);
        assert_eq!(entries[2].1, text);
        assert_eq!(entries[3].1, b"");
    }

    #[test]
    fn many_entries_use_zip64_end_records() {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        let e = encode(b"x");
        for i in 0..70_000u32 {
            w.add_encoded(&format!("f{i}"), &e).unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        let z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(z.len(), 70_000);
    }
}
