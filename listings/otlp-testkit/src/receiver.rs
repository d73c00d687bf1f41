//! The OTLP receiver: gRPC and HTTP (protobuf and JSON) servers for traces, metrics and logs,
//! running on a thread of their own so that sync and async tests can both use them.

use std::collections::BTreeMap;
use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::sync::{oneshot, watch};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, UnaryService};

use crate::model::{Transport, logs_from, metric_points_from, spans_from};
use crate::telemetry::Telemetry;

/// How long `wait_for*` waits before giving up, unless the builder says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

type OnBatch = Arc<dyn Fn(&Telemetry) + Send + Sync>;

/// Shared between the servers (writers) and the test (reader).
struct Store {
    data: Mutex<Telemetry>,
    requests: Mutex<Vec<ExportRequest>>,
    arrived: Condvar,
    generation: watch::Sender<u64>,
    on_batch: Option<OnBatch>,
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, Telemetry> {
        // A panicking callback must not make every later test read fail.
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // ANCHOR: store-add
    fn add(&self, batch: Telemetry) {
        {
            let mut data = self.lock();
            data.spans.extend(batch.spans.iter().cloned());
            data.metrics.extend(batch.metrics.iter().cloned());
            data.logs.extend(batch.logs.iter().cloned());
        }
        self.changed();
        if let Some(on_batch) = &self.on_batch {
            on_batch(&batch);
        }
    }
    // ANCHOR_END: store-add

    fn reject(&self) {
        self.lock().rejected_requests += 1;
        self.changed();
    }

    fn changed(&self) {
        self.arrived.notify_all();
        self.generation.send_modify(|g| *g += 1);
    }
}

/// One OTLP signal: its request and response messages, where it is served, and how a request
/// becomes items in a [`Telemetry`].
trait Signal: Message + Default + serde::de::DeserializeOwned + Send + 'static {
    type Response: Message + Default + serde::Serialize + Send + 'static;
    const GRPC_PATH: &'static str;
    const HTTP_PATH: &'static str;
    fn flatten(&self, transport: Transport) -> Telemetry;
}

impl Signal for ExportTraceServiceRequest {
    type Response = ExportTraceServiceResponse;
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    const HTTP_PATH: &'static str = "/v1/traces";
    fn flatten(&self, transport: Transport) -> Telemetry {
        Telemetry {
            spans: spans_from(self, transport),
            ..Telemetry::default()
        }
    }
}

impl Signal for ExportMetricsServiceRequest {
    type Response = ExportMetricsServiceResponse;
    const GRPC_PATH: &'static str =
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    const HTTP_PATH: &'static str = "/v1/metrics";
    fn flatten(&self, transport: Transport) -> Telemetry {
        Telemetry {
            metrics: metric_points_from(self, transport),
            ..Telemetry::default()
        }
    }
}

impl Signal for ExportLogsServiceRequest {
    type Response = ExportLogsServiceResponse;
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    const HTTP_PATH: &'static str = "/v1/logs";
    fn flatten(&self, transport: Transport) -> Telemetry {
        Telemetry {
            logs: logs_from(self, transport),
            ..Telemetry::default()
        }
    }
}

// ---- gRPC ------------------------------------------------------------------------------------

/// A protobuf codec that answers undecodable messages with `InvalidArgument`, as the OTLP spec
/// asks, where tonic's stock codec would say `Internal`.
struct OtlpCodec<S>(PhantomData<fn() -> S>);

struct ProtoEncoder<T>(PhantomData<fn(T)>);
struct ProtoDecoder<T>(PhantomData<fn() -> T>);

impl<S: Signal> Codec for OtlpCodec<S> {
    type Encode = S::Response;
    type Decode = S;
    type Encoder = ProtoEncoder<S::Response>;
    type Decoder = ProtoDecoder<S>;

    fn encoder(&mut self) -> Self::Encoder {
        ProtoEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProtoDecoder(PhantomData)
    }
}

impl<T: Message> Encoder for ProtoEncoder<T> {
    type Item = T;
    type Error = tonic::Status;

    fn encode(&mut self, item: T, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(format!("encoding response: {e}")))
    }
}

// ANCHOR: codec
impl<T: Message + Default> Decoder for ProtoDecoder<T> {
    type Item = T;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<T>, tonic::Status> {
        T::decode(src).map(Some).map_err(|e| {
            tonic::Status::invalid_argument(format!("malformed OTLP protobuf payload: {e}"))
        })
    }
}
// ANCHOR_END: codec

struct GrpcIngest<S> {
    store: Arc<Store>,
    signal: PhantomData<fn(S)>,
}

