"""The page's fuzzing section (`bench/run --only fuzz`)."""
from .fmt import fmt_int


class FuzzSection:
    """Executions, coverage and findings of the fuzzing campaign."""

    def fuzz_section(self):
        f = self.r.get("fuzz") or {}
        if not f.get("harnesses"):
            return
        self.w("## Fuzzing", "",
               f"`tools/fuzz --seconds {f['seconds']} --keep-going`: each "
               "libFuzzer harness of tests/fuzz (ASan + UBSan) for that long "
               "over its seed corpus, one at a time, collecting every "
               "crashing input; `cov` and `ft` are the code edges and "
               "libFuzzer's finer features as its fork mode counts them "
               "(not comparable with a plain run's). What each "
               "harness asserts, and the findings so far, are in "
               "docs/reliability.md.", "",
               "| harness | executions | per second | cov | ft | new corpus "
               "| crashes | status |", "|---|---|---|---|---|---|---|---|")
        for name, h in f["harnesses"].items():
            rate = h["execs"] / h["seconds"] if h["seconds"] else 0
            self.w(f"| {name} | {fmt_int(h['execs'])} | {fmt_int(rate)} | "
                   f"{h['cov']} | {h['ft']} | {h['new_corpus']} | "
                   f"{h['crashes']} | {h['status']} |")
        self.w("")
        for name, h in f["harnesses"].items():
            for why in h.get("findings", [])[:10]:
                self.w(f"- **{name}**: `{why}`")
        http = f.get("http") or {}
        if http.get("status") is None and http.get("output"):
            self.w("", f"tools/httpfuzz did not run: {http['output']}.")
        elif http.get("output"):
            self.w("", f"`tools/httpfuzz` against the demo "
                   f"({http.get('count')} requests, seed 1, "
                   f"{http.get('wall_s')} s): exit status "
                   f"{http.get('status')}.", "", "```",
                   http["output"].splitlines()[-1], "```")
        self.w("")
