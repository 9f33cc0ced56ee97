#!/usr/bin/env python3
"""Generate the deterministic leakaudit demo world (sample_logs/).

Usage: python scripts/make_sample_logs.py [OUT_DIR [EXPECTED_JSON]]
       (defaults: sample_logs/ and tests/data/sample_logs_expected.json)

A seeded world of ~300 accounts and their cameras over two weeks (2024-06-01 .. 06-14 UTC),
with the four incidents of ../shared/INCIDENTS.md planted next to legitimate look-alikes.
Writes the tables and README.md, and the ground truth to tests/data/.
Same seed, same bytes (gzip mtime 0).
Before writing, the script re-derives its ground truth with a small reference reading of
SPEC §2 / docs/semantics.md and aborts if background traffic would add or hide a finding.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20240601
CEST = timezone(timedelta(hours=2))
START = datetime(2024, 6, 1, tzinfo=UTC)
END = START + timedelta(days=14)
SEC = timedelta(seconds=1)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
OUTAGE = (datetime(2024, 6, 9, 14, 0, tzinfo=UTC), datetime(2024, 6, 9, 15, 10, tzinfo=UTC))

# Thresholds the self-check uses to make sure background traffic stays far below any sane
# rule default ("many" = 5 distinct in one hour is already stricter than the rule packs).
QUIET_MAX = 4

MODELS = {
    "netatmo": ("NACamera", "v2.8.1", "NTA"),
    "wyze": ("WYZE_CAKP2JFUS", "4.36.11.5859", "WYZ"),
    "ring": ("stickup_cam_v3", "1.4.26", "RNG"),
    "eufy": ("T8410", "2.1.7.3", "EUF"),
}
MIJIA = ("chuangmi.camera.ipc019", "4.1.6_1999", "XMI")
PARTNERS = ("google-nest", "alexa")
USER_AGENTS = (
    "CamApp/5.12.0 (iPhone; iOS 17.5)",
    "CamApp/5.12.0 (Android 14; Pixel 8)",
    "CamApp/5.11.3 (Android 13; SM-A536B)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) CamWeb/2024.05",
    "CamApp/5.10.1 (iPad; iPadOS 16.7)",
)
HOSTILE_UAS = ("<script>alert(1)</script>", "[bold]x[/] CamApp/0.0 (rich-markup)")


def at(s: str) -> datetime:
    """Parse a UTC wall-clock literal used for planted times."""
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def acct(n: int) -> str:
    return f"acct-{n:04d}"


@dataclass
class Binding:
    device_id: str
    account_id: str
    registered_at: datetime
    deregistered_at: datetime | None = None
    serial: str = ""
    mac: str = ""
    model: str = ""
    firmware: str = ""
    status: str | None = "active"
    revoked_at: datetime | None = None
    region: str = "eu-central-1"


@dataclass
class Share:
    device_id: str
    owner: str
    grantee: str
    granted_at: datetime
    revoked_at: datetime | None = None
    scope: str = "*"


@dataclass
class Link:
    account_id: str
    partner: str
    linked_at: datetime
    unlinked_at: datetime | None = None


@dataclass
class Consent:
    account_id: str
    scope: str
    granted_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    grantee: str = "*"
    ticket_id: str | None = None
    consent_id: str = ""


@dataclass
class Staff:
    staff_id: str
    team: str
    role: str
    email: str
    own_account_id: str | None
    kind: str
    active_from: datetime
    active_to: datetime | None = None


@dataclass
class Media:
    media_id: str
    device_id: str
    captured_at: datetime
    kind: str


@dataclass
class Event:
    ts: datetime
    account_id: str
    device_id: str
    action: str
    outcome: str = "served"
    media_id: str | None = None
    captured_at: datetime | None = None
    session_id: str | None = None
    partner: str | None = None
    bytes: int | None = None


@dataclass
class StaffAct:
    ts: datetime
    staff_id: str
    action: str
    account_id: str | None = None
    device_id: str | None = None
    media_id: str | None = None
    lookup_key: str | None = None
    ticket_id: str | None = None
    channel: str = "portal"
    outcome: str = "served"


def active(start: datetime, end: datetime | None, t: datetime) -> bool:
    return start <= t and (end is None or t < end)


def overlap(a0: datetime, a1: datetime | None, b0: datetime, b1: datetime | None) -> bool:
    return (a1 is None or b0 < a1) and (b1 is None or a0 < b1)


class World:
    """All rows of the demo world plus the ground truth planted into it."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.bindings: list[Binding] = []
        self.shares: list[Share] = []
        self.links: list[Link] = []
        self.consents: list[Consent] = []
        self.staff: list[Staff] = []
        self.media: list[Media] = []
        self.events: list[Event] = []
        self.staff_acts: list[StaffAct] = []
        self.households: list[list[str]] = []
        self.cams_of: dict[str, list[str]] = defaultdict(list)  # account -> own devices
        self.expected: list[dict] = []
        self.cases: list[tuple[str, str, str]] = []  # (section, "planted"/"decoy", text)
        self.allow_after_revoke: set[str] = set()
        self.ua: dict[str, str] = {}
        self.ip: dict[str, str] = {}
        self._dev = 0
        self._media = 0
        self._sess = 0
        self.plan: Plan = Plan()

    # ---- indexes -------------------------------------------------------------------------
    def bind_of(self, d: str) -> list[Binding]:
        return [b for b in self.bindings if b.device_id == d]

    def index(self) -> None:
        self._bind: dict[str, list[Binding]] = defaultdict(list)
        for b in self.bindings:
            self._bind[b.device_id].append(b)
        self._shares: dict[str, list[Share]] = defaultdict(list)
        for s in self.shares:
            self._shares[s.device_id].append(s)
        self._links: dict[str, list[Link]] = defaultdict(list)
        for lk in self.links:
            self._links[lk.account_id].append(lk)
        self._cands: dict[str, list[str]] = {}
        self.visible: dict[str, list[str]] = defaultdict(list)
        for d in sorted(self._bind):
            c = sorted({b.account_id for b in self._bind[d]} | {s.grantee for s in self._shares[d]})
            self._cands[d] = c
            for a in c:
                self.visible[a].append(d)

    def owners(self, d: str, t: datetime) -> set[str]:
        return {
            b.account_id
            for b in self._bind.get(d, ())
            if active(b.registered_at, b.deregistered_at, t)
        }

    def legit(self, d: str, a: str, cap: datetime, ts: datetime, scope: str) -> bool:
        own = self.owners(d, cap)
        if a in own:
            return True
        return any(
            s.grantee == a
            and s.owner in own
            and active(s.granted_at, s.revoked_at, ts)
            and s.scope in ("*", scope)
            for s in self._shares.get(d, ())
        )

    def link_active(self, a: str, partner: str, ts: datetime) -> bool:
        return any(
            lk.partner == partner and active(lk.linked_at, lk.unlinked_at, ts)
            for lk in self._links.get(a, ())
        )

    def blocked(self, d: str, a: str, ts: datetime) -> bool:
        """True when a's unit of d was revoked before ts (background never uses it then)."""
        if d in self.allow_after_revoke:
            return False
        return any(
            b.account_id == a
            and b.status in ("revoked", "returned")
            and b.revoked_at is not None
            and ts >= b.revoked_at
            for b in self._bind.get(d, ())
        )

    # ---- constructors ----------------------------------------------------------------------
    def new_device(self, owner: str, reg: datetime, vendor: str | None = None) -> Binding:
        self._dev += 1
        vendor = vendor or self.rng.choice(sorted(MODELS))
        model, fw, pre = MODELS[vendor] if vendor in MODELS else MIJIA
        n = self._dev
        b = Binding(
            device_id=f"cam-{n:04d}",
            account_id=owner,
            registered_at=reg,
            serial=f"{pre}{n:05d}{self.rng.choice('ABCDEFGHJK')}",
            mac=f"02:1a:{n >> 8:02x}:{n & 255:02x}:{self.rng.randrange(256):02x}:{n % 97:02x}",
            model=model,
            firmware=fw,
        )
        self.bindings.append(b)
        self.cams_of[owner].append(b.device_id)
        return b

    def new_media(self, d: str, c: datetime, kind: str = "clip") -> Media:
        self._media += 1
        m = Media(f"med-{self._media:06d}", d, c, kind)
        self.media.append(m)
        return m

    def session(self, prefix: str = "sess") -> str:
        self._sess += 1
        return f"{prefix}-{self._sess:05d}-{self.rng.randrange(16**4):04x}"

    def ev(self, ts: datetime, a: str, d: str, action: str, **kw: object) -> Event:
        if "bytes" not in kw and kw.get("outcome", "served") == "served":
            kw["bytes"] = self.size(action)
        e = Event(ts, a, d, action, **kw)  # type: ignore[arg-type]
        self.events.append(e)
        return e

    def size(self, action: str) -> int:
        lo, hi = {
            "notify": (900, 2400),
            "thumbnail": (8000, 24000),
            "list": (1500, 9000),
            "snapshot": (120000, 420000),
            "clip": (1500000, 9000000),
            "download": (2000000, 12000000),
            "live": (800000, 30000000),
        }[action]
        return self.rng.randint(lo, hi)

    def plant(self, category: str, entities: dict, partial: bool = False, note: str = "") -> None:
        row: dict = {"category": category, "entities": entities}
        if partial:
            row["partial"] = True
        if note:
            row["note"] = note
        self.expected.append(row)

    def case(self, section: str, kind: str, text: str) -> None:
        self.cases.append((section, kind, text))


# ============================================================================================
# World building
# ============================================================================================