impl<S: Signal> UnaryService<S> for GrpcIngest<S> {
    type Response = S::Response;
    type Future = std::future::Ready<Result<tonic::Response<S::Response>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<S>) -> Self::Future {
        self.store.add(request.get_ref().flatten(Transport::Grpc));
        std::future::ready(Ok(tonic::Response::new(S::Response::default())))
    }
}

// ANCHOR: grpc
async fn grpc_export<S: Signal>(State(store): State<Arc<Store>>, request: Request) -> Response {
    let mut grpc = Grpc::new(OtlpCodec::<S>(PhantomData))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let ingest = GrpcIngest {
        store: store.clone(),
        signal: PhantomData,
    };
    let response = grpc.unary(ingest, request).await;
    // A failed unary call is a "trailers-only" response: the status is in the headers.
    let failed = response
        .headers()
        .get("grpc-status")
        .is_some_and(|code| code != "0");
    if failed {
        store.reject();
    }
    response.map(axum::body::Body::new)
}
// ANCHOR_END: grpc

fn grpc_router(store: Arc<Store>) -> Router {
    Router::new()
        .route(
            ExportTraceServiceRequest::GRPC_PATH,
            post(grpc_export::<ExportTraceServiceRequest>),
        )
        .route(
            ExportMetricsServiceRequest::GRPC_PATH,
            post(grpc_export::<ExportMetricsServiceRequest>),
        )
        .route(
            ExportLogsServiceRequest::GRPC_PATH,
            post(grpc_export::<ExportLogsServiceRequest>),
        )
        .with_state(store)
}

// ---- HTTP ------------------------------------------------------------------------------------

/// `google.rpc.Status`, the body OTLP/HTTP servers send with a 4xx/5xx answer.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC's code for InvalidArgument, which OTLP uses in the status body of a 400.
const INVALID_ARGUMENT: i32 = 3;

#[derive(Clone, Copy)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn from_headers(headers: &HeaderMap) -> Option<Encoding> {
        let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let mime = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match mime.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    fn transport(self) -> Transport {
        match self {
            Encoding::Protobuf => Transport::HttpProtobuf,
            Encoding::Json => Transport::HttpJson,
        }
    }

    fn encode<M: Message + serde::Serialize>(self, message: &M) -> Vec<u8> {
        match self {
            Encoding::Protobuf => message.encode_to_vec(),
            // Serialising a message made of strings and numbers cannot fail.
            Encoding::Json => serde_json::to_vec(message).unwrap_or_default(),
        }
    }

    fn decode<M: Message + Default + serde::de::DeserializeOwned>(
        self,
        body: &[u8],
    ) -> Result<M, String> {
        match self {
            Encoding::Protobuf => M::decode(body).map_err(|e| e.to_string()),
            Encoding::Json => serde_json::from_slice(body).map_err(|e| e.to_string()),
        }
    }

    fn respond<M: Message + serde::Serialize>(self, status: StatusCode, message: &M) -> Response {
        let headers = [(header::CONTENT_TYPE, self.content_type())];
        (status, headers, self.encode(message)).into_response()
    }
}

fn decompress(headers: &HeaderMap, body: Bytes) -> Result<Vec<u8>, String> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "identity" | "" => Ok(body.to_vec()),
        "gzip" => {
            let mut out = Vec::new();
            io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
                .map_err(|e| format!("body is not valid gzip: {e}"))?;
            Ok(out)
        }
        other => Err(format!("unsupported Content-Encoding {other:?}")),
    }
}

// ANCHOR: http
async fn http_export<S: Signal>(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(encoding) = Encoding::from_headers(&headers) else {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "OTLP/HTTP accepts application/x-protobuf or application/json",
        )
            .into_response();
    };
    let decoded = decompress(&headers, body).and_then(|bytes| encoding.decode::<S>(&bytes));
    match decoded {
        Ok(request) => {
            store.add(request.flatten(encoding.transport()));
            encoding.respond(StatusCode::OK, &S::Response::default())
        }
        Err(reason) => {
            store.reject();
            let status = RpcStatus {
                code: INVALID_ARGUMENT,
                message: format!("malformed OTLP payload: {reason}"),
            };
            encoding.respond(StatusCode::BAD_REQUEST, &status)
        }
    }
}
// ANCHOR_END: http

fn http_router(store: Arc<Store>) -> Router {
    Router::new()
        .route(
            ExportTraceServiceRequest::HTTP_PATH,
            post(http_export::<ExportTraceServiceRequest>),
        )
        .route(
            ExportMetricsServiceRequest::HTTP_PATH,
            post(http_export::<ExportMetricsServiceRequest>),
        )
        .route(
            ExportLogsServiceRequest::HTTP_PATH,
            post(http_export::<ExportLogsServiceRequest>),
        )
        .with_state(store)
}

// ---- request records -------------------------------------------------------------------------

