// Supervisor console: live queue board and agents list from the /supervisor namespace, and
// a history chart from /api/supervisor/history.
// The server pushes a `stats` snapshot at connect and then at most once a second; waits and
// times in state tick locally between pushes. The history is polled (the past changes
// slowly). All text is set with textContent (never innerHTML): queue and agent names are data.
(() => {
  const $ = (id) => document.getElementById(id);
  const PRESENCE_ORDER = { available: 0, wrap_up: 1, away: 2, offline: 3 };
  const PRESENCE_LABEL = { available: "Available", wrap_up: "Wrap-up", away: "Away", offline: "Offline" };
  const STALE_MS = 5000;  // no push for this long: say so (the figures are frozen)
  let socket = null;
  let snap = null;        // the last snapshot
  let offset = 0;         // local clock minus server clock, measured at each push
  let receivedAt = 0;
  const SVG = "http://www.w3.org/2000/svg";
  const HISTORY_REFRESH_MS = 60000;
  const CHART = { w: 760, h: 240, left: 40, right: 44, top: 12, bottom: 28 };
  const MAX_LABELS = 12;  // under the bars; more would overlap
  let historySeq = 0;     // only the latest request's answer is drawn
  let queueNames = "";    // the queue select's options, to rebuild it only when they change

  const showError = (text) => { $("error").hidden = !text; $("error").textContent = text || ""; };
  const serverNow = () => Date.now() - offset;

  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "–";
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return `${h ? h + ":" : ""}${mm}:${String(sec).padStart(2, "0")}`;
  }
  const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`);

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function isIdle(q) {
    return !q.waiting && !q.offers && !q.entered_today && !q.arrivals_per_hour;
  }

  function renderQueues() {
    const body = $("queues").tBodies[0];
    body.replaceChildren();
    const showIdle = $("show-idle").checked;
    const rows = snap.queues.filter((q) => showIdle || !isIdle(q));
    $("no-queues").hidden = rows.length > 0;
    for (const q of rows) {
      const tr = document.createElement("tr");
      if (isIdle(q)) tr.className = "idle";
      cell(tr, q.queue);
      cell(tr, q.channel);
      cell(tr, String(q.waiting), "num" + (q.waiting ? " warn" : ""));
      cell(tr, String(q.offers), "num");
      const wait = cell(tr, "", "num");
      wait.dataset.oldest = q.oldest_enqueued_ms ?? "";
      wait.dataset.sl = q.sl_seconds;
      const sl = cell(tr, "", "num");
      sl.textContent = `${pct(q.service_level)} · target ${pct(q.sl_target)} in ${q.sl_seconds}s`;
      sl.title = `${q.answered_in_sl_today} of ${q.answered_today} answered within ${q.sl_seconds}s; ` +
        `${q.abandoned_today} abandoned`;
      if (q.service_level !== null) sl.classList.add(q.service_level >= q.sl_target ? "good" : "bad");
      const ab = cell(tr, `${pct(q.abandon_rate)} (${q.abandoned_today} of ${q.entered_today})`, "num");
      if (q.abandon_rate) ab.classList.add("warn");
      cell(tr, q.arrivals_per_hour ? q.arrivals_per_hour.toFixed(0) : "0", "num");
      const aht = cell(tr, duration(q.aht_s) + (q.aht_default ? " (default)" : ""), "num");
      if (q.aht_default) aht.classList.add("muted");
      const staffed = cell(tr, String(q.agents_staffed), "num");
      const others = ["away", "offline"].filter((p) => q.agents_by_presence[p])
        .map((p) => `${q.agents_by_presence[p]} ${p}`);
      if (others.length) {
        const span = document.createElement("span");
        span.className = "muted small";
        span.textContent = ` (${others.join(", ")})`;
        staffed.appendChild(span);
      }
      staffed.title = Object.entries(q.agents_by_presence)
        .map(([p, n]) => `${n} ${PRESENCE_LABEL[p] || p}`).join(", ") || "no agent can take this work";
      const need = cell(tr, q.agents_needed === null ? "–" : String(q.agents_needed), "num");
      need.title = `Erlang C at ${q.concurrency} contact${q.concurrency === 1 ? "" : "s"} per agent at a time`;
      if (q.agents_needed !== null && q.agents_needed > q.agents_staffed) {
        need.classList.add("bad");
        need.textContent += ` (+${q.agents_needed - q.agents_staffed})`;
        need.title = `Short of agents for the service-level target. ${need.title}`;
      }
      body.appendChild(tr);
    }
  }

  function renderAgents() {
    const body = $("agents").tBodies[0];
    body.replaceChildren();
    const agents = [...snap.agents].sort((a, b) =>
      (PRESENCE_ORDER[a.presence] ?? 9) - (PRESENCE_ORDER[b.presence] ?? 9) ||
      a.display_name.localeCompare(b.display_name));
    const counts = {};
    for (const a of agents) {
      counts[a.presence] = (counts[a.presence] || 0) + 1;
      const tr = document.createElement("tr");
      const name = cell(tr, a.display_name);
      name.title = `${a.username} (${a.role})`;
      const p = cell(tr, "");
      const pill = document.createElement("span");
      pill.className = `pill ${a.presence}`;
      pill.textContent = PRESENCE_LABEL[a.presence] || a.presence;
      p.appendChild(pill);
      if (a.away_reason) {
        const reason = document.createElement("span");
        reason.className = "muted";
        reason.textContent = ` ${a.away_reason.replace(/_/g, " ")}`;
        p.appendChild(reason);
      }
      const t = cell(tr, "", "num");
      t.dataset.since = a.since_ms ?? "";
      const loads = Object.entries(a.capacity)
        .filter(([, cap]) => cap > 0)
        .map(([ch, cap]) => `${ch} ${a.load[ch] || 0}/${cap}`);
      cell(tr, loads.join(" · ") || "–");
      cell(tr, String(a.missed), "num" + (a.missed ? " warn" : ""));
      body.appendChild(tr);
    }
    $("agent-counts").textContent = Object.keys(PRESENCE_ORDER)
      .filter((k) => counts[k]).map((k) => `${counts[k]} ${PRESENCE_LABEL[k].toLowerCase()}`).join(" · ");
  }

  // Once a second: waits and times in state move on between pushes; flag a silent server.
  function tick() {
    if (!snap) return;
    const now = serverNow();
    for (const td of document.querySelectorAll("#queues td[data-oldest]")) {
      const oldest = Number(td.dataset.oldest);
      const s = td.dataset.oldest ? (now - oldest) / 1000 : null;
      td.textContent = duration(s);
      td.classList.toggle("bad", s !== null && s > Number(td.dataset.sl));
    }
    for (const td of document.querySelectorAll("#agents td[data-since]")) {
      td.textContent = td.dataset.since ? duration((now - Number(td.dataset.since)) / 1000) : "–";
    }
    const age = Date.now() - receivedAt;
    $("live").textContent = age > STALE_MS
      ? `no update for ${duration(age / 1000)} — reconnecting…`
      : `live · ${new Date(snap.at_ms).toLocaleTimeString()}` +
        (snap.day_start_ms ? ` · today since ${new Date(snap.day_start_ms).toLocaleString()}` : "");
    $("live").classList.toggle("stale", age > STALE_MS);
  }

  function onStats(s) {
    snap = s;
    receivedAt = Date.now();
    offset = receivedAt - s.at_ms;
    renderQueues();
    renderAgents();
    updateQueueOptions();
    tick();
    // (The live calls board names agents from the same snapshot.)
    document.dispatchEvent(new CustomEvent("center:stats", { detail: s }));
  }

  // History: figures per local hour or day, as bars (entered) and a line (service level),
  // and the same rows in a table for screen readers and exact figures.
  function svg(parent, name, attrs) {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    parent.appendChild(el);
    return el;
  }

  // Bucket starts come in the centre's zone ("2026-11-25T03:00:00+05:30"): shown as written,
  // not converted to the browser's zone, so they match the server's hours and days.
  const bucketLabel = (start, bucket) => (bucket === "hour" ? start.slice(11, 16) : start.slice(5, 10));
  const bucketName = (start, bucket) => start.slice(0, 10) + (bucket === "hour" ? ` ${start.slice(11, 16)}` : "");

  function summary(r, bucket) {
    return `${bucketName(r.start, bucket)}: ${r.entered} entered, ${r.answered} answered ` +
      `(${r.answered_in_sl} within the threshold), ${r.abandoned} abandoned; ` +
      `service level ${pct(r.service_level)}, ASA ${duration(r.asa_s)}, AHT ${duration(r.aht_s)}`;
  }

  function drawChart(h) {
    const chart = $("h-chart");
    chart.replaceChildren();
    const { w, left, right, top, bottom } = CHART;
    const plotW = w - left - right, plotH = CHART.h - top - bottom;
    const rows = h.rows;
    const max = Math.max(1, ...rows.map((r) => r.entered));
    const step = plotW / Math.max(1, rows.length);
    const yCount = (n) => top + plotH - (n / max) * plotH;
    const yRate = (f) => top + plotH - f * plotH;
    // Entered on the left axis (0..max), service level on the right (0..100%).
    for (const f of [0, 0.5, 1]) {
      svg(chart, "line", { class: "grid", x1: left, x2: w - right, y1: yRate(f), y2: yRate(f) });
      svg(chart, "text", { class: "axis", x: w - right + 4, y: yRate(f) + 4 }).textContent = `${f * 100}%`;
    }
    for (const n of [0, max]) {
      svg(chart, "text", { class: "axis", x: left - 6, y: yCount(n) + 4, "text-anchor": "end" })
        .textContent = String(n);
    }
    const every = Math.ceil(rows.length / MAX_LABELS);
    const points = [];
    rows.forEach((r, i) => {
      const x = left + i * step;
      const g = svg(chart, "g", { class: "bucket" });
      svg(g, "title").textContent = summary(r, h.bucket);
      // A full-height target, so an empty period still answers a hover.
      svg(g, "rect", { class: "hit", x, y: top, width: step, height: plotH });
      svg(g, "rect", {
        class: "bar", x: x + step * 0.15, y: yCount(r.entered), width: step * 0.7,
        height: yCount(0) - yCount(r.entered), "data-entered": r.entered,
      });
      if (i % every === 0) {
        svg(chart, "text", { class: "axis", x: x + step / 2, y: CHART.h - 10, "text-anchor": "middle" })
          .textContent = bucketLabel(r.start, h.bucket);
      }
      points.push(r.service_level === null ? null : [x + step / 2, yRate(r.service_level)]);
    });
    // The line breaks where there is no service level (nothing answered or abandoned).
    let d = "", pen = false;
    for (const p of points) {
      if (!p) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)} `;
      pen = true;
    }
    if (d) svg(chart, "path", { class: "sl", d: d.trim() });
    for (const p of points) if (p) svg(chart, "circle", { class: "sl-dot", cx: p[0], cy: p[1], r: 2.5 });
  }

  function renderHistoryTable(h) {
    const body = $("h-table").tBodies[0];
    body.replaceChildren();
    for (const r of h.rows) {
      const tr = document.createElement("tr");
      cell(tr, bucketName(r.start, h.bucket));
      for (const n of [r.entered, r.answered, r.answered_in_sl, r.abandoned]) cell(tr, String(n), "num");
      cell(tr, pct(r.service_level), "num");
      cell(tr, pct(r.abandon_rate), "num");
      cell(tr, duration(r.asa_s), "num");
      cell(tr, duration(r.aht_s), "num");
      body.appendChild(tr);
    }
  }

  async function loadHistory() {
    const seq = ++historySeq;
    const params = new URLSearchParams({ days: $("h-range").value });
    if ($("h-queue").value) params.set("queue", $("h-queue").value);
    if ($("h-channel").value) params.set("channel", $("h-channel").value);
    let res, body;
    try {
      res = await fetch(`/api/supervisor/history?${params}`);
      body = await res.json().catch(() => ({}));
    } catch (err) {
      res = null;
      body = { error: err.message };
    }
    if (seq !== historySeq) return;  // a newer choice was made meanwhile
    if (!res || !res.ok) {
      $("h-caption").textContent = `History unavailable: ${body.error || res.status}`;
      return;
    }
    drawChart(body);
    renderHistoryTable(body);
    const entered = body.rows.reduce((n, r) => n + r.entered, 0);
    $("h-caption").textContent =
      `${$("h-range").selectedOptions[0].textContent}, per ${body.bucket} (${body.zone}) · ` +
      `${body.queue || "all queues"} · ${body.channel || "all channels"} · ${entered} entered · ` +
      `updated ${new Date().toLocaleTimeString()}`;
  }

  // The queue choices are the queues on the live board (plus the chosen one, kept even
  // when it leaves the board).
  function updateQueueOptions() {
    const select = $("h-queue");
    const names = [...new Set(snap.queues.map((q) => q.queue))];
    if (select.value && !names.includes(select.value)) names.push(select.value);
    names.sort();
    if (names.join("\n") === queueNames) return;  // rebuilding would close an open select
    queueNames = names.join("\n");
    const chosen = select.value;
    select.replaceChildren(select.options[0]);
    for (const name of names) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      select.appendChild(option);
    }
    select.value = chosen;
  }

  async function login(ev) {
    ev.preventDefault();
    $("login-error").textContent = "";
    const res = await fetch("/api/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("username").value, password: $("password").value }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      $("login-error").textContent = body.error || "sign-in failed";
      return;
    }
    start(body.user);
  }

  function start(user) {
    $("who").textContent = `${user.display_name} (${user.role})`;
    $("logout").hidden = false;
    if (user.role !== "supervisor" && user.role !== "admin") {
      $("login").hidden = true;
      $("console").hidden = false;
      showError("This console is for supervisors. Agents work in the agent console (/agent).");
      return;
    }
    $("login").hidden = true;
    $("console").hidden = false;
    socket = io("/supervisor", { transports: ["websocket"] });
    socket.on("connect", () => showError(""));
    socket.on("connect_error", (err) => {
      if (err.message === "login required") location.reload();  // session ended: sign in
      else showError(`Not connected: ${err.message}`);
    });
    socket.on("disconnect", () => { $("live").textContent = "disconnected — reconnecting…"; });
    socket.on("stats", onStats);
    // An SLA warning or breach was written: the ticket SLA table (supervisor_tickets.js)
    // reads itself again.
    socket.on("sla", () => document.dispatchEvent(new CustomEvent("center:sla")));
    setInterval(tick, 1000);
    loadHistory();
    setInterval(loadHistory, HISTORY_REFRESH_MS);
  }

  $("login").addEventListener("submit", login);
  // The board's one setting survives a reload.
  $("show-idle").checked = localStorage.getItem("supervisor.showIdle") === "1";
  $("show-idle").addEventListener("change", () => {
    localStorage.setItem("supervisor.showIdle", $("show-idle").checked ? "1" : "0");
    if (snap) { renderQueues(); tick(); }
  });
  for (const id of ["h-range", "h-queue", "h-channel"]) $(id).addEventListener("change", loadHistory);
  $("logout").addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST" });
    location.reload();
  });
  // Already signed in (cookie)? Then go straight to the board.
  fetch("/api/me").then(async (r) => { if (r.ok) start((await r.json()).user); });
})();
