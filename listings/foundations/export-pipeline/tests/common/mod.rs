//! Stand-ins for a Collector that is down or hung.

#![allow(dead_code)] // each test binary uses a part of this module

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// An address nobody listens on: connecting to it is refused at once.
pub fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
    // the listener is dropped here, so the port is closed
}

// ANCHOR: hanging
/// A TCP server that accepts connections and never answers: a Collector that hangs.
pub struct HangingCollector {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HangingCollector {
    pub fn start() -> HangingCollector {
        HangingCollector::start_on("127.0.0.1:0".parse().expect("addr"))
    }

    pub fn start_on(addr: SocketAddr) -> HangingCollector {
        let listener = TcpListener::bind(addr).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, stop) = (accepted.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut open: Vec<TcpStream> = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            open.push(stream); // kept open, never read, never answered
                            accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
                // Dropping `open` and `listener` closes every connection and the port.
            })
        };
        HangingCollector {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits (at most 10 s) until an exporter has connected, that is, an export has started.
    pub fn wait_for_connection(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.accepted.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "no exporter connected");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Closes the port and every connection.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
// ANCHOR_END: hanging

impl Drop for HangingCollector {
    fn drop(&mut self) {
        self.shut();
    }
}
