#!/usr/bin/env python3
"""Deterministic benchmark corpus: JSON lines {"text": …} mixing the labelled sets with realistic
variations (aliases, separators, full-width and traditional characters, amounts, contacts,
filler, case). Usage: corpus.py LINES SEED > corpus.jsonl"""
import json, os, random, sys

here = os.path.dirname(os.path.abspath(__file__))
seeds = []
for path in [os.path.join(here, "..", "corpus", f) for f in ("intents/probe.jsonl", "scam/probe.jsonl")] + \
        [os.path.join(here, "..", "..", "shared", "eval", f) for f in ("dev-intents.jsonl", "dev-scam.jsonl")]:
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            seeds += [json.loads(l)["text"] for l in f if l.strip()]

ALIASES = [("微信", ["vx", "VX", "wx", "薇信", "V信", "威信", "微 信"]), ("解封", ["jf", "解 封", "解-封", "解🔥封"]),
           ("账号", ["帐号", "號", "账户"]), ("登录", ["登陆"])]
TRAD = str.maketrans("账号封说这为们会请问该么对时", "賬號封說這為們會請問該麼對時")
FILLER = ["", "", "在吗 ", "急！", "求助 ", "大佬们 ", "hello ", "请问一下 ", "😭😭 ", "……"]
TAIL = ["", "", "", " 谢谢", "？？", " 在线等", " 急急急", "!!!", " 🙏"]

def vary(t, r):
    for word, alts in ALIASES:
        if word in t and r.random() < 0.3:
            t = t.replace(word, r.choice(alts), 1)
    if r.random() < 0.1:
        t = t.translate(TRAD)
    if r.random() < 0.1:
        t = "".join(chr(ord(c) + 0xFEE0) if "0" <= c <= "9" else c for c in t)
    if r.random() < 0.15:
        t += f" {r.randint(100, 5000)}元"
    if r.random() < 0.08:
        t += f" 加V jf{r.randint(1000, 99999)}"
    if r.random() < 0.05:
        t += f" 验证码 {r.randint(100000, 999999)}"
    if r.random() < 0.1:
        t = t.upper() if t.isascii() else t
    return r.choice(FILLER) + t + r.choice(TAIL)

def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    r = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 42)
    out = sys.stdout
    for _ in range(n):
        out.write(json.dumps({"text": vary(r.choice(seeds), r)}, ensure_ascii=False))
        out.write("\n")

main()
