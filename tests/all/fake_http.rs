//! The HTTP/1.1 server under the std-thread fakes (cargo, go, pypi): one
//! thread per connection, `connection: close`, a count of requests per path,
//! and a stop when dropped. Each fake only says what a request gets.
//!
//! ```ignore
//! let listener = Listener::bind();
//! let origin = format!("http://{}", listener.addr()); // for absolute links
//! let server = listener.serve(move |request| Reply::ok("text/plain", b"hi".to_vec()));
//! assert_eq!(server.hits("/"), 0);
//! ```

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Requests with a head larger than this are dropped unanswered.
const MAX_HEAD: usize = 64 * 1024;

/// One request as a fake sees it.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The target without its query.
    pub path: String,
    /// The whole head: request line and headers.
    head: String,
}

impl Request {
    /// The value of header `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim())
    }
}

/// What a fake answers: `content-length` and `connection: close` are added,
/// and a HEAD request gets the head only.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Send only this many bytes of the body, then close: a transfer cut
    /// short (the declared length stays the whole body's).
    pub cut_after: Option<usize>,
    /// Send the body one byte per this interval: a dripping upstream. It
    /// stops when the client goes away.
    pub drip: Option<Duration>,
}

impl Reply {
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Self {
        Reply {
            status: 200,
            content_type,
            headers: Vec::new(),
            body,
            cut_after: None,
            drip: None,
        }
    }

    pub fn not_found() -> Self {
        Reply {
            status: 404,
            content_type: "text/plain",
            headers: Vec::new(),
            body: b"not found\n".to_vec(),
            cut_after: None,
            drip: None,
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: String) -> Self {
        Reply {
            status,
            headers: vec![("location", location)],
            body: Vec::new(),
            ..Reply::not_found()
        }
    }
}

/// Path → (content type, body): what a fake of static files serves.
pub type Files = HashMap<String, (&'static str, Vec<u8>)>;

/// A bound port that answers nothing yet, so a fake can write its own
/// address into what it serves.
pub struct Listener(TcpListener);

impl Listener {
    pub fn bind() -> Self {
        Listener(TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
    }

    pub fn addr(&self) -> SocketAddr {
        self.0.local_addr().expect("local address")
    }

    /// Answers every request with `answer` until the server is dropped.
    pub fn serve(self, answer: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> FakeHttp {
        let addr = self.addr();
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let answer = Arc::new(answer);
        let (accept_hits, accept_stopping) = (hits.clone(), stopping.clone());
        thread::spawn(move || {
            for stream in self.0.incoming() {
                if accept_stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (hits, answer) = (accept_hits.clone(), answer.clone());
                thread::spawn(move || serve_connection(stream, &hits, &*answer));
            }
        });
        FakeHttp {
            addr,
            hits,
            stopping,
        }
    }

    /// Serves `files` by exact path; anything else is 404.
    pub fn serve_files(self, files: Files) -> FakeHttp {
        self.serve(move |request| match files.get(&request.path) {
            Some((content_type, body)) => Reply::ok(content_type, body.clone()),
            None => Reply::not_found(),
        })
    }
}

/// A running fake server; it stops when dropped.
#[derive(Debug)]
pub struct FakeHttp {
    addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    stopping: Arc<AtomicBool>,
}

impl FakeHttp {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many requests reached `path` (without query).
    pub fn hits(&self, path: &str) -> usize {
        let hits = self.hits.lock().expect("hits lock");
        hits.get(path).copied().unwrap_or(0)
    }

    /// How many requests reached any path (a canary's count).
    pub fn total_hits(&self) -> usize {
        self.hits.lock().expect("hits lock").values().sum()
    }
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_connection(
    mut stream: TcpStream,
    hits: &Mutex<HashMap<String, usize>>,
    answer: &dyn Fn(&Request) -> Reply,
) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
        if head.len() > MAX_HEAD {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut request_line = head.split("\r\n").next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_owned();
    let target = request_line.next().unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").to_owned();
    *hits
        .lock()
        .expect("hits lock")
        .entry(path.clone())
        .or_insert(0) += 1;
    let request = Request { method, path, head };
    let reply = answer(&request);
    let reason = reqwest::StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("Unknown");
    let mut response_head = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: {}\r\ncontent-length: {}\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        response_head.push_str(&format!("{name}: {value}\r\n"));
    }
    response_head.push_str("connection: close\r\n\r\n");
    let _ = stream.write_all(response_head.as_bytes());
    if request.method != "HEAD" {
        let sent = reply
            .cut_after
            .unwrap_or(reply.body.len())
            .min(reply.body.len());
        match reply.drip {
            None => {
                let _ = stream.write_all(&reply.body[..sent]);
            }
            Some(interval) => {
                for byte in &reply.body[..sent] {
                    if stream.write_all(&[*byte]).is_err() {
                        return;
                    }
                    thread::sleep(interval);
                }
            }
        }
    }
    let _ = stream.flush();
}
