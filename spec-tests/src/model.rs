//! Statement tests on the model, through the conformance cases.
//!
//! The conformance cases (`crates/conformance/cases`) are the one place
//! where the observable behaviour required of a Server is written down as
//! scripts. These tests run, for one statement and one version, every case
//! that cites the statement against a fresh reference broker (the model
//! behind loopback sockets), so each Server/Both statement the cases cover
//! has a test named by its id, and a regression in the model fails it.

use mqttkit_broker::model::{Broker, Config as BrokerConfig};
use mqttkit_broker::Builder;
use mqttkit_codec::ProtocolVersion;
use mqttkit_conformance::{builtin_cases, run, Config, Verdict};

/// Broker configurations with every optional feature turned off and QoS
/// limited to `max_qos`, for the cases about what a broker without them
/// must do (they skip on a broker that offers everything).
fn restricted(max_qos: mqttkit_codec::QoS) -> BrokerConfig {
    BrokerConfig {
        maximum_qos: max_qos,
        retain_available: false,
        wildcard_subscription_available: false,
        shared_subscription_available: false,
        subscription_identifiers_available: false,
        ..BrokerConfig::default()
    }
}

fn run_against(
    statement: &str,
    version: ProtocolVersion,
    broker_config: BrokerConfig,
) -> Vec<mqttkit_conformance::CaseResult> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let broker = Builder::default()
            .start(Broker::new(broker_config))
            .await
            .expect("start the reference broker");
        let mut config = Config::new(broker.tcp_addr().to_string());
        config.protocols = vec![version];
        config.only = vec![statement.to_string()];
        let cases = builtin_cases().expect("conformance cases parse");
        let results = run(&cases, &config).await;
        broker.shutdown().await;
        results
    })
}

/// Runs the cases citing `statement` under `version` against a new
/// embedded reference broker with the default configuration and, when
/// every case skipped there because it needs an optional feature turned
/// off, against ones with the optional features off (maximum QoS 1, then 0). Panics (with each
/// failing case's detail and trace) unless at least one case ran, none
/// failed, and at least one passed or noted the broker's choice.
pub fn conformance(statement: &str, version: ProtocolVersion) {
    let mut results = run_against(statement, version, BrokerConfig::default());
    for q in [
        mqttkit_codec::QoS::AtLeastOnce,
        mqttkit_codec::QoS::AtMostOnce,
    ] {
        if !results.is_empty() && results.iter().all(|r| r.verdict == Verdict::Skip) {
            results = run_against(statement, version, restricted(q));
        }
    }
    assert!(
        !results.is_empty(),
        "no conformance case cites {statement} under {version:?}"
    );
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .map(|r| {
            let trace: Vec<String> = r.trace.iter().map(|t| format!("    {t:?}")).collect();
            format!("{}: {}\n{}", r.id, r.detail, trace.join("\n"))
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{statement} ({version:?}): {} of {} cases failed:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
    assert!(
        results
            .iter()
            .any(|r| matches!(r.verdict, Verdict::Pass | Verdict::Note)),
        "{statement} ({version:?}): every case was skipped: {:?}",
        results
            .iter()
            .map(|r| (&r.id, &r.detail))
            .collect::<Vec<_>>()
    );
}
