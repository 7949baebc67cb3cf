//! Property tests over everything that parses untrusted text: the configuration parser, the DDL
//! recogniser (it reads whatever sessions run), alert-rule expressions and annotation
//! templates. Never a panic; a configuration error always says where (a line or a key).
//!
//! CI runs 2,000 cases per property; `PROPTEST_CASES=200000 cargo test --release --test
//! bad_input` runs a longer search.

use pgvitals::config::Config;
use proptest::prelude::*;

const SHIPPED: &str = include_str!("../config.yaml");

fn cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").map_or(2000, |c| {
        c.parse()
            .unwrap_or_else(|e| panic!("PROPTEST_CASES=`{c}` is not a number of cases: {e}"))
    });
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn check_config(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = Config::parse(text, "fuzz.yaml") {
        let shown = e.to_string();
        prop_assert!(shown.starts_with("fuzz.yaml"), "{shown}");
        prop_assert!(
            e.line.is_some() || !e.key.is_empty(),
            "an error without a location: {shown}\n--- input ---\n{text}"
        );
        prop_assert!(!e.message.is_empty());
    }
    Ok(())
}

/// Pieces that make YAML and SQL parsers work hard.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just(": ".to_string()),
        Just("- ".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!!binary ".to_string()),
        Just("${X}".to_string()),
        Just("targets".to_string()),
        Just("dsn".to_string()),
        Just("interval: 5".to_string()),
        Just("$$".to_string()),
        Just("$tag$".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just("--".to_string()),
        Just(";".to_string()),
        Just("E'\\'".to_string()),
        Just("BEGIN".to_string()),
        Just("ALTER TABLE".to_string()),
        Just("CREATE INDEX CONCURRENTLY".to_string()),
        Just("VACUUM (FULL".to_string()),
        Just(" ".to_string()),
        "[a-zA-Z0-9_]{1,8}",
        any::<char>().prop_map(String::from),
    ]
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn config_parser_never_panics_on_any_text(text in any::<String>()) {
        check_config(&text)?;
    }

    #[test]
    fn config_parser_never_panics_on_tokens(tokens in prop::collection::vec(token(), 0..60)) {
        check_config(&tokens.concat())?;
    }

    #[test]
    fn config_parser_never_panics_on_a_damaged_shipped_config(
        cut in 0..SHIPPED.len(),
        len in 0usize..200,
        insert in prop::collection::vec(token(), 0..4),
    ) {
        let mut text = SHIPPED.to_string();
        let start = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap();
        let end = ((start + len).min(text.len())..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap();
        text.replace_range(start..end, &insert.concat());
        check_config(&text)?;
    }

    #[test]
    fn ddl_recogniser_never_panics(sql in any::<String>(), tokens in prop::collection::vec(token(), 0..40)) {
        let _ = pgvitals::ddl::recognise(&sql);
        let joined = tokens.join(" ");
        let first = pgvitals::ddl::recognise(&joined);
        prop_assert_eq!(first, pgvitals::ddl::recognise(&joined), "deterministic");
    }

    #[test]
    fn rule_expressions_and_templates_never_panic(text in any::<String>(), tokens in prop::collection::vec(token(), 0..20)) {
        let joined = tokens.concat();
        for t in [&text, &joined] {
            if let Ok(e) = pgvitals::rule_expr::Expr::parse(t) {
                // What parses prints back to the same expression.
                let again = pgvitals::rule_expr::Expr::parse(&e.to_string()).map(|x| x.to_string());
                prop_assert_eq!(again, Ok(e.to_string()));
            }
            let _ = pgvitals::template::Template::parse(t)
                .map(|tpl| tpl.render(&Default::default(), f64::NAN));
        }
    }
}
