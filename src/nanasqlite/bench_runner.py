"""Running the benchmarks and reporting them.

``run_own`` is ``nanasqlite bench``: the workloads of ``bench`` on our store, in this process. ``run_compare``
is ``nanasqlite bench --compare`` (and ``python benchmarks/compare.py``): every peer (ours compiled, ours
pure, the 1.6.2 package, sqlitedict, diskcache, aiosqlite, hand-written APSW + orjson, a plain dict) in its
own subprocess started with ``bench.py`` as the worker script; the runner sends each workload to every peer
in turn, round after round (A, B, C, A, B, C ...), so that slow moments of a shared machine fall on every peer
alike. Reports give per-peer medians with their spreads and, per round, each peer's ratio to the 1.6.2
package measured in that same round; as text, JSON, Markdown and a chart.

Every table says how to read it: the spread, which cells are noise, and where the targets that the comparison
judges are written down (``docs/bench/targets.md`` in the repository, checked against ``bench.WORKLOADS`` by
the tests).
"""

from __future__ import annotations

import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from . import bench
from .bench import BASELINE, BASELINE_VERSION, BY_NAME, DEFAULT_BASELINE_DIR, WORKLOADS, Workload

__all__ = [
    "PEERS",
    "NOISY",
    "TARGETS_DOC",
    "run_own",
    "run_compare",
    "ensure_baseline",
    "render_text",
    "render_markdown",
    "render_chart",
    "write_outputs",
]


