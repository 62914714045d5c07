"""Issue 14's input families for the reliability report: hostile path lists, arguments, LLM answers, damaged
caches and line-breaking names in the line formats. Each case runs the real CLI (in-process, real streams
and exit codes; the LLM through the openai SDK against the local stub server) and passes when it ends with
the documented exit code, one ``proxysort:`` sentence where it fails, no traceback and no hang.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.reliability_report --skip hostile kills pairs output   # these five, from the report
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.reliability_inputs                      # these five only
"""

from __future__ import annotations

import io
import json
import os
import random
import sqlite3
import string
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.support.photos import TINY_ARGS, make_photo

#: Bound on any single case: the hangs of issue 14 ran for minutes or forever.
CASE_LIMIT_S = 60.0


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def one_sentence(self) -> bool:
        """Exactly one stderr line, ``proxysort: ...``, and no traceback."""
        lines = self.stderr.strip().splitlines()
        return len(lines) == 1 and lines[0].startswith("proxysort: ")

    def clean(self) -> bool:
        return "Traceback" not in self.stderr and self.seconds < CASE_LIMIT_S


def cli(argv: list[str], *, stdin: bytes = b"", variables: dict[str, str | None] | None = None) -> Run:
    """One invocation of the real CLI with a byte stdin (as a process has) and captured streams;
    ``variables`` are set on top of the process environment (None removes one)."""
    from proxysort.cli import main
    from proxysort.env import Environment

    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdin=io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"), stdout=out, stderr=err,
                      stdin_isatty=False, stdout_isatty=False, stderr_isatty=False,
                      vars={k: v for k, v in {**os.environ, **(variables or {})}.items() if v is not None})
    started = time.monotonic()
    code = 0
    try:
        main(argv, env=env)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # noqa: BLE001 - a traceback is exactly what a case must not produce
        import traceback

        err.write("Traceback (in-process):\n" + "".join(traceback.format_exception(exc)))
        code = 1
    return Run(code, out.getvalue(), err.getvalue(), time.monotonic() - started)


Case = tuple[str, Callable[[], bool]]


def _folder(root: Path, n: int = 6) -> Path:
    colors = [(220, 20, 20), (20, 200, 20), (20, 20, 220)]
    for i in range(n):
        make_photo(root / f"img{i:02d}.jpg", colors[i % 3], size=(60 + i, 48))
    return root


def stdin_cases(work: Path) -> list[Case]:
    from tests.support.hostile import make_list_cases

    cache = str(work / "cache")

    def check(case) -> bool:
        r = cli(["index", *case.args, *TINY_ARGS, "--cache-dir", cache, "--json", "-q"], stdin=case.stdin)
        ok = r.code in case.exits and r.clean() and (r.code not in (2, 6) or r.one_sentence())
        return ok and (case.vectors is None or json.loads(r.stdout)["vectors"] == case.vectors)

    return [(c.kind, lambda c=c: check(c)) for c in make_list_cases(work / "photos")]


def argument_cases(work: Path) -> list[Case]:
    folder = _folder(work / "photos")
    cache = str(work / "cache")
    words_file = work / "many-words.txt"
    rng = random.Random(14)
    words_file.write_text("\n".join("".join(rng.choices(string.ascii_lowercase, k=9)) for _ in range(200_000)))
    base = ["cluster", str(folder), "--dry-run", "--cache-dir", cache, *TINY_ARGS, "--epochs", "1"]

    def refused(argv: list[str], flag: str) -> bool:
        """Exit 2 and, as the last stderr line (after any word-source messages), one sentence naming ``flag``."""
        r = cli(argv)
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        return r.code == 2 and last.startswith(f"proxysort: {flag}") and r.stderr.count("proxysort: ") == 1 and r.clean()

    color = ["--by", "color", "--words", "red,green,blue", "--k", "2"]
    return [
        ("seed 2^31", lambda: refused([*base, *color, "--seed", str(2**31)], "--seed")),
        ("seed 10^40", lambda: refused([*base, *color, "--seed", str(10**40)], "--seed")),
        ("seed -1", lambda: refused([*base, *color, "--seed", "-1"], "--seed")),
        ("unknown --by, no words, --k 10^18", lambda: refused([*base, "--by", "zorblaxity", "--k", str(10**18)], "--k")),
        ("words: unknown --by, --k 10^18", lambda: (lambda r: r.code == 0 and r.clean())(
            cli(["words", "--by", "zorblaxity", "--k", str(10**18), "--llm", "off"]))),
        ("--words-file of 200,000 words", lambda: refused([*base, "--by", "color", "--words-file", str(words_file)], "--words-file")),
    ]


