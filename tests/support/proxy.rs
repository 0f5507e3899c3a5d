//! A TCP proxy on 127.0.0.1 that drops connections on purpose: it copies
//! bytes both ways between the client and an upstream server, cuts a
//! connection once it has passed a planned number of response bytes, counts
//! connections and records each request line (method and target), so a test
//! can cut a stream anywhere and check what the client sent afterwards.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Decides, for each connection (0-based, in the order accepted), after how
/// many response bytes it is cut (`None`: never).
pub type CutPlan = Box<dyn Fn(usize) -> Option<usize> + Send + Sync>;

/// Never cuts.
pub fn never() -> CutPlan {
    Box::new(|_| None)
}

/// Cuts the first connection after `bytes` response bytes.
pub fn cut_first(bytes: usize) -> CutPlan {
    cut_nth(0, bytes)
}

/// Cuts connection `n` (0-based) after `bytes` response bytes.
pub fn cut_nth(n: usize, bytes: usize) -> CutPlan {
    Box::new(move |connection| (connection == n).then_some(bytes))
}

/// Cuts every connection after `bytes` response bytes.
pub fn cut_each(bytes: usize) -> CutPlan {
    Box::new(move |_| Some(bytes))
}

struct Shared {
    plan: CutPlan,
    connections: AtomicUsize,
    requests: Mutex<Vec<String>>,
    responses: Mutex<Vec<Arc<Mutex<Vec<u8>>>>>,
}

/// A running proxy; stops accepting when dropped (connections under way
/// end with their peers).
pub struct Proxy {
    /// The base URL to give the client: the upstream's, through the proxy.
    pub base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Proxies to the server at `upstream_base_url` (`http://127.0.0.1:PORT/v1`).
    pub async fn start(upstream_base_url: &str, plan: CutPlan) -> Proxy {
        let rest = upstream_base_url
            .strip_prefix("http://")
            .expect("an http:// base URL");
        let (upstream, path) = rest.split_once('/').unwrap_or((rest, ""));
        let upstream = upstream.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            plan,
            connections: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            responses: Mutex::new(Vec::new()),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let index = accepting.connections.fetch_add(1, Ordering::SeqCst);
                let cut = (accepting.plan)(index);
                let response = Arc::new(Mutex::new(Vec::new()));
                accepting.responses.lock().unwrap().push(response.clone());
                tokio::spawn(relay(
                    client,
                    upstream.clone(),
                    cut,
                    accepting.clone(),
                    response,
                ));
            }
        });
        Proxy {
            base_url: format!("http://{addr}/{path}"),
            shared,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Every request line so far (`POST /v1/threads/thread_1/runs`), in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many requests used this method.
    pub fn count(&self, method: &str) -> usize {
        let prefix = format!("{method} ");
        self.requests()
            .iter()
            .filter(|line| line.starts_with(&prefix))
            .count()
    }

    /// The response bytes passed to the client on connection `n` (head
    /// included), up to the cut.
    pub fn response(&self, n: usize) -> Vec<u8> {
        self.shared.responses.lock().unwrap()[n]
            .lock()
            .unwrap()
            .clone()
    }
}

async fn relay(
    client: TcpStream,
    upstream: String,
    cut: Option<usize>,
    shared: Arc<Shared>,
    response: Arc<Mutex<Vec<u8>>>,
) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let requests = async {
        let mut heads = RequestHeads::default();
        let mut buf = vec![0; 16 * 1024];
        loop {
            let n = match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            heads.feed(&buf[..n], &shared.requests);
            if to_server.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let responses = async {
        let mut buf = vec![0; 16 * 1024];
        let mut passed = 0;
        loop {
            let n = match from_server.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let allowed = cut.map_or(n, |cut| n.min(cut - passed));
            response.lock().unwrap().extend_from_slice(&buf[..allowed]);
            if to_client.write_all(&buf[..allowed]).await.is_err() {
                return;
            }
            passed += allowed;
            if cut == Some(passed) {
                // The cut: both sockets are closed when this returns.
                return;
            }
        }
    };
    // Whichever way ends first ends the connection both ways: a closed
    // client, a closed server, or the planned cut.
    tokio::select! {
        () = requests => {}
        () = responses => {}
    }
}

/// Finds the request heads in the bytes a client sends (requests one after
/// another on a kept-alive connection, bodies sized by `content-length`).
#[derive(Default)]
struct RequestHeads {
    pending: Vec<u8>,
    body_left: usize,
}

impl RequestHeads {
    fn feed(&mut self, bytes: &[u8], out: &Mutex<Vec<String>>) {
        let mut input = bytes.to_vec();
        loop {
            let skip = self.body_left.min(input.len());
            self.body_left -= skip;
            input.drain(..skip);
            if input.is_empty() {
                return;
            }
            self.pending.append(&mut input);
            let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                return;
            };
            let head = String::from_utf8_lossy(&self.pending[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let request_line = lines.next().unwrap_or_default();
            let (method, rest) = request_line.split_once(' ').unwrap_or((request_line, ""));
            let target = rest.split(' ').next().unwrap_or_default();
            out.lock().unwrap().push(format!("{method} {target}"));
            self.body_left = lines
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse().ok())
                .unwrap_or(0);
            // What follows the head: its body, maybe the next request.
            input = self.pending.split_off(end + 4);
            self.pending.clear();
        }
    }
}
