// Agent console: login, presence, offers with countdown, one pane per chat, wrap-up.
// All text from customers is inserted with textContent (never innerHTML).
(() => {
  const $ = (id) => document.getElementById(id);
  let socket = null;
  const panes = new Map();   // interaction id -> pane element
  const offers = new Map();  // interaction id -> {el, timer}

  const showError = (text) => { $("error").hidden = !text; $("error").textContent = text || ""; };

  async function login(ev) {
    ev.preventDefault();
    $("login-error").textContent = "";
    const res = await fetch("/api/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("username").value, password: $("password").value }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      $("login-error").textContent = body.error || "sign-in failed";
      return;
    }
    start();
  }

  function addMessage(pane, m) {
    const div = document.createElement("div");
    div.className = `msg ${m.direction}`;
    div.textContent = m.body;
    div.dataset.messageId = m.id;
    const log = pane.querySelector(".log");
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    // Channel scripts (sms.js …) add what their messages carry: status, media.
    document.dispatchEvent(new CustomEvent("center:message", { detail: { pane, message: m, el: div } }));
  }

  // Who the customer is: an identity they merely typed (never proved) says so, so nobody
  // takes a claimed address for the account holder's.
  async function showCustomer(pane, customerId) {
    const box = document.createElement("div");
    box.className = "customer muted";
    pane.querySelector(".log").before(box);
    const res = await fetch(`/api/customers/${customerId}`);
    if (!res.ok) return;
    const { customer } = await res.json();
    const parts = customer.identities.map(
      (id) => `${id.kind}: ${id.value}${id.verified ? "" : " (unverified)"}`);
    if (customer.display_name) parts.unshift(customer.display_name);
    box.textContent = parts.join(" · ");
  }

  function openPane(i) {
    if (panes.has(i.id)) return panes.get(i.id);
    const pane = $("pane-tpl").content.firstElementChild.cloneNode(true);
    pane.dataset.id = i.id;
    pane.querySelector(".title").textContent = `Chat #${i.id} · customer ${i.customer_id}`;
    pane.querySelector(".state").textContent = i.state;
    showCustomer(pane, i.customer_id).catch(() => {});  // the chat works without it
    for (const m of i.messages || []) addMessage(pane, m);
    const input = pane.querySelector(".text");
    let lastTyping = 0;
    input.addEventListener("input", () => {
      if (Date.now() - lastTyping > 2000) {
        lastTyping = Date.now();
        socket.emit("typing", { interaction_id: i.id });
      }
    });
    pane.querySelector(".send").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      socket.emit("message", { interaction_id: i.id, text }, (ack) => {
        if (ack.ok) { addMessage(pane, ack.message); input.value = ""; } else showError(ack.error);
      });
    });
    pane.querySelector(".wrap").addEventListener("submit", (ev) => {
      ev.preventDefault();
      socket.emit("close", {
        interaction_id: i.id,
        note: pane.querySelector(".note").value,
        disposition: pane.querySelector(".disposition").value,
      }, (ack) => { if (!ack.ok) showError(ack.error); });
    });
    $("panes").appendChild(pane);
    panes.set(i.id, pane);
    document.dispatchEvent(new CustomEvent("center:pane", { detail: { pane, interaction: i } }));
    return pane;
  }

  function dropOffer(id) {
    const o = offers.get(id);
    if (!o) return;
    clearInterval(o.timer);
    o.el.remove();
    offers.delete(id);
  }

  function showOffer(o) {
    dropOffer(o.id);
    const el = $("offer-tpl").content.firstElementChild.cloneNode(true);
    el.dataset.id = o.id;
    el.querySelector(".title").textContent = `Incoming ${o.channel} #${o.id}`;
    el.querySelector(".preview").textContent = o.preview || "";
    // An offer restored after a reload says how long it has left by the server's clock,
    // which this browser's clock need not agree with.
    const until = o.remaining_ms != null ? Date.now() + o.remaining_ms : o.deadline_ms;
    const tick = () => {
      const left = Math.max(0, Math.round((until - Date.now()) / 1000));
      el.querySelector(".countdown").textContent = `${left}s`;
    };
    tick();
    const timer = setInterval(tick, 500);
    el.querySelector(".accept").addEventListener("click", () => {
      socket.emit("accept", { interaction_id: o.id }, (ack) => {
        dropOffer(o.id);
        if (ack.ok) openPane({ ...ack.interaction, messages: ack.messages });
        else showError(ack.error);
      });
    });
    el.querySelector(".reject").addEventListener("click", () => {
      socket.emit("reject", { interaction_id: o.id }, () => dropOffer(o.id));
    });
    $("offers").appendChild(el);
    offers.set(o.id, { el, timer });
  }

  const SET_AWAY_BECAUSE = {
    missed_offers: "offers were missed",
    phone_not_answered: "your phone did not answer",
    phone_unreachable: "your phone could not be reached",
  };

  function start() {
    $("login").hidden = true;
    $("console").hidden = false;
    $("logout").hidden = false;
    socket = io("/agent", { transports: ["websocket"] });
    document.dispatchEvent(new CustomEvent("center:socket", { detail: { socket, panes } }));
    socket.on("connect_error", () => { $("login").hidden = false; $("console").hidden = true; });
    socket.on("hello", (h) => {
      $("who").textContent = `${h.user.display_name} (${h.user.role})`;
      $("presence").disabled = false;
      $("presence").value = h.presence;
      for (const i of h.interactions) {
        if (i.state === "assigned") openPane(i);
      }
      // Offers still open (after a reload or a reconnect), with their remaining time; any
      // shown before that are no longer listed ran out or were taken meanwhile.
      const open = new Set((h.offers || []).map((o) => o.id));
      for (const id of [...offers.keys()]) if (!open.has(id)) dropOffer(id);
      for (const o of h.offers || []) showOffer(o);
    });
    socket.on("presence", (p) => {
      $("presence").value = p.presence;
      // Set away by the centre, not by the agent: say why, until they choose again.
      const why = p.presence === "away" ? SET_AWAY_BECAUSE[p.reason] : undefined;
      $("presence-why").textContent = why ? `(${why})` : "";
    });
    socket.on("offer", showOffer);
    socket.on("offer_withdrawn", (d) => dropOffer(d.interaction_id));
    socket.on("assigned", (i) => openPane(i));
    socket.on("message", (m) => { const p = panes.get(m.interaction_id); if (p) { p.querySelector(".typing").textContent = ""; addMessage(p, m); } });
    socket.on("customer_typing", (d) => {
      const p = panes.get(d.interaction_id);
      if (!p) return;
      p.querySelector(".typing").textContent = "customer is typing…";
      setTimeout(() => { p.querySelector(".typing").textContent = ""; }, 3000);
    });
    socket.on("customer_left", (d) => {
      const p = panes.get(d.interaction_id);
      if (p) p.querySelector(".state").textContent = "customer left";
    });
    socket.on("closed", (d) => {
      const p = panes.get(d.interaction_id);
      if (p) { p.remove(); panes.delete(d.interaction_id); }
    });
    socket.on("error", (e) => showError(e.error));
  }

  $("login").addEventListener("submit", login);
  $("presence").addEventListener("change", () => {
    $("presence-why").textContent = "";
    socket.emit("presence", { presence: $("presence").value }, (ack) => { if (!ack.ok) showError(ack.error); });
  });
  $("logout").addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST" });
    location.reload();
  });
  // Already signed in (cookie)? Then go straight to the console.
  fetch("/api/me").then((r) => { if (r.ok) start(); });
})();
