#!/usr/bin/env python3
"""An independent linearizability checker for placestore histories (CONTRACT.md format).

It shares no code with src/check: a different language and a different algorithm. Where
src/check runs a depth-first Wing & Gong / Lowe search, this one does just-in-time
linearization (as Knossos's "linear" checker does): it walks the history in order, keeping
every configuration (register value, operations already linearized but not yet returned)
that can explain what has been seen; at each return it extends every configuration until
the returning operation is linearized, and fails when none can be.

Usage: python3 scripts/independent_check.py HISTORY.jsonl [--max-configs N]
Exit 0 linearizable, 1 not linearizable, 3 unknown (too many configurations).
"""
import json
import sys
from collections import defaultdict

ABSENT = json.dumps(None)


def enc(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def load(path):
    events, final = [], None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            e = json.loads(line)
            if e.get("type") == "final":
                final = e.get("values", {})
            else:
                events.append(e)
    return events, final


def operations(events):
    """Pairs invokes with completions; returns per key a list of (kind, op) in history order."""
    open_ops, ops = {}, []
    for i, e in enumerate(events):
        if e["type"] == "invoke":
            op = {"id": len(ops), "f": e["f"], "key": e["key"], "in": e["value"], "out": None,
                  "type": "info", "ret": None}
            open_ops[e["process"]] = op
            ops.append(op)
            continue
        op = open_ops.pop(e["process"])
        op["type"] = e["type"]
        if e["type"] != "info":
            op["ret"] = i
            if e["f"] == "read":
                op["out"] = e["value"]
    # Rebuild the event stream per key from the paired operations, keeping only what constrains.
    stream = defaultdict(list)
    idx = 0
    pending = {}
    for i, e in enumerate(events):
        if e["type"] == "invoke":
            op = ops[idx]
            idx += 1
            if op["type"] == "info" and op["f"] == "read":
                continue
            if op["type"] == "fail" and op["f"] != "cas":
                continue
            stream[op["key"]].append(("call", op))
            if op["ret"] is not None:
                pending[op["ret"]] = op
        elif i in pending:
            op = pending.pop(i)
            stream[op["key"]].append(("ret", op))
    return stream


def step(state, op):
    f = op["f"]
    if f == "read":
        return state if enc(op["out"]) == state else None
    if f == "write":
        return enc(op["in"])
    if f == "delete":
        return ABSENT
    expected, new = op["in"]
    matches = enc(expected) == state
    if op["type"] == "fail":
        return None if matches else state
    return enc(new) if matches else None


def check_key(key, stream, max_configs):
    calls = {}  # id -> op, invoked and not returned
    configs = {(ABSENT, frozenset())}
    for kind, op in stream:
        if kind == "call":
            calls[op["id"]] = op
            continue
        target = op["id"]
        nxt = set()
        explored = 0
        for state, lin in configs:
            frontier, seen = [(state, lin)], {(state, lin)}
            while frontier:
                s, l = frontier.pop()
                if target in l:
                    # Linearized earlier, while explaining another return.
                    nxt.add((s, l - {target}))
                    continue
                for oid, o in calls.items():
                    if oid in l:
                        continue
                    s2 = step(s, o)
                    if s2 is None:
                        continue
                    if oid == target:
                        nxt.add((s2, l))
                        continue
                    y = (s2, l | {oid})
                    if y not in seen:
                        seen.add(y)
                        frontier.append(y)
                        explored += 1
                        if explored > max_configs:
                            return "unknown", f"more than {max_configs} configurations at key {key}"
        del calls[target]
        if not nxt:
            return False, f"key {key}: no order fits {op['f']} {enc(op['in'] if op['f'] != 'read' else op['out'])} ({op['type']})"
        configs = nxt
        if len(configs) > max_configs:
            return "unknown", f"more than {max_configs} configurations at key {key}"
    return True, None


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    max_configs = 200_000
    if "--max-configs" in args:
        max_configs = int(args[args.index("--max-configs") + 1])
    events, final = load(args[0])
    streams = operations(events)
    if final is not None:
        base = len(events) + 1
        for k, v in final.items():
            op = {"id": f"final-{k}", "f": "read", "key": k, "in": None, "out": v, "type": "ok", "ret": base}
            streams[k].append(("call", op))
            streams[k].append(("ret", op))
    verdict, problems = True, []
    for key in sorted(streams):
        v, why = check_key(key, streams[key], max_configs)
        if v is not True:
            problems.append(why)
            if v is False:
                verdict = False
            elif verdict is True:
                verdict = "unknown"
    ops = sum(1 for e in events if e["type"] == "invoke")
    print(json.dumps({"checker": "independent_check.py", "ops": ops, "keys": len(streams),
                      "linearizable": verdict, "problems": problems}))
    return 0 if verdict is True else (1 if verdict is False else 3)


if __name__ == "__main__":
    sys.exit(main())
