#!/usr/bin/env python3
"""Check the module structure of the workspace's crates against scripts/layers.toml.

Run from the repository root:  python3 scripts/check_layers.py [--strict] [--config FILE] [--root DIR]
Exit 0 when every rule holds, 1 otherwise; each violation is printed with its file:line.

A crate's module tree is built by following the `mod x;` declarations from src/lib.rs
(or src/main.rs): `x.rs` or `x/mod.rs` beside lib.rs/main.rs/mod.rs, `foo/x.rs` or
`foo/x/mod.rs` for a `mod x;` in `foo.rs`. Inline `mod x { ... }` blocks belong to their
file's module. Test code is left out: a `mod x;` under `#[cfg(test)]` (or
`#[cfg(all(test, ...))]`) is not followed, and the item after such an attribute (usually
`mod tests { ... }`) is ignored. So are comments and the contents of string literals.

References are the paths that start with `crate::`, `$crate::`, `self::` or `super::`, in
`use` trees (braces and several lines included) and anywhere else in the code. Each one
resolves to the longest module path that exists (`crate::store::Store` -> `store`).

1. No cycles. Under every module M, M's children are nodes and A -> B when code in A (or
   below it) references B (or below it). Each strongly connected component of more than
   one child is reported, with an example reference per edge. Referencing one's own
   ancestors (the parent, the crate root) makes no edge.
2. Layers. [crates.NAME.layers] maps a parent module ("crate" is the root) to its
   children's layers, top first. A child may reference its own layer or lower ones, never
   a higher one, and every child must be placed in a layer.
3. Forbidden tokens. [crates.NAME.forbid] maps a module path prefix ("crate" is the whole
   crate) to tokens that must not appear in its code as whole words (`http::`, `axum`).
4. Crate dependencies. [workspace] layers lists the crates' layers, top first: a crate
   may depend (normal, optional and target [dependencies]; not dev) on crates of its own
   layer or lower ones. [external] maps an external crate to the only crates that may use it.

A crate whose src dir or Cargo.toml does not exist is skipped with a warning (an error
with --strict), so that the file can describe a planned layout.
"""
import argparse
import bisect
import re
import sys
import tomllib
from pathlib import Path

LEX = re.compile(r"""//|/\*|(?<!\w)[bc]?r(\#*)"|"|'""")


def strip_code(text):
    """Comments become a blank, string and char literals `""`; every newline is kept."""
    out, i, n = [], 0, len(text)
    while m := LEX.search(text, i):
        out.append(text[i:m.start()])
        tok, j = m.group(), m.end()
        if tok == "//":
            j = text.find("\n", j) % (n + 1)  # -1 (no newline) -> n
        elif tok == "/*":  # block comments nest
            depth = 1
            while depth and j < n:
                step = {"/*": 1, "*/": -1}.get(text[j:j + 2], 0)
                depth, j = depth + step, j + (2 if step else 1)
        elif tok == '"':
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
        elif tok == "'":
            if text[j:j + 1] == "\\":  # '\n', '\'', '\u{7b}'
                j = text.find("'", j + 2) + 1 or n
            elif text[j + 1:j + 2] == "'":  # '{'
                j += 2
            else:  # a lifetime or a loop label
                out.append("'")
                i = j
                continue
        else:  # a raw string, r#"..."#
            j = text.find('"' + m.group(1), j) % (n + 1) + 1 + len(m.group(1))
        out.append((" " if tok in ("//", "/*") else '""') + "\n" * text.count("\n", m.start(), j))
        i = j
    return "".join(out) + text[i:]


def is_test_cfg(attr):
    """`#[cfg(test)]` or `#[cfg(all(test, ...))]`; not `not(test)`, nor `any(test, ...)`."""
    attr = re.sub(r"\bnot\s*\([^()]*\)", "", attr)
    return bool(re.match(r"#!?\[\s*cfg\s*\(\s*(test\s*\)|all\s*\(.*\btest\b)", attr, re.S))


ITEM = re.compile(r"#!?\[|[{};]")


