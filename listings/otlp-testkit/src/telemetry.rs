//! Everything the receiver has been sent so far, and the lookups tests use on it.

use crate::model::{LogRecord, MetricPoint, Span};

/// A snapshot of what arrived: spans, metric points and log records in arrival order.
#[derive(Clone, Debug, Default)]
pub struct Telemetry {
    pub spans: Vec<Span>,
    pub metrics: Vec<MetricPoint>,
    pub logs: Vec<LogRecord>,
    /// Export requests that were refused as malformed (and answered with an OTLP error).
    pub rejected_requests: usize,
}

impl Telemetry {
    pub fn spans_named(&self, name: &str) -> Vec<&Span> {
        self.spans.iter().filter(|s| s.name == name).collect()
    }

    /// The one span called `name`. Panics, listing what did arrive, if there is none or more
    /// than one: in a test that is the failure message you want to read.
    #[track_caller]
    pub fn span(&self, name: &str) -> &Span {
        match self.spans_named(name).as_slice() {
            [one] => one,
            [] => panic!(
                "no span named {name:?}; received {} span(s): {:?}",
                self.spans.len(),
                self.span_names()
            ),
            many => panic!("{} spans named {name:?}, expected one", many.len()),
        }
    }

    pub fn span_names(&self) -> Vec<&str> {
        self.spans.iter().map(|s| s.name.as_str()).collect()
    }

    /// Direct children of `parent`, oldest first.
    pub fn children_of(&self, parent: &Span) -> Vec<&Span> {
        let mut children: Vec<&Span> = self
            .spans
            .iter()
            .filter(|s| s.is_child_of(parent))
            .collect();
        children.sort_by_key(|s| s.start_unix_nano);
        children
    }

    /// Spans that are the root of their trace (no parent at all).
    pub fn roots(&self) -> Vec<&Span> {
        self.spans
            .iter()
            .filter(|s| s.parent_span_id.is_none())
            .collect()
    }

    pub fn trace(&self, trace_id: &str) -> Vec<&Span> {
        self.spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .collect()
    }

    pub fn metric_points(&self, name: &str) -> Vec<&MetricPoint> {
        self.metrics.iter().filter(|m| m.name == name).collect()
    }

    /// The latest point of metric `name` whose attributes include every pair in `attrs`.
    /// Cumulative metrics are re-sent on every collection, so the latest is the current value.
    pub fn metric_point(&self, name: &str, attrs: &[(&str, &str)]) -> Option<&MetricPoint> {
        self.metrics
            .iter()
            .rev()
            .find(|m| m.name == name && m.attributes.contains_all(attrs))
    }

    /// Log records emitted inside `span` (same trace id and span id).
    pub fn logs_of(&self, span: &Span) -> Vec<&LogRecord> {
        self.logs.iter().filter(|l| l.belongs_to(span)).collect()
    }
}

/// Panics with both spans' ids unless `child`'s parent is `parent`.
#[track_caller]
pub fn assert_child_of(child: &Span, parent: &Span) {
    assert!(
        child.is_child_of(parent),
        "span {:?} (trace {}, parent {:?}) is not a child of {:?} (trace {}, span {})",
        child.name,
        child.trace_id,
        child.parent_span_id,
        parent.name,
        parent.trace_id,
        parent.span_id
    );
}

/// Panics unless all spans share one trace id.
#[track_caller]
pub fn assert_same_trace(spans: &[&Span]) {
    if let Some(first) = spans.first() {
        for s in spans {
            assert_eq!(
                s.trace_id, first.trace_id,
                "span {:?} is in trace {} but {:?} is in trace {}",
                s.name, s.trace_id, first.name, first.trace_id
            );
        }
    }
}
