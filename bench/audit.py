"""Audit benchmark (issue 4): `leakaudit audit` against a raw DuckDB scan, side by side.

Generates a deterministic world (vectorised NumPy + Arrow, no per-row Python): M device
bindings (mostly one owner per device; hand-overs, household re-registrations, revoked units
bound anew and a small fraction of planted duplicate ids), shares, partner links, consents, a
staff directory of a few hundred, staff actions (~1% of the events), the media those actions
name, and N access events (mostly owners; shares, partner traffic, old owners opening their own
old clips, denials, and a small fraction of leaks plus a planted burst and a probe). One folder
per table, so `leakaudit audit WORLD` finds every table by its folder name.

Then, in one run, each as its own subprocess measured with `os.wait4` (wall time, peak RSS):

  (a) `leakaudit audit WORLD --quiet --profile -o findings.json`, as a user runs it:
      ingest into a throw-away (in-memory) database + shared semantics + every built-in
      rule + the JSON report;
  (k) the same with `--db fresh.duckdb`: into a database file that is kept;
  (b) `leakaudit audit --db fresh.duckdb --quiet --profile` on the database (k) left behind:
      semantics + rules only;
  (c) the floor: a fresh `python` + DuckDB process scanning the same input files
      (count, min/max ts, count DISTINCT account_id of access_events, plus a devices scan);
  (d) a scan that reads every column of every row of every input file (hashes them all);
  (e) DuckDB's own load of every file into a fresh database (CREATE TABLE AS), the cost of
      storing the rows at all.

Each round runs (c), (d), (e), (a), (k), (b) in that order; the table shows the median of
`--repeat` rounds. Targets (issue 4): (a) within 5x of (c), peak RSS under 4 GB; (a)/(d)
and (a)/(e) are printed beside it. The per-rule timings of
`--profile` (from (b)'s stderr) and, with `--semantics`, the time of each statement of
leakaudit/rules/semantics.sql (timed one by one in a fresh process on the ingested database)
are printed too. Afterwards the findings are checked: not empty, every planted duplicate id
found by LAD001 and no decoy, and every planted rule fired, in both (a)'s and (k)'s
findings, so the benchmark cannot pass by doing nothing.

    python bench/audit.py                                   # 10 M events, 1 M bindings
    python bench/audit.py --events 1000000 --bindings 100000 --workdir /tmp/la-audit

This is a script, not a test. Exit status 1 when a target fails, 2 when the checks fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

RATIO_TARGET = 5.0
RSS_TARGET_MB = 4096
GENERATOR_VERSION = 2  # bump when the generated data changes, so old worlds are not reused
CHUNK_ROWS = 1_000_000
READERS = {"parquet": "read_parquet", "csv": "read_csv"}
ROOT = Path(__file__).resolve().parent.parent
SEMANTICS_SQL = Path("leakaudit") / "rules" / "semantics.sql"  # under the tree that runs

US = 1
SEC = 1_000_000 * US
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR
START = 1_704_067_200 * SEC  # 2024-01-01T00:00:00Z
SPAN = 90 * DAY
END = START + SPAN

ACTIONS = ("notify", "thumbnail", "list", "snapshot", "clip", "live", "download")
ACTION_P = (0.30, 0.25, 0.15, 0.10, 0.10, 0.05, 0.05)
LIVE, LIST, CLIP = ACTIONS.index("live"), ACTIONS.index("list"), ACTIONS.index("clip")
OUTCOMES = ("served", "denied", "error")
PARTNERS = ("alexa", "google_home", "smartthings")
UNLINKED_PARTNER = "ifttt"  # no account is ever linked to it
USER_AGENTS = (
    "CamApp/5.12.0 (iPhone; iOS 17.4)",
    "CamApp/5.11.2 (Android 14; Pixel 8)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0",
    "CamTV/1.4 (tvOS 17)",
    "partner-bridge/2.3",
)
TEAMS = ("support", "trust_safety", "engineering", "ops")
N_STAFF = 300
N_SERVICE = 10

# Rules the world plants cases for; each must report at least one finding.
PLANTED_RULES = (
    "LAD001",  # duplicate ids
    "LAD002",  # the duplicate's second unit has its own serial
    "LAD003",  # revoked units bound anew
    "LAM001",  # leaks
    "LAM002",  # planted burst
    "LAM003",  # partner traffic without a link, and a partner cross-feed
    "LAM005",  # planted probe
    "LAS001",  # unconsented staff media/account actions
    "LAS002",  # unconsented live views
    "LAS003",  # look-up then unconsented access
    "LAS004",  # planted sweep
    "LAS005",  # colleague's own account
    "LAS006",  # unknown principal, and one acting after active_to
    "LAS007",  # human reads of the raw store
)


# -- helpers ------------------------------------------------------------------------------
def ids(prefix: str, numbers: np.ndarray, width: int, mask: np.ndarray | None = None) -> pa.Array:
    """`prefix` + zero-padded decimal of each number, as an Arrow string array (vectorised)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    out = pc.binary_join_element_wise(prefix, digits, "")
    if mask is not None:
        out = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), out)
    return out


