//! Malformed payloads get the error OTLP prescribes (HTTP 400 with a `google.rpc.Status` body,
//! gRPC `InvalidArgument`), are counted, and the receiver keeps serving.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::{assert_known_tree, export_known_tree, grpc_exporter, http_exporter, provider};
use opentelemetry_otlp::Protocol;
use otlp_testkit::Receiver;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Sends one HTTP/1.1 POST and returns (status code, body).
fn post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
    post_with(addr, path, content_type, "", body)
}

/// [`post`] with extra header lines (each ending in `\r\n`).
fn post_with(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    extra_headers: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let status_line = String::from_utf8_lossy(&response[..split]).to_string();
    let code = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (code, response[split + 4..].to_vec())
}

/// The `google.rpc.Status` message, decoded from a 400 answer.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

const GARBAGE: &[u8] = b"\xff\xff\xff\xff not a protobuf message";

#[test]
fn http_rejects_malformed_payloads_and_keeps_serving() {
    let receiver = Receiver::start().unwrap();
    let addr = receiver.http_addr();

    let (code, body) = post(addr, "/v1/traces", "application/x-protobuf", GARBAGE);
    assert_eq!(code, 400);
    let status =
        <RpcStatus as prost::Message>::decode(&body[..]).expect("a google.rpc.Status body");
    assert_eq!(status.code, 3, "InvalidArgument");
    assert!(
        status.message.contains("malformed OTLP payload"),
        "{}",
        status.message
    );

    let (code, body) = post(
        addr,
        "/v1/traces",
        "application/json",
        b"{\"resourceSpans\": 7}",
    );
    assert_eq!(code, 400);
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("\"code\":3"), "{body}");

    let (code, _) = post(addr, "/v1/logs", "text/plain", b"hello");
    assert_eq!(code, 415, "unsupported media type");

    // Still serving: a real exporter's spans arrive after the bad requests.
    let url = receiver.http_traces_url();
    export_known_tree(provider(http_exporter(url, Protocol::HttpBinary, false)));
    let received = receiver.snapshot();
    assert_known_tree(&received);
    assert_eq!(received.rejected_requests, 2);
    // Only the accepted export is in the request records.
    let paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/traces"]);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn http_decompresses_gzip_bodies_and_rejects_broken_ones() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    let receiver = Receiver::start().unwrap();
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "zipped".into(),
        ..Span::default()
    };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let body = gzip(&prost::Message::encode_to_vec(&request));
    let gzip_header = "Content-Encoding: gzip\r\n";
    let protobuf = "application/x-protobuf";

    let (code, _) = post_with(
        receiver.http_addr(),
        "/v1/traces",
        protobuf,
        gzip_header,
        &body,
    );
    assert_eq!(code, 200);
    assert_eq!(receiver.snapshot().span_names(), ["zipped"]);

    let (code, _) = post_with(
        receiver.http_addr(),
        "/v1/traces",
        protobuf,
        gzip_header,
        b"plain",
    );
    assert_eq!(code, 400, "a body that claims gzip but is not");
    assert_eq!(receiver.snapshot().rejected_requests, 1);
}

/// A gRPC codec that sends raw bytes as the request message.
#[derive(Default)]
struct RawBytes;

impl Codec for RawBytes {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawBytes;
    type Decoder = RawBytes;

    fn encoder(&mut self) -> RawBytes {
        RawBytes
    }

    fn decoder(&mut self) -> RawBytes {
        RawBytes
    }
}

impl Encoder for RawBytes {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl Decoder for RawBytes {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = bytes::Buf::copy_to_bytes(src, bytes::Buf::remaining(src));
        Ok(Some(bytes.to_vec()))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_rejects_malformed_payloads_with_invalid_argument() {
    let receiver = Receiver::start().unwrap();
    let channel = tonic::transport::Endpoint::from_shared(receiver.grpc_endpoint())
        .unwrap()
        .connect()
        .await
        .expect("connect to the receiver");
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let path = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        .parse()
        .unwrap();
    let status = client
        .unary(tonic::Request::new(GARBAGE.to_vec()), path, RawBytes)
        .await
        .expect_err("garbage must be refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("malformed OTLP protobuf"),
        "{}",
        status.message()
    );

    export_known_tree(provider(grpc_exporter(receiver.grpc_endpoint(), false)));
    let received = receiver.snapshot();
    assert_known_tree(&received);
    assert_eq!(received.rejected_requests, 1);
}
