"""`edgec dashboard`: the fleet on one page, as Edge Manager's console showed it.

Devices (certificate, the models their agent reports with versions, inference counts and latency
percentiles, RAM use, capture backlog, last heartbeat), the rollout jobs with their per-state
counts, and per model the captures per hour with the predicted classes' shares — for a detector
the number of detections per class instead (its captured outputs decoded and NMS'ed as `edgec run`
does, with the decode spec and labels of the published package's manifest) — plus the drift
against a baseline (`--baseline MODEL=calib.npy`: PSI per input feature, class shares).  Records
and agent reports the readers cannot use are skipped and counted (monitor.read_captures,
rollout.clean_report); each model's card says how many and why.  The fleet's CloudWatch alarms
(`edgec monitor watch --alarm`, fleet/watch.py) are listed with their state and reason; a
CloudWatch that cannot be read leaves the list out and says why.

`--out DIR` writes `index.html` (the data embedded, so it opens from disk, with every '<', '>' and
'&' of it escaped) and `data.json`; without it the page is served on `--host`/`--port`, only to
requests whose Host header is localhost, 127.0.0.1, ::1 or the bound address (against DNS
rebinding; others get 403), `/` re-reads the cloud on every load and the page refreshes itself
every 15 s from `/data.json`.  The page is self-contained (inline CSS, JS and SVG
charts, nothing fetched from elsewhere): devices' networks do not reach CDNs either.
"""
from __future__ import annotations

import html
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from ..compiler.errors import EdgecError, Interrupted

from .aws import Cloud
from .monitor import drift, published, read_captures
from ..package.archive import NAME_RE
from .rollout import status


def answers_of(cloud: Cloud, fleet: str, model: str, version: str, cache: dict) -> dict | None:
    """{"decode", "labels", "output"} of a published version's manifest, None when the version was not
    published (or its package does not check out).  Cached: a published version is never replaced."""
    key = (fleet, model, version)
    if key not in cache:
        try:
            manifest = published(cloud, fleet, model, version)[0]
            cache[key] = {"decode": manifest.get("decode"), "labels": manifest.get("labels"),
                          "output": manifest["outputs"][0]}
        except EdgecError:
            cache[key] = None
    return cache[key]


def classes_seen(r: dict, answers: dict | None) -> tuple[str, list] | None:
    """("detections", [(class, name) per detection]) for a detector's capture, ("classes", [(class,
    name)]) of its top class for a classifier's, None when the output is neither."""
    from ..host.postprocess import results
    decode = (answers or {}).get("decode")
    labels = (answers or {}).get("labels")
    y = r["output"].astype(np.float64)
    if r["output_type"] == "INT8" and answers:
        y = ((y - answers["output"]["zero_point"]) * answers["output"]["scale"]).astype(np.float32)   # as the agent does
    name = lambda c: labels[c] if labels and c < len(labels) else f"class {c}"
    if decode and decode["kind"] == "yolo":
        return "detections", [(d["class"], name(d["class"])) for d in results(decode, y[None], labels)[0]["detections"]]
    if (decode and decode["kind"] == "classes") or (decode is None and 1 < y.size <= 1000):
        c = int(y.argmax())
        return "classes", [(c, name(c))]
    return None


