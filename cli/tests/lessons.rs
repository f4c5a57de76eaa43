//! `kafkalab lessons` and `kafkalab run --control` on the shipped lesson files: every
//! lesson belongs to a module and has a control, the curriculum listing and the
//! README's table agree with the files, and bad names or missing controls are refused.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kafkalab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kafkalab"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("kafkalab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lesson_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("scenarios"))
        .expect("scenarios/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_lesson_has_a_module_a_setting_and_a_control() {
    let files = lesson_files();
    assert!(!files.is_empty());
    for f in &files {
        let s = kafkalab_loadgen::scenario::load(f).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.module.is_some(), "{}: no module", f.display());
        assert!(!s.setting.is_empty(), "{}: no setting", f.display());
        assert!(!s.control.is_empty(), "{}: no [control]", f.display());
        assert!(
            !s.control.about.is_empty(),
            "{}: [control] without about",
            f.display()
        );
        s.with_control()
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            !s.about.is_empty() && !s.watch.is_empty(),
            "{}",
            f.display()
        );
    }
}

#[test]
fn the_listing_names_every_lesson_by_module() {
    let (code, out, err) = kafkalab(&["lessons"]);
    assert_eq!(code, 0, "{err}");
    for f in lesson_files() {
        let s = kafkalab_loadgen::scenario::load(&f).expect("valid");
        assert!(
            out.contains(&format!("  {} — {}", s.name, s.setting)),
            "{} missing:\n{out}",
            s.name
        );
        assert!(out.contains(
            &f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        ));
    }
    assert!(out.contains("Producer\n"), "{out}");
    assert!(!out.contains("outside the curriculum"), "{out}");
}

#[test]
fn the_readme_table_is_the_generated_one() {
    let (code, table, err) = kafkalab(&["lessons", "--markdown"]);
    assert_eq!(code, 0, "{err}");
    let readme = std::fs::read_to_string(repo().join("scenarios/README.md")).expect("README");
    let begin = readme.find("<!-- lessons:begin").expect("begin marker");
    let begin = begin + readme[begin..].find('\n').expect("newline") + 1;
    let end = readme.find("<!-- lessons:end -->").expect("end marker");
    assert_eq!(
        readme[begin..end].trim_end(),
        table.trim_end(),
        "scenarios/README.md's lessons table is stale: run scripts/lessons-table.sh"
    );
}

#[test]
fn unknown_lessons_and_missing_controls_are_refused() {
    let (code, _, err) = kafkalab(&["lessons", "batchin"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no lesson 'batchin'") && err.contains("did you mean 'batching'"),
        "{err}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain.toml");
    std::fs::write(
        &file,
        "duration = \"1s\"\n[[topics]]\nname = \"t\"\n[[producers]]\ntopic = \"t\"\nrate = 1\n",
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();
    let (code, _, err) = kafkalab(&["run", &path, "--control", "--no-tui"]);
    assert_eq!(code, 2);
    assert!(err.contains("no [control] table"), "{err}");
}
