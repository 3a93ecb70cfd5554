//! Fuzzes the proxy parsers: SOCKS5 (greeting, method choice, RFC 1929, request, reply, UDP
//! header), SOCKS4/4a, HTTP CONNECT. Every length returned stays within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy::{http_connect, socks4, socks5};

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = socks5::greeting(data) {
        assert!(g.len <= data.len());
    }
    let _ = socks5::method_choice(data);
    if let Ok(n) = socks5::auth_request(data) {
        assert!(n <= data.len());
    }
    let _ = socks5::auth_reply(data);
    if let Ok(r) = socks5::request(data) {
        assert!(r.len <= data.len());
    }
    if let Ok(r) = socks5::reply(data) {
        assert!(r.len <= data.len());
    }
    if let Ok(h) = socks5::udp_header(data) {
        assert!(h.len <= data.len());
    }
    if let Ok(r) = socks4::request(data) {
        assert!(r.len <= data.len());
    }
    let _ = socks4::reply(data);
    if let Ok(r) = http_connect::request(data) {
        assert!(r.len <= data.len());
    }
    if let Ok(r) = http_connect::response(data) {
        assert!(r.len <= data.len());
    }
});
