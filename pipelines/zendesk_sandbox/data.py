"""Seeded audit records and the sorted index that serves them.

Records live in columns indexed by `seq`, a per-record ordinal that never changes (generation
order, then append order). The serving order is the composite key `created_at << 24 | seq`, kept
in one sorted `array('q')`; cursors carry that key, not a list position, so a record appended
later with an old `created_at` lands in the middle without making a resumed cursor skip or repeat
anything after it. Per-value key arrays answer the filters without scanning.

Generated records are encoded once, at start, into one buffer in seq order, which is also their
serving order: a page of consecutive records is then one slice of that buffer, so serving costs
the client's time, not the sandbox's (about 370 bytes a record: 370 MB for 1,000,000 records).
"""
from __future__ import annotations

import bisect
import heapq
import itertools
import json
import random
import threading
import time
from array import array
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from zendesk_sandbox.config import SandboxConfig
from zendesk_sandbox.vocabulary import ACTION_LABELS, Vocabulary, build_vocabulary

SEQ_BITS = 24
SEQ_MASK = (1 << SEQ_BITS) - 1
DEFAULT_HISTORY_END = datetime(2026, 11, 1, tzinfo=timezone.utc)
FILTER_FIELDS = ("action", "actor_id", "ip_address", "source_type", "source_id")
FIELD_ORDER = ("url", "id", "action_label", "actor_id", "source_id", "source_type",
               "source_label", "action", "change_description", "ip_address", "created_at",
               "actor_name")
ID_BASE = 6_100_000_000_000
OFF_HOURS_SHARE = 0.10
SYSTEM_SHARE = 0.10
BURST_RECORD_SHARE = 0.05  # records in same-second bursts of 2-30


BLOB_FORMAT = (b'{"url":"%s%d.json","id":%d,%s"source_id":%d,%s"ip_address":%s,'
               b'"created_at":"%s",%s}')