/// How one accepted export request crossed the wire: its path, headers and compression, not its
/// content (that is in [`Telemetry`]). [`Receiver::requests`] returns them in arrival order.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportRequest {
    pub transport: Transport,
    /// The request path: `/v1/traces` for OTLP/HTTP, the gRPC method path for gRPC.
    pub path: String,
    /// Request headers with lower-case names (gRPC metadata are HTTP/2 headers). A repeated
    /// header keeps its values joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// The algorithm the body really arrived compressed with: `Content-Encoding` for HTTP;
    /// for gRPC, `grpc-encoding` when the message's compressed flag is set. `None`: uncompressed.
    pub compression: Option<String>,
    /// Size of the request body on the wire (compressed, including gRPC's 5-byte framing).
    pub body_bytes: usize,
}

impl ExportRequest {
    /// The value of header `name` (any case), if the request carried it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map = BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    map
}

/// Wraps both routers: notes the request's facts, and keeps them if the export was accepted.
async fn record_request(State(store): State<Arc<Store>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return (StatusCode::BAD_REQUEST, "cannot read the request body").into_response();
    };
    let headers = header_map(&parts.headers);
    let is_grpc = headers
        .get("content-type")
        .is_some_and(|t| t.starts_with("application/grpc"));
    let transport = if is_grpc {
        Transport::Grpc
    } else if Encoding::from_headers(&parts.headers).is_some_and(|e| matches!(e, Encoding::Json)) {
        Transport::HttpJson
    } else {
        Transport::HttpProtobuf
    };
    let compression = if is_grpc {
        // A gRPC message starts with a compressed flag (1 byte) and its length (4 bytes).
        let flagged = body.first() == Some(&1);
        flagged
            .then(|| headers.get("grpc-encoding").cloned())
            .flatten()
    } else {
        headers
            .get("content-encoding")
            .filter(|e| !e.eq_ignore_ascii_case("identity"))
            .cloned()
    };
    let record = ExportRequest {
        transport,
        path: parts.uri.path().to_string(),
        headers,
        compression,
        body_bytes: body.len(),
    };
    let response = next
        .run(Request::from_parts(parts, axum::body::Body::from(body)))
        .await;
    let grpc_failed = response
        .headers()
        .get("grpc-status")
        .is_some_and(|code| code != "0");
    if response.status().is_success() && !grpc_failed {
        store
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(record);
    }
    response
}

// ---- the receiver ----------------------------------------------------------------------------

/// Where to listen and what to do with each batch.
pub struct ReceiverBuilder {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    timeout: Duration,
    on_batch: Option<OnBatch>,
}

impl Default for ReceiverBuilder {
    fn default() -> Self {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        ReceiverBuilder {
            grpc_addr: any_port,
            http_addr: any_port,
            timeout: DEFAULT_TIMEOUT,
            on_batch: None,
        }
    }
}

impl ReceiverBuilder {
    pub fn grpc_addr(mut self, addr: SocketAddr) -> Self {
        self.grpc_addr = addr;
        self
    }

    pub fn http_addr(mut self, addr: SocketAddr) -> Self {
        self.http_addr = addr;
        self
    }

    /// How long the `wait_for*` methods wait.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Called with every accepted export request, flattened, after it was stored.
    pub fn on_batch(mut self, f: impl Fn(&Telemetry) + Send + Sync + 'static) -> Self {
        self.on_batch = Some(Arc::new(f));
        self
    }

