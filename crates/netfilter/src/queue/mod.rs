//! NFQUEUE: packets the ruleset queues to user space, and the verdicts sent back.
//!
//! Written on netlink directly rather than with the `nfq` crate (0.2.5): its released version
//! gives no access to the socket (no `AsRawFd`), so a worker could not wait with a timeout and
//! notice shutdown or a reload while its queue is quiet; and it has no batch verdicts (which
//! save a little CPU per packet: `lab/enforce bench` measures both, docs/enforce.md).
//! The socket calls go through `nix`, so there is no `unsafe` here; the message layout is in
//! [`msg`], tested without a kernel.
//!
//! Queues are opened fail-open (a full queue accepts packets instead of dropping them) and
//! with GSO (large packets are not segmented for us).

pub mod msg;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;

pub use msg::{DecodeError, Messages, Packet, Received, Verdict, Writer};

/// How a queue is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes of each packet copied to user space.
    pub copy_range: u32,
    /// Packets waiting in the kernel at most (beyond: accepted unseen, fail-open).
    pub max_len: u32,
    /// Socket receive buffer.
    pub rcvbuf: usize,
    /// How long a receive waits before returning nothing (so the caller can look at signals).
    pub timeout: Duration,
    /// Bytes of received messages kept per batch (each receive needs room for one packet).
    pub batch_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            copy_range: 0xffff,
            max_len: 8192,
            rcvbuf: 8 << 20,
            timeout: Duration::from_millis(200),
            batch_bytes: 1 << 20,
        }
    }
}

/// Room one receive needs: the largest copied packet plus the message headers.
const ROOM: usize = 0x1_0000 + 512;

/// One bound queue.
#[derive(Debug)]
pub struct Queue {
    fd: OwnedFd,
    num: u16,
    buf: Vec<u8>,
    /// (start, end) of each datagram received into `buf` in this batch.
    datagrams: Vec<(usize, usize)>,
    /// Times the kernel could not hand a packet over (socket buffer full; accepted, fail-open).
    pub overruns: u64,
}

fn err(what: &str, e: Errno) -> io::Error {
    io::Error::new(io::Error::from(e).kind(), format!("{what}: {e}"))
}

impl Queue {
    /// Binds queue `num`. Needs CAP_NET_ADMIN; fails if another process holds the queue.
    pub fn open(num: u16, opts: &Options) -> io::Result<Queue> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkNetFilter,
        )
        .map_err(|e| err("netlink socket", e))?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| err("netlink bind", e))?;
        if setsockopt(&fd, sockopt::RcvBufForce, &opts.rcvbuf).is_err() {
            setsockopt(&fd, sockopt::RcvBuf, &opts.rcvbuf).map_err(|e| err("SO_RCVBUF", e))?;
        }
        let tv = TimeVal::new(
            opts.timeout.as_secs() as _,
            opts.timeout.subsec_micros() as _,
        );
        setsockopt(&fd, sockopt::ReceiveTimeout, &tv).map_err(|e| err("SO_RCVTIMEO", e))?;
        let mut q = Queue {
            fd,
            num,
            buf: vec![0; opts.batch_bytes.max(ROOM)],
            datagrams: Vec::new(),
            overruns: 0,
        };
        let mut w = Writer::new();
        w.bind(num);
        q.request(&w).map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc_ebusy()) {
                " (another process holds this queue)"
            } else {
                ""
            };
            io::Error::new(e.kind(), format!("binding queue {num}: {e}{hint}"))
        })?;
        w.clear();
        w.params(
            num,
            opts.copy_range,
            opts.max_len,
            msg::flags::FAIL_OPEN | msg::flags::GSO,
        );
        q.request(&w)
            .map_err(|e| io::Error::new(e.kind(), format!("configuring queue {num}: {e}")))?;
        Ok(q)
    }

    pub fn num(&self) -> u16 {
        self.num
    }

    /// Sends one configuration request and waits for its acknowledgement.
    fn request(&mut self, w: &Writer) -> io::Result<()> {
        self.send(w)?;
        loop {
            let n = match recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::empty()) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no answer from the kernel",
                    ));
                }
                Err(e) => return Err(err("netlink recv", e)),
            };
            for m in Messages::new(&self.buf[..n]) {
                if let Ok(Received::Ack { result, .. }) = m {
                    return result.map_err(io::Error::from_raw_os_error);
                }
            }
        }
    }

    /// Sends the messages in `w` in one write.
    pub fn send(&self, w: &Writer) -> io::Result<()> {
        if w.is_empty() {
            return Ok(());
        }
        loop {
            match send(self.fd.as_raw_fd(), w.bytes(), MsgFlags::empty()) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(err("netlink send", e)),
            }
        }
    }

    /// Waits for packets (up to the receive timeout), then takes whatever else is already
    /// waiting, up to `max` datagrams or the batch buffer. Returns the datagrams received
    /// (0 on timeout); read them with [`Queue::messages`].
    pub fn recv_batch(&mut self, max: usize) -> io::Result<usize> {
        self.datagrams.clear();
        let mut at = 0;
        while self.datagrams.len() < max && self.buf.len() - at >= ROOM {
            let flags = if self.datagrams.is_empty() {
                MsgFlags::empty()
            } else {
                MsgFlags::MSG_DONTWAIT
            };
            match recv(self.fd.as_raw_fd(), &mut self.buf[at..], flags) {
                Ok(0) => break,
                Ok(n) => {
                    self.datagrams.push((at, at + n));
                    at = (at + n + 7) & !7;
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => break,
                Err(Errno::ENOBUFS) => {
                    self.overruns += 1;
                    continue;
                }
                Err(e) => return Err(err("netlink recv", e)),
            }
        }
        Ok(self.datagrams.len())
    }

    /// The messages of the last batch, in order.
    pub fn messages(&self) -> impl Iterator<Item = Result<Received<'_>, DecodeError>> + '_ {
        self.datagrams
            .iter()
            .flat_map(|&(s, e)| Messages::new(&self.buf[s..e]))
    }

    /// The socket, for polling.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // Unbinding is courtesy: closing the socket unbinds too.
        let mut w = Writer::new();
        w.unbind(self.num);
        let _ = self.send(&w);
    }
}

fn libc_ebusy() -> i32 {
    Errno::EBUSY as i32
}
