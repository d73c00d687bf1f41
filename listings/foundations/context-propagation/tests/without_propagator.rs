//! The mistake 上下文传播 warns about: the same client and servers, but nobody called
//! `install_propagator()`. The global propagator is then a no-op and every server span starts
//! a trace of its own. (A binary of its own: the global propagator is process-wide.)

mod common;

use common::{Propagator, Shared, in_checkout, loopback, named, of_kind, wait_for_trace};
use context_propagation::TENANT_ID;
use context_propagation::grpc::{self, GrpcServer, SAY_HELLO};
use context_propagation::http::{self, HttpServer};
use otlp_testkit::{Span, SpanKind};

fn shared() -> &'static Shared {
    common::init(Propagator::Default)
}

/// The server span called `name`, which is not in the client's trace `client_trace`.
async fn server_span(shared: &Shared, client_trace: &str, name: &str) -> Span {
    let server = shared
        .receiver
        .wait_for(&format!("a {name:?} server span"), |t| {
            t.spans
                .iter()
                .find(|s| s.name == name && s.kind == SpanKind::Server)
                .cloned()
        })
        .await
        .expect("the server span arrives");
    assert_ne!(server.trace_id, client_trace, "a trace of its own");
    server
}

// ANCHOR: broken
#[tokio::test(flavor = "multi_thread")]
async fn without_a_propagator_the_http_server_starts_a_new_trace() {
    let shared = shared();
    let server = HttpServer::start(loopback()).await.unwrap();
    let url = server.url();
    let trace_id = in_checkout(shared, "acme", async {
        http::greet(&reqwest::Client::new(), &url, "Ada").await?;
        Ok(())
    })
    .await;
    server.shutdown().await.unwrap();

    let received = wait_for_trace(shared, &trace_id, 2).await;
    let client = of_kind(&received, &trace_id, SpanKind::Client);
    let root = named(&received, &trace_id, "checkout");
    assert_eq!(client.parent_span_id.as_ref(), Some(&root.span_id));
    let server = server_span(shared, &trace_id, "GET /greet/{name}").await;
    assert_eq!(server.parent_span_id, None, "a root span");
    assert_eq!(server.attributes.get(TENANT_ID), None, "no baggage either");
}
// ANCHOR_END: broken

#[tokio::test(flavor = "multi_thread")]
async fn without_a_propagator_the_grpc_server_starts_a_new_trace() {
    let shared = shared();
    let server = GrpcServer::start(loopback()).await.unwrap();
    let url = server.url();
    let trace_id = in_checkout(shared, "acme", async {
        grpc::greet(&mut grpc::connect(url).await?, "Grace").await?;
        Ok(())
    })
    .await;
    server.shutdown().await.unwrap();

    let received = wait_for_trace(shared, &trace_id, 2).await;
    let root = named(&received, &trace_id, "checkout");
    assert_eq!(
        of_kind(&received, &trace_id, SpanKind::Client)
            .parent_span_id
            .as_ref(),
        Some(&root.span_id)
    );
    let server = server_span(shared, &trace_id, SAY_HELLO).await;
    assert_eq!(server.parent_span_id, None, "a root span");
    assert_eq!(server.attributes.get(TENANT_ID), None, "no baggage either");
}
