//! An AF_PACKET socket with a TPACKET_V3 receive ring (packet(7), the kernel's
//! Documentation/networking/packet_mmap.rst).
//!
//! The kernel fills blocks of the memory-mapped ring with packets and hands a block over by
//! setting its status to `TP_STATUS_USER`; the reader walks the block's packets in place (no
//! copy) and gives it back with `TP_STATUS_KERNEL`. A block is handed over when it is full or
//! when `retire_ms` passed since its first packet, so a quiet link's packets still arrive.
//! Sockets of one fanout group (`PACKET_FANOUT_HASH` with `PACKET_FANOUT_FLAG_DEFRAG`) share an
//! interface's packets by flow hash — the kernel's flow hash is symmetric, so both directions of
//! a flow reach the same socket, and IP fragments are reassembled first so that they follow
//! their datagram.
//!
//! Hand-written on `libc`: the ring is a handful of system calls and two header layouts, and
//! the crates that wrap it bring a packet-processing framework each.
//!
//! A block is read as bytes by [`crate::block::frames`], which checks every offset against the
//! block's length: a block that makes no sense (it never should) is given back and counted,
//! never read past.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{Ordering, fence};

use crate::block;
pub use crate::block::Frame;
use crate::filter::Program;

/// Ring geometry and socket options.
#[derive(Debug, Clone)]
pub struct RingConfig {
    /// Bytes per block (a multiple of the page size).
    pub block_size: u32,
    pub blocks: u32,
    /// Milliseconds after which a block that is not full is handed over.
    pub retire_ms: u32,
    /// Join this fanout group (one per interface), spreading flows by hash.
    pub fanout_group: Option<u16>,
    pub promiscuous: bool,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            block_size: 1 << 20,
            blocks: 32,
            retire_ms: 50,
            fanout_group: None,
            promiscuous: true,
        }
    }
}

/// Kernel counters of a socket since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KernelStats {
    /// Packets the socket received (`tp_packets`, including dropped ones).
    pub packets: u64,
    /// Packets dropped because the ring was full (`tp_drops`).
    pub drops: u64,
    /// Times the ring was full and the queue froze (`tp_freeze_q_cnt`).
    pub freezes: u64,
}

impl KernelStats {
    pub fn add(&mut self, o: &KernelStats) {
        self.packets += o.packets;
        self.drops += o.drops;
        self.freezes += o.freezes;
    }
}

/// A socket and its mapped ring.
#[derive(Debug)]
pub struct Ring {
    fd: OwnedFd,
    map: NonNull<u8>,
    map_len: usize,
    block_size: usize,
    blocks: usize,
    next: usize,
    /// Read from the network header (interfaces without an Ethernet-like header).
    from_net: bool,
    /// Skip packets marked outgoing (loopback: each packet also arrives as received).
    /// `PACKET_IGNORE_OUTGOING` does not reach sockets in a fanout group, so it is done here.
    skip_outgoing: bool,
    stats: KernelStats,
    /// Blocks whose layout made no sense (given back unread).
    pub bad_blocks: u64,
}

// SAFETY: the ring is owned by one thread at a time; the mapping is private to this value.
unsafe impl Send for Ring {}

fn os_err(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn setsockopt<T>(fd: i32, level: i32, name: i32, value: &T, what: &str) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of `size_of::<T>()` bytes for the call's duration.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 { Err(os_err(what)) } else { Ok(()) }
}

const ETH_P_ALL: u16 = 0x0003;