def blank_tests(code):
    """Blank out the item after each test-only attribute: up to `;` or its `{ ... }` block."""
    ranges, depth, pending, test_depth, pos = [], 0, None, None, 0
    while m := ITEM.search(code, pos):
        tok, pos = m.group(), m.end()
        if tok.startswith("#"):
            level = 0
            while pos < len(code) and (level or code[pos] != "]"):
                level += {"[": 1, "]": -1}.get(code[pos], 0)
                pos += 1
            if test_depth is None and is_test_cfg(code[m.start():pos + 1]):
                if tok == "#![" and depth == 0:
                    return re.sub(r"[^\n]", " ", code)  # the whole file is test-only
                pending = m.start() if pending is None else pending
        elif tok == "{":
            depth += 1
            if pending is not None and test_depth is None:
                test_depth, start, pending = depth, pending, None
        elif tok == "}":
            if test_depth == depth:
                ranges.append((start, pos))
                test_depth = None
            depth, pending = depth - 1, None
        elif pending is not None and test_depth is None:  # `;` ends the item
            ranges.append((pending, pos))
            pending = None
    for a, b in reversed(ranges):
        code = code[:a] + re.sub(r"[^\n]", " ", code[a:b]) + code[b:]
    return code


SCAN = re.compile(r"""(?P<open>\{)|(?P<close>\})|\bmod\s+(?P<mod>\w+)\s*(?P<end>[;{])|(?P<use>\buse\b)
    |(?P<path>\b(?:crate|super|self)(?:\s*::\s*\w+)+)""", re.X)
USE_TOKEN = re.compile(r"\w+|::|[{},*;]")


def use_paths(code, start):
    """The leaf paths of the `use` tree at `start`, as (segments, offset of the last one), and its end."""
    toks, end, out = [], len(code), []
    for m in USE_TOKEN.finditer(code, start):
        if m.group() == ";":
            end = m.end()
            break
        toks.append((m.group(), m.start()))

    def tree(i, segs):
        at = None
        while i < len(toks) and toks[i][0] not in (",", "}"):
            tok, p = toks[i]
            if tok == "{":
                i += 1
                while i < len(toks) and toks[i][0] != "}":
                    i = tree(i, segs)
                    i += i < len(toks) and toks[i][0] == ","
                return i + 1
            if tok == "as":
                i += 1
            elif tok != "::":
                segs, at = segs + [tok], p
            i += 1
        if at is not None:
            out.append((segs, at))
        return i

    tree(0, [])
    return out, end


def scan_file(code):
    """`mod x;` declarations and references, each as (enclosing inline modules, name or segments, offset)."""
    decls, refs, stack, pos = [], [], [], 0
    while m := SCAN.search(code, pos):
        pos, inline = m.end(), tuple(s for s in stack if s)
        if m["open"]:
            stack.append(None)
        elif m["close"]:
            stack = stack[:-1]
        elif m["mod"] and m["end"] == ";":
            decls.append((inline, m["mod"], m.start("mod")))
        elif m["mod"]:
            stack.append(m["mod"])
        elif m["use"]:
            paths, pos = use_paths(code, pos)
            refs += [(inline, segs, at) for segs, at in paths if segs[0] in ("crate", "self", "super")]
        else:
            refs.append((inline, re.split(r"\s*::\s*", m["path"]), m.start()))
    return decls, refs