def status(message: str, keep: bool = False) -> None:
    """Progress on stderr: rewritten in place on a terminal; elsewhere only the messages to ``keep``."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + message)
        sys.stderr.flush()
    elif keep and message:
        print(message, file=sys.stderr, flush=True)


# -- statistics ------------------------------------------------------------------------------------------


def _stats(samples: list[float]) -> dict[str, Any]:
    if len(samples) >= 2:
        q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    else:
        q1 = q3 = samples[0]
    return {
        "median": statistics.median(samples),
        "q1": q1,
        "q3": q3,
        "min": min(samples),
        "max": max(samples),
        "samples": samples,
    }


def _metric(reply: dict[str, Any]) -> float:
    if "value" in reply:
        return float(reply["value"])
    return float(reply["items"]) / max(float(reply["seconds"]), 1e-12)


def summarise(
    rounds: dict[str, list[dict[str, Any]]], params: dict[str, Any], w: Workload, ours: str | None
) -> dict[str, Any]:
    """Statistics of one workload over its rounds: per-peer medians and spreads, ratios, the verdict."""
    results: dict[str, Any] = {}
    per_round: dict[str, list[float | None]] = {}
    items = None
    for peer, replies in rounds.items():
        values = [_metric(r) if r.get("ok") else None for r in replies]
        per_round[peer] = values
        good = [v for v in values if v is not None]
        errors = [r["error"] for r in replies if "error" in r]
        if errors:
            results[peer] = {"status": "error", "error": errors[0]}
        elif good:
            results[peer] = {"status": "ok", **_stats(good)}
            items = items or next(r for r in replies if r.get("ok"))["items"]
        else:
            why = next((r["why"] for r in replies if "why" in r), None)
            results[peer] = {"status": "n/a", **({"why": why} if why else {})}
    ratios: dict[str, Any] = {}
    base = per_round.get(BASELINE)
    if base is not None:
        for peer, values in per_round.items():
            pairs = [v / b for v, b in zip(values, base, strict=True) if v is not None and b]
            if pairs and peer != BASELINE:
                ratios[peer] = _stats(pairs)
    met = None
    if ours is not None and results.get(ours, {}).get("status") == "ok":
        mine = results[ours]["median"]
        if w.absolute:
            met = mine >= w.ratio
        elif ours in ratios:
            met = ratios[ours]["median"] >= w.ratio
            if w.beat is not None and results.get(w.beat[0], {}).get("status") == "ok":
                met = met and mine > results[w.beat[0]]["median"] / w.beat[1]
    return {
        "name": w.name,
        "title": w.title,
        "unit": "x" if w.absolute else "items/s",
        "items": items,
        "params": params,
        "target": w.target,
        "results": results,
        "ratios": ratios,
        "met": met,
    }


# -- our store alone -------------------------------------------------------------------------------------


def run_own(
    *,
    quick: bool,
    reps: int | None = None,
    items: int | None = None,
    file: str | None = None,
    workloads: list[str] | None = None,
) -> dict[str, Any]:
    """The workloads on our store, in this process, on a temporary file (or on ``file``)."""
    reps = reps or (5 if quick else 7)
    params = bench.sizes(quick, items)
    peer = bench.NanaPeer()
    root = tempfile.mkdtemp(prefix="nanasqlite-bench-")
    files = bench.Files(root, fixed=file)
    rows = []
    try:
        for w in WORKLOADS:
            if workloads is not None and w.name not in workloads:
                continue
            status(f"{w.title} ...")
            replies = [bench.run_workload(peer, files, w.name, params[w.name]) for _ in range(reps)]
            rows.append(
                {
                    **summarise({"nanasqlite": replies}, params[w.name], w, None),
                    "calls": replies[0].get("calls"),
                }
            )
    finally:
        status("")
        files.cleanup(keep=file)
        shutil.rmtree(root, ignore_errors=True)
    return {
        "kind": "own",
        "machine": machine_info(),
        "quick": quick,
        "reps": reps,
        "file": file,
        "peers": {"nanasqlite": {"label": "nanasqlite", "available": True, "versions": peer.versions()}},
        "workloads": rows,
    }


# -- the peer comparison ---------------------------------------------------------------------------------


class PeerSpec(NamedTuple):
    name: str
    label: str
    adapter: str  # a key of ``bench.ADAPTERS``
    env: dict[str, str]  # "" removes the variable


_NO_SWITCH = {"NANASQLITE_NO_EXTENSIONS": "", "NANASQLITE_REQUIRE_EXTENSIONS": ""}
PEERS: tuple[PeerSpec, ...] = (
    PeerSpec("nanasqlite", "ours (compiled)", "nanasqlite", {**_NO_SWITCH, "NANASQLITE_REQUIRE_EXTENSIONS": "1"}),
    PeerSpec("nanasqlite-pure", "ours (pure)", "nanasqlite", {**_NO_SWITCH, "NANASQLITE_NO_EXTENSIONS": "1"}),
    PeerSpec(BASELINE, "1.6.2", "nanasqlite", dict(_NO_SWITCH)),
    PeerSpec("sqlitedict", "sqlitedict", "sqlitedict", {}),
    PeerSpec("diskcache", "diskcache", "diskcache", {}),
    PeerSpec("aiosqlite", "aiosqlite", "aiosqlite", {}),
    PeerSpec("apsw+orjson", "apsw+orjson", "apsw", {}),
    PeerSpec("dict", "dict", "dict", {}),
)
PEER_NAMES = tuple(p.name for p in PEERS)

# ``python -c`` keeps the script's folder (src/nanasqlite) off sys.path, where its module names (codec, core,
# cache ...) would shadow others; ``runpy`` then runs bench.py as a plain script.
_WORKER_BOOT = (
    "import runpy, sys; runpy.run_path(sys.argv[1], run_name='nanasqlite_bench_worker')['worker_main'](sys.argv[2])"
)


class _Worker:
    """A peer's subprocess. Replies are read by a thread, so that a hung worker times out on any OS."""

    def __init__(self, spec: PeerSpec, baseline_dir: str, timeout: float) -> None:
        self.spec = spec
        self.timeout = timeout
        env = dict(os.environ)
        for name, value in spec.env.items():
            if value:
                env[name] = value
            else:
                env.pop(name, None)
        if spec.name == BASELINE:
            env["PYTHONPATH"] = baseline_dir  # its nanasqlite (and the apsw it came with) come first
        self.dir = tempfile.mkdtemp(prefix="nanasqlite-bench-worker-")
        self.log = open(os.path.join(self.dir, "stderr.log"), "w+", encoding="utf-8")  # closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_BOOT, os.path.abspath(bench.__file__), spec.adapter],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            cwd=self.dir,
            text=True,
            encoding="utf-8",
        )
        self.replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self.receive()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.replies.put(line)
        self.replies.put("")

    def receive(self) -> dict[str, Any]:
        try:
            line = self.replies.get(timeout=self.timeout)
        except queue.Empty:
            self.proc.kill()
            raise RuntimeError(f"no answer within {self.timeout:.0f} s") from None
        if not line:
            self.log.flush()
            self.log.seek(0)
            tail = [x for x in self.log.read().splitlines() if x.strip()][-1:] or ["no output"]
            raise RuntimeError(f"the worker exited: {tail[0]}")
        return json.loads(line)  # type: ignore[no-any-return]

    def call(self, workload: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.proc.poll() is not None:
            raise RuntimeError("the worker is not running")
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"workload": workload, "params": params}) + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def ensure_baseline(directory: str, log: Callable[..., None] = status) -> str | None:
    """Install the 1.6.2 package into ``directory`` unless it is there; return why it is unusable, or None."""
    marker = os.path.join(directory, f"nanasqlite-{BASELINE_VERSION}.dist-info")
    if os.path.isdir(marker):
        return None
    log(f"installing nanasqlite=={BASELINE_VERSION} into {directory} ...", True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", directory]
    done = subprocess.run([*cmd, f"nanasqlite=={BASELINE_VERSION}"], capture_output=True, text=True)
    if done.returncode != 0 or not os.path.isdir(marker):
        lines = (done.stderr or done.stdout).strip().splitlines() or ["pip failed"]
        return f"could not install nanasqlite=={BASELINE_VERSION}: {lines[-1]}"
    return None


def _check_hello(spec: PeerSpec, hello: dict[str, Any]) -> str | None:
    """Why the started worker is not the peer it claims to be, or None."""
    if not hello.get("ok"):
        return str(hello.get("error", "failed to start"))
    versions = hello["versions"]
    if spec.adapter != "nanasqlite":
        return None
    if spec.name == BASELINE:
        if versions.get("nanasqlite") != BASELINE_VERSION:
            return f"imported nanasqlite {versions.get('nanasqlite')} instead of {BASELINE_VERSION}"
        return None
    mine = os.path.dirname(os.path.abspath(bench.__file__))
    if os.path.realpath(versions.get("path", "")) != os.path.realpath(mine):
        return f"the worker imported nanasqlite from {versions.get('path')}, not {mine}"
    if spec.name == "nanasqlite-pure" and versions.get("native") != "False":
        return "the pure build imported compiled code"
    return None


def _start(spec: PeerSpec, baseline_dir: str, timeout: float, log: Callable[..., None]) -> tuple[Any, str | None]:
    log(f"starting {spec.name} ...", True)
    try:
        worker = _Worker(spec, baseline_dir, timeout)
    except (OSError, RuntimeError) as exc:
        return None, str(exc)
    problem = _check_hello(spec, worker.hello)
    if problem is not None:
        worker.close()
        return None, problem
    return worker, None


def run_compare(
    *,
    quick: bool,
    reps: int | None = None,
    items: int | None = None,
    peers: list[str] | None = None,
    workloads: list[str] | None = None,
    baseline_dir: str = DEFAULT_BASELINE_DIR,
    timeout: float = 600.0,
    log: Callable[..., None] = status,
) -> dict[str, Any]:
    """Run the workloads on the peers, one subprocess each, round-robin; return the report (JSON-able)."""
    reps = reps or (5 if quick else 7)
    chosen = [p for p in PEERS if peers is None or p.name in peers]
    names = workloads or [w.name for w in WORKLOADS]
    params = bench.sizes(quick, items)
    info: dict[str, Any] = {}
    workers: list[_Worker] = []
    baseline_problem = None
    if any(p.name == BASELINE for p in chosen):
        baseline_problem = ensure_baseline(baseline_dir, log)
    rows = []
    try:
        for spec in chosen:
            worker, problem = None, baseline_problem if spec.name == BASELINE else None
            if problem is None:
                worker, problem = _start(spec, baseline_dir, timeout, log)
            if worker is not None:
                workers.append(worker)
                info[spec.name] = {
                    "label": spec.label,
                    "available": True,
                    "versions": worker.hello["versions"],
                }
            else:
                info[spec.name] = {"label": spec.label, "available": False, "why": problem}
        ours = next((w.spec.name for w in workers if w.spec.name in ("nanasqlite", "nanasqlite-pure")), None)
        for name in names:
            rounds: dict[str, list[dict[str, Any]]] = {w.spec.name: [] for w in workers}
            log(f"{name} ...", True)
            for rep in range(reps):
                log(f"{name}: round {rep + 1}/{reps}")
                for w in workers:
                    done = rounds[w.spec.name]
                    if done and done[-1].get("na"):  # no such operation: do not ask again
                        done.append(done[-1])
                        continue
                    try:
                        done.append(w.call(name, params[name]))
                    except RuntimeError as exc:
                        done.append({"ok": False, "error": str(exc)})
            rows.append(summarise(rounds, params[name], BY_NAME[name], ours))
    finally:
        log("")
        for w in workers:
            w.close()
    return {
        "kind": "compare",
        "machine": machine_info(),
        "quick": quick,
        "reps": reps,
        "baseline": BASELINE,
        "ours": ours,
        "peers": info,
        "workloads": rows,
    }


# -- reporting -------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    apsw = bench._lib("apsw")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": apsw.sqlite_lib_version(),
        "apsw": apsw.apsw_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


#: A spread (in %) above which a measurement is marked as noise.
NOISY = 10.0
#: Where the targets judged by ``--compare`` are documented, relative to the repository's root.
TARGETS_DOC = "docs/bench/targets.md"
FLOOR = "apsw+orjson"


def spread(result: dict[str, Any]) -> float:
    """Half the interquartile range, in % of the median."""
    return float((result["q3"] - result["q1"]) / 2 / result["median"] * 100) if result["median"] else 0.0


def si(x: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= limit:
            return f"{x / limit:.3g}{suffix}"
    return f"{x:.3g}"


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cpu']}, {machine['cores']} cores ({machine['usable_cores']} usable), {machine['os']}, "
        f"{machine['python']}, SQLite {machine['sqlite']}, APSW {machine['apsw']}"
    )


def _ours_name(report: dict[str, Any]) -> str:
    info = report["peers"]["nanasqlite"]["versions"] if "nanasqlite" in report["peers"] else {}
    return "nanasqlite" if info.get("native") == "True" else "nanasqlite-pure"


def compare_command(report: dict[str, Any]) -> str:
    """The command that runs 1.6.2 and the floor beside a run of our store alone."""
    quick = " --quick" if report["quick"] else ""
    return f"nanasqlite bench{quick} --compare --peers {_ours_name(report)},{BASELINE},{FLOOR},dict"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _wrap(line: str) -> str:
    return textwrap.fill(line, 110, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False)


def _legend(report: dict[str, Any]) -> list[str]:
    """How to read a table: what the spread is, which cells are noise, what the comparison columns mean."""
    reps = report["reps"]
    lines = [
        f"spread: half the interquartile range of the {_count(reps, 'repetition')}, in % of the median "
        "(the middle half of the runs lies within about ± that much).",
        f"noise: a spread above {NOISY:.0f}% (marked {'*' if report['kind'] == 'compare' else 'noisy'}) means the "
        "machine or the run was unsteady; differences smaller than the spread mean nothing (more --reps helps).",
    ]
    if report["kind"] == "compare":
        lines += [
            "ours vs 1.6.2: the median over rounds of ours / 1.6.2 measured in the same round; above 1 is faster. "
            "'(noise)': the middle half of those ratios includes 1.0, so no difference was measured.",
            f"{FLOOR}: hand-written APSW executemany with orjson, the floor a wrapper can reach; dict: the limit "
            "for a cached get.",
            f"target / met: the targets of {TARGETS_DOC} (in the repository), judged on {report.get('ours')}.",
        ]
        lines += [f"not run: {name} ({p['why']})" for name, p in report["peers"].items() if not p["available"]]
    else:
        lines.append(
            f"nanasqlite 1.6.2 and the floor ({FLOOR}, hand-written APSW) beside these numbers (installs 1.6.2 once):"
        )
    wrapped = [_wrap(line) for line in lines]
    if report["kind"] != "compare":
        wrapped.append("  " + compare_command(report))
    return wrapped


def _cell(result: dict[str, Any], unit: str, mark: bool = False) -> str:
    """``median ±spread%``; with ``mark``, ``*`` after a noisy one (and a space after the others, to align)."""
    if result.get("status") == "error":
        return "error"
    if result.get("status") != "ok":
        return "n/a"
    value = f"{result['median']:.2f}x" if unit == "x" else si(result["median"])
    noise = ("*" if spread(result) > NOISY else " ") if mark else ""
    return f"{value} ±{spread(result):.0f}%{noise}"


def _ratio_cell(ratio: dict[str, Any] | None) -> str:
    if not ratio:
        return "n/a"
    noise = " (noise)" if ratio["q1"] <= 1.0 <= ratio["q3"] else ""
    return f"{ratio['median']:.2f}x{noise}"


def _table(head: list[str], rows: list[list[str]], left: tuple[int, ...] = (0,)) -> list[str]:
    """Aligned columns: those in ``left`` (negative: from the end) to the left, the others to the right."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lefts = {i % len(head) for i in left}

    def line(cells: list[str]) -> str:
        parts = [c.ljust(w) if i in lefts else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return [line(head), *(line(r) for r in rows)]


def render_text(report: dict[str, Any]) -> str:
    """The readable table printed by ``nanasqlite bench``: our store alone, or (``--compare``) every peer."""
    if report["kind"] == "compare":
        return _render_compare_text(report)
    info = report["peers"]["nanasqlite"]["versions"]
    native = info.get("native") == "True"
    out = [
        f"nanasqlite {info['nanasqlite']}: "
        + ("compiled extensions active (NATIVE = True)" if native else "pure Python (NATIVE = False)"),
        f"database: {report['file'] or 'a temporary file'}; {_count(report['reps'], 'repetition')}, median shown",
        f"machine: {machine_line(report['machine'])}",
        "",
    ]
    rows = []
    for row in report["workloads"]:
        r = row["results"]["nanasqlite"]
        if r["status"] != "ok":
            rows.append([row["title"], "", "", str(r.get("why") or r.get("error") or r["status"]), "", "", ""])
            continue
        if row["unit"] == "x":
            rate, per = f"{r['median']:.2f}x", "-"
        else:
            rate, per = si(r["median"]), f"{row['items'] / r['median'] * 1e3:.1f} ms"
        calls = row.get("calls") or 0
        note = "noisy" if spread(r) > NOISY else ""
        rows.append([row["title"], f"{calls:,}", f"{row['items']:,}", rate, f"{spread(r):.0f}%", per, note])
    out += _table(["workload", "calls", "items", "items/s", "spread", "time/rep", ""], rows)
    return "\n".join(out + [""] + _legend(report))


def _render_compare_text(report: dict[str, Any]) -> str:
    peers = [name for name, peer in report["peers"].items() if peer["available"]]
    ours = report.get("ours")
    head = ["workload", "items"] + [report["peers"][p]["label"] for p in peers] + ["ours vs 1.6.2", "target", "met"]
    rows = []
    for row in report["workloads"]:
        cells = [row["title"], f"{row['items']:,}" if row["items"] else "-"]
        for p in peers:
            cells.append(_cell(row["results"].get(p, {}), row["unit"], mark=True))
        cells.append(_ratio_cell(row["ratios"].get(ours or "")))
        cells += [row["target"], {True: "yes", False: "no", None: "n/a"}[row["met"]]]
        rows.append(cells)
    table = _table(head, rows, left=(0, -2, -1))
    out = [
        _wrap(
            f"{'Quick' if report['quick'] else 'Full'} sizes; {_count(report['reps'], 'round')}, each peer in its "
            "own process, interleaved round-robin. Cells: median items/s ± spread (the scaling row: 2-thread "
            "over 1-thread throughput)."
        ),
        f"machine: {machine_line(report['machine'])}",
        "",
        *table,
    ]
    return "\n".join(out + [""] + _legend(report))


def render_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table, followed by the machine and how to read the cells."""
    peers = [name for name, peer in report["peers"].items() if peer["available"]]
    compare = report["kind"] == "compare"
    ours = report.get("ours")
    head = ["workload", "items"] + [report["peers"][p]["label"] for p in peers]
    if compare:
        head += ["ours vs 1.6.2", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["workloads"]:
        cells = [row["title"], f"{row['items']:,}" if row["items"] else "-"]
        cells += [_cell(row["results"].get(p, {}), row["unit"], mark=True).rstrip() for p in peers]
        if compare:
            cells.append(_ratio_cell(row["ratios"].get(ours or "")))
            cells.append(row["target"])
            cells.append({True: "yes", False: "**no**", None: "n/a"}[row["met"]])
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        f"Machine: {machine_line(report['machine'])}.",
        f"{'Quick' if report['quick'] else 'Full'} sizes; {report['reps']} repetitions per peer"
        + (", interleaved round-robin, each peer in its own subprocess." if compare else ", in one process."),
        "Cells: median items/s (the scaling row: 2-thread over 1-thread throughput), "
        "± half the interquartile range in % of the median (the spread); `*` marks a spread above "
        f"{NOISY:.0f}%: noise, differences smaller than it mean nothing.",
    ]
    if compare:
        notes.append(
            "'ours vs 1.6.2': median over rounds of the ratio measured within each round; '(noise)' when the "
            "middle half of those ratios includes 1.0. 'met' judges the target of "
            f"{TARGETS_DOC} on {ours} (the scaling target on its own value)."
        )
        notes += [f"Not run: {n} ({p['why']})." for n, p in report["peers"].items() if not p["available"]]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def render_chart(report: dict[str, Any], path: str) -> None:
    """Log-scale bars of every peer's ratio vs 1.6.2, one group per workload; the targets as ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["workloads"] if r["ratios"]]
    if not rows:
        raise ValueError("the chart shows ratios vs 1.6.2, and none were measured")
    peers = [p for p in report["peers"] if p != BASELINE and any(p in r["ratios"] for r in rows)]
    height = 0.8 / max(1, len(peers))
    fig, ax = plt.subplots(figsize=(10, 1.5 + 0.8 * len(rows)))
    for i, peer in enumerate(peers):
        ys, xs, lo, hi = [], [], [], []
        for j, row in enumerate(rows):
            ratio = row["ratios"].get(peer)
            if ratio:
                ys.append(j + (i - (len(peers) - 1) / 2) * height)
                xs.append(ratio["median"])
                lo.append(max(ratio["median"] - ratio["q1"], 0.0))
                hi.append(max(ratio["q3"] - ratio["median"], 0.0))
        ax.barh(ys, xs, height=height, xerr=[lo, hi], label=report["peers"][peer]["label"], capsize=2)
    for j, row in enumerate(rows):
        w = BY_NAME[row["name"]]
        if not w.absolute:
            ax.plot([w.ratio, w.ratio], [j - 0.45, j + 0.45], color="black", linewidth=2)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["title"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("throughput / throughput of nanasqlite 1.6.2 (log scale; black tick: target)")
    machine = report["machine"]
    ax.set_title(f"{machine['cpu']}, {machine['cores']} cores, {machine['python']}", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(
    report: dict[str, Any], json_path: str | None, markdown_path: str | None, chart_path: str | None
) -> None:
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    if markdown_path:
        with open(markdown_path, "w", encoding="utf-8") as f:
            f.write(render_markdown(report))
    if chart_path:
        render_chart(report, chart_path)
