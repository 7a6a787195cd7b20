//! Tests of the front door's renderers: URLs and host names, escaped pages with no params, running demos proxied and the others a 503, TLS with the HTTP redirect.

use super::*;

fn settings(port: u16, tls: Option<u16>) -> Settings {
    Settings {
        domain: "demo.example".into(),
        port,
        tls: tls.map(|port| Tls {
            port,
            cert: "/etc/ssl/front.pem".into(),
            key: "/etc/ssl/front.key".into(),
        }),
        pages: "/var/lib/showroom/frontdoor/www".into(),
    }
}

fn demo(name: &str, status: DemoStatus, comment: &str) -> FrontDemo {
    FrontDemo {
        name: name.into(),
        port: Some(20001),
        status,
        app: "static".into(),
        comment: comment.into(),
        created: 1_764_039_845,
    }
}

#[test]
fn urls_leave_out_default_ports() {
    assert_eq!(
        url_for(&settings(80, None), "app").as_deref(),
        Some("http://app.demo.example/")
    );
    assert_eq!(
        url_for(&settings(8080, None), "app").as_deref(),
        Some("http://app.demo.example:8080/")
    );
    assert_eq!(
        url_for(&settings(80, Some(443)), "app").as_deref(),
        Some("https://app.demo.example/")
    );
    assert_eq!(
        url_for(&settings(8080, Some(8443)), "app").as_deref(),
        Some("https://app.demo.example:8443/")
    );
    assert_eq!(settings(80, None).index_url(), "http://demo.example/");
}

#[test]
fn only_lower_case_single_labels_are_host_names() {
    for ok in ["app", "my-demo", "a_1", "x9"] {
        assert!(url_for(&settings(80, None), ok).is_some(), "{ok}");
    }
    for no in ["App", "a.b", "-a", "a-", &"x".repeat(64)] {
        assert!(url_for(&settings(80, None), no).is_none(), "{no}");
    }
}

#[test]
fn a_comment_is_escaped() {
    let demos = [demo(
        "app",
        DemoStatus::Running,
        "<script>alert('x')</script> & co",
    )];
    let html = render_index(&settings(80, None), &demos);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
}

#[test]
fn no_page_holds_params_or_paths() {
    let info = DemoInfo {
        name: "app".into(),
        app: "static".into(),
        port: Some(20001),
        status: DemoStatus::Stopped,
        comment: "hello".into(),
        created: 0,
        params: vec![("password".into(), "SECRET-VALUE".into())],
        reason: String::new(),
        wanted: Default::default(),
        expires_at: None,
        deploy_ms: None,
        url: None,
        limits: Default::default(),
    };
    let s = settings(80, None);
    let r = render(&s, &[FrontDemo::from(&info)]);
    assert_eq!(r.pages.len(), 3, "index, 404 and app's stopped page");
    for (file, html) in &r.pages {
        for leak in ["SECRET", "password", "/var/lib", "20001"] {
            assert!(!html.contains(leak), "{file} holds {leak}:\n{html}");
        }
        assert!(html.contains("name=\"viewport\""), "{file}");
    }
    let stopped = render_stopped(&s, "app", DemoStatus::Fatal);
    assert!(stopped.contains("app is not running (status <b>FATAL</b>)"));
    assert!(stopped.contains("showroomctl start app"));
}

#[test]
fn running_demos_are_proxied_and_the_others_answer_503() {
    let demos = [
        demo("up", DemoStatus::Running, ""),
        demo("down", DemoStatus::Stopped, ""),
        demo("Odd", DemoStatus::Running, ""),
    ];
    let conf = render_conf(&settings(8080, None), &demos);
    assert!(conf.starts_with("# Generated"));
    assert!(conf.contains("Listen 8080\n"));
    let index_at = conf.find("ServerName demo.example\n").unwrap();
    let up_at = conf.find("ServerName up.demo.example").unwrap();
    assert!(
        index_at < up_at,
        "the index's vhost comes first: Apache's default"
    );
    assert!(conf
        .contains("ProxyPass / http://127.0.0.1:20001/ retry=0 disablereuse=On upgrade=websocket"));
    assert!(conf.contains("X-Forwarded-Proto \"http\""));
    assert!(conf.contains("ServerName down.demo.example"));
    assert!(conf.contains("ErrorDocument 503 /stopped-down.html"));
    assert!(!conf.contains("Odd"), "no host name, no vhost");
    assert!(!conf.contains("SSL"));
}

#[test]
fn with_tls_http_redirects_and_https_serves() {
    let conf = render_conf(
        &settings(80, Some(443)),
        &[demo("up", DemoStatus::Running, "")],
    );
    assert!(conf.contains("Listen 80\nListen 443\n"));
    assert!(conf.contains("https://%{SERVER_NAME}%{REQUEST_URI} [R=301,L]"));
    assert!(conf.contains("<VirtualHost *:443>\n    ServerName up.demo.example\n    SSLEngine on"));
    assert!(conf.contains("X-Forwarded-Proto \"https\""));
    assert_eq!(
        conf.matches("<VirtualHost *:80>").count(),
        1,
        "only the redirect"
    );
    let conf = render_conf(&settings(8080, Some(8443)), &[]);
    assert!(conf.contains("https://%{SERVER_NAME}:8443%{REQUEST_URI}"));
}
