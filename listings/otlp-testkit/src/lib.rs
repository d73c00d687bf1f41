//! An in-process OTLP receiver for tests: real OTLP/gRPC and OTLP/HTTP (protobuf and JSON)
//! servers on `127.0.0.1`, and a small API to wait for and look at what arrived.
//!
//! The chapter 《测试你的遥测》 explains how it works and how to use it.

mod model;
mod receiver;
pub mod render;
mod telemetry;

pub use model::{
    Attributes, LogRecord, MetricKind, MetricPoint, PointValue, Span, SpanEvent, SpanKind,
    SpanLink, SpanStatus, Transport, Value,
};
pub use receiver::{DEFAULT_TIMEOUT, ExportRequest, Receiver, ReceiverBuilder, WaitError};
pub use telemetry::{Telemetry, assert_child_of, assert_same_trace};
