//! The packaged /etc/showroom/showroomd.toml names every key of `Config`, at its default unless the package chose otherwise.

use std::collections::BTreeSet;

use super::Config;

const PACKAGED: &str = include_str!("../../packaging/showroomd.toml");

/// Keys without a default (None), shown commented with an example value.
const EXAMPLES: [&str; 5] = [
    "default_ttl",
    "tls_cert",
    "tls_key",
    "contact",
    "sleep_after",
];

/// Every key `Config` reads: serde's derive hands `deserialize_struct` the
/// list of field names, which this deserializer returns as its error.
fn config_keys() -> BTreeSet<String> {
    use serde::de::{value::Error, Deserializer, Visitor};
    struct Fields;
    impl<'de> Deserializer<'de> for Fields {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(serde::de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            Err(serde::de::Error::custom(fields.join(",")))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let e = <Config as serde::Deserialize>::deserialize(Fields).unwrap_err();
    e.to_string().split(',').map(str::to_owned).collect()
}

/// `key = value` for each commented key line (`#key = value`) and each active one.
fn key_lines() -> (Vec<(String, String)>, Vec<String>) {
    let mut commented = Vec::new();
    let mut active = Vec::new();
    for line in PACKAGED.lines() {
        let key = |l: &str| {
            let (k, _) = l.split_once('=')?;
            let k = k.trim();
            (!k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                .then(|| k.to_owned())
        };
        if let Some(rest) = line.strip_prefix('#') {
            if let Some(k) = key(rest) {
                commented.push((k, rest.to_owned()));
            }
        } else if let Some(k) = key(line) {
            active.push(k);
        }
    }
    (commented, active)
}

#[test]
fn the_packaged_config_names_every_key() {
    let (commented, active) = key_lines();
    let named: BTreeSet<String> = commented
        .iter()
        .map(|(k, _)| k.clone())
        .chain(active.iter().cloned())
        .collect();
    let missing: Vec<_> = config_keys().difference(&named).cloned().collect();
    assert!(
        missing.is_empty(),
        "packaging/showroomd.toml does not name {missing:?}: add each, commented at its default"
    );
    assert_eq!(
        named.len(),
        commented.len() + active.len(),
        "a key is named twice"
    );
}

#[test]
fn the_packaged_config_is_valid_and_its_comments_are_the_defaults() {
    let cfg: Config = toml::from_str(PACKAGED).expect("the packaged config parses");
    assert_eq!(cfg.operator_group.as_deref(), Some("showroom"));
    let default = format!("{:?}", Config::default());
    for (key, line) in key_lines().0 {
        let one: Config =
            toml::from_str(&line).unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"));
        if EXAMPLES.contains(&key.as_str()) {
            assert!(
                default.contains(&format!("{key}: None")),
                "{key} has a default"
            );
        } else {
            assert_eq!(
                format!("{one:?}"),
                default,
                "#{line} is not the default of {key}"
            );
        }
    }
}
