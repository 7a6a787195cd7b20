//! `export` and `import`: a running proxied demo carried in one archive to a second showroomd with another state folder, where it serves its own page; failed imports leave nothing. Ports 17950-17979 (the proxied app's inner ports are 10000 above).

use std::time::Duration;

use crate::harness::{http_get, Options, Showroom};

fn host(port_min: u16, apps: &[&'static str]) -> Showroom {
    Showroom::with(Options {
        port_min: Some(port_min),
        port_max: Some(port_min + 4),
        shipped_apps: apps.to_vec(),
        ..Options::default()
    })
}

/// What a failed import must leave: no demo, no folder, no archive.
fn left_nothing(s: &Showroom) {
    assert_eq!(s.json(&["list"]), serde_json::json!([]));
    assert!(
        s.demo_names_on_disk().is_empty(),
        "{:?}",
        s.demo_names_on_disk()
    );
    let archives = s.state.join("archives");
    let left: Vec<_> = std::fs::read_dir(&archives)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "archives left: {left:?}");
}

#[test]
fn an_exported_running_demo_is_imported_by_another_host_and_serves_its_own_page() {
    let a = host(17950, &["proxied"]);
    a.ok(&["deploy", "proxied", "orig", "--comment", "made on host a"]);
    a.ok(&["start", "orig"]);
    let orig_port = a.port_of("orig");
    let archive = a.dir.path().join("orig.tar");
    let said = a.ok(&["export", "orig", archive.to_str().unwrap()]);
    assert!(said.contains("exported orig"), "{said}");
    assert!(std::fs::metadata(&archive).unwrap().len() > 0);
    // Stopped for the copy, running again after it.
    a.wait_for("orig running again", Duration::from_secs(30), || {
        a.status("orig") == "RUNNING"
    });
    assert!(http_get(orig_port, "/").is_some_and(|(_, b)| b.contains("<h1>orig</h1>")));

    let b = host(17960, &["proxied"]);
    b.ok(&["import", archive.to_str().unwrap(), "copy", "--start"]);
    let copy = b.listed("copy");
    assert_eq!(copy["app"], "proxied");
    assert_eq!(copy["comment"], "made on host a");
    assert_eq!(copy["port"], 17960);
    assert_eq!(b.status("copy"), "RUNNING");
    let page = http_get(17960, "/").map(|(_, body)| body);
    assert!(
        page.as_deref().is_some_and(|p| p.contains("<h1>copy</h1>")),
        "the imported demo serves its own page: {page:?}"
    );
    let start = std::fs::read_to_string(b.state.join("demos/copy/start.sh")).unwrap();
    assert!(
        start.contains(b.state.join("demos/copy").to_str().unwrap())
            && !start.contains(a.state.to_str().unwrap()),
        "start.sh names its own folder on host b: {start}"
    );
    // The original goes on serving on host a.
    assert!(http_get(orig_port, "/").is_some_and(|(_, b)| b.contains("<h1>orig</h1>")));
    // Its name is taken now: a second import under it changes nothing.
    let refused = b.refused(&["import", archive.to_str().unwrap(), "copy"]);
    assert!(refused.contains("exists"), "{refused}");
    assert_eq!(b.json(&["list"]).as_array().unwrap().len(), 1);

    // A host without the app, and a file that is no archive: nothing is left.
    let c = host(17970, &["static"]);
    let refused = c.refused(&["import", archive.to_str().unwrap()]);
    assert!(
        refused.contains("proxied"),
        "names the unknown app: {refused}"
    );
    left_nothing(&c);
    let junk = c.dir.path().join("junk.tar");
    std::fs::write(&junk, b"this is not a tar archive at all\n".repeat(100)).unwrap();
    let refused = c.refused(&["import", junk.to_str().unwrap(), "junk"]);
    assert!(refused.contains("not an archive"), "{refused}");
    left_nothing(&c);
}
