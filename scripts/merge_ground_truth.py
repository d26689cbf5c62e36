#!/usr/bin/env python3
"""Puts the Fashion-MNIST ground truth together from the places it is measured.

  merge TARGET.db SOURCE.db...
      Copies every run, architecture and evaluation of the SOURCE databases into TARGET (created
      if missing). Runs match by space, task, strategy, config and seed, architectures by hash,
      and an evaluation already in TARGET is kept: merging twice changes nothing. This joins the
      shard databases of a GPU session (scripts/gpu_session.sh measures with one database per
      process, since a results database has one writer) into one that `ghnas ground-truth`
      resumes from.

  combine OUT.jsonl ARCHS.json LATENCY.jsonl RUN.db...
      Writes the shipped set: one line per architecture of ARCHS.json measured in any RUN.db's
      ground-truth run, in file order. The SGD measurements (clean_acc, noisy_acc, convergence,
      final_loss, steps, train_seconds) come from the first database that has the architecture,
      and `sgd_device` says where that was; `latency_ms` comes from LATENCY.jsonl (`ghnas
      latency` on one machine for every row, so the column is comparable across rows), and the
      latency measured right after training is kept as `latency_ms_at_training`.
"""
import json
import os
import sqlite3
import sys

SGD_FIELDS = ["clean_acc", "noisy_acc", "convergence", "final_loss", "steps", "train_seconds"]


def merge(target, sources):
    db = sqlite3.connect(target)
    fresh = not db.execute("SELECT name FROM sqlite_master WHERE name = 'runs'").fetchone()
    for source in sources:
        db.execute("ATTACH DATABASE ? AS src", (source,))
        if fresh:
            # The schema (tables, indexes, version rows) of the first source, without its rows.
            for (sql,) in db.execute("SELECT sql FROM src.sqlite_master WHERE sql IS NOT NULL "
                                     "AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index'").fetchall():
                db.execute(sql)
            db.execute("INSERT INTO schema_version SELECT * FROM src.schema_version")
            (app_id,) = db.execute("PRAGMA src.application_id").fetchone()
            db.execute(f"PRAGMA application_id = {int(app_id)}")
            fresh = False
        run_ids = {}
        for run in db.execute("SELECT id, space, task, strategy, config, seed, status, started_at, finished_at, "
                              "ghnas_version, checkpoint_hash FROM src.runs").fetchall():
            found = db.execute("SELECT id FROM runs WHERE space = ? AND task = ? AND strategy = ? AND "
                               "json(config) = json(?) AND seed = ?", run[1:6]).fetchone()
            if found:
                run_ids[run[0]] = found[0]
            else:
                # A run whose writer was killed is 'running' in its file; here nobody writes it.
                status = "interrupted" if run[6] == "running" else run[6]
                cur = db.execute("INSERT INTO runs (space, task, strategy, config, seed, status, started_at, "
                                 "finished_at, ghnas_version, checkpoint_hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                                 run[1:6] + (status,) + run[7:])
                run_ids[run[0]] = cur.lastrowid
        arch_ids = {}
        for arch in db.execute("SELECT id, space, hash, spec, params, flops FROM src.architectures").fetchall():
            db.execute("INSERT OR IGNORE INTO architectures (space, hash, spec, params, flops) VALUES (?,?,?,?,?)",
                       arch[1:])
            arch_ids[arch[0]] = db.execute("SELECT id FROM architectures WHERE space = ? AND hash = ?",
                                           arch[1:3]).fetchone()[0]
        added = 0
        for ev in db.execute("SELECT arch_id, run_id, evaluator, fidelity, metric, value, status, error, seconds, "
                             "created_at FROM src.evaluations ORDER BY id").fetchall():
            cur = db.execute("INSERT OR IGNORE INTO evaluations (arch_id, run_id, evaluator, fidelity, metric, value, "
                             "status, error, seconds, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                             (arch_ids[ev[0]], run_ids[ev[1]]) + ev[2:])
            added += cur.rowcount
        db.commit()
        db.execute("DETACH DATABASE src")
        print(f"merge: {source}: {added} evaluations added", file=sys.stderr)
    db.close()


def ground_truth_rows(path):
    """hash -> (device, {metric: value, status}) for the ground-truth runs of one database."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = {}
    for run_id, config in db.execute("SELECT id, config FROM runs WHERE strategy = 'ground-truth' ORDER BY id"):
        device = json.loads(config)["sgd"]["device"]
        for h, metric, value, status in db.execute(
                "SELECT a.hash, e.metric, e.value, e.status FROM evaluations e JOIN architectures a "
                "ON a.id = e.arch_id WHERE e.run_id = ?", (run_id,)):
            entry = rows.setdefault(h, (device, {}))
            if entry[0] == device:
                entry[1][metric] = value
                entry[1]["status"] = status
    db.close()
    return {h: v for h, v in rows.items() if "clean_acc" in v[1] or v[1].get("status") == "diverged"}


def combine(out, archs_path, latency_path, dbs):
    archs = json.load(open(archs_path))
    # `ghnas latency` printed each architecture's index in ARCHS.json and its hash, which is
    # what the databases know it by.
    latency = {}
    for line in open(latency_path):
        if line.strip():
            r = json.loads(line)
            latency[r["index"]] = r
    sources = [ground_truth_rows(p) for p in dbs]
    lines, seen = [], set()
    for index, entry in enumerate(archs):
        lat = latency.get(index)
        if lat is None:
            continue
        h = lat["hash"]
        found = next(((src[h][0], src[h][1]) for src in sources if h in src), None)
        if found is None or h in seen:
            continue
        seen.add(h)
        device, m = found
        line = {"index": index, "hash": h, **entry, "params": int(lat["params"]), "flops": int(lat["flops"]),
                "status": m.get("status", "ok"), "sgd_device": device}
        for f in SGD_FIELDS:
            line[f] = m.get(f)
        line["latency_ms"] = lat["latency_ms"]
        line["latency_ms_at_training"] = m.get("latency_ms")
        lines.append(line)
    measured = set().union(*[set(s) for s in sources])
    missing_latency = len(measured - {r["hash"] for r in latency.values()})
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    os.replace(tmp, out)
    print(f"combine: {len(lines)} architectures written to {out}; {missing_latency} measured ones still "
          f"lack a latency_ms in {latency_path}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "merge":
        merge(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) >= 6 and sys.argv[1] == "combine":
        combine(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        sys.exit(__doc__)
