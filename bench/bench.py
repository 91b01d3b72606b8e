#!/usr/bin/env python3
"""Checkpoint/restore benchmark: cryo, cryo in comparison mode, and Podman.

Started by bench/run, which builds everything and prepares the engines. For each system,
workload, compression and repetition it:

  1. starts a fresh container running tests/workloads/counter and waits until it counts;
  2. resets the workload's stall maximum (SIGUSR1) and syncs the host's dirty pages;
  3. checkpoints it live (--leave-running) into an archive, timing the command;
  4. reads the workload's own longest stall since the reset: the downtime it saw;
  5. removes it and restores the archive under a new name, timing the command;
  6. checks that the restored container counts on, and counts its violations
     (a file system captured at another instant than memory);
  7. removes everything.

Everything is recorded in bench/out/results.json; bench/out/RESULTS.md has the tables.
Progress goes to stderr; the Markdown goes to stdout at the end.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

MIB = 1024 * 1024
COUNTER = "/usr/local/bin/counter"
COUNTER_ARGS = ["--file", "/state/counter", "--stats", "/state/stats"]
COMMAND_TIMEOUT = 900  # seconds for one engine command
READY_TIMEOUT = 180  # seconds for a workload to build its load and start counting


class Workload:
    def __init__(self, name, memory_mib=0, fill_mib=0, files=0, file_size=0, scale=None):
        self.name = name
        self.memory_mib = memory_mib
        self.fill_mib = fill_mib
        self.files = files
        self.file_size = file_size
        self.scale = scale  # factor, for the workloads of the scale series

    def args(self):
        args = []
        if self.memory_mib:
            args += ["--memory", str(self.memory_mib)]
        if self.fill_mib:
            args += ["--fill-file", "/state/big", "--fill-mib", str(self.fill_mib)]
        if self.files:
            args += ["--many-files", "/state/files", "--count", str(self.files), "--size", str(self.file_size)]
        return args

    def load_mib(self):
        """What a checkpoint must capture beyond the process itself: memory + file-system diff."""
        return self.memory_mib + self.fill_mib + self.files * self.file_size / MIB

    def describe(self):
        parts = []
        if self.memory_mib:
            parts.append(f"{self.memory_mib} MiB memory")
        if self.fill_mib:
            parts.append(f"{self.fill_mib} MiB file")
        if self.files:
            parts.append(f"{self.files} files of {self.file_size} B")
        return ", ".join(parts) or "counter only"


# "big" is also the scale series' 1x point.
WORKLOADS = {
    "tiny": Workload("tiny"),
    "big": Workload("big", memory_mib=256, fill_mib=256, scale=1),
    "many-files": Workload("many-files", files=20000, file_size=4096),
    "scale-2x": Workload("scale-2x", memory_mib=512, fill_mib=512, scale=2),
    "scale-4x": Workload("scale-4x", memory_mib=1024, fill_mib=1024, scale=4),
}
SYSTEMS = ["cryo", "cryo-comparison", "podman"]
# Known but not run by default: cryo with the container on the bridge network
# `cryo` (CNI chain at start and restore, CRIU's network lock in every dump).
# cryo-inwindow: cryo without the copies made ahead of the freeze where reflinks are absent
# (CRYO_TEST_NO_PRECOPY=1): the frozen window copies every changed file, as before.
# cryo-nosync: cryo exporting with --no-sync (the archive not fsynced: Podman does not sync).
EXTRA_SYSTEMS = ["cryo-bridge", "cryo-inwindow", "cryo-nosync"]
COMPRESSIONS = ["zstd", "none"]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class CommandError(Exception):
    pass


def run_cmd(argv, env=None, timeout=COMMAND_TIMEOUT, check=True):
    """Run argv; returns (stdout, wall time in microseconds)."""
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise CommandError(f"{' '.join(argv[:6])}... timed out after {timeout} s") from e
    wall_us = int((time.monotonic() - start) * 1e6)
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise CommandError(f"{' '.join(argv)} exited {proc.returncode}: {' | '.join(err[-3:])}")
    return proc.stdout, wall_us


def parse_json_output(text, what):
    """The JSON object an engine printed (skipping anything before it)."""
    start = text.find("{")
    if start < 0:
        raise CommandError(f"{what}: no JSON statistics in its output: {text.strip()[:200]!r}")
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as e:
        raise CommandError(f"{what}: unparsable statistics: {e}") from e
    return obj


class Engine:
    """One engine's CLI. Subclasses map the benchmark's steps to its commands."""

    name = "?"

    def __init__(self, base, env=None):
        self.base = base
        self.env = env

    def cmd(self, *args, env=None, check=True, timeout=COMMAND_TIMEOUT):
        return run_cmd(self.base + list(args), env=env or self.env, check=check, timeout=timeout)

    def exec_(self, name, *argv, check=True):
        return self.cmd("exec", name, *argv, check=check, timeout=60)[0]

    def host_pid(self, name):
        """The container's first process as the host sees it (both engines' inspect has State.Pid)."""
        try:
            info = json.loads(self.cmd("inspect", name, timeout=60)[0])
            pid = int(info[0]["State"]["Pid"])
            return pid if pid > 0 else None
        except (CommandError, json.JSONDecodeError, LookupError, TypeError, ValueError):
            return None

    def read_stats(self, name, pid):
        """The counter's stats file, or None if not there yet.

        Read through /proc/PID/root from the host when the PID is known: it costs the
        container nothing, where an exec starts a process in it.
        """
        try:
            if pid:
                with open(f"/proc/{pid}/root/state/stats") as f:
                    return json.load(f)
            return json.loads(self.exec_(name, "cat", "/state/stats"))
        except (OSError, CommandError, json.JSONDecodeError):
            return None

    def signal_counter(self, name, pid, sig):
        if pid:
            os.kill(pid, sig)
        else:
            self.exec_(name, "kill", f"-{sig.name[3:]}", "1")


class Cryo(Engine):
    def __init__(self, binary, root, runroot, comparison=False, network=None, inwindow=False, nosync=False):
        self.network = network
        self.nosync = nosync
        env = dict(os.environ)
        if comparison:
            # Podman 6.0's order: keep the container frozen until the archive is written.
            env["CRYO_TEST_THAW_AFTER_ARCHIVE"] = "1"
        else:
            env.pop("CRYO_TEST_THAW_AFTER_ARCHIVE", None)
        if inwindow:
            env["CRYO_TEST_NO_PRECOPY"] = "1"
        else:
            env.pop("CRYO_TEST_NO_PRECOPY", None)
        super().__init__([binary, "--root", root, "--runroot", runroot], env)
        self.name = ("cryo-comparison" if comparison else "cryo-bridge" if network
                     else "cryo-inwindow" if inwindow else "cryo-nosync" if nosync else "cryo")

    def import_image(self, tar):
        self.cmd("image", "import", tar, "workload")

    def start(self, name, args):
        net = ["--network", self.network] if self.network else []
        self.cmd("run", "-d", "--name", name, *net, "workload", COUNTER, *COUNTER_ARGS, *args)

    def remove_network(self):
        if self.network:
            self.cmd("network", "rm", self.network, check=False, timeout=120)

    def checkpoint(self, name, archive, compression):
        sync = ["--no-sync"] if self.nosync else []
        out, wall = self.cmd("checkpoint", "--leave-running", "--export", archive, "--compress", compression,
                             *sync, "--print-stats", name)
        s = parse_json_output(out, "cryo checkpoint")
        return wall, {
            "checkpoint_duration_us": s.get("checkpoint_duration"),
            "runtime_checkpoint_duration_us": s.get("runtime_checkpoint_duration"),
            "frozen_window_us": s.get("frozen_window"),
            "criu_freezing_time_us": s.get("freezing_time"),
            "criu_frozen_time_us": s.get("frozen_time"),
            "criu_memdump_time_us": s.get("memdump_time"),
            "criu_memwrite_time_us": s.get("memwrite_time"),
            "pages_scanned": s.get("pages_scanned"),
            "pages_written": s.get("pages_written"),
            "rootfs_diff_bytes": s.get("rootfs_diff_bytes"),
            "raw": s,
        }

    def restore(self, archive, name):
        out, wall = self.cmd("restore", "--import", archive, "--name", name, "--print-stats")
        s = parse_json_output(out, "cryo restore")
        return wall, {
            "restore_duration_us": s.get("restore_duration"),
            "runtime_restore_duration_us": s.get("runtime_restore_duration"),
            "criu_forking_time_us": s.get("forking_time"),
            "criu_restore_time_us": s.get("restore_time"),
            "pages_restored": s.get("pages_restored"),
            "raw": s,
        }

    def remove(self, name):
        self.cmd("rm", "-f", name, check=False, timeout=120)

    def version(self):
        try:
            return self.cmd("--version", timeout=30)[0].strip()
        except CommandError:
            return "unknown"


class Podman(Engine):
    name = "podman"

    def __init__(self, root, runroot, tmpdir):
        super().__init__(["podman", "--root", root, "--runroot", runroot, "--tmpdir", tmpdir,
                          "--storage-driver", "overlay"])

    def import_image(self, tar):
        self.cmd("import", tar, "workload")

    def start(self, name, args):
        self.cmd("run", "-d", "--network", "none", "--name", name, "localhost/workload:latest", COUNTER,
                 *COUNTER_ARGS, *args)

    def checkpoint(self, name, archive, compression):
        out, wall = self.cmd("container", "checkpoint", "--leave-running", "--export", archive, "--compress",
                             compression, "--print-stats", name)
        s = parse_json_output(out, "podman container checkpoint")
        c = (s.get("container_statistics") or [{}])[0]
        criu = c.get("criu_statistics") or {}
        return wall, {
            "checkpoint_duration_us": s.get("podman_checkpoint_duration"),
            "runtime_checkpoint_duration_us": c.get("runtime_checkpoint_duration"),
            "frozen_window_us": None,  # Podman 4 thaws before it writes the archive; not reported
            "criu_freezing_time_us": criu.get("freezing_time"),
            "criu_frozen_time_us": criu.get("frozen_time"),
            "criu_memdump_time_us": criu.get("memdump_time"),
            "criu_memwrite_time_us": criu.get("memwrite_time"),
            "pages_scanned": criu.get("pages_scanned"),
            "pages_written": criu.get("pages_written"),
            "rootfs_diff_bytes": None,  # not reported by Podman
            "raw": s,
        }

    def restore(self, archive, name):
        out, wall = self.cmd("container", "restore", "--import", archive, "--name", name, "--print-stats")
        s = parse_json_output(out, "podman container restore")
        c = (s.get("container_statistics") or [{}])[0]
        criu = c.get("criu_statistics") or {}
        return wall, {
            "restore_duration_us": s.get("podman_restore_duration"),
            "runtime_restore_duration_us": c.get("runtime_restore_duration"),
            "criu_forking_time_us": criu.get("forking_time"),
            "criu_restore_time_us": criu.get("restore_time"),
            "pages_restored": criu.get("pages_restored"),
            "raw": s,
        }

    def remove(self, name):
        self.cmd("rm", "-f", "-t", "0", name, check=False, timeout=120)

    def version(self):
        try:
            return self.cmd("--version", timeout=30)[0].strip()
        except CommandError:
            return "unknown"


def wait_counting(engine, name, pid, timeout, after=None):
    """Wait until the counter's stats show it counting (past `after` iterations if given)."""
    deadline = time.monotonic() + timeout
    first = None
    while time.monotonic() < deadline:
        s = engine.read_stats(name, pid)
        if s and s.get("iterations", 0) > 0:
            if first is None:
                first = s["iterations"]
            floor = first if after is None else max(first, after)
            # Two different readings: the process itself is writing them.
            if s["iterations"] > floor:
                return s
        time.sleep(0.02)
    raise CommandError(f"{engine.name}: container {name} did not count within {timeout} s")


