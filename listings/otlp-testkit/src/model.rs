//! What the receiver keeps: OTLP requests flattened into spans, metric points and log records
//! that carry their resource and scope with them, so a test can look at one item without walking
//! the `ResourceSpans` → `ScopeSpans` → `Span` nesting of the wire format.

use std::collections::BTreeMap;
use std::fmt;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, HistogramDataPoint, NumberDataPoint, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status};

/// How a batch reached the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

/// An attribute value, as OTLP's `AnyValue`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Map(Attributes),
    /// The sender set the key but no value.
    Empty,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn from_proto(value: Option<&AnyValue>) -> Value {
        let Some(inner) = value.and_then(|v| v.value.as_ref()) else {
            return Value::Empty;
        };
        match inner {
            any_value::Value::StringValue(s) => Value::String(s.clone()),
            any_value::Value::BoolValue(b) => Value::Bool(*b),
            any_value::Value::IntValue(i) => Value::Int(*i),
            any_value::Value::DoubleValue(d) => Value::Double(*d),
            any_value::Value::BytesValue(b) => Value::Bytes(b.clone()),
            any_value::Value::ArrayValue(a) => Value::Array(
                a.values
                    .iter()
                    .map(|v| Value::from_proto(Some(v)))
                    .collect(),
            ),
            any_value::Value::KvlistValue(kv) => Value::Map(attributes(&kv.values)),
            // Dictionary-encoded strings only appear in profiles, which we do not receive.
            any_value::Value::StringValueStrindex(i) => Value::String(format!("<strindex {i}>")),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => write!(f, "{s:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Bytes(b) => write!(f, "0x{}", hex(b)),
            Value::Array(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
            Value::Map(map) => write!(f, "{{{map}}}"),
            Value::Empty => write!(f, "<empty>"),
        }
    }
}

/// Attributes keyed by name, in name order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attributes(pub BTreeMap<String, Value>);

impl Attributes {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// The value of a string attribute, `None` if it is missing or not a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn i64(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_i64)
    }

    /// True when every `(key, value)` pair is present with a string value equal to `value`.
    pub fn contains_all(&self, pairs: &[(&str, &str)]) -> bool {
        pairs.iter().all(|(k, v)| self.str(k) == Some(*v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

fn attributes(kvs: &[KeyValue]) -> Attributes {
    Attributes(
        kvs.iter()
            .map(|kv| (kv.key.clone(), Value::from_proto(kv.value.as_ref())))
            .collect(),
    )
}

fn resource_attributes(resource: Option<&Resource>) -> Attributes {
    resource
        .map(|r| attributes(&r.attributes))
        .unwrap_or_default()
}

fn scope_name(scope: Option<&InstrumentationScope>) -> String {
    scope.map(|s| s.name.clone()).unwrap_or_default()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Empty or all-zero ids mean "no id" in OTLP.
fn optional_id(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(|b| *b == 0) {
        None
    } else {
        Some(hex(bytes))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    fn from_proto(kind: i32) -> SpanKind {
        match span::SpanKind::try_from(kind) {
            Ok(span::SpanKind::Internal) => SpanKind::Internal,
            Ok(span::SpanKind::Server) => SpanKind::Server,
            Ok(span::SpanKind::Client) => SpanKind::Client,
            Ok(span::SpanKind::Producer) => SpanKind::Producer,
            Ok(span::SpanKind::Consumer) => SpanKind::Consumer,
            Ok(span::SpanKind::Unspecified) | Err(_) => SpanKind::Unspecified,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpanStatus {
    Unset,
    Ok,
    Error(String),
}

impl SpanStatus {
    fn from_proto(status: Option<&opentelemetry_proto::tonic::trace::v1::Status>) -> SpanStatus {
        let Some(status) = status else {
            return SpanStatus::Unset;
        };
        match status::StatusCode::try_from(status.code) {
            Ok(status::StatusCode::Ok) => SpanStatus::Ok,
            Ok(status::StatusCode::Error) => SpanStatus::Error(status.message.clone()),
            _ => SpanStatus::Unset,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpanEvent {
    pub name: String,
    pub attributes: Attributes,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpanLink {
    pub trace_id: String,
    pub span_id: String,
    pub attributes: Attributes,
}

/// One span as received, with the resource and scope it was sent under.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    /// The W3C `tracestate` of the span (`key=value` pairs, comma-separated), empty if none.
    pub trace_state: String,
    pub kind: SpanKind,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub attributes: Attributes,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
    pub status: SpanStatus,
    pub resource: Attributes,
    pub scope: String,
    pub transport: Transport,
}

impl Span {
    /// `service.name` from the resource, empty if the sender set none.
    pub fn service_name(&self) -> &str {
        self.resource.str("service.name").unwrap_or("")
    }

    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.end_unix_nano.saturating_sub(self.start_unix_nano))
    }

    pub fn is_child_of(&self, parent: &Span) -> bool {
        self.trace_id == parent.trace_id && self.parent_span_id.as_deref() == Some(&parent.span_id)
    }

    pub fn event(&self, name: &str) -> Option<&SpanEvent> {
        self.events.iter().find(|e| e.name == name)
    }
}

pub(crate) fn spans_from(request: &ExportTraceServiceRequest, transport: Transport) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        let resource = resource_attributes(rs.resource.as_ref());
        for ss in &rs.scope_spans {
            let scope = scope_name(ss.scope.as_ref());
            for s in &ss.spans {
                out.push(Span {
                    name: s.name.clone(),
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: optional_id(&s.parent_span_id),
                    trace_state: s.trace_state.clone(),
                    kind: SpanKind::from_proto(s.kind),
                    start_unix_nano: s.start_time_unix_nano,
                    end_unix_nano: s.end_time_unix_nano,
                    attributes: attributes(&s.attributes),
                    events: s
                        .events
                        .iter()
                        .map(|e| SpanEvent {
                            name: e.name.clone(),
                            attributes: attributes(&e.attributes),
                        })
                        .collect(),
                    links: s
                        .links
                        .iter()
                        .map(|l| SpanLink {
                            trace_id: hex(&l.trace_id),
                            span_id: hex(&l.span_id),
                            attributes: attributes(&l.attributes),
                        })
                        .collect(),
                    status: SpanStatus::from_proto(s.status.as_ref()),
                    resource: resource.clone(),
                    scope: scope.clone(),
                    transport,
                });
            }
        }
    }
    out
}

/// The value of one metric data point.
#[derive(Clone, Debug, PartialEq)]
pub enum PointValue {
    Int(i64),
    Double(f64),
    Histogram {
        count: u64,
        sum: Option<f64>,
        bounds: Vec<f64>,
        bucket_counts: Vec<u64>,
    },
    /// Exponential histograms and summaries: only the count and sum are kept.
    Summary {
        count: u64,
        sum: f64,
    },
}

impl PointValue {
    /// The value as a float for sums and gauges, `None` for distributions.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PointValue::Int(i) => Some(*i as f64),
            PointValue::Double(d) => Some(*d),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// A sum; `monotonic` for counters, not for up-down counters.
    Sum {
        monotonic: bool,
        cumulative: bool,
    },
    Gauge,
    Histogram {
        cumulative: bool,
    },
    ExponentialHistogram {
        cumulative: bool,
    },
    Summary,
}

/// One data point of one metric, with the metric's identity and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricPoint {
    pub name: String,
    pub description: String,
    pub unit: String,
    pub kind: MetricKind,
    pub attributes: Attributes,
    pub value: PointValue,
    pub time_unix_nano: u64,
    pub resource: Attributes,
    pub scope: String,
    pub transport: Transport,
}

fn is_cumulative(temporality: i32) -> bool {
    temporality == AggregationTemporality::Cumulative as i32
}

fn number_value(p: &NumberDataPoint) -> PointValue {
    match p.value {
        Some(number_data_point::Value::AsInt(i)) => PointValue::Int(i),
        Some(number_data_point::Value::AsDouble(d)) => PointValue::Double(d),
        None => PointValue::Double(f64::NAN),
    }
}

fn histogram_value(p: &HistogramDataPoint) -> PointValue {
    PointValue::Histogram {
        count: p.count,
        sum: p.sum,
        bounds: p.explicit_bounds.clone(),
        bucket_counts: p.bucket_counts.clone(),
    }
}

pub(crate) fn metric_points_from(
    request: &ExportMetricsServiceRequest,
    transport: Transport,
) -> Vec<MetricPoint> {
    let mut out = Vec::new();
    for rm in &request.resource_metrics {
        let resource = resource_attributes(rm.resource.as_ref());
        for sm in &rm.scope_metrics {
            let scope = scope_name(sm.scope.as_ref());
            for m in &sm.metrics {
                // (kind, attributes, value, time) for every point of this metric.
                let points: Vec<(MetricKind, &[KeyValue], PointValue, u64)> = match &m.data {
                    Some(metric::Data::Sum(s)) => {
                        let kind = MetricKind::Sum {
                            monotonic: s.is_monotonic,
                            cumulative: is_cumulative(s.aggregation_temporality),
                        };
                        s.data_points
                            .iter()
                            .map(|p| (kind, &p.attributes[..], number_value(p), p.time_unix_nano))
                            .collect()
                    }
                    Some(metric::Data::Gauge(g)) => g
                        .data_points
                        .iter()
                        .map(|p| {
                            let value = number_value(p);
                            (
                                MetricKind::Gauge,
                                &p.attributes[..],
                                value,
                                p.time_unix_nano,
                            )
                        })
                        .collect(),
                    Some(metric::Data::Histogram(h)) => {
                        let kind = MetricKind::Histogram {
                            cumulative: is_cumulative(h.aggregation_temporality),
                        };
                        h.data_points
                            .iter()
                            .map(|p| {
                                (
                                    kind,
                                    &p.attributes[..],
                                    histogram_value(p),
                                    p.time_unix_nano,
                                )
                            })
                            .collect()
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        let kind = MetricKind::ExponentialHistogram {
                            cumulative: is_cumulative(h.aggregation_temporality),
                        };
                        h.data_points
                            .iter()
                            .map(|p| {
                                let value = PointValue::Summary {
                                    count: p.count,
                                    sum: p.sum.unwrap_or(0.0),
                                };
                                (kind, &p.attributes[..], value, p.time_unix_nano)
                            })
                            .collect()
                    }
                    Some(metric::Data::Summary(s)) => s
                        .data_points
                        .iter()
                        .map(|p| {
                            let value = PointValue::Summary {
                                count: p.count,
                                sum: p.sum,
                            };
                            (
                                MetricKind::Summary,
                                &p.attributes[..],
                                value,
                                p.time_unix_nano,
                            )
                        })
                        .collect(),
                    None => Vec::new(),
                };
                for (kind, attrs, value, time_unix_nano) in points {
                    out.push(MetricPoint {
                        name: m.name.clone(),
                        description: m.description.clone(),
                        unit: m.unit.clone(),
                        kind,
                        attributes: attributes(attrs),
                        value,
                        time_unix_nano,
                        resource: resource.clone(),
                        scope: scope.clone(),
                        transport,
                    });
                }
            }
        }
    }
    out
}

// ANCHOR: log-record
/// One log record, with the trace and span it was emitted in (if any).
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    pub body: Value,
    pub severity_text: String,
    pub severity_number: i32,
    pub event_name: String,
    pub attributes: Attributes,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub time_unix_nano: u64,
    pub resource: Attributes,
    pub scope: String,
    pub transport: Transport,
}

impl LogRecord {
    /// True when the record carries exactly this span's trace and span ids.
    pub fn belongs_to(&self, span: &Span) -> bool {
        self.trace_id.as_deref() == Some(&span.trace_id)
            && self.span_id.as_deref() == Some(&span.span_id)
    }
}
// ANCHOR_END: log-record

pub(crate) fn logs_from(
    request: &ExportLogsServiceRequest,
    transport: Transport,
) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for rl in &request.resource_logs {
        let resource = resource_attributes(rl.resource.as_ref());
        for sl in &rl.scope_logs {
            let scope = scope_name(sl.scope.as_ref());
            for r in &sl.log_records {
                out.push(LogRecord {
                    body: Value::from_proto(r.body.as_ref()),
                    severity_text: r.severity_text.clone(),
                    severity_number: r.severity_number,
                    event_name: r.event_name.clone(),
                    attributes: attributes(&r.attributes),
                    trace_id: optional_id(&r.trace_id),
                    span_id: optional_id(&r.span_id),
                    time_unix_nano: r.time_unix_nano,
                    resource: resource.clone(),
                    scope: scope.clone(),
                    transport,
                });
            }
        }
    }
    out
}
