"""Reading callgrind files: instructions grouped by component of the stack,
and the costliest functions."""
import re

from .procs import run


# Which part of the stack a function belongs to, by symbol and object.
COMPONENTS = (
    ("allocator (malloc/free)", r"\b(malloc|free|_int_malloc|_int_free|"
                                r"cfree|operator new|operator delete|"
                                r"tcache|malloc_consolidate|realloc|calloc)"),
    ("C++ RTTI (dynamic_cast)", r"__cxxabiv1|__dynamic_cast"),
    ("actorserve", r"actorserve::"),
    ("RESTinio, asio, http-parser", r"restinio::|asio::|http_parser|"
                                    r"\bfmt::"),
    ("CAF (messages, mailboxes, scheduler)", r"caf::|libcaf"),
    ("libstdc++ (strings, maps, shared_ptr)", r"std::|libstdc\+\+"),
    ("libc (memcpy, locks, syscall stubs)", r"libc\.so|ld-linux|"
                                            r"pthread|__GI_|memcpy|memmove|"
                                            r"strlen|memset|memcmp"),
)


def short_name(what):
    """'file:ns::f(args) [obj]' -> 'ns::f' (templates and arguments cut)."""
    name = what.split(":", 1)[1] if not what.startswith("???") else \
        what[4:]
    name = re.sub(r"\s*\[[^\]]*\]$", "", name)
    depth, out = 0, ""
    for ch in name:  # drop <...> and (...) contents
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif depth == 0:
            out += ch
    out = re.sub(r"'\d+$", "", out.strip())
    out = re.sub(r"\s+const$", "", out)
    return out.split(" ")[-1][:80]


def components(path):
    """Self instruction counts grouped by COMPONENTS, and the top functions,
    from a callgrind file."""
    r = run(["callgrind_annotate", "--inclusive=no", "--threshold=100",
             "--auto=no", path], timeout=300)
    groups = {name: 0 for name, _ in COMPONENTS}
    groups["other"] = 0
    top = []
    # The function table follows the "file:function" header.
    text = r.stdout.split("file:function", 1)[-1]
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", line)
        if not m or ":" not in m.group(2):
            continue
        count = int(m.group(1).replace(",", ""))
        what = m.group(2)
        if what.startswith("PROGRAM TOTALS"):
            continue
        if len(top) < 12:
            top.append((short_name(what), count))
        for name, pattern in COMPONENTS:
            if re.search(pattern, what):
                groups[name] += count
                break
        else:
            groups["other"] += count
    return groups, top