def ts_array(us: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Microseconds since the epoch as TIMESTAMPTZ (UTC); `mask` marks missing values."""
    return pa.array(us, pa.timestamp("us", tz="UTC"), mask=mask)


def pick(values: tuple[str, ...], index: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(index, mask=mask))


def uniform(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One integer in [lo, hi) per row (hi > lo)."""
    return lo + (rng.random(len(lo)) * (hi - lo)).astype(np.int64)


def other(rng: np.random.Generator, accounts: np.ndarray, n_accounts: int) -> np.ndarray:
    """A different account than each of `accounts`."""
    return (accounts + 1 + rng.integers(0, n_accounts - 1, len(accounts))) % n_accounts


def write_table(world: Path, name: str, table: pa.Table, fmt: str) -> None:
    folder = world / name
    folder.mkdir(parents=True, exist_ok=True)
    for part, start in enumerate(range(0, max(table.num_rows, 1), CHUNK_ROWS)):
        chunk = table.slice(start, CHUNK_ROWS)
        path = folder / f"part-{part:03d}.{fmt}"
        if fmt == "parquet":
            pq.write_table(chunk, path, compression="zstd")
        else:
            pa_csv.write_csv(chunk, path)


# -- the world ----------------------------------------------------------------------------
@dataclass
class Bindings:
    device: np.ndarray
    account: np.ndarray
    bound_from: np.ndarray
    bound_to: np.ndarray  # END + 1000 days for an open binding
    n_devices: int
    n_accounts: int
    single: np.ndarray  # device numbers with exactly one (open) binding, registered before START
    base_from: np.ndarray  # per device: registered_at of its first binding
    base_owner: np.ndarray  # per device: the account of its first binding
    duplicates: np.ndarray  # planted duplicate device numbers
    counts: dict[str, int] = field(default_factory=dict)


OPEN = END + 1000 * DAY


def make_devices(rng: np.random.Generator, m: int, world: Path, fmt: str) -> Bindings:
    extra = round(m * 0.061 / 1.061)  # 5% hand-overs, 1% re-registrations, 0.1% duplicates
    n_dev = m - extra
    n_dup = max(3, round(n_dev * 0.001))
    n_rereg = round(n_dev * 0.01)
    n_hand = extra - n_dup - n_rereg
    n_revoked = max(3, n_hand // 1000)  # hand-overs whose first binding was revoked
    n_acc = max(100, int(n_dev * 0.6))
    owner = rng.integers(0, n_acc, n_dev)
    reg = START - rng.integers(DAY, 730 * DAY, n_dev)
    order = rng.permutation(n_dev)
    hand = order[:n_hand]
    dup = np.sort(order[n_hand : n_hand + n_dup])
    rereg = order[n_hand + n_dup : n_hand + n_dup + n_rereg]
    single = np.sort(order[n_hand + n_dup + n_rereg :])

    base_to = np.full(n_dev, OPEN, np.int64)
    t_hand = START + rng.integers(DAY, SPAN - DAY, n_hand)
    t_rereg = START + rng.integers(DAY, SPAN - 2 * DAY, n_rereg)
    base_to[hand] = t_hand
    base_to[rereg] = t_rereg
    status = np.zeros(n_dev, np.int8)  # 0 active, 1 closed (no status), 2 revoked
    status[hand] = 1
    status[rereg] = 1
    status[hand[:n_revoked]] = 2
    revoked_at = np.where(status == 2, base_to, 0)

    # second bindings: new owner after a hand-over (same unit), a household re-registration
    # (same account, same unit, touching or after a gap), a duplicate (other account, other
    # unit, overlapping the first binding)
    gap = np.where(rng.random(n_rereg) < 0.5, 0, rng.integers(MIN, DAY, n_rereg))
    dev2 = np.concatenate([hand, rereg, dup])
    acc2 = np.concatenate(
        [other(rng, owner[hand], n_acc), owner[rereg], other(rng, owner[dup], n_acc)]
    )
    from2 = np.concatenate(
        [t_hand, t_rereg + gap, START + rng.integers(-30 * DAY, 45 * DAY, n_dup)]
    )
    unit2 = np.concatenate([hand, rereg, n_dev + np.arange(n_dup)])

    device = np.concatenate([np.arange(n_dev), dev2])
    account = np.concatenate([owner, acc2])
    bound_from = np.concatenate([reg, from2])
    bound_to = np.concatenate([base_to, np.full(len(dev2), OPEN)])
    unit = np.concatenate([np.arange(n_dev), unit2])
    st = np.concatenate([status, np.zeros(len(dev2), np.int8)])
    rev = np.concatenate([revoked_at, np.zeros(len(dev2), np.int64)])
    is_open = bound_to == OPEN
    status_idx = np.array([0, -1, 1])[st]  # active / none / revoked
    table = pa.table(
        {
            "device_id": ids("cam-", device, 8),
            "account_id": ids("acct-", account, 8),
            "registered_at": ts_array(bound_from),
            "deregistered_at": ts_array(bound_to, mask=is_open),
            "serial": ids("SN", unit, 9),
            "mac": pc.binary_join_element_wise(
                "02:00", *(ids("", (unit >> s) & 0xFF, 3) for s in (24, 16, 8, 0)), ":"
            ),
            "model": pick(("C1", "C2", "Doorbell", "Floodlight"), unit % 4),
            "firmware": pick(("4.2.1", "4.3.0", "5.0.2"), unit % 3),
            "status": pick(("active", "revoked"), np.maximum(status_idx, 0), mask=status_idx < 0),
            "revoked_at": ts_array(rev, mask=rev == 0),
        }
    )
    write_table(world, "devices", table, fmt)
    return Bindings(
        device=device,
        account=account,
        bound_from=bound_from,
        bound_to=bound_to,
        n_devices=n_dev,
        n_accounts=n_acc,
        single=single,
        base_from=reg,
        base_owner=owner,
        duplicates=dup,
        counts={
            "bindings": len(device),
            "devices": n_dev,
            "accounts": n_acc,
            "hand_overs": n_hand,
            "revoked_bound_anew": n_revoked,
            "re_registrations": n_rereg,
            "planted_duplicates": n_dup,
        },
    )


def window(rng: np.random.Generator, n: int, in_span: float) -> tuple[np.ndarray, np.ndarray]:
    """Validity windows [start, end) that intersect the span; some end inside it."""
    start = START - rng.integers(DAY, 365 * DAY, n)
    late = rng.random(n) < in_span
    start[late] = START + rng.integers(0, SPAN // 2, int(late.sum()))
    end = np.full(n, OPEN, np.int64)
    ends = rng.random(n) < 0.1
    end[ends] = np.maximum(start[ends], START) + rng.integers(DAY, 30 * DAY, int(ends.sum()))
    return start, end


@dataclass
class Events:
    """Column arrays of customer access events (numbers, turned into text when written)."""

    ts: list[np.ndarray] = field(default_factory=list)
    capture: list[np.ndarray] = field(default_factory=list)  # 0: no captured_at
    account: list[np.ndarray] = field(default_factory=list)
    device: list[np.ndarray] = field(default_factory=list)
    action: list[np.ndarray] = field(default_factory=list)
    outcome: list[np.ndarray] = field(default_factory=list)
    partner: list[np.ndarray] = field(default_factory=list)  # -1 none, len(PARTNERS) unlinked

    def add(self, ts, capture, account, device, action, outcome, partner) -> None:
        n = len(ts)
        for name, value in (
            ("ts", ts),
            ("capture", capture),
            ("account", account),
            ("device", device),
            ("action", action),
            ("outcome", outcome),
            ("partner", partner),
        ):
            getattr(self, name).append(np.broadcast_to(np.asarray(value), n).astype(np.int64))


def actions(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(len(ACTIONS), n, p=ACTION_P)


def captures(
    rng: np.random.Generator, ts: np.ndarray, action: np.ndarray, floor: np.ndarray
) -> np.ndarray:
    """captured_at a little before the request (not before `floor`); none for live and list."""
    cap = np.maximum(ts - rng.integers(0, 6 * HOUR, len(ts)), floor)
    return np.where((action == LIVE) | (action == LIST), 0, cap)


def served(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(3, n, p=(0.97, 0.02, 0.01))


def make_events(
    rng: np.random.Generator, n: int, b: Bindings, world: Path, fmt: str
) -> dict[str, int]:
    ev = Events()
    n_acc = b.n_accounts
    singles = b.single
    counts = {
        "share": round(n * 0.04),
        "partner": round(n * 0.02),
        "leak": max(20, round(n * 0.0003)),
        "foreign_denied": round(n * 0.002),
        "partner_unlinked": max(5, round(n * 0.0001)),
        "partner_cross_feed": 20,
        "burst": 40,
        "probe": 15,
    }
    counts["owner"] = n - sum(counts.values())

    # owners: any binding; media recorded inside the binding, requested soon after (so an old
    # owner sometimes opens their own old clips after a hand-over: legitimate)
    k = counts["owner"]
    bi = rng.integers(0, len(b.device), k)
    lo = np.maximum(b.bound_from[bi], START)
    hi = np.minimum(b.bound_to[bi], END)
    act = actions(rng, k)
    at = uniform(rng, lo, hi)
    later = np.minimum(at + rng.integers(0, 6 * HOUR, k), END - 1)
    nomedia = (act == LIVE) | (act == LIST)
    ts = np.where(nomedia, at, later)
    ev.add(ts, np.where(nomedia, 0, at), b.account[bi], b.device[bi], act, served(rng, k), -1)

    # shares of single-owner devices (some scoped to media, some granted or revoked in the span)
    n_sh = max(10, round(b.n_devices * 0.05))
    sh_dev = rng.choice(singles, n_sh)
    sh_owner = b.base_owner[sh_dev]
    sh_grantee = other(rng, sh_owner, n_acc)
    sh_from, sh_to = window(rng, n_sh, 0.3)
    sh_scope = (rng.random(n_sh) < 0.3).astype(np.int64)  # 0 '*', 1 media
    k = counts["share"]
    si = rng.integers(0, n_sh, k)
    ts = uniform(rng, np.maximum(sh_from[si], START), np.minimum(sh_to[si], END))
    act = actions(rng, k)
    act = np.where((sh_scope[si] == 1) & (act == LIVE), CLIP, act)
    cap = captures(rng, ts, act, b.base_from[sh_dev[si]])
    ev.add(ts, cap, sh_grantee[si], sh_dev[si], act, served(rng, k), -1)

    # partner links of owners of single-owner devices, and their partner traffic
    n_l = max(10, round(b.n_devices * 0.03))
    l_dev = rng.choice(singles, n_l)
    l_acc = b.base_owner[l_dev]
    l_partner = rng.integers(0, len(PARTNERS), n_l)
    l_from, l_to = window(rng, n_l, 0.2)
    k = counts["partner"]
    li = rng.integers(0, n_l, k)
    ts = uniform(rng, np.maximum(l_from[li], START), np.minimum(l_to[li], END))
    act = actions(rng, k)
    cap = captures(rng, ts, act, b.base_from[l_dev[li]])
    ev.add(ts, cap, l_acc[li], l_dev[li], act, served(rng, k), l_partner[li])

    # partner traffic with no link (own device), and a cross-feed (linked, foreign device)
    k = counts["partner_unlinked"]
    di = rng.choice(singles, k)
    ts = START + rng.integers(0, SPAN, k)
    ev.add(ts, 0, b.base_owner[di], di, LIVE, 0, len(PARTNERS))
    k = counts["partner_cross_feed"]
    li = rng.integers(0, n_l, k)
    ts = uniform(rng, np.maximum(l_from[li], START), np.minimum(l_to[li], END))
    di = rng.choice(singles, k)
    ev.add(ts, ts - 10 * MIN, l_acc[li], di, CLIP, 0, l_partner[li])

    # leaks (served foreign media) and background denials on foreign devices
    for name, outcome in (("leak", 0), ("foreign_denied", 1)):
        k = counts[name]
        ts = START + rng.integers(0, SPAN, k)
        act = actions(rng, k)
        cap = captures(rng, ts, act, np.full(k, START - 365 * DAY))
        ev.add(ts, cap, rng.integers(0, n_acc, k), rng.choice(singles, k), act, outcome, -1)

    # a burst: 40 foreign deliveries to 12 accounts within 4 minutes
    k = counts["burst"]
    ts = START + 40 * DAY + np.sort(rng.integers(0, 4 * MIN, k))
    acc = rng.choice(n_acc, 12, replace=False)[np.arange(k) % 12]
    ev.add(ts, ts - MIN, acc, rng.choice(singles, k), 1, 0, -1)
    # a probe: one account denied on 15 foreign devices within 5 minutes
    k = counts["probe"]
    ts = START + 50 * DAY + np.sort(rng.integers(0, 5 * MIN, k))
    ev.add(ts, 0, rng.integers(0, n_acc), rng.choice(singles, k, replace=False), LIVE, 1, -1)

    cols = {name: np.concatenate(getattr(ev, name)) for name in Events.__dataclass_fields__}
    order = np.argsort(cols["ts"], kind="stable")  # a time-ordered export
    cols = {name: value[order] for name, value in cols.items()}
    assert len(cols["ts"]) == n, (len(cols["ts"]), n)

    folder = world / "access_events"
    folder.mkdir(parents=True, exist_ok=True)
    for part, start in enumerate(range(0, n, CHUNK_ROWS)):
        c = {name: value[start : start + CHUNK_ROWS] for name, value in cols.items()}
        rows = np.arange(start, start + len(c["ts"]))
        crng = np.random.default_rng([rng.integers(2**31), part])
        m = len(rows)
        act = c["action"]
        nomedia = (act == LIVE) | (act == LIST)
        day = (c["ts"] - START) // DAY
        session = c["account"] * 128 + day
        ip = c["account"] * 7919 % (2**24)
        size = crng.lognormal(11, 2, m).astype(np.int64)
        table = pa.table(
            {
                "ts": ts_array(c["ts"]),
                "account_id": ids("acct-", c["account"], 8),
                "device_id": ids("cam-", c["device"], 8),
                "action": pick(ACTIONS, act),
                "outcome": pick(OUTCOMES, c["outcome"]),
                "media_id": ids("med-", rows, 10, mask=nomedia),
                "captured_at": ts_array(c["capture"], mask=c["capture"] == 0),
                "session_id": ids("sess-", session, 12, mask=crng.random(m) < 0.4),
                "partner": pick(
                    (*PARTNERS, UNLINKED_PARTNER), np.maximum(c["partner"], 0), c["partner"] < 0
                ),
                "client_ip": pc.binary_join_element_wise(
                    "10", *(ids("", (ip >> s) & 0xFF, 1) for s in (16, 8, 0)), "."
                ),
                "user_agent": pick(USER_AGENTS, c["account"] % len(USER_AGENTS)),
                "bytes": pa.array(size, mask=act == ACTIONS.index("notify")),
            }
        )
        path = folder / f"part-{part:03d}.{fmt}"
        if fmt == "parquet":
            pq.write_table(table, path, compression="zstd")
        else:
            pa_csv.write_csv(table, path)

    shares = pa.table(
        {
            "device_id": ids("cam-", sh_dev, 8),
            "owner_account_id": ids("acct-", sh_owner, 8),
            "grantee_account_id": ids("acct-", sh_grantee, 8),
            "granted_at": ts_array(sh_from),
            "revoked_at": ts_array(sh_to, mask=sh_to == OPEN),
            "scope": pick(("*", "media"), sh_scope),
        }
    )
    write_table(world, "shares", shares, fmt)
    links = pa.table(
        {
            "account_id": ids("acct-", l_acc, 8),
            "partner": pick(PARTNERS, l_partner),
            "linked_at": ts_array(l_from),
            "unlinked_at": ts_array(l_to, mask=l_to == OPEN),
        }
    )
    write_table(world, "partner_links", links, fmt)
    counts.update(shares=n_sh, partner_links=n_l)
    return counts


def make_staff(
    rng: np.random.Generator, n_events: int, b: Bindings, world: Path, fmt: str
) -> dict[str, int]:
    n_acc, singles = b.n_accounts, b.single
    n_staff = N_STAFF + N_SERVICE
    kind = (np.arange(n_staff) >= N_STAFF).astype(np.int64)  # 0 human, 1 service
    team = rng.integers(0, len(TEAMS), n_staff)
    active_from = START - rng.integers(30 * DAY, 1500 * DAY, n_staff)
    active_to = np.full(n_staff, OPEN, np.int64)
    leaving = np.flatnonzero((rng.random(n_staff) < 0.05) & (kind == 0))
    active_to[leaving] = START + rng.integers(10 * DAY, 80 * DAY, len(leaving))
    own = np.where(rng.random(n_staff) < 0.05, rng.integers(0, n_acc, n_staff), -1)
    own[3] = rng.integers(0, n_acc)  # staff-0003 is a customer too (LAS005 below)

    k = max(1000, n_events // 100)
    cat = rng.choice(6, k, p=(0.30, 0.15, 0.30, 0.05, 0.10, 0.10))
    # 0 lookup, 1 account, 2 device media, 3 device live, 4 media only, 5 service raw read
    staff = np.where(cat == 5, N_STAFF + rng.integers(0, N_SERVICE, k), rng.integers(0, N_STAFF, k))
    ts = uniform(rng, np.maximum(active_from[staff], START), np.minimum(active_to[staff], END))
    device = rng.choice(singles, k)
    target = np.where(cat <= 1, rng.integers(0, n_acc, k), b.base_owner[device])
    # index into STAFF_ACTIONS: lookup 0, account 1, raw_read 2, then ACTIONS from 3
    media_act = np.array([3 + ACTIONS.index(a) for a in ("snapshot", "clip", "download")])
    act = np.select(
        [cat == 0, cat == 1, cat == 2, cat == 3, cat == 4],
        [0, 1, media_act[rng.integers(0, 3, k)], 3 + LIVE, 3 + CLIP],
        2,
    )
    media = np.arange(k)
    media_cap = np.maximum(ts - rng.integers(HOUR, 30 * DAY, k), b.base_from[device])

    # consents for 99.5% of the human actions that need one
    needs = (cat >= 1) & (cat <= 4)
    covered = needs & (rng.random(k) < 0.995)
    ci = np.flatnonzero(covered)
    c_scope = np.where(cat[ci] == 3, 2, np.where(rng.random(len(ci)) < 0.5, 3, 0))
    c_scope = np.where((c_scope == 0) & (cat[ci] == 1), 1, c_scope)  # media / account / live / *
    grantee_kind = rng.choice(3, len(ci), p=(0.6, 0.25, 0.15))
    consents = {
        "account": target[ci],
        "scope": c_scope,
        "granted": ts[ci] - rng.integers(MIN, 2 * DAY, len(ci)),
        "expires": ts[ci] + rng.integers(HOUR, 7 * DAY, len(ci)),
        "grantee_kind": grantee_kind,
        "staff": staff[ci],
    }

    rows = {
        "ts": [ts],
        "staff": [staff],
        "act": [act],
        "account": [np.where(cat <= 1, target, -1)],
        "device": [np.where((cat == 2) | (cat == 3), device, -1)],
        "media": [np.where(cat >= 4, media, -1)],
        "channel": [np.select([cat == 5, cat == 1], [2, 1], 0)],
    }

    def plant(ts_, staff_, act_, account_=-1, device_=-1, channel_=0) -> None:
        n = len(np.atleast_1d(ts_))
        for name, value in (
            ("ts", ts_),
            ("staff", staff_),
            ("act", act_),
            ("account", account_),
            ("device", device_),
            ("media", -1),
            ("channel", channel_),
        ):
            rows[name].append(np.broadcast_to(np.asarray(value, np.int64), n).copy())

    t0 = START + 20 * DAY
    d = rng.choice(singles)
    plant(t0, 0, 0, account_=b.base_owner[d])  # LAS003: look-up, then an unconsented clip
    plant(t0 + 2 * HOUR, 0, 3 + CLIP, device_=d)
    sweep = rng.choice(n_acc, 16, replace=False)  # LAS004: 16 customers in 14 minutes
    sweep_ts = t0 + DAY + np.sort(rng.integers(0, 14 * MIN, 16))
    plant(sweep_ts, 1, 3 + CLIP, account_=sweep)
    consents_extra = [(sweep, np.full(16, 0), sweep_ts - HOUR, sweep_ts + HOUR)]
    plant(t0 + 2 * DAY, 2, 1, account_=own[3])  # LAS005: a colleague's own account
    unknown = n_staff  # LAS006: a principal the directory does not know
    plant(t0 + 3 * DAY + np.arange(3) * MIN, unknown, 0, account_=rng.integers(0, n_acc))
    if len(leaving):  # LAS006: a leaver acting after active_to
        s = leaving[0]
        plant(np.minimum(active_to[s] + HOUR, END - 1), s, 0, account_=rng.integers(0, n_acc))
    plant(t0 + 4 * DAY + np.arange(3) * MIN, 4, 2, channel_=2)  # LAS007: a human raw read
    plant(t0 + 5 * DAY, 5, 3 + LIVE, device_=rng.choice(singles))  # LAS002: unconsented live

    cols = {name: np.concatenate(value) for name, value in rows.items()}
    outcome = np.zeros(len(cols["ts"]), np.int64)  # planted rows are served
    outcome[:k] = np.where(rng.random(k) < 0.99, 0, 1)
    staff_actions = ("lookup", "account", "raw_read", *ACTIONS)
    names = [f"staff-{i:04d}" for i in range(N_STAFF)]
    names += [f"svc-{i:02d}" for i in range(N_SERVICE)] + ["contractor-9999"]
    table = pa.table(
        {
            "ts": ts_array(cols["ts"]),
            "staff_id": pick(tuple(names), cols["staff"]),
            "action": pick(staff_actions, cols["act"]),
            "account_id": ids("acct-", cols["account"], 8, mask=cols["account"] < 0),
            "device_id": ids("cam-", cols["device"], 8, mask=cols["device"] < 0),
            "media_id": ids("smed-", cols["media"], 8, mask=cols["media"] < 0),
            "lookup_key": ids(
                "user", cols["account"], 8, mask=(cols["act"] != 0) | (cols["account"] < 0)
            ),
            "ticket_id": ids("T-", np.arange(len(cols["ts"])), 7),
            "channel": pick(("portal", "admin_api", "raw_storage"), cols["channel"]),
            "outcome": pick(OUTCOMES, outcome),
        }
    )
    write_table(world, "staff_access", table, fmt)

    mi = np.flatnonzero(cat >= 4)
    write_table(
        world,
        "media",
        pa.table(
            {
                "media_id": ids("smed-", media[mi], 8),
                "device_id": ids("cam-", device[mi], 8),
                "captured_at": ts_array(media_cap[mi]),
                "kind": pick(("clip",), np.zeros(len(mi), np.int64)),
            }
        ),
        fmt,
    )

    acc = np.concatenate([consents["account"], consents_extra[0][0]])
    scope = np.concatenate([consents["scope"], consents_extra[0][1]])
    granted = np.concatenate([consents["granted"], consents_extra[0][2]])
    expires = np.concatenate([consents["expires"], consents_extra[0][3]])
    gk = np.concatenate([consents["grantee_kind"], np.zeros(16, np.int64)])
    gs = np.concatenate([consents["staff"], np.zeros(16, np.int64)])
    grantee = pc.if_else(
        pa.array(gk == 0),
        pa.scalar("*"),
        pc.if_else(
            pa.array(gk == 1),
            ids("staff-", gs, 4),
            pc.binary_join_element_wise("team:", pick(TEAMS, team[gs]), ""),
        ),
    )
    write_table(
        world,
        "consents",
        pa.table(
            {
                "account_id": ids("acct-", acc, 8),
                "scope": pick(("media", "account", "live", "*"), scope),
                "granted_at": ts_array(granted),
                "expires_at": ts_array(expires),
                "grantee": grantee,
                "ticket_id": ids("T-", np.arange(len(acc)), 7),
                "consent_id": ids("c-", np.arange(len(acc)), 8),
            }
        ),
        fmt,
    )
    write_table(
        world,
        "staff",
        pa.table(
            {
                "staff_id": pa.array(names[:n_staff]),
                "team": pick(TEAMS, team),
                "role": pick(("agent", "engineer", "service"), np.where(kind == 1, 2, team % 2)),
                "email": pc.binary_join_element_wise(
                    pa.array(names[:n_staff]), pa.scalar("@corp.example"), ""
                ),
                "own_account_id": ids("acct-", own, 8, mask=own < 0),
                "kind": pick(("human", "service"), kind),
                "active_from": ts_array(active_from),
                "active_to": ts_array(active_to, mask=active_to == OPEN),
            }
        ),
        fmt,
    )
    return {
        "staff": n_staff,
        "staff_access": len(cols["ts"]),
        "consents": len(acc),
        "media": len(mi),
    }


def generate(workdir: Path, events: int, bindings: int, seed: int, fmt: str) -> dict:
    """Write the world (reused when a previous run left an identical one); its manifest."""
    world = workdir / "world"
    manifest_path = workdir / "world.json"
    key = {"version": GENERATOR_VERSION, "events": events, "bindings": bindings, "seed": seed}
    key["format"] = fmt
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("key") == key and world.is_dir():
            print(f"reusing the world in {world}", flush=True)
            return manifest
    shutil.rmtree(world, ignore_errors=True)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    b = make_devices(rng, bindings, world, fmt)
    counts = dict(b.counts)
    counts.update(make_events(rng, events, b, world, fmt))
    counts.update(make_staff(rng, events, b, world, fmt))
    manifest = {
        "key": key,
        "counts": counts,
        "duplicates": [f"cam-{d:08d}" for d in b.duplicates.tolist()],
        "seconds": round(time.perf_counter() - started, 1),
        "bytes": sum(p.stat().st_size for p in world.rglob("*") if p.is_file()),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    print(
        f"generated {world} in {manifest['seconds']} s "
        f"({manifest['bytes'] / 2**20:.0f} MiB): {counts}",
        flush=True,
    )
    return manifest


# -- measuring ----------------------------------------------------------------------------
def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def snapshot(rev: str, dest: Path) -> str:
    """`git archive REV` unpacked into `dest` (leakaudit/ and rules/); returns the commit."""
    commit = git("rev-parse", rev)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", commit, "leakaudit", "rules"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return commit


@dataclass
class Run:
    seconds: float
    rss_mb: float
    code: int
    stderr: str


def measure(
    cmd: list[str], log: Path, cwd: Path, keep_stdout: bool = False, env: dict | None = None
) -> Run:
    """Run `cmd` as a child; wall time and its peak RSS from os.wait4. Output goes to `log`."""
    with log.open("w") as err:
        started = time.perf_counter()
        out = err if keep_stdout else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(seconds, usage.ru_maxrss / 1024, proc.returncode, log.read_text(errors="replace"))


def ratio_table(
    times: dict[str, list[float]], rss: dict[str, float], floors: dict[str, str]
) -> str:
    """The Markdown table of the side-by-side scripts: median of each run, its ratio to each
    floor (`floors`: column heading → run name), peak RSS and every round."""
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}
    heads = "".join(f" {head} |" for head in floors)
    lines = [
        f"| run | median s |{heads} peak RSS | rounds (s) |",
        "|---|---:|" + "---:|" * len(floors) + "---:|---|",
    ]
    for name, seconds in times.items():
        ratios = "".join(f" {medians[name] / medians[f]:.1f} |" for f in floors.values())
        rounds = ", ".join(f"{s:.1f}" for s in seconds)
        lines.append(f"| {name} | {medians[name]:.1f} |{ratios} {rss[name]:,.0f} MB | {rounds} |")
    return "\n".join(lines)


def floor_code(world: Path, fmt: str) -> str:
    reader = READERS[fmt]
    events = f"{reader}('{world}/access_events/*.{fmt}')"
    devices = f"{reader}('{world}/devices/*.{fmt}')"
    return (
        "import duckdb\n"
        "con = duckdb.connect()\n"
        f'print(con.execute("SELECT count(*), min(ts), max(ts), count(DISTINCT account_id) '
        f'FROM {events}").fetchall())\n'
        f'print(con.execute("SELECT count(*), count(DISTINCT device_id), min(registered_at), '
        f'max(registered_at) FROM {devices}").fetchall())\n'
    )


def full_scan_code(world: Path, fmt: str) -> str:
    """(d): every column of every row of every input file is read and hashed."""
    reader = READERS[fmt]
    return (
        "import duckdb, pathlib\n"
        "con = duckdb.connect()\n"
        f"for folder in sorted(pathlib.Path('{world}').iterdir()):\n"
        f'    print(con.execute(f"SELECT count(*), bit_xor(hash(COLUMNS(*))) '
        f"FROM {reader}('{{folder}}/*.{fmt}')\").fetchall())\n"
    )


def load_code(world: Path, fmt: str, db: Path) -> str:
    """(e): DuckDB's own load of every input file into a fresh database (CREATE TABLE AS)."""
    reader = READERS[fmt]
    return (
        "import duckdb, pathlib\n"
        f"con = duckdb.connect('{db}')\n"
        f"for folder in sorted(pathlib.Path('{world}').iterdir()):\n"
        f'    con.execute(f"CREATE TABLE {{folder.name}} AS SELECT * '
        f"FROM {reader}('{{folder}}/*.{fmt}')\")\n"
    )


SEMANTICS_HARNESS = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SET TimeZone = 'UTC'")
con.execute("SET enable_progress_bar = false")
for st in con.extract_statements(open(sys.argv[2]).read()):
    head = " ".join(st.query.split())[:60]
    t = time.perf_counter()
    con.execute(st.query)
    print(f"{time.perf_counter() - t:.3f}\\t{head}", flush=True)
for name in ("customer_access", "staff_action", "staff_action_target"):
    n = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    print(f"rows\\t{name}\\t{n}", flush=True)
"""

PROFILE_ROW = re.compile(r"^\W*(\S+)\s*│\s*(.+?)\s*│\s*(\d+)\s*│\s*([\d.]*)\s*│")


def rule_timings(stderr: str) -> list[tuple[str, str, int, float | None]]:
    """The rows of the --profile table: rule, status, findings, seconds."""
    out = []
    in_table = False
    for line in stderr.splitlines():
        if line.startswith("Rule timings"):
            in_table = True
            continue
        m = PROFILE_ROW.match(line) if in_table else None
        if m and m.group(1) != "rule":
            secs = float(m.group(4)) if m.group(4) else None
            out.append((m.group(1), m.group(2), int(m.group(3)), secs))
    return out


def check_findings(path: Path, manifest: dict) -> list[str]:
    """Problems with the findings: empty, planted duplicates missed, planted rules silent."""
    doc = json.loads(path.read_text())
    findings = doc.get("findings", [])
    problems = []
    if not findings:
        problems.append("no findings at all")
    by_rule: dict[str, int] = {}
    for f in findings:
        by_rule[f["rule_id"]] = by_rule.get(f["rule_id"], 0) + 1
    found = {f["entities"]["device_id"] for f in findings if f["rule_id"] == "LAD001"}
    planted = set(manifest["duplicates"])
    missed, extra = planted - found, found - planted
    if missed:
        problems.append(f"{len(missed)} planted duplicate ids not found, e.g. {sorted(missed)[:3]}")
    if extra:
        problems.append(f"{len(extra)} LAD001 findings on decoys, e.g. {sorted(extra)[:3]}")
    silent = [r for r in PLANTED_RULES if not by_rule.get(r)]
    if silent:
        problems.append(f"planted rules without findings: {', '.join(silent)}")
    print(
        f"findings: {len(findings)} ({', '.join(f'{k} {v}' for k, v in sorted(by_rule.items()))});"
        f" planted duplicates found {len(planted & found)}/{len(planted)}",
        flush=True,
    )
    return problems


def machine() -> dict[str, str]:
    mem = ""
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    cpu = platform.processor() or ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="access events (N)")
    parser.add_argument("--bindings", type=int, default=1_000_000, help="device bindings (M)")
    parser.add_argument("--workdir", type=Path, help="keep the world and databases here")
    parser.add_argument("--format", choices=sorted(READERS), default="parquet")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the median is shown")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument(
        "--semantics",
        action="store_true",
        help="also time each statement of semantics.sql on the ingested database",
    )
    parser.add_argument(
        "--at-commit",
        metavar="REV",
        help="run leakaudit from `git archive REV` (a snapshot) instead of the working tree",
    )
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--json", type=Path, help="write the measurements here as JSON")
    args = parser.parse_args(argv)

    scratch = None
    if args.workdir is None:
        scratch = tempfile.TemporaryDirectory(prefix="leakaudit-bench-")
        workdir = Path(scratch.name)
    else:
        workdir = args.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"machine: {info}", flush=True)
    manifest = generate(workdir, args.events, args.bindings, args.seed, args.format)
    if args.generate_only:
        return 0

    world = workdir / "world"
    db = workdir / "fresh.duckdb"
    findings = workdir / "findings.json"
    leakaudit = shutil.which("leakaudit") or str(Path(sys.executable).parent / "leakaudit")
    env = dict(os.environ)
    source = workdir / "src" if args.at_commit else ROOT
    if args.at_commit:
        info["leakaudit"] = snapshot(args.at_commit, workdir / "src")
        env["PYTHONPATH"] = str(workdir / "src")
    else:
        info["leakaudit"] = git("rev-parse", "HEAD") + " + working tree"
    print(f"leakaudit: {info['leakaudit']}", flush=True)
    # (a) as a user runs it: a throw-away database (in memory); (k) into a kept file, which
    # (b) then audits again.
    cmd_a = [leakaudit, "audit", str(world), "--quiet", "--profile", "-o", str(findings)]
    kept = workdir / "findings-kept.json"
    cmd_k = [leakaudit, "audit", str(world), "--db", str(db), "--quiet", "--profile"]
    cmd_k += ["-o", str(kept)]
    cmd_b = [leakaudit, "audit", "--db", str(db), "--quiet", "--profile"]
    cmd_c = [sys.executable, "-c", floor_code(world, args.format)]
    cmd_d = [sys.executable, "-c", full_scan_code(world, args.format)]
    raw_db = workdir / "raw-load.duckdb"
    cmd_e = [sys.executable, "-c", load_code(world, args.format, raw_db)]
    commands = {"c": cmd_c, "d": cmd_d, "e": cmd_e, "a": cmd_a, "k": cmd_k, "b": cmd_b}
    results: dict[str, list[Run]] = {name: [] for name in commands}
    for round_no in range(1, args.repeat + 1):
        for name, cmd in commands.items():
            if name == "a":
                findings.unlink(missing_ok=True)
            if name == "k":
                for p in (db, Path(f"{db}.wal"), kept):
                    p.unlink(missing_ok=True)
            if name == "e":
                for p in (raw_db, Path(f"{raw_db}.wal")):
                    p.unlink(missing_ok=True)
            run = measure(cmd, workdir / f"stderr-{name}-{round_no}.txt", workdir, env=env)
            results[name].append(run)
            print(
                f"round {round_no} ({name}): {run.seconds:8.1f} s  {run.rss_mb:8.0f} MB  "
                f"exit {run.code}",
                flush=True,
            )
            if run.code not in (0, 1) or "Traceback" in run.stderr:
                print(run.stderr[-3000:], file=sys.stderr)
                return 2

    med = {k: statistics.median(r.seconds for r in v) for k, v in results.items()}
    rss = {k: max(r.rss_mb for r in v) for k, v in results.items()}
    ratio_a, ratio_b = med["a"] / med["c"], med["b"] / med["c"]
    peak = max(rss["a"], rss["k"], rss["b"])
    ok_ratio, ok_rss = ratio_a <= RATIO_TARGET, peak < RSS_TARGET_MB
    labels = {
        "a": "(a) leakaudit audit WORLD (ingest + rules)",
        "k": "(k) the same, into a kept --db file",
        "b": "(b) leakaudit audit --db (rules only)",
        "c": "(c) DuckDB scan of the input files",
        "d": "(d) DuckDB scan, every column of every file",
        "e": "(e) DuckDB CREATE TABLE AS of every file",
    }
    print(f"\n{'':44} {'seconds':>9} {'x (c)':>7} {'x (d)':>7} {'peak RSS MB':>12}  rounds (s)")
    for k in ("a", "k", "b", "c", "d", "e"):
        rounds = ", ".join(f"{r.seconds:.1f}" for r in results[k])
        print(
            f"{labels[k]:44} {med[k]:9.1f} {med[k] / med['c']:7.2f} {med[k] / med['d']:7.2f} "
            f"{rss[k]:12.0f}  {rounds}"
        )
    print(f"target (a)/(c) <= {RATIO_TARGET:g}: {ratio_a:.2f} {'PASS' if ok_ratio else 'FAIL'}")
    print(f"(a)/(d) = {med['a'] / med['d']:.2f}; (a)/(e) = {med['a'] / med['e']:.2f}")
    print(f"target peak RSS < {RSS_TARGET_MB} MB: {peak:.0f} {'PASS' if ok_rss else 'FAIL'}")
    print(f"(b)/(c) = {ratio_b:.2f}; ingest ~ (a) - (b) = {med['a'] - med['b']:.1f} s")

    timings = rule_timings(results["b"][-1].stderr)
    print("\nper-rule timings (--profile of the last (b) run):")
    for rule, status, count, secs in timings:
        print(f"  {rule:8} {status:10} {count:8} {secs if secs is not None else '':>8}")
    print(f"  sum of rules: {sum(t[3] or 0 for t in timings):.1f} s")

    semantics = []
    if args.semantics:
        log = workdir / "semantics.txt"
        run = measure(
            [sys.executable, "-c", SEMANTICS_HARNESS, str(db), str(source / SEMANTICS_SQL)],
            log,
            workdir,
            keep_stdout=True,
            env=env,
        )
        print(f"\nsemantics.sql statement by statement ({run.seconds:.1f} s, {run.rss_mb:.0f} MB):")
        print(run.stderr)
        semantics = run.stderr.strip().splitlines()

    problems = check_findings(findings, manifest) + check_findings(kept, manifest)
    for p in problems:
        print(f"CHECK FAILED: {p}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "commands": commands,
                    "manifest": {k: v for k, v in manifest.items() if k != "duplicates"},
                    "runs": {
                        k: [{"seconds": r.seconds, "rss_mb": r.rss_mb} for r in v]
                        for k, v in results.items()
                    },
                    "median": med,
                    "ratios": {
                        "a/c": ratio_a,
                        "b/c": ratio_b,
                        "a/d": med["a"] / med["d"],
                        "a/e": med["a"] / med["e"],
                    },
                    "rules": timings,
                    "semantics": semantics,
                    "problems": problems,
                },
                indent=1,
            )
        )
    if scratch is not None:
        scratch.cleanup()
    if problems:
        return 2
    return 0 if ok_ratio and ok_rss else 1


if __name__ == "__main__":
    sys.exit(main())
