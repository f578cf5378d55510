#!/usr/bin/env python3
"""Generate amqpish/codec/spec.py from RabbitMQ's machine-readable AMQP 0-9-1 spec.

How it works: the JSON (amqp-rabbitmq-0.9.1.json, as shipped with
rabbitmq-codegen) is loaded, every argument is resolved to its wire type, and
for each method a slotted class is emitted whose ``encode_args`` and
``decode_args`` are straight-line code for exactly that argument list:
adjacent fixed-width fields, packed bit octets and the length prefix of a
following string are read or written with one precompiled ``struct.Struct``.
The text is piped through ``ruff format`` so the generated file is formatted
exactly like hand-written code; ``--check`` regenerates in memory and fails if
the file on disk differs.

Usage: python tools/gen_spec.py [SPEC_JSON] [--check] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT.parent / "shared" / "spec" / "amqp-rabbitmq-0.9.1.json"
DEFAULT_OUTPUT = ROOT / "amqpish" / "codec" / "spec.py"

# The JSON keeps the 0-8 names of two 0-9-1 fields; the 0-9-1 names are the
# API the rest of amqpish uses. "global" is a Python keyword.
RENAMES = {"ticket": "reserved_1", "nowait": "no_wait", "global": "global_"}

# struct codes of the fixed-width wire types.
FIXED = {"octet": "B", "short": "H", "long": "I", "longlong": "Q", "timestamp": "Q"}
PY_TYPES = {
    "octet": "int",
    "short": "int",
    "long": "int",
    "longlong": "int",
    "timestamp": "int",
    "bit": "bool",
    "shortstr": "str",
    "longstr": "bytes",
    "table": "dict[str, Any]",
}
ZERO = {"int": "0", "bool": "False", "str": '""', "bytes": 'b""'}

# Names the generated method bodies use for their own locals.
RESERVED_LOCALS = {"buf", "offset", "end", "o", "n", "cls", "self", "exc"}


@dataclass
class Arg:
    name: str  # Python attribute name
    wire: str  # resolved wire type
    default: Any  # JSON default-value, or None


@dataclass
class Meth:
    class_name: str
    class_id: int
    name: str
    method_id: int
    synchronous: bool
    content: bool
    args: list[Arg]

    @property
    def py_name(self) -> str:
        return camel(self.class_name) + camel(self.name)

    @property
    def amqp_name(self) -> str:
        return f"{self.class_name}.{self.name}"


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def const_name(name: str) -> str:
    return name.upper().replace("-", "_")


def load(path: Path) -> tuple[dict[str, Any], list[Meth]]:
    spec = json.loads(path.read_text())
    domains = {d[0]: d[1] for d in spec["domains"]}

    def resolve(arg: dict[str, Any]) -> str:
        wire = str(arg.get("type") or domains[arg["domain"]])
        while wire in domains and domains[wire] != wire:
            wire = domains[wire]
        if wire not in PY_TYPES:
            raise SystemExit(f"unsupported wire type {wire!r}")
        return wire

    methods = []
    for klass in spec["classes"]:
        for m in klass["methods"]:
            args = []
            for a in m["arguments"]:
                py = a["name"].replace("-", "_")
                py = RENAMES.get(py, py)
                if py in RESERVED_LOCALS:
                    raise SystemExit(f"argument name {py!r} collides with a generated local")
                args.append(Arg(py, resolve(a), a.get("default-value")))
            methods.append(
                Meth(
                    klass["name"],
                    klass["id"],
                    m["name"],
                    m["id"],
                    bool(m.get("synchronous", False)),
                    bool(m.get("content", False)),
                    args,
                )
            )
    return spec, methods


class Structs:
    """The precompiled struct.Struct objects the generated code needs, by format."""

    def __init__(self) -> None:
        self.formats: list[str] = []

    def name(self, fmt: str) -> str:
        if fmt not in self.formats:
            self.formats.append(fmt)
        return "_S_" + fmt


def default_expr(arg: Arg) -> str:
    py = PY_TYPES[arg.wire]
    if arg.wire == "table":
        return "None"
    if arg.default is None:
        return ZERO[py]
    if py == "bytes":
        return repr(str(arg.default).encode())
    if py == "bool":
        return repr(bool(arg.default))
    return repr(arg.default)


def bit_groups(args: list[Arg]) -> list[list[Arg] | Arg]:
    """Arguments with runs of consecutive bits folded into lists of at most 8."""
    out: list[list[Arg] | Arg] = []
    for a in args:
        last = out[-1] if out else None
        if a.wire == "bit" and isinstance(last, list) and len(last) < 8:
            last.append(a)
        elif a.wire == "bit":
            out.append([a])
        else:
            out.append(a)
    return out


def gen_encode(m: Meth, structs: Structs) -> list[str]:
    prep: list[str] = []
    parts: list[str] = []
    fmt = ""
    exprs: list[str] = []

    def flush() -> None:
        nonlocal fmt, exprs
        if fmt:
            parts.append(f"{structs.name(fmt)}.pack({', '.join(exprs)})")
        fmt, exprs = "", []

    for item in bit_groups(m.args):
        if isinstance(item, list):
            fmt += "B"
            terms = [f"{1 << i} if self.{a.name} else 0" for i, a in enumerate(item)]
            exprs.append(terms[0] if len(terms) == 1 else " | ".join(f"({t})" for t in terms))
            continue
        a = item
        if a.wire in FIXED:
            fmt += FIXED[a.wire]
            exprs.append(f"self.{a.name}")
        elif a.wire == "shortstr":
            prep.append(f"{a.name} = self.{a.name}.encode()")
            fmt += "B"
            exprs.append(f"len({a.name})")
            flush()
            parts.append(a.name)
        elif a.wire == "longstr":
            fmt += "I"
            exprs.append(f"len(self.{a.name})")
            flush()
            parts.append(f"self.{a.name}")
        else:  # table
            flush()
            parts.append(f"encode_table(self.{a.name})")
    flush()

    body = ["def encode_args(self) -> bytes:"]
    body += [f"    {line}" for line in prep]
    if not parts:
        return [*body, '    return b""']
    result = parts[0] if len(parts) == 1 else f'b"".join({tup(parts)})'
    if "_S_" not in result:
        return [*body, f"    return {result}"]
    return [
        *body,
        "    try:",
        f"        return {result}",
        "    except struct.error as exc:",
        "        raise _encode_error(self, exc) from exc",
    ]


def gen_decode(m: Meth, structs: Structs) -> list[str]:
    head = [
        "@classmethod",
        "def decode_args(cls, buf: bytes, offset: int, end: int) -> Self:",
    ]
    if not m.args:
        return [
            *head,
            "    if offset != end:",
            "        raise _decode_error(cls, buf, offset, end, offset)",
            "    return cls()",
        ]
    lines: list[str] = ["o = offset"]
    ctor: list[str] = []
    fmt = ""
    targets: list[str] = []
    nbits = 0

    def flush() -> None:
        nonlocal fmt, targets
        if len(fmt) == 1 and fmt == "B":
            lines.append(f"{targets[0]} = buf[o]")
        elif len(fmt) == 1:
            lines.append(f"({targets[0]},) = {structs.name(fmt)}.unpack_from(buf, o)")
        elif fmt:
            lines.append(f"{', '.join(targets)} = {structs.name(fmt)}.unpack_from(buf, o)")
        if fmt:
            lines.append(f"o += {struct_size(fmt)}")
        fmt, targets = "", []

    for item in bit_groups(m.args):
        if isinstance(item, list):
            nbits += 1
            var = "bits" if nbits == 1 else f"bits_{nbits}"
            fmt += "B"
            targets.append(var)
            ctor += [f"({var} & {1 << i}) != 0" for i in range(len(item))]
            continue
        a = item
        if a.wire in FIXED:
            fmt += FIXED[a.wire]
            targets.append(a.name)
        elif a.wire in ("shortstr", "longstr"):
            fmt += "B" if a.wire == "shortstr" else "I"
            targets.append("n")
            flush()
            value = "buf[o : o + n]" + (".decode()" if a.wire == "shortstr" else "")
            lines += [f"{a.name} = {value}", "o += n"]
        else:  # table
            flush()
            lines.append(f"{a.name}, o = decode_table(buf, o)")
        ctor.append(a.name)
    flush()
    return [
        *head,
        "    try:",
        *[f"        {line}" for line in lines],
        "    except (IndexError, struct.error, UnicodeDecodeError, ProtocolError) as exc:",
        "        raise _decode_error(cls, buf, offset, end, offset, exc) from None",
        "    if o != end:",
        "        raise _decode_error(cls, buf, offset, end, o)",
        f"    return cls({', '.join(ctor)})",
    ]


def tup(items: Iterable[str]) -> str:
    """A tuple display without a trailing comma (which would make ruff explode it)."""
    seq = list(items)
    return f"({seq[0]},)" if len(seq) == 1 else f"({', '.join(seq)})"


def bytes_literal(data: bytes) -> str:
    """A bytes literal with control octets as \\xNN (repr() would write \\t for 9)."""
    return 'b"' + "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in data) + '"'


def struct_size(fmt: str) -> int:
    return sum({"B": 1, "H": 2, "I": 4, "Q": 8}[c] for c in fmt)


def gen_class(m: Meth, structs: Structs) -> list[str]:
    names = [a.name for a in m.args]
    out = [
        f"class {m.py_name}(Method):",
        f'    """{m.amqp_name} ({m.class_id}, {m.method_id})."""',
        "",
        # Slot order is irrelevant; sorted keeps ruff's RUF023 quiet.
        f"    __slots__ = {tup(repr(n) for n in sorted(names))}",
        f"    __match_args__ = {tup(repr(n) for n in names)}",
        "",
        f"    CLASS_ID = {m.class_id}",
        f"    METHOD_ID = {m.method_id}",
        f"    INDEX = {m.class_id} << 16 | {m.method_id}",
        f'    NAME = "{m.amqp_name}"',
        f"    SYNCHRONOUS = {m.synchronous}",
        f"    HAS_CONTENT = {m.content}",
        f"    FIELDS = {tup(repr(n) for n in names)}",
        f"    FIELD_TYPES = {tup(repr(a.wire) for a in m.args)}",
        "",
    ]
    if m.args:
        out += [f"    {a.name}: {PY_TYPES[a.wire]}" for a in m.args]
        out.append("")
        params = []
        for a in m.args:
            hint = PY_TYPES[a.wire] + (" | None" if a.wire == "table" else "")
            params.append(f"{a.name}: {hint} = {default_expr(a)}")
        out.append(f"    def __init__(self, {', '.join(params)}) -> None:")
        for a in m.args:
            if a.wire == "table":
                out.append(f"        self.{a.name} = {{}} if {a.name} is None else {a.name}")
            else:
                out.append(f"        self.{a.name} = {a.name}")
        out.append("")
    out += [f"    {line}" for line in gen_encode(m, structs)]
    out.append("")
    out += [f"    {line}" for line in gen_decode(m, structs)]
    return out


PRELUDE = '''\
# GENERATED by tools/gen_spec.py from {source} — do not edit.
"""AMQP 0-9-1 constants and method classes, generated from RabbitMQ's spec JSON.