impl Ring {
    /// Opens a socket on the interface `ifindex`, with a ring, an optional filter, and the
    /// fanout group. `from_net`: deliver frames from their network header (for interfaces
    /// that have no Ethernet-like link header: tun, PPP), to be read as raw IP.
    /// `loopback`: skip the outgoing copy of each packet (a loopback interface shows every
    /// packet twice, as sent and as received; libpcap skips it the same way).
    pub fn open(
        ifindex: u32,
        cfg: &RingConfig,
        filter: Option<&Program>,
        from_net: bool,
        loopback: bool,
    ) -> io::Result<Ring> {
        let page = 4096u32;
        if cfg.block_size == 0 || !cfg.block_size.is_multiple_of(page) || cfg.blocks == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring blocks must be a multiple of 4096 bytes",
            ));
        }
        // SAFETY: a plain system call; the descriptor it returns is owned below.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(ETH_P_ALL.to_be()),
            )
        };
        if raw < 0 {
            return Err(os_err("opening a packet socket (needs CAP_NET_RAW)"));
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let s = fd.as_raw_fd();
        let version: libc::c_int = 2; // TPACKET_V3
        setsockopt(
            s,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            &version,
            "TPACKET_V3",
        )?;
        let req = libc::tpacket_req3 {
            tp_block_size: cfg.block_size,
            tp_block_nr: cfg.blocks,
            tp_frame_size: 2048,
            tp_frame_nr: cfg.block_size / 2048 * cfg.blocks,
            tp_retire_blk_tov: cfg.retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(
            s,
            libc::SOL_PACKET,
            libc::PACKET_RX_RING,
            &req,
            "setting up the ring",
        )?;
        let map_len = cfg.block_size as usize * cfg.blocks as usize;
        // SAFETY: maps the ring the kernel just made for this socket; checked for failure.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED | libc::MAP_POPULATE,
                s,
                0,
            )
        };
        let p = if p == libc::MAP_FAILED {
            // Without the right to lock memory, map it unlocked.
            // SAFETY: as above.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    map_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_POPULATE,
                    s,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(os_err("mapping the ring"));
            }
            p
        } else {
            p
        };
        let map = NonNull::new(p.cast::<u8>()).ok_or_else(|| os_err("mapping the ring"))?;
        let mut ring = Ring {
            fd,
            map,
            map_len,
            block_size: cfg.block_size as usize,
            blocks: cfg.blocks as usize,
            next: 0,
            from_net,
            skip_outgoing: loopback,
            stats: KernelStats::default(),
            bad_blocks: 0,
        };
        if let Some(prog) = filter {
            let fprog = libc::sock_fprog {
                len: prog.len(),
                filter: prog.as_ptr().cast_mut(),
            };
            setsockopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                &fprog,
                "attaching the filter",
            )?;
        }
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = i32::try_from(ifindex).unwrap_or(0);
        // SAFETY: `sll` is a valid sockaddr_ll of the size given.
        let r = unsafe {
            libc::bind(
                s,
                (&raw const sll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(os_err("binding to the interface"));
        }
        if cfg.promiscuous {
            let mreq = libc::packet_mreq {
                mr_ifindex: sll.sll_ifindex,
                mr_type: libc::PACKET_MR_PROMISC as u16,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            setsockopt(
                s,
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                &mreq,
                "promiscuous mode",
            )?;
        }
        if let Some(group) = cfg.fanout_group {
            let arg: u32 = u32::from(group)
                | ((libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG) << 16);
            setsockopt(
                s,
                libc::SOL_PACKET,
                libc::PACKET_FANOUT,
                &arg,
                "joining the fanout group",
            )?;
        }
        // Start from a clean count: what arrived before the filter and fanout were set is
        // read like the rest, but the counters say what the ring lost from now on.
        ring.stats = KernelStats::default();
        let _ = ring.read_kernel_stats();
        ring.stats = KernelStats::default();
        Ok(ring)
    }

    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    fn u32_at(&self, off: usize) -> Option<u32> {
        if !off.is_multiple_of(4) || off.checked_add(4)? > self.map_len {
            return None;
        }
        // SAFETY: in bounds and aligned (checked above); the kernel writes this memory
        // concurrently, so it is read volatile.
        Some(unsafe { std::ptr::read_volatile(self.map.as_ptr().add(off).cast::<u32>()) })
    }

    fn set_status(&self, block: usize, status: u32) {
        let off = block * self.block_size + 8;
        if off + 4 <= self.map_len {
            // Everything read from the block happens before it goes back to the kernel.
            fence(Ordering::Release);
            // SAFETY: in bounds and 4-aligned (block sizes are multiples of the page size).
            unsafe {
                std::ptr::write_volatile(self.map.as_ptr().add(off).cast::<u32>(), status);
            }
        }
    }

    /// Whether the next block is ready to be read.
    pub fn ready(&self) -> bool {
        let status = self.u32_at(self.next * self.block_size + 8).unwrap_or(0);
        status & libc::TP_STATUS_USER != 0
    }

    /// Waits up to `timeout_ms` for a block on any of `rings`. Returns whether one is ready.
    pub fn wait(rings: &[&Ring], timeout_ms: i32) -> io::Result<bool> {
        if rings.iter().any(|r| r.ready()) {
            return Ok(true);
        }
        let mut fds: Vec<libc::pollfd> = rings
            .iter()
            .map(|r| libc::pollfd {
                fd: r.fd(),
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a live array of `fds.len()` pollfd structures.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(rings.iter().any(|r| r.ready()))
    }

    /// Reads the next block if it is ready: calls `each` for its packets in order, then gives
    /// the block back. Returns the packets read.
    pub fn read_block(&mut self, each: impl FnMut(Frame<'_>)) -> usize {
        if !self.ready() {
            return 0;
        }
        fence(Ordering::Acquire);
        let block = self.next;
        let base = block * self.block_size;
        // SAFETY: the block lies inside the mapping (blocks × block_size is its length), and
        // its status says user space owns it: the kernel does not write it until it is given
        // back below, after the last use of the slice.
        let bytes =
            unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(base), self.block_size) };
        let walk = block::frames(bytes, self.from_net, self.skip_outgoing, each);
        if walk.bad {
            self.bad_blocks += 1;
        }
        self.set_status(block, libc::TP_STATUS_KERNEL);
        self.next = (self.next + 1) % self.blocks;
        walk.frames
    }

    /// Adds the kernel's counters since the last call (reading them resets them) and returns
    /// the totals since the socket was opened.
    pub fn read_kernel_stats(&mut self) -> io::Result<KernelStats> {
        let mut st = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `st` and `len` are live and sized for the option.
        let r = unsafe {
            libc::getsockopt(
                self.fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&raw mut st).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return Err(os_err("reading the socket's counters"));
        }
        self.stats.add(&KernelStats {
            packets: u64::from(st.tp_packets),
            drops: u64::from(st.tp_drops),
            freezes: u64::from(st.tp_freeze_q_cnt),
        });
        Ok(self.stats)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`; nothing borrows it any more
        // (frames borrow `self`).
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.map_len);
        }
    }
}
