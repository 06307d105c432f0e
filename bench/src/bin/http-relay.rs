//! `http-relay`: the bare HTTP reverse proxy, the floor for any HTTP proxy that runs in its own
//! process (the HTTP counterpart of `relay`). Every request is sent on to the upstream with the
//! same method, path, headers and body over a pooled keep-alive connection (hyper-util's
//! client), and the upstream's answer is streamed back unchanged: nothing is parsed, checked
//! or recorded. HTTP/1.1 on both sides, TCP_NODELAY on both sides.
//!
//! Usage: http-relay --upstream http://HOST:PORT [--listen ADDR] [--threads N]
//! Prints `http-relay: listening on http://ADDR` on stderr once it accepts connections.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Upstream = Client<HttpConnector, Incoming>;

fn main() {
    let (listen, upstream, threads) = parse_args();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        rt.worker_threads(n);
    }
    let rt = rt.enable_all().build().expect("tokio runtime");
    rt.block_on(serve(listen, upstream));
}

async fn serve(listen: SocketAddr, upstream: Uri) {
    let listener = warden_bench::net::listen(listen)
        .unwrap_or_else(|e| panic!("cannot listen on {listen}: {e}"));
    eprintln!(
        "http-relay: listening on http://{}",
        listener.local_addr().expect("local addr")
    );
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
    let authority = upstream
        .authority()
        .expect("upstream has host:port")
        .clone();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("http-relay: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (client, authority) = (client.clone(), authority.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                forward(client.clone(), authority.clone(), req)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One request to the upstream and its answer back; 502 if the upstream cannot be reached.
async fn forward(
    client: Upstream,
    authority: hyper::http::uri::Authority,
    mut req: Request<Incoming>,
) -> Result<Response<http_body_util::Either<Incoming, String>>, std::convert::Infallible> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *req.uri_mut() = Uri::builder()
        .scheme("http")
        .authority(authority)
        .path_and_query(path)
        .build()
        .expect("uri");
    Ok(match client.request(req).await {
        Ok(resp) => resp.map(http_body_util::Either::Left),
        Err(e) => {
            let mut r = Response::new(http_body_util::Either::Right(format!("upstream: {e}")));
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            r
        }
    })
}

fn parse_args() -> (SocketAddr, Uri, Option<usize>) {
    let mut listen = "127.0.0.1:0".to_string();
    let mut upstream = None;
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--listen" => listen = val(),
            "--upstream" => upstream = Some(val()),
            "--threads" => {
                let v = val();
                threads = Some(
                    v.parse()
                        .unwrap_or_else(|_| usage(&format!("not a number: {v}"))),
                );
            }
            "-h" | "--help" => usage(""),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    let listen = listen
        .parse()
        .unwrap_or_else(|_| usage(&format!("not an address: {listen}")));
    let upstream: Uri = upstream
        .unwrap_or_else(|| usage("--upstream is required"))
        .parse()
        .unwrap_or_else(|_| usage("--upstream: not a URL"));
    if upstream.scheme_str() != Some("http") || upstream.authority().is_none() {
        usage("--upstream must be http://HOST:PORT");
    }
    (listen, upstream, threads)
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("http-relay: {err}");
    }
    eprintln!("usage: http-relay --upstream http://HOST:PORT [--listen ADDR] [--threads N]");
    std::process::exit(2)
}