def build_households(w: World) -> None:
    """~165 households over acct-0001..acct-0299; acct-0300 is the provider's QA account."""
    rng = w.rng
    n = 1
    while n <= 299:
        size = rng.choice([1, 1, 1, 1, 2, 2, 2, 3])
        members = [acct(i) for i in range(n, min(n + size, 300))]
        n += len(members)
        w.households.append(members)
        owner = members[0]
        since = START - timedelta(days=rng.randint(40, 500))
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            w.new_device(owner, since + timedelta(minutes=rng.randint(0, 40000)))
        for m in members[1:]:
            if rng.random() < 0.3:  # the member brought a camera of their own, shared back
                b = w.new_device(m, since + timedelta(days=rng.randint(1, 30)))
                w.shares.append(Share(b.device_id, m, owner, b.registered_at + DAY))
            for d in w.cams_of[owner]:
                mid_window = rng.random() < 0.08
                granted = (
                    START + timedelta(days=rng.randint(2, 9), minutes=rng.randint(0, 1400))
                    if mid_window
                    else since + timedelta(days=rng.randint(2, 35))
                )
                scope = "media" if rng.random() < 0.2 else "*"
                w.shares.append(Share(d, owner, m, granted, scope=scope))
    for a in [acct(i) for i in range(1, 301)]:
        w.ua[a] = rng.choice(USER_AGENTS)
        w.ip[a] = f"{rng.choice(['198.51.100', '203.0.113', '192.0.2'])}.{rng.randint(2, 254)}"
    for lk_acct in rng.sample([acct(i) for i in range(1, 300)], 45):
        w.links.append(
            Link(lk_acct, rng.choice(PARTNERS), START - timedelta(days=rng.randint(5, 200)))
        )


