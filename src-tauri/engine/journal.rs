//! The add journal: how an answered `.torrent` add is on disk before it is answered, for the
//! price of one small append and one `fdatasync`.
//!
//! It is the library: every task's torrent and the user's last pause or resume (see
//! `restore.rs`). Rewriting a whole state file per add would cost O(N) each (O(N²) for a
//! library added in one go), and a file per torrent two fsyncs more. So each add appends one
//! line (the torrent, base64, and whether it starts paused) to `adds.journal`; a removal appends
//! a line that forgets it, and a pause or resume a line with the task's new intent. At start the
//! journal is read whole, and rewritten with one line per task only once the lines that no
//! longer count (earlier intents, removed tasks) have piled up (see [`worth_compacting`]).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::durable;

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Record {
    /// A torrent was added (or a magnet's metadata arrived): its bytes, base64.
    Add {
        id: String,
        torrent: String,
        paused: bool,
    },
    /// The user paused or resumed it.
    Paused { id: String, paused: bool },
    /// It was removed.
    Forget { id: String },
}

/// What the journal holds of one task: its torrent, if librqbit may not have it yet, and the
/// user's last pause or resume.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub torrent: Option<Vec<u8>>,
    pub paused: bool,
}

pub struct Journal {
    path: PathBuf,
    /// The append handle, opened on first use.
    file: Mutex<Option<File>>,
}

impl Journal {
    pub fn new(path: PathBuf) -> Journal {
        Journal {
            path,
            file: Mutex::new(None),
        }
    }

    /// The adds the journal holds, by id, the latest record of each winning, and how many
    /// lines the file has. Lines that do not parse (a line cut short by a crash) are skipped.
    pub fn read_counting(&self) -> (BTreeMap<String, Entry>, usize) {
        let mut entries = BTreeMap::new();
        let mut lines = 0;
        let Ok(file) = File::open(&self.path) else {
            return (entries, lines);
        };
        for line in BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            lines += 1;
            let Ok(record) = serde_json::from_str::<Record>(&line) else {
                continue;
            };
            match record {
                Record::Add {
                    id,
                    torrent,
                    paused,
                } => {
                    if let Ok(torrent) = base64::engine::general_purpose::STANDARD.decode(torrent) {
                        let torrent = Some(torrent);
                        entries.insert(id, Entry { torrent, paused });
                    }
                }
                Record::Paused { id, paused } => {
                    let torrent = None;
                    entries
                        .entry(id)
                        .or_insert(Entry { torrent, paused })
                        .paused = paused;
                }
                Record::Forget { id } => {
                    entries.remove(&id);
                }
            }
        }
        (entries, lines)
    }

    /// Appends `record`; with `durable`, returns once it is on disk. Blocking.
    pub fn append(&self, record: &Record, durable: bool) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if file.is_none() {
            let created = !self.path.exists();
            let mut opened = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&self.path)?;
            if created {
                // The new file's name must survive a crash too.
                opened.sync_all()?;
                sync_folder(&self.path)?;
            } else if !ends_with_newline(&opened)? {
                // A line cut short by a crash: the next record starts on a line of its own.
                opened.write_all(b"\n")?;
            }
            *file = Some(opened);
        }
        let Some(handle) = file.as_mut() else {
            return Ok(());
        };
        handle.write_all(&line)?;
        if durable {
            handle.sync_data()?;
        }
        Ok(())
    }

    /// Makes every record appended so far durable. Blocking.
    pub fn sync(&self) -> std::io::Result<()> {
        // On a handle of its own: appends go on while the disk works.
        let handle = {
            let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
            match file.as_ref() {
                Some(handle) => handle.try_clone()?,
                None => return Ok(()),
            }
        };
        handle.sync_data()
    }

    /// Replaces the journal with `keep`, one line per task. Blocking; run at start, before any
    /// append.
    pub fn compact(&self, keep: &BTreeMap<String, Entry>) -> std::io::Result<()> {
        let mut text = Vec::new();
        for (id, entry) in keep {
            let record = match &entry.torrent {
                Some(torrent) => Record::Add {
                    id: id.clone(),
                    torrent: base64::engine::general_purpose::STANDARD.encode(torrent),
                    paused: entry.paused,
                },
                None => Record::Paused {
                    id: id.clone(),
                    paused: entry.paused,
                },
            };
            text.extend(serde_json::to_vec(&record).map_err(std::io::Error::other)?);
            text.push(b'\n');
        }
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        *file = None;
        durable::write_atomically(&self.path, &text, durable::Access::Shared)
    }
}

