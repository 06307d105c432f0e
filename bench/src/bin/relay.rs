//! `relay -- CMD ARGS...`: the bare byte relay, the floor for any stdio proxy that runs in its
//! own process. It spawns CMD, copies our stdin → child stdin and child stdout → our stdout
//! on two threads with plain read/write loops (no parsing, no recording), leaves stderr
//! inherited, and exits with the child's status.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, ExitCode, Stdio};

/// Copy buffer size: the same order as a pipe's capacity (64 KiB).
const BUF: usize = 64 * 1024;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--") {
        args.next();
    }
    let Some(program) = args.next() else {
        eprintln!("usage: relay -- CMD [ARGS...]");
        return ExitCode::from(2);
    };
    let mut child = match Command::new(&program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("relay: cannot start {program}: {e}");
            return ExitCode::from(127);
        }
    };
    let mut child_in = child.stdin.take().expect("piped stdin");
    let mut child_out = child.stdout.take().expect("piped stdout");

    // Our own stdin/stdout as plain files (duplicated fds), so std's line buffering of stdout
    // is not in the way: every chunk read is written with one write(2).
    let (mut stdin, mut stdout) = match (
        raw(std::io::stdin().as_fd()),
        raw(std::io::stdout().as_fd()),
    ) {
        (Ok(i), Ok(o)) => (i, o),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("relay: cannot dup stdio: {e}");
            return ExitCode::from(1);
        }
    };
    // Client → server. When our stdin reaches EOF, dropping child_in closes the child's stdin.
    let up = std::thread::spawn(move || pump(&mut stdin, &mut child_in));
    // Server → client, on this thread.
    pump(&mut child_out, &mut stdout);

    let status = child.wait();
    // The upstream thread may still be blocked reading our stdin if the server exited first;
    // we do not wait for it (process exit ends it).
    drop(up);
    match status {
        Ok(s) => match s.code() {
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::from(1),
        },
        Err(e) => {
            eprintln!("relay: wait failed: {e}");
            ExitCode::from(1)
        }
    }
}

fn raw(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<File> {
    Ok(File::from(fd.try_clone_to_owned()?))
}

/// Copies until EOF or an error, writing each chunk as soon as it is read (no added buffering,
/// so a lone request line is never held back).
fn pump(from: &mut impl Read, to: &mut impl Write) {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
            return;
        }
    }
}
