#!/usr/bin/env python3
"""The chat page in a real browser: starts the `chat` example, writes a page with two
frames of it side by side (alice, who says "hello bob" once bob is in the room, and
bob), and has headless Chromium screenshot it after a few seconds. Both frames should
show "alice: hello bob". Needs `chromium` (Debian's package; not installed by CI).

    cargo build --example chat        # or --release
    python3 scripts/chat_chromium.py  # writes target/chat_chromium.png
"""
import os
import re
import shutil
import subprocess
import sys

exe = next((p for p in ("target/release/examples/chat", "target/debug/examples/chat")
            if os.path.exists(p)), None) or sys.exit("build the chat example first")
browser = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(b)), None) or sys.exit("chromium is not installed")
server = subprocess.Popen([exe, "-b", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
try:
    port = None
    while port is None:
        line = server.stderr.readline() or sys.exit("the chat example did not start")
        m = re.search(r"Listening at: http://[\d.]+:(\d+)", line)
        port = m and m.group(1)
    base = f"http://127.0.0.1:{port}/"
    demo = os.path.abspath("target/chat_demo.html")
    with open(demo, "w") as f:
        f.write(f"""<!doctype html><body style="margin:0;display:flex">
<iframe src="{base}?name=alice&say=hello%20bob" style="width:50%;height:420px"></iframe>
<iframe src="{base}?name=bob" style="width:50%;height:420px"></iframe></body>""")
    png = os.path.abspath("target/chat_chromium.png")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--window-size=1000,440", f"--screenshot={png}", "--virtual-time-budget=4000",
           "file://" + demo]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    print(out.stdout + out.stderr)
    print(f"screenshot: {png}" if os.path.exists(png) else "no screenshot")
finally:
    server.terminate()
    server.wait(30)
