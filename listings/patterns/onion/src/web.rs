//! Ring 4 (outermost): the HTTP interface. Translates requests into use cases of the
//! application ring and `AppError`s into status codes. It knows `BankService` and the domain's
//! types, never the database.

use std::sync::Arc;

use axum::extract::{FromRequest, MatchedPath, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use opentelemetry::global;
use opentelemetry::trace::Status;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, URL_PATH, URL_SCHEME,
};
use serde::de::DeserializeOwned;
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
    Body(body): Body<OpenAccount>,
) -> Result<(StatusCode, Json<Balance>), HttpError> {
    let balance_cents = bank.open(account_id(&body.id)?).await?;
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
    let balance_cents = bank.balance(account_id(&id)?).await?;
    Ok(Json(Balance { id, balance_cents }))
}

async fn deposit<R: AccountRepository>(
    State(bank): Bank<R>,
    Path(id): Path<String>,
    Body(body): Body<Money>,
) -> Result<Json<Balance>, HttpError> {
    let balance_cents = bank.deposit(account_id(&id)?, body.amount_cents).await?;
    Ok(Json(Balance { id, balance_cents }))
}

async fn withdraw<R: AccountRepository>(
    State(bank): Bank<R>,
    Path(id): Path<String>,
    Body(body): Body<Money>,
) -> Result<Json<Balance>, HttpError> {
    let balance_cents = bank.withdraw(account_id(&id)?, body.amount_cents).await?;
    Ok(Json(Balance { id, balance_cents }))
}

async fn transfer<R: AccountRepository>(
    State(bank): Bank<R>,
    Body(body): Body<Transfer>,
) -> Result<StatusCode, HttpError> {
    let (from, to) = (account_id(&body.from)?, account_id(&body.to)?);
    bank.transfer(from, to, body.amount_cents).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ANCHOR: errors
/// Why a request failed, on its way out as an HTTP response with a JSON body
/// `{"error": "..."}`.
pub enum HttpError {
    /// The use case did not happen.
    App(AppError),
    /// The request never became a use case: a body that is not the JSON we expect, an
    /// account id that cannot be one. Always a 4xx, never 422 (that one is the domain's).
    Invalid(StatusCode, String),
}

impl From<AppError> for HttpError {
    fn from(e: AppError) -> HttpError {
        HttpError::App(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            HttpError::App(e) => {
                let status = match &e {
                    AppError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    AppError::NotFound(_) => StatusCode::NOT_FOUND,
                    AppError::Repository(
                        RepositoryError::Duplicate(_) | RepositoryError::Conflict(_),
                    ) => StatusCode::CONFLICT,
                    AppError::Repository(RepositoryError::Unavailable(_)) => {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                };
                (status, e.to_string())
            }
            HttpError::Invalid(status, message) => (status, message),
        };
        // Not `error = ..` as the first field (nor `#[instrument(err)]` on the handler): that makes
        // tracing-opentelemetry mark the current span as an error, and a 4xx is not one.
        info!(reason = %message, status = i64::from(status.as_u16()), "request refused");
        let body = serde_json::json!({ "error": message });
        (status, Json(body)).into_response()
    }
}

/// `Json<T>` whose rejection is an [`HttpError`]: malformed JSON, a missing field or a missing
/// `Content-Type: application/json` get this service's JSON error body, and 400 where axum
/// would say 422 (that status belongs to the domain's refusals here).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, HttpError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(body)) => Ok(Body(body)),
            Err(rejection) => {
                let status = match rejection.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                    other => other,
                };
                Err(HttpError::Invalid(status, rejection.body_text()))
            }
        }
    }
}

/// An account id as the web ring accepts it: not empty, no `/` (it must fit in a path segment
/// of `/accounts/{id}`).
fn account_id(raw: &str) -> Result<AccountId, HttpError> {
    if raw.is_empty() || raw.contains('/') {
        return Err(HttpError::Invalid(
            StatusCode::BAD_REQUEST,
            format!("invalid account id {raw:?}: it must be non-empty and must not contain '/'"),
        ));
    }
    Ok(AccountId::new(raw))
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
        // This server speaks plain HTTP; behind a TLS-terminating proxy it would still be "http".
        { URL_SCHEME } = "http",
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
    );
    if let Err(reason) = span.set_parent(remote) {
        info!(%reason, "cannot attach the remote parent; the request starts a new trace");
    }

    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record(ERROR_TYPE, status.as_str());
        span.set_status(Status::error(status.to_string()));
    }
    response
}
// ANCHOR_END: server_span
