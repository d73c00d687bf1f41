//! The integer trap from 故障排查: how `tracing` field types arrive over OTLP.

use otlp_testkit::{Receiver, Value};
use testing_telemetry::Providers;

// ANCHOR: u64
#[tokio::test(flavor = "multi_thread")]
async fn unsigned_span_fields_arrive_as_strings_but_log_fields_as_ints() {
    let receiver = Receiver::start().expect("receiver");
    let providers = Providers::init(Some(&receiver.grpc_endpoint())).unwrap();
    {
        let _guard = tracing::subscriber::set_default(providers.subscriber());
        let span = tracing::info_span!("typed", signed = 7_i64, unsigned = 7_u64, size = 7_usize);
        let _entered = span.enter();
        tracing::info!(signed = 7_i64, unsigned = 7_u64, "typed fields");
    }
    providers.shutdown().unwrap();

    let received = receiver.wait_for_logs(1).await.unwrap();
    let span = received.span("typed");
    assert_eq!(span.attributes.get("signed"), Some(&Value::Int(7)));
    assert_eq!(
        span.attributes.get("unsigned"),
        Some(&Value::String("7".into()))
    );
    assert_eq!(
        span.attributes.get("size"),
        Some(&Value::String("7".into()))
    );
    // The log bridge converts a u64 that fits into an i64 to an OTLP int.
    let log = &received.logs_of(span)[0];
    assert_eq!(log.attributes.get("signed"), Some(&Value::Int(7)));
    assert_eq!(log.attributes.get("unsigned"), Some(&Value::Int(7)));
}
// ANCHOR_END: u64
