//! Requests the handlers never see: a 4xx with a JSON error body, and a server span that is
//! not an error.

mod common;

use cache_aside::http::ErrorBody;
use common::*;
use otlp_testkit::SpanStatus;

#[tokio::test]
async fn malformed_requests_are_a_400_with_a_json_error() {
    let Some(h) = start().await else {
        return;
    };
    let url = format!("{}/products/1", h.base);
    let json = "application/json";
    let cases = [
        (json, "{\"name\": ", 400, "Failed to parse"),
        (
            json,
            "{\"name\": \"teapot\"}",
            400,
            "missing field `price_cents`",
        ),
        (
            json,
            "{\"name\": \"teapot\", \"price_cents\": \"cheap\"}",
            400,
            "price_cents",
        ),
        ("text/plain", "{}", 415, "Content-Type"),
    ];
    for (content_type, body, status, message) in cases {
        let response = h
            .client
            .put(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let error: ErrorBody = response.json().await.unwrap();
        assert!(error.error.contains(message), "{body}: {}", error.error);
    }
    let response = h
        .client
        .get(format!("{}/products/first", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: ErrorBody = response.json().await.unwrap();
    assert!(error.error.contains("first"), "{}", error.error);

    let received = h.finish().await;
    let mut servers = requests(&received, "PUT /products/{id}");
    servers.extend(requests(&received, "GET /products/{id}"));
    assert_eq!(servers.len(), 5);
    for server in servers {
        assert_eq!(server.status, SpanStatus::Unset, "{}", server.name);
        assert_eq!(server.attributes.str("error.type"), None);
        assert!(received.children_of(server).is_empty(), "{}", server.name);
        let status = server.attributes.i64("http.response.status_code").unwrap();
        assert!(status == 400 || status == 415, "{status}");
    }
}
