"""V.250 command-line syntax: split the body of one ``AT...`` line into commands (sans-I/O, pure)."""

from __future__ import annotations

from dataclasses import dataclass

from roamline.hil.errors import PeerError


class AtSyntaxError(PeerError):
    """The command line does not follow V.250 syntax (the modem answers ERROR)."""


@dataclass(frozen=True, slots=True)
class Cmd:
    """One command. ``name``: "E", "&F", "S7", "D", "+VCID"...; ``op``: "" (action / basic with
    value), "=" (set), "?" (read), "=?" (test); ``arg``: the text after the name/op."""

    name: str
    op: str = ""
    arg: str = ""


_EXT_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!%-./:_")


def parse(body: str) -> list[Cmd]:
    """Parse what follows "AT" (already without the terminating CR). Spaces outside quotes are ignored."""
    cmds: list[Cmd] = []
    s = body
    i, n = 0, len(s)
    while i < n:
        c = s[i].upper()
        if c in " ;":
            i += 1
            continue
        if c == "D":  # dial: the rest of the line (V.250: D ends the command line)
            cmds.append(Cmd("D", "", s[i + 1 :].strip()))
            return cmds
        if c in "+#%":
            j = i + 1
            while j < n and s[j].upper() in _EXT_CHARS:
                j += 1
            name = c + s[i + 1 : j].upper()
            if len(name) < 2:
                raise AtSyntaxError("empty extended command name")
            op, k = "", j
            if s.startswith("=?", j):
                op, k = "=?", j + 2
            elif k < n and s[k] == "?":
                op, k = "?", j + 1
            elif k < n and s[k] == "=":
                op, k = "=", j + 1
            # the argument runs to the next ';' outside a quoted string
            start, quoted = k, False
            while k < n and (quoted or s[k] != ";"):
                if s[k] == '"':
                    quoted = not quoted
                k += 1
            if quoted:
                raise AtSyntaxError("unterminated string")
            cmds.append(Cmd(name, op, s[start:k].strip() if not quoted else s[start:k]))
            i = k + 1
            continue
        if c == "S":
            j = i + 1
            while j < n and s[j].isdigit():
                j += 1
            if j == i + 1:
                raise AtSyntaxError("S without register number")
            reg = "S" + str(int(s[i + 1 : j]))
            if j < n and s[j] == "?":
                cmds.append(Cmd(reg, "?"))
                i = j + 1
            elif j < n and s[j] == "=":
                k = j + 1
                while k < n and s[k].isdigit():
                    k += 1
                cmds.append(Cmd(reg, "=", s[j + 1 : k] or "0"))
                i = k
            else:
                cmds.append(Cmd(reg, "", ""))
                i = j
            continue
        if c == "&" or c.isalpha():
            name = c
            j = i + 1
            if c == "&":
                if j >= n or not s[j].isalpha():
                    raise AtSyntaxError("& without a letter")
                name = "&" + s[j].upper()
                j += 1
            k = j
            while k < n and s[k].isdigit():
                k += 1
            cmds.append(Cmd(name, "", s[j:k]))
            i = k
            continue
        raise AtSyntaxError(f"unexpected character {s[i]!r}")
    return cmds


def split_args(arg: str) -> list[str]:
    """Comma-separated values, brackets/parentheses/quotes kept together (for +VTS=[f1,f2,d],1,2)."""
    out: list[str] = []
    depth, quoted = 0, False
    cur: list[str] = []
    for ch in arg:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "[({":
            depth += 1
        elif not quoted and ch in "])}":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [a for a in out] if arg.strip() else []
