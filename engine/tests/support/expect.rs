//! The states a database may legitimately hold, given what each write call returned.
//!
//! * A write whose call returned `Ok` is *acknowledged*: it must be present after a reopen (G1;
//!   here a process exit, so `Buffered` writes count too).
//! * A write whose call returned `Poisoned` was refused before it was logged: it must be absent.
//! * A write whose call returned any other error is *unknown*: after a reopen its batch may be
//!   present or absent, but whole (G3).
//!
//! So the possible states form a set: every acknowledged write applied in order, each unknown one
//! applied or not. Because a failed write never reaches the memtable, the open handle itself
//! must show the state with no unknown write applied (`live`). After a power loss the state may
//! also be any of these at an earlier point, back to the last point where everything was durable
//! (G1, G2: a prefix of the commit order containing every acknowledged-durable batch).

use cairn_testkit::Model;

/// One write: `(key, Some(value))` puts, `(key, None)` deletes; applied atomically.
pub type Entries = [(Vec<u8>, Option<Vec<u8>>)];

/// Above this many distinct possible states the test gives up (a sign of a broken tracker, not
/// of the engine: each unknown write at most doubles the set, and a poisoned database refuses
/// every later write).
const MAX_CANDIDATES: usize = 4096;

/// The tracker. See the module documentation.
#[derive(Debug, Clone)]
pub struct Expect {
    /// Every state a reopen (after a process exit) may show.
    candidates: Vec<Model>,
    /// What the open handle shows: `None` once a reopen read failed (then unknown).
    live: Option<Model>,
    /// Every state a power loss may leave: each candidate at each point since the last durable one.
    after_power_loss: Vec<Model>,
    /// Writes whose outcome is unknown, for the summary.
    pub unknown_writes: usize,
}

impl Default for Expect {
    fn default() -> Self {
        Expect::new(Model::new())
    }
}

impl Expect {
    /// Starts from `state`, durable.
    pub fn new(state: Model) -> Expect {
        Expect {
            candidates: vec![state.clone()],
            live: Some(state.clone()),
            after_power_loss: vec![state],
            unknown_writes: 0,
        }
    }

    /// A write was acknowledged; `durable` when it was fsynced before the call returned.
    pub fn acknowledged(&mut self, entries: &Entries, durable: bool) {
        for c in &mut self.candidates {
            apply(c, entries);
        }
        if let Some(live) = &mut self.live {
            apply(live, entries);
        }
        self.dedup();
        if durable {
            self.durable();
        } else {
            self.after_power_loss.extend(self.candidates.iter().cloned());
        }
    }

    /// A write failed with an error other than `Poisoned`: it may or may not be present.
    pub fn unknown(&mut self, entries: &Entries) {
        self.unknown_writes += 1;
        let with: Vec<Model> = self
            .candidates
            .iter()
            .map(|c| {
                let mut c = c.clone();
                apply(&mut c, entries);
                c
            })
            .collect();
        self.candidates.extend(with);
        self.dedup();
        assert!(self.candidates.len() <= MAX_CANDIDATES, "too many possible states: {}", self.candidates.len());
        self.after_power_loss.extend(self.candidates.iter().cloned());
    }

    /// Everything so far became durable (a `Sync` write, `sync`, `flush`, `compact` or `close`
    /// returned `Ok`).
    pub fn durable(&mut self) {
        self.after_power_loss = self.candidates.clone();
    }

    /// The database was reopened and showed `state` (`None`: reading it failed, so it stays
    /// unknown which candidate it is). Returns an error when `state` is not a possible one.
    pub fn reopened(&mut self, state: Option<Model>) -> Result<(), String> {
        let Some(state) = state else {
            self.live = None;
            return Ok(());
        };
        if !self.candidates.contains(&state) {
            return Err(self.explain("reopen", &state));
        }
        // Recovery wrote every replayed record to synced tables and a synced manifest.
        *self = Expect { unknown_writes: self.unknown_writes, ..Expect::new(state) };
        Ok(())
    }

    /// What the open handle must show, when known.
    pub fn live(&self) -> Option<&Model> {
        self.live.as_ref()
    }

    /// Checks the state after a process exit and a reopen.
    pub fn check_after_exit(&self, state: &Model) -> Result<(), String> {
        if self.candidates.contains(state) { Ok(()) } else { Err(self.explain("process exit", state)) }
    }

    /// Checks the state after a power loss and a reopen.
    pub fn check_after_power_loss(&self, state: &Model) -> Result<(), String> {
        if self.after_power_loss.contains(state) {
            Ok(())
        } else {
            Err(format!(
                "power loss: state of {} keys is none of the {} allowed prefixes; {}",
                state.len(),
                self.after_power_loss.len(),
                closest_difference(&self.after_power_loss, state)
            ))
        }
    }

    fn dedup(&mut self) {
        let mut seen: Vec<Model> = Vec::with_capacity(self.candidates.len());
        for c in self.candidates.drain(..) {
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
        self.candidates = seen;
    }

    fn explain(&self, when: &str, state: &Model) -> String {
        format!(
            "{when}: state of {} keys is none of the {} possible states; {}",
            state.len(),
            self.candidates.len(),
            closest_difference(&self.candidates, state)
        )
    }
}

fn apply(m: &mut Model, entries: &Entries) {
    for (k, v) in entries {
        match v {
            Some(v) => m.put(k, v),
            None => m.delete(k),
        }
    }
}

/// Describes how `state` differs from the most similar of `allowed` (for failure messages).
fn closest_difference(allowed: &[Model], state: &Model) -> String {
    let diff = |m: &Model| -> Vec<String> {
        let mut d = Vec::new();
        for (k, v) in m.entries() {
            match state.get(&k) {
                None => d.push(format!("missing {}", super::state::show(&k))),
                Some(got) if got != v.as_slice() => d.push(format!("wrong value for {}", super::state::show(&k))),
                Some(_) => {}
            }
        }
        for (k, _) in state.entries() {
            if !m.contains_key(&k) {
                d.push(format!("extra {}", super::state::show(&k)));
            }
        }
        d
    };
    let best = allowed.iter().map(diff).min_by_key(Vec::len).unwrap_or_default();
    format!("closest differs by {} keys: {}", best.len(), best.iter().take(5).cloned().collect::<Vec<_>>().join(", "))
}
