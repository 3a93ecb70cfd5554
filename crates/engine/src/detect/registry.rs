//! The one table of what swarmwall recognises: every protocol's kind, evidence names and
//! knowledge sources, and the detector that finds it — declared once, in [`protocols!`]'s
//! invocation at the bottom of this file.
//!
//! From the table come the [`Kind`], [`Signal`] and [`Source`] enums with their names (the
//! flow record's `kind`, `evidence` and `endpoint:` names), what a plaintext signature of each
//! kind teaches the knowledge store ([`Teaches`]), and the two detector lists the dispatchers
//! run: [`StreamDetectors`] over each TCP stream (inside a tunnel, over the inner stream) and
//! [`DatagramDetectors`] over each UDP datagram. Tunnels ([`TunnelDetectors`]) come first on
//! a TCP stream: when one opens, the stream detectors start again on the inner bytes.
//!
//! A new protocol is a folder under `detect/` with a type that implements [`StreamDetector`],
//! [`DatagramDetector`] or [`TunnelDetector`], plus one row here. The numbers are the stable identities: a
//! kind's number is its precedence (a flow that is several kinds at once is reported as the
//! lowest), a signal's number its bit in [`crate::Evidence`] and its place in the record's
//! `evidence` list, a source's number its bit in an endpoint's source set.

use super::{Answer, Ctx, DatagramDetector, Delivered, Opened, StreamDetector, TunnelDetector};

/// What a plaintext signature of a kind teaches the host knowledge store about the hosts of
/// the flow (see [`crate::Knowledge::note_host`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teaches {
    /// The sender speaks the protocol on its port (a listening UDP socket), and the receiver
    /// is one of its peers (uTP).
    SenderListensToPeer,
    /// The sender speaks the protocol on its port (DHT).
    SenderListens,
    /// The sender took part; its port is its listening port only if it is the server of a
    /// connection whose opening was seen; the receiver is one of its peers (peer wire, TCP).
    ServerListensToPeer,
    /// The flow's client took part; its port says nothing (trackers).
    ClientTookPart,
    /// The sender took part; its port says nothing (LSD).
    SenderTookPart,
}

/// Sorts an array of fieldless enum values by discriminant, in a constant.
macro_rules! sorted {
    ($a:ident) => {{
        let mut i = 1;
        while i < $a.len() {
            let mut j = i;
            while j > 0 && ($a[j - 1] as u8) > ($a[j] as u8) {
                let t = $a[j - 1];
                $a[j - 1] = $a[j];
                $a[j] = t;
                j -= 1;
            }
            i += 1;
        }
        $a
    }};
}

