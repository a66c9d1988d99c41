//! Artifacts end to end through the core library: bundle, read back with
//! other zip implementations, verify, extract, and refuse hostile zips.

use liveship_core::artifact::{
    bundle, extract_verified, verify_artifact, ArtifactError, BundleRequest, STREAM_THRESHOLD,
};
use liveship_core::keys::SigningKey;
use liveship_core::manifest::{ManifestDocument, Trust, Verifier};
use liveship_core::progress::NoProgress;
use liveship_tests::{mixed_build, noise, write};
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

struct Bundled {
    _dir: tempfile::TempDir,
    root: PathBuf,
    key: SigningKey,
    zip: PathBuf,
    outer: PathBuf,
}

fn bundled(large_len: usize) -> Bundled {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    mixed_build(&root.join("www"), large_len);
    let key = SigningKey::generate().unwrap();
    let zip = root.join("out/app.zip");
    let outer = root.join("out/app.manifest.json");
    fs::create_dir_all(root.join("out")).unwrap();
    bundle(
        &BundleRequest {
            build_dir: &root.join("www"),
            zip_path: &zip,
            manifest_path: &outer,
            app_id: Some("com.example".parse().unwrap()),
            version: Some("1.0.0".parse().unwrap()),
            key: &key,
        },
        &NoProgress,
    )
    .unwrap();
    Bundled {
        _dir: dir,
        root,
        key,
        zip,
        outer,
    }
}

fn verifier(key: &SigningKey) -> Verifier {
    Verifier::new([key.public_key().clone()])
}

#[test]
fn large_and_small_files_round_trip_and_other_readers_agree() {
    let b = bundled(STREAM_THRESHOLD as usize + 123_457);
    let outer = ManifestDocument::from_slice(&fs::read(&b.outer).unwrap()).unwrap();
    let check =
        verify_artifact(&b.zip, Some(&verifier(&b.key)), Some(&outer), &NoProgress).unwrap();
    let Trust::Verified(v) = check.trust else {
        panic!("expected a verified manifest")
    };
    assert_eq!(v.files.len(), 322);
    let dest = b.root.join("unpacked");
    assert_eq!(extract_verified(&b.zip, &v, &dest).unwrap(), 322);
    assert_eq!(
        fs::read(dest.join("assets/video/intro.mp4")).unwrap(),
        fs::read(b.root.join("www/assets/video/intro.mp4")).unwrap()
    );

    // Python's zipfile checks every CRC and reads the streamed entry's patched header.
    let script = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert z.testzip() is None\n\
                  names = z.namelist()\n\
                  assert names[-1] == 'live-update-manifest.json', names[-1]\n\
                  assert names[:-1] == sorted(names[:-1])\n\
                  i = z.getinfo('assets/video/intro.mp4')\n\
                  assert i.date_time == (1980, 1, 1, 0, 0, 0)\n\
                  assert (i.external_attr >> 16) == 0o100644\n\
                  print(len(names))\n";
    let out = liveship_tests::run_ok(
        Command::new("python3").arg("-c").arg(script).arg(&b.zip),
        "python3's zipfile reading the bundle",
    );
    assert_eq!(String::from_utf8_lossy(&out).trim(), "323");
}

#[test]
fn extraction_refuses_escaping_entries_before_writing_anything() {
    let b = bundled(10);
    let doc = ManifestDocument::from_slice(&fs::read(&b.outer).unwrap()).unwrap();
    let v = verifier(&b.key).verify(&doc).unwrap();
    for evil in [
        "../escape.txt",
        "a/../../escape.txt",
        "/abs.txt",
        "a\\..\\escape.txt",
    ] {
        let bad = b.root.join("bad.zip");
        fs::write(&bad, append_entry(&fs::read(&b.zip).unwrap(), evil, b"x")).unwrap();
        let dest = b.root.join("dest");
        let err = extract_verified(&bad, &v, &dest).unwrap_err();
        assert!(
            matches!(err, ArtifactError::UnsafeEntry { .. }),
            "{evil}: {err}"
        );
        assert!(!dest.exists(), "{evil}: nothing created");
        assert!(!b.root.join("escape.txt").exists());
        let err = verify_artifact(&bad, Some(&verifier(&b.key)), None, &NoProgress).unwrap_err();
        assert!(
            matches!(err, ArtifactError::UnsafeEntry { .. }),
            "{evil}: {err}"
        );
    }
}

