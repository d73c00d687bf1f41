//! The inbound (driving) adapter: HTTP + JSON over the domain's `Orders` port. A middleware
//! opens the `SERVER` span for every request, continuing the caller's trace; the handlers only
//! translate between JSON and the domain, and domain errors into status codes.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hexagonal_domain::{Order, OrderError, OrderId, Orders};
use opentelemetry::global;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, URL_PATH, URL_SCHEME,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The body of `POST /orders`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlaceOrder {
    pub customer: String,
    pub sku: String,
    pub quantity: i64,
}

/// An order as the API shows it.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderBody {
    pub id: i64,
    pub customer: String,
    pub sku: String,
    pub quantity: i64,
}

/// The body of every error response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

// ANCHOR: router
/// The routes over any implementation of the driving port, wrapped in the span middleware.
pub fn router<O: Orders>(orders: O) -> Router {
    Router::new()
        .route("/orders", post(place_order::<O>))
        .route("/orders/{id}", get(get_order::<O>))
        // `layer`, not `route_layer`: an unmatched request (404) gets a server span too.
        .layer(middleware::from_fn(server_span))
        .with_state(Arc::new(orders))
}

async fn place_order<O: Orders>(
    State(orders): State<Arc<O>>,
    Body(body): Body<PlaceOrder>,
) -> Result<(StatusCode, Json<OrderBody>), ApiError> {
    let order = orders
        .place_order(&body.customer, &body.sku, body.quantity)
        .await?;
    Ok((StatusCode::CREATED, Json(order.into())))
}

async fn get_order<O: Orders>(
    State(orders): State<Arc<O>>,
    Id(id): Id,
) -> Result<Json<OrderBody>, ApiError> {
    Ok(Json(orders.get_order(OrderId(id)).await?.into()))
}
// ANCHOR_END: router

// ANCHOR: errors
/// A domain error on its way out as an HTTP response.
struct ApiError(OrderError);

impl From<OrderError> for ApiError {
    fn from(error: OrderError) -> ApiError {
        ApiError(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match &self.0 {
            OrderError::Rejected(rejection) => {
                (StatusCode::UNPROCESSABLE_ENTITY, rejection.to_string())
            }
            OrderError::NotFound(id) => (StatusCode::NOT_FOUND, format!("no order {id}")),
            // The cause is on the use case's and the query's spans; the caller gets no internals.
            OrderError::Repository(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_owned(),
            ),
        };
        (status, Json(ErrorBody { error: message })).into_response()
    }
}
// ANCHOR_END: errors

// ANCHOR: rejections
/// A request the handlers never see: a body that is not the JSON of a `PlaceOrder`, an id that
/// is not a number. Answered like every other error, with an [`ErrorBody`]; 400 where axum would
/// say 422, which this API keeps for the domain's refusals.
struct BadRequest(StatusCode, String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        let status = match self.0 {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        };
        (status, Json(ErrorBody { error: self.1 })).into_response()
    }
}

/// `Json<T>`, rejected with a [`BadRequest`].
struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = BadRequest;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, BadRequest> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(body)| Body(body))
            .map_err(|e: JsonRejection| BadRequest(e.status(), e.body_text()))
    }
}

/// The `{id}` of the path as an `i64`, rejected with a [`BadRequest`].
struct Id(i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = BadRequest;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Id, BadRequest> {
        Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|e: PathRejection| BadRequest(e.status(), e.body_text()))
    }
}
// ANCHOR_END: rejections

// ANCHOR: server_span
/// Opens a `SERVER` span per request, named `{method} {route}`, continuing the trace of the
/// caller's `traceparent`. Only a 5xx marks it as failed: for a server, a 4xx is the
/// client's mistake, and the semantic conventions leave the status unset.
async fn server_span(request: Request, next: Next) -> Response {
    let remote = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    let method = request.method().as_str();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = name,
        otel.kind = "server",
        { HTTP_REQUEST_METHOD } = method,
        { HTTP_ROUTE } = route,
        { URL_PATH } = request.uri().path(),
        // This server speaks plain HTTP; behind a TLS-terminating proxy it would still be "http".
        { URL_SCHEME } = "http",
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
        otel.status_code = Empty,
    );
    if let Err(error) = span.set_parent(remote) {
        tracing::warn!(%error, "cannot continue the caller's trace");
    }

    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record(ERROR_TYPE, status.as_str());
        span.record("otel.status_code", "error");
    }
    response
}
// ANCHOR_END: server_span

impl From<Order> for OrderBody {
    fn from(order: Order) -> OrderBody {
        OrderBody {
            id: order.id.0,
            customer: order.customer,
            sku: order.sku,
            quantity: order.quantity,
        }
    }
}

/// The HTTP server on a Tokio task until [`HttpServer::shutdown`].
pub struct HttpServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port) and serves `orders` there.
    pub async fn start<O: Orders>(addr: SocketAddr, orders: O) -> anyhow::Result<HttpServer> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the HTTP server to {addr}"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, router(orders)).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        let task = tokio::spawn(server.into_future());
        Ok(HttpServer { addr, stop, task })
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets open requests finish and waits for the server to end.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .context("the HTTP server task panicked")?
            .context("the HTTP server failed")
    }
}