def collect(cloud: Cloud, fleet: str, baselines: dict | None = None, manifests: dict | None = None) -> dict:
    """`manifests`: a cache of answers_of() kept between calls (the served page re-collects on every load)."""
    manifests = {} if manifests is None else manifests
    st = status(cloud, fleet)
    names = set()
    for d in st["devices"]:
        for m in (d.get("agent") or {}).get("models", []):
            if NAME_RE.match(m["name"]):                # a report's odd name is shown, not looked up
                names.add(m["name"])
    for j in st["jobs"]:
        if j.get("model_name"):
            names.add(j["model_name"])
    models = []
    for name in sorted(names):
        cap = read_captures(cloud, fleet, name)
        rows = cap["rows"]
        hours, kinds, order = {}, set(), {}
        for r in rows:
            h = hours.setdefault(r["time"][:13], {"hour": r["time"][:13], "count": 0, "classes": {}})
            h["count"] += 1
            seen = classes_seen(r, answers_of(cloud, fleet, name, r["version"], manifests))
            if seen:
                kinds.add(seen[0])
                for c, label in seen[1]:
                    h["classes"][label] = h["classes"].get(label, 0) + 1
                    order.setdefault(label, c)
        entry = {"name": name, "captures": len(rows), "by_hour": sorted(hours.values(), key=lambda h: h["hour"]),
                 "versions": sorted({r["version"] for r in rows}), "skipped": cap["skipped"],
                 # "detections": by_hour counts detections per class; "classes": captures per predicted class
                 "kind": "detections" if "detections" in kinds else "classes",
                 "classes": sorted(order, key=lambda label: (order[label], label))}
        if baselines and name in baselines and rows:
            try:
                d = drift(cloud, fleet, name, baselines[name])
                entry["drift"] = {k: d[k] for k in ("drift", "max_feature_psi", "input_psi", "features", "feature_axis")}
                entry["skipped"] = d["skipped"]
                if "outputs" in d:
                    entry["drift"]["outputs"] = {k: d["outputs"][k] for k in ("psi", "baseline_share", "captured_share")}
            except EdgecError as e:
                entry["drift_error"] = str(e)
        models.append(entry)
    from .watch import alarm_states
    try:
        alarms, alarms_error = alarm_states(cloud, fleet), None
    except EdgecError as e:                              # no cloudwatch:DescribeAlarms for this user
        alarms, alarms_error = [], str(e)
    return {"fleet": fleet, "generated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": st, "models": models, "alarms": alarms, "alarms_error": alarms_error}