/// Declares the protocols. See the module docs; the invocation below is the table.
macro_rules! protocols {
    (
        tunnels { $( $(#[$td:meta])* $tfield:ident : $tdet:ty; )* }
        shared signals { $( $(#[$xd:meta])* $xsig:ident = $xbit:literal, $xname:literal; )* }
        $(
            $group:ident $gfield:ident : $gdet:ty => $(#[$kd:meta])* $kind:ident = $kbit:literal, $kname:literal,
                teaches $teaches:ident, carries_infohash $carries:literal;
                signals { $( $(#[$sd:meta])* $sig:ident = $sbit:literal, $sname:literal; )* }
                sources { $( $(#[$od:meta])* $src:ident = $obit:literal, $oname:literal,
                             peer $peer:literal, evidence $esig:ident = $ebit:literal; )* }
        )*
    ) => {
        /// The BitTorrent kinds swarmwall recognises, in order of precedence.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind { $( $(#[$kd])* $kind = $kbit, )* }

        impl Kind {
            /// In order of precedence: a flow that is several kinds at once is reported as the
            /// first.
            pub const ALL: [Kind; [$(stringify!($kind)),*].len()] = {
                let mut a = [$(Kind::$kind),*];
                sorted!(a)
            };

            /// The name used in flow records, policies and labels.
            pub fn as_str(self) -> &'static str {
                match self { $( Kind::$kind => $kname, )* }
            }

            /// What a plaintext signature of this kind teaches about the flow's hosts.
            pub fn teaches(self) -> Teaches {
                match self { $( Kind::$kind => Teaches::$teaches, )* }
            }

            /// Whether the plaintext form of this kind names the torrent it is about in each
            /// flow (a handshake, an announce); DHT and UDP tracker flows name many, or name it
            /// only after an exchange.
            pub fn carries_infohash(self) -> bool {
                match self { $( Kind::$kind => $carries, )* }
            }
        }

        /// One fact a decision rests on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Signal {
            $( $( $(#[$sd])* $sig = $sbit, )* $( $(#[$od])* $esig = $ebit, )* )*
            $( $(#[$xd])* $xsig = $xbit, )*
        }

        impl Signal {
            /// Every signal, in the order of their bits (the order of a record's `evidence`).
            pub const ALL: &'static [Signal] = &{
                let mut a = [$( $( Signal::$sig, )* $( Signal::$esig, )* )* $( Signal::$xsig, )*];
                sorted!(a)
            };

            /// The name used in flow records.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $( Signal::$sig => $sname, )* $( Signal::$esig => concat!("endpoint:", $oname), )* )*
                    $( Signal::$xsig => $xname, )*
                }
            }
        }

        // Every signal fits the evidence bit set.
        const _: () = {
            let mut i = 0;
            while i < Signal::ALL.len() {
                assert!((Signal::ALL[i] as u32) < 32);
                i += 1;
            }
        };

        /// Where an endpoint was learned.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Source { $( $( $(#[$od])* $src = $obit, )* )* }

        impl Source {
            /// Every source, in the order of their bits.
            pub const ALL: [Source; [$( $(stringify!($src),)* )*].len()] = {
                let mut a = [$( $( Source::$src, )* )*];
                sorted!(a)
            };

            pub fn as_str(self) -> &'static str {
                match self { $( $( Source::$src => $oname, )* )* }
            }

            /// The evidence a flow to an endpoint from this source carries.
            pub fn signal(self) -> Signal {
                match self { $( $( Source::$src => Signal::$esig, )* )* }
            }

            /// Whether the source names a peer's listening endpoint (DHT nodes are DHT
            /// endpoints: usually, not always, the same port as the peer wire).
            pub fn is_peer(self) -> bool {
                match self { $( $( Source::$src => $peer, )* )* }
            }
        }

        // Sources are bits of a u16 set, in `ALL` order as an index.
        const _: () = {
            let mut i = 0;
            while i < Source::ALL.len() {
                assert!(Source::ALL[i] as usize == i);
                i += 1;
            }
        };

        protocols!(@lists tunnels { $( $(#[$td])* $tfield : $tdet; )* } $( $group $gfield : $gdet; )*);
    };

    // Splits the rows into the stream and datagram detector lists.
    (@lists tunnels $t:tt $($rows:tt)*) => {
        protocols!(@split $t [] [] $($rows)*);
    };
    (@split $t:tt [$($s:tt)*] [$($d:tt)*] stream $f:ident : $det:ty; $($rest:tt)*) => {
        protocols!(@split $t [$($s)* $f : $det;] [$($d)*] $($rest)*);
    };
    (@split $t:tt [$($s:tt)*] [$($d:tt)*] datagram $f:ident : $det:ty; $($rest:tt)*) => {
        protocols!(@split $t [$($s)*] [$($d)* $f : $det;] $($rest)*);
    };
    (@split { $( $(#[$td:meta])* $tfield:ident : $tdet:ty; )* }
        [$( $sf:ident : $sdet:ty; )*] [$( $df:ident : $ddet:ty; )*]) => {
        /// The stream detectors of one TCP flow (or of the inner stream of a tunnel), each
        /// with whether it still reads.
        #[derive(Debug, Default)]
        pub(crate) struct StreamDetectors {
            $( $sf: $sdet, )*
            /// Bit i: the i-th detector stopped.
            off: u8,
        }

        impl StreamDetectors {
            /// Offers one direction's new bytes to every detector still reading, in order.
            /// The first that answers [`Answer::Mine`] claims the stream: a TCP stream
            /// carries one protocol, and the others stop.
            pub fn bytes(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>, closing: bool) {
                let mut i = 0u8;
                let mut claimed = None;
                $(
                    if claimed.is_none() && self.off & (1 << i) == 0 {
                        let answer = self.$sf.bytes(ctx, d, closing);
                        if answer == Answer::NotMine || !self.$sf.running() {
                            self.$sf.stop(ctx.budget);
                            self.off |= 1 << i;
                        }
                        if answer == Answer::Mine && claimed.is_none() {
                            claimed = Some(i);
                        }
                    }
                    i += 1;
                )*
                let _ = i;
                if let Some(c) = claimed {
                    self.claim(c, ctx.budget);
                }
            }

            /// Stops every detector but the `keep`-th.
            fn claim(&mut self, keep: u8, budget: &mut super::Budget) {
                let mut i = 0u8;
                $(
                    if i != keep && self.off & (1 << i) == 0 {
                        self.$sf.stop(budget);
                        self.off |= 1 << i;
                    }
                    i += 1;
                )*
                let _ = i;
            }

            /// A direction ended (FIN or RST) with no new bytes.
            pub fn closed(&mut self, ctx: &mut Ctx<'_>) {
                let mut i = 0u8;
                $(
                    if self.off & (1 << i) == 0 {
                        self.$sf.closed(ctx);
                        if !self.$sf.running() {
                            self.$sf.stop(ctx.budget);
                            self.off |= 1 << i;
                        }
                    }
                    i += 1;
                )*
                let _ = i;
            }

            /// The flow ends: every detector still reading judges what it has.
            pub fn finish(&mut self, ctx: &mut Ctx<'_>) {
                let mut i = 0u8;
                $(
                    if self.off & (1 << i) == 0 {
                        self.$sf.finish(ctx);
                        self.$sf.stop(ctx.budget);
                        self.off |= 1 << i;
                    }
                    i += 1;
                )*
                let _ = i;
            }

            /// Stops them all for good.
            pub fn stop_all(&mut self, budget: &mut super::Budget) {
                self.reset(budget);
                self.off = u8::MAX;
            }

            /// Starts them all again from nothing (a tunnel opened: its inner stream follows).
            pub fn reset(&mut self, budget: &mut super::Budget) {
                $( self.$sf.stop(budget); )*
                *self = StreamDetectors::default();
            }

            pub fn running(&self) -> bool {
                let all = (1u16 << [$(stringify!($sf)),*].len()) - 1;
                u16::from(self.off) & all != all
            }

            /// Bytes held in reassembly buffers.
            pub fn buffered(&self) -> usize {
                0 $( + self.$sf.buffered() )*
            }
        }

        /// The datagram detectors of one UDP flow. One socket of a BitTorrent client carries
        /// DHT, uTP and tracker traffic, so every datagram is offered to each in turn until
        /// one recognises it, for as long as the flow lives.
        #[derive(Debug, Default)]
        pub(crate) struct DatagramDetectors {
            $( $df: $ddet, )*
        }

        impl DatagramDetectors {
            /// Offers a datagram; the answer of the first detector that did not decline it.
            pub fn datagram(&mut self, ctx: &mut Ctx<'_>, payload: &[u8], wire_len: u32) -> Answer {
                $(
                    match self.$df.datagram(ctx, payload, wire_len) {
                        Answer::NotMine => {}
                        answer => return answer,
                    }
                )*
                Answer::NotMine
            }

            /// The flow ends.
            pub fn finish(&mut self, ctx: &mut Ctx<'_>) {
                $( self.$df.finish(ctx); )*
            }
        }

        /// The tunnels looked for at the start of a TCP stream.
        #[derive(Debug, Default)]
        pub(crate) struct TunnelDetectors {
            $( $(#[$td])* $tfield: $tdet, )*
            off: u8,
        }

        impl TunnelDetectors {
            /// Offers one direction's new bytes; `Some` once a tunnel opened.
            pub fn bytes(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>) -> Option<Opened> {
                let mut i = 0u8;
                $(
                    if self.off & (1 << i) == 0 {
                        match self.$tfield.bytes(ctx, d) {
                            (Answer::Mine, Some(open)) => {
                                self.stop(ctx.budget);
                                return Some(open);
                            }
                            (Answer::NotYet, _) => {}
                            _ => {
                                self.$tfield.stop(ctx.budget);
                                self.off |= 1 << i;
                            }
                        }
                    }
                    i += 1;
                )*
                let _ = i;
                None
            }

            /// Whether some tunnel could still open.
            pub fn running(&self) -> bool {
                let all = (1u16 << [$(stringify!($tfield)),*].len()) - 1;
                u16::from(self.off) & all != all
            }

            /// No tunnel will be looked for any more.
            pub fn stop(&mut self, budget: &mut super::Budget) {
                $( self.$tfield.stop(budget); )*
                self.off = u8::MAX;
            }

            /// Bytes held in buffers.
            pub fn buffered(&self) -> usize {
                0 $( + self.$tfield.buffered() )*
            }
        }
    };
}

protocols! {
    tunnels {
        /// SOCKS4, SOCKS4a and SOCKS5 (RFC 1928, 1929): CONNECT, and UDP ASSOCIATE's control
        /// connection.
        socks: super::socks::Socks;
        /// HTTP CONNECT (RFC 9110, section 9.3.6).
        connect: super::http_connect::Connect;
    }

    shared signals {
        /// The responder's host speaks BitTorrent (DHT, uTP or peer wire) on that very port.
        HostPort = 25, "host:bittorrent-port";
        /// Both hosts were seen speaking BitTorrent before.
        HostPair = 26, "host:bittorrent-hosts";
    }

    stream peer: super::peer::PeerWire =>
        /// Peer wire protocol over TCP (BEP 3), plaintext or MSE/PE-encrypted.
        PeerTcp = 0, "peer-tcp", teaches ServerListensToPeer, carries_infohash true;
        signals {
            /// A peer wire handshake at the start of a TCP stream.
            Handshake = 0, "bt-handshake";
            /// A peer wire handshake later in the stream (after an MSE exchange that chose
            /// plaintext).
            HandshakeLater = 1, "bt-handshake-after-preamble";
            /// Both first flights shaped like an MSE/PE handshake (96-608 random-looking bytes
            /// each, initiator first); over TCP or uTP.
            MseShape = 13, "mse-shape";
            /// The initiator's first flight shaped like MSE/PE, never answered.
            MseOneSided = 14, "mse-one-sided";
        }
        sources {
            /// The listening end of a flow that carried a peer wire handshake or uTP.
            PeerFlow = 7, "peer-flow", peer true, evidence EndpointPeerFlow = 24;
            /// Peers in a peer exchange message (BEP 11).
            Pex = 8, "pex", peer true, evidence EndpointPex = 21;
            /// A peer's listen port from its extension handshake (BEP 10 `p`).
            PeerListen = 9, "peer-listen", peer true, evidence EndpointPeerListen = 23;
        }

    datagram utp: super::utp::Utp =>
        /// Peer wire protocol over uTP (BEP 29).
        PeerUtp = 1, "peer-utp", teaches SenderListensToPeer, carries_infohash true;
        signals {
            /// Valid uTP headers both ways, with related connection ids and acknowledgements.
            UtpExchange = 2, "utp-exchange";
            /// A peer wire handshake inside uTP data.
            UtpHandshake = 3, "utp-bt-handshake";
            /// Repeated valid uTP headers one way whose clock follows the capture's clock.
            UtpOneWay = 4, "utp-one-way";
        }
        sources {}

    datagram dht: super::dht::Dht =>
        /// DHT (BEP 5).
        Dht = 5, "dht", teaches SenderListens, carries_infohash false;
        signals {
            KrpcQuery = 5, "krpc-query";
            KrpcResponse = 6, "krpc-response";
            KrpcError = 7, "krpc-error";
        }
        sources {
            /// Peers in a DHT `get_peers` reply (`values`).
            DhtValues = 2, "dht-values", peer true, evidence EndpointDhtValues = 17;
            /// DHT nodes (`nodes`, `nodes6`, and every KRPC sender).
            DhtNodes = 3, "dht-nodes", peer false, evidence EndpointDhtNodes = 18;
            /// The sender of a DHT `announce_peer`, at the port it announced.
            DhtAnnounce = 4, "dht-announce", peer true, evidence EndpointDhtAnnounce = 19;
        }

    stream http: super::http::HttpTracker =>
        /// HTTP tracker (BEP 3, 23, 48), directly or through an HTTP proxy.
        TrackerHttp = 2, "tracker-http", teaches ClientTookPart, carries_infohash true;
        signals {
            HttpAnnounce = 8, "http-announce";
            HttpScrape = 9, "http-scrape";
        }
        sources {
            /// Peers in an HTTP tracker reply.
            TrackerHttp = 0, "tracker-http", peer true, evidence EndpointTrackerHttp = 15;
            /// A client's own listen port from a tracker announce (`port=`).
            Announce = 6, "announce", peer true, evidence EndpointAnnounce = 22;
        }

    datagram lsd: super::lsd::Lsd =>
        /// Local Service Discovery (BEP 14).
        Lsd = 4, "lsd", teaches SenderTookPart, carries_infohash true;
        signals {
            LsdSearch = 12, "lsd-bt-search";
        }
        sources {
            /// An LSD announce's sender and `Port:`.
            Lsd = 5, "lsd", peer true, evidence EndpointLsd = 20;
        }

    datagram udp_tracker: super::udp_tracker::UdpTracker =>
        /// UDP tracker (BEP 15).
        TrackerUdp = 3, "tracker-udp", teaches ClientTookPart, carries_infohash false;
        signals {
            /// A connect request with the BEP 15 protocol id.
            UdpTrackerConnect = 10, "udp-tracker-connect";
            /// An announce or scrape request answered with the same transaction id.
            UdpTrackerExchange = 11, "udp-tracker-exchange";
        }
        sources {
            /// Peers in a UDP tracker reply.
            TrackerUdp = 1, "tracker-udp", peer true, evidence EndpointTrackerUdp = 16;
        }

}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_orders_are_those_of_the_record_contract() {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "peer-tcp",
                "peer-utp",
                "tracker-http",
                "tracker-udp",
                "lsd",
                "dht"
            ]
        );
        let signals: Vec<&str> = Signal::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            signals,
            [
                "bt-handshake",
                "bt-handshake-after-preamble",
                "utp-exchange",
                "utp-bt-handshake",
                "utp-one-way",
                "krpc-query",
                "krpc-response",
                "krpc-error",
                "http-announce",
                "http-scrape",
                "udp-tracker-connect",
                "udp-tracker-exchange",
                "lsd-bt-search",
                "mse-shape",
                "mse-one-sided",
                "endpoint:tracker-http",
                "endpoint:tracker-udp",
                "endpoint:dht-values",
                "endpoint:dht-nodes",
                "endpoint:dht-announce",
                "endpoint:lsd",
                "endpoint:pex",
                "endpoint:announce",
                "endpoint:peer-listen",
                "endpoint:peer-flow",
                "host:bittorrent-port",
                "host:bittorrent-hosts",
            ]
        );
        let sources: Vec<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            sources,
            [
                "tracker-http",
                "tracker-udp",
                "dht-values",
                "dht-nodes",
                "dht-announce",
                "lsd",
                "announce",
                "peer-flow",
                "pex",
                "peer-listen"
            ]
        );
        for s in Source::ALL {
            assert_eq!(s.signal().as_str(), format!("endpoint:{}", s.as_str()));
        }
        assert!(!Source::DhtNodes.is_peer() && Source::Pex.is_peer());
    }
}