/// Does the (non-empty) file end with a newline? An empty one counts as ending well.
fn ends_with_newline(file: &File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    let mut last = [0u8; 1];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut last, len - 1)?;
    }
    #[cfg(not(unix))]
    {
        last[0] = b'\n';
    }
    Ok(last[0] == b'\n')
}

/// Makes the journal's own name durable.
fn sync_folder(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(folder) = path.parent() {
        File::open(folder)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Whether a journal of `lines` lines that holds `entries` tasks is worth rewriting at start:
/// once a quarter of its lines (and at least a thousand) no longer count. Rewriting it at every
/// start made every start of a large library write (and fsync) all of it again, before the API
/// could answer; between two rewrites it grows by the pauses, resumes and removals made.
pub fn worth_compacting(lines: usize, entries: usize) -> bool {
    lines.saturating_sub(entries) >= (entries / 4).max(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_is_rewritten_only_once_its_dead_lines_pile_up() {
        // One line per task: nothing to gain.
        assert!(!worth_compacting(10_000, 10_000));
        assert!(!worth_compacting(12_499, 10_000));
        assert!(worth_compacting(12_500, 10_000));
        // A small library waits for a thousand dead lines.
        assert!(!worth_compacting(1_099, 100));
        assert!(worth_compacting(1_100, 100));
        // Everything removed.
        assert!(worth_compacting(1_000, 0));
    }

    #[test]
    fn the_latest_record_wins_and_a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("adds.journal"));
        let add = |id: &str, bytes: &[u8]| Record::Add {
            id: id.into(),
            torrent: base64::engine::general_purpose::STANDARD.encode(bytes),
            paused: false,
        };
        journal.append(&add("a", b"one"), true).unwrap();
        journal.append(&add("b", b"two"), true).unwrap();
        journal
            .append(
                &Record::Paused {
                    id: "a".into(),
                    paused: true,
                },
                false,
            )
            .unwrap();
        journal
            .append(&Record::Forget { id: "b".into() }, true)
            .unwrap();
        // A crash in the middle of a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("adds.journal"))
            .unwrap()
            .write_all(b"{\"op\":\"add\",\"id\":\"c\",\"torr")
            .unwrap();
        // A new run appends after the torn line, on a line of its own.
        let journal = Journal::new(dir.path().join("adds.journal"));
        journal.append(&add("e", b"five"), true).unwrap();
        journal
            .append(&Record::Forget { id: "e".into() }, true)
            .unwrap();
        // A pause of a task whose add was compacted away still counts.
        let old = Record::Paused {
            id: "old".into(),
            paused: true,
        };
        journal.append(&old, true).unwrap();
        let entries = journal.read_counting().0;
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(
            entries["a"],
            Entry {
                torrent: Some(b"one".to_vec()),
                paused: true
            }
        );
        assert_eq!(
            entries["old"],
            Entry {
                torrent: None,
                paused: true
            }
        );
        journal.compact(&entries).unwrap();
        assert_eq!(journal.read_counting().0, entries);
        journal.append(&add("d", b"four"), true).unwrap();
        assert_eq!(
            journal.read_counting().0.len(),
            3,
            "appends go on after a compaction"
        );
    }
}
