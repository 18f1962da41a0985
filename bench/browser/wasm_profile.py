#!/usr/bin/env python3
"""Where a worker's time goes, by wasm function: reads one V8 tick log (`--prof`) and the site's
wasm module (its name section), and prints the share of samples per function and per V8 state.

    cd /tmp/prof && BENCH_JS_FLAGS=--prof node /work/main/bench/browser/run.mjs --cases wiseft-cpu ...
    python3 bench/browser/wasm_profile.py dist/threaded/wiseft-worker_bg.wasm /tmp/prof/isolate-…-v8.log [TOP]

Node's own `--prof-process` cannot read the logs of Chromium's newer V8, and names wasm code only
as `wasm-function[N]`; this maps N through the module's name section. A benchmark tool, not a test.
"""
import bisect
import collections
import re
import sys

# V8's StateTag order (src/execution/vm-state): the tick's sixth field.
STATES = ['JS', 'GC', 'PARSER', 'BYTECODE_COMPILER', 'COMPILER', 'OTHER', 'EXTERNAL', 'ATOMICS_WAIT', 'IDLE', 'LOGGING']


def function_names(path):
    b = open(path, 'rb').read()

    def leb(i):
        r = s = 0
        while True:
            x = b[i]
            i += 1
            r |= (x & 0x7F) << s
            s += 7
            if x < 0x80:
                return r, i

    names, i = {}, 8
    while i < len(b):
        sid = b[i]
        size, i = leb(i + 1)
        end = i + size
        if sid == 0:
            n, j = leb(i)
            if b[j:j + n] == b'name':
                j += n
                while j < end:
                    sub = b[j]
                    ssz, j = leb(j + 1)
                    send = j + ssz
                    if sub == 1:  # function names
                        cnt, j = leb(j)
                        for _ in range(cnt):
                            idx, j = leb(j)
                            ln, j = leb(j)
                            names[idx] = b[j:j + ln].decode('utf8', 'replace')
                            j += ln
                    j = send
        i = end
    return names


def main():
    wasm, log = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    names = function_names(wasm)
    codes, ticks = [], []
    for line in open(log, errors='replace'):
        if line.startswith('code-creation,'):
            f = line.rstrip('\n').split(',')
            try:
                addr, size = int(f[4], 16), int(f[5])
            except (IndexError, ValueError):
                continue
            m = re.search(r'wasm-function\[(\d+)\]', f[6])
            codes.append((addr, size, names.get(int(m.group(1)), f[6]) if m else f[6]))
        elif line.startswith('tick,'):
            f = line.split(',')
            ticks.append((int(f[1], 16), int(f[5])))
    codes.sort()
    starts = [c[0] for c in codes]
    by_fn, by_state = collections.Counter(), collections.Counter()
    for pc, state in ticks:
        by_state[STATES[state] if state < len(STATES) else state] += 1
        if state != 0:
            continue
        k = bisect.bisect_right(starts, pc) - 1
        name = codes[k][2] if k >= 0 and pc < codes[k][0] + codes[k][1] else '(not in logged code)'
        # Rust's symbol hashes and crate disambiguators say nothing here.
        by_fn[re.sub(r'\[[0-9a-f]{16}\]', '', name)] += 1
    total = len(ticks) or 1
    print(f'{len(ticks)} samples: ' + ', '.join(f'{s} {100 * c / total:.1f} %' for s, c in by_state.most_common()))
    for name, c in by_fn.most_common(top):
        print(f'{100 * c / total:5.1f} %  {name[:160]}')


if __name__ == '__main__':
    main()
