#!/usr/bin/env bash
# compare.sh: RocksDB's db_bench, Cairn, fjall and LMDB on identical flags, one dataset after
# another, on this machine (docs/tools.md#comparesh).
#
# For each dataset size (NUMS, default "1000000 10000000"; QUICK=1 means NUMS=100000) and each
# engine (ENGINES, default "rocksdb cairn fjall lmdb"):
#   1. load:  --benchmarks=fillrandom,overwrite,compact        (a fresh database)
#   2. reads: one invocation each, --use_existing_db=1:
#             readrandom, readmissing, seekrandom (--seek_nexts=10), readseq,
#             multireadrandom (--batch_size=32), readrandom --threads=2
# Every invocation gets the same flags:
#   --key_size=16 --value_size=100 --compression_type=none --cache_size=536870912 --bloom_bits=10
#   --write_buffer_size=67108864 --seed=1 --histogram=1 --num=N --reads=R
# (R = READS, default min(N, 1000000)). RocksDB runs through Debian's `db_bench` (package
# rocksdb-tools, installed here with apt-get when missing); the others through
# `cairn-bench --engine=...`, built in release with `--features fjall,lmdb`.
#
# Output:
#   docs/benchmarks/raw/<date>-<N>.jsonl  one JSON object per (engine, workload): cairn-bench's
#                                         --json fields, plus "label" and "num"
#   docs/benchmarks/latest.md             machine, versions, commands, and per dataset a table
#                                         of workload x engine: ops/s, p50/p99 µs, ratio vs
#                                         db_bench; then the load's write/space amplification
#   $COMPARE_DIR/logs/                    every invocation's full output (default
#                                         target/compare)
# Databases live under $COMPARE_DIR/db and are deleted after each engine's reads.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if [[ "${QUICK:-0}" == 1 ]]; then
    NUMS=${NUMS:-100000}
fi
NUMS=${NUMS:-"1000000 10000000"}
ENGINES=${ENGINES:-"rocksdb cairn fjall lmdb"}
# Relative to the repository root (the script runs there), so recorded command lines name no
# machine path.
COMPARE_DIR=${COMPARE_DIR:-target/compare}
DATE=$(date -u +%Y-%m-%d)
RAW_DIR=docs/benchmarks/raw
LATEST=docs/benchmarks/latest.md
BENCH=$ROOT/target/release/cairn-bench
LOGS=$COMPARE_DIR/logs
DBS=$COMPARE_DIR/db
COMMON=(--key_size=16 --value_size=100 --compression_type=none --cache_size=536870912 --bloom_bits=10
    --write_buffer_size=67108864 --seed=1 --histogram=1)

# The read workloads: label, then the flags that select it.
READ_WORKLOADS=(
    "readrandom|--benchmarks=readrandom"
    "readmissing|--benchmarks=readmissing"
    "seekrandom|--benchmarks=seekrandom --seek_nexts=10"
    "readseq|--benchmarks=readseq"
    "multireadrandom|--benchmarks=multireadrandom --batch_size=32"
    "readrandom-t2|--benchmarks=readrandom --threads=2"
)

log() { printf '[compare] %s\n' "$*" >&2; }