def embedded_json(data) -> str:
    """JSON to place inside a <script> element: no '<', '>' or '&' at all (each as its \\u escape,
    which JSON.parse reads back), so no string in the data (`<!--<script>`, `</script>`) can end the
    element or switch the HTML parser into a state where the page's own </script> is not seen."""
    return (json.dumps(data, sort_keys=True, default=str)       # ensure_ascii: U+2028/2029 escaped too
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def page(data: dict, live: bool = False) -> str:
    return (_PAGE.replace("__TITLE__", html.escape(f"edgec fleet {data['fleet']}")).replace("__LIVE__", "true" if live else "false")
            .replace("__DATA__", embedded_json(data)))


def write(cloud: Cloud, fleet: str, out: str, baselines: dict | None = None) -> dict:
    data = collect(cloud, fleet, baselines)
    d = Path(out)
    try:
        d.mkdir(parents=True, exist_ok=True)
        (d / "data.json").write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        (d / "index.html").write_text(page(data))
    except OSError as e:
        raise EdgecError(f"cannot write the dashboard: {e.strerror}", where=str(out)) from None
    return {"page": str(d / "index.html"), "data": str(d / "data.json"), "devices": len(data["status"]["devices"]),
            "models": len(data["models"])}


def allowed_host(header: str | None, names: set, port: int) -> bool:
    """Whether a request's Host header names this server: one of `names`, with no port or its own.
    Against DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 still sends
    Host: evil.example, and gets nothing."""
    if not header:
        return False
    h = header.strip().lower()
    if h.startswith("["):                                   # [::1]:8080
        name, _, rest = h[1:].partition("]")
        given = rest[1:] if rest.startswith(":") else ("" if not rest else None)
    else:
        name, _, given = h.partition(":")
    if given is None or (given and given != str(port)):
        return False
    return name.rstrip(".") in names


def serve(cloud: Cloud, fleet: str, host: str, port: int, baselines: dict | None = None, ready=None) -> None:
    manifests = {}
    collect(cloud, fleet, baselines, manifests)  # fail now (no fleet, no cloud) rather than on the first page load
    lock = threading.Lock()

    names = {"localhost", "127.0.0.1", "::1", host.lower().strip("[]")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if not allowed_host(self.headers.get("Host"), names, self.server.server_address[1]):
                return self._send(403, b"this dashboard answers only to localhost, 127.0.0.1 or its bound address\n",
                                  "text/plain")
            path = self.path.split("?", 1)[0]
            if path not in ("/", "/index.html", "/data.json"):
                return self._send(404, b"not found\n", "text/plain")
            try:
                with lock:                          # one cloud read at a time (boto3 clients are shared)
                    data = collect(cloud, fleet, baselines, manifests)
            except EdgecError as e:
                return self._send(502, json.dumps({"error": str(e)}).encode(), "application/json")
            if path == "/data.json":
                return self._send(200, json.dumps(data, sort_keys=True, default=str).encode(), "application/json")
            return self._send(200, page(data, live=True).encode(), "text/html; charset=utf-8")

        def _send(self, code, body, ctype):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        raise EdgecError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    if ready:
        ready({"url": f"http://{host}:{server.server_address[1]}/", "fleet": fleet})
    import signal
    got = [signal.SIGINT]
    signal.signal(signal.SIGTERM, lambda signum, frame: (got.insert(0, signum),
                                                         threading.Thread(target=server.shutdown).start()))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    raise Interrupted(got[0])           # it serves until a signal stops it: 130 / 143 like every command


_PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d232a; background: #f7f8fa; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.sub { color: #5b6672; margin-bottom: 16px; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { border-bottom: 1px solid #e3e6ea; padding: 6px 10px; text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
.ok { color: #137333; } .bad { color: #b3261e; } .warn { color: #a05a00; } .muted { color: #7a8591; }
.cards { display: flex; flex-wrap: wrap; gap: 16px; }
.card { background: #fff; border: 1px solid #e3e6ea; border-radius: 6px; padding: 12px 16px; min-width: 340px; flex: 1; }
.chart { width: 100%; height: 180px; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #eef1f4; margin: 1px 2px; }
</style></head>
<body>
<h1 id="title"></h1>
<div class="sub" id="summary"></div>
<h2>Devices</h2>
<table id="devices"><thead><tr><th>device</th><th>certificate</th><th>models (version, inferences, p50/p95 ms)</th>
<th>RAM</th><th>captures uploaded / backlog</th><th>last heartbeat</th></tr></thead><tbody></tbody></table>
<h2>Rollouts</h2>
<table id="jobs"><thead><tr><th>job</th><th>model</th><th>status</th><th>executions</th></tr></thead><tbody></tbody></table>
<h2>Alarms</h2>
<table id="alarms"><thead><tr><th>alarm</th><th>model</th><th>condition</th><th>state</th><th>reason</th></tr></thead><tbody></tbody></table>
<h2>Models</h2>
<div class="cards" id="models"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const LIVE = __LIVE__;
const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#1a73e8", "#e8710a", "#188038", "#d93025", "#9334e6", "#12b5cb", "#f9ab00", "#5f6368", "#b31412", "#0d652d", "#174ea6", "#c5221f"];

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}
function ago(iso) {
  if (!iso) return null;
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return s < 120 ? s + " s ago" : Math.round(s / 60) + " min ago";
}
function barChart(title, labels, series, max) {
  // series: [{name, values, color}]; grouped bars with an axis and a legend
  const w = 520, h = 180, left = 36, bottom = 28, top = 18;
  const root = svg("svg", {viewBox: `0 0 ${w} ${h}`, class: "chart", role: "img", "aria-label": title});
  const t = svg("text", {x: left, y: 12, "font-size": 12, fill: "#1d232a"}); t.textContent = title; root.appendChild(t);
  const m = max || Math.max(1e-9, ...series.flatMap(s => s.values));
  const n = Math.max(1, labels.length), gw = (w - left - 8) / n, bw = Math.max(2, (gw - 4) / Math.max(1, series.length));
  root.appendChild(svg("line", {x1: left, y1: h - bottom, x2: w - 4, y2: h - bottom, stroke: "#9aa0a6"}));
  const ym = svg("text", {x: 2, y: top + 8, "font-size": 10, fill: "#5f6368"}); ym.textContent = (+m.toPrecision(3)).toString(); root.appendChild(ym);
  labels.forEach((lab, i) => {
    series.forEach((s, j) => {
      const v = s.values[i] || 0, bh = (h - bottom - top) * v / m;
      const r = svg("rect", {x: left + i * gw + 2 + j * bw, y: h - bottom - bh, width: bw - 1, height: Math.max(0, bh), fill: s.color, class: "bar"});
      const tip = svg("title", {}); tip.textContent = `${s.name} ${lab}: ${(+v.toPrecision(4))}`; r.appendChild(tip);
      root.appendChild(r);
    });
    if (n <= 24) {
      const tx = svg("text", {x: left + i * gw + gw / 2, y: h - bottom + 12, "font-size": 9, "text-anchor": "middle", fill: "#5f6368"});
      tx.textContent = lab; root.appendChild(tx);
    }
  });
  series.forEach((s, j) => {
    const lx = w - 150, ly = top + j * 13;
    root.appendChild(svg("rect", {x: lx, y: ly - 8, width: 9, height: 9, fill: s.color}));
    const lt = svg("text", {x: lx + 13, y: ly, "font-size": 10, fill: "#1d232a"}); lt.textContent = s.name; root.appendChild(lt);
  });
  return root;
}

function render(data) {
  const st = data.status;
  document.getElementById("title").textContent = `Fleet ${data.fleet}`;
  const alive = st.devices.filter(d => d.agent && d.agent.heartbeat && (Date.now() - Date.parse(d.agent.heartbeat)) < 5 * 60 * 1000).length;
  document.getElementById("summary").textContent =
    `${st.devices.length} devices (${alive} with a heartbeat in the last 5 min), ${st.jobs.length} rollout jobs, ` +
    `packages in s3://${st.bucket}, captures to ${st.output}; data of ${data.generated}` + (LIVE ? " (refreshes every 15 s)" : "");
  const dev = document.querySelector("#devices tbody"); dev.replaceChildren();
  for (const d of st.devices) {
    const a = d.agent || {};
    const tr = el("tr", {class: "device", "data-device": d.name});
    tr.appendChild(el("td", {}, d.name));
    tr.appendChild(el("td", {class: d.certificates.every(c => c === "ACTIVE") ? "ok" : "bad"}, d.certificates.join(", ") || "none"));
    const mcell = el("td", {});
    for (const m of (a.models || [])) {
      mcell.appendChild(el("span", {class: "pill model", "data-model": m.name},
        `${m.name} ${m.version} · ${m.inferences} inf · ${m.latency_ms.p50 ?? "-"}/${m.latency_ms.p95 ?? "-"} ms`));
    }
    if (!(a.models || []).length) mcell.appendChild(el("span", {class: "muted"}, d.agent ? "no models" : "no agent report"));
    tr.appendChild(mcell);
    tr.appendChild(el("td", {}, a.ram_used_bytes !== undefined ? `${a.ram_used_bytes.toLocaleString()} B of ${a.ram_budget_bytes ? a.ram_budget_bytes.toLocaleString() + " B" : "unlimited"}` : "-"));
    const cap = a.capture || {};
    tr.appendChild(el("td", {class: cap.backlog ? "warn" : ""}, d.agent ? `${cap.uploaded || 0} / ${cap.backlog || 0}` : "-"));
    tr.appendChild(el("td", {class: a.heartbeat ? "" : "muted"}, a.heartbeat ? `${a.heartbeat} (${ago(a.heartbeat)})` : "never"));
    dev.appendChild(tr);
  }
  const jobs = document.querySelector("#jobs tbody"); jobs.replaceChildren();
  for (const j of st.jobs) {
    const tr = el("tr", {class: "job"});
    tr.appendChild(el("td", {}, j.job_id));
    tr.appendChild(el("td", {}, `${j.model_name || "?"} ${j.model_version || ""}`));
    tr.appendChild(el("td", {class: j.status === "COMPLETED" ? "ok" : j.status === "CANCELED" ? "bad" : "warn"}, j.status + (j.comment ? ` (${j.comment})` : "")));
    const counts = Object.entries(j.counts || {}).filter(([k, v]) => v).map(([k, v]) => `${k.replace(/^numberOf|Things$/g, "")} ${v}`);
    tr.appendChild(el("td", {}, counts.join(", ") || "-"));
    jobs.appendChild(tr);
  }
  const OPS = {GreaterThanThreshold: ">", GreaterThanOrEqualToThreshold: ">=", LessThanThreshold: "<", LessThanOrEqualToThreshold: "<="};
  const al = document.querySelector("#alarms tbody"); al.replaceChildren();
  for (const a of (data.alarms || [])) {
    const tr = el("tr", {class: "alarm", "data-alarm": a.name, "data-state": a.state});
    tr.appendChild(el("td", {}, a.name));
    tr.appendChild(el("td", {}, a.model || "-"));
    tr.appendChild(el("td", {}, `${a.metric} ${OPS[a.comparison] || a.comparison} ${a.threshold}`));
    tr.appendChild(el("td", {class: "state " + (a.state === "ALARM" ? "bad" : a.state === "OK" ? "ok" : "muted")}, a.state));
    tr.appendChild(el("td", {}, a.reason));
    al.appendChild(tr);
  }
  if (!(data.alarms || []).length) {
    const tr = el("tr", {}); tr.appendChild(el("td", {colspan: 5, class: "muted"}, data.alarms_error || "no alarms (edgec monitor watch --alarm)"));
    al.appendChild(tr);
  }
  const cards = document.getElementById("models"); cards.replaceChildren();
  for (const m of data.models) {
    const card = el("div", {class: "card", "data-model": m.name});
    card.appendChild(el("h3", {}, `${m.name} — ${m.captures} captures` + (m.versions.length ? ` (versions ${m.versions.join(", ")})` : "")));
    const bad = Object.entries(m.skipped || {});
    if (bad.length) card.appendChild(el("p", {class: "warn skipped"}, "skipped bad records: " + bad.map(([k, v]) => `${v} ${k}`).join(", ")));
    if (m.by_hour.length) {
      const hours = m.by_hour.map(h => h.hour.slice(5).replace("T", " ") + "h");
      const detector = m.kind === "detections";
      // a detector: detections per class (counts); a classifier: the share of captures per predicted class
      card.appendChild(barChart(detector ? "detections per class per hour" : "predicted class share per hour", hours,
        m.classes.map((c, i) => ({name: c, color: PALETTE[i % PALETTE.length],
                                  values: m.by_hour.map(h => detector ? (h.classes[c] || 0) : (h.classes[c] || 0) / h.count)})),
        detector ? undefined : 1));
    } else {
      card.appendChild(el("p", {class: "muted"}, "no captures yet"));
    }
    if (m.drift) {
      const d = m.drift, cls = d.drift === "stable" ? "ok" : d.drift === "moderate" ? "warn" : "bad";
      card.appendChild(el("p", {class: "drift " + cls}, `input drift: ${d.drift} (max feature PSI ${d.max_feature_psi.toFixed(3)})`));
      card.appendChild(barChart("PSI per input feature", d.features.map(f => String(f.feature)),
        [{name: "PSI", color: "#d93025", values: d.features.map(f => f.psi)}]));
      if (d.outputs) {
        const labels = d.outputs.baseline_share.map((_, i) => String(i));
        card.appendChild(barChart(`class shares, PSI ${d.outputs.psi.toFixed(3)}`, labels,
          [{name: "baseline", color: "#9aa0a6", values: d.outputs.baseline_share},
           {name: "captured", color: "#1a73e8", values: d.outputs.captured_share}], 1));
      }
    } else if (m.drift_error) {
      card.appendChild(el("p", {class: "bad"}, m.drift_error));
    }
    cards.appendChild(card);
  }
}

render(JSON.parse(document.getElementById("data").textContent));
if (LIVE) {
  setInterval(() => {
    fetch("data.json", {cache: "no-store"}).then(r => r.ok ? r.json() : null).then(d => { if (d && d.status) render(d); })
      .catch(() => {});
  }, 15000);
}
</script>
</body></html>
"""