    /// Binds both ports now (so a busy port is an error here, not later) and starts serving.
    pub fn start(self) -> io::Result<Receiver> {
        let bind = |addr: SocketAddr, what: &str| {
            TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot listen for {what} on {addr}: {e}"))
                })
        };
        let grpc = bind(self.grpc_addr, "OTLP/gRPC")?;
        let http = bind(self.http_addr, "OTLP/HTTP")?;
        let grpc_addr = grpc.local_addr()?;
        let http_addr = http.local_addr()?;

        let store = Arc::new(Store {
            data: Mutex::new(Telemetry::default()),
            requests: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            generation: watch::Sender::new(0),
            on_batch: self.on_batch,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let servers_store = store.clone();
        let thread = std::thread::Builder::new()
            .name("otlp-testkit".into())
            .spawn(move || {
                runtime.block_on(serve(grpc, http, servers_store, stopped));
                // Connections still open (exporters keep theirs) must not keep us waiting.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;

        Ok(Receiver {
            grpc_addr,
            http_addr,
            timeout: self.timeout,
            store,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

async fn serve(
    grpc: TcpListener,
    http: TcpListener,
    store: Arc<Store>,
    stopped: oneshot::Receiver<()>,
) {
    let listeners = tokio::net::TcpListener::from_std(grpc)
        .and_then(|g| Ok((g, tokio::net::TcpListener::from_std(http)?)));
    let (grpc, http) = match listeners {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("otlp-testkit: cannot use listening sockets: {e}");
            return;
        }
    };
    let recorded = |router: Router| {
        router.layer(middleware::from_fn_with_state(
            store.clone(),
            record_request,
        ))
    };
    let grpc_server = axum::serve(grpc, recorded(grpc_router(store.clone())));
    let http_server = axum::serve(http, recorded(http_router(store.clone())));
    tokio::select! {
        _ = stopped => {}
        result = grpc_server.into_future() => eprintln!("otlp-testkit: gRPC server stopped: {result:?}"),
        result = http_server.into_future() => eprintln!("otlp-testkit: HTTP server stopped: {result:?}"),
    }
}

/// A running OTLP receiver. Dropping it stops the servers.
pub struct Receiver {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    timeout: Duration,
    store: Arc<Store>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Returned when what a test waited for did not arrive in time.
#[derive(Debug)]
pub struct WaitError {
    pub waited_for: String,
    pub timeout: Duration,
    pub received: Telemetry,
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "waited {:?} for {} but received {} span(s) {:?}, {} metric point(s), {} log record(s), {} rejected request(s)",
            self.timeout,
            self.waited_for,
            self.received.spans.len(),
            self.received.span_names(),
            self.received.metrics.len(),
            self.received.logs.len(),
            self.received.rejected_requests,
        )
    }
}

impl std::error::Error for WaitError {}

impl Receiver {
    /// A receiver on `127.0.0.1`, random free ports, default timeout.
    pub fn start() -> io::Result<Receiver> {
        ReceiverBuilder::default().start()
    }

    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The gRPC endpoint in the form exporters take, `http://127.0.0.1:PORT`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The OTLP/HTTP base URL, `http://127.0.0.1:PORT`, without a signal path: the form of
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The full traces URL, the form an endpoint set in code must have.
    pub fn http_traces_url(&self) -> String {
        format!("{}/v1/traces", self.http_endpoint())
    }

    pub fn http_metrics_url(&self) -> String {
        format!("{}/v1/metrics", self.http_endpoint())
    }

    pub fn http_logs_url(&self) -> String {
        format!("{}/v1/logs", self.http_endpoint())
    }

    /// A copy of everything received so far.
    pub fn snapshot(&self) -> Telemetry {
        self.store.lock().clone()
    }

    /// Every accepted export request so far, in arrival order: path, headers, compression.
    /// A request is recorded before its response is sent, so once an exporter's flush or
    /// shutdown returned `Ok`, its requests are here.
    pub fn requests(&self) -> Vec<ExportRequest> {
        self.store
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    // ANCHOR: wait
    /// Waits until `check` returns `Some` for what has arrived, or the timeout passes.
    /// `what` names the expectation in the error.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&Telemetry) -> Option<T>,
    ) -> Result<T, WaitError> {
        let mut generation = self.store.generation.subscribe();
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(found) = check(&self.store.lock()) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, generation.changed()).await {
                Ok(Ok(())) => continue,
                // The sender lives in `self.store`, so it cannot be gone; a timeout is the end.
                Ok(Err(_)) | Err(_) => return Err(self.wait_error(what)),
            }
        }
    }
    // ANCHOR_END: wait

    /// [`Receiver::wait_for`] for code that is not async.
    pub fn blocking_wait_for<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&Telemetry) -> Option<T>,
    ) -> Result<T, WaitError> {
        let deadline = Instant::now() + self.timeout;
        let mut data = self.store.lock();
        loop {
            if let Some(found) = check(&data) {
                return Ok(found);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(data);
                return Err(self.wait_error(what));
            }
            data = self
                .store
                .arrived
                .wait_timeout(data, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// Waits until at least `n` spans have arrived and returns everything received.
    pub async fn wait_for_spans(&self, n: usize) -> Result<Telemetry, WaitError> {
        self.wait_for(&format!("{n} span(s)"), |t| {
            (t.spans.len() >= n).then(|| t.clone())
        })
        .await
    }

    /// Waits until a point of metric `name` has arrived and returns everything received.
    pub async fn wait_for_metric(&self, name: &str) -> Result<Telemetry, WaitError> {
        self.wait_for(&format!("metric {name:?}"), |t| {
            t.metrics.iter().any(|m| m.name == name).then(|| t.clone())
        })
        .await
    }

    /// Waits until at least `n` log records have arrived and returns everything received.
    pub async fn wait_for_logs(&self, n: usize) -> Result<Telemetry, WaitError> {
        self.wait_for(&format!("{n} log record(s)"), |t| {
            (t.logs.len() >= n).then(|| t.clone())
        })
        .await
    }

    fn wait_error(&self, what: &str) -> WaitError {
        WaitError {
            waited_for: what.to_string(),
            timeout: self.timeout,
            received: self.snapshot(),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
