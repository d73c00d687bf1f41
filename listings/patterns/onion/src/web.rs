//! Ring 4 (outermost): the HTTP interface. Translates requests into use cases of the
//! application ring and `AppError`s into status codes. It knows `BankService` and the domain's
//! types, never the database.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use service_telemetry::http::{Body, ErrorBody, server_span};
use tracing::info;

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
    /// The request never became a use case: an account id that cannot be one. Always a 4xx,
    /// never 422 (that one is the domain's). A body that is not the JSON we expect never gets
    /// this far: the shared `Body` extractor answers it with the same JSON error body.
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
        (status, Json(ErrorBody { error: message })).into_response()
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