def llm_cases(work: Path) -> list[Case]:
    from proxysort.lexicon import lookup
    from tests.support.llm_stub import PROXY_VARIABLES, StubLLM, serve

    rng = random.Random(14)
    stubs = {
        "garbage bytes as HTTP 200 JSON": lambda: StubLLM(raw=bytes(rng.randrange(256) for _ in range(5000))),
        "deeply nested JSON body": lambda: StubLLM(raw=b'{"choices": ' * 100_000 + b"[]" + b"}" * 100_000),
        "deeply nested JSON answer": lambda: StubLLM(content='{"words": ' * 100_000 + '["a", "b"]' + "}" * 100_000),
        "100,000-word answer": lambda: StubLLM(words=[f"w{i}" for i in range(100_000)]),
        "one byte every 0.5 s": lambda: StubLLM(trickle=0.5),
    }
    offline = list(lookup("color").words)

    def check(make: Callable[[], StubLLM], n: int) -> bool:
        with serve(make()) as stub:
            variables: dict[str, str | None] = {name: None for name in PROXY_VARIABLES}
            variables.update(NO_PROXY="127.0.0.1,localhost", OPENAI_BASE_URL=stub.base_url, OPENAI_API_KEY="sk-test",
                             PROXYSORT_LLM_TIMEOUT="3")
            r = cli(["words", "--by", "color", "--llm", "stub-model", "--cache-dir", str(work / f"llm-cache-{n}")],
                    variables=variables)
        warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
        return r.code == 0 and r.clean() and r.stdout.split() == offline and len(warnings) == 1 and "offline" in warnings[0]

    return [(kind, lambda m=make, n=n: check(m, n)) for n, (kind, make) in enumerate(stubs.items())]


def _can_mount(where: Path) -> bool:
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True).returncode == 0


