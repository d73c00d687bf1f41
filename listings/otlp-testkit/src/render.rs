//! Human-readable text for received telemetry: the format the `otlp-testkit` binary prints.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;
use std::time::Duration;

use crate::model::{Attributes, LogRecord, MetricKind, MetricPoint, PointValue, Span, SpanStatus};

/// Attributes that `tracing-opentelemetry` adds to every span. They are true but say little
/// about the request, so the tree leaves them out.
const QUIET_ATTRIBUTES: &[&str] = &[
    "code.file.path",
    "code.filepath",
    "code.line.number",
    "code.lineno",
    "code.module.name",
    "code.namespace",
    "thread.id",
    "thread.name",
    "busy_ns",
    "idle_ns",
    "target",
    "level",
];

fn shown(attributes: &Attributes) -> String {
    let mut kept = attributes.clone();
    kept.0
        .retain(|k, _| !QUIET_ATTRIBUTES.contains(&k.as_str()));
    kept.to_string()
}

fn duration(d: Duration) -> String {
    if d >= Duration::from_millis(1) {
        format!("{:.2}ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{}µs", d.as_micros())
    }
}

fn span_line(out: &mut String, span: &Span, depth: usize) {
    let indent = "  ".repeat(depth + 1);
    let status = match &span.status {
        SpanStatus::Unset => String::new(),
        SpanStatus::Ok => " OK".to_string(),
        SpanStatus::Error(msg) if msg.is_empty() => " ERROR".to_string(),
        SpanStatus::Error(msg) => format!(" ERROR({msg})"),
    };
    let attrs = shown(&span.attributes);
    let _ = write!(
        out,
        "{indent}{} [{}] {}{status}",
        span.name,
        span.kind.as_str(),
        duration(span.duration())
    );
    if !attrs.is_empty() {
        let _ = write!(out, "  {attrs}");
    }
    out.push('\n');
    for event in &span.events {
        let attrs = shown(&event.attributes);
        let _ = writeln!(out, "{indent}  · {} {attrs}", event.name);
    }
    for link in &span.links {
        let _ = write!(out, "{indent}  ↪ link {}/{}", link.trace_id, link.span_id);
        if !link.attributes.is_empty() {
            let _ = write!(out, " {}", link.attributes);
        }
        out.push('\n');
    }
}

/// Spans grouped by trace (in order of first arrival), each trace drawn as an indented tree.
/// A span whose parent is not among `spans` (a remote parent, or one not exported yet) is drawn
/// as a root and marked with the parent's id.
pub fn span_trees(spans: &[Span]) -> String {
    let mut traces: Vec<&str> = Vec::new();
    for s in spans {
        if !traces.contains(&s.trace_id.as_str()) {
            traces.push(&s.trace_id);
        }
    }
    let mut out = String::new();
    for trace_id in traces {
        let members: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
        let ids: HashSet<&str> = members.iter().map(|s| s.span_id.as_str()).collect();
        let mut children: BTreeMap<&str, Vec<&Span>> = BTreeMap::new();
        let mut roots = Vec::new();
        for s in &members {
            match s.parent_span_id.as_deref() {
                Some(parent) if ids.contains(parent) => children.entry(parent).or_default().push(s),
                _ => roots.push(*s),
            }
        }
        roots.sort_by_key(|s| s.start_unix_nano);
        let _ = writeln!(
            out,
            "trace {trace_id}  service.name={:?}",
            members[0].service_name()
        );
        let mut stack: Vec<(&Span, usize)> = roots.into_iter().rev().map(|s| (s, 0)).collect();
        while let Some((span, depth)) = stack.pop() {
            span_line(&mut out, span, depth);
            if let (0, Some(parent)) = (depth, &span.parent_span_id) {
                let _ = writeln!(out, "    (parent {parent} is remote or not received)");
            }
            if let Some(kids) = children.get_mut(span.span_id.as_str()) {
                kids.sort_by_key(|s| s.start_unix_nano);
                stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
            }
        }
    }
    out
}

fn point_value(value: &PointValue) -> String {
    match value {
        PointValue::Int(i) => i.to_string(),
        PointValue::Double(d) => d.to_string(),
        PointValue::Histogram {
            count,
            sum,
            bounds,
            bucket_counts,
        } => {
            let sum = sum.map_or("-".to_string(), |s| s.to_string());
            format!("count={count} sum={sum} bounds={bounds:?} buckets={bucket_counts:?}")
        }
        PointValue::Summary { count, sum } => format!("count={count} sum={sum}"),
    }
}

fn kind(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Sum {
            monotonic: true, ..
        } => "counter",
        MetricKind::Sum {
            monotonic: false, ..
        } => "updown",
        MetricKind::Gauge => "gauge",
        MetricKind::Histogram { .. } => "histogram",
        MetricKind::ExponentialHistogram { .. } => "exp-histogram",
        MetricKind::Summary => "summary",
    }
}

/// One line a point: `metric NAME (KIND, UNIT) {ATTRS} = VALUE`.
pub fn metric_lines(points: &[MetricPoint]) -> String {
    let mut out = String::new();
    for p in points {
        let unit = if p.unit.is_empty() {
            String::new()
        } else {
            format!(", {}", p.unit)
        };
        let _ = writeln!(
            out,
            "metric {} ({}{unit}) {{{}}} = {}",
            p.name,
            kind(p.kind),
            p.attributes,
            point_value(&p.value)
        );
    }
    out
}

/// One line a record: `log SEVERITY BODY  trace=… span=…  ATTRS`.
pub fn log_lines(records: &[LogRecord]) -> String {
    let mut out = String::new();
    for r in records {
        let severity = if r.severity_text.is_empty() {
            "-"
        } else {
            &r.severity_text
        };
        let _ = write!(out, "log {severity} {}", r.body);
        if let (Some(trace), Some(span)) = (&r.trace_id, &r.span_id) {
            let _ = write!(out, "  trace={trace} span={span}");
        }
        let attrs = shown(&r.attributes);
        if !attrs.is_empty() {
            let _ = write!(out, "  {attrs}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SpanKind, SpanLink, Transport, Value};

    #[test]
    fn links_are_drawn_under_their_span_with_attributes() {
        let link = |span_id: &str, attributes: &[(&str, &str)]| SpanLink {
            trace_id: "aa".repeat(16),
            span_id: span_id.to_string(),
            attributes: Attributes(
                attributes
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                    .collect(),
            ),
        };
        let span = Span {
            name: "batch".into(),
            trace_id: "bb".repeat(16),
            span_id: "cc".repeat(8),
            parent_span_id: None,
            trace_state: String::new(),
            kind: SpanKind::Consumer,
            start_unix_nano: 1_000,
            end_unix_nano: 3_000,
            attributes: Attributes::default(),
            events: Vec::new(),
            links: vec![
                link(&"01".repeat(8), &[]),
                link(&"02".repeat(8), &[("id", "m-2")]),
            ],
            status: SpanStatus::Unset,
            resource: Attributes::default(),
            scope: String::new(),
            transport: Transport::Grpc,
        };
        let text = span_trees(&[span]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "  batch [consumer] 2µs");
        let trace = "aa".repeat(16);
        assert_eq!(lines[2], format!("    ↪ link {trace}/{}", "01".repeat(8)));
        assert_eq!(
            lines[3],
            format!("    ↪ link {trace}/{} id=\"m-2\"", "02".repeat(8))
        );
        assert_eq!(lines.len(), 4);
    }
}
