use anyhow::Context;
use sampling::{
    Request, grpc_health_check, handle, provider_builder, sampler_from_env, subscriber,
};

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Checked before anything is built: a typo in OTEL_TRACES_SAMPLER stops the program.
    let sampler = sampler_from_env()?;
    // Inside the runtime: the gRPC exporter needs a Tokio reactor when it is built.
    let provider = provider_builder(None, sampler)?.build();
    tracing::subscriber::set_global_default(subscriber(&provider))
        .context("installing the tracing subscriber")?;

    let order = Request {
        method: "GET",
        route: "/orders/{id}",
        ..Request::default()
    };
    let requests = [
        Request {
            path: "/healthz",
            route: "/healthz",
            ..order
        },
        Request {
            path: "/orders/1",
            ..order
        },
        Request {
            path: "/orders/2",
            ..order
        },
        Request {
            path: "/orders/3",
            ..order
        },
        Request {
            path: "/orders/4",
            ..order
        },
        Request {
            method: "POST",
            route: "/checkout",
            path: "/checkout",
            important: true,
            ..order
        },
        // A caller that sampled its trace, and one that did not.
        Request {
            path: "/orders/5",
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ..order
        },
        Request {
            path: "/orders/6",
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"),
            ..order
        },
    ];
    for request in &requests {
        let outcome = handle(request)?;
        println!(
            "{:<4} {:<10} sampled={:<5} → traceparent: {}",
            request.method, request.path, outcome.sampled, outcome.downstream_traceparent
        );
    }
    grpc_health_check();

    provider
        .shutdown()
        .context("flushing spans to the OTLP endpoint")?;
    Ok(())
}
// ANCHOR_END: main