def cache_cases(work: Path) -> list[Case]:
    import numpy as np

    folder = _folder(work / "photos", 4)
    cluster = ["cluster", str(folder), "--by", "color", "--words", "red,blue", "--k", "2", "--dry-run", *TINY_ARGS, "--epochs", "1"]

    def damaged(name: str, sql: Callable[[sqlite3.Connection], None], expect: int) -> bool:
        cache = work / name
        if cli(["index", str(folder), *TINY_ARGS, "--cache-dir", str(cache), "-q"]).code != 0:
            return False
        (db,) = cache.glob("stores/*/index.sqlite")
        conn = sqlite3.connect(db)
        with conn:
            sql(conn)
        conn.close()
        r = cli([*cluster, "--cache-dir", str(cache)])
        if expect == 0:
            return r.code == 0 and r.clean() and "different model" not in r.stderr
        return r.code == expect and r.clean() and r.stderr.strip().splitlines()[-1].startswith("proxysort: ")

    def wrong_length(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE vectors SET vec = ? WHERE hash = (SELECT hash FROM vectors LIMIT 1)", (b"\0" * 7,))

    def float32(conn: sqlite3.Connection) -> None:
        for h, blob in conn.execute("SELECT hash, vec FROM vectors").fetchall():
            conn.execute("UPDATE vectors SET vec = ? WHERE hash = ?",
                         (np.frombuffer(blob, np.float16).astype(np.float32).tobytes(), h))

    blocker = work / "cache-is-a-file"
    blocker.write_text("not a folder")

    def file_index() -> bool:
        r = cli(["index", str(folder), *TINY_ARGS, "--cache-dir", str(blocker)])
        return r.code == 5 and r.one_sentence() and r.clean()

    def file_words() -> bool:
        r = cli(["words", "--by", "color", "--llm", "off", "--cache-dir", str(blocker)])
        return r.code == 0 and r.clean()

    cases: list[Case] = [
        ("vector blob of the wrong length", lambda: damaged("c1", wrong_length, 5)),
        ("meta.dim not a number", lambda: damaged("c2", lambda c: c.execute("UPDATE meta SET value='x' WHERE key='dim'"), 5)),
        ("float32 vectors from another version", lambda: damaged("c3", float32, 0)),
        ("cache folder is a file: index", file_index),
        ("cache folder is a file: words", file_words),
    ]
    mount = work / "ro"
    mount.mkdir()
    if _can_mount(mount):
        def status_ro() -> bool:
            try:
                if cli(["index", str(folder), *TINY_ARGS, "--cache-dir", str(mount), "-q"]).code != 0:
                    return False
                subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
                r = cli(["status", str(folder), "--cache-dir", str(mount), "--json"])
                return r.code == 0 and r.clean() and json.loads(r.stdout)["stores"][0]["up_to_date"] == 4
            finally:
                subprocess.run(["umount", "-l", str(mount)], capture_output=True)

        cases.append(("status on a read-only cache (tmpfs remounted ro)", status_ro))
    if os.geteuid() != 0:
        def mode_000() -> bool:
            cache = work / "locked-cache"
            cache.mkdir(mode=0)
            try:
                w = cli(["words", "--by", "color", "--llm", "off", "--cache-dir", str(cache)])
                r = cli(["index", str(folder), *TINY_ARGS, "--cache-dir", str(cache)])
                return w.code == 0 and r.code == 5 and r.one_sentence()
            finally:
                cache.chmod(0o755)

        cases.append(("cache folder mode 000", mode_000))
    return cases


def format_cases(work: Path) -> list[Case]:
    from proxysort.cli.formats import ResultRow, write_rows

    breakers = {"\\n": "\n", "\\r": "\r", "\\v": "\x0b", "\\f": "\x0c", "\\x1c": "\x1c", "\\x1d": "\x1d",
                "\\x1e": "\x1e", "\\x85": "\x85", "\\u2028": "\u2028", "\\u2029": "\u2029"}

    def one_line(ch: str, fmt: str) -> bool:
        buf = io.StringIO()
        write_rows([ResultRow(f"/p/a{ch}b.jpg", "color", 0, "red", 0.5)], fmt, buf)
        return len(buf.getvalue().splitlines()) == 1

    cases: list[Case] = [(f"{fmt}: name with {shown}", lambda c=ch, f=fmt: one_line(c, f))
                         for fmt in ("paths", "tsv", "json") for shown, ch in breakers.items()]
    folder = work / "photos"
    names = ["cr\rname.jpg", "ls\u2028name.png", "plain.jpg", "vt\x0bname.png"]
    for i, name in enumerate(names):
        make_photo(folder / name, [(220, 20, 20), (20, 200, 20)][i % 2], size=(60 + i, 48))

    def real_cli() -> bool:
        r = cli(["cluster", str(folder), "--by", "color", "--words", "red,green", "--k", "2", "--dry-run",
                 "--format", "paths", "--cache-dir", str(work / "cache"), *TINY_ARGS, "--epochs", "1"])
        return r.code == 0 and r.clean() and len(r.stdout.splitlines()) == 4

    cases.append(("CLI --format paths, names with \\r \\v U+2028", real_cli))
    return cases


FAMILIES: dict[str, Callable[[Path], list[Case]]] = {
    "stdin lists and explicit names": stdin_cases,
    "arguments (--seed, --k, --words-file)": argument_cases,
    "LLM answers": llm_cases,
    "cache damaged / not a folder / read-only": cache_cases,
    "line formats and line-breaking names": format_cases,
}


def run_families(work: Path) -> list[tuple[str, int, int, list[str]]]:
    """Run every family in its own folder under ``work``; print and return (family, tried, passed, failed kinds)."""
    import torch

    torch.set_num_threads(1)
    rows = []
    for n, (family, build) in enumerate(FAMILIES.items()):
        where = work / f"inputs-{n}"
        where.mkdir(parents=True)
        failed = []
        cases = build(where)
        for kind, check in cases:
            try:
                ok = check()
            except Exception as exc:  # noqa: BLE001 - the harness itself must report, not stop
                ok = False
                kind = f"{kind} ({type(exc).__name__}: {exc})"
            if not ok:
                failed.append(kind)
        rows.append((family, len(cases), len(cases) - len(failed), failed))
        print(f"  {family}: {len(cases) - len(failed)}/{len(cases)}" + (f"; failed: {failed}" if failed else ""), flush=True)
    return rows


def print_table(rows: list[tuple[str, int, int, list[str]]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario family':<{width}}  cases  passed")
    for family, tried, passed, _ in rows:
        print(f"{family:<{width}}  {tried:>5}  {passed:>6}")
    print(f"{'total':<{width}}  {sum(r[1] for r in rows):>5}  {sum(r[2] for r in rows):>6}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="proxysort-reliability-inputs-") as tmp:
        print_table(run_families(Path(tmp)))


if __name__ == "__main__":
    main()