def format_time(epoch: int) -> str:
    """Zendesk's `created_at` format: UTC, second precision."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class RecordStore:
    """All records of one sandbox, their sort order and filter indexes. Thread-safe."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._lock = threading.RLock()
        self._url_prefix = f"https://{config.subdomain}.zendesk.com/api/v2/audit_logs/"
        self.vocabulary: Vocabulary = build_vocabulary(random.Random(config.seed))
        self._append_rng = random.Random(config.seed + 1_000_003)
        self._ids = array("q")
        self._times = array("q")
        self._actor = array("H")
        self._kind = array("H")
        self._ip = array("H")
        self._source = array("q")
        self._custom: dict[int, dict[str, Any]] = {}  # seq -> full record, for appended rows
        self._raw: dict[int, bytes] = {}  # seq -> the exact JSON served, for raw appended rows
        self._count_cache: dict[tuple[Any, ...], int] = {}
        self._ip_pool: list[str | None] = []
        self._ip_codes: dict[str | None, int] = {}
        self._actor_ip_codes = [
            [self._ip_code(ip) for ip in actor.ips] for actor in self.vocabulary.actors
        ]
        self._generate(config)
        self._build_indexes()
        self._encode_generated()

    # ----------------------------------------------------------------- generation
    def _ip_code(self, ip: str | None) -> int:
        code = self._ip_codes.get(ip)
        if code is None:
            code = self._ip_codes[ip] = len(self._ip_pool)
            self._ip_pool.append(ip)
        return code

    def _generate(self, config: SandboxConfig) -> None:
        rng = random.Random(config.seed)
        rng.random()  # decouple from the vocabulary's stream
        n = config.records
        if n > SEQ_MASK // 2:
            raise ValueError(f"at most {SEQ_MASK // 2} records")
        end = config.history_end or DEFAULT_HISTORY_END
        end_epoch = int(end.timestamp())
        days = max(1, config.history_days)
        day_starts, weekdays = _local_days(end, days, config.iana_time_zone)
        workdays = [i for i, wd in enumerate(weekdays) if wd < 5] or list(range(days))
        vocab = self.vocabulary
        roles = {"admin": [], "agent": [], "system": []}
        for index, actor in enumerate(vocab.actors):
            roles[actor.role].append(index)
        humans = roles["admin"] + roles["agent"]
        human_weights = [6.0 if vocab.actors[i].role == "admin" else 1.0 for i in humans]

        # One "event" is a single record or a same-second burst by one actor. Event order in
        # this list does not matter: every event draws its own time.
        sizes: list[int] = []
        in_bursts = 0
        while in_bursts < n * BURST_RECORD_SHARE:
            size = min(rng.randint(2, 30), n - in_bursts)
            sizes.append(size)
            in_bursts += size
        sizes.extend([1] * (n - in_bursts))
        events = len(sizes)
        random_ = rng.random
        event_actor = rng.choices(humans, human_weights, k=events)
        start_epoch = end_epoch - days * 86_400
        span = days * 86_400
        n_workdays = len(workdays)
        event_time: list[int] = []
        add_time = event_time.append
        for e in range(events):
            draw = random_()
            if draw < SYSTEM_SHARE:
                event_actor[e] = 0
                add_time(start_epoch + int(random_() * span))
            elif draw < SYSTEM_SHARE + OFF_HOURS_SHARE:
                add_time(day_starts[int(random_() * days)] + int(random_() * 86_400))
            else:
                add_time(day_starts[workdays[int(random_() * n_workdays)]] + 32_400
                         + int(random_() * 32_400))
        # Expand events into records, packed as (time << 24 | record) so one int sort orders them.
        packed: list[int] = []
        rec_actor: list[int] = []
        position = 0
        for e, size in enumerate(sizes):
            t = min(max(event_time[e], start_epoch), end_epoch) << SEQ_BITS
            if size == 1:
                packed.append(t | position)
                rec_actor.append(event_actor[e])
            else:
                packed.extend([t | (position + j) for j in range(size)])
                rec_actor.extend([event_actor[e]] * size)
            position += size
        del event_time, event_actor, sizes
        packed.sort()
        order = [key & SEQ_MASK for key in packed]
        times = [key >> SEQ_BITS for key in packed]
        actor_col = list(map(rec_actor.__getitem__, order))
        del rec_actor, order, packed
        # Event kinds per role, drawn in bulk.
        role_of = [a.role for a in vocab.actors]
        counts = {"admin": 0, "agent": 0, "system": 0}
        for index, actor in enumerate(vocab.actors):
            counts[actor.role] += actor_col.count(index)
        draws: dict[str, Iterator[int]] = {}
        for role, count in counts.items():
            codes, weights = vocab.kinds_by_role[role]
            draws[role] = iter(rng.choices(codes, weights, k=count) if count else [])
        nexts = [draws[role].__next__ for role in role_of]
        kind_col = [nexts[a]() for a in actor_col]
        noise = [random_() for _ in range(n)]
        actor_ips = self._actor_ip_codes
        ip_col = [actor_ips[a][int(x * len(actor_ips[a]))] for a, x in zip(actor_col, noise)]
        kinds = vocab.kinds
        actor_ids = [a.actor_id for a in vocab.actors]
        fixed = [None if (k.self_source or k.random_source) else k.source_id for k in kinds]
        self_source = [k.self_source for k in kinds]
        source_col = [
            fixed[k] if fixed[k] is not None
            else actor_ids[a] if self_source[k]
            else 6_126_000_000_000 + int(x * 73_999_999_999)
            for a, k, x in zip(actor_col, kind_col, noise)
        ]
        # Ids grow with time, with gaps, shuffled inside each second.
        first = ID_BASE + rng.randint(0, 10**8)
        ids = list(itertools.accumulate((1 + int(x * 4_000) for x in noise), initial=first))[1:]
        position = 0
        for _, group in itertools.groupby(times):
            size = sum(1 for _ in group)
            if size > 1:
                chunk = ids[position:position + size]
                rng.shuffle(chunk)
                ids[position:position + size] = chunk
            position += size
        self._ids.extend(ids)
        self._times.extend(times)
        self._actor.extend(actor_col)
        self._kind.extend(kind_col)
        self._ip.extend(ip_col)
        self._source.extend(source_col)
        self._keys = array("q", [(t << SEQ_BITS) | s for s, t in enumerate(times)])
        self._generated = n  # seqs below this are generated, in serving order
        self._max_id = max(ids) if ids else ID_BASE

    def _build_indexes(self) -> None:
        n = len(self._ids)
        self._fragments: dict[int, tuple[bytes, bytes, bytes]] = {}
        self._ip_json = [orjson.dumps(ip) for ip in self._ip_pool]
        self._url_prefix_bytes = self._url_prefix.encode()
        self._id_to_seq = dict(zip(self._ids, range(n)))
        vocab = self.vocabulary
        self._index: dict[str, dict[Any, array]] = {}
        columns = {
            "action": ([k.action for k in vocab.kinds], self._kind),
            "source_type": ([k.source_type for k in vocab.kinds], self._kind),
            "actor_id": ([a.actor_id for a in vocab.actors], self._actor),
            "ip_address": (self._ip_pool, self._ip),
        }
        keys = self._keys
        by_kind = _bucket(self._kind, keys, len(vocab.kinds))
        by_code = {"action": by_kind, "source_type": by_kind,
                   "actor_id": _bucket(self._actor, keys, len(vocab.actors)),
                   "ip_address": _bucket(self._ip, keys, len(self._ip_pool))}
        for field, (values, _) in columns.items():
            grouped: dict[Any, list[list[int]]] = {}
            for value, bucket in zip(values, by_code[field]):
                if bucket:
                    grouped.setdefault(value, []).append(bucket)
            index = self._index[field] = {}
            for value, buckets in grouped.items():
                if len(buckets) == 1:
                    index[value] = array("q", buckets[0])
                else:  # several codes share a value (e.g. action): one sort of sorted runs
                    index[value] = array("q", sorted(itertools.chain.from_iterable(buckets)))
        sources: dict[int, list[int]] = {}
        for source_id, key in zip(self._source, keys):
            bucket = sources.get(source_id)
            if bucket is None:
                sources[source_id] = [key]
            else:
                bucket.append(key)
        self._index["source_id"] = {sid: array("q", b) for sid, b in sources.items()}

    # ----------------------------------------------------------------- records
    def __len__(self) -> int:
        return len(self._keys)

    def value(self, field: str, seq: int) -> Any:
        """One filterable field of one record."""
        custom = self._custom.get(seq)
        if custom is not None:
            return custom.get(field)
        if field == "action":
            return self.vocabulary.kinds[self._kind[seq]].action
        if field == "source_type":
            return self.vocabulary.kinds[self._kind[seq]].source_type
        if field == "actor_id":
            return self.vocabulary.actors[self._actor[seq]].actor_id
        if field == "ip_address":
            return self._ip_pool[self._ip[seq]]
        if field == "source_id":
            return self._source[seq]
        raise KeyError(field)

    def record(self, seq: int) -> dict[str, Any]:
        """The API's dict for one record (12 fields, in Zendesk's order)."""
        custom = self._custom.get(seq)
        if custom is not None:
            return dict(custom)
        kind = self.vocabulary.kinds[self._kind[seq]]
        actor = self.vocabulary.actors[self._actor[seq]]
        record_id = self._ids[seq]
        return {
            "url": f"{self._url_prefix}{record_id}.json",
            "id": record_id,
            "action_label": kind.action_label,
            "actor_id": actor.actor_id,
            "source_id": self._source[seq],
            "source_type": kind.source_type,
            "source_label": kind.label_for(actor.name),
            "action": kind.action,
            "change_description": kind.change_description,
            "ip_address": self._ip_pool[self._ip[seq]],
            "created_at": format_time(self._times[seq]),
            "actor_name": actor.name,
        }

    def _encode_generated(self) -> None:
        """Every generated record's JSON, comma-terminated, in one buffer; `_offsets[seq]` is where it starts."""
        encoded = bytearray()
        offsets = array("q", [0])
        step = 65_536
        for first in range(0, self._generated, step):
            blobs = [self._format(seq) for seq in range(first, min(first + step, self._generated))]
            position = offsets[-1]
            for blob in blobs:
                position += len(blob) + 1
                offsets.append(position)
            encoded += b",".join(blobs) + b","
        self._encoded = encoded  # never written again; slices are copies
        self._offsets = offsets

    def blob(self, seq: int) -> bytes | bytearray:
        """One record as JSON bytes, in Zendesk's field order."""
        if seq < self._generated:
            return self._encoded[self._offsets[seq]:self._offsets[seq + 1] - 1]
        raw = self._raw.get(seq)  # appended raw rows are served exactly as given
        if raw is not None:
            return raw
        return orjson.dumps(self._custom[seq])

    def page_json(self, keys: list[int]) -> bytes | bytearray:
        """The records of these keys as the inside of a JSON array: one slice when they are consecutive."""
        if not keys:
            return b""
        first, last = keys[0] & SEQ_MASK, keys[-1] & SEQ_MASK
        if last - first == len(keys) - 1 and last < self._generated:
            return self._encoded[self._offsets[first]:self._offsets[last + 1] - 1]
        blob = self.blob
        return b",".join([blob(key & SEQ_MASK) for key in keys])

    def _format(self, seq: int) -> bytes:
        """One generated record's JSON, from pre-serialised fragments of its (event kind, actor) pair."""
        pair = (self._kind[seq] << 16) | self._actor[seq]
        fragments = self._fragments.get(pair)
        if fragments is None:
            fragments = self._fragments[pair] = self._pair_fragments(seq)
        record_id = self._ids[seq]
        return BLOB_FORMAT % (self._url_prefix_bytes, record_id, record_id, fragments[0],
                              self._source[seq], fragments[1], self._ip_json[self._ip[seq]],
                              _time_bytes(self._times[seq]), fragments[2])

    def _pair_fragments(self, seq: int) -> tuple[bytes, bytes, bytes]:
        """The JSON of the fields fixed by one (event kind, actor) pair."""
        record = self.record(seq)

        def part(*names: str) -> bytes:
            return orjson.dumps({name: record[name] for name in names})[1:-1]

        return (part("action_label", "actor_id") + b",",
                part("source_type", "source_label", "action", "change_description") + b",",
                part("actor_name"))

    def seq_of_id(self, record_id: int) -> int | None:
        """The seq of a visible record, or None."""
        return self._id_to_seq.get(record_id)

    def all_seqs(self) -> list[int]:
        """Every visible record's seq, in (created_at, seq) order."""
        with self._lock:
            return [key & SEQ_MASK for key in self._keys]

    def all_ids(self) -> set[int]:
        with self._lock:
            return set(self._id_to_seq)

    # ----------------------------------------------------------------- appends
    def append(self, count: int = 1, *, created_at: datetime | None = None,
               fields: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Add `count` realistic records, visible from now on, and return them."""
        fields = dict(fields or {})  # unknown names become extra fields, as Zendesk may add
        if created_at is None:
            created_at = datetime.now(timezone.utc)
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=timezone.utc)
        if "created_at" in fields:
            created_at = parse_time(str(fields.pop("created_at")))
        epoch = int(created_at.timestamp())
        added: list[dict[str, Any]] = []
        with self._lock:
            for _ in range(count):
                record = self._draw_record(epoch)
                record.update(fields)
                if "id" in fields:
                    if count > 1 or int(fields["id"]) in self._id_to_seq:
                        raise ValueError(f"id {fields['id']} is not unique")
                    record["id"] = int(fields["id"])
                    if "url" not in fields:
                        record["url"] = f"{self._url_prefix}{record['id']}.json"
                self._insert(record, epoch)
                added.append(dict(record))
        return added

    def append_raw(self, raw: str | bytes, *, created_at: datetime | None = None) -> dict[str, Any]:
        """Add one record served byte for byte as `raw`, and return it parsed.

        For records no generator would make: ids past int64, fields nested hundreds of levels,
        names that collide once normalized, the same id twice. `raw` is parsed here with Python's
        own JSON reader (any integer size), only to place and filter it; a record nested deeper
        than that reader goes (about 1,000 levels) is served all the same, unfiltered.

        Args:
            raw: the JSON text of one record, served exactly as given.
            created_at: where the record sorts and which `filter[created_at]` range returns it;
                None: the record's own `created_at` when it is readable, else now. A different
                value serves a record outside the range that was asked for.

        Raises:
            ValueError: `raw` is not one JSON object.
        """
        # Bytes that are not valid UTF-8 are served as they are (a broken answer's test).
        text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        try:
            record = json.loads(text)
        except RecursionError:
            record = {}
        except ValueError:
            raise ValueError("raw is not valid JSON") from None
        if not isinstance(record, dict):
            raise ValueError("raw must be one JSON object")
        if created_at is None:
            try:
                created_at = parse_time(str(record.get("created_at")))
            except ValueError:
                created_at = datetime.now(timezone.utc)
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=timezone.utc)
        with self._lock:
            seq = self._insert(record, int(created_at.timestamp()), complete=False)
            self._raw[seq] = raw if isinstance(raw, bytes) else text.encode("utf-8")
        return record

    def _draw_record(self, epoch: int) -> dict[str, Any]:
        rng = self._append_rng
        vocab = self.vocabulary
        humans = [i for i, a in enumerate(vocab.actors) if a.role != "system"]
        a = rng.choice(humans)
        actor = vocab.actors[a]
        codes, weights = vocab.kinds_by_role[actor.role]
        kind = vocab.kinds[rng.choices(codes, weights)[0]]
        self._max_id += rng.randint(1, 4_000)
        record_id = self._max_id
        return {
            "url": f"{self._url_prefix}{record_id}.json",
            "id": record_id,
            "action_label": ACTION_LABELS.get(kind.action, kind.action),
            "actor_id": actor.actor_id,
            "source_id": actor.actor_id if kind.self_source else kind.source_id,
            "source_type": kind.source_type,
            "source_label": kind.label_for(actor.name),
            "action": kind.action,
            "change_description": kind.change_description,
            "ip_address": rng.choice(actor.ips),
            "created_at": format_time(epoch),
            "actor_name": actor.name,
        }

    def _insert(self, record: dict[str, Any], epoch: int, complete: bool = True) -> int:
        """Index one record; `complete` fills missing fields with null (raw records stay as sent)."""
        seq = len(self._ids)
        if seq > SEQ_MASK:
            raise ValueError("the sandbox is full")
        if complete:
            record = {**{field: record.get(field) for field in FIELD_ORDER}, **record}
        record_id = record.get("id")
        usable_id = isinstance(record_id, int) and not isinstance(record_id, bool) and -(1 << 63) <= record_id < 1 << 63
        self._ids.append(record_id if usable_id else 0)
        self._times.append(epoch)
        self._actor.append(0)
        self._kind.append(0)
        self._ip.append(0)
        self._source.append(0)
        self._custom[seq] = record
        key = (epoch << SEQ_BITS) | seq
        bisect.insort(self._keys, key)
        if usable_id:
            self._id_to_seq[record_id] = seq
        for field in FILTER_FIELDS:
            index = self._index[field]
            value = record.get(field)
            if isinstance(value, (dict, list)):
                continue  # no filter can ask for it
            bucket = index.get(value)
            if bucket is None:
                index[value] = array("q", [key])
            else:
                bisect.insort(bucket, key)
        return seq

    # ----------------------------------------------------------------- queries
    def stream(self, filters: dict[str, set[Any]], low: int, high: int,
               upward: bool) -> Iterator[int]:
        """Keys of matching records with `low <= key <= high`, in the given direction.

        With no filter this walks the sorted keys from a bisect: O(log n + page). With filters it
        walks the merged key arrays of the most selective field and checks the other fields per
        candidate record.
        """
        if not filters:
            start = bisect.bisect_left(self._keys, low)
            stop = bisect.bisect_right(self._keys, high)
            keys = self._keys
            positions = range(start, stop) if upward else range(stop - 1, start - 1, -1)
            return (keys[p] for p in positions)
        field, arrays = self._most_selective(filters, low, high)
        others = [(f, values) for f, values in filters.items() if f != field]
        streams = [_walk(arr, low, high, upward) for arr in arrays]
        merged: Iterable[int] = streams[0] if len(streams) == 1 else heapq.merge(
            *streams, reverse=not upward)
        if not others:
            return iter(merged)
        value = self.value
        return (key for key in merged
                if all(value(f, key & SEQ_MASK) in values for f, values in others))

    def take(self, filters: dict[str, set[Any]], low: int, high: int, upward: bool, limit: int,
             skip: int = 0) -> list[int]:
        """Up to `limit` keys of `stream(...)` after the first `skip`; without filters, one slice of the key array."""
        if not filters:
            start = bisect.bisect_left(self._keys, low)
            stop = bisect.bisect_right(self._keys, high)
            if upward:
                first = start + skip
                return self._keys[first:max(first, min(stop, first + limit))].tolist()
            last = stop - skip
            return self._keys[max(start, last - limit):max(start, last)].tolist()[::-1]
        stream = self.stream(filters, low, high, upward)
        for _ in zip(range(skip), stream):
            pass
        return [key for _, key in zip(range(limit), stream)]

    def count(self, filters: dict[str, set[Any]], low: int, high: int) -> int:
        """How many records match: O(log n) for zero or one filtered field."""
        if not filters:
            return (bisect.bisect_right(self._keys, high)
                    - bisect.bisect_left(self._keys, low))
        if len(filters) == 1:
            _, arrays = self._most_selective(filters, low, high)
            return sum(bisect.bisect_right(a, high) - bisect.bisect_left(a, low)
                       for a in arrays)
        # Several fields: walk the most selective one once, then remember the answer until the
        # next append, so paging through offset pages does not walk it again.
        signature = (len(self._keys), low, high,
                     tuple(sorted((f, tuple(sorted(map(repr, v)))) for f, v in filters.items())))
        cached = self._count_cache.get(signature)
        if cached is None:
            if len(self._count_cache) > 256:
                self._count_cache.clear()
            cached = self._count_cache[signature] = sum(
                1 for _ in self.stream(filters, low, high, True))
        return cached

    def _most_selective(self, filters: dict[str, set[Any]], low: int,
                        high: int) -> tuple[str, list[array]]:
        best: tuple[int, str, list[array]] | None = None
        for field, values in filters.items():
            index = self._index[field]
            arrays = [index[v] for v in values if v in index]
            size = sum(bisect.bisect_right(a, high) - bisect.bisect_left(a, low)
                       for a in arrays)
            if best is None or size < best[0]:
                best = (size, field, arrays)
        assert best is not None
        return best[1], best[2]

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def config(self) -> SandboxConfig:
        """The settings the records were made with (pages read `last_page_cursor` here)."""
        return self._config


def parse_time(text: str) -> datetime:
    """Parse `%Y-%m-%dT%H:%M:%SZ` (or an ISO-8601 `+00:00` offset) as aware UTC.

    Raises:
        ValueError: the text is not such a timestamp.
    """
    text = text.strip()
    if text.endswith("Z"):
        parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
        return parsed.replace(tzinfo=timezone.utc)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None or parsed.utcoffset() != timedelta(0) or "T" not in text:
        raise ValueError(f"not a UTC timestamp: {text!r}")
    return parsed.astimezone(timezone.utc)


_DAY_PREFIXES: dict[int, bytes] = {}


def _time_bytes(epoch: int) -> bytes:
    """`format_time` as bytes, with the date part cached per day (it is on the hot path)."""
    day, second = divmod(epoch, 86_400)
    prefix = _DAY_PREFIXES.get(day)
    if prefix is None:
        prefix = _DAY_PREFIXES[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400)).encode()
    hour, rest = divmod(second, 3_600)
    return b"%s%02d:%02d:%02dZ" % (prefix, hour, rest // 60, rest % 60)


def _walk(arr: array, low: int, high: int, upward: bool) -> Iterator[int]:
    start = bisect.bisect_left(arr, low)
    stop = bisect.bisect_right(arr, high)
    positions = range(start, stop) if upward else range(stop - 1, start - 1, -1)
    return (arr[p] for p in positions)


def _bucket(codes: array, keys: array, size: int) -> list[list[int]]:
    """Split the (sorted) keys by code: each bucket stays sorted."""
    buckets: list[list[int]] = [[] for _ in range(size)]
    appenders = [bucket.append for bucket in buckets]
    for code, key in zip(codes, keys):
        appenders[code](key)
    return buckets


def _local_days(end: datetime, days: int, iana: str) -> tuple[list[int], list[int]]:
    """UTC epoch of each local midnight in the history window, and each day's weekday."""
    zone = ZoneInfo(iana)
    last = end.astimezone(zone).date()
    starts, weekdays = [], []
    for offset in range(days, 0, -1):
        day = last - timedelta(days=offset)
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        starts.append(int(midnight.timestamp()))
        weekdays.append(day.weekday())
    return starts, weekdays
