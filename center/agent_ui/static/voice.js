// Phone calls in the agent console: a call's pane shows where the call is (stage, who is
// on it, hold) and its controls over the /voice namespace: hold / resume, warm transfer
// (to an agent id or a queue name), leave (after introducing a transfer), hang up.
// Twilio's refusals are shown in the pane. The audio is the agent's phone or the browser
// softphone (softphone.js, its own bar in the header: mute, hang up its audio).
// Loaded before agent.js, which announces its socket and panes (center:* events).
// Everything from the server is inserted with textContent (never innerHTML).
(() => {
  let voice = null;
  const calls = new Map(); // interaction id -> {pane, state}

  function describe(state) {
    const people = (state.legs || [])
      .filter((l) => !["completed", "busy", "failed", "no-answer", "canceled"].includes(l.status))
      .map((l) => (l.role === "supervisor" ? `supervisor (${l.mode || "listen"})` : l.role));
    const held = (state.legs || []).some((l) => l.on_hold);
    return [state.stage, held ? "on hold" : "", people.length ? `on the call: ${people.join(", ")}` : ""]
      .filter(Boolean).join(" · ");
  }

  function show(id, state) {
    const entry = calls.get(id);
    if (!entry) return;
    entry.state = state;
    entry.pane.querySelector(".call-state").textContent = describe(state);
    const held = (state.legs || []).some((l) => l.on_hold);
    entry.pane.querySelector(".call-hold").textContent = held ? "Resume" : "Hold";
  }

  function say(pane, text) {
    const line = pane.querySelector(".call-error");
    line.hidden = !text;
    line.textContent = text || "";
  }

  function act(id, event, data) {
    const entry = calls.get(id);
    if (!entry || !voice) return;
    say(entry.pane, "");
    voice.emit(event, { interaction_id: id, ...data }, (ack) => {
      if (!ack.ok) say(entry.pane, ack.error);
      else if (ack.call) show(id, ack.call);
    });
  }

  function controls(pane, id) {
    const bar = document.createElement("div");
    bar.className = "row call-controls";
    const button = (label, cls, onClick) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = cls;
      b.textContent = label;
      b.addEventListener("click", onClick);
      bar.appendChild(b);
      return b;
    };
    button("Hold", "call-hold", () => {
      const state = calls.get(id).state || {};
      act(id, "hold", { on: !(state.legs || []).some((l) => l.on_hold) });
    });
    const target = document.createElement("input");
    target.className = "call-target narrow";
    target.placeholder = "agent id or queue";
    target.setAttribute("aria-label", "Transfer to");
    bar.appendChild(target);
    button("Transfer", "call-transfer", () => {
      const to = target.value.trim();
      if (!to) return;
      act(id, "transfer", /^\d+$/.test(to) ? { to_agent_id: Number(to) } : { to_queue: to });
    });
    button("Leave", "call-leave", () => act(id, "leave", {}));
    button("Hang up", "call-hangup", () => act(id, "hangup", {}));
    const state = document.createElement("div");
    state.className = "muted call-state";
    const error = document.createElement("div");
    error.className = "error call-error";
    error.hidden = true;
    pane.querySelector(".log").before(state, bar, error);
  }

  document.addEventListener("center:pane", (e) => {
    const { pane, interaction: i } = e.detail;
    if (i.channel !== "voice") return;
    pane.classList.add("voice");
    pane.querySelector(".title").textContent = `Call #${i.id} · customer ${i.customer_id}`;
    pane.querySelector(".send").remove(); // (nothing is typed to a caller)
    calls.set(i.id, { pane, state: null });
    controls(pane, i.id);
    fetch(`/api/voice/calls/${i.id}`)
      .then((r) => (r.ok ? r.json() : null))
      // A push that arrived while this read was on its way is newer than the read: the
      // read only fills a pane nothing has been pushed to yet.
      .then((body) => { if (body && !calls.get(i.id)?.state) show(i.id, body.call); })
      .catch(() => {});
  });

  document.addEventListener("center:socket", () => {
    if (voice) return;
    voice = io("/voice", { transports: ["websocket"] });
    voice.on("call", (state) => show(state.interaction_id, state));
    voice.on("call_error", (d) => {
      const entry = calls.get(d.interaction_id);
      if (entry) say(entry.pane, `Twilio could not ${d.action}: ${d.error}`);
    });
  });
})();
