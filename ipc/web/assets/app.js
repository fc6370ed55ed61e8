// ipcplay page and reports. No library, no network request in a report:
// the documents are inline (script type=application/json), the same ones
// --json prints.
"use strict";
(function () {
  var root = document.documentElement;
  var SVGNS = "http://www.w3.org/2000/svg";

  function store(k, v) { try { if (v === undefined) return localStorage.getItem(k); localStorage.setItem(k, v); } catch (e) { return null; } }

  // --- light/dark and large text -------------------------------------
  function setTheme(t) {
    root.dataset.theme = t;
    var b = document.getElementById("theme");
    if (b) { b.textContent = t === "dark" ? "Light" : "Dark"; b.setAttribute("aria-label", "switch to " + (t === "dark" ? "light" : "dark")); }
    store("ipcplay-theme", t);
  }
  function setLarge(on) {
    root.classList.toggle("large", on);
    var b = document.getElementById("large");
    if (b) b.setAttribute("aria-pressed", on ? "true" : "false");
    store("ipcplay-large", on ? "1" : "0");
  }
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  setTheme(store("ipcplay-theme") || (dark ? "dark" : "light"));
  setLarge(store("ipcplay-large") === "1");
  document.getElementById("theme").addEventListener("click", function () { setTheme(root.dataset.theme === "dark" ? "light" : "dark"); });
  document.getElementById("large").addEventListener("click", function () { setLarge(!root.classList.contains("large")); });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    if (e.key === "d" || e.key === "D") setTheme(root.dataset.theme === "dark" ? "light" : "dark");
    if (e.key === "l" || e.key === "L") setLarge(!root.classList.contains("large"));
  });

  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    for (var k in attrs || {}) n.setAttribute(k, attrs[k]);
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function svg(tag, attrs, text) {
    var n = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) n.setAttribute(k, attrs[k]);
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function dur(ns) {
    if (ns < 1e3) return Math.round(ns) + "ns";
    if (ns < 1e6) return (ns / 1e3).toFixed(1) + "µs";
    if (ns < 1e9) return (ns / 1e6).toFixed(2) + "ms";
    return (ns / 1e9).toFixed(2) + "s";
  }
  function final(s) { return s !== "queued" && s !== "running"; }

  // --- live page: runs, objects, form ------------------------------------
  var live = document.body.dataset.live === "true";
  var runsBody = document.querySelector("#runs tbody");
  var lastRuns = [];
  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function when(iso) {
    var d = new Date(iso);
    return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " + pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }
  function drawRuns(runs) {
    lastRuns = runs;
    if (!runsBody) return;
    var rows = document.createDocumentFragment();
    runs.slice().reverse().forEach(function (r) {
      var tr = el("tr", { "data-run": r.run_id, "data-state": r.state });
      var td = el("td"); td.appendChild(el("a", { href: "/run/" + r.run_id }, r.run_id)); tr.appendChild(td);
      tr.appendChild(el("td", {}, r.experiment));
      td = el("td"); td.appendChild(el("span", { "class": "state state-" + r.state }, r.state)); tr.appendChild(td);
      tr.appendChild(el("td", {}, when(r.started)));
      tr.appendChild(el("td", { "class": "elapsed", "data-started": r.started, "data-final": final(r.state) ? "1" : "" }, dur(r.elapsed_ns)));
      if (r.error) tr.title = r.error;
      rows.appendChild(tr);
    });
    if (!runs.length) {
      var tr = el("tr", { "class": "empty" }); tr.appendChild(el("td", { colspan: "5" }, "no runs yet: start one below, or from a terminal (ipcplay race)")); rows.appendChild(tr);
    }
    runsBody.replaceChildren(rows);
  }
  // Elapsed time of running runs, counted here between events.
  setInterval(function () {
    document.querySelectorAll("#runs td.elapsed").forEach(function (td) {
      if (!td.dataset.final && td.dataset.started) td.textContent = dur((Date.now() - Date.parse(td.dataset.started)) * 1e6);
    });
  }, 1000);

  function drawObjects(t) {
    var tb = document.querySelector("#objects tbody");
    if (!tb) return;
    var head = document.querySelector("#objects thead tr");
    if (head && !head.children.length) t.header.forEach(function (h) { head.appendChild(el("th", {}, h)); });
    var old = {};
    tb.querySelectorAll("tr[data-key]").forEach(function (tr) { old[tr.dataset.key] = tr.dataset.cells; });
    var rows = document.createDocumentFragment();
    (t.rows || []).forEach(function (r) {
      var key = r[0] + " " + r[1] + " " + r[2], cells = r.join("\u0000");
      var tr = el("tr", { "data-key": key, "data-cells": cells });
      if (Object.keys(old).length && !(key in old)) tr.className = "new";
      var prev = old[key] ? old[key].split("\u0000") : null;
      r.forEach(function (c, i) {
        var td = el("td", { title: c }, c);
        if (prev && prev[i] !== c) td.className = "changed";
        tr.appendChild(td);
      });
      rows.appendChild(tr);
    });
    if (!(t.rows || []).length) { var tr = el("tr", { "class": "empty" }); tr.appendChild(el("td", { colspan: String(t.header.length) }, "no IPC objects")); rows.appendChild(tr); }
    tb.replaceChildren(rows);
    var notes = document.getElementById("objects-notes");
    if (notes) notes.textContent = (t.warnings || []).join(" · ");
  }

  if (live && window.EventSource) {
    var es = new EventSource("/events");
    es.addEventListener("runs", function (e) {
      var runs = JSON.parse(e.data);
      drawRuns(runs);
      // A run's own page reloads once the run has ended, to show its result.
      document.querySelectorAll("article.run").forEach(function (a) {
        if (final(a.dataset.state)) return;
        runs.forEach(function (r) { if (r.run_id === a.dataset.run && final(r.state)) location.reload(); });
      });
    });
    es.addEventListener("objects", function (e) { drawObjects(JSON.parse(e.data)); });
  }

  document.querySelectorAll("form.start").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      var out = f.querySelector(".form-error");
      out.textContent = "starting…";
      fetch("/api/start", { method: "POST", body: new URLSearchParams(new FormData(f)), credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
        .then(function (x) {
          if (x.ok) { out.textContent = ""; location.href = x.j.url; return; }
          out.textContent = x.j.error || "refused";
        })
        .catch(function (err) { out.textContent = "ipcplay: " + err; });
    });
  });

  // --- race: the interleaving timeline ------------------------------------
  var W = 1200, LEFT = 110, RIGHT = 20, LANE = 64, TOP = 86;
  // WINDOW increments are drawn: few enough to read their values.
  var WINDOW = 24;

  // Lanes for n workers labelled like the engine does (P1.., T1..).
  function laneLabels(n, unit) {
    var p = unit === "thread" ? "T" : "P", out = [];
    for (var i = 0; i < n; i++) out.push(p + (i + 1));
    return out;
  }

  // incs: [{worker, read, wrote, t1, t2, lost}] ; labels: lane names.
  function drawTimeline(box, title, labels, incs, note) {
    var wrap = el("div", { "class": "tl" });
    wrap.appendChild(el("h3", {}, title));
    var t0 = Infinity, t1 = -Infinity;
    incs.forEach(function (x) { t0 = Math.min(t0, x.t1); t1 = Math.max(t1, x.t2); });
    if (!incs.length) { t0 = 0; t1 = 1; }
    var span = Math.max(t1 - t0, 1);
    var H = TOP + labels.length * LANE + 30;
    var s = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title + ": " + labels.length + " lanes, one per worker" });
    var X = function (t) { return LEFT + (t - t0) / span * (W - LEFT - RIGHT); };
    // The counter along the way: every store sets it to what it wrote.
    var stores = incs.slice().sort(function (a, b) { return a.t2 - b.t2; });
    s.appendChild(svg("text", { x: 4, y: 22, "class": "lane-label" }, "counter"));
    var path = "", prevX = LEFT, high = -1, cy0 = 12, cy1 = 60;
    var lo = Infinity, hi = -Infinity;
    stores.forEach(function (x) { lo = Math.min(lo, x.wrote); hi = Math.max(hi, x.wrote); });
    if (stores.length) lo = Math.min(lo, stores[0].read);
    var Y = function (v) { return hi > lo ? cy1 - (v - lo) / (hi - lo) * (cy1 - cy0) : (cy0 + cy1) / 2; };
    var cur = stores.length ? stores[0].read : 0;
    path = "M" + LEFT + "," + Y(cur);
    stores.forEach(function (x) {
      var sx = X(x.t2);
      path += " H" + sx + " V" + Y(x.wrote);
      if (x.wrote <= high) {
        // This store did not move the counter on: an increment was lost.
        s.appendChild(svg("circle", { cx: sx, cy: Y(x.wrote), r: 7, "class": "counter-stuck" }));
      }
      high = Math.max(high, x.wrote);
      cur = x.wrote; prevX = sx;
    });
    path += " H" + (W - RIGHT);
    s.appendChild(svg("path", { d: path, "class": "counter-line" }));
    s.appendChild(svg("text", { x: W - RIGHT, y: 78, "text-anchor": "end", "class": "muted" }, stores.length ? "from " + lo + " to " + hi : ""));
    labels.forEach(function (name, i) {
      var y = TOP + i * LANE;
      var g = svg("g", { "class": "lane", "data-worker": name });
      g.appendChild(svg("rect", { x: LEFT, y: y, width: W - LEFT - RIGHT, height: LANE - 8, rx: 6, "class": "lane-bg" }));
      g.appendChild(svg("text", { x: 8, y: y + LANE / 2, "class": "lane-label" }, name));
      s.appendChild(g);
    });
    var lost = 0;
    incs.forEach(function (x) {
      var y = TOP + x.worker * LANE + (LANE - 8) / 2;
      var g = svg("g", { "class": "mark" + (x.lost ? " lost" : ""), "data-worker": labels[x.worker] });
      if (x.lost) { lost++; g.appendChild(svg("rect", { x: X(x.t1) - 10, y: y - 24, width: Math.max(X(x.t2) - X(x.t1), 0) + 20, height: 48, rx: 6, "class": "lost-bg" })); }
      g.appendChild(svg("line", { x1: X(x.t1), y1: y, x2: X(x.t2), y2: y, "class": "inc" }));
      g.appendChild(svg("circle", { cx: X(x.t1), cy: y, r: 7, "class": "load" }));
      g.appendChild(svg("rect", { x: X(x.t2) - 7, y: y - 7, width: 14, height: 14, "class": "store" }));
      var tip = labels[x.worker] + ": read " + x.read + ", wrote " + x.wrote + (x.lost ? " (in a lost update)" : "");
      g.appendChild(svg("title", {}, tip));
      if (x.label) g.appendChild(svg("text", { x: X(x.t1), y: y - 12, "font-size": 15 }, x.read + "→" + x.wrote));
      s.appendChild(g);
    });
    s.appendChild(svg("line", { x1: LEFT, y1: H - 22, x2: W - RIGHT, y2: H - 22, "class": "axis" }));
    s.appendChild(svg("text", { x: LEFT, y: H - 4, "class": "muted" }, "0"));
    s.appendChild(svg("text", { x: W - RIGHT, y: H - 4, "text-anchor": "end", "class": "muted" }, dur(span)));
    wrap.appendChild(s);
    wrap.appendChild(el("p", { "class": "legend" }, "● load (after it returned) — ■ store (before it began), one lane per worker; red: an increment in a lost update (another worker read the same value; one of the stores survived); red dot on the counter: a store that did not move it on. " + lost + " of " + incs.length + " increments drawn are marked lost." + (note ? " " + note : "")));
    box.appendChild(wrap);
  }

  // From the trace: one timeline per mode, the trial with lost updates
  // (or the first), a window of increments around the first lost one.
  function traceTimelines(box, doc) {
    var groups = {}, order = [];
    doc.trace.tracks.forEach(function (t) {
      var k = t.mode + "/" + t.trial;
      if (!groups[k]) { groups[k] = []; order.push(k); }
      groups[k].push(t);
    });
    var byMode = {};
    order.forEach(function (k) {
      var tr = groups[k], m = tr[0].mode;
      var hasLost = tr.some(function (t) { return t.lost && t.lost.length; });
      if (!byMode[m] || (hasLost && !byMode[m].lost)) byMode[m] = { tracks: tr, lost: hasLost };
    });
    Object.keys(byMode).forEach(function (m) {
      var tracks = byMode[m].tracks.slice().sort(function (a, b) { return a.worker - b.worker; });
      var all = [];
      tracks.forEach(function (t, wi) {
        var lostSet = {};
        (t.lost || []).forEach(function (i) { lostSet[i] = true; });
        t.events.forEach(function (e, i) { all.push({ worker: wi, read: e[0], wrote: e[1], t1: e[2], t2: e[3], lost: !!lostSet[i] }); });
      });
      all.sort(function (a, b) { return a.t1 - b.t1; });
      // Start a little before the first lost update; without one, where
      // every worker has started (the first to start runs alone at first).
      var first = -1, latest = -Infinity;
      tracks.forEach(function (t) { if (t.events.length) latest = Math.max(latest, t.events[0][2]); });
      for (var i = 0; i < all.length; i++) if (all[i].lost) { first = i; break; }
      if (first < 0) for (i = 0; i < all.length; i++) if (all[i].t1 >= latest) { first = i; break; }
      var from = Math.max(0, first - 4), win = all.slice(from, from + WINDOW);
      win.forEach(function (x) { x.label = win.length <= 24; });
      var unit = tracks[0].unit, labels = tracks.map(function (t) { return t.label; });
      var total = all.length;
      drawTimeline(box, m + " — trial " + tracks[0].trial + " (" + labels.length + " " + (unit === "thread" ? "threads" : "processes") + ")", labels, win,
        "Drawn: increments " + (from + 1) + "–" + (from + win.length) + " of the " + total + " recorded, by time.");
    });
  }

  // Without a trace: the witnesses' loads and stores.
  function witnessTimelines(box, doc) {
    (doc.results || []).forEach(function (m) {
      (m.witnesses || []).forEach(function (w, wi) {
        var labels = laneLabels(m.procs, m.unit), incs = [], open = {};
        w.steps.forEach(function (st) {
          if (st.op === "read") open[st.worker] = { worker: st.worker, read: st.value, t1: st.t_ns, lost: true, label: true };
          else if (open[st.worker]) { var x = open[st.worker]; x.wrote = st.value; x.t2 = st.t_ns; incs.push(x); delete open[st.worker]; }
        });
        drawTimeline(box, m.mode + " — lost update " + (wi + 1) + " (trial " + w.trial + ")", labels, incs, w.text);
      });
    });
  }

  // --- a scheduled run: the step player (DESIGN.md steps[]) -----------------
  function player(box, title, steps) {
    var wrap = el("div", { "class": "tl", tabindex: "0", "aria-label": title + ": step player" });
    wrap.appendChild(el("h3", {}, title));
    var workers = [];
    steps.forEach(function (s) { if (workers.indexOf(s.worker) < 0) workers.push(s.worker); });
    var ctl = el("div", { "class": "player" });
    var back = el("button", { type: "button" }, "◀ Back"), play = el("button", { type: "button" }, "▶ Play"), fwd = el("button", { type: "button" }, "Step ▶");
    var counter = el("span", { "class": "counter", "aria-live": "polite" }), pos = el("span", { "class": "pos" });
    [back, play, fwd, counter, pos].forEach(function (n) { ctl.appendChild(n); });
    wrap.appendChild(ctl);
    var note = el("p", { "class": "player-note" });
    wrap.appendChild(note);
    var COL = Math.max(18, Math.min(80, (W - LEFT - RIGHT) / Math.max(steps.length, 1)));
    var H = 20 + workers.length * LANE;
    var s = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": workers.length + " lanes, one per worker" });
    workers.forEach(function (w, i) {
      var g = svg("g", { "class": "lane", "data-worker": w });
      g.appendChild(svg("rect", { x: LEFT, y: 10 + i * LANE, width: W - LEFT - RIGHT, height: LANE - 8, rx: 6, "class": "lane-bg" }));
      g.appendChild(svg("text", { x: 8, y: 10 + i * LANE + LANE / 2, "class": "lane-label" }, w));
      s.appendChild(g);
    });
    // A store that does not move the counter past its highest value so far
    // overwrote another worker's increment.
    var high = -Infinity, marks = [];
    steps.forEach(function (st, i) {
      var lost = st.wrote !== null && st.wrote !== undefined && st.wrote <= high;
      if (st.wrote !== null && st.wrote !== undefined) high = Math.max(high, st.wrote);
      var y = 10 + workers.indexOf(st.worker) * LANE + (LANE - 8) / 2, x = LEFT + (i + .5) * COL;
      var g = svg("g", { "class": "mark" + (lost ? " lost" : "") });
      if (st.op === "store" || (st.wrote !== null && st.wrote !== undefined)) g.appendChild(svg("rect", { x: x - 8, y: y - 8, width: 16, height: 16, "class": "store" }));
      else if (st.blocked) g.appendChild(svg("rect", { x: x - 9, y: y - 3, width: 18, height: 6, "class": "store" }));
      else g.appendChild(svg("circle", { cx: x, cy: y, r: 8, "class": "load" }));
      var v = st.wrote !== null && st.wrote !== undefined ? st.wrote : st.read;
      if (v !== null && v !== undefined && COL >= 30) g.appendChild(svg("text", { x: x, y: y - 13, "text-anchor": "middle", "font-size": 15 }, String(v)));
      g.appendChild(svg("title", {}, st.worker + " " + st.op + (st.note ? ": " + st.note : "")));
      s.appendChild(g);
      marks.push(g);
    });
    var now = svg("line", { y1: 4, y2: H - 4, "class": "now" });
    s.appendChild(now);
    wrap.appendChild(s);
    var i = -1, timer = null;
    function show(n) {
      i = Math.max(-1, Math.min(steps.length - 1, n));
      marks.forEach(function (g, k) { g.classList.toggle("future", k > i); });
      var x = LEFT + (i + .5) * COL;
      now.setAttribute("x1", x); now.setAttribute("x2", x);
      now.style.visibility = i < 0 ? "hidden" : "visible";
      var st = steps[i];
      counter.textContent = "counter = " + (st ? st.counter : (steps[0] && steps[0].counter !== undefined ? steps[0].counter : 0));
      pos.textContent = "step " + (i + 1) + "/" + steps.length;
      note.textContent = st ? st.worker + " " + st.op + (st.blocked ? " (blocked)" : "") + (st.note ? ": " + st.note : "") : "Press ▶ Play or Step.";
    }
    function stop() { if (timer) clearInterval(timer); timer = null; play.textContent = "▶ Play"; }
    function start() {
      if (i >= steps.length - 1) show(-1);
      play.textContent = "⏸ Pause";
      timer = setInterval(function () { if (i >= steps.length - 1) stop(); else show(i + 1); }, 900);
    }
    play.addEventListener("click", function () { if (timer) stop(); else start(); });
    fwd.addEventListener("click", function () { stop(); show(i + 1); });
    back.addEventListener("click", function () { stop(); show(i - 1); });
    wrap.addEventListener("keydown", function (e) {
      if (e.key === " ") { e.preventDefault(); play.click(); }
      if (e.key === "ArrowRight") { e.preventDefault(); fwd.click(); }
      if (e.key === "ArrowLeft") { e.preventDefault(); back.click(); }
    });
    show(-1);
    box.appendChild(wrap);
  }

  document.querySelectorAll(".timeline").forEach(function (box) {
    var doc;
    try { doc = JSON.parse(document.getElementById(box.dataset.doc).textContent); } catch (e) { return; }
    box.appendChild(el("h3", {}, "Interleaving"));
    var played = false;
    if (Array.isArray(doc.steps) && doc.steps.length) { player(box, "scheduled run", doc.steps); played = true; }
    (doc.results || []).forEach(function (m) {
      if (Array.isArray(m.steps) && m.steps.length && m.steps[0].counter !== undefined) { player(box, m.mode + " — scheduled", m.steps); played = true; }
    });
    if (doc.trace && doc.trace.tracks && doc.trace.tracks.length) traceTimelines(box, doc);
    else if ((doc.results || []).some(function (m) { return m.witnesses && m.witnesses.length; })) witnessTimelines(box, doc);
    else if (!played) box.appendChild(el("p", { "class": "hint" }, "No loads and stores were recorded in this run: run it with --explain or --trace (the page's form records them) to see the interleaving."));
  });
})();