class Crate:
    """The module tree of one crate (`modules`: path tuple -> file) and its references."""

    def __init__(self, name, src, root):
        self.name, self.root, self.modules, self.declared, self.code, self.warnings = name, root, {}, {}, {}, []
        top = src / "lib.rs" if (src / "lib.rs").exists() else src / "main.rs"
        queue, raw, self.declared[()] = [((), top)], [], rel(top, root)
        while queue:
            mod, file = queue.pop()
            self.modules[mod] = file
            self.code[mod] = code = blank_tests(strip_code(file.read_text(encoding="utf-8")))
            newlines = [i for i, c in enumerate(code) if c == "\n"]
            where = lambda off: f"{rel(file, root)}:{bisect.bisect_left(newlines, off) + 1}"  # noqa: E731
            base = file.parent if file.name in ("lib.rs", "main.rs", "mod.rs") else file.with_suffix("")
            decls, refs = scan_file(code)
            for inline, name, off in decls:
                d = base.joinpath(*inline)
                found = [f for f in (d / f"{name}.rs", d / name / "mod.rs") if f.exists()]
                if found:
                    queue.append((mod + inline + (name,), found[0]))
                    self.declared[mod + inline + (name,)] = where(off)
                else:
                    self.warnings.append(f"{where(off)}: no file for `mod {name};`")
            raw += [(mod, mod + inline, segs, where(off)) for inline, segs, off in refs]
        # (module, module referenced, file:line, path as written), once the whole tree is known
        self.refs = [(mod, self.resolve(scope, segs), at, "::".join(segs).removesuffix("::self"))
                     for mod, scope, segs, at in raw]

    def resolve(self, scope, segs):
        cur = () if segs[0] == "crate" else scope[:-1] if segs[0] == "super" else scope
        rest = segs[1:]
        while rest and rest[0] in ("super", "self"):
            cur = cur[:-1] if rest.pop(0) == "super" else cur
        if cur not in self.modules:  # from inside an inline module: stop at its file's module
            while cur not in self.modules:
                cur = cur[:-1]
            return cur
        for seg in rest:
            if cur + (seg,) not in self.modules:
                break
            cur += (seg,)
        return cur

    def children(self, parent):
        n = len(parent)
        return sorted({m[n] for m in self.modules if len(m) > n and m[:n] == parent})

    def sibling_refs(self):
        """(parent, a, b, where, text) for each reference from child a of parent into its sibling b."""
        for src, dst, where, text in self.refs:
            k = 0
            while k < min(len(src), len(dst)) and src[k] == dst[k]:
                k += 1
            if k < len(src) and k < len(dst):  # else an ancestor, itself or a descendant
                yield dst[:k], src[k], dst[k], where, text


def rel(path, root):
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def show(mod):
    return "::".join(mod) if mod else "crate"


def module_path(key):
    return () if key == "crate" else tuple(key.removeprefix("crate::").split("::"))


