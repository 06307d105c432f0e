//! The benchmark servers' listening socket: like `tokio::net::TcpListener::bind`, but with a
//! listen backlog of 4096 instead of tokio's (and std's) 128, so that a burst of 1,000
//! connections is not partly dropped by the kernel and retried a second later.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// The accept-queue length asked for (the kernel caps it at net.core.somaxconn).
pub const BACKLOG: u32 = 4096;

/// Binds `addr` (with SO_REUSEADDR) and listens with [`BACKLOG`].
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