def reset_stall(engine, name, pid):
    """SIGUSR1 to the counter: its max_stall_us starts again from 0."""
    before = engine.read_stats(name, pid) or {}
    resets = before.get("resets", 0)
    engine.signal_counter(name, pid, signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        s = engine.read_stats(name, pid)
        if s and s.get("resets", 0) > resets:
            return s
        time.sleep(0.01)
    raise CommandError(f"{engine.name}: counter in {name} did not acknowledge SIGUSR1")


def keep_failure_logs(error, dest):
    """Copy the log files an engine's error message names (they go with its work dir)."""
    kept = []
    for path in sorted(set(re.findall(r"(/[^\s():|,]+\.log)\b", error))):
        if os.path.isfile(path):
            os.makedirs(dest, exist_ok=True)
            target = os.path.join(dest, os.path.basename(path))
            shutil.copyfile(path, target)
            kept.append(target)
    return kept


def one_run(engine, workload, compression, rep, workdir, failure_dir):
    tag = f"{engine.name}-{workload.name}-{compression}-{rep}"
    name, restored = f"b-{tag}", f"b-{tag}-r"
    archive = os.path.join(workdir, f"{tag}.tar" + (".zst" if compression == "zstd" else ""))
    rec = {"system": engine.name, "workload": workload.name, "compression": compression, "rep": rep,
           "error": None, "phases_s": {}}
    clock = [time.monotonic()]

    def phase(label):
        now = time.monotonic()
        rec["phases_s"][label] = round(now - clock[0], 3)
        clock[0] = now

    try:
        engine.start(name, workload.args())
        pid = engine.host_pid(name)
        phase("start")
        wait_counting(engine, name, pid, READY_TIMEOUT)
        phase("ready")
        time.sleep(0.3)  # let start-up settle
        subprocess.run(["sync"], check=False)  # no pending writeback of the workload's files
        before = reset_stall(engine, name, pid)
        phase("sync_and_reset")

        wall, stats = engine.checkpoint(name, archive, compression)
        rec["checkpoint_wall_us"] = wall
        rec["checkpoint"] = stats
        rec["frozen_window_us"] = stats.get("frozen_window_us")
        rec["archive_bytes"] = os.path.getsize(archive)
        phase("checkpoint")

        time.sleep(0.1)
        after = wait_counting(engine, name, pid, 60, after=before["iterations"])
        rec["stall_us"] = after["max_stall_us"]  # longest stall since the reset: the checkpoint's
        rec["original_violations"] = after["violations"]
        phase("read_stall")
        engine.remove(name)
        phase("remove")

        wall, stats = engine.restore(archive, restored)
        rec["restore_wall_us"] = wall
        rec["restore"] = stats
        phase("restore")
        rpid = engine.host_pid(restored)
        time.sleep(0.15)
        s = wait_counting(engine, restored, rpid, 60)
        s = wait_counting(engine, restored, rpid, 60, after=s["iterations"])
        phase("verify")
        rec["restored_running"] = True
        rec["restored_violations"] = s["violations"] - rec["original_violations"]
        rec["consistent"] = rec["restored_violations"] == 0
    except (CommandError, OSError, KeyError) as e:
        rec["error"] = str(e)
        rec["kept_logs"] = keep_failure_logs(rec["error"], os.path.join(failure_dir, tag))
    finally:
        engine.remove(restored)
        if rec["error"]:
            engine.remove(name)
        try:
            os.unlink(archive)
        except FileNotFoundError:
            pass
        phase("cleanup")
    return rec


def describe_run(rec):
    if rec["error"]:
        return f"ERROR {rec['error']}"
    parts = [f"checkpoint {rec['checkpoint_wall_us'] / 1000:.0f} ms"]
    if rec.get("frozen_window_us") is not None:
        parts.append(f"frozen {rec['frozen_window_us'] / 1000:.0f} ms")
    parts += [f"stall {rec['stall_us'] / 1000:.0f} ms", f"archive {rec['archive_bytes'] / MIB:.1f} MiB",
              f"restore {rec['restore_wall_us'] / 1000:.0f} ms",
              "consistent" if rec["consistent"] else f"INCONSISTENT ({rec['restored_violations']} violations)"]
    return ", ".join(parts)


# ---- summaries -------------------------------------------------------------------------

METRICS = {
    # name: function of a run record -> number or None
    "checkpoint_wall_us": lambda r: r.get("checkpoint_wall_us"),
    "frozen_window_us": lambda r: r.get("frozen_window_us"),
    "criu_frozen_time_us": lambda r: (r.get("checkpoint") or {}).get("criu_frozen_time_us"),
    "stall_us": lambda r: r.get("stall_us"),
    "archive_bytes": lambda r: r.get("archive_bytes"),
    "restore_wall_us": lambda r: r.get("restore_wall_us"),
    "captured_bytes": lambda r: captured_bytes(r),
}
# Where a cryo checkpoint's time goes (its --print-stats keys), for the breakdown table.
CRYO_PHASES = [
    ("freeze_duration", "freeze"),
    ("runtime_checkpoint_duration", "runtime checkpoint (CRIU)"),
    ("frozen_time", "of which CRIU frozen"),
    ("rootfs_capture_duration", "rootfs capture"),
    ("volumes_capture_duration", "volumes capture"),
    ("frozen_window", "frozen window"),
    ("capture_flush_duration", "flush before the freeze (reflink)"),
    ("capture_precopy_duration", "copies ahead of the freeze (no reflinks)"),
    ("capture_write_duration", "diff tars after the thaw (snapshots)"),
    ("archive_duration", "archive"),
    ("checkpoint_duration", "checkpoint total"),
]


def cryo_stat(key):
    def get(rec):
        if not rec["system"].startswith("cryo"):
            return None
        return ((rec.get("checkpoint") or {}).get("raw") or {}).get(key)
    return get


for key, _ in CRYO_PHASES:
    METRICS["cryo_" + key] = cryo_stat(key)


def captured_bytes(rec):
    """Memory pages CRIU wrote plus the file-system diff, when the engine reports both."""
    c = rec.get("checkpoint") or {}
    if c.get("pages_written") is None or c.get("rootfs_diff_bytes") is None:
        return None
    return c["pages_written"] * 4096 + c["rootfs_diff_bytes"]


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize(runs):
    groups = {}
    for r in runs:
        groups.setdefault((r["system"], r["workload"], r["compression"]), []).append(r)
    summary = []
    for (system, workload, compression), rs in groups.items():
        ok = [r for r in rs if not r["error"]]
        entry = {"system": system, "workload": workload, "compression": compression, "runs": len(rs),
                 "failed": len(rs) - len(ok), "consistent": sum(1 for r in ok if r["consistent"])}
        for metric, get in METRICS.items():
            entry[metric] = spread(get(r) for r in ok)
        summary.append(entry)
    return summary


def find(summary, system, workload, compression):
    for e in summary:
        if (e["system"], e["workload"], e["compression"]) == (system, workload, compression):
            return e
    return None


def median_of(entry, metric):
    if not entry or not entry.get(metric):
        return None
    return entry[metric]["median"]


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


RATIOS = [
    # (key, description, (system, metric), (system, metric))
    ("frozen_cryo_vs_comparison", "cryo frozen window / comparison-mode frozen window",
     ("cryo", "frozen_window_us"), ("cryo-comparison", "frozen_window_us")),
    ("frozen_cryo_vs_inwindow", "cryo frozen window / cryo with everything copied in the window",
     ("cryo", "frozen_window_us"), ("cryo-inwindow", "frozen_window_us")),
    ("frozen_cryo_vs_podman_checkpoint", "cryo frozen window / Podman checkpoint wall time",
     ("cryo", "frozen_window_us"), ("podman", "checkpoint_wall_us")),
    ("stall_cryo_vs_comparison", "workload stall: cryo / comparison mode",
     ("cryo", "stall_us"), ("cryo-comparison", "stall_us")),
    ("stall_cryo_vs_podman", "workload stall: cryo / Podman",
     ("cryo", "stall_us"), ("podman", "stall_us")),
    ("checkpoint_wall_cryo_vs_podman", "checkpoint wall time: cryo / Podman",
     ("cryo", "checkpoint_wall_us"), ("podman", "checkpoint_wall_us")),
    ("checkpoint_wall_nosync_vs_podman", "checkpoint wall time: cryo --no-sync / Podman (neither synced)",
     ("cryo-nosync", "checkpoint_wall_us"), ("podman", "checkpoint_wall_us")),
    ("restore_wall_cryo_vs_podman", "restore wall time: cryo / Podman",
     ("cryo", "restore_wall_us"), ("podman", "restore_wall_us")),
    ("archive_cryo_vs_podman", "archive size: cryo / Podman",
     ("cryo", "archive_bytes"), ("podman", "archive_bytes")),
]


def compute_ratios(summary, workloads, compressions):
    out = []
    for w in workloads:
        for c in compressions:
            row = {"workload": w, "compression": c}
            for key, _, (sa, ma), (sb, mb) in RATIOS:
                row[key] = ratio(median_of(find(summary, sa, w, c), ma), median_of(find(summary, sb, w, c), mb))
            out.append(row)
    return out


def fit_line(points):
    """Least-squares y = a + b x; returns (a, b) or None."""
    if len(points) < 2:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - b * mx, b


def compute_scale(summary, systems, compressions):
    """Frozen window (and workload stall) against the data a checkpoint must capture."""
    series = sorted((w for w in WORKLOADS.values() if w.scale), key=lambda w: w.scale)
    out = []
    for system in systems:
        for c in compressions:
            points, fpoints = [], []
            for w in series:
                e = find(summary, system, w.name, c)
                if not e:
                    continue
                measured = median_of(e, "captured_bytes")
                load_mib = measured / MIB if measured is not None else w.load_mib()
                row = {"system": system, "compression": c, "workload": w.name, "scale": w.scale,
                       "load_mib": load_mib, "load_measured": measured is not None,
                       "frozen_window_us": median_of(e, "frozen_window_us"),
                       "stall_us": median_of(e, "stall_us"), "checkpoint_wall_us": median_of(e, "checkpoint_wall_us")}
                out.append(row)
                if row["stall_us"] is not None:
                    points.append((load_mib, row["stall_us"]))
                if row["frozen_window_us"] is not None:
                    fpoints.append((load_mib, row["frozen_window_us"]))
            for label, pts in (("stall", points), ("frozen_window", fpoints)):
                fit = fit_line(pts)
                if fit:
                    out.append({"system": system, "compression": c, "fit": label,
                                "intercept_us": fit[0], "us_per_gib": fit[1] * 1024})
    return out


# ---- Markdown --------------------------------------------------------------------------

def ms(v):
    return "–" if v is None else (f"{v / 1000:.0f}" if v >= 10000 else f"{v / 1000:.1f}")


def mib(v):
    return "–" if v is None else (f"{v / MIB:.0f}" if v >= 10 * MIB else f"{v / MIB:.2f}")


def cell(entry, metric, fmt):
    s = entry.get(metric) if entry else None
    if not s:
        return "–"
    if s["min"] == s["max"]:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def fmt_ratio(v):
    return "–" if v is None else f"{v:.2f}"


def markdown(meta, summary, ratios, scale):
    lines = ["# Checkpoint/restore benchmark: cryo vs Podman", ""]
    lines += [f"- Date: {meta['date']}; host: {meta['host']}; kernel {meta['kernel']}; {meta['cpus']} CPUs",
              f"- cryo: {meta['versions'].get('cryo', '–')}; Podman: {meta['versions'].get('podman', '–')}; "
              f"CRIU: {meta['versions'].get('criu', '–')}; runc: {meta['versions'].get('runc', '–')}",
              f"- {meta['reps']} repetitions per cell; each cell: median (min–max). Times in ms, sizes in MiB.",
              f"- Systems: {', '.join(meta['systems'])}. Total time {meta['elapsed_s'] / 60:.1f} min.", ""]
    if meta.get("notes"):
        lines += [f"- Note: {n}" for n in meta["notes"]] + [""]
    lines += ["Columns: **checkpoint** = wall time of the live checkpoint command (harness clock); "
              "**frozen** = the engine's reported frozen window (cryo only); "
              "**CRIU frozen** = CRIU's own frozen_time; "
              "**stall** = the longest gap the workload itself saw between two loop iterations "
              "during the checkpoint (its downtime); **restore** = wall time of the restore command; "
              "**consistent** = restored containers whose file system matched their memory.", ""]
    for w in meta["workloads"]:
        wl = WORKLOADS[w]
        lines += [f"## {w} ({wl.describe()})", "",
                  "| system | compression | checkpoint | frozen | CRIU frozen | stall | archive | restore | consistent |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for system in meta["systems"]:
            for c in meta["compressions"]:
                e = find(summary, system, w, c)
                if not e:
                    continue
                failed = f", {e['failed']} failed" if e["failed"] else ""
                lines.append(
                    f"| {system} | {c} | {cell(e, 'checkpoint_wall_us', ms)} | {cell(e, 'frozen_window_us', ms)} "
                    f"| {cell(e, 'criu_frozen_time_us', ms)} | {cell(e, 'stall_us', ms)} "
                    f"| {cell(e, 'archive_bytes', mib)} | {cell(e, 'restore_wall_us', ms)} "
                    f"| {e['consistent']}/{e['runs'] - e['failed']}{failed} |")
        lines.append("")
    lines += ["## Where cryo's checkpoint time goes (medians, ms)", "",
              "The frozen window runs from the freeze to the thaw; in comparison mode it also covers "
              "writing the archive.", "",
              "| system | workload | compression | " + " | ".join(label for _, label in CRYO_PHASES) + " |",
              "|---|---|---|" + "---|" * len(CRYO_PHASES)]
    for system in (s for s in meta["systems"] if s.startswith("cryo")):
        for w in meta["workloads"]:
            for c in meta["compressions"]:
                e = find(summary, system, w, c)
                if e and e.get("cryo_frozen_window"):
                    lines.append(f"| {system} | {w} | {c} | "
                                 + " | ".join(ms(median_of(e, "cryo_" + k)) for k, _ in CRYO_PHASES) + " |")
    lines.append("")
    lines += ["## Ratios (of medians)", "",
              "| workload | compression | " + " | ".join(desc for _, desc, _, _ in RATIOS) + " |",
              "|---|---|" + "---|" * len(RATIOS)]
    for row in ratios:
        if all(row.get(k) is None for k, _, _, _ in RATIOS):
            continue
        lines.append(f"| {row['workload']} | {row['compression']} | "
                     + " | ".join(fmt_ratio(row.get(k)) for k, _, _, _ in RATIOS) + " |")
    lines.append("")
    pts = [s for s in scale if "fit" not in s]
    if pts:
        lines += ["## Scale: downtime against memory + file-system diff", "",
                  "| system | compression | workload | memory + diff (MiB) | frozen | stall | checkpoint |",
                  "|---|---|---|---|---|---|---|"]
        for s in pts:
            load = f"{s['load_mib']:.0f}" + ("" if s["load_measured"] else " (nominal)")
            lines.append(f"| {s['system']} | {s['compression']} | {s['workload']} | {load} "
                         f"| {ms(s['frozen_window_us'])} | {ms(s['stall_us'])} | {ms(s['checkpoint_wall_us'])} |")
        lines += ["", "memory + diff: CRIU's pages written × 4 KiB plus the engine's reported rootfs diff; "
                  "\"nominal\" where the engine does not report them (the workload's --memory + --fill-mib)."]
        fits = [s for s in scale if "fit" in s]
        if fits:
            lines += ["", "Least-squares fit over the scale series (time = intercept + slope × (memory + diff)):", "",
                      "| system | compression | measure | intercept (ms) | slope (ms per GiB) |", "|---|---|---|---|---|"]
            for s in fits:
                lines.append(f"| {s['system']} | {s['compression']} | {s['fit']} | {s['intercept_us'] / 1000:.0f} "
                             f"| {s['us_per_gib'] / 1000:.0f} |")
        lines.append("")
    return "\n".join(lines)


def tool_version(argv, pick):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
        return pick(out)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5, help="repetitions of each combination (default 5)")
    ap.add_argument("--quick", action="store_true", help="1 repetition, tiny and big only")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated (default: %(default)s)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated (default: %(default)s)")
    ap.add_argument("--compressions", default=",".join(COMPRESSIONS), help="comma-separated (default: %(default)s)")
    ap.add_argument("--cryo", help="cryo binary")
    ap.add_argument("--rootfs", required=True, help="workload rootfs tarball")
    ap.add_argument("--workdir", required=True, help="engine roots and archives go here")
    ap.add_argument("--out", required=True, help="directory for results.json and RESULTS.md")
    ap.add_argument("--note", action="append", default=[], help="a line for the report's header")
    a = ap.parse_args()

    if a.quick:
        a.reps = 1
        if a.workloads == ",".join(WORKLOADS):
            a.workloads = "tiny,big"
    systems = [s for s in a.systems.split(",") if s]
    workloads = [w for w in a.workloads.split(",") if w]
    compressions = [c for c in a.compressions.split(",") if c]
    for s in systems:
        if s not in SYSTEMS + EXTRA_SYSTEMS:
            ap.error(f"unknown system {s!r} (known: {', '.join(SYSTEMS + EXTRA_SYSTEMS)})")
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r} (known: {', '.join(WORKLOADS)})")
    if any(s.startswith("cryo") for s in systems) and not a.cryo:
        ap.error("--cryo is needed for the cryo systems")

    engines = {}
    cryo_root, cryo_runroot = os.path.join(a.workdir, "cryo", "root"), os.path.join(a.workdir, "cryo", "run")
    if "cryo" in systems:
        engines["cryo"] = Cryo(a.cryo, cryo_root, cryo_runroot)
    if "cryo-comparison" in systems:
        engines["cryo-comparison"] = Cryo(a.cryo, cryo_root, cryo_runroot, comparison=True)
    if "cryo-bridge" in systems:
        engines["cryo-bridge"] = Cryo(a.cryo, cryo_root, cryo_runroot, network="cryo")
    if "cryo-inwindow" in systems:
        engines["cryo-inwindow"] = Cryo(a.cryo, cryo_root, cryo_runroot, inwindow=True)
    if "cryo-nosync" in systems:
        engines["cryo-nosync"] = Cryo(a.cryo, cryo_root, cryo_runroot, nosync=True)
    if "podman" in systems:
        p = os.path.join(a.workdir, "podman")
        engines["podman"] = Podman(os.path.join(p, "root"), os.path.join(p, "run"), os.path.join(p, "tmp"))

    imported = set()
    for s, e in engines.items():
        key = "cryo" if s.startswith("cryo") else s
        if key not in imported:
            log(f"importing the workload image into {key}")
            e.import_image(a.rootfs)
            imported.add(key)

    versions = {
        "criu": tool_version(["/usr/local/sbin/criu", "--version"],
                             lambda o: next((l.split()[-1] for l in o.splitlines() if l.startswith("Version")), "?")),
        "runc": tool_version(["runc", "--version"], lambda o: o.split()[2] if o else "?"),
    }
    for s, e in engines.items():
        versions.setdefault("cryo" if s.startswith("cryo") else s, e.version())

    shutil.rmtree(os.path.join(a.out, "failures"), ignore_errors=True)
    archive_dir = os.path.join(a.workdir, "archives")
    os.makedirs(archive_dir, exist_ok=True)
    plan = [(w, c, s, rep) for w in workloads for c in compressions for rep in range(1, a.reps + 1) for s in systems]
    log(f"{len(plan)} runs: {', '.join(systems)} x {', '.join(workloads)} x {', '.join(compressions)} x {a.reps}")
    runs, started = [], time.monotonic()
    for i, (w, c, s, rep) in enumerate(plan, 1):
        rec = one_run(engines[s], WORKLOADS[w], c, rep, archive_dir, os.path.join(a.out, "failures"))
        runs.append(rec)
        log(f"[{i}/{len(plan)}] {s} {w} {c} #{rep}: {describe_run(rec)}")
    elapsed = time.monotonic() - started
    for e in engines.values():
        if isinstance(e, Cryo):
            e.remove_network()  # its bridge and rules on the host

    summary = summarize(runs)
    ratios = compute_ratios(summary, workloads, compressions)
    scale = compute_scale(summary, systems, compressions)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
        "reps": a.reps, "systems": systems, "workloads": workloads, "compressions": compressions,
        "versions": versions, "elapsed_s": elapsed, "notes": a.note,
        "workload_definitions": {w: {"args": WORKLOADS[w].args(), "load_mib": WORKLOADS[w].load_mib()}
                                 for w in workloads},
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "summary": summary, "ratios": ratios, "scale": scale, "runs": runs}, f, indent=1)
    md = markdown(meta, summary, ratios, scale)
    with open(os.path.join(a.out, "RESULTS.md"), "w") as f:
        f.write(md + "\n")
    log(f"done in {elapsed / 60:.1f} min: {os.path.join(a.out, 'results.json')}, {os.path.join(a.out, 'RESULTS.md')}")
    print(md)
    failed = sum(1 for r in runs if r["error"])
    if failed:
        log(f"{failed} of {len(runs)} runs failed (see 'error' in results.json)")
    return 1 if failed == len(runs) else 0


if __name__ == "__main__":
    sys.exit(main())
