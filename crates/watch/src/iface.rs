//! Network interfaces: index, and how their frames begin.

use std::io;

use wire::LinkType;

use crate::filter;

/// An interface to capture on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub index: u32,
    /// `ARPHRD_*` (/sys/class/net/NAME/type).
    pub hw_type: u16,
}

/// ARPHRD_ETHER and ARPHRD_LOOPBACK: frames begin with an Ethernet header.
const ETHER: u16 = 1;
const LOOPBACK: u16 = 772;

impl Iface {
    pub fn lookup(name: &str) -> io::Result<Iface> {
        let index = nix::net::if_::if_nametoindex(name).map_err(|e| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface {name:?}: {e}"),
            )
        })?;
        let hw_type = std::fs::read_to_string(format!("/sys/class/net/{name}/type"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(ETHER);
        Ok(Iface {
            name: name.to_string(),
            index,
            hw_type,
        })
    }

    /// Whether frames have an Ethernet header; otherwise they are read from their network
    /// header, as raw IP (tun, PPP, WireGuard, ...).
    pub fn ethernet(&self) -> bool {
        matches!(self.hw_type, ETHER | LOOPBACK)
    }

    /// Whether this is a loopback interface (every packet passes twice).
    pub fn loopback(&self) -> bool {
        self.hw_type == LOOPBACK
    }

    /// The link type the engine decodes the frames as.
    pub fn link(&self) -> LinkType {
        if self.ethernet() {
            LinkType::from_number(1)
        } else {
            LinkType::from_number(101)
        }
    }

    /// libpcap's link type for compiling filters for this interface.
    pub fn dlt(&self) -> i32 {
        if self.ethernet() {
            filter::DLT_EN10MB
        } else {
            filter::DLT_RAW
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_ethernet_framed_and_unknown_names_fail() {
        let lo = Iface::lookup("lo").unwrap();
        assert!(lo.index > 0);
        assert!(lo.ethernet());
        let e = Iface::lookup("no-such-if0").unwrap_err().to_string();
        assert!(e.contains("no interface"), "{e}");
    }
}
