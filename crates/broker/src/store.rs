//! The durable store behind `--data-dir`: a redb database holding the
//! records the core reports (see `mqttkit_model::persist`).
//!
//! redb is an embedded, pure-Rust, ACID key-value store: a commit is
//! atomic and, with the default durability, on disk (fsync) when `commit`
//! returns; pages carry checksums, and a database left open by a killed
//! process is repaired (rolled back to its last commit) on the next open.
//! The broker writes one transaction per batch of core outputs (group
//! commit), so the cost of a sync is shared by everything the batch did.

use std::io;
use std::path::{Path, PathBuf};

use mqttkit_model::persist::{StoreOp, StoredState, Table, FORMAT};
use redb::{Database, ReadableTable, TableDefinition};

const SESSIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("sessions");
const MESSAGES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("messages");
const RETAINED: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("retained");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// The file inside the data directory.
pub const FILE_NAME: &str = "mqttkit.redb";

/// An open store.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn bad(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!(
        "data store {}: {what} (move the data directory away to start with an empty store)",
        path.display()
    ))
}

impl Store {
    /// Opens (or creates) the store in `dir` and reads every record.
    pub fn open(dir: &Path) -> io::Result<(Store, StoredState)> {
        std::fs::create_dir_all(dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create data directory {}: {e}", dir.display()),
            )
        })?;
        let path = dir.join(FILE_NAME);
        // redb reads the file it is given; a damaged file must be an error,
        // never a crash of the broker: a panic inside redb is caught and
        // reported like any other error.
        let opened = std::panic::catch_unwind(|| Database::create(&path));
        let mut db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => {
                return Err(bad(&path, "already in use by another broker"))
            }
            Ok(Err(e)) => return Err(bad(&path, format!("cannot open: {e}"))),
            Err(_) => return Err(bad(&path, "cannot open: the file is damaged")),
        };
        let read =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Self::prepare_and_read(&db)));
        let state = match read {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(bad(&path, e)),
            Err(_) => return Err(bad(&path, "cannot read: the file is damaged")),
        };
        // Give back the space of deleted records (redb reuses freed pages
        // anyway; this keeps the file near the size of the live data).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.compact()));
        Ok((Store { db, path }, state))
    }

    fn prepare_and_read(db: &Database) -> Result<StoredState, String> {
        let w = db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut meta = w.open_table(META).map_err(|e| e.to_string())?;
            let format = meta
                .get("format")
                .map_err(|e| e.to_string())?
                .map(|v| v.value());
            match format {
                None => {
                    meta.insert("format", u64::from(FORMAT))
                        .map_err(|e| e.to_string())?;
                }
                Some(f) if f == u64::from(FORMAT) => {}
                Some(f) => {
                    return Err(format!(
                        "record format {f} is not the one this broker reads ({FORMAT})"
                    ))
                }
            }
            w.open_table(SESSIONS).map_err(|e| e.to_string())?;
            w.open_table(MESSAGES).map_err(|e| e.to_string())?;
            w.open_table(RETAINED).map_err(|e| e.to_string())?;
        }
        w.commit().map_err(|e| e.to_string())?;
        let r = db.begin_read().map_err(|e| e.to_string())?;
        let mut state = StoredState::default();
        for (t, into) in [
            (SESSIONS, &mut state.sessions),
            (MESSAGES, &mut state.messages),
            (RETAINED, &mut state.retained),
        ] {
            let table = r.open_table(t).map_err(|e| e.to_string())?;
            for entry in table.iter().map_err(|e| e.to_string())? {
                let (k, v) = entry.map_err(|e| e.to_string())?;
                into.insert(k.value().to_string(), v.value().to_vec());
            }
        }
        Ok(state)
    }

    /// Applies `ops` in one transaction and makes it durable before
    /// returning.
    pub fn apply(&self, ops: &[StoreOp]) -> io::Result<()> {
        self.write(ops)
            .map_err(|e| bad(&self.path, format!("cannot write: {e}")))
    }

    fn write(&self, ops: &[StoreOp]) -> Result<(), String> {
        let e = |e: redb::Error| e.to_string();
        let w = self.db.begin_write().map_err(|x| e(x.into()))?;
        {
            let mut sessions = w.open_table(SESSIONS).map_err(|x| e(x.into()))?;
            let mut messages = w.open_table(MESSAGES).map_err(|x| e(x.into()))?;
            let mut retained = w.open_table(RETAINED).map_err(|x| e(x.into()))?;
            for op in ops {
                let (table, key) = match op {
                    StoreOp::Put { table, key, .. } | StoreOp::Delete { table, key } => {
                        (table, key)
                    }
                };
                let t = match table {
                    Table::Sessions => &mut sessions,
                    Table::Messages => &mut messages,
                    Table::Retained => &mut retained,
                };
                match op {
                    StoreOp::Put { value, .. } => {
                        t.insert(&**key, value.as_slice())
                            .map_err(|x| e(x.into()))?;
                    }
                    StoreOp::Delete { .. } => {
                        t.remove(&**key).map_err(|x| e(x.into()))?;
                    }
                }
            }
        }
        w.commit().map_err(|x| e(x.into()))
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
