//! Unit tests of the DSN scanner (libpq's two forms), the keyword mapping and masking.

use std::time::Duration;

use tokio_postgres::config::Host;

use super::*;

fn kv(dsn: &str) -> Vec<(String, String)> {
    let s = scan(dsn);
    assert_eq!(s.error, None, "{dsn}");
    s.params.into_iter().map(|p| (p.key, p.value)).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn err(dsn: &str) -> ScanError {
    scan(dsn).error.unwrap_or_else(|| panic!("`{dsn}` scanned"))
}

/// Why a DSN is refused, after the masked DSN the error starts with.
fn refused(dsn: &str) -> String {
    match parse_dsn(dsn) {
        Ok(d) => panic!("`{dsn}` was accepted: {:?}", d.pg),
        Err(e) => {
            let head = format!("invalid DSN `{}`: ", mask_dsn(dsn));
            e.strip_prefix(&head)
                .unwrap_or_else(|| panic!("`{e}` does not start with `{head}`"))
                .to_string()
        }
    }
}

#[test]
fn keyword_form_blanks_around_equals_and_between_pairs() {
    assert_eq!(
        kv("host = db\tport=\n5432  user =mon dbname= app"),
        pairs(&[
            ("host", "db"),
            ("port", "5432"),
            ("user", "mon"),
            ("dbname", "app")
        ])
    );
    // A vertical tab and a form feed are blanks to C's isspace.
    assert_eq!(
        kv("host=a\x0bport=1\x0c"),
        pairs(&[("host", "a"), ("port", "1")])
    );
    // `key= ` at the end is an empty value; the blank after `=` is skipped, even before
    // what looks like the next pair (libpq reads `password= user=x` as that password).
    assert_eq!(kv("host="), pairs(&[("host", "")]));
    assert_eq!(kv("password= user=x"), pairs(&[("password", "user=x")]));
}

#[test]
fn keyword_form_unquoted_values_take_backslash_escapes() {
    assert_eq!(
        kv(r#"user=o\'neil\ x dbname=a\\b password=p\"q"#),
        pairs(&[
            ("user", "o'neil x"),
            ("dbname", r"a\b"),
            ("password", "p\"q")
        ])
    );
    // A quote inside an unquoted value is a character; a trailing backslash is dropped.
    assert_eq!(
        kv(r"user=it's host=h\"),
        pairs(&[("user", "it's"), ("host", "h")])
    );
}

#[test]
fn keyword_form_quoted_values_keep_blanks_and_take_escapes() {
    assert_eq!(
        kv(r"password='hun ter\'2\\' user='' dbname='a=b'"),
        pairs(&[("password", r"hun ter'2\"), ("user", ""), ("dbname", "a=b")])
    );
    // No blank is needed after the closing quote.
    assert_eq!(
        kv("dbname='x'user=u"),
        pairs(&[("dbname", "x"), ("user", "u")])
    );
    let s = scan("host=db password='a b' user=u");
    assert_eq!(s.params[1].span, 17..22, "the span covers the quotes");
}

#[test]
fn keyword_form_errors_name_the_problem_like_libpq() {
    let e = err("host=127.0.0.1 port");
    assert_eq!(e.message, "missing \"=\" after \"port\"");
    assert_eq!((e.at, e.hide_rest), (15, false));
    let e = err("host=db user='mon");
    assert!(e.message.starts_with("unterminated quoted string"), "{e:?}");
    assert_eq!(e.at, 13);
    // A quoted value whose last character is an escaping backslash never ends.
    assert!(err(r"user='a\'").message.contains("unterminated"));
    // The whole message, the DSN it quotes included.
    let e = parse_dsn("host=db port").unwrap_err();
    assert_eq!(
        e,
        r#"invalid DSN `host=db port`: missing "=" after "port" (at character 9)"#
    );
}

#[test]
fn a_repeated_keyword_last_wins_before_values_are_checked() {
    let d = parse_dsn("host=a dbname=first dbname=second sslmode=bogus sslmode=disable").unwrap();
    assert_eq!(d.pg.get_dbname(), Some("second"));
    assert_eq!(d.tls.mode, SslMode::Disable);
    let d = parse_dsn("postgresql://h/path?dbname=query&dbname=last").unwrap();
    assert_eq!(d.pg.get_dbname(), Some("last"));
}

#[test]
fn unknown_keywords_are_refused_like_libpq() {
    assert_eq!(
        refused("host=db hots=x"),
        "invalid connection option \"hots\""
    );
    assert_eq!(refused("host=db =x"), "invalid connection option \"\"");
    assert_eq!(
        refused("host=db Host=x"),
        "invalid connection option \"Host\""
    );
    assert_eq!(
        refused("postgresql://db/app?foo=bar"),
        "invalid URI query parameter: \"foo\""
    );
    // `ssl=true` is read in a URI query only, and only as `true`.
    assert_eq!(
        refused("host=db ssl=true"),
        "invalid connection option \"ssl\""
    );
    assert_eq!(
        refused("postgresql://db?ssl=false"),
        "invalid URI query parameter: \"ssl\""
    );
    // An unknown keyword before a syntax error is what libpq reports.
    assert_eq!(
        refused("foo=1 host='x"),
        "invalid connection option \"foo\""
    );
}

#[test]
fn uri_credentials_hosts_database_and_query_are_percent_decoded() {
    assert_eq!(
        kv("postgresql://m%40n:p%3Aw%2F%25+@db.example:6543/my%20db?application%5Fname=a%26b&options=-c%20x%3D1"),
        pairs(&[
            ("user", "m@n"),
            ("password", "p:w/%+"),
            ("host", "db.example"),
            ("port", "6543"),
            ("dbname", "my db"),
            ("application_name", "a&b"),
            ("options", "-c x=1"),
        ])
    );
    // `+` is not a blank in libpq.
    assert_eq!(
        kv("postgres://a+b@h"),
        pairs(&[("user", "a+b"), ("host", "h")])
    );
    // A user without a password, an empty password, no credentials.
    assert_eq!(kv("postgres://u@h"), pairs(&[("user", "u"), ("host", "h")]));
    assert_eq!(
        kv("postgres://u:@h"),
        pairs(&[("user", "u"), ("host", "h")])
    );
    assert_eq!(kv("postgresql://"), pairs(&[]));
    // libpq looks for credentials before the first `/` only.
    assert_eq!(
        kv("postgresql://h/db@x"),
        pairs(&[("host", "h"), ("dbname", "db@x")])
    );
}

#[test]
fn uri_host_lists_ipv6_and_socket_directories() {
    assert_eq!(
        kv("postgresql://h1:1,[::1]:2,h3/db"),
        pairs(&[("host", "h1,::1,h3"), ("port", "1,2,"), ("dbname", "db")])
    );
    let d = parse_dsn("postgresql://h1:1,[::1]:2,h3/db").unwrap();
    assert_eq!(d.pg.get_ports(), &[1, 2, 5432]);
    assert_eq!(
        d.pg.get_hosts(),
        &[
            Host::Tcp("h1".into()),
            Host::Tcp("::1".into()),
            Host::Tcp("h3".into())
        ]
    );
    let d = parse_dsn("postgresql://%2Fvar%2Frun%2Fpostgresql:5433/app").unwrap();
    assert_eq!(
        d.pg.get_hosts(),
        &[Host::Unix("/var/run/postgresql".into())]
    );
    let d = parse_dsn("postgresql:///app?host=/tmp&port=5433").unwrap();
    assert_eq!(d.pg.get_hosts(), &[Host::Unix("/tmp".into())]);
    assert_eq!(d.pg.get_ports(), &[5433]);
    assert_eq!(
        err("postgresql://[::1/db").message,
        "end of string reached when looking for matching \"]\" in IPv6 host address"
    );
    assert_eq!(
        err("postgresql://[]/db").message,
        "IPv6 host address may not be empty"
    );
    assert_eq!(
        err("postgresql://[::1]x/db").message,
        "unexpected character \"x\" at position 19 in URI (expected \":\" or \"/\")"
    );
}

#[test]
fn uri_escapes_and_query_syntax_errors() {
    let e = err("postgresql://h/a%zzb");
    assert_eq!(
        e.message,
        "invalid percent-encoded token \"%zz\" in \"dbname\""
    );
    assert_eq!(e.at, 16);
    assert!(err("postgresql://h/a%4")
        .message
        .contains("invalid percent-encoded"));
    assert_eq!(
        err("postgresql://h/a%00b").message,
        "forbidden value %00 in percent-encoded value of \"dbname\""
    );
    assert!(err("postgresql://h/%ff").message.contains("not UTF-8"));
    // A bad escape in a password does not quote it.
    assert_eq!(
        err("postgresql://u:hun%zzter@h").message,
        "invalid percent-encoded token in \"password\""
    );
    assert_eq!(
        err("postgresql://h?sslmode").message,
        "missing key/value separator \"=\" in URI query parameter: \"sslmode\""
    );
    assert_eq!(
        err("postgresql://h?a=b=c").message,
        "extra key/value separator \"=\" in URI query parameter: \"a\""
    );
    assert!(err("postgresql://h?&a=b")
        .message
        .contains("missing key/value"));
    // A trailing `&` or an empty query is fine.
    assert_eq!(
        kv("postgresql://h?sslmode=disable&"),
        pairs(&[("host", "h"), ("sslmode", "disable")])
    );
    assert_eq!(kv("postgresql://h?"), pairs(&[("host", "h")]));
    assert_eq!(
        parse_dsn("postgres://u:s3cret@h/db%zz").unwrap_err(),
        "invalid DSN `postgres://u:****@h/db%zz`: invalid percent-encoded token \"%zz\" in \"dbname\" (at character 25)"
    );
}

#[test]
fn uri_ssl_true_and_requiressl_are_sslmode() {
    let d = parse_dsn("postgresql://h?ssl=true").unwrap();
    assert_eq!(d.tls.mode, SslMode::Require);
    assert_eq!(
        parse_dsn("host=h requiressl=1").unwrap().tls.mode,
        SslMode::Require
    );
    assert_eq!(
        parse_dsn("postgresql://h?requiressl=0").unwrap().tls.mode,
        SslMode::Prefer
    );
    // A leading blank makes it no URI for libpq.
    assert!(refused(" postgresql://h").contains("missing \"=\""));
}

#[test]
fn hosts_addresses_and_ports_match_as_in_libpq() {
    let d = parse_dsn("host=a,b port=1").unwrap();
    assert_eq!(d.pg.get_ports(), &[1]);
    assert_eq!(
        refused("host=a,b port=1,2,3"),
        "could not match 3 port numbers to 2 hosts"
    );
    assert_eq!(
        refused("host=a,b hostaddr=127.0.0.1"),
        "could not match 2 host names to 1 hostaddr values"
    );
    let d = parse_dsn("hostaddr=127.0.0.1,::1 port=5,6").unwrap();
    assert_eq!(
        d.pg.get_hosts(),
        &[Host::Tcp("127.0.0.1".into()), Host::Tcp("::1".into())],
        "with no host, the address names the host"
    );
    assert_eq!(d.pg.get_hostaddrs().len(), 2);
    let d = parse_dsn("host=db.example hostaddr=10.0.0.1").unwrap();
    assert_eq!(d.pg.get_hosts(), &[Host::Tcp("db.example".into())]);
    assert!(refused("hostaddr=db.example").contains("not an IP address"));
    assert!(refused("host=a,,b").contains("`host`: entry 2 is empty"));
    assert!(refused("host=a,b hostaddr=127.0.0.1,").contains("`hostaddr`: entry 2 is empty"));
    assert!(refused("host=@abstract").contains("abstract Unix socket"));
    assert_eq!(
        refused("host=a port=x"),
        "invalid integer value \"x\" for connection option \"port\""
    );
    assert_eq!(
        refused("host=a port=70000"),
        "invalid port number: \"70000\""
    );
    assert_eq!(refused("host=a port=0"), "invalid port number: \"0\"");
    // Blanks around an integer are allowed, as by pqParseIntParam.
    assert_eq!(parse_dsn("host=a port=' 6 '").unwrap().pg.get_ports(), &[6]);
    // libpq skips the blanks after `=`: this host is `port=5`.
    assert_eq!(
        parse_dsn("host= port=5").unwrap().pg.get_hosts(),
        &[Host::Tcp("port=5".into())]
    );
    for no_host in ["user=u", "host='' port=5", "postgresql:///db", "host=''"] {
        let e = refused(no_host);
        assert!(
            e.contains("names no host") && e.contains("add host="),
            "{no_host}: {e}"
        );
    }
}

#[test]
fn timeouts_keepalives_and_options_map_onto_the_driver() {
    let d = parse_dsn(
        "host=h connect_timeout=7 tcp_user_timeout=1500 keepalives=1 keepalives_idle=30 keepalives_interval=5 keepalives_count=3 options='-c search_path=s'",
    )
    .unwrap();
    assert_eq!(d.pg.get_connect_timeout(), Some(&Duration::from_secs(7)));
    assert_eq!(
        d.pg.get_tcp_user_timeout(),
        Some(&Duration::from_millis(1500)),
        "libpq's tcp_user_timeout is in milliseconds"
    );
    assert!(d.pg.get_keepalives());
    assert_eq!(d.pg.get_keepalives_idle(), Duration::from_secs(30));
    assert_eq!(d.pg.get_keepalives_interval(), Some(Duration::from_secs(5)));
    assert_eq!(d.pg.get_keepalives_retries(), Some(3));
    assert_eq!(d.pg.get_options(), Some("-c search_path=s"));
    assert!(!parse_dsn("host=h keepalives=0")
        .unwrap()
        .pg
        .get_keepalives());
    // libpq's minimum of two seconds.
    assert_eq!(
        parse_dsn("host=h connect_timeout=1")
            .unwrap()
            .pg
            .get_connect_timeout(),
        Some(&Duration::from_secs(2))
    );
    assert!(refused("host=h connect_timeout=0").contains("wait forever"));
    assert!(refused("host=h connect_timeout=soon").contains("invalid integer value \"soon\""));
    assert!(refused("host=h keepalives_idle=0").contains("`keepalives_idle=0`"));
    assert!(refused(r"host=h options=-c\ x=\\\\\\").contains("lone backslash"));
    assert_eq!(
        parse_dsn(r"host=h options=a\\\\").unwrap().pg.get_options(),
        Some(r"a\\")
    );
}

#[test]
fn tls_keywords_map_onto_tls_settings() {
    let d = parse_dsn("host=h sslrootcert=system").unwrap();
    assert_eq!((d.tls.mode, d.tls.root_cert), (SslMode::VerifyFull, None));
    assert_eq!(
        refused("host=h sslrootcert=system sslmode=require"),
        "weak sslmode \"require\" may not be used with sslrootcert=system (use \"verify-full\")"
    );
    let d = parse_dsn("host=h sslsni=0 ssl_min_protocol_version=TLSv1.3").unwrap();
    assert!(!d.tls.sni);
    assert_eq!(d.tls.versions, TlsVersions::Tls13);
    let d = parse_dsn("host=h ssl_min_protocol_version=tlsv1 ssl_max_protocol_version=TLSv1.2")
        .unwrap();
    assert!(d.tls.sni);
    assert_eq!(d.tls.versions, TlsVersions::Tls12);
    assert_eq!(
        refused("host=h ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2"),
        "invalid SSL protocol version range"
    );
    assert!(refused("host=h ssl_max_protocol_version=TLSv1.1").contains("1.2 and 1.3 only"));
    assert!(refused("host=h ssl_min_protocol_version=SSLv3")
        .contains("invalid ssl_min_protocol_version value"));
    // sslcertmode=disable never sends the certificate, so its files are not needed.
    let d =
        parse_dsn("host=h sslcert=/nonexistent sslkey=/nonexistent sslcertmode=disable").unwrap();
    assert_eq!((d.tls.cert, d.tls.key), (None, None));
    assert_eq!(
        parse_dsn("host=h sslmode=allow").unwrap().tls.mode,
        SslMode::Prefer
    );
}

/// Every keyword libpq 13–18 takes, with a value and what pgvitals makes of it: `None` honoured,
/// `Some(text)` refused with an error that names the keyword and says `text`.
const EVERY_KEYWORD: &[(&str, &str, Option<&str>)] = &[
    ("host", "db", None),
    ("hostaddr", "127.0.0.1", None),
    ("port", "5433", None),
    ("dbname", "app", None),
    ("user", "mon", None),
    ("password", "x", None),
    ("passfile", "/p", Some("use the target's `password_file`")),
    ("require_auth", "scram-sha-256", Some("not supported")),
    ("channel_binding", "require", None),
    ("connect_timeout", "10", None),
    ("client_encoding", "UTF8", None),
    ("options", "-c work_mem=1MB", None),
    (
        "application_name",
        "app",
        Some("pgvitals names its sessions `pgvitals`"),
    ),
    ("fallback_application_name", "app", None),
    ("keepalives", "1", None),
    ("keepalives_idle", "60", None),
    ("keepalives_interval", "10", None),
    ("keepalives_count", "3", None),
    ("tcp_user_timeout", "10000", None),
    ("replication", "off", None),
    ("gssencmode", "disable", None),
    ("sslmode", "require", None),
    ("sslnegotiation", "postgres", None),
    ("sslcompression", "0", None),
    ("sslcert", "/nonexistent.crt", Some("go together")),
    ("sslkey", "/nonexistent.key", Some("go together")),
    ("sslcertmode", "allow", None),
    (
        "sslpassword",
        "x",
        Some("encrypted client keys are not supported"),
    ),
    ("sslrootcert", "/nonexistent/ca.pem", Some("cannot read")),
    (
        "sslcrl",
        "/crl.pem",
        Some("revocation lists are not checked"),
    ),
    (
        "sslcrldir",
        "/crl",
        Some("revocation lists are not checked"),
    ),
    ("sslsni", "1", None),
    ("requirepeer", "postgres", Some("is not checked")),
    ("ssl_min_protocol_version", "TLSv1.2", None),
    ("ssl_max_protocol_version", "TLSv1.3", None),
    ("krbsrvname", "postgres", Some("Kerberos/GSSAPI")),
    ("gsslib", "gssapi", Some("Kerberos/GSSAPI")),
    ("gssdelegation", "0", None),
    ("service", "main", Some("pg_service.conf is not read")),
    ("target_session_attrs", "any", None),
    ("load_balance_hosts", "random", None),
    ("min_protocol_version", "3.0", None),
    ("max_protocol_version", "latest", None),
    ("oauth_issuer", "https://i", Some("OAuth")),
    ("oauth_client_id", "c", Some("OAuth")),
    ("oauth_client_secret", "s", Some("OAuth")),
    ("oauth_scope", "s", Some("OAuth")),
    ("scram_client_key", "k", Some("SCRAM key pass-through")),
    ("scram_server_key", "k", Some("SCRAM key pass-through")),
    ("sslkeylogfile", "/k", Some("TLS key logging")),
    ("requiressl", "1", None),
];

#[test]
fn every_libpq_keyword_is_honoured_or_refused_by_name() {
    for kw in KEYWORDS {
        assert!(
            EVERY_KEYWORD.iter().any(|(k, _, _)| k == kw),
            "`{kw}` has no row"
        );
    }
    for (kw, value, outcome) in EVERY_KEYWORD {
        assert!(KEYWORDS.contains(kw), "`{kw}` is not a keyword");
        for dsn in [
            format!("host=h {kw}='{value}'"),
            format!(
                "postgresql://h?{kw}={}",
                value.replace(' ', "%20").replace('=', "%3D")
            ),
        ] {
            match (parse_dsn(&dsn), outcome) {
                (Ok(_), None) => {}
                (Err(_), Some(why)) => {
                    let e = refused(&dsn);
                    // The two halves of a client certificate name each other.
                    let named =
                        e.contains(&format!("`{kw}")) || e.contains("`sslcert` and `sslkey`");
                    assert!(named && e.contains(why), "{dsn}: {e}");
                }
                (Ok(_), Some(why)) => panic!("{dsn}: accepted, expected `{why}`"),
                (Err(e), None) => panic!("{dsn}: {e}"),
            }
        }
    }
}

#[test]
fn values_that_mean_a_missing_feature_is_used_are_refused_by_name() {
    for (dsn, want) in [
        ("host=h gssencmode=require", "`gssencmode=require`"),
        ("host=h gssdelegation=1", "`gssdelegation=1`"),
        ("host=h sslcompression=1", "`sslcompression=1`"),
        ("host=h sslnegotiation=direct", "`sslnegotiation=direct`"),
        ("host=h sslcertmode=require", "`sslcertmode=require`"),
        ("host=h replication=database", "`replication=database`"),
        (
            "host=h target_session_attrs=read-write",
            "`target_session_attrs=read-write`",
        ),
        ("host=h target_session_attrs=standby", "only `any`"),
        ("host=h client_encoding=LATIN1", "`client_encoding=LATIN1`"),
        ("host=h client_encoding=auto", "always talks UTF8"),
        ("host=h min_protocol_version=3.2", "protocol 3.0 only"),
        (
            "host=h channel_binding=maybe",
            "invalid channel_binding value: \"maybe\"",
        ),
        (
            "host=h load_balance_hosts=yes",
            "invalid load_balance_hosts value",
        ),
        (
            "host=h target_session_attrs=all",
            "invalid target_session_attrs value",
        ),
        ("host=h gssencmode=on", "invalid gssencmode value"),
    ] {
        let e = refused(dsn);
        assert!(e.contains(want), "{dsn}: {e}");
    }
    for ok in [
        "host=h client_encoding=utf-8",
        "host=h client_encoding=unicode",
        "host=h replication=false",
        "host=h gssencmode=prefer",
        "host=h target_session_attrs=any",
        "host=h sslsni=0",
        "host=h max_protocol_version=3.0",
    ] {
        parse_dsn(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn masking_finds_passwords_wherever_libpq_would() {
    for (dsn, want) in [
        (
            r"host=db password='it\'s a secret' user=u",
            "host=db password=**** user=u",
        ),
        (r"password=a\ b host=db", "password=**** host=db"),
        ("password = s3cret", "password = ****"),
        ("host=db password=", "host=db password=****"),
        ("host=db sslpassword=k", "host=db sslpassword=****"),
        // A misspelt keyword's value may be the password; other unknown keywords are shown.
        ("host=db passwrod=s3cret x=1", "host=db passwrod=**** x=1"),
        (
            "postgresql://db?Password=s3cret",
            "postgresql://db?Password=****",
        ),
        (
            "postgresql://u:p%40ss@db/app?pass%77ord=other&sslmode=disable",
            "postgresql://u:****@db/app?pass%77ord=****&sslmode=disable",
        ),
        ("postgresql://u:s3cret@db", "postgresql://u:****@db"),
        (
            "postgresql://db?oauth_client_secret=x",
            "postgresql://db?oauth_client_secret=****",
        ),
        // Not scanned to the end: from the error on, masked when a secret could be there.
        ("host=db password='s3cret", "host=db password=****"),
        ("host=db password=s3 cret", "host=db password=**** ****"),
        ("host=db x y password=s3cret", "host=db ****"),
        ("host=db port", "host=db port"),
        ("postgresql://u:s3%zzcret@db", "postgresql://u:****"),
        ("postgresql://[::1?password=s3cret", "postgresql://****"),
        // A raw `@` or `/` in a URI password: libpq reads a host or a port, masking hides it all.
        ("postgresql://u:p@ss@h/db", "postgresql://u:****@h/db"),
        ("postgresql://u:pa/ss@h/db", "postgresql://u:****@h/db"),
        // No password: nothing to hide.
        (
            "postgresql://u@h:5432/db?user=a@b",
            "postgresql://u@h:5432/db?user=a@b",
        ),
        ("postgresql://h:5432/db", "postgresql://h:5432/db"),
    ] {
        assert_eq!(mask_dsn(dsn), want, "{dsn}");
    }
}

#[test]
fn scan_errors_quote_nothing_that_masking_hides() {
    for dsn in [
        "host=db password=Xk7 Qw9",
        "host=db Xk7Qw9 password=x",
        "postgresql://u:Xk7%zzQw9@h",
        "postgresql://h?password=Xk7=Qw9",
        "postgresql://h?Xk7Qw9&password=x",
        // libpq reads port `Xk7` here, and says so.
        "postgresql://u:Xk7/Qw9@h/db",
    ] {
        let e = parse_dsn(dsn).unwrap_err();
        assert!(!e.contains("Xk7") && !e.contains("Qw9"), "{dsn}: {e}");
    }
    assert_eq!(
        refused("postgresql://u:Xk7/Qw9@h/db"),
        "invalid integer value \"****\" for connection option \"port\""
    );
    assert!(refused("host=db x y password=Xk7").starts_with("missing \"=\" after a word"));
}

mod round_trip {
    use proptest::prelude::*;

    use super::*;

    /// libpq's quoting for the keyword/value form.
    fn quote(v: &str) -> String {
        format!("'{}'", v.replace('\\', r"\\").replace('\'', r"\'"))
    }

    /// Percent-encoding of everything but RFC 3986's unreserved characters.
    fn encode(v: &str) -> String {
        v.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn any_password_reads_back_and_is_masked_in_both_forms(
            tail in "[ a-zA-Z0-9'\"\\\\%@:/?&=+#,\\[\\]é]{0,24}",
        ) {
            // A marker the rest of each DSN cannot contain.
            let password = format!("Zq{tail}");
            for dsn in [
                format!("host=db user=u password={} dbname=app", quote(&password)),
                format!("postgresql://u:{}@db/app", encode(&password)),
                format!("postgres://db/app?password={}&user=u", encode(&password)),
            ] {
                let d = parse_dsn(&dsn).map_err(|e| TestCaseError::fail(format!("{dsn}: {e}")))?;
                prop_assert_eq!(d.pg.get_password(), Some(password.as_bytes()), "{}", dsn);
                prop_assert_eq!(d.pg.get_user(), Some("u"));
                let masked = mask_dsn(&dsn);
                prop_assert!(!masked.contains("Zq"), "{} -> {}", dsn, masked);
            }
        }
    }
}
