"""Where the proxy spends its CPU under load: ``modelpilot proxy`` run under pyinstrument.

    python -m bench.profile_proxy [--requests 4000] [--concurrency 32] [--routing] [--stream]
        [--html OUT.html] [--json]

The proxy (routing on with ``--routing``: a local control plane on SQLite) runs under
``pyinstrument`` in front of the simulator; ``--requests`` non-streaming requests (streaming with
``--stream``) are sent at ``--concurrency``; then the proxy is stopped with SIGINT so pyinstrument
writes its report. Prints the text report (and the requests/s it was measured at; profiling slows
the proxy, so that figure is only a label). ``--json`` prints the pyinstrument session instead.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import orjson

from bench._harness import (
    bench_parser,
    control_plane,
    free_port,
    json_flag,
    start_modelpilot,
    start_process,
)
from bench._traffic import MODEL, throughput_round


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--routing", action="store_true")
    parser.add_argument("--stream", action="store_true", help="profile streaming requests")
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    parser.add_argument("--show-all", action="store_true", help="do not hide library frames")
    json_flag(parser)
    args = parser.parse_args(argv)
    body = orjson.dumps(
        {
            "model": MODEL,
            "max_tokens": 64,
            "stream": args.stream,
            "messages": [{"role": "user", "content": "Say hello."}],
        }
    )
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        simulator = start_modelpilot("simulator", ["sim"])
        stack.callback(simulator.stop)
        port = free_port()
        renderer = "json" if args.json else "text"
        report = workdir / f"profile.{renderer}"
        cmd = [sys.executable, "-m", "pyinstrument", "-r", renderer, "-o", str(report)]
        cmd += ["--show-all"] if args.show_all else []
        cmd += ["-m", "modelpilot.cli", "proxy", "--upstream", simulator.url, "--port", str(port)]
        env: dict[str, str | None] = {}
        if args.routing:
            plane = stack.enter_context(control_plane(f"sqlite:///{workdir / 'control.sqlite3'}", workdir))
            cmd += ["--control-plane", plane.service.url, "--spool", str(workdir / "spool.sqlite3")]
            env["MODELPILOT_API_KEY"] = plane.api_key
        proxy = start_process("proxy (profiled)", cmd, port, env=env)
        rps = asyncio.run(throughput_round(proxy.url, args.requests, args.concurrency, body=body))
        proxy.process.send_signal(signal.SIGINT)
        proxy.process.wait(timeout=120)
        if args.json:
            print(json.dumps({"rps_while_profiled": rps, "session": json.loads(report.read_text())}))
            return 0
        print(report.read_text())
        print(f"requests/s while profiled: {rps:.0f}")
        if args.html:
            from pyinstrument.renderers import HTMLRenderer
            from pyinstrument.session import Session

            args.html.write_text(HTMLRenderer().render(Session.load(str(report))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