class Roles:
    """Deterministic picks of households for the planted cases."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.used: set[str] = {"acct-0300"}
        self.linked = {lk.account_id for lk in w.links}

    def take(self, size: int, ncams: int | None = None, linked: bool | None = None) -> list[str]:
        for h in self.w.households:
            if len(h) != size or any(a in self.used for a in h):
                continue
            if any(a in self.linked for a in h) != bool(linked) and linked is not None:
                continue
            if ncams is not None and len(self.w.cams_of[h[0]]) != ncams:
                continue
            if size > 1 and any(self.w.cams_of[m] for m in h[1:]):
                continue
            self.used.update(h)
            return h
        raise RuntimeError(f"no free household of size {size}")


def first_binding(w: World, d: str) -> Binding:
    return next(b for b in w.bindings if b.device_id == d)


# ============================================================================================
# Planted incidents (bindings first, events after the background)
# ============================================================================================


class Plan:
    """Ids of every planted case and decoy, filled in by setup_* and used by events_*."""


def setup_bindings(w: World, r: Roles, p: Plan) -> None:
    """Registry changes of incidents 1, the sale, the returns, shares and partner links."""
    # --- incident 1: two cameras, one identifier ---------------------------------------------
    hA = r.take(2, linked=False)
    p.nA = hA[0]
    p.d7 = w.cams_of[p.nA][0]
    bA = first_binding(w, p.d7)
    bA.model, bA.firmware = MODELS["netatmo"][:2]
    bA.serial = f"NTA{bA.serial[3:]}"
    p.nB = r.take(1, ncams=1, linked=False)[0]
    p.dB = w.cams_of[p.nB][0]
    bB = first_binding(w, p.dB)
    bB.model, bB.firmware = MODELS["netatmo"][:2]
    bB.serial = f"NTA{bB.serial[3:]}"
    bB.deregistered_at = at("2024-06-03T08:00:00")
    bB.status = "replaced"
    p.serialB = bB.serial
    w.bindings.append(
        Binding(
            p.d7,
            p.nB,
            at("2024-06-03T08:12:31"),
            at("2024-06-08T10:00:00"),
            bB.serial,
            bB.mac,
            bB.model,
            bB.firmware,
            "revoked",
            at("2024-06-08T10:00:00"),
        )
    )
    p.dB2 = w.new_device(p.nB, at("2024-06-08T10:05:00"), "netatmo").device_id
    p.tester = "acct-0300"
    w.bindings.append(
        Binding(
            p.d7,
            p.tester,
            at("2024-06-11T09:00:00"),
            None,
            bB.serial,
            bB.mac,
            bB.model,
            bB.firmware,
            "active",
            None,
            "eu-test",
        )
    )
    p.serialA = bA.serial

    # --- sale at the same instant --------------------------------------------------------------
    p.P = r.take(1, ncams=1, linked=False)[0]
    p.N = r.take(1, linked=False)[0]
    p.dS = w.cams_of[p.P][0]
    bS = first_binding(w, p.dS)
    p.sale = at("2024-06-06T12:00:00")
    bS.deregistered_at = p.sale
    bS.status = None
    w.bindings.append(Binding(p.dS, p.N, p.sale, None, bS.serial, bS.mac, bS.model, bS.firmware))
    w.cams_of[p.N].append(p.dS)

    # --- returned unit still bound and used --------------------------------------------------
    p.R = r.take(1, ncams=1, linked=False)[0]
    p.dR = w.cams_of[p.R][0]
    bR = first_binding(w, p.dR)
    bR.status, bR.revoked_at = "returned", at("2024-06-04T12:00:00")
    w.allow_after_revoke.add(p.dR)

    # --- revoked and unbound properly (decoy), replaced by a new camera ----------------------
    p.V = r.take(1, ncams=1, linked=False)[0]
    p.dV = w.cams_of[p.V][0]
    bV = first_binding(w, p.dV)
    bV.status = "revoked"
    bV.revoked_at = bV.deregistered_at = at("2024-06-05T10:00:00")
    p.dV2 = w.new_device(p.V, at("2024-06-05T10:30:00")).device_id

    # --- re-registration inside one household (decoy) ----------------------------------------
    p.G = r.take(1, ncams=1, linked=False)[0]
    p.dG = w.cams_of[p.G][0]
    bG = first_binding(w, p.dG)
    w.bindings.append(
        Binding(
            p.dG, p.G, at("2024-06-04T09:05:00"), None, bG.serial, bG.mac, bG.model, bG.firmware
        )
    )

    # --- shares: revoked share still served; media-only share used for live; denied ex-member -
    def house_share(h: list[str]) -> Share:
        return next(s for s in w.shares if s.owner == h[0] and s.grantee == h[1])

    hSR = r.take(2, linked=False)
    p.O1, p.M1 = hSR
    s1 = house_share(hSR)
    s1.scope, s1.granted_at, s1.revoked_at = "*", START - 60 * DAY, at("2024-06-06T00:00:00")
    p.dSR = s1.device_id
    hSM = r.take(2, linked=False)
    p.O2, p.M2 = hSM
    s2 = house_share(hSM)
    s2.scope, s2.granted_at = "media", START - 90 * DAY
    p.dSM = s2.device_id
    hSD = r.take(2, linked=False)
    p.O3, p.M3 = hSD
    s3 = house_share(hSD)
    s3.revoked_at = at("2024-06-04T00:00:00")
    s3.granted_at = START - 30 * DAY
    p.dSD = s3.device_id
    # a member reaching a shared camera through a partner integration (decoy)
    hPM = r.take(2, linked=False)
    p.O4, p.M4 = hPM
    s4 = house_share(hPM)
    s4.scope, s4.granted_at, s4.revoked_at = "*", START - 20 * DAY, None
    p.dPM = s4.device_id
    w.links.append(Link(p.M4, "alexa", START - 10 * DAY))

    # --- incident 4: the partner integration -------------------------------------------------
    p.X = r.take(1, linked=False)[0]
    p.dX = w.new_device(p.X, at("2024-06-10T18:00:00"), "mijia").device_id
    w.links.append(Link(p.X, "google-nest", at("2024-06-10T18:30:00")))
    p.mijia: list[tuple[str, str]] = []
    for _ in range(6):
        o = r.take(1, linked=False)[0]
        b = first_binding(w, w.cams_of[o][0])
        b.model, b.firmware = MIJIA[:2]
        b.serial = f"XMI{b.serial[3:]}"
        p.mijia.append((b.device_id, o))
    p.U = r.take(1, ncams=1, linked=False)[0]
    p.dU = w.cams_of[p.U][0]
    w.links.append(Link(p.U, "alexa", START - 60 * DAY, at("2024-06-05T12:00:00")))

    # --- enumeration attacker, isolated denials ----------------------------------------------
    p.E = r.take(1, linked=False)[0]
    p.Q = r.take(1, ncams=1, linked=False)[0]
    p.deniers = [r.take(1, linked=False)[0] for _ in range(4)]

    # --- staff: own accounts and targets -----------------------------------------------------
    p.own = {n: r.take(1, linked=False)[0] for n in ("ana", "ben", "carla", "gus")}
    p.T = [r.take(1, linked=False)[0] for _ in range(16)]
    p.bulk = [r.take(1, linked=False)[0] for _ in range(16)]
    p.ticket_pool = [r.take(1, linked=False)[0] for _ in range(20)]

    # --- incident 2: recipients of the cache mix-up -------------------------------------------
    free = [h for h in w.households if not any(a in r.used for a in h)]
    p.free_devices = sorted({d for h in free for a in h for d in w.cams_of[a]})
    accounts = sorted({a for h in free for a in h})
    w.rng.shuffle(accounts)
    p.burst_recipients = sorted(accounts[:60])
    p.hostile = sorted(accounts[60:62])
    for a, ua in zip(p.hostile, HOSTILE_UAS, strict=True):
        w.ua[a] = ua


# ============================================================================================
# Background traffic
# ============================================================================================


def background(w: World) -> None:
    """Normal household traffic: motion events, deliveries, views, live sessions, lists."""
    rng = w.rng
    for d in sorted(w._cands):
        for day in range(14):
            base = START + day * DAY
            for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 3, 4])):
                c = base + timedelta(seconds=rng.randint(0, 86399))
                if not w.owners(d, c):
                    continue
                m = w.new_media(d, c, rng.choice(["clip", "clip", "snapshot", "face_event"]))
                ok = [
                    a
                    for a in w._cands[d]
                    if w.legit(d, a, c, c, "media") and not w.blocked(d, a, c)
                ]
                for a in ok:
                    ts = c + timedelta(seconds=rng.randint(2, 40))
                    if not w.legit(d, a, c, ts, "media") or w.blocked(d, a, ts):
                        continue
                    cap = c if rng.random() < 0.7 else None
                    w.ev(ts, a, d, "notify", media_id=m.media_id, captured_at=cap)
                    if rng.random() < 0.3:
                        w.ev(ts + SEC * 3, a, d, "thumbnail", media_id=m.media_id, captured_at=cap)
                if ok and rng.random() < 0.3:
                    ts = c + timedelta(minutes=rng.randint(1, 2000))
                    viewers = [
                        a for a in ok if w.legit(d, a, c, ts, "media") and not w.blocked(d, a, ts)
                    ]
                    if viewers and ts < END:
                        a = rng.choice(viewers)
                        act = rng.choice(["clip", "clip", "snapshot", "download"])
                        cap = c if rng.random() < 0.5 else None
                        w.ev(ts, a, d, act, media_id=m.media_id, captured_at=cap)
    accounts = [acct(i) for i in range(1, 301)]
    for a in accounts:
        for day in range(14):
            base = START + day * DAY
            if rng.random() < 0.45:
                ts = base + timedelta(seconds=rng.randint(0, 86399))
                devs = [
                    d
                    for d in w.visible[a]
                    if w.legit(d, a, ts, ts, "live") and not w.blocked(d, a, ts)
                ]
                if devs:
                    pick = sorted(rng.sample(devs, min(len(devs), rng.choice([1, 1, 2, 3]))))
                    partners = [p for p in PARTNERS if w.link_active(a, p, ts)]
                    partner = partners[0] if partners and rng.random() < 0.4 else None
                    sid = w.session("nest" if partner == "google-nest" else "sess")
                    for i, d in enumerate(pick):
                        w.ev(ts + i * 25 * SEC, a, d, "live", session_id=sid, partner=partner)
            for _ in range(rng.choice([0, 1, 1, 2])):
                ts = base + timedelta(seconds=rng.randint(0, 86399))
                devs = [
                    d
                    for d in w.visible[a]
                    if w.legit(d, a, ts, ts, "media") and not w.blocked(d, a, ts)
                ]
                if devs:
                    w.ev(ts, a, rng.choice(devs), "list")
    # a little noise on legitimate requests: expired tokens, timeouts
    for e in w.events:
        x = rng.random()
        if x < 0.004:
            e.outcome, e.bytes = "denied", None
        elif x < 0.009:
            e.outcome, e.bytes = "error", None
    # the outage: almost silence, and what little comes in fails
    kept = []
    for e in w.events:
        if OUTAGE[0] <= e.ts < OUTAGE[1]:
            if rng.random() < 0.7:
                continue
            e.outcome, e.bytes = "error", None
        kept.append(e)
    w.events = kept


# ============================================================================================
# Planted events
# ============================================================================================


def session_decoys(w: World, used: set[str]) -> None:
    """Name one background multi-camera session per legitimate shape in the README."""
    sess: dict[str, list[Event]] = defaultdict(list)
    for e in w.events:
        if e.session_id and e.outcome == "served":
            sess[e.session_id].append(e)
    one = mixed = None
    for sid in sorted(sess):
        evs = sess[sid]
        if len({e.device_id for e in evs}) < 2 or evs[0].account_id in used:
            continue
        owners = set().union(*(w.owners(e.device_id, e.ts) for e in evs))
        if len(owners) == 1 and one is None:
            one = (sid, evs[0].account_id, sorted({e.device_id for e in evs}))
        if len(owners) >= 2 and mixed is None:
            mixed = (sid, evs[0].account_id, sorted({e.device_id for e in evs}), sorted(owners))
    assert one and mixed, "background has no multi-camera sessions"
    s = "4. Foreign feeds through a partner integration (Xiaomi via Google Nest 2020)"
    w.case(
        s,
        "decoy",
        f"Multi-camera session of one household: `{one[0]}` of `{one[1]}` over "
        f"{', '.join(one[2])} (and many more in the background).",
    )
    w.case(
        s,
        "decoy",
        f"Household with a shared camera: session `{mixed[0]}` of `{mixed[1]}` "
        f"over {', '.join(mixed[2])}, owners {', '.join(mixed[3])}, all legitimate.",
    )


def events_incident1(w: World, p: Plan) -> None:
    """Netatmo: duplicate id both ways, the unblocked old unit, the id-twin still working."""
    s = "1. Two cameras, one identifier (Netatmo 2023)"
    m = w.new_media(p.d7, at("2024-06-03T09:38:10"), "face_event")
    w.ev(
        at("2024-06-03T09:38:14"),
        p.nB,
        p.d7,
        "notify",
        media_id=m.media_id,
        captured_at=m.captured_at,
    )
    w.ev(at("2024-06-03T09:40:02"), p.nB, p.d7, "snapshot", media_id=m.media_id)
    w.ev(at("2024-06-03T09:41:00"), p.nB, p.d7, "live", session_id=w.session())
    m2 = w.new_media(p.d7, at("2024-06-05T07:02:00"), "clip")
    w.ev(at("2024-06-05T07:05:30"), p.nA, p.d7, "clip", media_id=m2.media_id)
    w.ev(
        at("2024-06-05T07:06:10"),
        p.nB,
        p.d7,
        "clip",
        media_id=m2.media_id,
        captured_at=m2.captured_at,
    )
    for k, hhmm in enumerate(["2024-06-11T19:12:00", "2024-06-12T08:40:00", "2024-06-13T21:03:00"]):
        m3 = w.new_media(p.d7, at(hhmm), "clip")
        w.ev(
            at(hhmm) + 5 * SEC,
            p.tester,
            p.d7,
            "notify",
            media_id=m3.media_id,
            captured_at=m3.captured_at,
        )
        w.ev(at(hhmm) + (3 + k) * MIN, p.tester, p.d7, "clip", media_id=m3.media_id)
        w.ev(at(hhmm) + (4 + k) * MIN, p.nA, p.d7, "snapshot", media_id=m3.media_id)
    accounts = sorted({p.nA, p.nB, p.tester})
    w.plant("duplicate_device_id", {"device_id": p.d7, "accounts": accounts})
    w.plant(
        "device_identity_conflict",
        {"device_id": p.d7},
        partial=True,
        note=f"serials {p.serialA} / {p.serialB} (and two MACs) on one device_id",
    )
    w.plant(
        "revoked_device_active",
        {"device_id": p.d7, "account_id": p.tester},
        note=f"unit {p.serialB} revoked 2024-06-08T10:00Z, re-bound to QA account 06-11",
    )
    w.plant(
        "revoked_device_active",
        {"device_id": p.dR, "account_id": p.R},
        note="returned 2024-06-04T12:00Z but never unbound; kept serving",
    )
    w.case(
        s,
        "planted",
        f"`{p.d7}` bound to `{p.nA}` (serial {p.serialA}) since before the "
        f"window and, after a reset, to `{p.nB}` (serial {p.serialB}) 2024-06-03T08:12:31Z.."
        f"06-08T10:00Z: **duplicate_device_id** accounts {accounts}, "
        f"**device_identity_conflict** (2 serials, 2 MACs). Deliveries and views go both "
        f"ways (e.g. `{p.nB}` snapshot 06-03T09:40, `{p.nA}` and `{p.nB}` clip of "
        f"{m2.media_id} 06-05).",
    )
    w.case(
        s,
        "planted",
        f"Unit {p.serialB} revoked 2024-06-08T10:00Z but re-bound to QA account "
        f"`{p.tester}` 2024-06-11T09:00Z and still receives the family's recordings: "
        f"**revoked_device_active** ({p.d7}, {p.tester}).",
    )
    w.case(
        s,
        "planted",
        f"`{p.dR}` of `{p.R}` status `returned` 2024-06-04T12:00Z but never "
        f"deregistered, served daily afterwards: **revoked_device_active** ({p.dR}, {p.R}).",
    )
    w.case(
        s,
        "decoy",
        f"The id-twin: `{p.nA}`'s own unit {p.serialA} keeps working on `{p.d7}` "
        "after the revocation (not revoked_device_active).",
    )
    w.case(
        s,
        "decoy",
        f"`{p.nB}`'s old id `{p.dB}` (same serial {p.serialB}) deregistered "
        f"06-03T08:00Z before the re-registration as `{p.d7}` (no overlap, no conflict); "
        f"replacement camera `{p.dB2}` from 06-08T10:05Z.",
    )
    w.case(
        s,
        "decoy",
        f"`{p.dV}` of `{p.V}` revoked and deregistered 2024-06-05T10:00Z, nothing "
        f"after; replacement `{p.dV2}`.",
    )
    w.case(
        s,
        "decoy",
        f"Re-registration in one household: `{p.dG}` bound twice to `{p.G}` "
        "(overlapping rows, same serial) — not a duplicate.",
    )

    # the sale
    old = w.new_media(p.dS, at("2024-06-05T20:00:00"), "clip")
    late = w.new_media(p.dS, at("2024-06-06T11:58:00"), "clip")
    w.ev(at("2024-06-07T09:15:00"), p.P, p.dS, "clip", media_id=old.media_id)
    w.ev(
        at("2024-06-08T18:20:00"),
        p.P,
        p.dS,
        "download",
        media_id=late.media_id,
        captured_at=late.captured_at,
    )
    w.ev(p.sale + 30 * SEC, p.N, p.dS, "live", session_id=w.session())
    w.ev(at("2024-06-07T10:02:00"), p.N, p.dS, "clip", media_id=old.media_id)
    w.plant("media_to_non_owner", {"device_id": p.dS, "account_id": p.N, "owner_account_id": p.P})
    w.case(
        s,
        "decoy",
        f"Sale at the same instant: `{p.dS}` `{p.P}` until 2024-06-06T14:00:00+02:00"
        f", `{p.N}` from 2024-06-06T12:00:00Z (touching intervals, not a duplicate). "
        f"`{p.P}` opens own old clips after the sale ({old.media_id} 06-07, {late.media_id} "
        f"06-08); `{p.N}` live 30 s after the hand-over.",
    )
    w.case(
        s,
        "planted",
        f"The new owner `{p.N}` opens {old.media_id} recorded 06-05 (before the "
        f"sale; capture time only in media.parquet): **media_to_non_owner** ({p.dS}, {p.N}, "
        f"owner {p.P}).",
    )


def events_shares(w: World, p: Plan) -> None:
    """Shares: revoked share still served, media-only share used for live, denied ex-member."""
    s = "Shares, partner links, probing"
    m = w.new_media(p.dSR, at("2024-06-08T19:20:00"))
    w.ev(
        at("2024-06-08T19:30:00"),
        p.M1,
        p.dSR,
        "clip",
        media_id=m.media_id,
        captured_at=m.captured_at,
    )
    m0 = w.new_media(p.dSR, at("2024-06-05T18:00:00"))
    w.ev(at("2024-06-05T18:10:00"), p.M1, p.dSR, "clip", media_id=m0.media_id)
    w.plant(
        "media_to_non_owner", {"device_id": p.dSR, "account_id": p.M1, "owner_account_id": p.O1}
    )
    w.case(
        s,
        "planted",
        f"Share of `{p.dSR}` from `{p.O1}` to `{p.M1}` revoked 2024-06-06T00:00Z,"
        f" clip still served 06-08T19:30: **media_to_non_owner** ({p.dSR}, {p.M1}, {p.O1}).",
    )
    w.case(s, "decoy", "Same share used 06-05T18:10 while active.")
    w.ev(at("2024-06-09T21:00:00"), p.M2, p.dSM, "live", session_id=w.session())
    m1 = w.new_media(p.dSM, at("2024-06-09T20:40:00"))
    w.ev(at("2024-06-09T20:50:00"), p.M2, p.dSM, "clip", media_id=m1.media_id)
    w.plant(
        "media_to_non_owner", {"device_id": p.dSM, "account_id": p.M2, "owner_account_id": p.O2}
    )
    w.case(
        s,
        "planted",
        f"Share of `{p.dSM}` from `{p.O2}` to `{p.M2}` has scope `media`; a "
        f"`live` view is served 06-09T21:00: **media_to_non_owner** ({p.dSM}, {p.M2}, {p.O2}).",
    )
    w.case(
        s,
        "decoy",
        "Household shares with matching scope and window: all background member "
        f"traffic, e.g. `{p.M2}` clip on `{p.dSM}` 06-09T20:50 (scope media covers clip).",
    )
    for t in ("2024-06-05T07:45:00", "2024-06-06T07:41:00"):
        w.ev(at(t), p.M3, p.dSD, "live", outcome="denied")
    w.case(
        s,
        "decoy",
        f"Ex-member `{p.M3}` (share of `{p.dSD}` revoked 06-04) is denied twice "
        "(denied is never a leak, two is not enumeration).",
    )
    sid = w.session("sess")
    w.ev(at("2024-06-08T20:00:00"), p.M4, p.dPM, "live", session_id=sid, partner="alexa")
    w.case(
        s,
        "decoy",
        f"Member `{p.M4}` views shared `{p.dPM}` via partner `alexa` with an active "
        "link (share + link = legitimate).",
    )
    # partner link ended, partner still serving
    w.ev(at("2024-06-04T21:00:00"), p.U, p.dU, "live", session_id=w.session(), partner="alexa")
    for t in ("2024-06-06T21:00:00", "2024-06-07T21:10:00"):
        w.ev(at(t), p.U, p.dU, "live", session_id=w.session(), partner="alexa")
    w.plant(
        "partner_cross_feed",
        {"device_id": p.dU, "account_id": p.U, "partner": "alexa"},
        note="own device, but the partner link ended 2024-06-05T12:00Z",
    )
    w.case(
        s,
        "planted",
        f"`{p.U}` unlinked `alexa` 2024-06-05T12:00Z, yet alexa live views of "
        f"own `{p.dU}` are served 06-06 and 06-07: **partner_cross_feed** ({p.dU}, {p.U}, "
        "alexa) (own device: no media_to_non_owner).",
    )
    w.case(
        s,
        "decoy",
        "The same alexa access on 06-04 while linked; all background partner "
        "sessions (active link, own or shared device).",
    )
    # enumeration
    foreign = [d for d in w._cands if p.E not in w._cands[d] and d in p.free_devices]
    targets = sorted(w.rng.sample(foreign, 25))
    t0 = at("2024-06-07T03:10:00")
    for i, d in enumerate(targets):
        w.ev(t0 + i * 19 * SEC, p.E, d, w.rng.choice(["snapshot", "live"]), outcome="denied")
    w.plant("access_enumeration", {"account_id": p.E})
    w.case(
        s,
        "planted",
        f"`{p.E}` denied on 25 different foreign cameras in 8 minutes "
        "(2024-06-07T03:10-03:18Z): **access_enumeration**.",
    )
    for i, a in enumerate(p.deniers):
        d = w.rng.choice([d for d in foreign if a not in w._cands[d]])
        w.ev(START + (2 + 3 * i) * DAY + (7 + i) * HOUR, a, d, "snapshot", outcome="denied")
    w.case(
        s,
        "decoy",
        f"Isolated denials: {', '.join(f'`{a}`' for a in p.deniers)} each denied "
        "once on a foreign camera.",
    )
    dq = w.cams_of[p.Q][0]
    for i in range(12):
        w.ev(at("2024-06-10T06:00:00") + i * 20 * SEC, p.Q, dq, "live", outcome="denied")
    w.case(
        s,
        "decoy",
        f"`{p.Q}` retries 12 times on its own `{dq}` with an expired token "
        "(denials on an own device are not probing).",
    )


def events_wyze(w: World, p: Plan) -> None:
    """The cache mix-up: recovery spike, then foreign deliveries to 60 accounts."""
    s = "2. Cache mix-up after an outage (Wyze 2024)"
    rng = w.rng
    t_up = OUTAGE[1]
    for d in sorted(w._cands):
        c = t_up + timedelta(milliseconds=rng.randint(0, 240000))
        if not w.owners(d, c):
            continue
        m = w.new_media(d, c, "clip")
        for a in w._cands[d]:
            ts = c + timedelta(milliseconds=rng.randint(400, 3000))
            if w.legit(d, a, c, ts, "media") and not w.blocked(d, a, ts):
                w.ev(ts, a, d, "notify", media_id=m.media_id, captured_at=c)
    triples: set[tuple[str, str, str]] = set()
    pool = [d for d in p.free_devices if len(w.owners(d, t_up)) == 1]
    opened = set(rng.sample(p.burst_recipients, 12))
    n_del = n_view = 0
    for r in p.burst_recipients:
        devs = sorted(
            rng.sample([d for d in pool if r not in w._cands[d]], rng.choice([1, 1, 2, 3]))
        )
        for d in devs:
            c = t_up + timedelta(seconds=60) + timedelta(milliseconds=rng.randint(0, 200000))
            m = w.new_media(d, c, "clip")
            for a in w._cands[d]:
                if w.legit(d, a, c, c + 600 * SEC / 1000, "media"):
                    w.ev(c + 600 * SEC / 1000, a, d, "notify", media_id=m.media_id, captured_at=c)
            ts = c + timedelta(milliseconds=rng.randint(700, 2500))
            w.ev(ts, r, d, "notify", media_id=m.media_id, captured_at=c)
            w.ev(
                ts + timedelta(milliseconds=350),
                r,
                d,
                "thumbnail",
                media_id=m.media_id,
                captured_at=c,
            )
            n_del += 2
            if r in opened and d == devs[0]:
                w.ev(
                    ts + timedelta(seconds=rng.randint(20, 90)),
                    r,
                    d,
                    rng.choice(["clip", "snapshot"]),
                    media_id=m.media_id,
                )
                n_view += 1
            (owner,) = w.owners(d, c)
            triples.add((d, r, owner))
    for d, r, o in sorted(triples):
        w.plant("media_to_non_owner", {"device_id": d, "account_id": r, "owner_account_id": o})
    w.plant(
        "leak_burst",
        {"accounts": list(p.burst_recipients)},
        partial=True,
        note="2024-06-09T15:11Z..15:16Z; window bounds are the rule's choice",
    )
    p.burst_triples = triples
    owners = {o for _, _, o in triples}
    w.case(
        s,
        "planted",
        f"Outage 2024-06-09T14:00-15:10Z (70% fewer requests, all `error`). "
        f"Then 15:11-15:16Z {len(triples)} foreign (device, recipient) pairs: "
        f"{len(p.burst_recipients)} recipient accounts, {len(owners)} exposed owners, "
        f"{n_del} deliveries (notify+thumbnail), {n_view} opened by "
        f"{len(opened)} accounts: **leak_burst** + {len(triples)} **media_to_non_owner**. "
        f"Recipients: {', '.join(p.burst_recipients)}.",
    )
    w.case(
        s,
        "decoy",
        "Recovery spike at 15:10-15:14Z: every camera re-sends a notification to "
        "its own household (many deliveries to many accounts, all legitimate).",
    )


def events_xiaomi(w: World, p: Plan) -> None:
    """Partner integration serving strangers' stills inside one streaming session."""
    s = "4. Foreign feeds through a partner integration (Xiaomi via Google Nest 2020)"
    w.ev(
        at("2024-06-11T19:00:00"),
        p.X,
        p.dX,
        "live",
        session_id=w.session("nest"),
        partner="google-nest",
    )
    plan = [
        (at("2024-06-12T20:15:00"), [p.mijia[0], p.mijia[1], p.mijia[2]]),
        (at("2024-06-13T07:02:00"), [p.mijia[1], p.mijia[3]]),
    ]
    sessions = []
    for t0, foreign in plan:
        sid = w.session("nest")
        sessions.append(sid)
        t = t0
        for k in range(3 * len(foreign) + 2):
            if k % 3 == 2 and foreign:
                d, owner = foreign[(k // 3) % len(foreign)]
                m = w.new_media(d, t - SEC, "snapshot")
                w.ev(
                    t,
                    p.X,
                    d,
                    "snapshot",
                    media_id=m.media_id,
                    captured_at=m.captured_at,
                    session_id=sid,
                    partner="google-nest",
                )
            else:
                w.ev(t, p.X, p.dX, "live", session_id=sid, partner="google-nest")
            t += timedelta(seconds=w.rng.randint(6, 14))
        w.plant("session_crosses_owners", {"session_id": sid, "account_id": p.X})
    for d, owner in sorted(set(p.mijia[:4])):
        w.plant(
            "media_to_non_owner", {"device_id": d, "account_id": p.X, "owner_account_id": owner}
        )
        w.plant("partner_cross_feed", {"device_id": d, "account_id": p.X, "partner": "google-nest"})
    w.case(
        s,
        "planted",
        f"`{p.X}` registers Mijia camera `{p.dX}` 2024-06-10T18:00Z, links "
        f"google-nest; Nest sessions `{sessions[0]}` (06-12 20:15) and `{sessions[1]}` "
        f"(06-13 07:02) interleave own live frames with stills of "
        f"{', '.join(f'`{d}` ({o})' for d, o in p.mijia[:4])} — all model {MIJIA[0]} fw "
        f"{MIJIA[1]}: 2 **session_crosses_owners**, 4 **partner_cross_feed**, 4 "
        "**media_to_non_owner**.",
    )
    w.case(
        s,
        "decoy",
        f"`{p.X}`'s own Nest session 06-11T19:00; Mijia cameras "
        f"{', '.join(f'`{d}`' for d, _ in p.mijia[4:])} of the same model never leak.",
    )


def events_staff(w: World, p: Plan) -> None:
    """Staff directory, consents, background tickets and the Ring-style cases."""
    s = "3. Staff looking in (Ring 2019)"
    rng = w.rng
    hired = START - 400 * DAY
    people = [
        ("ana", "support", "agent", p.own["ana"]),
        ("ben", "support", "agent", p.own["ben"]),
        ("carla", "support", "lead", p.own["carla"]),
        ("gus", "support", "agent", p.own["gus"]),
        ("ivo", "support", "agent", None),
        ("jon", "support", "agent", None),
        ("finn", "support", "agent", None),
        ("eve", "trust-safety", "investigator", None),
        ("dan", "platform", "developer", None),
        ("hana", "platform", "sre", None),
    ]
    for n, team, role, own in people:
        w.staff.append(
            Staff(
                f"st-{n}",
                team,
                role,
                f"{n}@corp.example",
                own,
                "human",
                hired,
                at("2024-06-05T15:00:00") if n == "finn" else None,
            )
        )
    for n in ("transcoder", "thumbnailer", "backup"):
        w.staff.append(
            Staff(
                f"svc-{n}", "platform", "service", f"{n}@svc.corp.example", None, "service", hired
            )
        )
    team = {st.staff_id: st.team for st in w.staff}
    cid = [0]

    def consent(
        a: str,
        scope: str,
        g: datetime,
        exp: datetime | None,
        grantee: str = "*",
        ticket: str | None = None,
        revoked: datetime | None = None,
    ) -> None:
        cid[0] += 1
        w.consents.append(Consent(a, scope, g, exp, revoked, grantee, ticket, f"cns-{cid[0]:04d}"))

    def media_of(a: str, before: datetime) -> tuple[str, str]:
        d = w.cams_of[a][0]
        m = w.new_media(d, before - timedelta(minutes=rng.randint(30, 600)), "clip")
        return d, m.media_id

    def email(a: str) -> str:
        return f"user{a[-4:]}@example.net"

    # ---- background tickets: consent first, then lookup, account view, media views ------------
    agents = [
        "st-ana",
        "st-ben",
        "st-carla",
        "st-gus",
        "st-ivo",
        "st-jon",
        "st-finn",
        "st-eve",
        "st-hana",
    ]
    for i in range(45):
        st = agents[i % len(agents)]
        t0 = START + i * 7 * HOUR + timedelta(minutes=rng.randint(0, 120))
        if st == "st-finn" and t0 > at("2024-06-05T10:00:00"):
            st = "st-ana"
        tgt = p.ticket_pool[i % len(p.ticket_pool)]
        ticket = f"TCK-{7100 + i}"
        grantee = rng.choice(["*", st, f"team:{team[st]}"])
        scope = rng.choice(["media", "*", "*"])
        revoked = t0 + 5 * HOUR if rng.random() < 0.2 else None
        consent(tgt, scope, t0, t0 + 72 * HOUR, grantee, ticket, revoked)
        t = t0 + 10 * MIN
        w.staff_acts.append(StaffAct(t, st, "lookup", tgt, lookup_key=email(tgt), ticket_id=ticket))
        if scope == "*":
            w.staff_acts.append(StaffAct(t + 3 * MIN, st, "account", tgt, ticket_id=ticket))
        for k in range(rng.randint(1, 3)):
            d, mid = media_of(tgt, t)
            by_device = rng.random() < 0.25
            w.staff_acts.append(
                StaffAct(
                    t + (6 + 4 * k) * MIN,
                    st,
                    rng.choice(["clip", "snapshot"]),
                    None if by_device else tgt,
                    d,
                    mid,
                    ticket_id=ticket,
                )
            )
    # services: transcoding / thumbnails / backup read everything, they are not staff
    for i in range(360):
        a = p.ticket_pool[i % 20] if i % 3 else p.T[i % 16]
        d = w.cams_of[a][0]
        t = START + timedelta(seconds=rng.randint(0, 14 * 86400 - 1))
        m = w.new_media(d, t - 40 * SEC, "clip")
        svc, act, ch = rng.choice(
            [
                ("svc-transcoder", "raw_read", "raw_storage"),
                ("svc-backup", "raw_read", "raw_storage"),
                ("svc-thumbnailer", "thumbnail", "admin_api"),
            ]
        )
        w.staff_acts.append(
            StaffAct(t, svc, act, None, d if act == "thumbnail" else None, m.media_id, channel=ch)
        )
    w.case(
        s,
        "decoy",
        "45 background tickets: consent (grantee `*`, the agent's id or "
        "`team:NAME`; scope `media` or `*`) then lookup, account view and clip/snapshot inside "
        "the consent window; some by device_id only (target = owner at ts).",
    )
    w.case(
        s,
        "decoy",
        "Service principals `svc-transcoder`, `svc-backup` (raw_read on the raw "
        "store) and `svc-thumbnailer` touch hundreds of customers (services are out of scope).",
    )

    T = p.T
    # staff_without_consent: none at all / expired / consent for another team
    d, mid = media_of(T[0], at("2024-06-04T10:20:00"))
    w.staff_acts += [
        StaffAct(at("2024-06-04T10:20:00"), "st-gus", "clip", T[0], d, mid),
        StaffAct(at("2024-06-04T10:24:00"), "st-gus", "snapshot", T[0], d, mid),
    ]
    consent(
        T[1], "media", at("2024-06-02T09:00:00"), at("2024-06-05T09:00:00"), "st-ana", "TCK-7301"
    )
    d, mid = media_of(T[1], at("2024-06-03T11:00:00"))
    w.staff_acts.append(
        StaffAct(at("2024-06-03T11:00:00"), "st-ana", "clip", T[1], d, mid, ticket_id="TCK-7301")
    )
    d, mid = media_of(T[1], at("2024-06-06T11:00:00"))
    w.staff_acts.append(
        StaffAct(
            at("2024-06-06T11:00:00"), "st-ana", "snapshot", T[1], d, mid, ticket_id="TCK-7301"
        )
    )
    consent(
        T[2],
        "media",
        at("2024-06-06T08:00:00"),
        at("2024-06-09T08:00:00"),
        "team:support",
        "TCK-7302",
    )
    d, mid = media_of(T[2], at("2024-06-07T13:30:00"))
    w.staff_acts.append(
        StaffAct(at("2024-06-07T13:30:00"), "st-hana", "clip", T[2], d, mid, channel="admin_api")
    )
    for st, a in (("st-gus", T[0]), ("st-ana", T[1]), ("st-hana", T[2])):
        w.plant("staff_without_consent", {"staff_id": st, "account_id": a})
    w.case(
        s,
        "planted",
        f"**staff_without_consent**: `st-gus` clip+snapshot of `{T[0]}` with no "
        f"consent (06-04); `st-ana` on `{T[1]}` 06-06, a day after the consent expired (her "
        f"06-03 view inside it is fine); `st-hana` (team platform) on `{T[2]}` whose consent is "
        "for `team:support`.",
    )
    # staff_live_access with a '*' consent (does not cover live); decoy with a live consent
    consent(T[3], "*", at("2024-06-07T09:00:00"), at("2024-06-10T09:00:00"), "*", "TCK-7303")
    w.staff_acts.append(
        StaffAct(at("2024-06-08T16:00:00"), "st-ben", "account", T[3], ticket_id="TCK-7303")
    )
    w.staff_acts.append(
        StaffAct(
            at("2024-06-08T16:05:00"),
            "st-ben",
            "live",
            T[3],
            w.cams_of[T[3]][0],
            ticket_id="TCK-7303",
        )
    )
    w.plant("staff_live_access", {"staff_id": "st-ben", "account_id": T[3]})
    consent(
        T[4], "live", at("2024-06-09T09:00:00"), at("2024-06-09T12:00:00"), "st-eve", "TCK-7304"
    )
    w.staff_acts.append(
        StaffAct(
            at("2024-06-09T09:30:00"),
            "st-eve",
            "live",
            T[4],
            w.cams_of[T[4]][0],
            ticket_id="TCK-7304",
        )
    )
    w.case(
        s,
        "planted",
        f"**staff_live_access**: `st-ben` live on `{T[3]}` 06-08T16:05 under a "
        "`*` consent (which never covers live); his account view under it is fine.",
    )
    w.case(
        s,
        "decoy",
        f"`st-eve` live on `{T[4]}` 06-09T09:30 with an explicit `live` consent "
        "granted to `st-eve`.",
    )
    # lookup then access
    w.staff_acts.append(
        StaffAct(at("2024-06-10T13:02:00"), "st-ivo", "lookup", T[5], lookup_key=email(T[5]))
    )
    d, mid = media_of(T[5], at("2024-06-10T13:06:00"))
    w.staff_acts += [
        StaffAct(at("2024-06-10T13:06:00"), "st-ivo", "clip", T[5], d, mid),
        StaffAct(at("2024-06-10T13:09:00"), "st-ivo", "download", T[5], d, mid),
    ]
    w.plant("staff_lookup_then_access", {"staff_id": "st-ivo", "account_id": T[5]})
    w.plant("staff_without_consent", {"staff_id": "st-ivo", "account_id": T[5]})
    consent(
        T[6],
        "media",
        at("2024-06-11T08:00:00"),
        at("2024-06-12T08:00:00"),
        "team:support",
        "TCK-7306",
    )
    w.staff_acts.append(
        StaffAct(
            at("2024-06-11T10:00:00"),
            "st-ana",
            "lookup",
            T[6],
            lookup_key=email(T[6]),
            ticket_id="TCK-7306",
        )
    )
    d, mid = media_of(T[6], at("2024-06-11T10:04:00"))
    w.staff_acts.append(
        StaffAct(at("2024-06-11T10:04:00"), "st-ana", "clip", T[6], d, mid, ticket_id="TCK-7306")
    )
    w.staff_acts.append(
        StaffAct(at("2024-06-12T15:00:00"), "st-jon", "lookup", T[7], lookup_key=email(T[7]))
    )
    w.case(
        s,
        "planted",
        f"**staff_lookup_then_access** (+ staff_without_consent): `st-ivo` looks "
        f"up `{email(T[5])}` 06-10T13:02 and opens `{T[5]}`'s clips 4-7 min later, no consent.",
    )
    w.case(
        s,
        "decoy",
        f"`st-ana` looks up `{T[6]}` and opens a clip under a `team:support` "
        f"consent (06-11); `st-jon` looks up `{T[7]}` and does nothing else.",
    )
    # bulk: st-jon, 16 customers in 15 minutes, no consents
    t = at("2024-06-11T02:10:00")
    for a in p.bulk:
        d, mid = media_of(a, t)
        w.staff_acts.append(StaffAct(t, "st-jon", "clip", a, d, mid, channel="admin_api"))
        w.plant("staff_without_consent", {"staff_id": "st-jon", "account_id": a})
        t += timedelta(seconds=rng.randint(40, 56))
    w.plant("staff_bulk_access", {"staff_id": "st-jon"})
    w.case(
        s,
        "planted",
        f"**staff_bulk_access**: `st-jon` opens clips of 16 customers "
        f"2024-06-11T02:10-02:24Z via admin_api, none consented (16 staff_without_consent): "
        f"{', '.join(p.bulk)}.",
    )
    # colleague
    d, mid = media_of(p.own["carla"], at("2024-06-05T12:30:00"))
    w.staff_acts.append(
        StaffAct(at("2024-06-05T12:30:00"), "st-ben", "clip", p.own["carla"], d, mid)
    )
    w.plant("staff_colleague_access", {"staff_id": "st-ben", "account_id": p.own["carla"]})
    w.plant("staff_without_consent", {"staff_id": "st-ben", "account_id": p.own["carla"]})
    consent(
        p.own["gus"],
        "media",
        at("2024-06-06T09:00:00"),
        at("2024-06-08T09:00:00"),
        "st-ana",
        "TCK-7310",
    )
    d, mid = media_of(p.own["gus"], at("2024-06-06T10:00:00"))
    w.staff_acts.append(
        StaffAct(
            at("2024-06-06T10:00:00"), "st-ana", "clip", p.own["gus"], d, mid, ticket_id="TCK-7310"
        )
    )
    w.case(
        s,
        "planted",
        f"**staff_colleague_access** (+ staff_without_consent): `st-ben` opens a "
        f"clip of `{p.own['carla']}`, the own account of `st-carla` (06-05T12:30).",
    )
    w.case(
        s,
        "decoy",
        f"`st-ana` opens a clip of `{p.own['gus']}` (own account of `st-gus`) "
        "under his consent granted to `st-ana` (06-06).",
    )
    # inactive / unknown staff, each on a target whose '*' consent would cover any staff id
    consent(T[8], "*", at("2024-06-02T08:00:00"), at("2024-06-12T08:00:00"), "*", "TCK-7308")
    d, mid = media_of(T[8], at("2024-06-03T10:00:00"))
    w.staff_acts.append(
        StaffAct(at("2024-06-03T10:00:00"), "st-finn", "clip", T[8], d, mid, ticket_id="TCK-7308")
    )
    d, mid = media_of(T[8], at("2024-06-08T22:10:00"))
    w.staff_acts.append(StaffAct(at("2024-06-08T22:10:00"), "st-finn", "clip", T[8], d, mid))
    consent(T[9], "*", at("2024-06-09T08:00:00"), None, "*", "TCK-7309")
    d, mid = media_of(T[9], at("2024-06-10T04:40:00"))
    w.staff_acts.append(
        StaffAct(at("2024-06-10T04:40:00"), "st-zed", "snapshot", T[9], d, mid, channel="admin_api")
    )
    w.plant("staff_inactive_access", {"staff_id": "st-finn"})
    w.plant("staff_inactive_access", {"staff_id": "st-zed"})
    w.case(
        s,
        "planted",
        f"**staff_inactive_access**: `st-finn` left 2024-06-05T15:00Z and opens "
        f"`{T[8]}`'s clip 06-08T22:10; `st-zed` (not in the directory) opens `{T[9]}`'s "
        "snapshot 06-10T04:40. Both targets have a `*`/`*` consent, so only inactivity fires.",
    )
    w.case(s, "decoy", f"`st-finn`'s consented view of `{T[8]}` on 06-03 while employed.")
    # raw store: human reads raw media (media_id only; target via the media's device owner)
    raw_first = at("2024-06-12T01:15:00") + len(w.staff_acts) * SEC
    for a, k in ((T[10], 2), (T[11], 1)):
        for _ in range(k):
            m = w.new_media(w.cams_of[a][0], at("2024-06-11T23:00:00"), "clip")
            w.staff_acts.append(
                StaffAct(
                    at("2024-06-12T01:15:00") + len(w.staff_acts) * SEC,
                    "st-dan",
                    "raw_read",
                    None,
                    None,
                    m.media_id,
                    channel="raw_storage",
                )
            )
        w.plant("staff_without_consent", {"staff_id": "st-dan", "account_id": a})
    w.plant("raw_store_access", {"staff_id": "st-dan"})
    w.case(
        s,
        "planted",
        f"**raw_store_access** (+ staff_without_consent for the media owners "
        f"`{T[10]}`, `{T[11]}`): developer `st-dan` raw_read 3 items from the raw store "
        f"{raw_first:%m-%dT%H:%M} (media_id only).",
    )
    # a denied unconsented attempt and a device-only consented view
    d, mid = media_of(T[12], at("2024-06-09T11:00:00"))
    w.staff_acts.append(
        StaffAct(at("2024-06-09T11:00:00"), "st-carla", "clip", T[12], d, mid, outcome="denied")
    )
    consent(T[13], "media", at("2024-06-12T07:00:00"), at("2024-06-13T07:00:00"), "*", "TCK-7313")
    d, mid = media_of(T[13], at("2024-06-12T09:00:00"))
    w.staff_acts.append(
        StaffAct(
            at("2024-06-12T09:00:00"), "st-gus", "snapshot", None, d, mid, ticket_id="TCK-7313"
        )
    )
    w.case(
        s,
        "decoy",
        f"`st-carla`'s unconsented clip request on `{T[12]}` was denied (not an "
        f"access); `st-gus` snapshot of `{T[13]}`'s camera by device_id only, covered by a "
        "`*`-grantee consent.",
    )


# ============================================================================================
# Self-check: a small reference reading of SPEC §2 / docs/semantics.md
# ============================================================================================


def reference(w: World) -> dict[str, set]:
    """Re-derive the findings of the categories that are exactly defined."""
    out: dict[str, set] = defaultdict(set)
    media = {m.media_id: m for m in w.media}
    staff = {s.staff_id: s for s in w.staff}
    bad_events = []
    for e in w.events:
        if e.outcome != "served":
            continue
        cap = e.captured_at or (media[e.media_id].captured_at if e.media_id in media else e.ts)
        scope = "live" if e.action == "live" else "media"
        ok = w.legit(e.device_id, e.account_id, cap, e.ts, scope)
        if not ok:
            bad_events.append(e)
            for o in sorted(w.owners(e.device_id, cap)) or [None]:
                out["media_to_non_owner"].add((e.device_id, e.account_id, o))
        if e.partner and (not ok or not w.link_active(e.account_id, e.partner, e.ts)):
            out["partner_cross_feed"].add((e.device_id, e.account_id, e.partner))
    # leak bursts: distinct recipients of illegitimate events within 15 minutes
    bad_events.sort(key=lambda e: e.ts)
    for i, e in enumerate(bad_events):
        win = [x for x in bad_events[i:] if x.ts < e.ts + 15 * MIN]
        if len({x.account_id for x in win}) > QUIET_MAX:
            out["leak_burst"].update(x.account_id for x in win)
    # sessions
    sess: dict[str, list[Event]] = defaultdict(list)
    for e in w.events:
        if e.session_id and e.outcome == "served":
            sess[e.session_id].append(e)
    for sid, evs in sess.items():
        owners: set[str] = set()
        illegit = False
        for e in evs:
            cap = e.captured_at or (media[e.media_id].captured_at if e.media_id else e.ts)
            owners |= w.owners(e.device_id, cap)
            illegit |= not w.legit(
                e.device_id, e.account_id, cap, e.ts, "live" if e.action == "live" else "media"
            )
        if len(owners) >= 2 and illegit:
            (a,) = {e.account_id for e in evs}
            out["session_crosses_owners"].add((sid, a))
    # enumeration: distinct non-owned devices denied within one hour
    den: dict[str, list[Event]] = defaultdict(list)
    for e in w.events:
        if e.outcome == "denied" and e.account_id not in w.owners(e.device_id, e.ts):
            den[e.account_id].append(e)
    for a, evs in den.items():
        evs.sort(key=lambda e: e.ts)
        for i, e in enumerate(evs):
            if len({x.device_id for x in evs[i:] if x.ts < e.ts + HOUR}) > QUIET_MAX:
                out["access_enumeration"].add(a)
    # devices
    for d, bs in w._bind.items():
        accts: set[str] = set()
        for b1 in bs:
            for b2 in bs:
                if overlap(
                    b1.registered_at, b1.deregistered_at, b2.registered_at, b2.deregistered_at
                ):
                    if b1.account_id != b2.account_id:
                        accts.add(b1.account_id)
                    if (b1.serial != b2.serial) or (b1.mac != b2.mac):
                        out["device_identity_conflict"].add(d)
        if accts:
            out["duplicate_device_id"].add((d, tuple(sorted(accts))))
    by_serial: dict[str, list[Binding]] = defaultdict(list)
    for b in w.bindings:
        by_serial[b.serial].append(b)
    for ser, bs in by_serial.items():
        for b1 in bs:
            for b2 in bs:
                if b1.device_id != b2.device_id and overlap(
                    b1.registered_at, b1.deregistered_at, b2.registered_at, b2.deregistered_at
                ):
                    out["device_identity_conflict"].add(f"serial:{ser}")
    for rb in w.bindings:
        if rb.status not in ("revoked", "returned") or rb.revoked_at is None:
            continue
        d = rb.device_id
        unit = {b.account_id for b in w._bind[d] if b.serial == rb.serial}
        for b in w._bind[d]:
            if b.serial == rb.serial and b.registered_at > rb.revoked_at:
                out["revoked_device_active"].add((d, b.account_id))
        for e in w.events:
            if (
                e.device_id == d
                and e.outcome == "served"
                and e.ts >= rb.revoked_at
                and e.account_id in unit
            ):
                out["revoked_device_active"].add((d, e.account_id))

    # staff
    def covered(t: str | None, st: str, scope: str, ts: datetime) -> bool:
        tm = staff[st].team if st in staff else None
        for c in w.consents:
            if c.account_id != t or not active(c.granted_at, c.expires_at, ts):
                continue
            if c.revoked_at is not None and ts >= c.revoked_at:
                continue
            if c.grantee not in ("*", st, f"team:{tm}"):
                continue
            if scope == "live" and c.scope == "live":
                return True
            if scope != "live" and c.scope in (scope, "*"):
                return True
        return False

    own_of = {s.own_account_id: s.staff_id for s in w.staff if s.own_account_id}
    per_staff: dict[str, list[tuple[datetime, str | None]]] = defaultdict(list)
    lookups: dict[tuple[str, str | None], list[datetime]] = defaultdict(list)
    for a in sorted(w.staff_acts, key=lambda a: a.ts):
        if a.outcome != "served":
            continue
        st = staff.get(a.staff_id)
        if st is not None and st.kind == "service":
            continue
        if st is None or not active(st.active_from, st.active_to, a.ts):
            out["staff_inactive_access"].add(a.staff_id)
        if a.action == "raw_read":
            out["raw_store_access"].add(a.staff_id)
        scope = {"live": "live", "lookup": "account", "account": "account"}.get(a.action, "media")
        if a.account_id:
            targets: list[str | None] = [a.account_id]
        elif a.device_id:
            targets = sorted(w.owners(a.device_id, a.ts)) or [None]
        elif a.media_id in media:
            m = media[a.media_id]
            targets = sorted(w.owners(m.device_id, m.captured_at)) or [None]
        else:
            targets = [None]
        for t in targets:
            if a.action == "lookup":
                lookups[(a.staff_id, t)].append(a.ts)
                continue
            if scope == "media":
                per_staff[a.staff_id].append((a.ts, t))
            if not covered(t, a.staff_id, scope, a.ts):
                cat = "staff_live_access" if scope == "live" else "staff_without_consent"
                out[cat].add((a.staff_id, t))
                if scope == "live":
                    continue
                if any(x <= a.ts < x + DAY for x in lookups[(a.staff_id, t)]):
                    out["staff_lookup_then_access"].add((a.staff_id, t))
                if t in own_of and own_of[t] != a.staff_id:
                    out["staff_colleague_access"].add((a.staff_id, t))
    for st, xs in per_staff.items():
        for i, (t0, _) in enumerate(xs):
            if len({t for ts, t in xs[i:] if ts < t0 + HOUR}) > QUIET_MAX:
                out["staff_bulk_access"].add(st)
    return out


def expected_sets(w: World) -> dict[str, set]:
    """The planted ground truth in the same shape as reference()."""
    out: dict[str, set] = defaultdict(set)
    for f in w.expected:
        c, e = f["category"], f["entities"]
        if c == "media_to_non_owner":
            out[c].add((e["device_id"], e["account_id"], e["owner_account_id"]))
        elif c == "partner_cross_feed":
            out[c].add((e["device_id"], e["account_id"], e["partner"]))
        elif c == "duplicate_device_id":
            out[c].add((e["device_id"], tuple(e["accounts"])))
        elif c == "device_identity_conflict":
            out[c].add(e["device_id"])
        elif c == "leak_burst":
            out[c].update(e["accounts"])
        elif c == "session_crosses_owners":
            out[c].add((e["session_id"], e["account_id"]))
        elif c == "access_enumeration":
            out[c].add(e["account_id"])
        elif c in ("revoked_device_active",):
            out[c].add((e["device_id"], e["account_id"]))
        elif "account_id" in e:
            out[c].add((e["staff_id"], e["account_id"]))
        else:
            out[c].add(e["staff_id"])
    return out


def self_check(w: World) -> None:
    got, want = reference(w), expected_sets(w)
    problems = []
    for c in sorted(set(got) | set(want)):
        if got[c] != want[c]:
            problems.append(
                f"{c}: extra {sorted(got[c] - want[c], key=str)[:5]} "
                f"missing {sorted(want[c] - got[c], key=str)[:5]}"
            )
    if problems:
        raise SystemExit("self-check failed:\n  " + "\n  ".join(problems))


# ============================================================================================
# Writers
# ============================================================================================


class Fmt:
    """Timestamp rendering: mostly Z, some +02:00, some without offset (= UTC)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def __call__(self, t: datetime | None, style: str | None = None) -> str | None:
        if t is None:
            return None
        style = style or self.rng.choices(["z", "cest", "naive"], [60, 25, 15])[0]
        loc = t.astimezone(CEST) if style == "cest" else t.astimezone(UTC)
        s = loc.strftime("%Y-%m-%dT%H:%M:%S")
        if t.microsecond:
            s += f".{t.microsecond // 1000:03d}"
        return s + {"z": "Z", "cest": "+02:00", "naive": ""}[style]


def gz_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as g:
        g.write(data)
    return buf.getvalue()


def csv_text(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(header)
    for r in rows:
        wr.writerow(["" if v is None else v for v in r])
    return buf.getvalue()


def jsonl_text(objs: list) -> list[str]:
    return [json.dumps(o, ensure_ascii=False) for o in objs]


def write(out: Path, name: str, data: str | bytes) -> None:
    path = out / name
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    path.write_bytes(gz_bytes(raw) if name.endswith(".gz") else raw)


EV_COLS = [
    "ts",
    "account_id",
    "device_id",
    "action",
    "outcome",
    "media_id",
    "captured_at",
    "session_id",
    "partner",
    "client_ip",
    "user_agent",
    "bytes",
    "event_id",
    "app_version",
]


def write_all(w: World, out: Path) -> tuple[dict[str, int], list[tuple[str, int, str]]]:
    """Write every table; returns rows per file and the malformed rows (file, line, what)."""
    fmt = Fmt(SEED + 1)
    counts: dict[str, int] = {}
    bad: list[tuple[str, int, str]] = []

    # devices.csv (+ extra column region, one row with a missing account_id)
    bs = sorted(w.bindings, key=lambda b: (b.device_id, b.registered_at, b.account_id))
    rows = [
        [
            b.device_id,
            b.account_id,
            fmt(b.registered_at),
            fmt(b.deregistered_at),
            b.serial,
            b.mac,
            b.model,
            b.firmware,
            b.status,
            fmt(b.revoked_at),
            b.region,
        ]
        for b in bs
    ]
    for r, b in zip(rows, bs, strict=True):  # the sale: both ends of the touching instant
        if b.device_id == w.plan.dS:
            if b.deregistered_at:
                r[3] = fmt(b.deregistered_at, "cest")
            else:
                r[2] = fmt(b.registered_at, "z")
    rows.insert(
        120,
        [
            "cam-9001",
            "",
            "2024-05-30T10:00:00Z",
            "",
            "RNG99001Z",
            "02:1a:ff:ff:00:01",
            "stickup_cam_v3",
            "1.4.26",
            "active",
            "",
            "eu-central-1",
        ],
    )
    bad.append(("devices.csv", 122, "missing required account_id"))
    write(
        out,
        "devices.csv",
        csv_text(
            [
                "device_id",
                "account_id",
                "registered_at",
                "deregistered_at",
                "serial",
                "mac",
                "model",
                "firmware",
                "status",
                "revoked_at",
                "region",
            ],
            rows,
        ),
    )
    counts["devices.csv"] = len(rows)

    # access events: sorted, ids assigned, split by day into three files
    evs = sorted(
        w.events, key=lambda e: (e.ts, e.account_id, e.device_id, e.action, e.media_id or "")
    )
    ver = {a: f"5.{w.rng.randint(9, 12)}.{w.rng.randint(0, 4)}" for a in sorted(w.ua)}

    def rec(i: int, e: Event) -> dict:
        return {
            "ts": e.ts,
            "account_id": e.account_id,
            "device_id": e.device_id,
            "action": e.action,
            "outcome": e.outcome,
            "media_id": e.media_id,
            "captured_at": e.captured_at,
            "session_id": e.session_id,
            "partner": e.partner,
            "client_ip": w.ip[e.account_id],
            "user_agent": w.ua[e.account_id],
            "bytes": e.bytes,
            "event_id": f"ev-{i:07d}",
            "app_version": ver[e.account_id],
        }

    recs = [rec(i + 1, e) for i, e in enumerate(evs)]
    p1 = [r for r in recs if r["ts"] < at("2024-06-08T00:00:00")]
    p2 = [r for r in recs if at("2024-06-08T00:00:00") <= r["ts"] < at("2024-06-13T00:00:00")]
    p3 = [r for r in recs if r["ts"] >= at("2024-06-13T00:00:00")]

    objs = []
    for r in p1:
        o = {k: v for k, v in r.items() if v is not None}
        o["ts"] = fmt(r["ts"])
        if r["captured_at"] is not None:
            o["captured_at"] = fmt(r["captured_at"])
        if o["outcome"] == "served" and w.rng.random() < 0.3:
            del o["outcome"]  # default
        objs.append(o)
    lines = jsonl_text(objs)
    name = "access_events/part-0001.jsonl.gz"
    inserts = [
        (
            1000,
            json.dumps(
                {
                    "ts": "2024-06-02T25:61:00Z",
                    "account_id": p1[999]["account_id"],
                    "device_id": p1[999]["device_id"],
                    "action": "list",
                }
            ),
            "unparseable timestamp 2024-06-02T25:61:00Z",
        ),
        (
            4000,
            '{"ts": "2024-06-03T12:00:00Z", "account_id": "'
            + p1[3999]["account_id"]
            + '", "device_id": ',
            "malformed JSON (truncated line)",
        ),
        (
            7000,
            json.dumps(
                ["2024-06-04T09:00:00Z", p1[6999]["account_id"], p1[6999]["device_id"], "clip"]
            ),
            "JSON array, not an object",
        ),
        (
            9000,
            json.dumps(
                {
                    "ts": "2024-06-05T18:00:00Z",
                    "account_id": p1[8999]["account_id"],
                    "device_id": p1[8999]["device_id"],
                    "action": "clip",
                    "bytes": "12kB",
                }
            ),
            "non-integer bytes '12kB'",
        ),
    ]
    for k, (idx, line, what) in enumerate(inserts):
        lines.insert(idx + k, line)
        bad.append((name, idx + k + 1, what))
    write(out, name, "\n".join(lines) + "\n")
    counts[name] = len(lines)

    ts_type = pa.timestamp("ms", tz="UTC")
    schema = pa.schema(
        [
            ("ts", ts_type),
            ("account_id", pa.string()),
            ("device_id", pa.string()),
            ("action", pa.string()),
            ("outcome", pa.string()),
            ("media_id", pa.string()),
            ("captured_at", ts_type),
            ("session_id", pa.string()),
            ("partner", pa.string()),
            ("client_ip", pa.string()),
            ("user_agent", pa.string()),
            ("bytes", pa.int64()),
            ("event_id", pa.string()),
            ("app_version", pa.string()),
        ]
    )
    tbl = pa.Table.from_pylist(p2, schema=schema)
    name = "access_events/part-0002.parquet"
    (out / "access_events").mkdir(parents=True, exist_ok=True)
    pq.write_table(tbl, out / name, compression="zstd", row_group_size=8192)
    counts[name] = tbl.num_rows

    rows = [
        [
            fmt(r["ts"]) if c == "ts" else fmt(r["captured_at"]) if c == "captured_at" else r[c]
            for c in EV_COLS
        ]
        for r in p3
    ]
    rows.insert(
        500,
        [fmt(p3[499]["ts"]), p3[499]["account_id"], "", "list", "served"]
        + [None] * (len(EV_COLS) - 5),
    )
    name = "access_events-2024-06-13.csv.gz"
    bad.append((name, 502, "missing required device_id"))
    write(out, name, csv_text(EV_COLS, rows))
    counts[name] = len(rows)

    # staff_access.csv.gz
    acts = sorted(w.staff_acts, key=lambda a: (a.ts, a.staff_id, a.media_id or "", a.action))
    rows = [
        [
            fmt(a.ts),
            a.staff_id,
            a.action,
            a.account_id,
            a.device_id,
            a.media_id,
            a.lookup_key,
            a.ticket_id,
            a.channel,
            a.outcome,
        ]
        for a in acts
    ]
    rows.insert(
        200,
        [
            "not-a-date",
            "st-ana",
            "lookup",
            None,
            None,
            None,
            "someone@example.net",
            None,
            "portal",
            "served",
        ],
    )
    bad.append(("staff_access.csv.gz", 202, "unparseable timestamp 'not-a-date'"))
    write(
        out,
        "staff_access.csv.gz",
        csv_text(
            [
                "ts",
                "staff_id",
                "action",
                "account_id",
                "device_id",
                "media_id",
                "lookup_key",
                "ticket_id",
                "channel",
                "outcome",
            ],
            rows,
        ),
    )
    counts["staff_access.csv.gz"] = len(rows)

    # consents.jsonl
    objs = []
    for c in w.consents:
        o = {
            "consent_id": c.consent_id,
            "account_id": c.account_id,
            "scope": c.scope,
            "granted_at": fmt(c.granted_at),
            "expires_at": fmt(c.expires_at),
            "revoked_at": fmt(c.revoked_at),
            "grantee": c.grantee,
            "ticket_id": c.ticket_id,
        }
        if c.grantee == "*" and w.rng.random() < 0.4:
            del o["grantee"]  # default '*'
        objs.append({k: v for k, v in o.items() if v is not None})
    write(out, "consents.jsonl", "\n".join(jsonl_text(objs)) + "\n")
    counts["consents.jsonl"] = len(objs)

    write(
        out,
        "staff.csv",
        csv_text(
            [
                "staff_id",
                "team",
                "role",
                "email",
                "own_account_id",
                "kind",
                "active_from",
                "active_to",
            ],
            [
                [
                    s.staff_id,
                    s.team,
                    s.role,
                    s.email,
                    s.own_account_id,
                    s.kind,
                    fmt(s.active_from),
                    fmt(s.active_to),
                ]
                for s in w.staff
            ],
        ),
    )
    counts["staff.csv"] = len(w.staff)

    shares = sorted(w.shares, key=lambda s: (s.device_id, s.grantee))
    write(
        out,
        "shares.csv",
        csv_text(
            [
                "device_id",
                "owner_account_id",
                "grantee_account_id",
                "granted_at",
                "revoked_at",
                "Scope",
            ],
            [
                [s.device_id, s.owner, s.grantee, fmt(s.granted_at), fmt(s.revoked_at), s.scope]
                for s in shares
            ],
        ),
    )
    counts["shares.csv"] = len(shares)

    links = sorted(w.links, key=lambda lk: (lk.account_id, lk.partner, lk.linked_at))
    objs = [
        {
            k: v
            for k, v in {
                "account_id": lk.account_id,
                "partner": lk.partner,
                "linked_at": fmt(lk.linked_at),
                "unlinked_at": fmt(lk.unlinked_at),
            }.items()
            if v is not None
        }
        for lk in links
    ]
    write(out, "partner_links.jsonl", "\n".join(jsonl_text(objs)) + "\n")
    counts["partner_links.jsonl"] = len(objs)

    med = sorted(w.media, key=lambda m: m.media_id)
    tbl = pa.table(
        {
            "media_id": [m.media_id for m in med],
            "device_id": [m.device_id for m in med],
            "captured_at": [fmt(m.captured_at) for m in med],
            "kind": [m.kind for m in med],
        }
    )
    pq.write_table(tbl, out / "media.parquet", compression="zstd")
    counts["media.parquet"] = tbl.num_rows
    return counts, bad


def write_expected(w: World, path: Path, bad: list[tuple[str, int, str]]) -> None:
    def key(f: dict) -> tuple:
        return (f["category"], json.dumps(f["entities"], sort_keys=True))

    doc = {
        "schema": "leakaudit.sample_logs.expected/v1",
        "note": "Ground truth planted by scripts/make_sample_logs.py. Entries with partial=true "
        "list only the entity keys whose values are certain.",
        "malformed_rows": len(bad),
        "malformed": [{"file": f, "line": n, "problem": what} for f, n, what in bad],
        "findings": sorted(w.expected, key=key),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def write_readme(w: World, out: Path, counts: dict[str, int], bad: list) -> None:
    by_cat: dict[str, int] = defaultdict(int)
    for f in w.expected:
        by_cat[f["category"]] += 1
    lines = [
        "# sample_logs — the leakaudit demo world",
        "",
        "```sh",
        "leakaudit audit sample_logs -o findings.json",
        "```",
        "",
        "Regenerate (deterministic, byte-identical): `python scripts/make_sample_logs.py` "
        f"(seed {SEED}).",
        "",
        "Two weeks (2024-06-01..2024-06-14 UTC) of a small camera cloud: 300 accounts in "
        f"{len(w.households)} households, {len({b.device_id for b in w.bindings})} devices, "
        f"{len(w.events)} customer requests (owners, household members via shares, partner "
        "integrations `google-nest`/`alexa`; deliveries and views; some denied/error), "
        f"{len(w.staff)} staff/service principals, {len(w.consents)} consents, "
        f"{len(w.media)} media items. All four incidents of `INCIDENTS.md` are planted, each "
        "next to legitimate look-alikes (decoys) that must not be flagged.",
        "",
        "Timestamps mix `Z`, `+02:00` and no offset (UTC); `access_events/part-0002.parquet` "
        "uses a real timestamp type, `media.parquet` ISO strings. Extra columns (`region`, "
        "`app_version`) are unknown to the schema and must be kept. `shares.csv` spells its "
        "header `Scope` (columns match case-insensitively). Two accounts use user agents with "
        f"markup ({', '.join(f'`{a}`' for a in w.plan.hostile)}: `<script>alert(1)</script>`, "
        "`[bold]x[/] …`) — plain data.",
        "",
        "## Files",
        "",
        "| file | table | rows (incl. malformed) |",
        "|---|---|---|",
    ]
    for f, n in sorted(counts.items()):
        table = f.split("/")[0].split("-")[0].split(".")[0]
        lines.append(f"| `{f}` | {table} | {n} |")
    lines += [
        "",
        "`README.md` is not an input table.",
        "",
        "## Expected findings",
        "",
        "`tests/data/sample_logs_expected.json` lists every planted finding as "
        "`{category, entities}` (entity keys of SPEC §3; `partial: true` where only some "
        "values are certain) and the "
        "malformed-row count. Planted cases per category; `leakaudit audit` reports one "
        "`device_identity_conflict` finding per serial under the shared id, so "
        f"{len(w.expected) + 1} findings in all:",
        "",
    ]
    lines += [
        f"- `{c}`: {n}" + (" (2 findings)" if c == "device_identity_conflict" else "")
        for c, n in sorted(by_cat.items())
    ]
    lines += ["", "## Planted cases and decoys", ""]
    sections: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for sec, kind, text in w.cases:
        sections[sec].append((kind, text))
    for sec in sorted(sections):
        lines += [f"### {sec}", ""]
        for kind in ("planted", "decoy"):
            for k, text in sections[sec]:
                if k == kind:
                    lines.append(f"- **{kind.upper()}** — {text}")
        lines.append("")
    lines += [
        "Background traffic is checked by the generator itself (reference reading of "
        "SPEC §2): no other account, session, staff member or device produces a finding; "
        "no background account is denied on more than "
        f"{QUIET_MAX} foreign devices in an hour, no human staff member touches more than "
        f"{QUIET_MAX} customers in an hour.",
        "",
        "## Malformed rows (quarantined, never dropped)",
        "",
        "| file | line | problem |",
        "|---|---|---|",
    ]
    lines += [f"| `{f}` | {n} | {what} |" for f, n, what in bad]
    lines += ["", "Lines are 1-based physical lines; in CSV files the header is line 1.", ""]
    (out / "README.md").write_text("\n".join(lines))


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path("sample_logs")
    # The ground truth is test data, kept out of the logs folder so that
    # `leakaudit audit sample_logs` reads only input tables.
    expected = Path(argv[2]) if len(argv) > 2 else Path("tests/data/sample_logs_expected.json")
    w = World()
    build_households(w)
    roles = Roles(w)
    p = w.plan
    setup_bindings(w, roles, p)
    w.index()
    background(w)
    session_decoys(w, roles.used)
    events_incident1(w, p)
    events_shares(w, p)
    events_wyze(w, p)
    events_xiaomi(w, p)
    events_staff(w, p)
    self_check(w)
    out.mkdir(parents=True, exist_ok=True)
    counts, bad = write_all(w, out)
    write_expected(w, expected, bad)
    write_readme(w, out, counts, bad)
    print(
        f"wrote {out}/: {sum(counts.values())} rows in {len(counts)} files, "
        f"{len(w.expected)} expected findings, {len(bad)} malformed rows"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
