// Supervisor board: the calls connected to an agent now, each with Listen / Whisper / Barge
// over the /voice namespace (`monitor`; pressing another mode switches the same leg). A row
// says what the server acknowledged (you are listening / whispering / barging) or why Twilio
// refused. Rows come from `calls` at each connect, then follow the `call` pushes every
// supervisor gets (a call that leaves the bridged stage leaves the board).
// Everything from the server is inserted with textContent (never innerHTML).
(() => {
  const $ = (id) => document.getElementById(id);
  const ENDED = new Set(["completed", "busy", "failed", "no-answer", "canceled"]);
  const MODES = [
    { mode: "listen", label: "Listen", doing: "listening" },
    { mode: "whisper", label: "Whisper", doing: "whispering to the agent" },
    { mode: "barge", label: "Barge", doing: "barging in: everyone hears you" },
  ];
  const rows = new Map(); // interaction id -> {tr, state, pending}
  const names = new Map(); // user id -> display name, from the board's stats pushes
  let me = null; // the signed-in supervisor's user id
  let voice = null;

  const on = (state) => (state.legs || []).filter((l) => !ENDED.has(l.status));
  const mine = (state) => on(state).find((l) => l.role === "supervisor" && l.user_id === me);
  const person = (id) => (id === me ? "you" : names.get(id) || `user #${id}`);

  function people(state) {
    return on(state).map((l) => {
      if (l.role === "agent") return `${person(l.user_id)}${l.on_hold ? " (on hold)" : ""}`;
      if (l.role === "supervisor") return `${person(l.user_id)} (${l.mode || "listen"})`;
      return l.on_hold ? `caller (on hold)` : "caller";
    }).join(", ");
  }

  function cell(tr, cls) {
    const td = document.createElement("td");
    td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function newRow(id) {
    const tr = document.createElement("tr");
    tr.dataset.id = String(id);
    cell(tr, "call-id").textContent = `#${id}`;
    cell(tr, "call-from");
    cell(tr, "call-agent");
    cell(tr, "call-people");
    const monitor = cell(tr, "call-monitor");
    for (const m of MODES) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = `monitor-${m.mode}`;
      b.textContent = m.label;
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", () => act(id, m.mode));
      monitor.appendChild(b);
    }
    const state = document.createElement("div");
    state.className = "muted monitor-state";
    state.setAttribute("role", "status");
    const error = document.createElement("div");
    error.className = "error monitor-error";
    error.hidden = true;
    monitor.append(state, error);
    $("calls").tBodies[0].appendChild(tr);
    return { tr, state: null, pending: false };
  }

  function say(entry, text) {
    const line = entry.tr.querySelector(".monitor-error");
    line.hidden = !text;
    line.textContent = text || "";
  }

  function render(entry) {
    const s = entry.state;
    const q = (cls) => entry.tr.querySelector(cls);
    q(".call-from").textContent = s.from || "";
    const agent = on(s).filter((l) => l.role === "agent").map((l) => person(l.user_id));
    q(".call-agent").textContent = agent.join(", ") || "–";
    q(".call-people").textContent = people(s);
    const leg = mine(s);
    const current = leg ? leg.mode || "listen" : null;
    for (const m of MODES) {
      const b = q(`.monitor-${m.mode}`);
      b.setAttribute("aria-pressed", String(m.mode === current));
      b.disabled = entry.pending || m.mode === current;
    }
    const doing = MODES.find((m) => m.mode === current);
    q(".monitor-state").textContent = entry.pending ? "asking Twilio…"
      : doing ? `you are ${doing.doing}` : "";
  }

  function count() {
    $("no-calls").hidden = rows.size > 0;
    $("calls-count").textContent = rows.size ? `${rows.size} connected` : "";
  }

  function show(state) {
    const id = state.interaction_id;
    let entry = rows.get(id);
    if (state.stage !== "bridged") {
      if (entry) { entry.tr.remove(); rows.delete(id); count(); }
      return;
    }
    if (!entry) { entry = newRow(id); rows.set(id, entry); count(); }
    entry.state = state;
    render(entry);
  }

  function act(id, mode) {
    const entry = rows.get(id);
    if (!entry || !voice || entry.pending) return;
    say(entry, "");
    entry.pending = true;
    // Not on the call yet: the leg Twilio places now rings this browser's softphone (when
    // it has one), which takes it at once: the supervisor just asked for it.
    if (!mine(entry.state)) document.dispatchEvent(new CustomEvent("center:expect-call"));
    render(entry);
    voice.emit("monitor", { interaction_id: id, mode }, (ack) => {
      entry.pending = false;
      if (ack.ok) show(ack.call);
      else { say(entry, ack.error); render(entry); }
    });
  }

  function load() {
    voice.emit("calls", {}, (ack) => {
      if (!ack.ok) return;
      const live = new Set(ack.calls.map((c) => c.interaction_id));
      for (const [id, entry] of rows) if (!live.has(id)) { entry.tr.remove(); rows.delete(id); }
      for (const state of ack.calls) show(state);
      count();
    });
  }

  function connect(user) {
    if (voice || (user.role !== "supervisor" && user.role !== "admin")) return;
    me = user.id;
    voice = io("/voice", { transports: ["websocket"] });
    // (softphone.js: a supervisor without a phone number listens in this browser)
    document.dispatchEvent(new CustomEvent("center:socket", { detail: { socket: voice } }));
    voice.on("connect", load); // (again after a reconnect: pushes missed meanwhile)
    voice.on("call", show);
    voice.on("call_error", (d) => {
      const entry = rows.get(d.interaction_id);
      if (entry) say(entry, `Twilio could not ${d.action}: ${d.error}`);
    });
  }

  document.addEventListener("center:stats", (e) => {
    names.clear();
    for (const a of e.detail.agents) names.set(a.id, a.display_name);
    for (const entry of rows.values()) render(entry);
  });
  // The console is shown once signed in (supervisor.js): then who am I, and connect.
  new MutationObserver(() => {
    if ($("console").hidden || voice) return;
    fetch("/api/me").then(async (r) => { if (r.ok) connect((await r.json()).user); }).catch(() => {});
  }).observe($("console"), { attributes: true, attributeFilter: ["hidden"] });
})();
