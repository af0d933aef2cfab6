#!/usr/bin/env python3
"""Submit one job to `sdxl-workers http` (or a worker's --port), follow its progress, print the files.
usage: sdxl_client.py URL PROMPT [MODEL]    (stdlib only; SDXL_WORKERS_API_KEY is sent when set)"""
import json, os, sys, urllib.request

url, prompt = sys.argv[1].rstrip("/"), sys.argv[2]
model = sys.argv[3] if len(sys.argv) > 3 else "sdxl-base-1.0"
headers = {"Content-Type": "application/json"}
if os.environ.get("SDXL_WORKERS_API_KEY"):
    headers["Authorization"] = "Bearer " + os.environ["SDXL_WORKERS_API_KEY"]

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    return urllib.request.urlopen(urllib.request.Request(url + path, data, headers, method=method), timeout=600)

job = json.load(call("POST", "/generate", {"model": model, "prompt": prompt, "job_type": "sdxl_image_fast",
                                           "width": 64 if "tiny" in model else 1024, "height": 64 if "tiny" in model else 1024}))
print("job", job["job_id"], job["state"], flush=True)
event = None
for line in call("GET", job["events_url"]):  # server-sent events: "event: NAME" then "data: JSON"
    line = line.decode().rstrip("\n")
    if line.startswith("event: "):
        event = line[7:]
    elif line.startswith("data: ") and event == "progress":
        p = json.loads(line[6:])
        print(f"  {p['stage']} {p['step']}/{p['total']}", flush=True)
    elif line.startswith("data: ") and event in ("completed", "failed", "cancelled"):
        final = json.loads(line[6:])
        print(event, *(a["path"] for a in (final["result"] or {}).get("assets", [])), final["error"] or "")
        sys.exit(0 if event == "completed" else 1)
