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
        auth: "/var/lib/showroom/frontdoor/auth".into(),
        contact: Some("Ask Ann <ann@example.org>".into()),
        index: true,
        index_allow: vec![],
        ipv6: false,
        wake_socket: "/var/lib/showroom/frontdoor/run/wake.sock".into(),
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
        expires_at: None,
        access: Access::default(),
        reason: String::new(),
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
        keep: false,
        port2: None,
        access: "open".into(),
        not_served: String::new(),
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
    let mut d = demo("app", DemoStatus::Fatal, "for <ACME>");
    d.expires_at = Some(1_764_039_845);
    let stopped = render_stopped(&s, &d);
    assert!(
        stopped.contains("app is not available right now"),
        "{stopped}"
    );
    assert!(stopped.contains("This demo is broken: it could not start."));
    assert!(stopped.contains("for &lt;ACME&gt;"));
    assert!(stopped.contains("2025-11-25 03:04 UTC"), "{stopped}");
    assert!(stopped.contains("Ask Ann &lt;ann@example.org&gt;"));
    assert!(
        !stopped.contains("showroomctl"),
        "no operator command for visitors"
    );
}

#[test]
fn a_protected_demo_is_off_the_index_and_its_page_says_nothing_of_it() {
    let s = settings(8080, None);
    let mut d = demo("secret", DemoStatus::Stopped, "the ACME pitch");
    d.access.users = vec!["ann".into()];
    let open = demo("public", DemoStatus::Running, "for all");
    let index = render_index(&s, &[d.clone(), open]);
    assert!(
        !index.contains("secret") && !index.contains("ACME"),
        "{index}"
    );
    assert!(index.contains("public"));
    assert!(!render_stopped(&s, &d).contains("ACME"));
    let conf = render_conf(&s, &[d]);
    assert!(
        conf.contains("AuthUserFile \"/var/lib/showroom/frontdoor/auth/secret.htpasswd\""),
        "{conf}"
    );
    assert!(conf.contains("Require valid-user"));
    assert!(conf.contains("Retry-After \"60\""));
}

#[test]
fn a_range_limit_and_forged_headers() {
    let s = settings(8080, None);
    let mut d = demo("lan", DemoStatus::Running, "");
    d.access.allow = vec!["10.0.0.0/8".into(), "127.0.0.2".into()];
    let conf = render_conf(&s, &[d]);
    assert!(conf.contains("Require ip 10.0.0.0/8 127.0.0.2"), "{conf}");
    assert!(!conf.contains("valid-user"));
    for h in [
        "Forwarded",
        "X-Real-IP",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Forwarded-Server",
    ] {
        assert!(
            conf.contains(&format!("RequestHeader unset {h} early\n")),
            "{h}"
        );
    }
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
    assert!(conf.contains("Listen 0.0.0.0:8080\n"));
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
    // A stopped demo is proxied too: its page is mod_proxy's 503, so that
    // a start or a stop changes the pages alone, never the config.
    assert_eq!(
        conf.matches("ProxyPass / http://127.0.0.1:20001/").count(),
        2
    );
    assert!(conf.contains(&format!("ErrorDocument 503 {DOWN_PATH}")));
    assert!(conf.contains(&format!(
        "Alias {DOWN_PATH} \"/var/lib/showroom/frontdoor/www/stopped-down.html\""
    )));
    let stopped_conf = conf.clone();
    let started = [
        demo("up", DemoStatus::Running, ""),
        demo("down", DemoStatus::Running, ""),
        demo("Odd", DemoStatus::Running, ""),
    ];
    assert_eq!(render_conf(&settings(8080, None), &started), stopped_conf);
    assert!(!conf.contains("Odd"), "no host name, no vhost");
    assert!(!conf.contains("SSL"));
}

#[test]
fn with_tls_http_redirects_and_https_serves() {
    let conf = render_conf(
        &settings(80, Some(443)),
        &[demo("up", DemoStatus::Running, "")],
    );
    assert!(conf.contains("Listen 0.0.0.0:80\nListen 0.0.0.0:443\n"));
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

#[test]
fn the_index_says_why_a_demo_is_down() {
    let mut crashed = demo("crash", DemoStatus::Fatal, "");
    crashed.reason = "exited with status 3 after 0 s: <bad>".into();
    let html = render_index(&settings(80, None), &[crashed]);
    assert!(
        html.contains("<p class=\"reason\">exited with status 3 after 0 s: &lt;bad&gt;</p>"),
        "{html}"
    );
}

#[test]
fn a_sleeping_demo_goes_to_the_waker_with_its_name_and_its_rules() {
    let mut nap = demo("nap", DemoStatus::Sleeping, "");
    nap.access.allow = vec!["10.0.0.0/8".into()];
    let conf = render_conf(&settings(8080, None), &[nap]);
    let vhost = &conf[conf.find("ServerName nap.demo.example").unwrap()..];
    assert!(vhost.contains("Require ip 10.0.0.0/8"), "{vhost}");
    assert!(
        vhost.contains("RequestHeader set X-Showroom-Wake \"nap\""),
        "{vhost}"
    );
    assert!(
        vhost.contains(
            "ProxyPass / \"unix:/var/lib/showroom/frontdoor/run/wake.sock|http://localhost/\""
        ),
        "{vhost}"
    );
    assert!(!vhost.contains("127.0.0.1:20001"), "{vhost}");
    assert!(!vhost.contains("stopped-nap"), "{vhost}");
}
