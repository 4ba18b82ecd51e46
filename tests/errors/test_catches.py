"""Catches list no redundant types: in ``except (A, B)`` (or ``suppress(A, B)``) neither may be a subclass
of the other.

Every product module is parsed; each name in a tuple of an ``except`` is resolved to the class it names
(module globals, then imports anywhere in the file, then builtins), in a child process that imports the
modules, so their import-time work stays out of this one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCAN = textwrap.dedent(r"""
    import ast, builtins, importlib, json, pkgutil
    from pathlib import Path
    import roamline

    def imported_names(tree):
        names = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    names[a.asname or a.name] = (node.module, a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    top = a.name.split(".")[0]
                    names[a.asname or top] = (a.name if a.asname else top, None)
        return names

    def resolve(expr, module, names):
        if isinstance(expr, ast.Attribute):
            base = resolve(expr.value, module, names)
            return getattr(base, expr.attr)
        if not isinstance(expr, ast.Name):
            raise LookupError(ast.dump(expr))
        if expr.id in vars(module):
            return vars(module)[expr.id]
        if expr.id in names:
            mod, attr = names[expr.id]
            m = importlib.import_module(mod)
            return m if attr is None else getattr(m, attr)
        return getattr(builtins, expr.id)

    checked, redundant, unresolved = 0, [], []
    for info in pkgutil.walk_packages(roamline.__path__, "roamline."):
        module = importlib.import_module(info.name)
        path = Path(module.__file__)
        tree = ast.parse(path.read_text(), str(path))
        names = imported_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Tuple):
                listed = node.type.elts
            elif (isinstance(node, ast.Call) and len(node.args) > 1
                  and ast.unparse(node.func) in ("suppress", "contextlib.suppress")):
                listed = node.args
            else:
                continue
            try:
                types = [(ast.unparse(e), resolve(e, module, names)) for e in listed]
            except (AttributeError, LookupError, ImportError) as exc:
                unresolved.append(f"{info.name}:{node.lineno}: {exc}")
                continue
            checked += 1
            for a_name, a in types:
                for b_name, b in types:
                    if a is not b and issubclass(a, b):
                        redundant.append(f"{info.name}:{node.lineno}: {a_name} is a {b_name}")
                    elif a is b and a_name != b_name:
                        redundant.append(f"{info.name}:{node.lineno}: {a_name} and {b_name} are one class")
    print(json.dumps({"checked": checked, "redundant": redundant, "unresolved": unresolved}))
""")


def test_no_except_tuple_lists_a_subclass_of_another_member() -> None:
    done = subprocess.run([sys.executable, "-P", "-c", SCAN], capture_output=True, text=True, check=True,
                          timeout=120)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["unresolved"] == []
    assert result["checked"] > 20  # the scan found the catches (there are about thirty)
    assert result["redundant"] == []


def test_the_scan_finds_a_planted_redundant_catch(tmp_path: object) -> None:
    # The same resolution rules on a planted module: OSError already covers serial's exception.
    planted = textwrap.dedent('''
        import contextlib
        import serial
        from roamline.wire.errors import PeerError, RequestTimeout
        def f():
            try:
                pass
            except (serial.SerialException, OSError):
                pass
            except (PeerError, RequestTimeout):
                pass
            with contextlib.suppress(KeyError, LookupError):
                pass
    ''')
    probe = SCAN.replace("for info in pkgutil.walk_packages(roamline.__path__, \"roamline.\"):",
                         "import types, sys as _s\n"
                         "_m = types.ModuleType('roamline.planted'); _m.__file__ = _s.argv[1]\n"
                         "_s.modules['roamline.planted'] = _m\n"
                         "for info in [type('I', (), {'name': 'roamline.planted'})]:")
    assert probe != SCAN
    from pathlib import Path

    path = Path(str(tmp_path)) / "planted.py"
    path.write_text(planted)
    done = subprocess.run([sys.executable, "-P", "-c", probe, str(path)], capture_output=True, text=True,
                          check=True, timeout=60)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result["redundant"]) == {"roamline.planted:8: serial.SerialException is a OSError",
                                        "roamline.planted:10: RequestTimeout is a PeerError",
                                        "roamline.planted:12: KeyError is a LookupError"}
