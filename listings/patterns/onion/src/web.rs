//! Ring 4 (outermost): the HTTP interface. Translates requests into use cases of the
//! application ring and `AppError`s into status codes. It knows `BankService` and the domain's
//! types, never the database.

use std::sync::Arc;

use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use opentelemetry::global;
use opentelemetry::trace::Status;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_semantic_conventions::attribute::{
    HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, URL_PATH,
};
use serde::{Deserialize, Serialize};
use tracing::field::Empty;
use tracing::{Instrument as _, info};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::application::{AppError, BankService};
use crate::domain::model::AccountId;
use crate::domain::services::{AccountRepository, RepositoryError};

#[derive(Deserialize)]
pub struct OpenAccount {
    pub id: String,
}

#[derive(Deserialize)]
pub struct Money {
    pub amount_cents: i64,
}

#[derive(Deserialize)]
pub struct Transfer {
    pub from: String,
    pub to: String,
    pub amount_cents: i64,
}

#[derive(Serialize)]
pub struct Balance {
    pub id: String,
    pub balance_cents: i64,
}

// ANCHOR: router
/// The HTTP routes over a `BankService` with any repository.
pub fn router<R: AccountRepository>(bank: BankService<R>) -> Router {
    Router::new()
        .route("/accounts", post(open::<R>))
        .route("/accounts/{id}", get(balance::<R>))
        .route("/accounts/{id}/deposits", post(deposit::<R>))
        .route("/accounts/{id}/withdrawals", post(withdraw::<R>))
        .route("/transfers", post(transfer::<R>))
        .layer(middleware::from_fn(server_span))
        .with_state(Arc::new(bank))
}
// ANCHOR_END: router

type Bank<R> = State<Arc<BankService<R>>>;

async fn open<R: AccountRepository>(
    State(bank): Bank<R>,
    Json(body): Json<OpenAccount>,
) -> Result<(StatusCode, Json<Balance>), HttpError> {
    let balance_cents = bank.open(AccountId::new(body.id.clone())).await?;
    Ok((
        StatusCode::CREATED,
        Json(Balance {
            id: body.id,
            balance_cents,
        }),
    ))
}

async fn balance<R: AccountRepository>(
    State(bank): Bank<R>,
    Path(id): Path<String>,
) -> Result<Json<Balance>, HttpError> {
    let balance_cents = bank.balance(AccountId::new(id.clone())).await?;
    Ok(Json(Balance { id, balance_cents }))
}

async fn deposit<R: AccountRepository>(
    State(bank): Bank<R>,
    Path(id): Path<String>,
    Json(body): Json<Money>,
) -> Result<Json<Balance>, HttpError> {
    let balance_cents = bank
        .deposit(AccountId::new(id.clone()), body.amount_cents)
        .await?;
    Ok(Json(Balance { id, balance_cents }))
}

async fn withdraw<R: AccountRepository>(
    State(bank): Bank<R>,
    Path(id): Path<String>,
    Json(body): Json<Money>,
) -> Result<Json<Balance>, HttpError> {
    let balance_cents = bank
        .withdraw(AccountId::new(id.clone()), body.amount_cents)
        .await?;
    Ok(Json(Balance { id, balance_cents }))
}

async fn transfer<R: AccountRepository>(
    State(bank): Bank<R>,
    Json(body): Json<Transfer>,
) -> Result<StatusCode, HttpError> {
    bank.transfer(
        AccountId::new(body.from),
        AccountId::new(body.to),
        body.amount_cents,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ANCHOR: errors
/// An `AppError` on its way out as an HTTP response.
pub struct HttpError(AppError);

impl From<AppError> for HttpError {
    fn from(e: AppError) -> HttpError {
        HttpError(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            AppError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Repository(RepositoryError::Duplicate(_) | RepositoryError::Conflict(_)) => {
                StatusCode::CONFLICT
            }
            AppError::Repository(RepositoryError::Unavailable(_)) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        // Not `error = ..` as the first field (nor `#[instrument(err)]` on the handler): that makes
        // tracing-opentelemetry mark the current span as an error, and a 4xx is not one.
        info!(reason = %self.0, status = i64::from(status.as_u16()), "request refused");
        let body = serde_json::json!({ "error": self.0.to_string() });
        (status, Json(body)).into_response()
    }
}
// ANCHOR_END: errors

// ANCHOR: server_span
/// The `SERVER` span of each request, continuing the caller's trace. Per the HTTP semantic
/// conventions a server span is an error only for 5xx: a 4xx is the client's problem.
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
        "http.server",
        otel.name = name,
        otel.kind = "server",
        { HTTP_REQUEST_METHOD } = method,
        { HTTP_ROUTE } = route,
        { URL_PATH } = request.uri().path(),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
    );
    if let Err(reason) = span.set_parent(remote) {
        info!(%reason, "cannot attach the remote parent; the request starts a new trace");
    }

    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    if status.is_server_error() {
        span.set_status(Status::error(status.to_string()));
    }
    response
}
// ANCHOR_END: server_span
