//! Compiles every `intents/*.toml` into the binary, so one file runs anywhere.
use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=intents");
    let mut files: Vec<_> = fs::read_dir("intents")
        .expect("the intents/ directory is missing")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = String::from("/// The shipped catalog: (file name, TOML text).\npub static SHIPPED: &[(&str, &str)] = &[\n");
    for p in &files {
        println!("cargo:rerun-if-changed={}", p.display());
        let abs = fs::canonicalize(p).expect("readable intents file");
        let name = p.file_name().unwrap().to_string_lossy();
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            abs.display().to_string()
        ));
    }
    out.push_str("];\n");
    fs::write(
        Path::new(&env::var("OUT_DIR").unwrap()).join("shipped_catalog.rs"),
        out,
    )
    .unwrap();
}
