//! Capture filters: a tcpdump expression compiled to classic BPF by libpcap's own compiler.
//!
//! libpcap is loaded when a filter is asked for (`libpcap.so.0.8`, the library tcpdump
//! uses), so swarmwall neither needs its headers to build nor the library to run without a
//! filter. The compiled program is attached to each packet socket (`SO_ATTACH_FILTER`): the
//! kernel drops what does not match before it reaches the ring.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};

/// A compiled classic BPF program.
#[derive(Debug, Clone)]
pub struct Program(Vec<libc::sock_filter>);

impl Program {
    pub fn len(&self) -> u16 {
        u16::try_from(self.0.len()).unwrap_or(u16::MAX)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn as_ptr(&self) -> *const libc::sock_filter {
        self.0.as_ptr()
    }
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.0
    }
}

/// libpcap's `struct bpf_program`.
#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut libc::sock_filter,
}

type OpenDead = unsafe extern "C" fn(c_int, c_int) -> *mut c_void;
type Compile =
    unsafe extern "C" fn(*mut c_void, *mut BpfProgram, *const c_char, c_int, u32) -> c_int;
type FreeCode = unsafe extern "C" fn(*mut BpfProgram);
type GetErr = unsafe extern "C" fn(*mut c_void) -> *mut c_char;
type Close = unsafe extern "C" fn(*mut c_void);

/// libpcap's link type numbers for the frames the sockets see.
pub const DLT_EN10MB: i32 = 1;
pub const DLT_RAW: i32 = 12;

/// Compiles `expr` for frames of link type `dlt` (as tcpdump would).
pub fn compile(expr: &str, dlt: i32) -> Result<Program, String> {
    let c_expr =
        CString::new(expr).map_err(|_| "the filter contains a NUL character".to_string())?;
    // SAFETY: loading libpcap runs its initialisers, which have no preconditions.
    let lib = unsafe { libloading::Library::new("libpcap.so.0.8") }
        .or_else(|_| unsafe { libloading::Library::new("libpcap.so.1") })
        .or_else(|_| unsafe { libloading::Library::new("libpcap.so") })
        .map_err(|e| format!("a filter needs libpcap (Debian: libpcap0.8): {e}"))?;
    // SAFETY: the symbols' types are libpcap's documented prototypes (pcap(3PCAP)).
    let (open_dead, compile, freecode, geterr, close) = unsafe {
        (
            lib.get::<OpenDead>(b"pcap_open_dead\0"),
            lib.get::<Compile>(b"pcap_compile\0"),
            lib.get::<FreeCode>(b"pcap_freecode\0"),
            lib.get::<GetErr>(b"pcap_geterr\0"),
            lib.get::<Close>(b"pcap_close\0"),
        )
    };
    let (Ok(open_dead), Ok(compile), Ok(freecode), Ok(geterr), Ok(close)) =
        (open_dead, compile, freecode, geterr, close)
    else {
        return Err("the libpcap found lacks pcap_compile".into());
    };
    // SAFETY: pcap_open_dead makes a handle used only to compile; it is closed below.
    let handle = unsafe { open_dead(dlt, 262_144) };
    if handle.is_null() {
        return Err("libpcap could not make a compiler handle".into());
    }
    let mut prog = BpfProgram {
        bf_len: 0,
        bf_insns: std::ptr::null_mut(),
    };
    // SAFETY: `handle` is live, `prog` is a valid out-parameter, `c_expr` is NUL-terminated;
    // PCAP_NETMASK_UNKNOWN (0xffffffff) as netmask.
    let r = unsafe { compile(handle, &mut prog, c_expr.as_ptr(), 1, 0xffff_ffff) };
    let result = if r != 0 {
        // SAFETY: pcap_geterr returns a NUL-terminated string owned by the live handle.
        let msg = unsafe { CStr::from_ptr(geterr(handle)) }
            .to_string_lossy()
            .into_owned();
        Err(format!("filter {expr:?}: {msg}"))
    } else {
        // SAFETY: on success `bf_insns` points to `bf_len` instructions owned by `prog`, with
        // the layout of the kernel's sock_filter (both are classic BPF's bpf_insn).
        let insns = unsafe { std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize) };
        let v = insns.to_vec();
        // SAFETY: frees what pcap_compile allocated, once.
        unsafe { freecode(&mut prog) };
        if v.is_empty() || v.len() > usize::from(u16::MAX) {
            Err(format!(
                "filter {expr:?}: compiled to {} instructions",
                v.len()
            ))
        } else {
            Ok(Program(v))
        }
    };
    // SAFETY: closes the handle made above, once.
    unsafe { close(handle) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_like_tcpdump_or_says_why() {
        match compile("udp or tcp port 6881", DLT_EN10MB) {
            Ok(p) => {
                assert!(p.len() > 3);
                // The last instructions return: accept (non-zero) and reject (0).
                let rets: Vec<_> = p
                    .instructions()
                    .iter()
                    .filter(|i| i.code == 0x06)
                    .map(|i| i.k)
                    .collect();
                assert!(rets.contains(&0) && rets.iter().any(|k| *k > 0), "{rets:?}");
                let e = compile("udp and and", DLT_EN10MB).unwrap_err();
                assert!(e.contains("syntax error"), "{e}");
            }
            Err(e) => {
                assert!(e.contains("libpcap"), "{e}");
                eprintln!("skipping: {e}");
            }
        }
    }
}