# Installs what the script needs when it is missing (only here: never in a build or test).
ensure_tools() {
    local missing=()
    command -v db_bench >/dev/null || missing+=(rocksdb-tools)
    command -v jq >/dev/null || missing+=(jq)
    [[ -x /usr/bin/time ]] || missing+=(time)
    if ((${#missing[@]})); then
        log "installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

build() {
    log "building cairn-bench (release, --features fjall,lmdb)"
    cargo build --release -q -p cairn-bench --bin cairn-bench --features fjall,lmdb
}

# run_logged LOG CMD...: runs CMD with /usr/bin/time, stdout+stderr to LOG, peak RSS (KiB) and
# file-system output blocks (512 B) to LOG.time, the command line to LOG.cmd and to the list of
# commands. Returns CMD's exit status.
run_logged() {
    local log_file=$1
    shift
    printf '%s\n' "$*" | tee "$log_file.cmd" >>"$COMMANDS"
    /usr/bin/time -o "$log_file.time" -f '%M %O' "$@" >"$log_file" 2>&1
}

# The program and engine flag of ENGINE.
engine_cmd() {
    case $1 in
        rocksdb) echo "db_bench" ;;
        *) echo "$BENCH --engine=$1" ;;
    esac
}

# db_bench_json LOG LABEL NUM: JSON lines for every result line of a db_bench log, with the
# percentiles of the histogram block that follows it, peak RSS and kernel-counted output bytes
# from /usr/bin/time, and the command line.
db_bench_json() {
    local log_file=$1 label=$2 num=$3
    local rss_kib out_blocks
    read -r rss_kib out_blocks <"$log_file.time" || true
    awk -v label="$label" -v num="$num" -v rss_kib="${rss_kib:-0}" -v out_blocks="${out_blocks:-0}" '
        function flush_result() {
            if (name == "") return
            printf "{\"engine\":\"rocksdb\",\"benchmark\":\"%s\",\"label\":\"%s\",\"num\":%d,\"threads\":%d,", name, lab, num, threads
            printf "\"ops\":%d,\"ops_per_sec\":%s,\"micros_per_op\":%s,\"mb_per_sec\":%s,", ops, opsps, micros, mbps
            printf "\"p50_us\":%s,\"p99_us\":%s,\"p999_us\":%s,", p50, p99, p999
            printf "\"found\":%s,\"lookups\":%s,\"elapsed_s\":%s,", found, lookups, secs
            printf "\"peak_rss_bytes\":%d,\"os_bytes_written\":%d}\n", rss_kib * 1024, out_blocks * 512
            name = ""
        }
        /^[a-z0-9]+ +: +[0-9.]+ micros\/op [0-9]+ ops\/sec [0-9.]+ seconds [0-9]+ operations;/ {
            flush_result()
            name = $1; micros = $3; opsps = $5; secs = $7; ops = $9
            mbps = "null"; found = "null"; lookups = "null"; p50 = "null"; p99 = "null"; p999 = "null"
            if (match($0, /[0-9.]+ MB\/s/)) { mbps = substr($0, RSTART, RLENGTH - 5) }
            if (match($0, /\([0-9]+ of [0-9]+ found\)/)) {
                split(substr($0, RSTART + 1, RLENGTH - 8), f, " of "); found = f[1]; lookups = f[2]
            }
            lab = (name == "compact" || name == "fillrandom" || name == "overwrite") ? name : label
            threads = (label ~ /-t2$/) ? 2 : 1
            next
        }
        /^Percentiles: P50: / && name != "" { p50 = $3; p99 = $7; p999 = $9; flush_result() }
        END { flush_result() }
    ' "$log_file" | jq -c --rawfile cmd "$log_file.cmd" '. + {command_line: ($cmd | rtrimstr("\n"))}'
}

# cairn_json JSON LABEL NUM: cairn-bench's --json lines with "label" and "num" added (the load's
# lines keep their benchmark name as label), and the kernel's figures from /usr/bin/time.
cairn_json() {
    local json_file=$1 label=$2 num=$3
    [[ -s $json_file ]] || return 0
    jq -c --arg lab "$label" --argjson num "$num" \
        '. + {"label": (if $lab == "load" then .benchmark else $lab end), "num": $num}' "$json_file"
}

# run_engine ENGINE NUM READS RAW: the load and every read workload of ENGINE on NUM keys.
run_engine() {
    local engine=$1 num=$2 reads=$3 raw=$4
    local db=$DBS/$engine-$num cmd
    cmd=$(engine_cmd "$engine")
    rm -rf "$db"
    mkdir -p "$DBS"
    local log_file=$LOGS/$num-$engine-load.log status=0
    log "$engine, $num keys: fillrandom,overwrite,compact"
    # shellcheck disable=SC2086
    run_logged "$log_file" $cmd "${COMMON[@]}" --num="$num" --reads="$reads" --db="$db" \
        --benchmarks=fillrandom,overwrite,compact $(json_flag "$engine" "$log_file") || status=$?
    if ((status)); then
        note "$num keys: $engine could not load the dataset (exit status $status; see $log_file); its reads are skipped"
        return 0
    fi
    collect "$engine" "$log_file" load "$num" "$db" >>"$raw"
    for workload in "${READ_WORKLOADS[@]}"; do
        local label=${workload%%|*} flags=${workload#*|}
        log_file=$LOGS/$num-$engine-$label.log
        status=0
        log "$engine, $num keys: $label"
        # shellcheck disable=SC2086
        run_logged "$log_file" $cmd "${COMMON[@]}" --num="$num" --reads="$reads" --db="$db" \
            --use_existing_db=1 $flags $(json_flag "$engine" "$log_file") || status=$?
        if ((status)); then
            note "$num keys: $engine skipped $label (exit status $status; see $log_file)"
            continue
        fi
        collect "$engine" "$log_file" "$label" "$num" "$db" >>"$raw"
    done
    rm -rf "$db"
}

json_flag() {
    [[ $1 == rocksdb ]] || echo "--json=$2.json"
}

# collect ENGINE LOG LABEL NUM DB: the JSON lines of one invocation. db_bench's load lines also
# get the directory's allocated bytes, for the space amplification estimate.
collect() {
    local engine=$1 log_file=$2 label=$3 num=$4 db=$5
    if [[ $engine != rocksdb ]]; then
        cairn_json "$log_file.json" "$label" "$num"
    elif [[ $label == load ]]; then
        local dir_bytes
        dir_bytes=$(du --block-size=1 -s "$db" | cut -f1)
        db_bench_json "$log_file" "$label" "$num" | jq -c --argjson d "$dir_bytes" '. + {dir_size_bytes: $d}'
    else
        db_bench_json "$log_file" "$label" "$num"
    fi
}

note() {
    log "$*"
    printf -- '- %s\n' "$*" >>"$NOTES"
}

# render_dataset RAW NUM: the Markdown tables of one dataset.
render_dataset() {
    local raw=$1 num=$2
    printf '\n## %s keys\n\n' "$num"
    printf 'Raw results: `%s`.\n\n' "$raw"
    printf '| workload | engine | ops/s | p50 µs | p99 µs | vs db_bench |\n'
    printf '| --- | --- | ---: | ---: | ---: | ---: |\n'
    jq -r -s '
        def r(d): if . == null then "—" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
        def order: ["fillrandom","overwrite","readrandom","readmissing","seekrandom","readseq",
                    "multireadrandom","readrandom-t2"];
        def engines: ["rocksdb","cairn","fjall","lmdb"];
        . as $all
        | order[] as $w
        | ($all | map(select(.label == $w and .engine == "rocksdb")) | first | .ops_per_sec) as $base
        | engines[] as $e
        | ($all | map(select(.label == $w and .engine == $e)) | first) as $row
        | select($row != null)
        | "| \($w) | \($e) | \($row.ops_per_sec | r(0)) | \($row.p50_us | r(2)) | \($row.p99_us | r(2)) | "
          + (if $base == null or $base == 0 then "—" else (($row.ops_per_sec / $base) | r(2)) + "×" end) + " |"
    ' "$raw"
    printf '\nLoad cost, after fillrandom + overwrite + compact (see Method):\n\n'
    printf '| engine | write amp (engine) | write amp (kernel) | space amp | peak RSS MiB |\n'
    printf '| --- | ---: | ---: | ---: | ---: |\n'
    jq -r -s --argjson num "$num" '
        def r(d): if . == null then "—" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
        (2 * $num * 116) as $user_bytes
        | . as $all
        | ["rocksdb","cairn","fjall","lmdb"][] as $e
        | ($all | map(select(.engine == $e and .label == "compact")) | first) as $row
        | select($row != null)
        | ($all | map(select(.engine == $e and .label == "readrandom")) | first) as $reads
        | (if $row.space_amplification != null then ($row.space_amplification | r(2))
           elif $row.dir_size_bytes != null and $reads != null and ($reads.found // 0) > 0 then
             ($row.dir_size_bytes / ($reads.found / $reads.lookups * $num * 116) | r(2)) + " (est.)"
           else "—" end) as $space
        | "| \($e) | \($row.write_amplification | r(2)) | "
          + ((if $row.write_amplification_os != null then $row.write_amplification_os
              elif $row.os_bytes_written != null then $row.os_bytes_written / $user_bytes
              else null end) | r(2))
          + " | \($space) | \($row.peak_rss_bytes | if . == null then null else . / 1048576 end | r(0)) |"
    ' "$raw"
}

machine_section() {
    local model cores ram_gib kernel
    model=$(lscpu | awk -F: '/^Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
    cores=$(nproc)
    ram_gib=$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
    kernel=$(uname -r)
    printf '## Machine and versions\n\n'
    printf -- '- CPU: %s, %s cores; RAM: %s GiB; kernel: Linux %s\n' "$model" "$cores" "$ram_gib" "$kernel"
    printf -- '- RocksDB: `%s` (Debian package rocksdb-tools %s)\n' "$(db_bench --version 2>&1 | head -1)" \
        "$(dpkg-query -W -f '${Version}' rocksdb-tools 2>/dev/null || echo '?')"
    local engines=()
    for e in $ENGINES; do
        [[ $e == rocksdb ]] && continue
        engines+=("$(grep -h -m1 '^Engine:' "$LOGS"/*-"$e"-load.log 2>/dev/null | head -1 | sed 's/^Engine: *//')")
    done
    printf -- '- cairn-bench engines: %s; built with `%s` (release profile, `--features fjall,lmdb`)\n' \
        "$(IFS=';'; echo "${engines[*]}" | sed 's/;/, /g')" "$(rustc --version)"
}

main() {
    ensure_tools
    build
    mkdir -p "$RAW_DIR" "$LOGS"
    COMMANDS=$COMPARE_DIR/commands.txt
    NOTES=$COMPARE_DIR/notes.md
    : >"$COMMANDS"
    : >"$NOTES"
    local raws=()
    for num in $NUMS; do
        local reads=${READS:-$((num < 1000000 ? num : 1000000))}
        local raw=$RAW_DIR/$DATE-$num.jsonl
        : >"$raw"
        for engine in $ENGINES; do
            run_engine "$engine" "$num" "$reads" "$raw"
        done
        raws+=("$raw|$num")
    done
    if grep -qh "Assertions are enabled" "$LOGS"/*-rocksdb-*.log 2>/dev/null; then
        note "db_bench warns \"Assertions are enabled; benchmarks unnecessarily slow\": Debian builds RocksDB with assertions on, so its figures understate RocksDB."
    fi
    if [[ " $ENGINES " == *" lmdb "* ]]; then
        note "LMDB has no compaction (a B-tree rewrites pages in place): its compact step returns at once."
    fi
    {
        printf '# Benchmarks: latest comparison run\n\n'
        printf 'Generated by `benches/compare.sh` on %s (UTC). Do not edit: rerun the script. Each dataset is\n' "$DATE"
        printf 'one run on one machine, engines back to back. Throughput is ops/s over all threads; p50/p99\n'
        printf 'are latencies of one call (one `multi_get` of 32 keys for multireadrandom, one seek plus 10\n'
        printf 'nexts for seekrandom, one entry for readseq). "vs db_bench" is ops/s over RocksDB'"'"'s.\n\n'
        machine_section
        printf '\n## Method\n\n'
        printf 'Flags common to every invocation: `%s`, plus `--num` and `--reads`.\n' "${COMMON[*]}"
        printf 'Load: `--benchmarks=fillrandom,overwrite,compact` into a fresh database; then each read workload\n'
        printf 'in its own invocation with `--use_existing_db=1`. cairn-bench flushes and waits for background\n'
        printf 'work before a read that follows writes; both compacted fully at the end of the load.\n'
        printf 'Write amplification (engine) is what the engine says it wrote (log + flushes + compactions)\n'
        printf 'over key+value bytes written; only Cairn reports it. Write amplification (kernel) is bytes the\n'
        printf 'kernel counted as written to storage by the process (cairn-bench: /proc/self/io since the\n'
        printf 'engine opened; db_bench: /usr/bin/time file-system outputs) over the same user bytes; it counts\n'
        printf 'pages dirtied, so a page rewritten before writeback counts once. Space amplification is the\n'
        printf 'directory'"'"'s allocated bytes over live key+value bytes (counted by a scan; for RocksDB estimated\n'
        printf 'from readrandom'"'"'s found ratio, marked est.). Peak RSS is the process'"'"'s high-water mark.\n\n'
        printf '## Notes\n\n'
        cat "$NOTES"
        for entry in "${raws[@]}"; do
            render_dataset "${entry%%|*}" "${entry#*|}"
        done
        printf '\n## Commands\n\n```sh\n'
        sed "s|$ROOT/||g" "$COMMANDS"
        printf '```\n'
    } >"$LATEST"
    log "wrote $LATEST and ${raws[*]%%|*}"
}

main "$@"
