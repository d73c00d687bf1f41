//! The sidecar: an OTLP/gRPC receiver on loopback that adds resource attributes to everything
//! it receives (traces, metrics, logs) and forwards it to the back end.

use std::env::VarError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_semantic_conventions::resource::SERVICE_NAME;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status};

/// Where the sidecar listens, where it forwards to, and what it adds.
#[derive(Clone, Debug)]
pub struct SidecarConfig {
    /// The loopback address the application exports to (port 0: any free port).
    pub listen: SocketAddr,
    /// The back end's OTLP/gRPC endpoint, `http://host:port`.
    pub upstream: String,
    /// Resource attributes to add to every batch, unless the application set the key itself.
    pub resource: Vec<KeyValue>,
}

// ANCHOR: config
impl SidecarConfig {
    /// `SIDECAR_LISTEN_ADDR` (default `127.0.0.1:4317`, the address the application's
    /// exporter uses by default), `SIDECAR_UPSTREAM_ENDPOINT` (required: forwarding to our own
    /// address would be a loop) and `SIDECAR_RESOURCE_ATTRIBUTES` (`key=value,key=value`, in
    /// a pod typically filled from the Kubernetes downward API).
    pub fn from_env() -> anyhow::Result<SidecarConfig> {
        SidecarConfig::from_lookup(|key| std::env::var(key))
    }

    /// The same, reading each variable through `lookup`. Only a variable that is not set
    /// takes the default; one that is set but not UTF-8, or does not parse, is an error.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Result<String, VarError>,
    ) -> anyhow::Result<SidecarConfig> {
        let var = |key: &str| match lookup(key) {
            Ok(value) => Ok(Some(value)),
            Err(VarError::NotPresent) => Ok(None),
            Err(VarError::NotUnicode(value)) => Err(anyhow!("{key}={value:?} is not UTF-8")),
        };
        let listen = match var("SIDECAR_LISTEN_ADDR")? {
            Some(addr) => addr
                .parse()
                .with_context(|| format!("SIDECAR_LISTEN_ADDR={addr:?} is not an address"))?,
            None => SocketAddr::from(([127, 0, 0, 1], 4317)),
        };
        let upstream = var("SIDECAR_UPSTREAM_ENDPOINT")?.context(
            "SIDECAR_UPSTREAM_ENDPOINT must name the back end, e.g. http://collector:4317",
        )?;
        check_endpoint(&upstream).context("SIDECAR_UPSTREAM_ENDPOINT")?;
        let resource = parse_attributes(&var("SIDECAR_RESOURCE_ATTRIBUTES")?.unwrap_or_default())
            .context("SIDECAR_RESOURCE_ATTRIBUTES")?;
        Ok(SidecarConfig {
            listen,
            upstream,
            resource,
        })
    }
}
// ANCHOR_END: config

/// An OTLP/gRPC endpoint this build can connect to: `http://host:port` (no TLS).
fn check_endpoint(endpoint: &str) -> anyhow::Result<()> {
    let parsed = Endpoint::from_shared(endpoint.to_owned())
        .with_context(|| format!("{endpoint:?} is not a URL"))?;
    let uri = parsed.uri();
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        bail!("{endpoint:?} is not http://host:port");
    }
    Ok(())
}

/// Parses `key=value,key=value` (the format of `OTEL_RESOURCE_ATTRIBUTES`, without its
/// percent-decoding) into string attributes.
pub fn parse_attributes(text: &str) -> anyhow::Result<Vec<KeyValue>> {
    let mut attributes = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("{pair:?} is not key=value");
        };
        let key = key.trim();
        if key.is_empty() {
            bail!("{pair:?} has an empty key");
        }
        attributes.push(string_attribute(key, value.trim()));
    }
    Ok(attributes)
}

/// A string-valued OTLP attribute.
pub fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

// ANCHOR: enrich
/// Adds every attribute of `added` whose key the resource does not have yet, and returns the
/// keys it added. What the application set about itself wins; the sidecar only fills in what
/// the application cannot know (which pod, which namespace, which environment).
pub fn enrich<'a>(resource: &mut Option<Resource>, added: &'a [KeyValue]) -> Vec<&'a str> {
    let resource = resource.get_or_insert_with(Resource::default);
    let mut keys = Vec::new();
    for attribute in added {
        if !resource.attributes.iter().any(|a| a.key == attribute.key) {
            resource.attributes.push(attribute.clone());
            keys.push(attribute.key.as_str());
        }
    }
    keys
}
// ANCHOR_END: enrich

