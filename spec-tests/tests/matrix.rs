//! MATRIX.md is up to date, every test cites a real statement, and every
//! Codec statement is tested or waived.

use mqttkit_spec_tests::matrix;

#[test]
fn matrix_is_current() {
    let path = matrix::root().join("MATRIX.md");
    let want = matrix::render();
    if std::env::var_os("UPDATE_MATRIX").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "spec-tests/MATRIX.md is stale: regenerate with \
         `UPDATE_MATRIX=1 cargo test -p mqttkit-spec-tests --test matrix`"
    );
}

#[test]
fn tests_cite_real_statements_and_codec_statements_are_covered() {
    let problems = matrix::problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn test_names_map_to_ids() {
    assert_eq!(
        matrix::id_of_test("mqtt_3_1_2_22_password").as_deref(),
        Some("MQTT-3.1.2-22")
    );
    assert_eq!(
        matrix::id_of_test("mqtt_1_5_4_1_utf8").as_deref(),
        Some("MQTT-1.5.4-1")
    );
    assert_eq!(matrix::id_of_test("mqtt_3_1_x"), None);
    assert_eq!(matrix::id_of_test("other"), None);
}
