//! The evidence store: what swarmwall keeps of BitTorrent flows so that a copyright notice can
//! be checked against it — and nothing a thief of the files could use.
//!
//! - [`row`]: a flow becomes a [`Row`] (both ends as keyed pseudonyms, ports, times to the
//!   second, kinds, info-hashes, bytes, software) and the local addresses seen become
//!   [`Presence`] entries, so that "watched, no BitTorrent" can be told from "not watched".
//! - [`key`]: one HMAC key per period (a day by default) in a key file apart from the store;
//!   a period's key is destroyed when the period leaves the retention window.
//! - [`pseudonym`]: HMAC-SHA256 of the address under the period's key.
//! - [`sqlite`]: the default backend, one SQLite file (WAL, mode 0600, secure delete).
//! - [`postgres`]: one store for many sensors (versioned migrations, insert-only sensors);
//!   [`spool`]: a sensor's local spool while the server is out of reach.
//! - [`facts`]: endpoints learned, shared between sensors by keyed tag (no address).
//! - [`writer`]: batches records into a backend, prunes, counts.
//! - [`query`]: finds the rows of an address by computing its pseudonym under each period's
//!   key; without the key there is nothing to compare with.

pub mod facts;
pub mod key;
pub mod ledger;
pub mod postgres;
pub mod pseudonym;
pub mod query;
pub mod row;
pub mod spool;
pub mod sqlite;
pub mod store;
pub mod writer;

pub use key::{DAY, KeyRing};
pub use query::{Lookup, Match};
pub use row::{LocalNets, Presence, Recorder, Row, StoredTunnel};
pub use store::{
    Backend, Batch, Coverage, StoreStats, is_postgres, open, open_existing, open_sensor,
};
pub use writer::{Counters, Writer};

use std::path::PathBuf;

/// Why the store or the key file could not be used. Displayed as one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: key file: {1}", path = .0.display())]
    Key(PathBuf, String),
    #[error("{0}: evidence store: {1}")]
    Store(String, String),
}