def tarjan(nodes, edges):
    """The strongly connected components of the graph, each a sorted list."""
    index, low, stack, out = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(b for a, b in edges if a == v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            k = stack.index(v)
            out.append(sorted(stack[k:]))
            del stack[k:]

    for n in nodes:
        if n not in index:
            visit(n)
    return out


def check_crate(crate, rules, errors):
    """Rules 1-3 on one crate; returns the number of cycles."""
    graphs, cycles, tag = {}, 0, f"[{crate.name}]"
    for parent, a, b, where, text in crate.sibling_refs():
        graphs.setdefault(parent, {}).setdefault((a, b), f"{where}: {text}")
    for parent, edges in sorted(graphs.items()):
        for comp in tarjan(crate.children(parent), edges):
            if len(comp) > 1:
                cycles += 1
                errors.append(f"{tag} cycle among the children of `{show(parent)}`: {', '.join(comp)}" + "".join(
                    f"\n    {a} -> {b}: {ex}" for (a, b), ex in sorted(edges.items()) if a in comp and b in comp))
    ranks = {}
    for key, layers in rules.get("layers", {}).items():
        parent = module_path(key)
        if parent not in crate.modules:
            crate.warnings.append(f"{tag} layers for `{key}`: no such module")
            continue
        ranks[parent] = rank = {m: i + 1 for i, layer in enumerate(layers) for m in layer}
        kids = crate.children(parent)
        errors += [f"{crate.declared[parent + (m,)]}: {tag} module `{m}` under `{show(parent)}` is not placed "
                   f"in a layer" for m in kids if m not in rank]
        crate.warnings += [f"{tag} layers for `{key}` name `{m}`, which does not exist"
                           for m in sorted(set(rank) - set(kids))]
    for parent, a, b, where, text in crate.sibling_refs():
        rank = ranks.get(parent, {})
        if a in rank and b in rank and rank[b] < rank[a]:
            errors.append(f"{where}: {tag} layers under `{show(parent)}`: `{a}` (layer {rank[a]}) may not "
                          f"reference `{b}` (layer {rank[b]}, higher): {text}")
    for key, tokens in rules.get("forbid", {}).items():
        prefix = module_path(key)
        words = "|".join(re.escape(t) + (r"\b" if re.match(r"\w", t[-1]) else "") for t in tokens)
        pattern = re.compile(rf"(?<![\w$])(?:{words})")
        for mod, code in sorted(crate.code.items()):
            if mod[:len(prefix)] == prefix:
                errors += [f"{rel(crate.modules[mod], crate.root)}:{n}: {tag} `{m.group()}` is forbidden under "
                           f"`{key}`: {line.strip()}"
                           for n, line in enumerate(code.split("\n"), 1) for m in pattern.finditer(line)]
    return cycles


def check_manifests(config, manifests, root, errors):
    """Rule 4 on the crates' Cargo.toml files."""
    rank = {c: i + 1 for i, layer in enumerate(config.get("workspace", {}).get("layers", [])) for c in layer}
    allowed = config.get("external", {})
    for name, manifest in manifests.items():
        text = manifest.read_text(encoding="utf-8")
        data = tomllib.loads(text)
        tables = [data.get("dependencies", {})] + [t.get("dependencies", {}) for t in data.get("target", {}).values()]
        deps = {(v.get("package", k) if isinstance(v, dict) else k): k for t in tables for k, v in t.items()}
        lines, table = {}, ""  # the line of each dependency, for the messages
        for n, line in enumerate(text.splitlines(), 1):
            if header := re.match(r"\s*\[([^\]]*)\]", line):
                table = header[1].strip()
            if header and (m := re.search(r'(?:^|\.)dependencies\."?([\w-]+)', table)):
                lines.setdefault(m[1], n)
            elif (m := re.match(r'\s*"?([\w-]+)"?\s*=', line)) and re.search(r"(^|\.)dependencies$", table):
                lines.setdefault(m[1], n)
        for dep, key in sorted(deps.items()):
            where = f"{rel(manifest, root)}:{lines.get(key, 1)}"
            if dep in rank and name in rank and rank[dep] < rank[name]:
                errors.append(f"{where}: {name} (crate layer {rank[name]}) may not depend on {dep} "
                              f"(crate layer {rank[dep]}, higher)")
            if dep in allowed and name not in allowed[dep]:
                errors.append(f"{where}: {name} may not depend on {dep}: only {', '.join(allowed[dep])} may")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="scripts/layers.toml")
    parser.add_argument("--root", default=".", help="the directory the config's paths are relative to")
    parser.add_argument("--strict", action="store_true", help="a missing crate dir or Cargo.toml is an error")
    args = parser.parse_args()
    root = Path(args.root)
    config = tomllib.loads(Path(args.config).read_text(encoding="utf-8"))
    errors, warnings, manifests, cycles, modules, crates = [], [], {}, 0, 0, 0
    missing = errors if args.strict else warnings
    for name, rules in config.get("crates", {}).items():
        manifest, src = root / rules.get("manifest", "-"), root / rules.get("src", "-")
        if manifest.exists():
            manifests[name] = manifest
        elif "manifest" in rules:
            missing.append(f"[{name}] {manifest}: no such file, its dependencies are not checked")
        if not (src / "lib.rs").exists() and not (src / "main.rs").exists():
            missing.append(f"[{name}] {src}: no lib.rs or main.rs, its modules are not checked")
            continue
        crate = Crate(name, src, root)
        cycles += check_crate(crate, rules, errors)
        warnings += crate.warnings
        crates, modules = crates + 1, modules + len(crate.modules)
    check_manifests(config, manifests, root, errors)
    print("".join(f"warning: {w}\n" for w in warnings) + "".join(f"{e}\n" for e in errors), end="")
    print(f"layers: {crates} crates, {modules} modules, {cycles} cycles, {len(errors) - cycles} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