#[test]
fn symlink_and_duplicate_entries_are_refused() {
    let b = bundled(10);
    let original = fs::read(&b.zip).unwrap();

    let mut w = zip::ZipWriter::new_append(std::io::Cursor::new(original.clone())).unwrap();
    w.add_symlink(
        "js/link.js",
        "/etc/passwd",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    let with_link = w.finish().unwrap().into_inner();
    let p = b.root.join("link.zip");
    fs::write(&p, with_link).unwrap();
    let err = verify_artifact(&p, None, None, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");

    // Rename one entry to another's name in place (same length), in both
    // the local and the central header: two entries, one name.
    let dup = replace_all(&original, b"js/chunk-001.js", b"js/chunk-000.js");
    let p = b.root.join("dup.zip");
    fs::write(&p, dup).unwrap();
    let err = verify_artifact(&p, None, None, &NoProgress).unwrap_err();
    assert!(
        matches!(
            err,
            ArtifactError::DuplicateEntries {
                entries: 323,
                names: 322
            }
        ),
        "{err}"
    );
}

#[test]
fn an_entry_inflating_past_its_manifest_size_is_cut_off() {
    let b = bundled(10);
    let key = &b.key;
    // A zip whose index.html inflates to 64 MiB of zeros while the signed
    // manifest says 31 bytes: reading stops one byte past 31.
    let original = fs::read(&b.zip).unwrap();
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(original)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..src.len() {
        let name = src.by_index(i).unwrap().name().unwrap().into_owned();
        out.start_file(name.clone(), opts).unwrap();
        if name == "index.html" {
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..64 {
                out.write_all(&zeros).unwrap();
            }
        } else {
            std::io::copy(&mut src.by_index(i).unwrap(), &mut out).unwrap();
        }
    }
    let p = b.root.join("bomb.zip");
    fs::write(&p, out.finish().unwrap().into_inner()).unwrap();
    match verify_artifact(&p, Some(&verifier(key)), None, &NoProgress).unwrap_err() {
        ArtifactError::Mismatch(problems) => {
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].path, "index.html");
            assert!(
                problems[0].detail.contains("32 bytes"),
                "{}",
                problems[0].detail
            );
        }
        other => panic!("expected a mismatch, got {other}"),
    }
}

#[test]
fn concurrent_bundles_to_one_path_leave_one_whole_artifact() {
    let b = bundled(10);
    let www = b.root.join("www");
    let key_pem = b.key.to_pem().unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let key = SigningKey::from_pem(&key_pem).unwrap();
                bundle(
                    &BundleRequest {
                        build_dir: &www,
                        zip_path: &b.zip,
                        manifest_path: &b.outer,
                        app_id: Some("com.example".parse().unwrap()),
                        version: Some("1.0.0".parse().unwrap()),
                        key: &key,
                    },
                    &NoProgress,
                )
                .unwrap();
            });
        }
    });
    let outer = ManifestDocument::from_slice(&fs::read(&b.outer).unwrap()).unwrap();
    verify_artifact(&b.zip, Some(&verifier(&b.key)), Some(&outer), &NoProgress).unwrap();
    let names: Vec<_> = fs::read_dir(b.root.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}

#[test]
fn bundling_a_file_that_changes_midway_cannot_produce_a_lying_manifest() {
    // The manifest hashes exactly the bytes that went into the zip (one
    // read), so whatever happens on disk the zip verifies against it.
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    write(&www, "a.bin", &noise(STREAM_THRESHOLD as usize + 1, 5));
    let key = SigningKey::generate().unwrap();
    let zip = dir.path().join("a.zip");
    let outer = dir.path().join("a.manifest.json");
    bundle(
        &BundleRequest {
            build_dir: &www,
            zip_path: &zip,
            manifest_path: &outer,
            app_id: None,
            version: None,
            key: &key,
        },
        &NoProgress,
    )
    .unwrap();
    write(&www, "a.bin", b"changed after bundling");
    let doc = ManifestDocument::from_slice(&fs::read(&outer).unwrap()).unwrap();
    verify_artifact(&zip, Some(&verifier(&key)), Some(&doc), &NoProgress).unwrap();
}

fn append_entry(bytes: &[u8], name: &str, body: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new_append(std::io::Cursor::new(bytes.to_vec())).unwrap();
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(body).unwrap();
    w.finish().unwrap().into_inner()
}

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = haystack.to_vec();
    let mut i = 0;
    let mut n = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            n += 1;
        }
        i += 1;
    }
    assert!(n >= 2, "renamed in local and central headers");
    out
}
