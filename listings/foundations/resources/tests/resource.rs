//! Resources as they arrive over OTLP: the SDK's detectors, a custom detector, the environment
//! variables and the order in which they override each other.
//!
//! These tests set process environment variables, so they live in a test binary of their own
//! and take one lock each: the test harness runs them on parallel threads.

use std::env;
use std::sync::{Mutex, PoisonError};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::ResourceDetector;
use otlp_testkit::{Receiver, Span, Value};
use resources::{CATALOG, ProcessDetector, host_name, init_tracer_provider, resource};

static ENV: Mutex<()> = Mutex::new(());
const VARS: [&str; 2] = ["OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"];

/// Runs `test` with exactly `vars` set among the resource variables, one test at a time.
fn with_env<T>(vars: &[(&str, &str)], test: impl FnOnce() -> T) -> T {
    let _one_at_a_time = ENV.lock().unwrap_or_else(PoisonError::into_inner);
    // SAFETY: every test in this binary holds ENV while it touches or reads the environment.
    unsafe {
        for name in VARS {
            env::remove_var(name);
        }
        for (name, value) in vars {
            env::set_var(name, value);
        }
    }
    let result = test();
    // SAFETY: as above, ENV is still held.
    unsafe {
        for name in VARS {
            env::remove_var(name);
        }
    }
    result
}

/// Exports one span under `resource` over OTLP/gRPC and returns it as the receiver got it.
fn exported(resource: Resource) -> Span {
    let receiver = Receiver::start().expect("receiver");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let provider = {
        // The gRPC exporter is built inside the runtime; the runtime's threads then drive it.
        let _entered = runtime.enter();
        init_tracer_provider(resource, Some(&receiver.grpc_endpoint())).expect("provider")
    };
    provider.tracer("probe").in_span("probe", |_| {});
    provider.shutdown().expect("shutdown exports the span");
    receiver.snapshot().span("probe").clone()
}

