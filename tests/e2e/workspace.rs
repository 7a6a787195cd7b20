//! The workspace's own promises, checked in CI: one `rust-version`, inherited by every member, that no dependency exceeds. clippy's `incompatible_msrv` checks the code's own use of std against it.

use std::path::Path;
use std::process::Command;

fn version(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap()).collect()
}

#[test]
fn every_member_inherits_one_rust_version_no_dependency_exceeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let packages = meta["packages"].as_array().unwrap();
    let msrv = packages
        .iter()
        .filter(|p| members.contains(&p["id"].as_str().unwrap()))
        .map(|p| {
            let manifest = std::fs::read_to_string(p["manifest_path"].as_str().unwrap()).unwrap();
            assert!(
                manifest.contains("rust-version.workspace = true"),
                "{} does not inherit the workspace's rust-version",
                p["name"]
            );
            p["rust_version"].as_str().unwrap().to_owned()
        })
        .reduce(|a, b| {
            assert_eq!(a, b, "members disagree on rust-version");
            a
        })
        .expect("members");
    for p in packages {
        if let Some(v) = p["rust_version"].as_str() {
            assert!(
                version(v) <= version(&msrv),
                "{} {} needs Rust {v}, above the workspace's {msrv}",
                p["name"],
                p["version"]
            );
        }
    }
}
