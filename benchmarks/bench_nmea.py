"""Benchmark of pipeline.ingest.nmea.decode_nmea: real file vs pyais, and a 10 M sentence feed.

(a) decodes a real AMSA NMEA file with decode_nmea and with pyais and prints sentences/s;
(b) tiles real position sentences from that file behind NMEA 4.0 tag blocks up to
    ``--sentences`` lines and prints wall time, sentences/s and peak RSS;
(c) with --ingest, runs the whole ingest stage on that feed instead (decode, validate,
    merge, atomic lake write) and prints wall time and peak RSS.
Part (b) runs first so that the peak RSS printed is the decoder's, not pyais'.

    python benchmarks/bench_nmea.py --sentences 10000000
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time
from pathlib import Path

import pyais
from pyais.stream import FileReaderStream

from pipeline.ingest.nmea import decode_nmea

# The slice shipped with the tests; pass --input ../shared/data/nmea/amsa_2012-01-27_mixed.nmea
# (44,687 lines) for the figures quoted in the README.
DEFAULT_INPUT = Path(__file__).resolve().parents[1] / "tests/data/nmea/amsa_2012-01-27_mixed_slice.nmea"
POSITION = re.compile(rb"^(![A-Z]{2}VDM,1,1,[0-9]?,[AB]?,[1-3B][^,]{27},0\*[0-9A-F]{2})$")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tag(epoch: int) -> bytes:
    body = f"s:bench,c:{epoch}".encode()
    cs = 0
    for b in body:
        cs ^= b
    return b"\\" + body + b"*%02X\\" % cs


def synthesise(path: Path, n: int) -> bytes:
    """n lines: real single-sentence position reports, each behind a tag block whose time
    advances through the day (100 sentences a second), so the feed holds no duplicates."""
    sentences = [m.group(1) for ln in path.read_bytes().splitlines() if (m := POSITION.match(ln))]
    base = 1327622400  # 2012-01-27 00:00 UTC
    out = []
    for i in range(n):
        out.append(_tag(base + (i // 100) % 86_400) + sentences[i % len(sentences)] + b"\n")
    return b"".join(out)


def bench_ingest(path: Path, n: int) -> None:
    """The whole stage: decode, validate, merge and write the day partitions, in a fresh
    child process so that the peak RSS printed is the stage's own (not the synthesis')."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "feed.nmea"
        feed.write_bytes(synthesise(path, n))
        subprocess.run([sys.executable, __file__, "--ingest-file", str(feed), "--sentences",
                        str(n)], check=True)


def ingest_file(feed: Path, n: int) -> None:
    import tempfile

    from pipeline.ingest.ais import ingest_ais
    from pipeline.lake import Lake

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = ingest_ais([feed], Lake(Path(tmp) / "lake"))
        el = time.perf_counter() - t0
    f = summary.files[0]
    print(
        f"ingest_ais: {el:.2f} s, {n / el:,.0f} sentences/s, read={f.read:,} "
        f"accepted={f.accepted:,} quarantined={f.quarantined_total:,} "
        f"duplicates={f.duplicates:,}, peak RSS {_peak_rss_mb():,.0f} MB"
    )


def bench_synthetic(path: Path, n: int) -> None:
    data = synthesise(path, n)
    print(f"synthetic feed: {n:,} lines, {len(data) / 1e6:,.0f} MB")
    t0 = time.perf_counter()
    res = decode_nmea(data)
    el = time.perf_counter() - t0
    print(
        f"decode_nmea: {el:.2f} s, {n / el:,.0f} sentences/s, positions={len(res.positions):,}, "
        f"rejects={len(res.rejects):,}, peak RSS {_peak_rss_mb():,.0f} MB"
    )


def bench_real(path: Path) -> None:
    data = path.read_bytes()
    n = sum(1 for ln in data.splitlines() if ln.strip())
    t0 = time.perf_counter()
    res = decode_nmea(data)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = 0
    for msg in FileReaderStream(str(path)):
        try:
            msg.decode()
            decoded += 1
        except Exception:  # pyais raises on broken payloads; count what it decodes
            continue
    ref = time.perf_counter() - t0
    print(f"{path.name}: {n:,} lines")
    print(f"  decode_nmea: {ours:.3f} s, {n / ours:,.0f} lines/s, {res.complete:,} messages")
    print(f"  pyais {pyais.__version__}: {ref:.3f} s, {n / ref:,.0f} lines/s, {decoded:,} messages")
    print(f"  speed-up: {ref / ours:.1f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="real NMEA file (AMSA)")
    ap.add_argument("--sentences", type=int, default=10_000_000, help="synthetic feed size")
    ap.add_argument("--skip-synthetic", action="store_true", help="only run part (a)")
    ap.add_argument("--ingest", action="store_true",
                    help="time the whole ingest stage (decode+validate+lake write) on the feed")
    ap.add_argument("--ingest-file", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.ingest_file:
        ingest_file(args.ingest_file, args.sentences)
        return 0
    if args.ingest:
        bench_ingest(args.input, args.sentences)
        return 0
    if not args.skip_synthetic:
        bench_synthetic(args.input, args.sentences)
    bench_real(args.input)
    return 0


if __name__ == "__main__":
    sys.exit(main())