/// The gRPC services: enrich, then forward on one shared connection to the back end.
#[derive(Clone)]
struct Forwarder {
    added: Arc<[KeyValue]>,
    upstream: Channel,
}

// ANCHOR: forward
#[tonic::async_trait]
impl TraceService for Forwarder {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut batch = request.into_inner();
        for resource_spans in &mut batch.resource_spans {
            let keys = enrich(&mut resource_spans.resource, &self.added);
            log_batch("traces", &resource_spans.resource, &keys);
        }
        // No queue here: the back end's answer, success or error, is the application's answer.
        TraceServiceClient::new(self.upstream.clone())
            .export(batch)
            .await
            .map_err(|status| upstream_failed("traces", status))
    }
}
// ANCHOR_END: forward

#[tonic::async_trait]
impl MetricsService for Forwarder {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let mut batch = request.into_inner();
        for resource_metrics in &mut batch.resource_metrics {
            let keys = enrich(&mut resource_metrics.resource, &self.added);
            log_batch("metrics", &resource_metrics.resource, &keys);
        }
        MetricsServiceClient::new(self.upstream.clone())
            .export(batch)
            .await
            .map_err(|status| upstream_failed("metrics", status))
    }
}

#[tonic::async_trait]
impl LogsService for Forwarder {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let mut batch = request.into_inner();
        for resource_logs in &mut batch.resource_logs {
            let keys = enrich(&mut resource_logs.resource, &self.added);
            log_batch("logs", &resource_logs.resource, &keys);
        }
        LogsServiceClient::new(self.upstream.clone())
            .export(batch)
            .await
            .map_err(|status| upstream_failed("logs", status))
    }
}

/// One debug line a batch: whose it is and what was added.
fn log_batch(signal: &str, resource: &Option<Resource>, added: &[&str]) {
    let service = resource
        .iter()
        .flat_map(|r| &r.attributes)
        .find(|a| a.key == SERVICE_NAME)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            any_value::Value::StringValue(s) => s.as_str(),
            _ => "?",
        })
        .unwrap_or("?");
    tracing::debug!(signal, service, ?added, "forwarding a batch");
}

// ANCHOR: upstream-failed
/// The back end refused or could not be reached: keep the gRPC code (the application's exporter
/// decides from it whether a retry makes sense), the details and metadata (a `RetryInfo` in the
/// details says how long to wait) and say where it failed.
fn upstream_failed(signal: &str, status: Status) -> Status {
    tracing::warn!(signal, code = ?status.code(), "forwarding to the back end failed: {}", status.message());
    Status::with_details_and_metadata(
        status.code(),
        format!(
            "sidecar could not forward {signal} to the back end: {}",
            status.message()
        ),
        status.details().to_vec().into(),
        status.metadata().clone(),
    )
}
// ANCHOR_END: upstream-failed

/// A running sidecar; [`Sidecar::stop`] ends it.
pub struct Sidecar {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Sidecar {
    // ANCHOR: start
    /// Binds `config.listen` now (a busy port is an error here) and serves until stopped.
    /// The connection to the back end is lazy: the sidecar starts even when the back end is
    /// down, and reconnects on the next export once it is back.
    pub async fn start(config: &SidecarConfig) -> anyhow::Result<Sidecar> {
        let upstream = Endpoint::from_shared(config.upstream.clone())
            .with_context(|| format!("{:?} is not a valid endpoint", config.upstream))?
            .connect_timeout(Duration::from_secs(1))
            // Below the application exporter's own 10 s timeout, so the application gets our
            // error instead of timing out itself.
            .timeout(Duration::from_secs(5))
            .connect_lazy();
        let forwarder = Forwarder {
            added: config.resource.clone().into(),
            upstream,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding the sidecar to {}", config.listen))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::builder()
            .add_service(TraceServiceServer::new(forwarder.clone()))
            .add_service(MetricsServiceServer::new(forwarder.clone()))
            .add_service(LogsServiceServer::new(forwarder))
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = stopped.await;
            });
        let task = tokio::spawn(server);
        Ok(Sidecar { addr, stop, task })
    }
    // ANCHOR_END: start

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint the application exports to, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, closes the open connections and waits for the server to end.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .context("the sidecar task panicked")?
            .context("the sidecar server failed")
    }

    /// Waits until the server ends by itself (it only does on an error).
    pub async fn run(self) -> anyhow::Result<()> {
        let Sidecar { stop, task, .. } = self;
        let result = task.await;
        drop(stop);
        result
            .context("the sidecar task panicked")?
            .context("the sidecar server failed")
    }
}
