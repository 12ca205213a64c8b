//! `Version::apply` against a simple model: random edit sequences (valid and invalid) are
//! applied to both; the version must accept exactly the edits the model accepts, hold the same
//! tables in the same order, keep INV-LSM-1..3, and answer `overlapping`/`tables_for_key` like
//! a brute-force scan.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_base::{FileNum, InternalKey, SeqNum, ValueKind};
use cairn_manifest::{NUM_LEVELS, TableMeta, Version, VersionEdit};
use proptest::prelude::*;

/// file number -> (level, table)
type Model = BTreeMap<FileNum, (usize, TableMeta)>;

#[derive(Debug, Clone)]
struct DeleteSpec {
    existing: bool,
    pick: prop::sample::Index,
    level: usize,
    file_num: u64,
}

#[derive(Debug, Clone)]
struct AddSpec {
    level: usize,
    file_num: u64,
    lo: u8,
    hi: u8,
    seq: u64,
}

fn arb_level() -> impl Strategy<Value = usize> {
    prop_oneof![2 => Just(0usize), 3 => 1..NUM_LEVELS]
}

fn arb_edit() -> impl Strategy<Value = (Vec<DeleteSpec>, Vec<AddSpec>)> {
    let delete = (any::<bool>(), any::<prop::sample::Index>(), arb_level(), 1u64..40)
        .prop_map(|(existing, pick, level, file_num)| DeleteSpec { existing, pick, level, file_num });
    let add = (arb_level(), 1u64..40, 0u8..16, 0u8..16, 1u64..100).prop_map(|(level, file_num, a, b, seq)| AddSpec {
        level,
        file_num,
        lo: a.min(b),
        hi: a.max(b),
        seq,
    });
    (prop::collection::vec(delete, 0..3), prop::collection::vec(add, 0..3))
}

fn key(k: u8) -> Vec<u8> {
    vec![b'a' + k]
}

fn meta(spec: &AddSpec) -> TableMeta {
    TableMeta {
        file_num: FileNum(spec.file_num),
        size_bytes: spec.file_num * 10 + spec.seq,
        smallest: InternalKey::new(&key(spec.lo), SeqNum(spec.seq + 5), ValueKind::Set),
        largest: InternalKey::new(&key(spec.hi), SeqNum(spec.seq), ValueKind::Delete),
        smallest_seq: SeqNum(spec.seq),
        largest_seq: SeqNum(spec.seq + 5),
        entries: 3,
        tombstones: 1,
    }
}

fn resolve(model: &Model, deletes: &[DeleteSpec], adds: &[AddSpec]) -> VersionEdit {
    let entries: Vec<_> = model.iter().collect();
    let deleted = deletes
        .iter()
        .map(|d| match (d.existing, entries.is_empty()) {
            (true, false) => {
                let (f, (level, _)) = entries[d.pick.index(entries.len())];
                (*level, *f)
            }
            _ => (d.level, FileNum(d.file_num)),
        })
        .collect();
    VersionEdit { deleted, added: adds.iter().map(|a| (a.level, meta(a))).collect(), ..VersionEdit::default() }
}

/// The model's verdict: the new model, or `None` when the edit must be refused.
fn model_apply(model: &Model, edit: &VersionEdit) -> Option<Model> {
    let mut next = model.clone();
    for (level, f) in &edit.deleted {
        match next.get(f) {
            Some((l, _)) if l == level => next.remove(f),
            _ => return None,
        };
    }
    for (level, m) in &edit.added {
        if next.insert(m.file_num, (*level, m.clone())).is_some() {
            return None;
        }
    }
    for level in 1..NUM_LEVELS {
        let tables = model_level(&next, level);
        for (i, a) in tables.iter().enumerate() {
            for b in &tables[i + 1..] {
                if a.overlaps_user_range(b.smallest_user_key(), b.largest_user_key()) {
                    return None;
                }
            }
        }
    }
    Some(next)
}

/// The model's level in probe order: L0 newest first, L1+ by smallest user key.
fn model_level(model: &Model, level: usize) -> Vec<TableMeta> {
    let mut tables: Vec<TableMeta> = model.values().filter(|(l, _)| *l == level).map(|(_, m)| m.clone()).collect();
    if level == 0 {
        tables.sort_by_key(|m| std::cmp::Reverse((m.largest_seq, m.file_num)));
    } else {
        tables.sort_by(|a, b| a.smallest_user_key().cmp(b.smallest_user_key()));
    }
    tables
}

fn as_metas(tables: &[Arc<TableMeta>]) -> Vec<TableMeta> {
    tables.iter().map(|t| TableMeta::clone(t)).collect()
}

fn check_queries(version: &Version, model: &Model) -> Result<(), TestCaseError> {
    for k in 0u8..17 {
        let uk = key(k);
        let mut expected: Vec<(usize, FileNum)> = Vec::new();
        for level in 0..NUM_LEVELS {
            let holding = model_level(model, level).into_iter().filter(|m| m.contains_user_key(&uk));
            expected.extend(holding.map(|m| (level, m.file_num)));
        }
        let got: Vec<_> = version.tables_for_key(&uk).map(|(l, t)| (l, t.file_num)).collect();
        prop_assert_eq!(got, expected, "tables_for_key({})", k);
        let hi = key(k.saturating_add(3));
        for level in 0..NUM_LEVELS {
            let expected: Vec<_> =
                model_level(model, level).into_iter().filter(|m| m.overlaps_user_range(&uk, &hi)).collect();
            prop_assert_eq!(as_metas(&version.overlapping(level, &uk, &hi)), expected, "overlapping L{}", level);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn apply_matches_model(edits in prop::collection::vec(arb_edit(), 1..25)) {
        let mut version = Version::default();
        let mut model = Model::new();
        for (deletes, adds) in &edits {
            let edit = resolve(&model, deletes, adds);
            match (model_apply(&model, &edit), version.apply(&edit)) {
                (Some(next_model), Ok(next)) => {
                    model = next_model;
                    version = next;
                }
                (None, Err(e)) => prop_assert!(e.is_corruption(), "refusal is corruption-class: {e}"),
                (expected, got) => {
                    return Err(TestCaseError::fail(format!("edit {edit:?}: model {:?}, version {got:?}", expected.is_some())));
                }
            }
            version.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
            for level in 0..NUM_LEVELS {
                prop_assert_eq!(as_metas(version.level(level)), model_level(&model, level));
                let size: u64 = model_level(&model, level).iter().map(|m| m.size_bytes).sum();
                prop_assert_eq!(version.level_size_bytes(level), size);
            }
            prop_assert_eq!(version.num_tables(), model.len());
            check_queries(&version, &model)?;
        }
        let rebuilt = Version::default().apply(&version.snapshot_edit()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(rebuilt, version);
    }
}