How it works: each method of the spec is a slotted ``Method`` subclass whose
``encode_args``/``decode_args`` are straight-line code specialised for its
argument list. Adjacent fixed-width fields, the octets of packed bits and the
length prefix of a following string are handled by one precompiled
``struct.Struct``; strings are sliced straight out of the frame buffer at an
integer offset. Decoding does not bounds-check field by field: a read past the
buffer raises IndexError/struct.error, and one final comparison of the offset
with the end of the frame payload catches both truncation and trailing bytes.

Undecodable arguments raise ``ProtocolError`` 501 FRAME_ERROR with the class
and method ids, as RabbitMQ does (rabbit_framing's ``decode_method_fields``
falls through to ``rabbit_misc:frame_error``, "cannot decode ..."; malformed
UTF-8 in a shortstr is ``frame_error`` too). Unlike RabbitMQ, which skips the
UTF-8 check on content-bearing methods for speed, every shortstr is checked
here because it is decoded to ``str``.

The JSON uses the AMQP 0-8 names ``ticket`` and ``nowait``; the classes use the
0-9-1 names ``reserved_1`` and ``no_wait``, and ``global`` is ``global_``.
"""

from __future__ import annotations

import enum
import struct
from typing import Any, ClassVar, Self

from .errors import ProtocolError
from .values import decode_table, encode_table
'''

HELPERS = '''
# See the module docstring: RabbitMQ's code for undecodable method arguments.
_MALFORMED = ReplyCode.FRAME_ERROR


def _decode_error(
    cls: type[Method], buf: bytes, offset: int, end: int, o: int, exc: Exception | None = None
) -> ProtocolError:
    if (exc is not None or o > end) and end < len(buf):
        # The failing read may have run past the payload into whatever follows it in
        # the buffer, which depends on how the input was chunked; decoding the payload
        # alone makes the error depend on the frame's bytes only.
        payload = buf[offset:end]
        try:
            cls.decode_args(payload, 0, len(payload))
        except ProtocolError as bounded:
            return bounded
    if isinstance(exc, UnicodeDecodeError):
        reason = "malformed UTF-8 in shortstr"
    elif isinstance(exc, ProtocolError):
        reason = exc.text
    elif exc is not None or o > end:
        reason = "arguments truncated"
    else:
        reason = f"{end - o} bytes after the arguments"
    return ProtocolError(_MALFORMED, f"cannot decode <<{reason} in {cls.NAME}>>", cls.CLASS_ID, cls.METHOD_ID)


def _encode_error(method: Method, exc: Exception) -> ValueError:
    return ValueError(f"cannot encode {method.NAME} arguments: {exc}")


class Method:
    """Base class of the AMQP methods: identity as class variables, arguments as slots."""

    __slots__ = ()

    CLASS_ID: ClassVar[int]
    METHOD_ID: ClassVar[int]
    INDEX: ClassVar[int]
    NAME: ClassVar[str]
    SYNCHRONOUS: ClassVar[bool]
    HAS_CONTENT: ClassVar[bool]
    #: Argument names, in wire order.
    FIELDS: ClassVar[tuple[str, ...]]
    #: Their wire types: octet, short, long, longlong, timestamp, bit, shortstr, longstr, table.
    FIELD_TYPES: ClassVar[tuple[str, ...]]

    def encode_args(self) -> bytes:
        """The method's argument bytes (what follows class-id and method-id)."""
        raise NotImplementedError

    @classmethod
    def decode_args(cls, buf: bytes, offset: int, end: int) -> Self:
        """Decode the arguments in ``buf[offset:end]``; raise ProtocolError if malformed."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self.FIELDS)

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.FIELDS)
        return f"{type(self).__name__}({args})"
'''


def generate(spec_path: Path) -> str:
    spec, methods = load(spec_path)
    structs = Structs()
    classes: list[str] = []
    for m in methods:
        classes += ["", "", *gen_class(m, structs)]

    out = [PRELUDE.format(source=spec_path.name)]
    consts = {c["name"]: c for c in spec["constants"]}
    for name in ("FRAME-METHOD", "FRAME-HEADER", "FRAME-BODY", "FRAME-HEARTBEAT"):
        out.append(f"{const_name(name)} = {consts[name]['value']}")
    out.append(f"FRAME_END = {consts['FRAME-END']['value']}")
    out.append(f"FRAME_MIN_SIZE = {consts['FRAME-MIN-SIZE']['value']}")
    version = (spec["major-version"], spec["minor-version"], spec["revision"])
    header = b"AMQP\x00" + bytes(version)
    out.append(f"PROTOCOL_HEADER = {bytes_literal(header)}")
    out.append(f"PORT = {spec['port']}")
    out.append("")
    for klass in spec["classes"]:
        out.append(f"CLASS_{const_name(klass['name'])} = {klass['id']}")
    out.append("")
    out.append("")
    out.append("class ReplyCode(enum.IntEnum):")
    out.append('    """The reply codes of the spec (connection.close / channel.close)."""')
    out.append("")
    # Reply codes are the constants with an error class, plus reply-success.
    codes = [c for c in spec["constants"] if "class" in c or c["name"].startswith("REPLY-")]
    codes.sort(key=lambda c: int(c["value"]))
    for c in codes:
        out.append(f"    {const_name(c['name'])} = {c['value']}")
    out.append("")
    out.append("")
    hard = [const_name(c["name"]) for c in codes if c.get("class") == "hard-error"]
    out.append(
        "# Codes the spec classes as hard errors: they close the connection, not the channel."
    )
    out.append(
        "HARD_ERRORS: frozenset[int] = frozenset({"
        + ", ".join(f"ReplyCode.{n}" for n in hard)
        + "})"
    )
    out.append("")
    for fmt in structs.formats:
        out.append(f'_S_{fmt} = struct.Struct(">{fmt}")')
    out.append(HELPERS)
    out += classes
    out.append("")
    out.append("")
    out.append(
        "# Method classes by INDEX (class-id << 16 | method-id), as the frame decoder looks them up."
    )
    out.append("METHODS: dict[int, type[Method]] = {")
    out += [f"    {m.py_name}.INDEX: {m.py_name}," for m in methods]
    out.append("}")
    out.append("")
    return ruff_format("\n".join(out))


def ruff_format(source: str) -> str:
    cmd = [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(DEFAULT_OUTPUT), "-"]
    try:
        done = subprocess.run(cmd, input=source, capture_output=True, text=True, cwd=ROOT)
    except OSError as exc:
        raise SystemExit(f"gen_spec: cannot run ruff format: {exc}") from exc
    if done.returncode != 0:
        raise SystemExit(f"gen_spec: ruff format failed:\n{done.stderr}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the output file is not up to date"
    )
    opts = parser.parse_args(argv)
    text = generate(opts.spec)
    if opts.check:
        current = opts.output.read_text() if opts.output.exists() else ""
        if current != text:
            print(
                f"{opts.output} is out of date with {opts.spec}: run python tools/gen_spec.py",
                file=sys.stderr,
            )
            return 1
        return 0
    opts.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