fn this_executable() -> String {
    env::current_exe()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

// ANCHOR: unknown-service
/// Without any name from code or environment, the SDK's detector names the service after the
/// executable, and the SDK describes itself in `telemetry.sdk.*`.
#[test]
fn without_a_name_the_sdk_says_unknown_service() {
    let span = with_env(&[], || exported(Resource::builder().build()));
    let expected = format!("unknown_service:{}", this_executable());
    assert_eq!(span.service_name(), expected);
    assert_eq!(
        span.resource.str("telemetry.sdk.name"),
        Some("opentelemetry")
    );
    assert_eq!(span.resource.str("telemetry.sdk.language"), Some("rust"));
    assert!(span.resource.str("telemetry.sdk.version").is_some());
}
// ANCHOR_END: unknown-service

/// `builder_empty()` runs no detector at all: not even `service.name` goes out, whatever the
/// environment says.
#[test]
fn builder_empty_sends_an_empty_resource() {
    let span = with_env(
        &[
            ("OTEL_SERVICE_NAME", "named"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=prod",
            ),
        ],
        || exported(Resource::builder_empty().build()),
    );
    assert!(span.resource.is_empty(), "{}", span.resource);
}

// ANCHOR: defaults
/// With nothing in the environment: the code's name and version, the SDK's `telemetry.sdk.*`,
/// the process detector's attributes (the pid as an integer), and no deployment attributes.
#[test]
fn the_service_resource_without_environment() {
    let span = with_env(&[], || exported(resource(&CATALOG)));
    let r = &span.resource;
    assert_eq!(r.str("service.name"), Some("catalog"));
    assert_eq!(r.str("service.version"), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(r.str("telemetry.sdk.language"), Some("rust"));
    assert_eq!(r.i64("process.pid"), Some(i64::from(std::process::id())));
    assert_eq!(
        r.str("process.executable.name"),
        Some(this_executable().as_str())
    );
    assert_eq!(r.str("host.name"), host_name().as_deref());
    assert_eq!(r.get("deployment.environment.name"), None);
}
// ANCHOR_END: defaults

// ANCHOR: deployment
/// `OTEL_RESOURCE_ATTRIBUTES` adds the deployment's attributes and overrides what a detector
/// found (as a string: the variable has no types), but not the code's `service.version`.
#[test]
fn otel_resource_attributes_describe_the_deployment() {
    let attributes = "deployment.environment.name=staging,service.namespace=shop,\
                      service.instance.id=catalog-7f9c,service.version=0.0.0-env,process.pid=1";
    let span = with_env(&[("OTEL_RESOURCE_ATTRIBUTES", attributes)], || {
        exported(resource(&CATALOG))
    });
    let r = &span.resource;
    assert_eq!(r.str("deployment.environment.name"), Some("staging"));
    assert_eq!(r.str("service.namespace"), Some("shop"));
    assert_eq!(r.str("service.instance.id"), Some("catalog-7f9c"));
    assert_eq!(r.str("service.name"), Some("catalog"));
    assert_eq!(r.str("service.version"), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(r.get("process.pid"), Some(&Value::String("1".into())));
}
// ANCHOR_END: deployment

// ANCHOR: service-name
/// `service.name`: `OTEL_SERVICE_NAME`, then `OTEL_RESOURCE_ATTRIBUTES`, then the code's default.
/// The SDK's own `Resource::builder()` lets `OTEL_RESOURCE_ATTRIBUTES` win over
/// `OTEL_SERVICE_NAME`, against the specification; `resource()` restores the specified order.
#[test]
fn service_name_precedence() {
    let from_attributes = [("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")];
    let span = with_env(&from_attributes, || exported(resource(&CATALOG)));
    assert_eq!(span.service_name(), "from-attributes");

    let both = [
        ("OTEL_SERVICE_NAME", "from-name"),
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes"),
    ];
    let span = with_env(&both, || exported(resource(&CATALOG)));
    assert_eq!(span.service_name(), "from-name");
    let span = with_env(&both, || exported(Resource::builder().build()));
    assert_eq!(
        span.service_name(),
        "from-attributes",
        "the SDK's own order"
    );

    // An empty OTEL_SERVICE_NAME counts as unset.
    let span = with_env(&[("OTEL_SERVICE_NAME", "")], || {
        exported(resource(&CATALOG))
    });
    assert_eq!(span.service_name(), "catalog");
}
// ANCHOR_END: service-name

// ANCHOR: order
/// A detector that claims a service name, to show that builder calls apply in order.
struct NamingDetector;

impl ResourceDetector for NamingDetector {
    fn detect(&self) -> Resource {
        Resource::builder_empty()
            .with_attribute(KeyValue::new("service.name", "from-detector"))
            .build()
    }
}

/// Each builder call overrides what came before it: the last word wins, whoever says it.
#[test]
fn builder_calls_apply_in_order() {
    let detector_last = Resource::builder_empty()
        .with_service_name("from-code")
        .with_detector(Box::new(NamingDetector))
        .build();
    let code_last = Resource::builder_empty()
        .with_detector(Box::new(NamingDetector))
        .with_service_name("from-code")
        .build();
    let (detector_last, code_last) =
        with_env(&[], || (exported(detector_last), exported(code_last)));
    assert_eq!(detector_last.service_name(), "from-detector");
    assert_eq!(code_last.service_name(), "from-code");
}
// ANCHOR_END: order

// ANCHOR: parsing
/// The SDK splits `OTEL_RESOURCE_ATTRIBUTES` on `,` and the first `=`, trims spaces, silently
/// drops entries without `=`, and does not percent-decode values.
#[test]
fn otel_resource_attributes_is_parsed_literally() {
    let attributes =
        "deployment.environment.name=eu%20west, service.namespace = shop ,broken,k=a=b";
    let span = with_env(&[("OTEL_RESOURCE_ATTRIBUTES", attributes)], || {
        exported(resource(&CATALOG))
    });
    let r = &span.resource;
    assert_eq!(r.str("deployment.environment.name"), Some("eu%20west"));
    assert_eq!(r.str("service.namespace"), Some("shop"));
    assert_eq!(r.str("k"), Some("a=b"));
    assert!(
        !r.0.keys().any(|k| k.contains("broken")),
        "an entry without '=' is dropped without a word: {r}"
    );
}
// ANCHOR_END: parsing

/// The detector on its own, without any exporter: what `detect` returns is what goes out.
#[test]
fn the_process_detector_reports_this_process() {
    let detected = ProcessDetector.detect();
    let span = with_env(&[], || exported(detected));
    assert_eq!(
        span.resource.i64("process.pid"),
        Some(i64::from(std::process::id()))
    );
    assert!(span.resource.get("service.name").is_none());
}
