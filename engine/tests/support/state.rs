//! Reading everything a database holds, through every read path: a forward scan, a reverse scan
//! and a point `get` of every key the test ever wrote. The three must agree; each error is kept
//! (typed) so a caller can decide whether it was allowed.

use cairn::{Db, Error};
use cairn_testkit::Model;

/// What a database showed: the entries read, and the errors met on the way.
#[derive(Debug, Default)]
pub struct Observed {
    /// Entries of the forward scan (up to its first error).
    pub forward: Vec<(Vec<u8>, Vec<u8>)>,
    /// Whether the forward scan ran to its end.
    pub forward_complete: bool,
    /// Entries of the reverse scan (up to its first error), in the order read.
    pub reverse: Vec<(Vec<u8>, Vec<u8>)>,
    /// Whether the reverse scan ran to its end.
    pub reverse_complete: bool,
    /// `get` of every key of the universe that succeeded.
    pub gets: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Every error, in the order met.
    pub errors: Vec<Error>,
}

impl Observed {
    /// The whole state, if every read succeeded and the read paths agree; `Err` describes the
    /// first disagreement (a bug: the read paths of one database must agree).
    pub fn complete_state(&self) -> Option<Result<Model, String>> {
        if !self.errors.is_empty() || !self.forward_complete || !self.reverse_complete {
            return None;
        }
        Some(self.agreed_state())
    }

    fn agreed_state(&self) -> Result<Model, String> {
        let mut model = Model::new();
        for (k, v) in &self.forward {
            model.put(k, v);
        }
        let mut reverse = self.reverse.clone();
        reverse.reverse();
        if reverse != self.forward {
            return Err("forward and reverse scans disagree".to_string());
        }
        for (k, got) in &self.gets {
            if got.as_deref() != model.get(k) {
                return Err(format!("get({}) disagrees with the scan", show(k)));
            }
        }
        Ok(model)
    }

    /// Checks every value that was read (even around errors) against `expected`: `None` when all
    /// agree, else the first difference.
    pub fn first_difference(&self, expected: &Model) -> Option<String> {
        let want = expected.entries();
        if let Some(d) = prefix_difference("forward scan", &self.forward, &want, self.forward_complete) {
            return Some(d);
        }
        let want_rev: Vec<_> = want.iter().rev().cloned().collect();
        if let Some(d) = prefix_difference("reverse scan", &self.reverse, &want_rev, self.reverse_complete) {
            return Some(d);
        }
        self.gets.iter().find(|(k, got)| got.as_deref() != expected.get(k)).map(|(k, got)| {
            format!("get({}) = {:?}, want {:?}", show(k), got.as_deref().map(show), expected.get(k).map(show))
        })
    }
}

/// Differences between a scan that read `got` (stopping early when `!complete`) and `want`.
fn prefix_difference(
    what: &str,
    got: &[(Vec<u8>, Vec<u8>)],
    want: &[(Vec<u8>, Vec<u8>)],
    complete: bool,
) -> Option<String> {
    for (i, g) in got.iter().enumerate() {
        match want.get(i) {
            Some(w) if w == g => {}
            Some(w) => {
                return Some(format!(
                    "{what}: entry {i} is {} = {}, want {} = {}",
                    show(&g.0),
                    show(&g.1),
                    show(&w.0),
                    show(&w.1)
                ));
            }
            None => return Some(format!("{what}: extra entry {} = {}", show(&g.0), show(&g.1))),
        }
    }
    if complete && got.len() < want.len() {
        return Some(format!(
            "{what}: ends after {} entries, want {} (missing {})",
            got.len(),
            want.len(),
            show(&want[got.len()].0)
        ));
    }
    None
}

/// Reads `db` through every read path; `universe` lists the keys to `get`.
pub fn observe(db: &Db, universe: &[Vec<u8>]) -> Observed {
    let mut o = Observed::default();
    o.forward_complete = scan(db.iter(), &mut o.forward, &mut o.errors);
    o.reverse_complete = scan(db.iter().rev(), &mut o.reverse, &mut o.errors);
    for k in universe {
        match db.get(k) {
            Ok(v) => o.gets.push((k.clone(), v.map(|b| b.to_vec()))),
            Err(e) => o.errors.push(e),
        }
    }
    o
}

/// Collects a scan into `out` up to its first error (kept in `errors`); true if it ran to its end.
fn scan(
    it: impl Iterator<Item = cairn::Result<(bytes::Bytes, bytes::Bytes)>>,
    out: &mut Vec<(Vec<u8>, Vec<u8>)>,
    errors: &mut Vec<Error>,
) -> bool {
    for item in it {
        match item {
            Ok((k, v)) => out.push((k.to_vec(), v.to_vec())),
            Err(e) => {
                errors.push(e);
                return false;
            }
        }
    }
    true
}

/// A key or value for messages: printable ASCII as is, other bytes escaped, long ones cut.
pub fn show(b: &[u8]) -> String {
    let s = cairn_base::key::fmt_user_key(b);
    if s.len() > 40 { format!("{}...", &s[..40]) } else { s }
}

/// The variant name of an error, for summaries (`Corruption`, `Io`, `NoSpace`, ...). A poisoned
/// error shows its cause: `Poisoned(Io)`.
pub fn variant(e: &Error) -> String {
    match e {
        Error::Io { .. } => "Io".to_string(),
        Error::NoSpace { .. } => "NoSpace".to_string(),
        Error::Corruption { .. } => "Corruption".to_string(),
        Error::Poisoned { cause } => format!("Poisoned({})", variant(cause)),
        Error::Locked { .. } => "Locked".to_string(),
        Error::Unsupported { .. } => "Unsupported".to_string(),
        Error::InvalidArgument { .. } => "InvalidArgument".to_string(),
        Error::Closed => "Closed".to_string(),
        _ => "other".to_string(),
    }
}
